/* cil.c -- the channels-in-lanes path, for small phases (a few dozen
 * pixels) with several taps and many channels: pixels in lanes would leave
 * most lanes, or most of each weight's reuse, idle (a1 0.63 -> 0.30 ms);
 * for one NHWC image whose phases lose taps to the padding; and for NHWC
 * layers with one tap per phase, any size, where each phase is a GEMM of
 * the pixels' channel rows (no transposes).  The pixels of a block may
 * come from several images (the batch is folded into the pixel list), so
 * a layer whose output is a pixel or a few (a GAN discriminator's last
 * convolutions, their gradients) fills its tiles.
 * Tiles: (group, phase, channel block, block of MR pixels of the list
 * (image, phase row, phase column), or (phase row, phase column, image)
 * from channels-last images).  Reads the caller's input (NHWC, or one
 * NCHW image), its channels-last copy, or a strided convolution's phase
 * images (channels-last; workspace). */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

/* The largest phase's pixels of one image. */
static int64_t max_phase_px(const tc_geom *g) {
    int64_t maxpx = 0;
    for (int64_t ry = 0; ry < g->sh; ry++)
        for (int64_t rx = 0; rx < g->sw; rx++) {
            const int64_t hq = ry < g->h_out ? (g->h_out - ry + g->sh - 1) / g->sh : 0;
            const int64_t wq = rx < g->w_out ? (g->w_out - rx + g->sw - 1) / g->sw : 0;
            if (hq * wq > maxpx) maxpx = hq * wq;
        }
    return maxpx;
}

/* The wide tiles read a third more weight bytes per FMA: where each block
 * of weights serves one or two tiles (one image of 4 x 4 phases), it
 * streams from memory and the narrow ones are faster (ConvTranspose2d 512
 * -> 256 on 4 x 4 at batch 1 on a Zen 4: 0.57 ms against 0.61); with four
 * tiles or more per block it stays in L2 and the wide ones are (batch 16:
 * 8.0 against 8.7; one image, 256 -> 128 on 8 x 8: 0.563 against 0.580). */
const tc_cil_family *tc_cil_family_for(const tc_kernel_set *ks, int64_t npx, int64_t cog) {
    const tc_cil_family *w = &ks->cil_wide;
    /* and wide blocks that mostly fill their vectors (64 channels are two
     * narrow blocks, against 48 + 16) */
    if (!w->k[0] || npx < 4 * w->mr || (cog < 2 * w->nr && cog % w->nr)) return &ks->cil;
    return w;
}

/* The taps position (qy, qx) of phase (ry, rx) reads inside the input
 * (bit a*nkx + b: row tap a, column tap b). */
static uint64_t taps_inside(const tc_plan *pl, int64_t ry, int64_t rx, int64_t qy, int64_t qx) {
    const int64_t nky = pl->kyo[ry + 1] - pl->kyo[ry], nkx = pl->kxo[rx + 1] - pl->kxo[rx];
    const int64_t *kyc = pl->kyc + pl->kyo[ry] * 3, *kxc = pl->kxc + pl->kxo[rx] * 3;
    uint64_t m = 0;
    for (int64_t a = 0; a < nky; a++)
        for (int64_t b = 0; b < nkx; b++)
            if ((uint64_t)(qy + kyc[3 * a + 1]) < (uint64_t)pl->xh &&
                (uint64_t)(qx + kxc[3 * b + 1]) < (uint64_t)pl->xw)
                m |= (uint64_t)1 << (a * nkx + b);
    return m;
}

int tc_cil_taps_skipped(const tc_plan *pl) {
    const tc_geom *g = &pl->pb.g;
    for (int64_t ry = 0; ry < g->sh && ry < g->h_out; ry++)
        for (int64_t rx = 0; rx < g->sw && rx < g->w_out; rx++) {
            const int64_t hq = (g->h_out - ry + g->sh - 1) / g->sh;
            const int64_t wq = (g->w_out - rx + g->sw - 1) / g->sw;
            const int64_t nt = (pl->kyo[ry + 1] - pl->kyo[ry]) * (pl->kxo[rx + 1] - pl->kxo[rx]);
            if (nt > 64) return 0; /* not a channels-in-lanes layer */
            const uint64_t all = nt == 64 ? ~(uint64_t)0 : ((uint64_t)1 << nt) - 1;
            for (int64_t p = 0; p < hq * wq && p < TC_CIL_ORDER_PX; p++)
                if (taps_inside(pl, ry, rx, p / wq, p % wq) != all) return 1;
        }
    return 0;
}

