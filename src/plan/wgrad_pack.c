/* wgrad_pack.c -- the weight gradient's operands packed for its tiles
 * (see wgrad.c): A per channel block, channels innermost; B' as the stride
 * phase images its taps read, per channel block.  Each packing also checks
 * A for non-finite values and adds up grad_output's channels for db while
 * the data is in cache. */
#include "wgrad_internal.h"

#include <string.h>

#define WG_PLANE_FLOATS 8192 /* largest block of B planes transposed whole (stack) */
#define WG_DIRECT_BW 4     /* B blocks of at most this many channels (at most 4:
                              plane_row_direct) gathered from the planes */
#define WG_PREFETCH_ROWS 2 /* phase rows ahead a row-at-a-time pack prefetches */

/* The image of packing task t (its block in *blk), or -1 past the batch. */
static int64_t task_image(const wg_run *r, int64_t t, int64_t *blk) {
    const int64_t k = t % r->cnt, rest = t / r->cnt;
    *blk = rest / r->nsp;
    const int64_t n = rest % r->nsp * r->ips + r->lo + k;
    return n < r->wg->pb.n ? n : -1;
}

/* One row of a packed panel: dst[j*bw + c] = src[c*cs + x_j*ps] for j < w,
 * c < cn, with x_j = pad_index(x0 + xs*j - pad) (a zero where it is -1)
 * and zeros for c >= cn.  The run of columns inside the input goes
 * through the kernel set's transposing pack (planes are far apart in
 * NCHW); the rest, padding modes and channels-last, element by element. */
static void pack_row(const tc_kernel_set *ks, float *dst, const float *src, int64_t w, int64_t cn,
                     int64_t bw, int64_t cs, int64_t ps, int64_t x0, int64_t xs, int64_t pad,
                     tconv_padding_mode mode, int64_t len) {
    int64_t j = 0;
    if (cs != 1 && ps == 1) {
        /* columns j in [ja, jb) read x0 + xs*j - pad in [0, len) directly */
        const int64_t o = x0 - pad;
        int64_t ja, jb;
        tc_inside_cols(o, xs, len, w, &ja, &jb);
        if (ja < jb) {
            for (; j < ja; j++) {
                const int64_t x = tc_pad_index(mode, o + xs * j, len);
                for (int64_t c = 0; c < cn; c++) dst[j * bw + c] = x >= 0 ? src[c * cs + x] : 0.0f;
            }
            ks->pack_cols(dst + ja * bw, bw, src + o + xs * ja, cs, xs, jb - ja, cn);
            j = jb;
        }
    }
    for (; j < w; j++) {
        const int64_t x = tc_pad_index(mode, x0 + xs * j - pad, len);
        float *d = dst + j * bw;
        if (x < 0)
            memset(d, 0, (size_t)cn * sizeof(float));
        else if (cs == 1)
            memcpy(d, src + x * ps, (size_t)cn * sizeof(float));
        else
            for (int64_t c = 0; c < cn; c++) d[c] = src[c * cs + x * ps];
    }
    if (cn < bw)
        for (j = 0; j < w; j++) memset(dst + j * bw + cn, 0, (size_t)(bw - cn) * sizeof(float));
}

/* csum[c0 + c] = sum over the npx pixels of a packed panel [px][w] of
 * channel c < cn, in double. */
static void panel_sums(const float *d, int64_t npx, int64_t w, int64_t cn, double *csum) {
    int64_t c = 0;
    for (; c + 8 <= cn; c += 8) { /* 8 sums in registers, not a chain through memory */
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t px = 0; px < npx; px++)
            for (int k = 0; k < 8; k++) s[k] += d[px * w + c + k];
        for (int k = 0; k < 8; k++) csum[c + k] = s[k];
    }
    for (; c < cn; c++) {
        double s = 0.0;
        for (int64_t px = 0; px < npx; px++) s += d[px * w + c];
        csum[c] = s;
    }
}

/* csum[c] = sum of plane c < cn (planes cs apart, px floats each), in
 * double, each plane one run of the vectorised kernel. */
static void plane_sums(const tc_eltwise_kernels *ek, const float *src, int64_t cs, int64_t px,
                       int64_t cn, double *csum) {
    for (int64_t c = 0; c < cn; c++) {
        double v = 0.0, sq = 0.0;
        ek->sum_sumsq(src + c * cs, px, &v, &sq);
        csum[c] = v;
    }
}

