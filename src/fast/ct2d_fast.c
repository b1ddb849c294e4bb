/* ct2d_fast.c -- the fast conv_transpose2d forward (and conv2d, as the
 * equivalent transposed convolution): stride-phase decomposition, weight
 * packing, tiling, threading, stores.
 *
 * Phase decomposition.  Output row oy has phase ry = oy % sh; the kernel
 * rows that reach it are the ky with (ry + ph - ky*dh) % sh == 0, each
 * reading input row iy = qy + cy(ky), qy = oy / sh, cy = (ry + ph - ky*dh)/sh
 * (likewise columns).  Each phase is a dense stride-1 correlation with a
 * sub-kernel of about kh/sh x kw/sw taps: no products with inserted zeros,
 * no tap whose input lies wholly outside (cropped padding) is visited, each
 * output is written once, the bias already in its accumulator; no col2im,
 * no zero fill, no scratch beyond a workspace the size of the input.
 *
 * Tiles (pixels in lanes).  A pixel vector is VL phase pixels of one output
 * row (qx0..qx0+VL-1), or, for narrow inputs (W divides VL), R = VL/W whole
 * phase rows laid flat (a tap's input is then one contiguous load from the
 * NCHW channel plane).  Row vectors read the input repacked to NHCW in the
 * workspace, so consecutive channels are W floats apart (except with one tap
 * per phase, where the planes stream).  The taps of each tile are listed
 * once per reshape (the tap table).  Lanes outside the
 * input are zeroed after a whole-vector load (a masked load only where the
 * vector would leave the buffer).  A tile is MR output channels x NV
 * vectors x SWF column phases (SWF = 2 for sw == 2, else 1); the kernel
 * runs once per column phase into a small tile buffer and the store
 * interleaves the phases into contiguous NCHW rows (or writes NHWC pixels,
 * channels innermost).
 *
 * 1x1 inputs (H = W = 1) are one GEMM per group:
 *   y[n, (oc,oy,ox)] = b[oc] + x[n, :] * Weff[:, (oc,oy,ox)]
 * with Weff the weights laid out as output positions (zero where no tap).
 *
 * conv2d: with the kernel flipped and its channels swapped it is a stride-1
 * transposed convolution; a strided (or reflect/replicate/circular padded)
 * input is first cut into its stride x stride phase images (of the padded
 * input) in the workspace, and each tap reads its own image.
 *
 * Threads take tiles of a fixed tile list from a shared counter; a tile is
 * computed the same way by any thread and there is no reduction, so the
 * result does not depend on the thread count.  Batches of small images
 * that need a repack run image at a time (repack into a per-thread slot,
 * then that image's tiles, from L2). */
#include "fast.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { PATH_PHASE = 1, PATH_GEMM = 2, PATH_CIL = 3 };

#define TC_CIL_TAPS 64 /* most taps per phase the channels-in-lanes path takes */
#define TC_CIL_MAX_PX 64 /* largest phase (pixels) it takes */
#define TC_IMAGE_MAX ((int64_t)128 << 10) /* floats of an image run image at a time */


typedef struct phase_grp { /* one (ry, column phase set) */
    int64_t ry, rx;        /* rx: the column phase when SWF == 1 (sw != 2) */
    int64_t hq, wq;        /* phase rows, phase columns (of column phase 0 if SWF == 2) */
    int64_t nvec, nvt, vt_chunk, nchunk;
    int64_t units, first;  /* tiles of this group per (n, g); prefix */
    int64_t vt0;           /* its first vector tile in the tap table */
} phase_grp;

typedef struct tc_fast {
    const tc_kernel_set *ks;
    int64_t groups, cig, cog, kk;
    /* weights as a transposed convolution's, (Cin, Cout/g, kh, kw): the op's
     * own, or for conv2d wown, its kernel flipped and in/out swapped */
    const float *wsrc;
    float *wown;
    float *bias; /* Cout values, zeros when the op has none */
    /* phase path: weights packed [g][ocb][ky][kx][ic][MRb] for MR = mr */
    int mr;
    float *wpack;
    /* gemm path: packed for output size (g_h, g_w) */
    int64_t g_h, g_w, g_ncb;
    float *gpack, *gbias;
    /* channels-in-lanes path: weights [g][ocb][ky][kx][ic][NR], zero-padded */
    float *cpack, *cbias;
    int64_t c_nocb, c_npb;
    /* plan of the last reshape */
    int path, swf, nv, flat, R;
    int xlay; /* kernels read the input as 0: NCHW planes, 1: NHCW rows (workspace) */
    int64_t ngrp;
    phase_grp *grp;
    int64_t nocb, units_ng, units, nmb;
    double flops; /* of the reshaped call */
    int default_nt; /* available cores, read once at create (a syscall) */
    /* Tap lists, one per row phase ry: the (ky, cy, plane row) triples at
     * kyc[3*kyo[ry] .. 3*kyo[ry+1]) (likewise columns).  Every kernel row
     * belongs to exactly one phase, so the lists hold kh (kw) triples in
     * all, whatever the stride. */
    int64_t *kyc, *kxc, *kyo, *kxo;
    /* A strided conv2d reads its input as ish x isw phase images
     * ("space to depth": image (ry, rx) holds x[ry + ish*i, rx + isw*j]),
     * each xh x xw, zero-padded, in the workspace; 1 x 1 otherwise, the
     * input itself (xh x xw = H x W).  ximg: floats per image of the
     * buffer the kernels read. */
    int64_t ish, isw, xh, xw, ximg;
    /* conv2d with reflect / replicate / circular padding: the phase images
     * are those of the padded input (F.pad's, pads ppt/ppb/ppl/ppr), which
     * the convolution then reads without padding.  pmode 0: none. */
    int pmode;
    int64_t ppt, ppb, ppl, ppr;
    /* Tap table of the phase path: the taps of vector tile vt (numbered
     * across groups), column phase p, are taps[tap_off[vt*SWF + p] ..
     * tap_off[vt*SWF + p + 1]).  NULL where it would be large: the tiles
     * then build their lists as they run. */
    tc_tap *taps;
    int64_t *tap_off;
} tc_fast;

static void fast_free(void *p) {
    tc_fast *f = p;
    if (!f) return;
    free(f->bias);
    free(f->wown);
    free(f->wpack);
    free(f->gpack);
    free(f->gbias);
    free(f->cpack);
    free(f->cbias);
    free(f->grp);
    free(f->kyc);
    free(f->kxc);
    free(f->kyo);
    free(f->kxo);
    free(f->taps);
    free(f->tap_off);
    free(f);
}

static const tc_kernel_set *kernels_for(tconv_impl impl) {
#if defined(TCONV_X86)
    if (impl == TCONV_IMPL_AVX512) return &tc_kernels_avx512;
    if (impl == TCONV_IMPL_AVX2) return &tc_kernels_avx2;
#endif
    (void)impl;
    return &tc_kernels_portable;
}

/* Relative speed of a tile shape.  Each input load (from L2 or beyond)
 * feeds MR FMAs and each weight broadcast (from L1) NV FMAs; fewer than 8
 * accumulators cannot hide the FMA latency.  Weights fitted to timings on
 * Zen 5 (a tile with one vector and more than 16 accumulators ran slow). */
static double tile_eff(int nv, int mr) {
    const double acc = nv * mr;
    double e = acc >= 8 ? 1.0 : acc / 8;
    return e / (1.0 + 4.0 / mr + 1.0 / nv);
}