/* Tap products per channel pair of the blocks the pixel list makes when
 * phase positions are taken in order o (key: each position's taps): a
 * block computes the union of its pixels' taps, for its kernel's rows. */
static int64_t order_cost(const tc_plan *pl, const uint8_t *o, const uint64_t *key, int64_t hw) {
    const tc_cil_family *f = pl->c_fam;
    const int64_t N = pl->pb.g.n, L = N * hw;
    int64_t cost = 0;
    for (int64_t b0 = 0; b0 < L; b0 += f->mr) {
        const int64_t npx = tc_imin(f->mr, L - b0);
        int64_t rows = f->mr;
        for (int sp = 1; sp >= 0; sp--)
            if (f->part_mr[sp] && npx <= f->part_mr[sp]) rows = f->part_mr[sp];
        uint64_t u = 0;
        for (int64_t i = b0; i < b0 + npx; i++) u |= key[o[pl->c_xnhwc ? i / N : i % hw]];
        cost += rows * __builtin_popcountll(u);
    }
    return cost;
}

/* Phase (ry, rx)'s positions in row order, or by the taps they read (most
 * first, equal sets together) where its blocks then skip more of the taps
 * none of their pixels reads (one 4 x 4 image, padding 1: blocks of 12 + 4
 * pixels compute 56 tap products per channel pair, 64 in row order; Conv2d
 * k4 s2 on 8 x 8, where the corners miss different taps, keeps row order). */
static void order_phase(tc_plan *pl, int64_t ry, int64_t rx) {
    const tc_geom *g = &pl->pb.g;
    const int64_t hq = ry < g->h_out ? (g->h_out - ry + g->sh - 1) / g->sh : 0;
    const int64_t wq = rx < g->w_out ? (g->w_out - rx + g->sw - 1) / g->sw : 0;
    uint8_t *ord = pl->c_order + (ry * g->sw + rx) * TC_CIL_ORDER_PX;
    uint64_t key[TC_CIL_ORDER_PX], sk[TC_CIL_ORDER_PX];
    uint8_t rowo[TC_CIL_ORDER_PX];
    int cnt[TC_CIL_ORDER_PX];
    for (int64_t p = 0; p < hq * wq; p++) { /* insertion sort: at most 256 positions */
        key[p] = taps_inside(pl, ry, rx, p / wq, p % wq);
        rowo[p] = (uint8_t)p;
        const int c = __builtin_popcountll(key[p]);
        int64_t i = p;
        while (i > 0 && (cnt[i - 1] < c || (cnt[i - 1] == c && sk[i - 1] > key[p]))) {
            sk[i] = sk[i - 1];
            cnt[i] = cnt[i - 1];
            ord[i] = ord[i - 1];
            i--;
        }
        sk[i] = key[p];
        cnt[i] = c;
        ord[i] = (uint8_t)p;
    }
    if (order_cost(pl, rowo, key, hq * wq) <= order_cost(pl, ord, key, hq * wq))
        memcpy(ord, rowo, (size_t)(hq * wq));
}