/* A: task = (group, block, image) -> [n][qy][qx][aw] */
void tc_wg_pack_a(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const tc_strides s = strides_of(wg, pb->ca, pb->ha, pb->wa);
    const int64_t aw = wg->aw, px = pb->ha * pb->wa;
    for (int64_t t = b; t < e; t++) {
        int64_t blk; /* g*nab + ablk */
        const int64_t n = task_image(r, t, &blk);
        if (n < 0) continue;
        const int64_t g = blk / wg->nab, c0 = (blk % wg->nab) * aw;
        const int64_t cn = tc_imin(aw, wg->cag - c0);
        float *d = r->apack + blk * wg->a_panel + n * px * aw;
        const float *src = r->a + n * s.n + (g * wg->cag + c0) * s.c;
        const int planes = s.w == 1 && s.h == pb->wa && cn == aw;
        if (planes) /* NCHW: whole planes, 8 x 8 transposes */
            wg->ks->pack_cols(d, aw, src, s.c, 1, px, cn);
        else
            for (int64_t y = 0; y < pb->ha; y++)
                pack_row(wg->ks, d + y * pb->wa * aw, src + y * s.h, pb->wa, cn, aw, s.c, s.w, 0,
                         1, 0, TCONV_PADDING_MODE_ZEROS, pb->wa);
        /* the panel just written is in cache: the non-finite check costs no
         * pass over A from memory */
        if (!atomic_load_explicit(r->a_bad, memory_order_relaxed) &&
            (wg->ek ? wg->ek->any_nonfinite(d, px * aw) : tc_any_nonfinite(d, px * aw)))
            atomic_store_explicit(r->a_bad, 1, memory_order_relaxed);
        if (!r->sum_a) continue;
        double *csum = r->csum + n * pb->ca + g * wg->cag + c0;
        if (planes && wg->ek) /* each plane just read is a vectorised run (the panel's
                                 columns of a few channels sum element by element) */
            plane_sums(wg->ek, src, s.c, px, cn, csum);
        else
            panel_sums(d, px, aw, cn, csum);
    }
}

/* One phase row of B' from planes already channels-innermost (t[(yy*W +
 * x)*bw + c], row yy of B): dst[j*bw + c] for x = x0 + xs*j - pad, zeros
 * outside. */
static void plane_row(float *dst, const float *t, int64_t w, int64_t bw, int64_t x0, int64_t xs,
                      int64_t pad, int64_t W) {
    if (bw < 16) { /* a few channels: a library copy per pixel cost more than the
                      copy (a4_b16's grad_output 0.29 -> 0.22 ms) */
        for (int64_t j = 0; j < w; j++) {
            const int64_t x = x0 + xs * j - pad;
            const int in = x >= 0 && x < W;
            for (int64_t c = 0; c < bw; c++) dst[j * bw + c] = in ? t[x * bw + c] : 0.0f;
        }
        return;
    }
    for (int64_t j = 0; j < w; j++) {
        const int64_t x = x0 + xs * j - pad;
        if (x < 0 || x >= W) memset(dst + j * bw, 0, (size_t)bw * sizeof(float));
        else memcpy(dst + j * bw, t + x * bw, (size_t)bw * sizeof(float));
    }
}

/* The same gathered from bw <= WG_DIRECT_BW NCHW planes cs floats apart
 * (row yy of each at t): dst[j*bw + c] = t[c*cs + x]. */
static void plane_row_direct(float *dst, const float *t, int64_t w, int64_t bw, int64_t x0,
                             int64_t xs, int64_t pad, int64_t W, int64_t cs) {
    int64_t ja, jb;
    tc_inside_cols(x0 - pad, xs, W, w, &ja, &jb);
    memset(dst, 0, (size_t)(ja * bw) * sizeof(float));
    const float *s = t + x0 - pad + xs * ja;
    float *d = dst + ja * bw;
    const int64_t n = jb - ja;
#define TC_GATHER(BW)                                                                             \
    for (int64_t j = 0; j < n; j++)                                                               \
        for (int c = 0; c < (BW); c++) d[j * (BW) + c] = s[j * xs + c * cs];
    switch (bw) { /* the channel loop unrolled */
    case 1: TC_GATHER(1) break;
    case 2: TC_GATHER(2) break;
    case 3: TC_GATHER(3) break;
    default: TC_GATHER(4)
    }
#undef TC_GATHER
    memset(dst + jb * bw, 0, (size_t)((w - jb) * bw) * sizeof(float));
}