/* Picks NV and MR within a budget of accumulator registers. */
static void choose_tile(const tc_kernel_set *ks, int64_t cog, int64_t nvec, int *nv_out,
                        int *mr_out) {
    double best = -1;
    int bnv = 1, bmr = 1;
    for (int nv = 1; nv <= TC_NV_MAX && nv <= (nvec > 0 ? nvec : 1); nv++)
        for (int mr = 1; mr <= TC_MR_MAX && mr <= cog && nv * mr <= ks->acc_cap; mr++) {
            if (!ks->phase[nv - 1][mr - 1] || (nv == 1 && mr > 16)) continue;
            /* more than 4 vectors only with registers for them (AVX-512) */
            if (nv > 4 && ks->acc_cap < 24) continue;
            const int64_t full = cog / mr, rem = cog % mr;
            double t = (double)full * mr / tile_eff(nv, mr);
            if (rem) t += (double)rem / tile_eff(nv, (int)rem);
            const double sc = (double)cog / t;
            if (sc > best + 1e-9) {
                best = sc;
                bnv = nv;
                bmr = mr;
            }
        }
    *nv_out = bnv;
    *mr_out = bmr;
}

/* w: (Cin, Cout/g, kh, kw) -> [g][ocb][ky][kx][ic][MRb]. */
static int pack_phase(tc_fast *f, const tconv_op *op, int mr) {
    const int64_t G = f->groups, cig = f->cig, cog = f->cog, kk = f->kk;
    float *pk = malloc((size_t)op->weight_numel * sizeof(float) + 64);
    if (!pk) return 0;
    for (int64_t g = 0; g < G; g++)
        for (int64_t o0 = 0; o0 < cog; o0 += mr) {
            const int64_t mrb = cog - o0 < mr ? cog - o0 : mr;
            float *dst = pk + g * cog * cig * kk + o0 * cig * kk;
            for (int64_t t = 0; t < kk; t++)
                for (int64_t ic = 0; ic < cig; ic++)
                    for (int64_t m = 0; m < mrb; m++)
                        dst[(t * cig + ic) * mrb + m] =
                            f->wsrc[((g * cig + ic) * cog + o0 + m) * kk + t];
        }
    free(f->wpack);
    f->wpack = pk;
    f->mr = mr;
    return 1;
}

/* The fast state of a transposed convolution with these channels, groups
 * and kernel; wown (owned, may be NULL) holds the weights when they are not
 * op->weight. */
static tconv_status fast_new(tconv_op *op, int64_t cin, int64_t cout, int64_t groups, int64_t kh,
                             int64_t kw, float *wown) {
    tc_fast *f = calloc(1, sizeof *f);
    if (!f) {
        free(wown);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
    }
    f->wown = wown;
    f->wsrc = wown ? wown : op->weight;
    f->ks = kernels_for(op->impl);
    f->groups = groups;
    f->cig = cin / groups;
    f->cog = cout / groups;
    f->kk = kh * kw;
    f->g_h = f->g_w = -1;
    f->ish = f->isw = 1;
    f->default_nt = tconv_default_num_threads();
    f->bias = calloc((size_t)cout + TC_MR_MAX, sizeof(float));
    if (!f->bias) {
        fast_free(f);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
    }
    if (op->bias) memcpy(f->bias, op->bias, (size_t)cout * sizeof(float));
    /* Pack for the tile a large input would get; reshape repacks only if a
     * small input prefers another MR. */
    int nv, mr;
    choose_tile(f->ks, f->cog, 1 << 20, &nv, &mr);
    if (!pack_phase(f, op, mr)) {
        fast_free(f);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory packing %lld weights",
                       (long long)op->weight_numel);
    }
    op->fast = f;
    op->fast_free = fast_free;
    return TCONV_OK;
}

tconv_status tc_fast_ct2d_create(tconv_op *op) {
    const tconv_conv_transpose2d_params *p = &op->ct;
    return fast_new(op, p->in_channels, p->out_channels, p->groups, p->kernel_size[0],
                    p->kernel_size[1], NULL);
}

/* A stride-1 convolution is a stride-1 transposed convolution of the same
 * input with the kernel flipped and its in/out channels swapped:
 *   y[co, oy] = sum x[ci, oy - pt + ky*d] w[co, ci, ky]
 *             = sum x[ci, iy] w'[ci, co, ky'],  oy = iy - p' + ky'*d,
 * ky' = kh-1-ky, p' = d*(kh-1) - pt (tc_fast_conv2d_geom).  With stride s,
 * tap ky reads x[s*oy + t], t = ky*d - pt = s*a + r: row oy + a of phase
 * image r (x[r + s*i]); over the s*s phase images (in the workspace) the
 * convolution is again a stride-1 one, each tap reading its own image. */
tconv_status tc_fast_conv2d_create(tconv_op *op) {
    const tconv_conv2d_params *p = &op->cv;
    const int64_t G = p->groups, cig = p->in_channels / G, cog = p->out_channels / G;
    const int64_t kh = p->kernel_size[0], kw = p->kernel_size[1], kk = kh * kw;
    float *w = malloc((size_t)op->weight_numel * sizeof(float) + 1);
    if (!w) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
    /* op->weight: (Cout, Cin/g, kh, kw) -> w: (Cin, Cout/g, kh, kw) flipped */
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t co = 0; co < cog; co++)
            for (int64_t ci = 0; ci < cig; ci++) {
                const float *src = op->weight + ((gi * cog + co) * cig + ci) * kk;
                float *dst = w + ((gi * cig + ci) * cog + co) * kk;
                for (int64_t t = 0; t < kk; t++) dst[kk - 1 - t] = src[t];
            }
    const tconv_status st = fast_new(op, p->in_channels, p->out_channels, G, kh, kw, w);
    if (st == TCONV_OK) {
        tc_fast *f = op->fast;
        f->ish = p->stride[0];
        f->isw = p->stride[1];
    }
    return st;
}

int tc_fast_conv2d_geom(tc_geom *g) {
    /* with a padding mode the kernels read the padded input (see tc_fast),
     * unpadded */
    const int moded = g->padding_mode != TCONV_PADDING_MODE_ZEROS &&
                      (g->pad_t || g->pad_b || g->pad_l || g->pad_r);
    const int64_t ph = g->dh * (g->kh - 1) - (moded ? 0 : g->pad_t),
                  pw = g->dw * (g->kw - 1) - (moded ? 0 : g->pad_l);
    /* The phase images take about the (padded) input's size while the
     * stride is at most the input's; a stride beyond (legal: the output is
     * then a row or a column) or beyond any real layer's takes the reference. */
    /* A padded copy far larger than the input (replicate padding has no
     * limit; with a huge dilation the output can still be small) also. */
    if (moded && (g->pad_t > g->h_in || g->pad_b > g->h_in || g->pad_l > g->w_in ||
                  g->pad_r > g->w_in))
        return 0;
    const int64_t hs = g->h_in + (moded ? g->pad_t + g->pad_b : 0),
                  ws = g->w_in + (moded ? g->pad_l + g->pad_r : 0);
    if (g->sh > hs || g->sw > ws || g->sh > 4096 || g->sw > 4096 || g->sh * g->sw > 4096)
        return 0;
    if (ph < 0 || pw < 0) return 0; /* padding beyond the kernel's reach */
    g->ph = ph;
    g->pw = pw;
    g->sh = g->sw = 1; /* one output phase; the input strides live in tc_fast */
    g->oph = g->pad_b - g->pad_t; /* for the record: the planner reads h_out */
    g->opw = g->pad_r - g->pad_l;
    return 1;
}