tconv_status tc_plan_cil(tc_plan *pl, int s2d, const tc_cil_family *fam, size_t *ws_bytes) {
    const tc_geom *g = &pl->pb.g;
    const int64_t maxpx = max_phase_px(g);
    pl->c_fam = fam;
    const int MR = pl->c_fam->mr;
    const tconv_status st = tc_pack_cil(pl);
    if (st) return st;
    pl->path = PATH_CIL;
    pl->xlay = 0;
    pl->c_s2d = s2d;
    /* With a batch, the images are read channels-last (phase images
     * written so, or an NCHW input copied): a block of MR pixels at one
     * position in MR images then skips the taps outside the input (a
     * quarter of the FMAs of a 4 x 4 layer padded by 1), where MR pixels
     * of one image would read zeros; and reads MR runs of channels rather
     * than MR x channels strided floats.  One image (no batch to spread a
     * block over) is read as it comes, or from phase images as planes. */
    pl->c_tr = !s2d && pl->layout == TCONV_LAYOUT_NCHW && g->n > 1;
    pl->c_xnhwc = (pl->layout == TCONV_LAYOUT_NHWC && !s2d) || g->n > 1;
    /* what a pixel outside reads: cig channels at the input's channel stride */
    const int64_t nz = pl->c_xnhwc ? pl->cig : (pl->cig - 1) * pl->xh * pl->xw + 1;
    if (nz > pl->c_nzero) {
        free(pl->c_zero);
        pl->c_nzero = 0;
        pl->c_zero = calloc((size_t)nz, sizeof(float));
        if (!pl->c_zero) return tc_plan_oom();
        pl->c_nzero = nz;
    }
    if (pl->c_order_n < g->sh * g->sw * TC_CIL_ORDER_PX) { /* strides: a handful of phases */
        free(pl->c_order);
        pl->c_order_n = 0;
        pl->c_order = malloc((size_t)(g->sh * g->sw) * TC_CIL_ORDER_PX);
        if (!pl->c_order) return tc_plan_oom();
        pl->c_order_n = g->sh * g->sw * TC_CIL_ORDER_PX;
    }
    /* phases too large for an order take row order (one tap each) */
    pl->c_big = maxpx > TC_CIL_ORDER_PX;
    if (!pl->c_big)
        for (int64_t ph = 0; ph < g->sh * g->sw; ph++) order_phase(pl, ph / g->sw, ph % g->sw);
    /* n * maxpx <= the output's pixels: no overflow */
    pl->c_npb = (g->n * maxpx + MR - 1) / MR;
    /* A pixel block's channel blocks run one after another (sharing its
     * pointer table) while a phase's weights stay in L2; past that, a
     * channel block's pixel blocks do (one 16 x 16 image, 128 -> 256
     * channels, stride 2: 2 MiB of weights, 0.56 ms against 0.50). */
    const double wbytes = (double)pl->kk * pl->cig * pl->c_nocb * pl->c_fam->nr * 4 /
                          (double)(g->sh * g->sw);
    pl->c_ocb_inner = wbytes <= (double)TC_CIL_L2_WEIGHTS;
    pl->units = g->groups * g->sh * g->sw * pl->c_nocb * pl->c_npb;
    *ws_bytes = 0;
    if (s2d && !tc_float_bytes(pl->ximg * g->n, ws_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    /* the input's and the output's sizes: they exist, so they fit */
    if (pl->c_tr && !tc_float_bytes(g->n * g->c_in * g->h_in * g->w_in, ws_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the channels-last copy of the input does not fit");
    /* One image too: ConvTranspose2d 256 -> 128 on 8 x 8 (a block's 48
     * channels, 1 KiB apart, per pixel) 0.579 -> 0.563 ms on a Zen 4; 512
     * -> 256 on 4 x 4 unchanged. */
    pl->c_stage = pl->layout == TCONV_LAYOUT_NCHW;
    pl->c_nt = pl->layout == TCONV_LAYOUT_NHWC &&
               4.0 * (double)g->n * (double)g->c_out * (double)g->h_out * (double)g->w_out >=
                   TC_STREAM_OUT_BYTES;
    pl->c_stage_off = (int64_t)((*ws_bytes / sizeof(float) + 15) / 16 * 16);
    if (pl->c_stage &&
        !tc_float_bytes(pl->c_stage_off + g->n * g->c_out * g->h_out * g->w_out, ws_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the channels-last output tiles do not fit");
    return TCONV_OK;
}

tc_cil_kernel tc_cil_pick(const tc_cil_family *f, int64_t nr, int64_t rows) {
    const int vl = f->nr / f->nrv, nv = (int)((nr + vl - 1) / vl);
    for (int sp = 0; sp < 2; sp++) /* a short block: only its rows */
        if (f->part_mr[sp] && rows <= f->part_mr[sp]) return f->part[sp][nv - 1];
    return f->k[nv - 1];
}

/* A pixel block (group gi, phase (ry, rx), MR pixels of the list) and its
 * pointer table: pixel m is image pn[m], phase position (pqy[m], pqx[m]);
 * the list runs over (image, position), or (position, image) when the
 * images are channels-last.  Tap i of pixel m reads xp[i*MR + m] (zeros
 * outside the input); taps no pixel reaches are left out. */
typedef struct cil_block {
    int64_t gi, ry, rx, npx;
    int64_t pn[TC_CIL_MAX_MR], pqy[TC_CIL_MAX_MR], pqx[TC_CIL_MAX_MR];
    int ntap;
    const float *xp[TC_CIL_TAPS * TC_CIL_MAX_MR];
    int64_t woff[TC_CIL_TAPS];
} cil_block;

static void block_table(const run_ctx *c, int64_t key, cil_block *bk) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int MR = pl->c_fam->mr, NR = pl->c_fam->nr;
    const int64_t C = g->c_in, cig = pl->cig, sh = g->sh, sw = g->sw, N = g->n;
    const int nhwc = pl->c_xnhwc;
    /* the images read: the input, or its phase images (each H x W) */
    const int64_t H = pl->xh, W = pl->xw;
    const int64_t xcs = nhwc ? 1 : H * W, xrs = nhwc ? W * C : W, xps = nhwc ? C : 1;
    const int64_t ximg = pl->c_s2d ? pl->ximg : C * H * W, xims = C * H * W;
    const int64_t pb = key % pl->c_npb, ph = key / pl->c_npb % (sh * sw);
    bk->gi = key / pl->c_npb / (sh * sw);
    bk->ry = ph / sw;
    bk->rx = ph % sw;
    const int64_t hq = bk->ry < g->h_out ? (g->h_out - bk->ry + sh - 1) / sh : 0;
    const int64_t wq = bk->rx < g->w_out ? (g->w_out - bk->rx + sw - 1) / sw : 0;
    const int64_t hw = hq * wq, px0 = pb * MR;
    bk->npx = tc_imin(MR, N * hw - px0);
    bk->ntap = 0;
    if (bk->npx <= 0) return;
    /* divisions once per block, then steps through the phase's order */
    const uint8_t *ord = pl->c_order + ph * TC_CIL_ORDER_PX;
    int64_t li = nhwc ? px0 / N : px0 % hw, n = nhwc ? px0 % N : px0 / hw;
    for (int m = 0; m < bk->npx; m++) {
        const int64_t pos = pl->c_big ? li : ord[li];
        bk->pn[m] = n;
        bk->pqy[m] = pos / wq;
        bk->pqx[m] = pos % wq;
        if (nhwc) {
            if (++n < N) continue;
            n = 0;
        }
        if (++li < hw) continue;
        li = 0;
        n++; /* (image, position) order only */
    }
    /* per pixel: its offset in x; past npx, a row no tap reaches */
    int64_t po[TC_CIL_MAX_MR], py[TC_CIL_MAX_MR], px[TC_CIL_MAX_MR];
    for (int m = 0; m < MR; m++) {
        const int real = m < bk->npx;
        py[m] = real ? bk->pqy[m] : -H - 1 - (int64_t)TC_CIL_TAPS;
        px[m] = real ? bk->pqx[m] : 0;
        po[m] = real ? bk->pn[m] * ximg + bk->gi * cig * xcs + py[m] * xrs + px[m] * xps : 0;
    }
    const int64_t nky = pl->kyo[bk->ry + 1] - pl->kyo[bk->ry];
    const int64_t nkx = pl->kxo[bk->rx + 1] - pl->kxo[bk->rx];
    const int64_t *kyc = pl->kyc + pl->kyo[bk->ry] * 3, *kxc = pl->kxc + pl->kxo[bk->rx] * 3;
    for (int64_t a = 0; a < nky; a++)
        for (int64_t bb = 0; bb < nkx; bb++) {
            const int64_t cy = kyc[3 * a + 1], cx = kxc[3 * bb + 1];
            const int64_t off =
                (kyc[3 * a + 2] * pl->isw + kxc[3 * bb + 2]) * xims + cy * xrs + cx * xps;
            int any = 0;
            for (int m = 0; m < MR; m++) {
                /* unsigned: one compare per bound */
                const int in = (uint64_t)(py[m] + cy) < (uint64_t)H &&
                               (uint64_t)(px[m] + cx) < (uint64_t)W;
                bk->xp[bk->ntap * MR + m] = in ? c->x + (po[m] + off) : pl->c_zero;
                any |= in;
            }
            if (!any) continue;
            bk->woff[bk->ntap++] = (kyc[3 * a] * g->kw + kxc[3 * bb]) * cig * NR;
        }
}

void tc_cil_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int NR = pl->c_fam->nr;
    const int64_t cig = pl->cig, cog = pl->cog, sh = g->sh, sw = g->sw;
    const int64_t npb = pl->c_npb, nocb = pl->c_nocb;
    const int64_t xcs = pl->c_xnhwc ? 1 : pl->xh * pl->xw;
    const tc_strides ys = c->ys;
    float out[TC_CIL_MAX_MR * 64] __attribute__((aligned(64)));
    /* consecutive units of one pixel block (c_ocb_inner) share its table */
    cil_block bk;
    int64_t last = -1;
    for (int64_t u = b; u < e; u++) {
        /* key: (group, phase, pixel block); large phases: units over
         * (group, pixel block, phase, channel block), so that the phases
         * of a pixel block read its input while in L1 */
        const int64_t nph = sh * sw;
        const int64_t key = pl->c_big ? (u / (nocb * nph * npb) * nph + u / nocb % nph) * npb +
                                            u / (nocb * nph) % npb
                            : pl->c_ocb_inner ? u / nocb
                                              : u / (npb * nocb) * npb + u % npb;
        const int64_t ocb = pl->c_ocb_inner || pl->c_big ? u % nocb : u / npb % nocb;
        if (key != last) {
            block_table(c, key, &bk);
            last = key;
        }
        const int64_t npx = bk.npx, gi = bk.gi, ry = bk.ry, rx = bk.rx;
        if (npx <= 0) continue;
        const int64_t *pn = bk.pn, *pqy = bk.pqy, *pqx = bk.pqx;
        tc_cil_tile t = {bk.xp, xcs, bk.woff, bk.ntap, cig,
                         pl->cpack + (gi * pl->c_nocb + ocb) * pl->kk * cig * NR,
                         pl->cbias + (gi * pl->c_nocb + ocb) * NR, out, NULL, 0};
        const int64_t oc0 = ocb * NR, nr = tc_imin(NR, cog - oc0);
        /* where pixel m's channels go: the channels-last stage of an NCHW
         * output, (image, row, column, channel), or y */
        const int stage = pl->c_stage;
        const int64_t C = g->c_out;
        const tc_strides ds =
            stage ? (tc_strides){g->h_out * g->w_out * C, 1, g->w_out * C, C} : ys;
        float *base = (stage ? c->slots + pl->c_stage_off : c->y) + (gi * cog + oc0) * ds.c;
        float *orow[TC_CIL_MAX_MR];
        uintptr_t a = 0;
        for (int m = 0; m < pl->c_fam->mr; m++) {
            if (m >= npx) { /* a row the block does not have: the tile buffer */
                orow[m] = out + m * NR;
                continue;
            }
            orow[m] = base + pn[m] * ds.n + (pqy[m] * sh + ry) * ds.h + (pqx[m] * sw + rx) * ds.w;
            a |= (uintptr_t)orow[m];
        }
        /* Whole vectors of contiguous channels with nothing to add or
         * activate (the stage, or NHWC without an epilogue): the tile's own
         * stores (a2_b16 9.05 -> 8.8 ms), past the caches for a large
         * output whose rows are aligned (128 -> 64 k2 s2 on 128 x 128 in
         * NHWC: no read for ownership of its lines, 12.7 -> 10.5 ms) */
        const int own = ds.c == 1 && nr % pl->ks->vl == 0 &&
                        (stage || (c->ep->act == TC_ACT_NONE && !c->ep->accumulate));
        if (own) {
            t.orow = orow;
            t.nt = pl->c_nt && (a & (uintptr_t)(pl->ks->vl * 4 - 1)) == 0;
        }
        tc_cil_pick(pl->c_fam, nr, npx)(&t);
        if (own) continue;
        for (int m = 0; m < npx; m++) {
            if (stage) /* the epilogue runs as the stage moves out */
                memcpy(orow[m], out + m * NR, (size_t)nr * sizeof(float));
            else
                tc_store_row(orow[m], ds.c, out + m * NR, nr, c->ep);
        }
    }
    if (pl->c_nt) pl->ks->stream_fence();
}

/* The staged tiles into y (NCHW), through the epilogue: task = (image,
 * block of TC_UNSTAGE_CB channels); an image's pixels are one row. */
void tc_cil_unstage_worker(void *ctx, int64_t b, int64_t e) {
    const run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int64_t C = g->c_out, HW = g->h_out * g->w_out;
    const int64_t ncb = (C + TC_UNSTAGE_CB - 1) / TC_UNSTAGE_CB;
    for (int64_t u = b; u < e; u++) {
        const int64_t n = u / ncb, c0 = u % ncb * TC_UNSTAGE_CB;
        tc_unstage(pl->ks, c->y + n * c->ys.n + c0 * c->ys.c, c->ys.c,
                   c->slots + pl->c_stage_off + n * HW * C + c0, C,
                   tc_imin(TC_UNSTAGE_CB, C - c0), 1, HW, 0, c->ep);
    }
}
