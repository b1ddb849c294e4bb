/* plan.c -- plans of transposed-convolution problems: create (pick the
 * kernel set, pack the weights), reshape (tap lists, then the path:
 * 1x1-GEMM, channels in lanes or phase tiles), run (threads, workspace),
 * free; and the lowerings the operators use to state their passes as such
 * problems. */
#include "plan_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tconv_status tc_plan_oom(void) {
    return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory planning the fast path");
}

void tc_plan_free(tc_plan *pl) {
    if (!pl) return;
    free(pl->bias);
    free(pl->wown);
    free(pl->wpack);
    free(pl->gpack);
    free(pl->upack);
    free(pl->gbias);
    free(pl->g_src);
    free(pl->cpack);
    free(pl->c_zero);
    free(pl->c_order);
    free(pl->cbias);
    free(pl->grp);
    free(pl->kyc);
    free(pl->kxc);
    free(pl->kyo);
    free(pl->kxo);
    free(pl->taps);
    free(pl->tap_off);
    free(pl);
}

tconv_status tc_plan_create(tconv_impl impl, int64_t cin, int64_t cout, int64_t groups,
                            int64_t kh, int64_t kw, const float *w, float *w_owned,
                            int w_finite, const float *bias, int nthreads, tc_plan **out) {
    tc_plan *pl = calloc(1, sizeof *pl);
    if (!pl) {
        free(w_owned);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
    }
    pl->wown = w_owned;
    pl->wsrc = w;
    pl->nthreads = nthreads;
    pl->ks = tc_kernels_for(impl);
    pl->groups = groups;
    pl->cig = cin / groups;
    pl->cog = cout / groups;
    pl->dw = groups > 1 && pl->cig == 1 && pl->cog == 1;
    pl->kh = kh;
    pl->kw = kw;
    pl->kk = kh * kw;
    pl->bias = calloc((size_t)cout + TC_MR_MAX, sizeof(float));
    if (!pl->bias) {
        tc_plan_free(pl);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
    }
    if (bias) memcpy(pl->bias, bias, (size_t)cout * sizeof(float));
    pl->w_finite = w_finite;
    /* The weights are packed at the first reshape, for the path it picks
     * (phase tiles of some MR, channels in lanes or the 1x1 GEMM), and again
     * only when a later reshape picks another. */
    *out = pl;
    return TCONV_OK;
}

float *tc_plan_owned_weights(tc_plan *pl) { return pl->wown; }

void tc_plan_set_weights(tc_plan *pl, int w_finite, const float *bias) {
    const int64_t cout = pl->groups * pl->cog;
    if (bias)
        memcpy(pl->bias, bias, (size_t)cout * sizeof(float));
    else
        memset(pl->bias, 0, (size_t)cout * sizeof(float));
    pl->w_finite = w_finite;
    tc_repack(pl);
}

/* Kernel taps k < kn by output phase: tap k reaches output phase
 * r = (k*d - p) mod s and reads input offset c = (r + p - k*d) / s from the
 * phase position.  With an input stride si > 1 (strided convolution,
 * s = 1) that offset is in phase image c mod si, at floor(c / si).  Fills
 * off[0..s] (list r is off[r]..off[r+1]) and triples (k, offset, image),
 * each list in increasing k. */
static void tap_lists(int64_t kn, int64_t d, int64_t p, int64_t s, int64_t si, int64_t *off,
                      int64_t *trip) {
    for (int64_t k = 0; k < kn; k++) off[((k * d - p) % s + s) % s + 1]++;
    for (int64_t r = 0; r < s; r++) off[r + 1] += off[r];
    for (int64_t k = 0; k < kn; k++) { /* off[r] walks to the end of list r ... */
        const int64_t r = ((k * d - p) % s + s) % s, c = (r + p - k * d) / s;
        int64_t *e = trip + 3 * off[r]++;
        e[0] = k;
        e[1] = tc_floor_div(c, si);
        e[2] = c - e[1] * si;
    }
    for (int64_t r = s; r > 0; r--) off[r] = off[r - 1]; /* ... then back to its start */
    off[0] = 0;
}