/* ---- running ------------------------------------------------------------- */

typedef struct run_ctx {
    const tconv_op *op;
    const tc_fast *f;
    const float *x; /* what the kernels read: the input or its repacked copy */
    float *y;
    tc_strides ys;
    /* image-at-a-time runs (run_fast): the caller's input, the workspace
     * slots (one image each, one per running thread) and which are taken */
    const float *src;
    float *slots;
    atomic_uint_fast64_t busy;
} run_ctx;

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline uint32_t bits_range(int64_t lo, int64_t hi) { /* bits [lo, hi) */
    if (hi <= lo) return 0;
    return (uint32_t)((((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
}

/* Writes one finished tile (out: [SWF][mrb][nv][VL]) to y. */
static void store_tile(const run_ctx *c, const phase_grp *pg, int64_t n, int64_t oc0, int mrb,
                       int64_t v0, int nv, const float *out) {
    const tc_geom *g = &c->op->geom;
    const tc_fast *f = c->f;
    const int VL = f->ks->vl, SWF = f->swf;
    const int64_t sh = g->sh, sw = g->sw, W = f->xw, Wout = g->w_out;
    const tc_strides ys = c->ys;
    const int64_t nb = f->flat ? 1 : (pg->wq + VL - 1) / VL;
    const int R = f->flat ? f->R : 1;
    const int64_t lanes = f->flat ? W : VL;
    const int64_t pstride = (int64_t)mrb * nv * VL; /* to the next column phase */
    for (int v = 0; v < nv; v++) {
        const int64_t vi = v0 + v;
        const int64_t qy0 = f->flat ? vi * R : vi / nb, qx0 = f->flat ? 0 : (vi % nb) * VL;
        for (int r = 0; r < R; r++) {
            const int64_t qy = qy0 + r;
            if (qy >= pg->hq) break;
            float *row = c->y + n * ys.n + oc0 * ys.c + (qy * sh + pg->ry) * ys.h;
            if (ys.w == 1 && SWF == 2) { /* NCHW, stride 2: interleave the column phases */
                const int64_t ox0 = qx0 * 2, cnt = imin(2 * lanes, Wout - ox0);
                for (int m = 0; m < mrb; m++) {
                    const float *a = out + (int64_t)(m * nv + v) * VL + r * lanes;
                    f->ks->store_il2(row + m * ys.c + ox0, a, a + pstride, cnt);
                }
            } else if (ys.w == 1 && sw == 1) { /* NCHW, stride 1: a plain copy */
                const int64_t cnt = imin(lanes, Wout - qx0);
                for (int m = 0; m < mrb; m++)
                    memcpy(row + m * ys.c + qx0, out + (int64_t)(m * nv + v) * VL + r * lanes,
                           (size_t)cnt * sizeof(float));
            } else { /* pixel by pixel, channels innermost (contiguous in NHWC) */
                for (int p = 0; p < SWF; p++) {
                    const int64_t rx = SWF == 2 ? p : pg->rx;
                    const float *s = out + p * pstride + (int64_t)v * VL + r * lanes;
                    for (int64_t j = 0; j < lanes; j++) {
                        const int64_t ox = (qx0 + j) * sw + rx;
                        if (ox >= Wout) break;
                        float *d = row + ox * ys.w;
                        for (int m = 0; m < mrb; m++) d[m * ys.c] = s[(int64_t)m * nv * VL + j];
                    }
                }
            }
        }
    }
}

/* The non-empty taps of the tile of vectors [v0, v0+nv) of group pg in
 * column phase p, taken in (row tap, column tap) order from pair *pos on:
 * at most max into out.  Returns how many, and advances *pos past them
 * (to nky*nkx at the end).  Depends on the geometry and plan only. */
static int tile_taps(const tc_fast *f, const tc_geom *g, const phase_grp *pg, int64_t v0, int nv,
                     int p, int64_t *pos, tc_tap *out, int max) {
    const int VL = f->ks->vl;
    const int64_t H = f->xh, W = f->xw;
    const int64_t nb = f->flat ? 1 : (pg->wq + VL - 1) / VL;
    /* input planes (NCHW) or rows of channels (NHCW, see repack_input);
     * the phase images of a strided conv2d follow each other */
    const int64_t xrs = f->xlay ? g->c_in * W : W, xcs = f->xlay ? W : H * W;
    const int64_t xps = g->c_in * H * W;
    const int64_t xspan = (f->cig - 1) * xcs + VL; /* what one vector reads over all ic */
    int64_t qy0[TC_NV_MAX], qx0[TC_NV_MAX];
    for (int v = 0; v < nv; v++) {
        const int64_t vi = v0 + v;
        qy0[v] = f->flat ? vi * f->R : vi / nb;
        qx0[v] = f->flat ? 0 : (vi % nb) * VL;
    }
    const int64_t rx = f->swf == 2 ? p : pg->rx;
    const int64_t nky = f->kyo[pg->ry + 1] - f->kyo[pg->ry], nkx = f->kxo[rx + 1] - f->kxo[rx];
    const int64_t *kyc = f->kyc + f->kyo[pg->ry] * 3, *kxc = f->kxc + f->kxo[rx] * 3;
    int n = 0;
    for (; *pos < nky * nkx && n < max; ++*pos) {
        const int64_t a = *pos / nkx, b = *pos % nkx;
        const int64_t ky = kyc[3 * a], cy = kyc[3 * a + 1], kx = kxc[3 * b], cx = kxc[3 * b + 1];
        const int64_t img = (kyc[3 * a + 2] * f->isw + kxc[3 * b + 2]) * xps;
        tc_tap *tp = &out[n];
        uint32_t any = 0;
        for (int v = 0; v < nv; v++) {
            uint32_t mk = 0;
            int64_t off = 0;
            /* offsets only for vectors that touch the input: a tap far
             * outside (huge dilation or padding) would overflow them */
            if (f->flat) {
                const uint32_t col =
                    cx >= W || cx <= -W ? 0 : bits_range(imax(0, -cx), imin(W, W - cx));
                for (int r = 0; r < f->R; r++) {
                    const int64_t iy = qy0[v] + r + cy;
                    if (iy >= 0 && iy < H) mk |= col << (r * W);
                }
                if (mk) off = img + (qy0[v] + cy) * W + cx;
            } else {
                const int64_t iy = qy0[v] + cy, ix0 = qx0[v] + cx;
                if (iy >= 0 && iy < H && ix0 < W && ix0 > -VL)
                    mk = bits_range(imax(0, -ix0), imin(VL, W - ix0));
                if (mk) off = img + iy * xrs + ix0;
            }
            tp->mask[v] = mk;
            tp->xoff[v] = mk ? off : 0;
            any |= mk;
            /* every vector is loaded, an empty one at offset 0 */
            tp->lo = v ? imin(tp->lo, tp->xoff[v]) : tp->xoff[v];
            tp->hi = v ? imax(tp->hi, tp->xoff[v] + xspan) : tp->xoff[v] + xspan;
        }
        if (!any) continue;
        tp->woff = (ky * g->kw + kx) * f->cig;
        n++;
    }
    return n;
}

/* One tile: group pg of image n, group gi, channel block ocb, vector tile
 * vt (vectors [vt*NV, vt*NV + nv)).  The image's input is at xi, with xpre
 * floats of its buffer before and xpost from xi on. */
static void phase_tile(const run_ctx *c, const phase_grp *pg, int64_t n, int64_t gi,
                       int64_t ocb, int64_t vt, const float *xi, int64_t xpre, int64_t xpost,
                       float *out) {
    const tc_geom *g = &c->op->geom;
    const tc_fast *f = c->f;
    const int VL = f->ks->vl, SWF = f->swf;
    const int64_t H = f->xh, W = f->xw, cig = f->cig, cog = f->cog, kk = f->kk;
    const int64_t o0 = ocb * f->mr, v0 = vt * f->nv;
    const int mrb = (int)imin(f->mr, cog - o0);
    const int nv = (int)imin(f->nv, pg->nvec - v0);
    tc_phase_tile t;
    t.xcs = f->xlay ? W : H * W;
    const int64_t xg = gi * cig * t.xcs; /* the group's first channel */
    t.x = xi + xg;
    t.xpre = xpre + xg;
    t.xpost = xpost - xg;
    t.cin = cig;
    t.w = f->wpack + gi * cog * cig * kk + o0 * cig * kk;
    t.bias = f->bias + gi * cog + o0;
    const tc_phase_kernel kern = f->ks->phase[nv - 1][mrb - 1];
    /* Each column phase of the tile in turn (its own taps), into its own
     * part of out; the store interleaves them.  Kernel calls take up to
     * TC_TAP_CHUNK taps, each continuing from the last one's sums. */
    for (int p = 0; p < SWF; p++) {
        t.out = out + (int64_t)p * mrb * nv * VL;
        t.init = NULL;
        if (f->taps) {
            const int64_t ti = (pg->vt0 + vt) * SWF + p;
            const int64_t cnt = f->tap_off[ti + 1] - f->tap_off[ti];
            int64_t j = 0;
            do {
                t.taps = f->taps + f->tap_off[ti] + j;
                t.ntap = (int)imin(TC_TAP_CHUNK, cnt - j);
                kern(&t);
                t.init = t.out;
                j += t.ntap;
            } while (j < cnt);
        } else {
            tc_tap taps[TC_TAP_CHUNK];
            int64_t pos = 0;
            t.taps = taps;
            for (;;) {
                t.ntap = tile_taps(f, g, pg, v0, nv, p, &pos, taps, TC_TAP_CHUNK);
                if (t.ntap == 0 && t.init) break;
                kern(&t);
                t.init = t.out;
                if (t.ntap < TC_TAP_CHUNK) break; /* the list is exhausted */
            }
        }
    }
    store_tile(c, pg, n, gi * cog + o0, mrb, v0, nv, out);
}

/* Tiles [b, e) in unit order: per (n, g), per phase group k, per chunk of
 * vector tiles ch, per channel block ocb, the chunk's vector tiles vtl.
 * The first unit is decoded by division, the rest by stepping (a tile of a
 * one-tap layer is ~1500 cycles; five 64-bit divisions per tile were ~10 %
 * of c4).  slot: NULL, or the input of the one image [b, e) lies in. */
static void phase_tiles(const run_ctx *c, int64_t b, int64_t e, const float *slot) {
    const tc_fast *f = c->f;
    const tc_geom *g = &c->op->geom;
    float out[TC_MR_MAX * TC_NV_MAX * 2 * TC_VL_MAX] __attribute__((aligned(64)));
    if (b >= e) return;
    int64_t ng = b / f->units_ng, r = b % f->units_ng;
    int64_t k = 0, hi = f->ngrp - 1; /* the last group with first <= r */
    while (k < hi) {
        const int64_t mid = (k + hi + 1) / 2;
        if (f->grp[mid].first <= r) k = mid; else hi = mid - 1;
    }
    while (f->grp[k].units == 0) k++; /* empty groups share their successor's first */
    const phase_grp *pg = &f->grp[k];
    r -= pg->first;
    const int64_t per_chunk = f->nocb * pg->vt_chunk; /* the last chunk may be shorter */
    int64_t ch = r / per_chunk, rc = r % per_chunk;
    int64_t nvt_c = imin(pg->vt_chunk, pg->nvt - ch * pg->vt_chunk);
    int64_t ocb = rc / nvt_c, vtl = rc % nvt_c;
    for (int64_t u = b;;) {
        const int64_t n = ng / g->groups;
        if (slot)
            phase_tile(c, pg, n, ng % g->groups, ocb, ch * pg->vt_chunk + vtl, slot, 0, f->ximg,
                       out);
        else
            phase_tile(c, pg, n, ng % g->groups, ocb, ch * pg->vt_chunk + vtl,
                       c->x + n * f->ximg, n * f->ximg, (g->n - n) * f->ximg, out);
        if (++u == e) break;
        if (++vtl < nvt_c) continue;
        vtl = 0;
        if (++ocb < f->nocb) continue;
        ocb = 0;
        if (++ch == pg->nchunk) {
            ch = 0;
            do {
                if (++k == f->ngrp) {
                    k = 0;
                    ng++;
                }
            } while (f->grp[k].units == 0);
            pg = &f->grp[k];
        }
        nvt_c = imin(pg->vt_chunk, pg->nvt - ch * pg->vt_chunk);
    }
}

static void phase_worker(void *ctx, int64_t b, int64_t e) { phase_tiles(ctx, b, e, NULL); }

static void gemm_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_fast *f = c->f;
    const tc_geom *g = &c->op->geom;
    const int VL = f->ks->vl, GN = f->ks->gemm_nv * VL, MR = f->ks->gemm_mr;
    const int64_t cig = f->cig, cog = f->cog, hw = g->h_out * g->w_out, nc = cog * hw;
    const tc_strides ys = c->ys;
    float out[TC_MR_MAX * 4 * TC_VL_MAX] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        const int64_t gi = u / (f->g_ncb * f->nmb), r = u % (f->g_ncb * f->nmb);
        const int64_t cb = r / f->nmb, mb = r % f->nmb;
        const int64_t n0 = mb * MR;
        const int mr = (int)imin(MR, g->n - n0);
        tc_gemm_tile t;
        t.a = c->x + n0 * g->c_in + gi * cig;
        t.a_rs = g->c_in;
        t.k = cig;
        t.b = f->gpack + (gi * f->g_ncb + cb) * cig * GN;
        t.binit = f->gbias + (gi * f->g_ncb + cb) * GN;
        t.out = out;
        f->ks->gemm[mr - 1](&t);
        const int64_t col0 = cb * GN, cnt = imin(GN, nc - col0);
        for (int m = 0; m < mr; m++) {
            float *yb = c->y + (n0 + m) * ys.n + gi * cog * ys.c;
            const float *s = out + m * GN;
            if (ys.w == 1) { /* NCHW: the group's output is the columns, in order */
                memcpy(yb + col0, s, (size_t)cnt * sizeof(float));
            } else if (g->groups == 1) { /* NHWC, one group: likewise */
                memcpy(yb + col0, s, (size_t)cnt * sizeof(float));
            } else { /* NHWC: runs of cog channels per pixel */
                for (int64_t j = 0; j < cnt; j++) {
                    const int64_t col = col0 + j;
                    yb[(col / cog) * ys.w + col % cog] = s[j];
                }
            }
        }
    }
}

/* Channels-in-lanes tiles: (n, g, phase, ocb, pixel block of MR phase
 * pixels in row-major order); reads the caller's input (NCHW or NHWC). */
static void cil_worker(void *ctx, int64_t b, int64_t e) {
    static const float zero = 0.0f;
    const run_ctx *c = ctx;
    const tc_fast *f = c->f;
    const tc_geom *g = &c->op->geom;
    const int MR = f->ks->cil_mr, NR = f->ks->cil_nr;
    const int64_t H = g->h_in, W = g->w_in, C = g->c_in, cig = f->cig, cog = f->cog;
    const int64_t sh = g->sh, sw = g->sw, nph = sh * sw;
    const int nhwc = c->op->opt.layout == TCONV_LAYOUT_NHWC;
    const int64_t xcs = nhwc ? 1 : H * W, xrs = nhwc ? W * C : W, xps = nhwc ? C : 1;
    const tc_strides ys = c->ys;
    const float *xp[TC_CIL_TAPS * 8];
    int64_t xs[TC_CIL_TAPS * 8], woff[TC_CIL_TAPS];
    float out[8 * 64] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        int64_t r = u;
        const int64_t pb = r % f->c_npb;
        r /= f->c_npb;
        const int64_t ocb = r % f->c_nocb;
        r /= f->c_nocb;
        const int64_t ph = r % nph;
        r /= nph;
        const int64_t gi = r % g->groups, n = r / g->groups;
        const int64_t ry = ph / sw, rx = ph % sw;
        const int64_t hq = ry < g->h_out ? (g->h_out - ry + sh - 1) / sh : 0;
        const int64_t wq = rx < g->w_out ? (g->w_out - rx + sw - 1) / sw : 0;
        const int64_t px0 = pb * MR, npx = imin(MR, hq * wq - px0);
        if (npx <= 0) continue;
        const float *xb = c->x + n * C * H * W + gi * cig * xcs;
        int ntap = 0;
        const int64_t nky = f->kyo[ry + 1] - f->kyo[ry], nkx = f->kxo[rx + 1] - f->kxo[rx];
        const int64_t *kyc = f->kyc + f->kyo[ry] * 3, *kxc = f->kxc + f->kxo[rx] * 3;
        for (int64_t a = 0; a < nky; a++)
            for (int64_t bb = 0; bb < nkx; bb++) {
                const int64_t cy = kyc[3 * a + 1], cx = kxc[3 * bb + 1];
                int any = 0;
                for (int m = 0; m < MR; m++) {
                    const float *pp = &zero;
                    int64_t st = 0;
                    if (m < npx) {
                        const int64_t qy = (px0 + m) / wq, qx = (px0 + m) % wq;
                        const int64_t iy = qy + cy, ix = qx + cx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            pp = xb + iy * xrs + ix * xps;
                            st = xcs;
                            any = 1;
                        }
                    }
                    xp[ntap * MR + m] = pp;
                    xs[ntap * MR + m] = st;
                }
                if (!any) continue;
                woff[ntap++] = (kyc[3 * a] * g->kw + kxc[3 * bb]) * cig * NR;
            }
        tc_cil_tile t = {xp, xs, woff, ntap, cig,
                         f->cpack + (gi * f->c_nocb + ocb) * f->kk * cig * NR,
                         f->cbias + (gi * f->c_nocb + ocb) * NR, out};
        const int64_t oc0 = ocb * NR, nr = imin(NR, cog - oc0);
        f->ks->cil[(nr + f->ks->vl - 1) / f->ks->vl - 1](&t);
        float *yb = c->y + n * ys.n + (gi * cog + oc0) * ys.c;
        for (int m = 0; m < npx; m++) {
            const int64_t qy = (px0 + m) / wq, qx = (px0 + m) % wq;
            float *d = yb + (qy * sh + ry) * ys.h + (qx * sw + rx) * ys.w;
            for (int64_t j = 0; j < nr; j++) d[j * ys.c] = out[m * NR + j];
        }
    }
}