/* B': task = (group, block, image) -> per image (ry, rx): [n][i][j][bw] */
void tc_wg_pack_b(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const tc_strides s = strides_of(wg, pb->cb, pb->hb, pb->wb);
    const int64_t bw = wg->bw;
    for (int64_t t = b; t < e; t++) {
        int64_t blk;
        const int64_t n = task_image(r, t, &blk);
        if (n < 0) continue;
        const int64_t g = blk / wg->nbb, c0 = (blk % wg->nbb) * bw;
        const int64_t cn = tc_imin(bw, wg->cbg - c0);
        const float *src = r->b + n * s.n + (g * wg->cbg + c0) * s.c;
        float *panel = r->bpack + blk * wg->b_panel;
        /* NCHW planes with zero padding, a full block: transposed whole first
         * (small images leave each phase row too short for the 8 x 8
         * transposes), then each phase row is a run of pixel copies; larger
         * planes a row at a time, each row once for all its column phases
         * (a phase row gathered from the planes read each source line once
         * per column phase, its channels' lines 4 KiB apart in one L1 set) */
        float tp[WG_PLANE_FLOATS];
        const int nchw = s.w == 1 && s.h == pb->wb && cn == bw &&
                         pb->pmode == TCONV_PADDING_MODE_ZEROS;
        /* a few channels (a block of a thin layer) are read straight from
         * their planes, each phase row a gather: no transpose first
         * (a4_b16's grad_output 0.22 -> 0.09 ms; ConvTranspose2d 32 -> 4,
         * 5x5 stride 1 on 64 x 64, batch 8: dW 2.07 -> 2.00) */
        const int direct = nchw && bw <= WG_DIRECT_BW;
        const int planes = nchw && !direct && pb->hb * pb->wb * bw <= WG_PLANE_FLOATS;
        const int rows = nchw && !direct && !planes && pb->wb * bw <= WG_PLANE_FLOATS;
        if (planes) wg->ks->pack_cols(tp, bw, src, s.c, 1, pb->hb * pb->wb, bw);
        for (int64_t iy = 0; iy < wg->nry; iy++) {
            const int64_t h = wg->img_h[iy];
            for (int64_t i = 0; i < h; i++) {
                const int64_t yy = tc_pad_index(pb->pmode, wg->res_y[iy] + pb->sh * i - pb->ppt,
                                                pb->hb);
                if (rows && yy >= 0) {
                    /* the lines of a later row, one per channel plane: more
                     * streams than the hardware prefetchers follow (packing
                     * a3_b16's grad_output 1.36 -> 0.62 ms) */
                    const int64_t ya = yy + WG_PREFETCH_ROWS * pb->sh;
                    if (ya < pb->hb)
                        for (int64_t c = 0; c < bw; c++)
                            for (int64_t x = 0; x < pb->wb; x += 16)
                                __builtin_prefetch(src + c * s.c + ya * s.h + x, 0, 1);
                    wg->ks->pack_cols(tp, bw, src + yy * s.h, s.c, 1, pb->wb, bw);
                }
                for (int64_t ix = 0; ix < wg->nrx; ix++) {
                    const int64_t w = wg->img_w[ix];
                    float *d = panel + (wg->img_off[iy * wg->nrx + ix] * pb->n + n * h * w) * bw +
                               i * w * bw;
                    if (yy < 0)
                        memset(d, 0, (size_t)(w * bw) * sizeof(float));
                    else if (direct)
                        plane_row_direct(d, src + yy * s.h, w, bw, wg->res_x[ix], pb->sw,
                                         pb->ppl, pb->wb, s.c);
                    else if (planes || rows)
                        plane_row(d, tp + (planes ? yy * pb->wb * bw : 0), w, bw, wg->res_x[ix],
                                  pb->sw, pb->ppl, pb->wb);
                    else
                        pack_row(wg->ks, d, src + yy * s.h, w, cn, bw, s.c, s.w, wg->res_x[ix],
                                 pb->sw, pb->ppl, pb->pmode, pb->wb);
                }
            }
        }
        /* the sums from the planes: the panels' few channels summed element
         * by element were one chain of dependent adds per channel (a4_b16's
         * 3 channels 0.27 ms) */
        double *csum = r->csum + n * pb->cb + g * wg->cbg + c0;
        if (r->sum_b && nchw && wg->ek)
            plane_sums(wg->ek, src, s.c, pb->hb * pb->wb, cn, csum);
        else if (r->sum_b) { /* the images together hold every element of B once */
            for (int64_t c = 0; c < cn; c++) csum[c] = 0.0;
            for (int64_t iy = 0; iy < wg->nry; iy++)
                for (int64_t ix = 0; ix < wg->nrx; ix++) {
                    const int64_t h = wg->img_h[iy], w = wg->img_w[ix];
                    double part[4 * TC_VL_MAX];
                    panel_sums(panel + (wg->img_off[iy * wg->nrx + ix] * pb->n + n * h * w) * bw,
                               h * w, bw, cn, part);
                    for (int64_t c = 0; c < cn; c++) csum[c] += part[c];
                }
        }
    }
}
