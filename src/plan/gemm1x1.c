/* gemm1x1.c -- the 1x1-input path: with H = W = 1 every output pixel takes
 * one tap of each input channel, so the layer is one GEMM per group,
 *   y[n, (oc, oy, ox)] = b[oc] + x[n, :] * Weff[:, (oc, oy, ox)]
 * with Weff the weights laid out as output positions (tc_pack_gemm).
 * Tiles: (group, column block of GN, row block of MR images). */
#include "plan_internal.h"

tconv_status tc_plan_gemm(tc_plan *pl) {
    const tc_geom *g = &pl->pb.g;
    const tconv_status st = tc_pack_gemm(pl);
    if (st) return st;
    pl->path = PATH_GEMM;
    pl->nmb = (g->n + pl->ks->gemm_mr - 1) / pl->ks->gemm_mr;
    pl->units = g->groups * pl->g_ncb * pl->nmb;
    return TCONV_OK;
}

void tc_gemm_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int VL = pl->ks->vl, GN = pl->ks->gemm_nv * VL, MR = pl->ks->gemm_mr;
    const int64_t cig = pl->cig, cog = pl->cog, hw = g->h_out * g->w_out, nc = cog * hw;
    const tc_strides ys = c->ys;
    float out[TC_MR_MAX * 4 * TC_VL_MAX] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        const int64_t gi = u / (pl->g_ncb * pl->nmb), r = u % (pl->g_ncb * pl->nmb);
        const int64_t cb = r / pl->nmb, mb = r % pl->nmb;
        const int64_t n0 = mb * MR;
        const int mr = (int)tc_imin(MR, g->n - n0);
        tc_gemm_tile t;
        t.a = c->x + n0 * g->c_in + gi * cig;
        t.a_rs = g->c_in;
        t.k = cig;
        t.b = pl->gpack + (gi * pl->g_ncb + cb) * cig * GN;
        t.binit = pl->gbias + (gi * pl->g_ncb + cb) * GN;
        t.out = out;
        pl->ks->gemm[mr - 1](&t);
        const int64_t col0 = cb * GN, cnt = tc_imin(GN, nc - col0);
        for (int m = 0; m < mr; m++) {
            float *yb = c->y + (n0 + m) * ys.n + gi * cog * ys.c;
            const float *s = out + m * GN;
            if (ys.w == 1 || g->groups == 1) { /* the group's output is the columns, in order */
                tc_store_row(yb + col0, 1, s, cnt, c->ep);
            } else { /* NHWC, groups: runs of cog channels per pixel */
                for (int64_t j = 0; j < cnt; j++) {
                    const int64_t col = col0 + j;
                    tc_store_row(yb + (col / cog) * ys.w + col % cog, 1, s + j, 1, c->ep);
                }
            }
        }
    }
}