typedef struct repack_ctx {
    const float *src;
    float *dst; /* holds images n0, n0 + 1, ... */
    int64_t n, c, h, w;
    int from_nhwc, to_nhcw;
    int64_t n0;
} repack_ctx;

/* The input as the kernels read it, in the workspace (the input's size):
 *  NHCW ("rows of channels") when tiles take pixel vectors from one row, so
 *  that consecutive channels of a row are W floats apart and a tile's loads
 *  stream through a few pages instead of one page per channel;
 *  NCHW from NHWC input for flat tiles.  Split over (image, row). */
static void repack_worker(void *ctx, int64_t b, int64_t e) {
    const repack_ctx *t = ctx;
    const int64_t C = t->c, H = t->h, W = t->w;
    for (int64_t r = b; r < e; r++) {
        const int64_t n = r / H, y = r % H, rd = r - t->n0 * H; /* row in dst */
        if (!t->from_nhwc) { /* NCHW -> NHCW: C rows of W */
            const float *s = t->src + n * C * H * W + y * W;
            float *d = t->dst + rd * C * W;
            for (int64_t ch = 0; ch < C; ch++) memcpy(d + ch * W, s + ch * H * W, (size_t)W * 4);
            continue;
        }
        const float *s = t->src + r * W * C; /* (W, C) block of this row */
        float *d = t->to_nhcw ? t->dst + rd * C * W : t->dst + (n - t->n0) * C * H * W + y * W;
        const int64_t cs = t->to_nhcw ? W : H * W; /* channel stride in dst */
        for (int64_t c0 = 0; c0 < C; c0 += 16)
            for (int64_t x0 = 0; x0 < W; x0 += 16) {
                const int64_t c1 = imin(c0 + 16, C), x1 = imin(x0 + 16, W);
                for (int64_t ch = c0; ch < c1; ch++)
                    for (int64_t x = x0; x < x1; x++) d[ch * cs + x] = s[x * C + ch];
            }
    }
}

