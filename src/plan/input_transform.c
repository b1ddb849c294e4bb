/* input_transform.c -- the input as the kernels read it, made in the
 * workspace: rows of channels (NHCW), channels-last to planes, and the
 * stride phase images of a (padded) input. */
#include "plan_internal.h"

#include <string.h>

/* NHCW ("rows of channels") when tiles take pixel vectors from one row, so
 * that consecutive channels of a row are W floats apart and a tile's loads
 * stream through a few pages instead of one page per channel; NCHW from
 * NHWC input for flat tiles.  Split over (image, row). */
void tc_repack_worker(void *ctx, int64_t b, int64_t e) {
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
        /* d[ch*cs + x] = s[x*C + ch]: 8 x 8 register transposes */
        t->ks->pack_cols(d, cs, s, C, 1, C, W);
    }
}

/* dst[n][p][c] = src[n][c][p] over the H*W pixels p of whole images, so
 * that small images (4 x 4) still fill the 8 x 8 register transposes. */
void tc_to_nhwc_worker(void *ctx, int64_t b, int64_t e) {
    const repack_ctx *t = ctx;
    const int64_t C = t->c, HW = t->h * t->w;
    for (int64_t n = b; n < e; n++)
        t->ks->pack_cols(t->dst + (n - t->n0) * HW * C, C, t->src + n * C * HW, HW, 1, HW, C);
}

/* Column stride 2 from NCHW without a padding mode: both column phases of
 * image row iy of one channel plane, each source line read once, into the
 * rows e (phase 0) and o (phase 1) of xw floats; zeros past the input (a
 * row iy >= H is all zeros). */
static void s2d_pair(const s2d_ctx *t, const float *plane, int64_t iy, float *e, float *o) {
    const int64_t W = t->w, xw = t->pl->xw;
    const int64_t ne = (W + 1) / 2, no = W / 2; /* columns of phases 0 and 1 */
    int64_t je = 0, jo = 0;
    if (iy < t->h) {
        t->pl->ks->deinterleave(e, o, plane + iy * W, ne, no);
        je = ne;
        jo = no;
    }
    for (; je < xw; je++) e[je] = 0.0f;
    for (; jo < xw; jo++) o[jo] = 0.0f;
}

/* Row i of channel ch in phase image (ry, 0) of image n; its row in
 * phase (ry, 1) is one phase image (C*xh*xw floats) further. */
static float *s2d_pair_dst(const s2d_ctx *t, int64_t n, int64_t ry, int64_t i, int64_t ch) {
    const tc_plan *pl = t->pl;
    const int64_t C = t->c, xh = pl->xh, xw = pl->xw;
    float *img0 = t->dst + (n - t->n0) * pl->ximg + (ry * 2) * C * xh * xw;
    return (pl->xlay ? img0 + i * C * xw : img0 + i * xw) + ch * (pl->xlay ? xw : xh * xw);
}

/* Task r = (n, ry, i): row i of row phase ry of image n, every channel. */
static void s2d_row_pair(const s2d_ctx *t, int64_t r) {
    const tc_plan *pl = t->pl;
    const int64_t C = t->c, xh = pl->xh, img = C * xh * pl->xw;
    const int64_t i = r % xh, ry = r / xh % pl->ish, n = r / xh / pl->ish;
    for (int64_t ch = 0; ch < C; ch++) {
        float *e = s2d_pair_dst(t, n, ry, i, ch);
        s2d_pair(t, t->src + (n * C + ch) * t->h * t->w, ry + pl->ish * i, e, e + img);
    }
}

/* Planes of 4 KiB and more, task r = (n, channel): the plane's rows in
 * order.  A task per row jumped a plane per channel, and planes 4 KiB
 * apart share their cache sets: each line was waited for (a3_b16's data
 * gradient: 10.3-11.4 -> 9.7 ms on a Zen 4; on 1 KiB planes the rows of
 * channels written in order won, a2_b16's 10.5 vs 12.2). */