/* Whether the layer is one dense matrix no larger than its kernel: every
 * (input pixel, output pixel) pair joined by exactly the tap ky = (oy + ph
 * - iy*sh) / dh (likewise columns), with H*W*Hout*Wout <= kh*kw.  A 1x1
 * input whose every output pixel takes a tap is one; a convolution whose
 * single output pixel reads its whole input is another.  A pair no tap
 * joins would be a structural zero multiplying the input (0 * inf = NaN
 * where no product exists): those layers take the other paths. */
static int dense_layer(const tc_geom *g, int64_t kk) {
    int64_t in, out, all;
    if (g->h_in <= 0 || g->w_in <= 0 || g->h_out <= 0 || g->w_out <= 0 ||
        tc_mul_overflow(g->h_in, g->w_in, &in) || tc_mul_overflow(g->h_out, g->w_out, &out) ||
        tc_mul_overflow(in, out, &all) || all > kk)
        return 0;
    for (int64_t iy = 0; iy < g->h_in; iy++)
        for (int64_t oy = 0; oy < g->h_out; oy++) {
            const int64_t t = oy + g->ph - iy * g->sh;
            if (t < 0 || t % g->dh || t / g->dh >= g->kh) return 0;
        }
    for (int64_t ix = 0; ix < g->w_in; ix++)
        for (int64_t ox = 0; ox < g->w_out; ox++) {
            const int64_t t = ox + g->pw - ix * g->sw;
            if (t < 0 || t % g->dw || t / g->dw >= g->kw) return 0;
        }
    return 1;
}