typedef struct s2d_ctx {
    const tc_fast *f;
    const float *src;
    float *dst; /* holds images n0, n0 + 1, ... */
    int64_t n, c, h, w;
    int from_nhwc;
    int64_t n0;
} s2d_ctx;

/* Index into an input dimension of n for coordinate v of the padded one
 * (v - pad), as F.pad's modes do; -1 for a zero.  PyTorch's checks keep
 * reflect pads < n and circular pads <= n: one reflection or wrap. */
static inline int64_t pad_index(int mode, int64_t v, int64_t n) {
    if (v >= 0 && v < n) return v;
    switch (mode) {
    case TCONV_PADDING_MODE_REFLECT: return v < 0 ? -v : 2 * (n - 1) - v;
    case TCONV_PADDING_MODE_REPLICATE: return v < 0 ? 0 : n - 1;
    case TCONV_PADDING_MODE_CIRCULAR: return v < 0 ? v + n : v - n;
    default: return -1;
    }
}

/* A strided (or mode-padded) conv2d's input as phase images (see tc_fast):
 * per image n, phase (ry, rx), row i of xh: x[n, :, ry + ish*i, rx + isw*j]
 * for j < xw (coordinates of the padded input with a padding mode), zeros
 * past the input, as C rows of xw (NHCW) or into C planes (flat tiles).
 * Split over (n, phase, row). */