static void s2d_plane_pair(const s2d_ctx *t, int64_t r) {
    const tc_plan *pl = t->pl;
    const int64_t C = t->c, xh = pl->xh, img = C * xh * pl->xw;
    const int64_t ch = r % C, n = r / C;
    const float *plane = t->src + (n * C + ch) * t->h * t->w;
    for (int64_t i = 0; i < xh; i++)
        for (int64_t ry = 0; ry < pl->ish; ry++) {
            float *e = s2d_pair_dst(t, n, ry, i, ch);
            s2d_pair(t, plane, ry + pl->ish * i, e, e + img);
        }
}

/* Row i of phase (ry, rx) of image n (task r = (n, phase, i)) channels-
 * last: d[j*C + c] for the xw columns j, zeros past the input. */
static void s2d_row_nhwc(const s2d_ctx *t, int64_t r) {
    const tc_plan *pl = t->pl;
    const tconv_padding_mode mode = (tconv_padding_mode)pl->pmode;
    const int64_t C = t->c, H = t->h, W = t->w, xh = pl->xh, xw = pl->xw, isw = pl->isw;
    const int64_t i = r % xh, ph = r / xh % (pl->ish * isw), n = r / xh / (pl->ish * isw);
    const int64_t ry = ph / isw, rx = ph % isw, py = ry + pl->ish * i;
    const int64_t hs = H + pl->ppt + pl->ppb, wsz = W + pl->ppl + pl->ppr;
    float *d = t->dst + (n - t->n0) * pl->ximg + ph * C * xh * xw + i * xw * C;
    const int64_t iy = py < hs ? tc_pad_index(mode, py - pl->ppt, H) : -1;
    const int64_t nj = rx < wsz ? tc_imin(xw, (wsz - rx - 1) / isw + 1) : 0;
    int64_t j = 0;
    if (iy >= 0 && !t->from_nhwc && !pl->pmode && isw <= 2) {
        pl->ks->pack_cols(d, C, t->src + n * C * H * W + iy * W + rx, H * W, isw, nj, C);
        j = nj;
    } else if (iy >= 0) { /* pixel by pixel: channels-last input, a padding mode */
        const int64_t cs = t->from_nhwc ? 1 : H * W, ps = t->from_nhwc ? C : 1;
        const float *sp = t->src + n * C * H * W + iy * (t->from_nhwc ? W * C : W);
        for (; j < nj; j++) {
            const int64_t col =
                pl->pmode ? tc_pad_index(mode, rx + isw * j - pl->ppl, W) : rx + isw * j;
            if (t->from_nhwc) memcpy(d + j * C, sp + col * ps, (size_t)C * sizeof(float));
            else
                for (int64_t ch = 0; ch < C; ch++) d[j * C + ch] = sp[ch * cs + col];
        }
    }
    if (j < xw) memset(d + j * C, 0, (size_t)((xw - j) * C) * sizeof(float));
}

/* Small NCHW images without a padding mode, channels-last phase images:
 * the image first transposed whole (its rows are too short for the 8 x 8
 * register transposes: a 4-column phase row went element by element),
 * then each phase pixel's channels copied as one run.  Task = image. */
static void s2d_image_nhwc(const s2d_ctx *t, int64_t n, float *tp) {
    const tc_plan *pl = t->pl;
    const int64_t C = t->c, H = t->h, W = t->w, xh = pl->xh, xw = pl->xw;
    pl->ks->pack_cols(tp, C, t->src + n * C * H * W, H * W, 1, H * W, C); /* tp[p*C + c] */
    float *d = t->dst + (n - t->n0) * pl->ximg;
    for (int64_t ry = 0; ry < pl->ish; ry++)
        for (int64_t rx = 0; rx < pl->isw; rx++)
            for (int64_t i = 0; i < xh; i++)
                for (int64_t j = 0; j < xw; j++, d += C) {
                    const int64_t iy = ry + pl->ish * i, ix = rx + pl->isw * j;
                    /* a loop, not a libc call per pixel: runs of a few dozen floats */
                    const float *sp = tp + (iy * W + ix) * C;
                    if (iy < H && ix < W)
                        for (int64_t c = 0; c < C; c++) d[c] = sp[c];
                    else
                        for (int64_t c = 0; c < C; c++) d[c] = 0.0f;
                }
}

static int s2d_planes(const s2d_ctx *t) { return t->h * t->w >= 1024; }

/* NCHW into row-layout or flat phase images, column stride 2, no padding
 * mode: both column phases made at once (s2d_row_pair, s2d_plane_pair) */