tconv_status tc_plan_reshape(tc_plan *pl, const tc_problem *pb, tconv_layout layout,
                             size_t *ws_bytes, const char **path) {
    pl->pb = *pb;
    pl->layout = layout;
    pl->ish = pb->ish;
    pl->isw = pb->isw;
    const tc_geom *g = &pl->pb.g;
    pl->flops = 2.0 * g->n * g->c_in * g->h_in * g->w_in * pl->cog * g->kh * g->kw;
    pl->pmode = pb->pmode != TCONV_PADDING_MODE_ZEROS &&
                        (pb->ppt || pb->ppb || pb->ppl || pb->ppr)
                    ? (int)pb->pmode
                    : 0;
    pl->ppt = pl->pmode ? pb->ppt : 0;
    pl->ppb = pl->pmode ? pb->ppb : 0;
    pl->ppl = pl->pmode ? pb->ppl : 0;
    pl->ppr = pl->pmode ? pb->ppr : 0;
    *ws_bytes = 0;
    const int s2d = pl->ish > 1 || pl->isw > 1 || pl->pmode;
    /* The dense-matrix GEMM packs cig*H*W x cog*Hout*Wout weights, at most
     * the kernel's.  Channels-last input with groups and more than one
     * pixel would leave a group's rows strided: not this path. */
    if (!s2d && (g->h_in * g->w_in == 1 || layout == TCONV_LAYOUT_NCHW || g->groups == 1) &&
        dense_layer(g, pl->kk)) {
        *path = g->h_in == 1 && g->w_in == 1 ? "gemm-1x1" : "gemm-window";
        return tc_plan_gemm(pl);
    }
    /* 3x3, stride 1, NCHW, channels enough to fill GEMM tiles: Winograd's
     * F(2x2, 3x3), 4 products per output where the direct paths take 9.
     * Non-finite weights take the direct paths (the transforms would mix
     * an inf into every tap of its tile). */
    if (!s2d && layout == TCONV_LAYOUT_NCHW && g->groups == 1 && !pl->dw && g->kh == 3 &&
        g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->ph >= 0 &&
        g->ph <= 2 && g->pw >= 0 && g->pw <= 2 && pl->w_finite && pl->cig >= TC_WINO_MIN_C &&
        pl->cog >= TC_WINO_MIN_C && g->h_out >= 4 && g->w_out >= 4 && tc_wino_fits(pl)) {
        *path = "winograd";
        return tc_plan_winograd(pl, ws_bytes);
    }
    /* the images the kernels read: the input, or its phase images;
     * ceil(dim / stride), tc_lower_convolution keeps strides <= the dims */
    pl->xh = (g->h_in + pl->ppt + pl->ppb - 1) / pl->ish + 1;
    pl->xw = (g->w_in + pl->ppl + pl->ppr - 1) / pl->isw + 1;
    const int64_t xd[5] = {pl->ish * pl->isw, g->c_in, pl->xh, pl->xw, g->n};
    int64_t xall;
    if (!tc_numel(xd, 5, &xall)) /* <= ~36 x the input: cannot overflow in practice */
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    pl->ximg = xd[0] * xd[1] * xd[2] * xd[3];
    const int64_t sh = g->sh, sw = g->sw;
    /* tap lists per row phase and per column phase */
    free(pl->kyc);
    free(pl->kxc);
    free(pl->kyo);
    free(pl->kxo);
    pl->kyc = malloc((size_t)(g->kh * 3) * sizeof(int64_t));
    pl->kxc = malloc((size_t)(g->kw * 3) * sizeof(int64_t));
    pl->kyo = calloc((size_t)sh + 1, sizeof(int64_t));
    pl->kxo = calloc((size_t)sw + 1, sizeof(int64_t));
    if (!pl->kyc || !pl->kxc || !pl->kyo || !pl->kxo) return tc_plan_oom();
    tap_lists(g->kh, g->dh, g->ph, sh, pl->ish, pl->kyo, pl->kyc);
    tap_lists(g->kw, g->dw, g->pw, sw, pl->isw, pl->kxo, pl->kxc);
    /* Small phases, several taps, many channels: channels in lanes.  With
     * one tap per phase (k == s) from NCHW, or few output channels, the
     * pixel vectors measured faster, except where their rows would fill
     * less than half of a vector (Conv2d 16 -> 16, 3x3, stride 2 on 12 x
     * 12: 6-pixel rows; 5.3 -> 3.3 us with one vector of channels in the
     * lanes).  Its pixels outside the input read a stand-in zero, so
     * non-finite weights take the phase tiles, which mask them. */
    const int64_t hq0 = (g->h_out + sh - 1) / sh, wq0 = (g->w_out + sw - 1) / sw;
    int64_t maxty = 0, maxtx = 0;
    for (int64_t r = 0; r < sh; r++) maxty = tc_imax(maxty, pl->kyo[r + 1] - pl->kyo[r]);
    for (int64_t r = 0; r < sw; r++) maxtx = tc_imax(maxtx, pl->kxo[r + 1] - pl->kxo[r]);
    const int64_t maxtaps = maxty * maxtx; /* each <= the kernel's weights: no overflow */
    const int64_t VL = pl->ks->vl;
    /* a pixel vector's row: both column phases with stride 2 (phase-sw2),
     * else one phase's; rows that divide VL share a vector (tc_plan_phase) */
    const int64_t prow = sw == 2 ? g->w_out : wq0;
    const int rows_pack = sw != 2 && tc_phase_rows_pack(pl, wq0);
    const tc_cil_family *cf = tc_cil_family_for(pl->ks, g->n * hq0 * wq0, pl->cog);
    const int64_t cil_min_cog = prow * 2 < VL && !rows_pack ? VL : cf->nr;
    /* With 16 lanes (AVX-512), phases whose rows fill whole vectors, four or
     * more of them, ran faster as pixel vectors, from 16 input channels
     * (ConvTranspose2d 16 -> 33, 3x3 s2 on 8 x 8, batch 20: 0.316 -> 0.186 ms)
     * to 256 (a2_b16 10.0-10.2 -> 9.7-9.9; Conv2d 64 -> 128 k4 s2 on 16 x 16,
     * batch 16, 2.59 -> 2.43).  AVX2's pixel vectors ran 2-2.4x slower than
     * its channels in lanes on the same shapes.  But the wide tiles with
     * a batch of at least MR images (a block's pixels at one position, so
     * the taps outside the input are skipped for the whole block, where
     * the pixel vectors multiply zeros) ran faster still (a2_b16 9.55 ->
     * 9.0; its data gradient 9.8 -> 9.3), and so did they for one image
     * whose blocks of positions skip taps in the padding (a2 0.584 ->
     * 0.563, in NHWC 0.587 -> 0.552, its data gradient 0.591 -> 0.575;
     * without padding, c1's data gradient 0.159 -> 0.166). */
    /* one image whose blocks skip taps: asked once, only where a rule uses it */
    const int nhwc_one = pl->layout == TCONV_LAYOUT_NHWC && g->n == 1 && !s2d &&
                         hq0 * wq0 <= TC_CIL_ORDER_PX && maxtaps >= 2;
    const int one_skips =
        g->n == 1 && (cf == &pl->ks->cil_wide || nhwc_one) && tc_cil_taps_skipped(pl);
    const int wide_first = cf == &pl->ks->cil_wide && (g->n >= cf->mr || one_skips);
    const int rows_fill =
        VL >= 16 && (prow % VL == 0 || rows_pack) && hq0 * prow >= 4 * VL && !wide_first;
    /* One tap per phase from NHWC (k == s: c1-c4, d1; a 1x1 convolution):
     * each phase is a GEMM of the pixels' channel rows, any phase size,
     * where pixel vectors would transpose the input and the output
     * (ConvTranspose2d 128 -> 64 k2 s2 on 128 x 128: 14.7 -> 10.5 ms,
     * 512 -> 256 on 32 x 32: 10.2 -> 9.7 on a Zen 4). */
    const int nhwc_gemm = pl->layout == TCONV_LAYOUT_NHWC && !s2d && maxtaps == 1;
    const int small_phases = hq0 * wq0 <= TC_CIL_MAX_PX && !rows_fill && maxtaps >= 2;
    /* One NHWC image whose phases of up to TC_CIL_ORDER_PX pixels lose
     * taps to the padding: blocks of positions that skip them, read and
     * written channels-last (a3 in NHWC 0.584 -> 0.562 ms, 2 threads 0.31
     * -> 0.283; 128 -> 64 on 12 x 12 0.447 -> 0.318; Conv2d 64 -> 64 3x3
     * on 16 x 16 0.164 -> 0.160, minima).  From NCHW planes the same
     * blocks ran no faster than the pixel vectors (a3 0.583 either way). */
    const int nhwc_skip = nhwc_one && one_skips;
    if (!pl->dw && pl->w_finite && cf->k[0] && (small_phases || nhwc_gemm || nhwc_skip) &&
        pl->cog >= cil_min_cog && pl->cig >= TC_CIL_MIN_CIG && maxtaps <= TC_CIL_TAPS &&
        cf->mr <= TC_CIL_MAX_MR && cf->nr <= 64) {
        *path = cf == &pl->ks->cil_wide ? "phase-cil-wide" : "phase-cil";
        return tc_plan_cil(pl, s2d, cf, ws_bytes);
    }
    *path = pl->dw ? "phase-dw" : sw == 2 ? "phase-sw2" : "phase";
    return tc_plan_phase(pl, s2d, ws_bytes);
}