static void s2d_worker(void *ctx, int64_t b, int64_t e) {
    const s2d_ctx *t = ctx;
    const tc_fast *f = t->f;
    const int64_t C = t->c, H = t->h, W = t->w, xh = f->xh, xw = f->xw;
    const int64_t cs = t->from_nhwc ? 1 : H * W, rs = t->from_nhwc ? W * C : W,
                  ps = t->from_nhwc ? C : 1;
    const int64_t hs = H + f->ppt + f->ppb, wsz = W + f->ppl + f->ppr; /* source dims */
    for (int64_t r = b; r < e; r++) {
        const int64_t i = r % xh, ph = r / xh % (f->ish * f->isw), n = r / xh / (f->ish * f->isw);
        const int64_t ry = ph / f->isw, rx = ph % f->isw, py = ry + f->ish * i;
        float *img = t->dst + (n - t->n0) * f->ximg + ph * C * xh * xw;
        /* rows: [i][c][j]; flat: [c][i][j] */
        float *d = f->xlay ? img + i * C * xw : img + i * xw;
        const int64_t dcs = f->xlay ? xw : xh * xw;
        const int64_t iy = py < hs ? pad_index(f->pmode, py - f->ppt, H) : -1;
        const int64_t nj = rx < wsz ? imin(xw, (wsz - rx - 1) / f->isw + 1) : 0;
        for (int64_t ch = 0; ch < C; ch++) {
            float *dc = d + ch * dcs;
            int64_t j = 0;
            if (iy >= 0) {
                const float *sp = t->src + n * C * H * W + ch * cs + iy * rs;
                if (f->pmode)
                    for (; j < nj; j++) dc[j] = sp[pad_index(f->pmode, rx + f->isw * j - f->ppl, W) * ps];
                else
                    for (; j < nj; j++) dc[j] = sp[(rx + f->isw * j) * ps];
            }
            for (; j < xw; j++) dc[j] = 0.0f;
        }
    }
}

static int threads_for(const tconv_op *op) {
    const tc_fast *f = op->fast;
    int nt = op->opt.num_threads > 0 ? op->opt.num_threads : f->default_nt;
    if ((int64_t)nt > f->units) nt = (int)f->units;
    /* Waking a worker costs microseconds: give each at least ~2 MFLOP. */
    const double by_work = f->flops / 2e6;
    if (nt > 1 && by_work < nt) nt = by_work < 1 ? 1 : (int)by_work;
    return nt < 1 ? 1 : nt;
}

/* Image-at-a-time runs: each task is one image, repacked into a free
 * workspace slot (one per running thread, so a slot is free whenever a
 * task starts) and then its tiles, which find their input in L2 instead
 * of a whole repacked batch in L3 or memory. */
static void image_worker(void *ctx, int64_t b, int64_t e) {
    run_ctx *c = ctx;
    const tc_fast *f = c->f;
    const tc_geom *g = &c->op->geom;
    const int nhwc = c->op->opt.layout == TCONV_LAYOUT_NHWC;
    for (int64_t n = b; n < e; n++) {
        int slot;
        for (;;) {
            uint_fast64_t busy = atomic_load(&c->busy);
            slot = __builtin_ctzll(~(unsigned long long)busy);
            if (atomic_compare_exchange_weak(&c->busy, &busy, busy | (uint_fast64_t)1 << slot))
                break;
        }
        float *dst = c->slots + slot * f->ximg;
        if (f->ish > 1 || f->isw > 1 || f->pmode) {
            s2d_ctx t = {f, c->src, dst, g->n, g->c_in, g->h_in, g->w_in, nhwc, n};
            const int64_t rows = f->ish * f->isw * f->xh;
            s2d_worker(&t, n * rows, (n + 1) * rows);
        } else {
            repack_ctx t = {c->src, dst, g->n, g->c_in, g->h_in, g->w_in, nhwc, f->xlay, n};
            repack_worker(&t, n * g->h_in, (n + 1) * g->h_in);
        }
        const int64_t per_n = g->groups * f->units_ng;
        phase_tiles(c, n * per_n, (n + 1) * per_n, dst);
        atomic_fetch_and(&c->busy, ~((uint_fast64_t)1 << slot));
    }
}

static tconv_status run_fast(tconv_op *op, const float *x, float *y, void *ws) {
    const tc_fast *f = op->fast;
    const tc_geom *g = &op->geom;
    run_ctx c = {op, f, x, y, tc_strides_for(op->opt.layout, g->c_out, g->h_out, g->w_out), x,
                 ws, 0};
    const int nt = threads_for(op);
    const int s2d = f->ish > 1 || f->isw > 1 || f->pmode;
    const int repack = f->xlay || op->opt.layout == TCONV_LAYOUT_NHWC;
    /* image at a time: enough images for the threads (the slots then fit
     * in the workspace, sized for the whole input) and small ones */
    if (f->path == PATH_PHASE && (s2d || repack) && g->n >= 2 * (int64_t)nt && nt <= 64 &&
        f->ximg <= TC_IMAGE_MAX) {
        tc_parallel_for(nt, g->n, image_worker, &c);
        return TCONV_OK;
    }
    if (f->path == PATH_PHASE && s2d) {
        s2d_ctx t = {f, x, ws, g->n, g->c_in, g->h_in, g->w_in,
                     op->opt.layout == TCONV_LAYOUT_NHWC, 0};
        tc_parallel_for(nt, g->n * f->ish * f->isw * f->xh, s2d_worker, &t);
        c.x = ws;
    } else if (f->path == PATH_PHASE && (f->xlay || op->opt.layout == TCONV_LAYOUT_NHWC)) {
        repack_ctx t = {x, ws, g->n, g->c_in, g->h_in, g->w_in,
                        op->opt.layout == TCONV_LAYOUT_NHWC, f->xlay, 0};
        tc_parallel_for(nt, g->n * g->h_in, repack_worker, &t);
        c.x = ws;
    }
    tc_parallel_for(nt, f->units,
                    f->path == PATH_GEMM  ? gemm_worker
                    : f->path == PATH_CIL ? cil_worker
                                          : phase_worker,
                    &c);
    return TCONV_OK;
}

/* ---- planning ------------------------------------------------------------ */

static tconv_status oom(void) {
    return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory planning the fast path");
}

static tconv_status plan_gemm(tconv_op *op, tc_fast *f) {
    const tc_geom *g = &op->geom;
    const int GN = f->ks->gemm_nv * f->ks->vl;
    const int64_t cig = f->cig, cog = f->cog, hw = g->h_out * g->w_out, nc = cog * hw;
    const int64_t ncb = (nc + GN - 1) / GN;
    const int nhwc = op->opt.layout == TCONV_LAYOUT_NHWC;
    if (f->g_h != g->h_out || f->g_w != g->w_out) {
        int64_t numel;
        if (tc_mul_overflow(g->groups * ncb, cig * GN, &numel) || numel > (int64_t)1 << 40)
            return tc_fail(TCONV_ERROR_OVERFLOW, "gemm weights for a 1x1 input do not fit");
        float *pk = calloc((size_t)numel + 1, sizeof(float));
        float *bi = calloc((size_t)(g->groups * ncb * GN), sizeof(float));
        if (!pk || !bi) {
            free(pk);
            free(bi);
            return oom();
        }
        for (int64_t gi = 0; gi < g->groups; gi++)
            for (int64_t col = 0; col < nc; col++) {
                /* columns in output memory order: (oc, pixel) for NCHW,
                 * (pixel, oc) for NHWC */
                const int64_t ocg = nhwc ? col % cog : col / hw, pix = nhwc ? col / cog : col % hw;
                const int64_t oy = pix / g->w_out, ox = pix % g->w_out;
                const int64_t cb = col / GN, j = col % GN;
                bi[(gi * ncb + cb) * GN + j] = f->bias[gi * cog + ocg];
                /* with a 1x1 input, oy = ky*dh - ph */
                const int64_t ty = oy + g->ph, tx = ox + g->pw;
                if (ty % g->dh || tx % g->dw) continue;
                const int64_t ky = ty / g->dh, kx = tx / g->dw;
                if (ky >= g->kh || kx >= g->kw) continue;
                for (int64_t ic = 0; ic < cig; ic++)
                    pk[((gi * ncb + cb) * cig + ic) * GN + j] =
                        f->wsrc[((gi * cig + ic) * cog + ocg) * f->kk + ky * g->kw + kx];
            }
        free(f->gpack);
        free(f->gbias);
        f->gpack = pk;
        f->gbias = bi;
        f->g_h = g->h_out;
        f->g_w = g->w_out;
        f->g_ncb = ncb;
    }
    f->path = PATH_GEMM;
    f->nmb = (g->n + f->ks->gemm_mr - 1) / f->ks->gemm_mr;
    f->units = g->groups * ncb * f->nmb;
    op->path = "gemm-1x1";
    op->workspace_bytes = 0;
    return TCONV_OK;
}

