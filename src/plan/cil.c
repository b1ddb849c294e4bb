/* cil.c -- the channels-in-lanes path, for small phases (a few dozen
 * pixels) with several taps and many channels: pixels in lanes would leave
 * most lanes, or most of each weight's reuse, idle (a1 0.63 -> 0.30 ms).
 * The pixels of a block may come from several images (the batch is folded
 * into the pixel list), so a layer whose output is a pixel or a few (a GAN
 * discriminator's last convolutions, their gradients) fills its tiles.
 * Tiles: (group, phase, channel block, block of MR pixels of the list
 * (image, phase row, phase column)).  Reads the caller's input (NCHW or
 * NHWC), or a strided convolution's phase images (NCHW, workspace). */
#include "plan_internal.h"

#include <stdlib.h>

tconv_status tc_plan_cil(tc_plan *pl, int s2d, size_t *ws_bytes) {
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
    pl->xlay = 0; /* phase images as planes */
    pl->c_s2d = s2d;
    /* what a pixel outside reads: cig channels at the input's channel stride */
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC && !s2d;
    const int64_t nz = nhwc ? pl->cig : (pl->cig - 1) * pl->xh * pl->xw + 1;
    if (nz > pl->c_nzero) {
        free(pl->c_zero);
        pl->c_nzero = 0;
        pl->c_zero = calloc((size_t)nz, sizeof(float));
        if (!pl->c_zero) return tc_plan_oom();
        pl->c_nzero = nz;
    }
    /* maxpx <= TC_CIL_MAX_PX: no overflow for any batch that exists */
    pl->c_npb = (g->n * maxpx + MR - 1) / MR;
    pl->units = g->groups * g->sh * g->sw * pl->c_nocb * pl->c_npb;
    *ws_bytes = 0;
    if (s2d && !tc_float_bytes(pl->ximg * g->n, ws_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    return TCONV_OK;
}

void tc_cil_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int MR = pl->ks->cil_mr, NR = pl->ks->cil_nr;
    const int64_t C = g->c_in, cig = pl->cig, cog = pl->cog;
    const int64_t sh = g->sh, sw = g->sw, nph = sh * sw;
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC && !pl->c_s2d;
    /* the images read: the input, or its phase images (each H x W) */
    const int64_t H = pl->xh, W = pl->xw;
    const int64_t xcs = nhwc ? 1 : H * W, xrs = nhwc ? W * C : W, xps = nhwc ? C : 1;
    const int64_t ximg = pl->c_s2d ? pl->ximg : C * H * W, xims = C * H * W;
    const tc_strides ys = c->ys;
    const float *xp[TC_CIL_TAPS * TC_CIL_MAX_MR];
    int64_t woff[TC_CIL_TAPS];
    float out[TC_CIL_MAX_MR * 64] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        int64_t r = u;
        const int64_t pb = r % pl->c_npb;
        r /= pl->c_npb;
        const int64_t ocb = r % pl->c_nocb;
        r /= pl->c_nocb;
        const int64_t ph = r % nph, gi = r / nph;
        const int64_t ry = ph / sw, rx = ph % sw;
        const int64_t hq = ry < g->h_out ? (g->h_out - ry + sh - 1) / sh : 0;
        const int64_t wq = rx < g->w_out ? (g->w_out - rx + sw - 1) / sw : 0;
        const int64_t hw = hq * wq, px0 = pb * MR, npx = tc_imin(MR, g->n * hw - px0);
        if (npx <= 0) continue;
        /* pixel m of the block: image pn[m], phase position (pqy[m], pqx[m]) */
        int64_t pn[TC_CIL_MAX_MR], pqy[TC_CIL_MAX_MR], pqx[TC_CIL_MAX_MR];
        for (int m = 0; m < npx; m++) {
            const int64_t p = px0 + m, l = p % hw;
            pn[m] = p / hw;
            pqy[m] = l / wq;
            pqx[m] = l % wq;
        }
        int ntap = 0;
        const int64_t nky = pl->kyo[ry + 1] - pl->kyo[ry], nkx = pl->kxo[rx + 1] - pl->kxo[rx];
        const int64_t *kyc = pl->kyc + pl->kyo[ry] * 3, *kxc = pl->kxc + pl->kxo[rx] * 3;
        for (int64_t a = 0; a < nky; a++)
            for (int64_t bb = 0; bb < nkx; bb++) {
                const int64_t cy = kyc[3 * a + 1], cx = kxc[3 * bb + 1];
                const int64_t img = (kyc[3 * a + 2] * pl->isw + kxc[3 * bb + 2]) * xims;
                int any = 0;
                for (int m = 0; m < MR; m++) {
                    const float *pp = pl->c_zero;
                    if (m < npx) {
                        const int64_t iy = pqy[m] + cy, ix = pqx[m] + cx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            pp = c->x + pn[m] * ximg + img + gi * cig * xcs + iy * xrs + ix * xps;
                            any = 1;
                        }
                    }
                    xp[ntap * MR + m] = pp;
                }
                if (!any) continue;
                woff[ntap++] = (kyc[3 * a] * g->kw + kxc[3 * bb]) * cig * NR;
            }
        tc_cil_tile t = {xp, xcs, woff, ntap, cig,
                         pl->cpack + (gi * pl->c_nocb + ocb) * pl->kk * cig * NR,
                         pl->cbias + (gi * pl->c_nocb + ocb) * NR, out};
        const int64_t oc0 = ocb * NR, nr = tc_imin(NR, cog - oc0);
        pl->ks->cil[(nr + pl->ks->vl - 1) / pl->ks->vl - 1](&t);
        for (int m = 0; m < npx; m++) {
            float *yb = c->y + pn[m] * ys.n + (gi * cog + oc0) * ys.c;
            tc_store_row(yb + (pqy[m] * sh + ry) * ys.h + (pqx[m] * sw + rx) * ys.w, ys.c,
                         out + m * NR, nr, c->ep);
        }
    }
}