static int threads_for(const tc_plan *pl, int nt) {
    if ((int64_t)nt > pl->units) nt = (int)pl->units;
    /* Waking a worker costs microseconds: give each at least ~2 MFLOP. */
    const double by_work = pl->flops / 2e6;
    if (nt > 1 && by_work < nt) nt = by_work < 1 ? 1 : (int)by_work;
    return nt < 1 ? 1 : nt;
}

void tc_plan_run(const tc_plan *pl, const float *x, float *y, void *ws, int nthreads,
                 const tc_epilogue *ep) {
    const tc_geom *g = &pl->pb.g;
    run_ctx c = {pl, x, y, tc_strides_for(pl->layout, g->c_out, g->h_out, g->w_out), ep, x,
                 ws, 0};
    const int nt = threads_for(pl, nthreads);
    if (pl->path == PATH_PHASE) {
        tc_run_phase(&c, nt);
        return;
    }
    if (pl->path == PATH_WINO) {
        tc_run_winograd(&c, nt);
        return;
    }
    if (pl->path == PATH_CIL && pl->c_s2d) { /* the phase images first, whole batch */
        s2d_ctx t = {pl, x, ws, g->n, g->c_in, g->h_in, g->w_in,
                     pl->layout == TCONV_LAYOUT_NHWC, 0, pl->c_xnhwc};
        tc_parallel_for(nt, g->n * tc_s2d_tasks(&t), tc_s2d_worker, &t);
        c.x = ws;
    } else if (pl->path == PATH_CIL && pl->c_tr) {
        repack_ctx t = {pl->ks, x, ws, g->n, g->c_in, g->h_in, g->w_in, 0, 0, 0};
        tc_parallel_for(nt, g->n, tc_to_nhwc_worker, &t);
        c.x = ws;
    }
    tc_parallel_for(nt, pl->units, pl->path == PATH_GEMM ? tc_gemm_worker : tc_cil_worker, &c);
    if (pl->path == PATH_CIL && pl->c_stage)
        tc_parallel_for(nt, g->n * ((g->c_out + TC_UNSTAGE_CB - 1) / TC_UNSTAGE_CB),
                        tc_cil_unstage_worker, &c);
}