static tconv_status plan_cil(tconv_op *op, tc_fast *f) {
    const tc_geom *g = &op->geom;
    const int MR = f->ks->cil_mr, NR = f->ks->cil_nr;
    const int64_t cig = f->cig, cog = f->cog, kk = f->kk, nocb = (cog + NR - 1) / NR;
    if (!f->cpack) {
        float *pk = calloc((size_t)(g->groups * nocb * kk * cig * NR) + 1, sizeof(float));
        float *bi = calloc((size_t)(g->groups * nocb * NR), sizeof(float));
        if (!pk || !bi) {
            free(pk);
            free(bi);
            return oom();
        }
        for (int64_t gi = 0; gi < g->groups; gi++)
            for (int64_t oc = 0; oc < cog; oc++) {
                const int64_t ocb = oc / NR, j = oc % NR;
                bi[(gi * nocb + ocb) * NR + j] = f->bias[gi * cog + oc];
                for (int64_t t = 0; t < kk; t++)
                    for (int64_t ic = 0; ic < cig; ic++)
                        pk[(((gi * nocb + ocb) * kk + t) * cig + ic) * NR + j] =
                            f->wsrc[((gi * cig + ic) * cog + oc) * kk + t];
            }
        f->cpack = pk;
        f->cbias = bi;
    }
    int64_t maxpx = 0;
    for (int64_t ry = 0; ry < g->sh; ry++)
        for (int64_t rx = 0; rx < g->sw; rx++) {
            const int64_t hq = ry < g->h_out ? (g->h_out - ry + g->sh - 1) / g->sh : 0;
            const int64_t wq = rx < g->w_out ? (g->w_out - rx + g->sw - 1) / g->sw : 0;
            if (hq * wq > maxpx) maxpx = hq * wq;
        }
    f->path = PATH_CIL;
    f->c_nocb = nocb;
    f->c_npb = (maxpx + MR - 1) / MR;
    f->units = g->n * g->groups * g->sh * g->sw * nocb * f->c_npb;
    op->path = "phase-cil";
    op->workspace_bytes = 0;
    return TCONV_OK;
}

#define TC_TAP_TABLE_MAX ((int64_t)4 << 20) /* bytes */

/* The tap table of the phase plan (see tc_fast), when it fits in
 * TC_TAP_TABLE_MAX; returns 0 only when out of memory. */
static int build_tap_table(tc_fast *f, const tc_geom *g) {
    free(f->taps);
    free(f->tap_off);
    f->taps = NULL;
    f->tap_off = NULL;
    /* at most nvt x (taps of the phase) per tile and column phase */
    int64_t ntile = 0, bound = 0;
    for (int64_t i = 0; i < f->ngrp; i++) {
        phase_grp *pg = &f->grp[i];
        pg->vt0 = ntile;
        ntile += pg->nvt;
        const int64_t ny = f->kyo[pg->ry + 1] - f->kyo[pg->ry];
        for (int p = 0; p < f->swf; p++) {
            const int64_t rx = f->swf == 2 ? p : pg->rx;
            const int64_t nt = ny * (f->kxo[rx + 1] - f->kxo[rx]);
            if (nt > TC_TAP_TABLE_MAX || pg->nvt > TC_TAP_TABLE_MAX) return 1;
            bound += pg->nvt * nt;
            if (bound * (int64_t)sizeof(tc_tap) > TC_TAP_TABLE_MAX) return 1;
        }
    }
    f->taps = malloc((size_t)(bound ? bound : 1) * sizeof(tc_tap));
    f->tap_off = malloc((size_t)(ntile * f->swf + 1) * sizeof(int64_t));
    if (!f->taps || !f->tap_off) return 0;
    int64_t k = 0;
    f->tap_off[0] = 0;
    for (int64_t i = 0; i < f->ngrp; i++) {
        const phase_grp *pg = &f->grp[i];
        for (int64_t vt = 0; vt < pg->nvt; vt++)
            for (int p = 0; p < f->swf; p++) {
                const int64_t v0 = vt * f->nv;
                int64_t pos = 0;
                k += tile_taps(f, g, pg, v0, (int)imin(f->nv, pg->nvec - v0), p, &pos, f->taps + k,
                               INT32_MAX);
                f->tap_off[(pg->vt0 + vt) * f->swf + p + 1] = k;
            }
    }
    return 1;
}

static inline int64_t floor_div(int64_t a, int64_t b) { /* b > 0 */
    return a / b - (a % b < 0);
}

/* Kernel taps k < kn by output phase: tap k reaches output phase
 * r = (k*d - p) mod s and reads input offset c = (r + p - k*d) / s from the
 * phase position.  With an input stride si > 1 (strided conv2d, s = 1) that
 * offset is in phase image c mod si, at floor(c / si).  Fills off[0..s]
 * (list r is off[r]..off[r+1]) and triples (k, offset, image), each list in
 * increasing k. */
static void tap_lists(int64_t kn, int64_t d, int64_t p, int64_t s, int64_t si, int64_t *off,
                      int64_t *trip) {
    for (int64_t k = 0; k < kn; k++) off[((k * d - p) % s + s) % s + 1]++;
    for (int64_t r = 0; r < s; r++) off[r + 1] += off[r];
    for (int64_t k = 0; k < kn; k++) { /* off[r] walks to the end of list r ... */
        const int64_t r = ((k * d - p) % s + s) % s, c = (r + p - k * d) / s;
        int64_t *e = trip + 3 * off[r]++;
        e[0] = k;
        e[1] = floor_div(c, si);
        e[2] = c - e[1] * si;
    }
    for (int64_t r = s; r > 0; r--) off[r] = off[r - 1]; /* ... then back to its start */
    off[0] = 0;
}

