/* gemm_dense.c -- the dense-layer path: a layer whose every input pixel
 * reaches every output pixel through one tap, with no more pairs than the
 * kernel has taps (a 1x1 input, or a convolution whose one output pixel
 * reads its whole input), is one GEMM per group,
 *   y[n, (oc, oy, ox)] = b[oc] + x[n, (ic, iy, ix)] * Weff[(ic, iy, ix), (oc, oy, ox)]
 * with Weff the weights laid out as (input, output) elements in memory
 * order (tc_pack_gemm).  Tiles: (group, column block of GN, row block of
 * MR images) on the GEMM kernels; with a few columns, (group, column
 * block, image block) on the dot kernels, which put the reduction over
 * the input elements in the lanes. */
#include "plan_internal.h"

/* the output row segment of image n, columns [col0, col0 + cnt) of group gi */
static void store_cols(const run_ctx *c, int64_t n, int64_t gi, int64_t col0, const float *s,
                       int64_t cnt) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int64_t cog = pl->cog;
    float *yb = c->y + n * c->ys.n + gi * cog * c->ys.c;
    if (c->ys.w == 1 || g->groups == 1) { /* the group's output is the columns, in order */
        tc_store_row(yb + col0, 1, s, cnt, c->ep);
    } else { /* NHWC, groups: runs of cog channels per pixel */
        for (int64_t j = 0; j < cnt; j++) {
            const int64_t col = col0 + j;
            tc_store_row(yb + (col / cog) * c->ys.w + col % cog, 1, s + j, 1, c->ep);
        }
    }
}

tconv_status tc_plan_gemm(tc_plan *pl) {
    const tc_geom *g = &pl->pb.g;
    const tconv_status st = tc_pack_gemm(pl);
    if (st) return st;
    pl->path = PATH_GEMM;
    const int64_t mr = pl->g_dot ? pl->ks->dot_mr : pl->ks->gemm_mr;
    const int64_t nr = pl->g_dot ? pl->ks->dot_nc : (int64_t)pl->ks->gemm_nv * pl->ks->vl;
    pl->nmb = (g->n + mr - 1) / mr;
    pl->units = g->groups * ((pl->g_cols + nr - 1) / nr) * pl->nmb;
    return TCONV_OK;
}

/* a few columns: tiles of dot_mr images x dot_nc columns, the rows in the lanes */
static void dot_units(const run_ctx *c, int64_t b, int64_t e) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int MR = pl->ks->dot_mr, NC = pl->ks->dot_nc;
    const int64_t ncb = (pl->g_cols + NC - 1) / NC;
    const int64_t ihw = g->h_in * g->w_in, xn = g->c_in * ihw, k = pl->cig * ihw;
    float out[TC_DOT_MAX * TC_DOT_MAX];
    for (int64_t u = b; u < e; u++) {
        const int64_t gi = u / (ncb * pl->nmb), cb = u / pl->nmb % ncb, mb = u % pl->nmb;
        const int64_t n0 = mb * MR, c0 = cb * NC;
        const int mr = (int)tc_imin(MR, g->n - n0), nc = (int)tc_imin(NC, pl->g_cols - c0);
        const tc_dot_tile t = {
            .a = c->x + n0 * xn + gi * pl->cig * (pl->g_nhwc ? 1 : ihw),
            .b = pl->gpack + (gi * pl->g_cols + c0) * k,
            .a_is = 0,
            .a_rs = xn,
            .b_is = 0,
            .b_rs = k,
            .nimg = 1,
            .len = k,
            .init = NULL,
            .out = out,
        };
        pl->ks->dot[mr - 1][nc - 1](&t);
        const float *bias = pl->gbias + gi * pl->g_cols + c0;
        for (int m = 0; m < mr; m++) {
            float row[TC_DOT_MAX];
            for (int j = 0; j < nc; j++) row[j] = out[m * nc + j] + bias[j];
            store_cols(c, n0 + m, gi, c0, row, nc);
        }
    }
}

void tc_gemm_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    if (pl->g_dot) {
        dot_units(c, b, e);
        return;
    }
    const tc_geom *g = &pl->pb.g;
    const int GN = pl->ks->gemm_nv * pl->ks->vl, MR = pl->ks->gemm_mr;
    const int64_t cig = pl->cig, nc = pl->cog * g->h_out * g->w_out, ncb = pl->g_cols / GN;
    const int64_t ihw = g->h_in * g->w_in, xn = g->c_in * ihw; /* x: (N, Cin*H*W) */
    float out[TC_MR_MAX * 4 * TC_VL_MAX] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        const int64_t gi = u / (ncb * pl->nmb), r = u % (ncb * pl->nmb);
        const int64_t cb = r / pl->nmb, mb = r % pl->nmb;
        const int64_t n0 = mb * MR;
        const int mr = (int)tc_imin(MR, g->n - n0);
        tc_gemm_tile t;
        /* a group's rows: NCHW (ic, pixel) from gi*cig*ihw; NHWC has one
         * group or one pixel (plan.c), its rows from gi*cig */
        t.a = c->x + n0 * xn + gi * cig * (pl->g_nhwc ? 1 : ihw);
        t.a_rs = xn;
        t.k = cig * ihw;
        t.b = pl->gpack + (gi * ncb + cb) * t.k * GN;
        t.binit = pl->gbias + (gi * ncb + cb) * GN;
        t.out = out;
        pl->ks->gemm[mr - 1](&t);
        const int64_t col0 = cb * GN, cnt = tc_imin(GN, nc - col0);
        for (int m = 0; m < mr; m++) store_cols(c, n0 + m, gi, col0, out + m * GN, cnt);
    }
}