static int s2d_pairs(const s2d_ctx *t) {
    return !t->pl->pmode && t->pl->isw == 2 && !t->from_nhwc && !t->to_nhwc;
}

static int s2d_by_image(const s2d_ctx *t) {
    return t->to_nhwc && !t->from_nhwc && !t->pl->pmode &&
           t->c * t->h * t->w <= TC_S2D_IMAGE_FLOATS;
}

/* A strided (or mode-padded) convolution's input as phase images (see
 * tc_plan): per image n, phase (ry, rx), row i of xh: x[n, :, ry + ish*i,
 * rx + isw*j] for j < xw (coordinates of the padded input with a padding
 * mode), zeros past the input, as C rows of xw (NHCW) or into C planes
 * (flat tiles).  Split over (n, phase, row), or (n, row phase, row) /
 * (n, channel) when both column phases of stride 2 are made at once (see
 * tc_s2d_tasks). */
int64_t tc_s2d_tasks(const s2d_ctx *t) {
    const tc_plan *pl = t->pl;
    if (s2d_by_image(t)) return 1;
    if (s2d_pairs(t)) return s2d_planes(t) ? t->c : pl->ish * pl->xh;
    return pl->ish * pl->isw * pl->xh;
}
void tc_s2d_worker(void *ctx, int64_t b, int64_t e) {
    const s2d_ctx *t = ctx;
    const tc_plan *pl = t->pl;
    if (s2d_by_image(t)) {
        float tp[TC_S2D_IMAGE_FLOATS];
        for (int64_t n = b; n < e; n++) s2d_image_nhwc(t, n, tp);
        return;
    }
    if (t->to_nhwc) {
        for (int64_t r = b; r < e; r++) s2d_row_nhwc(t, r);
        return;
    }
    if (s2d_pairs(t)) {
        if (s2d_planes(t))
            for (int64_t r = b; r < e; r++) s2d_plane_pair(t, r);
        else
            for (int64_t r = b; r < e; r++) s2d_row_pair(t, r);
        return;
    }
    const tconv_padding_mode mode = (tconv_padding_mode)pl->pmode;
    const int64_t C = t->c, H = t->h, W = t->w, xh = pl->xh, xw = pl->xw;
    const int64_t cs = t->from_nhwc ? 1 : H * W, rs = t->from_nhwc ? W * C : W,
                  ps = t->from_nhwc ? C : 1;
    const int64_t hs = H + pl->ppt + pl->ppb, wsz = W + pl->ppl + pl->ppr; /* source dims */
    for (int64_t r = b; r < e; r++) {
        const int64_t i = r % xh, ph = r / xh % (pl->ish * pl->isw),
                      n = r / xh / (pl->ish * pl->isw);
        const int64_t ry = ph / pl->isw, rx = ph % pl->isw, py = ry + pl->ish * i;
        float *img = t->dst + (n - t->n0) * pl->ximg + ph * C * xh * xw;
        /* rows: [i][c][j]; flat: [c][i][j] */
        float *d = pl->xlay ? img + i * C * xw : img + i * xw;
        const int64_t dcs = pl->xlay ? xw : xh * xw;
        const int64_t iy = py < hs ? tc_pad_index(mode, py - pl->ppt, H) : -1;
        const int64_t nj = rx < wsz ? tc_imin(xw, (wsz - rx - 1) / pl->isw + 1) : 0;
        for (int64_t ch = 0; ch < C; ch++) {
            float *dc = d + ch * dcs;
            int64_t j = 0;
            if (iy >= 0) {
                const float *sp = t->src + n * C * H * W + ch * cs + iy * rs;
                if (pl->pmode) {
                    for (; j < nj; j++)
                        dc[j] = sp[tc_pad_index(mode, rx + pl->isw * j - pl->ppl, W) * ps];
                } else if (pl->isw == 1 && ps == 1) { /* row phases only: whole rows */
                    memcpy(dc, sp + rx, (size_t)nj * sizeof(float));
                    j = nj;
                } else {
                    for (; j < nj; j++) dc[j] = sp[(rx + pl->isw * j) * ps];
                }
            }
            for (; j < xw; j++) dc[j] = 0.0f;
        }
    }
}