tconv_status tc_fast_ct2d_plan(tconv_op *op) {
    tc_fast *f = op->fast;
    const tc_geom *g = &op->geom;
    op->run = run_fast;
    f->flops = 2.0 * g->n * g->c_in * g->h_in * g->w_in * f->cog * g->kh * g->kw;
    /* The 1x1-input GEMM packs cig x (cog*Hout*Wout) weights: only when the
     * output is no larger than the kernel (dilation or output_padding can
     * make it far larger, mostly taps-free, and the packing unbounded). */
    /* padding modes (conv2d): see tc_fast_conv2d_geom */
    f->pmode = op->kind == TC_OP_CONV2D && g->padding_mode != TCONV_PADDING_MODE_ZEROS &&
                       (g->pad_t || g->pad_b || g->pad_l || g->pad_r)
                   ? (int)g->padding_mode
                   : 0;
    f->ppt = f->pmode ? g->pad_t : 0;
    f->ppb = f->pmode ? g->pad_b : 0;
    f->ppl = f->pmode ? g->pad_l : 0;
    f->ppr = f->pmode ? g->pad_r : 0;
    const int s2d = f->ish > 1 || f->isw > 1 || f->pmode;
    if (!s2d && g->h_in == 1 && g->w_in == 1 && g->h_out * g->w_out <= f->kk)
        return plan_gemm(op, f);

    const int VL = f->ks->vl;
    /* the images the kernels read: the input, or its phase images */
    /* ceil(dim / stride); tc_fast_conv2d_geom keeps strides <= the dims */
    f->xh = (g->h_in + f->ppt + f->ppb - 1) / f->ish + 1;
    f->xw = (g->w_in + f->ppl + f->ppr - 1) / f->isw + 1;
    const int64_t xd[5] = {f->ish * f->isw, g->c_in, f->xh, f->xw, g->n};
    int64_t xall;
    if (!tc_numel(xd, 5, &xall)) /* <= ~36 x the input: cannot overflow in practice */
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    f->ximg = xd[0] * xd[1] * xd[2] * xd[3];
    const int64_t sh = g->sh, sw = g->sw, W = f->xw;
    f->path = PATH_PHASE;
    f->swf = sw == 2 ? 2 : 1;
    /* tap lists per row phase and per column phase */
    free(f->kyc);
    free(f->kxc);
    free(f->kyo);
    free(f->kxo);
    free(f->grp);
    f->kyc = malloc((size_t)(g->kh * 3) * sizeof(int64_t));
    f->kxc = malloc((size_t)(g->kw * 3) * sizeof(int64_t));
    f->kyo = calloc((size_t)sh + 1, sizeof(int64_t));
    f->kxo = calloc((size_t)sw + 1, sizeof(int64_t));
    const int64_t ngrp = sh * (f->swf == 2 ? 1 : sw);
    f->grp = calloc((size_t)ngrp, sizeof(phase_grp));
    if (!f->kyc || !f->kxc || !f->kyo || !f->kxo || !f->grp) return oom();
    tap_lists(g->kh, g->dh, g->ph, sh, f->ish, f->kyo, f->kyc);
    tap_lists(g->kw, g->dw, g->pw, sw, f->isw, f->kxo, f->kxc);
    /* Small phases, several taps, many channels: channels in lanes (pixels
     * in lanes would leave most lanes, or most of each weight's reuse, idle;
     * a1 0.63 -> 0.30 ms).  With one tap per phase (k == s) or few output
     * channels the pixel vectors measured faster. */
    {
        const int64_t hq0 = (g->h_out + sh - 1) / sh, wq0 = (g->w_out + sw - 1) / sw;
        int64_t maxty = 0, maxtx = 0;
        for (int64_t r = 0; r < sh; r++) maxty = imax(maxty, f->kyo[r + 1] - f->kyo[r]);
        for (int64_t r = 0; r < sw; r++) maxtx = imax(maxtx, f->kxo[r + 1] - f->kxo[r]);
        const int64_t maxtaps = maxty * maxtx; /* each <= the kernel's weights: no overflow */
        if (!s2d && f->ks->cil[0] && hq0 * wq0 <= TC_CIL_MAX_PX && f->cog >= f->ks->cil_nr &&
            maxtaps >= 2 && maxtaps <= TC_CIL_TAPS && f->ks->cil_mr <= 8 && f->ks->cil_nr <= 64)
            return plan_cil(op, f);
    }
    /* flat vectors: whole phase rows side by side when W divides VL */
    const int64_t wq0 = (g->w_out + sw - 1) / sw;
    f->flat = W * 2 <= VL && VL % W == 0 && wq0 <= W;
    f->R = f->flat ? (int)(VL / W) : 1;
    int64_t maxvec = 0;
    f->ngrp = ngrp;
    for (int64_t i = 0; i < ngrp; i++) {
        phase_grp *pg = &f->grp[i];
        pg->ry = f->swf == 2 ? i : i / sw;
        pg->rx = f->swf == 2 ? 0 : i % sw;
        pg->hq = pg->ry < g->h_out ? (g->h_out - pg->ry + sh - 1) / sh : 0;
        pg->wq = pg->rx < g->w_out ? (g->w_out - pg->rx + sw - 1) / sw : 0;
        if (pg->wq == 0) pg->hq = 0;
        pg->nvec = f->flat ? (pg->hq + f->R - 1) / f->R : pg->hq * ((pg->wq + VL - 1) / VL);
        if (pg->nvec > maxvec) maxvec = pg->nvec;
    }
    int nv, mr;
    choose_tile(f->ks, f->cog, maxvec, &nv, &mr);
    if (mr != f->mr && !pack_phase(f, op, mr)) return oom();
    f->nv = nv;
    f->nocb = (f->cog + mr - 1) / mr;
    /* Chunks of vector tiles whose input (about cig x taps' rows x NV*VL
     * floats per tile) stays in L2 while every channel block passes over
     * it, each block's weights staying in L1. */
    const int64_t xbytes_vt = imax(1, f->cig * nv * VL * 4 * ((g->kh + sh - 1) / sh));
    const int64_t vt_chunk = imax(1, ((int64_t)512 << 10) / xbytes_vt);
    int64_t first = 0;
    for (int64_t i = 0; i < ngrp; i++) {
        phase_grp *pg = &f->grp[i];
        pg->nvt = (pg->nvec + nv - 1) / nv;
        pg->vt_chunk = imax(1, imin(vt_chunk, pg->nvt));
        pg->nchunk = pg->nvt ? (pg->nvt + pg->vt_chunk - 1) / pg->vt_chunk : 0;
        pg->units = pg->nvt * f->nocb; /* chunks of vt_chunk tiles, the last shorter */
        pg->first = first;
        first += pg->units;
    }
    f->units_ng = first;
    f->units = first * g->n * g->groups;
    /* Row vectors read the input repacked to NHCW, where the channels of a
     * tile's rows, re-read tap after tap, do not fight over the few cache
     * sets that whole channel planes (4-64 KiB apart) map to.  With one tap
     * per phase (k == s: c1-c4, d1; 1x1 conv2d) each value is read once per
     * channel block and the planes stream: no copy (c3 4.78 -> 4.35 ms,
     * c4 7.5 -> 6.4 ms, 1x1 conv2d h1 0.031 -> 0.013 ms). */
    f->xlay = !f->flat;
    if (!s2d) {
        int64_t taps = 0;
        for (int64_t r = 0; r < sh; r++)
            for (int64_t q = 0; q < sw; q++)
                taps = imax(taps, (f->kyo[r + 1] - f->kyo[r]) * (f->kxo[q + 1] - f->kxo[q]));
        if (taps <= 1) f->xlay = 0;
    }
    if (!build_tap_table(f, g)) return oom();
    op->path = f->swf == 2 ? "phase-sw2" : "phase";
    size_t ws = 0;
    if ((s2d || f->xlay || op->opt.layout == TCONV_LAYOUT_NHWC) && !tc_float_bytes(xall, &ws))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    op->workspace_bytes = ws;
    return TCONV_OK;
}