/* ---- lowerings ------------------------------------------------------------ */

int tc_lower_transposed(const tc_geom *g, tc_problem *pb) {
    /* The phase plan's tables and loops grow with the stride and the kernel
     * size.  The kernel is bounded by the (never empty) weights; the stride
     * only where the output is non-empty and the stride does not exceed it
     * (legal: stride 2^50 on a 1-row input, or on a zero batch).  Those
     * geometries, and strides beyond any real layer's, take the reference
     * kernel, which does no work for an empty output. */
    if (g->n <= 0 || g->c_out <= 0 || g->sh > g->h_out || g->sw > g->w_out || g->sh > 256 ||
        g->sw > 256 || g->sh * g->sw > 4096)
        return 0;
    memset(pb, 0, sizeof *pb);
    pb->g = *g;
    pb->ish = pb->isw = 1;
    pb->pmode = TCONV_PADDING_MODE_ZEROS;
    return 1;
}

/* A stride-1 convolution is a stride-1 transposed convolution of the same
 * input with the kernel flipped and its in/out channels swapped:
 *   y[co, oy] = sum x[ci, oy - pt + ky*d] w[co, ci, ky]
 *             = sum x[ci, iy] w'[ci, co, ky'],  oy = iy - p' + ky'*d,
 * ky' = kh-1-ky, p' = d*(kh-1) - pt.  With stride s, tap ky reads
 * x[s*oy + t], t = ky*d - pt = s*a + r: row oy + a of phase image r
 * (x[r + s*i]); over the s*s phase images (in the workspace) the
 * convolution is again a stride-1 one, each tap reading its own image. */
int tc_lower_convolution(const tc_geom *g, tc_problem *pb) {
    if (g->n <= 0 || g->c_out <= 0) return 0;
    /* with a padding mode the kernels read the padded input, unpadded */
    const int moded = g->padding_mode != TCONV_PADDING_MODE_ZEROS &&
                      (g->pad_t || g->pad_b || g->pad_l || g->pad_r);
    const int64_t ph = g->dh * (g->kh - 1) - (moded ? 0 : g->pad_t),
                  pw = g->dw * (g->kw - 1) - (moded ? 0 : g->pad_l);
    /* The phase images take about the (padded) input's size while the
     * stride is at most the input's; a stride beyond (legal: the output is
     * then a row or a column) or beyond any real layer's takes the
     * reference.  A padded copy far larger than the input (replicate
     * padding has no limit; with a huge dilation the output can still be
     * small) also. */
    if (moded && (g->pad_t > g->h_in || g->pad_b > g->h_in || g->pad_l > g->w_in ||
                  g->pad_r > g->w_in))
        return 0;
    const int64_t hs = g->h_in + (moded ? g->pad_t + g->pad_b : 0),
                  ws = g->w_in + (moded ? g->pad_l + g->pad_r : 0);
    if (g->sh > hs || g->sw > ws || g->sh > 4096 || g->sw > 4096 || g->sh * g->sw > 4096)
        return 0;
    /* zero padding beyond the kernel's reach makes ph, pw negative: the
     * outermost outputs then see no tap at all (the bias alone) */
    memset(pb, 0, sizeof *pb);
    pb->g = *g;
    pb->g.ph = ph;
    pb->g.pw = pw;
    pb->g.sh = pb->g.sw = 1; /* one output phase; the input strides below */
    pb->ish = g->sh;
    pb->isw = g->sw;
    pb->pmode = moded ? g->padding_mode : TCONV_PADDING_MODE_ZEROS;
    if (moded) {
        pb->ppt = g->pad_t;
        pb->ppb = g->pad_b;
        pb->ppl = g->pad_l;
        pb->ppr = g->pad_r;
    }
    return 1;
}
