/* cil.c -- the channels-in-lanes path, for small phases (a few dozen
 * pixels) with several taps and many channels: pixels in lanes would leave
 * most lanes, or most of each weight's reuse, idle (a1 0.63 -> 0.30 ms).
 * Tiles: (n, group, phase, channel block, block of MR phase pixels in
 * row-major order); reads the caller's input (NCHW or NHWC). */
#include "plan_internal.h"

tconv_status tc_plan_cil(tc_plan *pl) {
    const tc_geom *g = &pl->pb.g;
    const int MR = pl->ks->cil_mr;
    const tconv_status st = tc_pack_cil(pl);
    if (st) return st;
    int64_t maxpx = 0;
    for (int64_t ry = 0; ry < g->sh; ry++)
        for (int64_t rx = 0; rx < g->sw; rx++) {
            const int64_t hq = ry < g->h_out ? (g->h_out - ry + g->sh - 1) / g->sh : 0;
            const int64_t wq = rx < g->w_out ? (g->w_out - rx + g->sw - 1) / g->sw : 0;
            if (hq * wq > maxpx) maxpx = hq * wq;
        }
    pl->path = PATH_CIL;
    pl->c_npb = (maxpx + MR - 1) / MR;
    pl->units = g->n * g->groups * g->sh * g->sw * pl->c_nocb * pl->c_npb;
    return TCONV_OK;
}

void tc_cil_worker(void *ctx, int64_t b, int64_t e) {
    static const float zero = 0.0f;
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int MR = pl->ks->cil_mr, NR = pl->ks->cil_nr;
    const int64_t H = g->h_in, W = g->w_in, C = g->c_in, cig = pl->cig, cog = pl->cog;
    const int64_t sh = g->sh, sw = g->sw, nph = sh * sw;
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC;
    const int64_t xcs = nhwc ? 1 : H * W, xrs = nhwc ? W * C : W, xps = nhwc ? C : 1;
    const tc_strides ys = c->ys;
    const float *xp[TC_CIL_TAPS * 8];
    int64_t xs[TC_CIL_TAPS * 8], woff[TC_CIL_TAPS];
    float out[8 * 64] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        int64_t r = u;
        const int64_t pb = r % pl->c_npb;
        r /= pl->c_npb;
        const int64_t ocb = r % pl->c_nocb;
        r /= pl->c_nocb;
        const int64_t ph = r % nph;
        r /= nph;
        const int64_t gi = r % g->groups, n = r / g->groups;
        const int64_t ry = ph / sw, rx = ph % sw;
        const int64_t hq = ry < g->h_out ? (g->h_out - ry + sh - 1) / sh : 0;
        const int64_t wq = rx < g->w_out ? (g->w_out - rx + sw - 1) / sw : 0;
        const int64_t px0 = pb * MR, npx = tc_imin(MR, hq * wq - px0);
        if (npx <= 0) continue;
        const float *xb = c->x + n * C * H * W + gi * cig * xcs;
        int ntap = 0;
        const int64_t nky = pl->kyo[ry + 1] - pl->kyo[ry], nkx = pl->kxo[rx + 1] - pl->kxo[rx];
        const int64_t *kyc = pl->kyc + pl->kyo[ry] * 3, *kxc = pl->kxc + pl->kxo[rx] * 3;
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
                         pl->cpack + (gi * pl->c_nocb + ocb) * pl->kk * cig * NR,
                         pl->cbias + (gi * pl->c_nocb + ocb) * NR, out};
        const int64_t oc0 = ocb * NR, nr = tc_imin(NR, cog - oc0);
        pl->ks->cil[(nr + pl->ks->vl - 1) / pl->ks->vl - 1](&t);
        float *yb = c->y + n * ys.n + (gi * cog + oc0) * ys.c;
        for (int m = 0; m < npx; m++) {
            const int64_t qy = (px0 + m) / wq, qx = (px0 + m) % wq;
            tc_store_row(yb + (qy * sh + ry) * ys.h + (qx * sw + rx) * ys.w, ys.c, out + m * NR,
                         nr, c->ep);
        }
    }
}
