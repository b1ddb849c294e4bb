/* phase.c -- the phase path: stride-phase decomposition of a transposed
 * convolution, pixels in lanes.
 *
 * Output row oy has phase ry = oy % sh; the kernel rows that reach it are
 * the ky with (ry + ph - ky*dh) % sh == 0, each reading input row
 * iy = qy + cy(ky), qy = oy / sh, cy = (ry + ph - ky*dh)/sh (likewise
 * columns).  Each phase is a dense stride-1 correlation with a sub-kernel
 * of about kh/sh x kw/sw taps: no products with inserted zeros, no tap
 * whose input lies wholly outside (cropped padding) is visited, each
 * output is written once, the bias already in its accumulator; no col2im,
 * no zero fill, no scratch beyond a workspace the size of the input.
 *
 * Tiles.  A pixel vector is VL phase pixels of one output row
 * (qx0..qx0+VL-1), or, for narrow inputs (W divides VL), R = VL/W whole
 * phase rows laid flat (a tap's input is then one contiguous load from the
 * NCHW channel plane).  Row vectors read the input repacked to NHCW in the
 * workspace, so consecutive channels are W floats apart (except with one
 * tap per phase, where the planes stream).  The taps of each tile are
 * listed once per reshape (the tap table).  Lanes outside the input are
 * zeroed after a whole-vector load (a masked load only where the vector
 * would leave the buffer).  A tile is MR output channels x NV vectors x
 * SWF column phases (SWF = 2 for sw == 2, else 1); the kernel runs once per
 * column phase into a small tile buffer and the store interleaves the
 * phases into contiguous NCHW rows (or writes NHWC pixels, channels
 * innermost).
 *
 * A convolution lowered to this path (stride 1, kernel flipped) with an
 * input stride or a padding mode reads the input's phase images, made in
 * the workspace (input_transform.c); each tap reads its own image.
 *
 * Threads take tiles of a fixed tile list from a shared counter; a tile is
 * computed the same way by any thread and there is no reduction, so the
 * result does not depend on the thread count.  Batches of small images
 * that need a repack run image at a time (repack into a per-thread slot,
 * then that image's tiles, from L2). */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

/* d[0..n) = s[0..n) for n of 4, 8 or 16 (the vector lengths): fixed-size
 * copies the compiler inlines */
static inline void copy_vec(float *d, const float *s, int64_t n) {
    if (n == 16) memcpy(d, s, 64);
    else if (n == 8) memcpy(d, s, 32);
    else if (n == 4) memcpy(d, s, 16);
    else memcpy(d, s, (size_t)n * sizeof(float));
}

/* Writes one finished tile (out: [SWF][mrb][nv][VL]) to y. */
static void store_tile(const run_ctx *c, const phase_grp *pg, int64_t n, int64_t oc0, int mrb,
                       int64_t v0, int nv, const float *out) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int VL = pl->ks->vl, SWF = pl->swf;
    const int64_t sh = g->sh, sw = g->sw, W = pl->xw, Wout = g->w_out;
    const tc_strides ys = c->ys;
    const int64_t nb = pl->flat ? 1 : (pg->wq + VL - 1) / VL;
    const int R = pl->flat ? pl->R : 1;
    const int64_t lanes = pl->flat ? W : VL;
    const int64_t pstride = (int64_t)mrb * nv * VL; /* to the next column phase */
    const int plain = !c->ep->accumulate && c->ep->act == TC_ACT_NONE;
    const int stream = plain && pl->stream_out;
    /* vector v0 + v is phase row qy0 (R rows when flat), block xb of it;
     * stepped, not divided, per vector */
    int64_t qy0 = pl->flat ? v0 * R : v0 / nb, xb = pl->flat ? 0 : v0 % nb;
    for (int v = 0; v < nv; v++) {
        if (v) {
            if (pl->flat) qy0 += R;
            else if (++xb == nb) {
                xb = 0;
                qy0++;
            }
        }
        const int64_t qx0 = xb * VL;
        for (int r = 0; r < R; r++) {
            const int64_t qy = qy0 + r;
            if (qy >= pg->hq) break;
            float *row = c->y + n * ys.n + oc0 * ys.c + (qy * sh + pg->ry) * ys.h;
            if (ys.w == 1 && SWF == 2) { /* NCHW, stride 2: interleave the column phases */
                const int64_t ox0 = qx0 * 2, cnt = tc_imin(2 * lanes, Wout - ox0);
                for (int m = 0; m < mrb; m++) {
                    const float *a = out + (int64_t)(m * nv + v) * VL + r * lanes;
                    float *d = row + m * ys.c + ox0;
                    if (stream && cnt == 2 * VL && !((uintptr_t)d & 63))
                        pl->ks->store_il2_nt(d, a, a + pstride);
                    else
                        tc_store_row_il2(pl->ks, d, a, a + pstride, cnt, c->ep);
                }
            } else if (ys.w == 1 && sw == 1) { /* NCHW, stride 1: a plain copy */
                const int64_t cnt = tc_imin(lanes, Wout - qx0);
                for (int m = 0; m < mrb; m++) {
                    float *d = row + m * ys.c + qx0;
                    const float *s = out + (int64_t)(m * nv + v) * VL + r * lanes;
                    /* no call per row: depthwise and flat tiles store a few floats */
                    if (stream && cnt == 16 && !((uintptr_t)d & 63))
                        pl->ks->store_line_nt(d, s);
                    else if (plain && (cnt == 16 || cnt == 8 || cnt == 4))
                        copy_vec(d, s, cnt);
                    else
                        tc_store_row(d, 1, s, cnt, c->ep);
                }
            } else if (plain && ys.c == 1) { /* NHWC: a transpose per column phase */
                for (int p = 0; p < SWF; p++) {
                    const int64_t rx = SWF == 2 ? p : pg->rx;
                    const int64_t first = qx0 * sw + rx; /* output column of lane 0 */
                    if (first >= Wout) break;
                    const int64_t cnt = tc_imin(lanes, (Wout - first + sw - 1) / sw);
                    pl->ks->pack_cols(row + first * ys.w, sw * ys.w,
                                      out + p * pstride + (int64_t)v * VL + r * lanes,
                                      (int64_t)nv * VL, 1, cnt, mrb);
                }
            } else { /* pixel by pixel (NCHW, stride > 2; NHWC through the epilogue) */
                for (int p = 0; p < SWF; p++) {
                    const int64_t rx = SWF == 2 ? p : pg->rx;
                    const float *s = out + p * pstride + (int64_t)v * VL + r * lanes;
                    for (int64_t j = 0; j < lanes; j++) {
                        const int64_t ox = (qx0 + j) * sw + rx;
                        if (ox >= Wout) break;
                        float *d = row + ox * ys.w;
                        if (plain)
                            for (int m = 0; m < mrb; m++) d[m * ys.c] = s[(int64_t)m * nv * VL + j];
                        else
                            for (int m = 0; m < mrb; m++)
                                tc_store_row(d + m * ys.c, 1, s + (int64_t)m * nv * VL + j, 1,
                                             c->ep);
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
static int tile_taps(const tc_plan *pl, const tc_geom *g, const phase_grp *pg, int64_t v0, int nv,
                     int p, int64_t *pos, tc_tap *out, int max) {
    const int VL = pl->ks->vl;
    const int64_t H = pl->xh, W = pl->xw;
    const int64_t nb = pl->flat ? 1 : (pg->wq + VL - 1) / VL;
    /* input planes (NCHW) or rows of channels (NHCW, see repack_input);
     * the phase images of a strided conv2d follow each other */
    const int64_t xrs = pl->xlay ? g->c_in * W : W, xcs = pl->xlay ? W : H * W;
    const int64_t xps = g->c_in * H * W;
    /* what one vector reads over all ic (depthwise: over the MR planes) */
    const int64_t xspan = (pl->dw ? pl->mr - 1 : pl->cig - 1) * xcs + VL;
    int64_t qy0[TC_NV_MAX], qx0[TC_NV_MAX];
    for (int v = 0; v < nv; v++) {
        const int64_t vi = v0 + v;
        qy0[v] = pl->flat ? vi * pl->R : vi / nb;
        qx0[v] = pl->flat ? 0 : (vi % nb) * VL;
    }
    const int64_t rx = pl->swf == 2 ? p : pg->rx;
    const int64_t nky = pl->kyo[pg->ry + 1] - pl->kyo[pg->ry], nkx = pl->kxo[rx + 1] - pl->kxo[rx];
    const int64_t *kyc = pl->kyc + pl->kyo[pg->ry] * 3, *kxc = pl->kxc + pl->kxo[rx] * 3;
    int n = 0;
    for (; *pos < nky * nkx && n < max; ++*pos) {
        const int64_t a = *pos / nkx, b = *pos % nkx;
        const int64_t ky = kyc[3 * a], cy = kyc[3 * a + 1], kx = kxc[3 * b], cx = kxc[3 * b + 1];
        const int64_t img = (kyc[3 * a + 2] * pl->isw + kxc[3 * b + 2]) * xps;
        tc_tap *tp = &out[n];
        uint32_t any = 0;
        for (int v = 0; v < nv; v++) {
            uint32_t mk = 0;
            int64_t off = 0;
            /* offsets only for vectors that touch the input: a tap far
             * outside (huge dilation or padding) would overflow them */
            if (pl->flat) {
                const uint32_t col =
                    cx >= W || cx <= -W ? 0 : tc_bits_range(tc_imax(0, -cx), tc_imin(W, W - cx));
                for (int r = 0; r < pl->R; r++) {
                    const int64_t iy = qy0[v] + r + cy;
                    if (iy >= 0 && iy < H) mk |= col << (r * W);
                }
                if (mk) off = img + (qy0[v] + cy) * W + cx;
            } else {
                const int64_t iy = qy0[v] + cy, ix0 = qx0[v] + cx;
                if (iy >= 0 && iy < H && ix0 < W && ix0 > -VL)
                    mk = tc_bits_range(tc_imax(0, -ix0), tc_imin(VL, W - ix0));
                if (mk) off = img + iy * xrs + ix0;
            }
            tp->mask[v] = mk;
            tp->xoff[v] = mk ? off : 0;
            any |= mk;
            /* every vector is loaded, an empty one at offset 0 */
            tp->lo = v ? tc_imin(tp->lo, tp->xoff[v]) : tp->xoff[v];
            tp->hi = v ? tc_imax(tp->hi, tp->xoff[v] + xspan) : tp->xoff[v] + xspan;
        }
        if (!any) continue;
        tp->woff = (ky * g->kw + kx) * pl->cig;
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
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int VL = pl->ks->vl, SWF = pl->swf;
    const int64_t H = pl->xh, W = pl->xw, cig = pl->cig, cog = tc_pcog(pl), kk = pl->kk;
    const int64_t o0 = ocb * pl->mr, v0 = vt * pl->nv;
    const int mrb = (int)tc_imin(pl->mr, cog - o0);
    const int nv = (int)tc_imin(pl->nv, pg->nvec - v0);
    tc_phase_tile t;
    t.xcs = pl->xlay ? W : H * W;
    /* the group's first channel; depthwise: the block's first plane */
    const int64_t xg = (pl->dw ? o0 : gi * cig) * t.xcs;
    t.x = xi + xg;
    t.xpre = xpre + xg;
    t.xpost = xpost - xg;
    t.cin = cig;
    t.w = pl->wpack + gi * cog * cig * kk + o0 * cig * kk;
    t.bias = pl->bias + gi * cog + o0;
    const tc_phase_kernel kern =
        pl->dw ? pl->ks->phase_dw[nv - 1][mrb - 1] : pl->ks->phase[nv - 1][mrb - 1];
    /* Each column phase of the tile in turn (its own taps), into its own
     * part of out; the store interleaves them.  Kernel calls take up to
     * TC_TAP_CHUNK taps, each continuing from the last one's sums. */
    for (int p = 0; p < SWF; p++) {
        t.out = out + (int64_t)p * mrb * nv * VL;
        t.init = NULL;
        if (pl->taps) {
            const int64_t ti = (pg->vt0 + vt) * SWF + p;
            const int64_t cnt = pl->tap_off[ti + 1] - pl->tap_off[ti];
            int64_t j = 0;
            do {
                t.taps = pl->taps + pl->tap_off[ti] + j;
                t.ntap = (int)tc_imin(TC_TAP_CHUNK, cnt - j);
                kern(&t);
                t.init = t.out;
                j += t.ntap;
            } while (j < cnt);
        } else {
            tc_tap taps[TC_TAP_CHUNK];
            int64_t pos = 0;
            t.taps = taps;
            for (;;) {
                t.ntap = tile_taps(pl, g, pg, v0, nv, p, &pos, taps, TC_TAP_CHUNK);
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
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    float out[TC_MR_MAX * TC_NV_MAX * 2 * TC_VL_MAX] __attribute__((aligned(64)));
    const int64_t G = tc_pgroups(pl);
    if (b >= e) return;
    int64_t ng = b / pl->units_ng, r = b % pl->units_ng;
    int64_t k = 0, hi = pl->ngrp - 1; /* the last group with first <= r */
    while (k < hi) {
        const int64_t mid = (k + hi + 1) / 2;
        if (pl->grp[mid].first <= r) k = mid; else hi = mid - 1;
    }
    while (pl->grp[k].units == 0) k++; /* empty groups share their successor's first */
    const phase_grp *pg = &pl->grp[k];
    r -= pg->first;
    const int64_t per_chunk = pl->nocb * pg->vt_chunk; /* the last chunk may be shorter */
    int64_t ch = r / per_chunk, rc = r % per_chunk;
    int64_t nvt_c = tc_imin(pg->vt_chunk, pg->nvt - ch * pg->vt_chunk);
    int64_t ocb = rc / nvt_c, vtl = rc % nvt_c;
    for (int64_t u = b;;) {
        const int64_t n = ng / G;
        if (slot)
            phase_tile(c, pg, n, ng % G, ocb, ch * pg->vt_chunk + vtl, slot, 0, pl->ximg, out);
        else
            phase_tile(c, pg, n, ng % G, ocb, ch * pg->vt_chunk + vtl,
                       c->x + n * pl->ximg, n * pl->ximg, (g->n - n) * pl->ximg, out);
        if (++u == e) break;
        if (++vtl < nvt_c) continue;
        vtl = 0;
        if (++ocb < pl->nocb) continue;
        ocb = 0;
        if (++ch == pg->nchunk) {
            ch = 0;
            do {
                if (++k == pl->ngrp) {
                    k = 0;
                    ng++;
                }
            } while (pl->grp[k].units == 0);
            pg = &pl->grp[k];
        }
        nvt_c = tc_imin(pg->vt_chunk, pg->nvt - ch * pg->vt_chunk);
    }
    if (pl->stream_out) pl->ks->stream_fence();
}


/* The tap table of the phase plan (see tc_plan), when it fits in
 * TC_TAP_TABLE_MAX; returns 0 only when out of memory. */
static int build_tap_table(tc_plan *pl, const tc_geom *g) {
    free(pl->taps);
    free(pl->tap_off);
    pl->taps = NULL;
    pl->tap_off = NULL;
    /* at most nvt x (taps of the phase) per tile and column phase */
    int64_t ntile = 0, bound = 0;
    for (int64_t i = 0; i < pl->ngrp; i++) {
        phase_grp *pg = &pl->grp[i];
        pg->vt0 = ntile;
        ntile += pg->nvt;
        const int64_t ny = pl->kyo[pg->ry + 1] - pl->kyo[pg->ry];
        for (int p = 0; p < pl->swf; p++) {
            const int64_t rx = pl->swf == 2 ? p : pg->rx;
            const int64_t nt = ny * (pl->kxo[rx + 1] - pl->kxo[rx]);
            if (nt > TC_TAP_TABLE_MAX || pg->nvt > TC_TAP_TABLE_MAX) return 1;
            bound += pg->nvt * nt;
            if (bound * (int64_t)sizeof(tc_tap) > TC_TAP_TABLE_MAX) return 1;
        }
    }
    pl->taps = malloc((size_t)(bound ? bound : 1) * sizeof(tc_tap));
    pl->tap_off = malloc((size_t)(ntile * pl->swf + 1) * sizeof(int64_t));
    if (!pl->taps || !pl->tap_off) return 0;
    int64_t k = 0;
    pl->tap_off[0] = 0;
    for (int64_t i = 0; i < pl->ngrp; i++) {
        const phase_grp *pg = &pl->grp[i];
        for (int64_t vt = 0; vt < pg->nvt; vt++)
            for (int p = 0; p < pl->swf; p++) {
                const int64_t v0 = vt * pl->nv;
                int64_t pos = 0;
                k += tile_taps(pl, g, pg, v0, (int)tc_imin(pl->nv, pg->nvec - v0), p, &pos, pl->taps + k,
                               INT32_MAX);
                pl->tap_off[(pg->vt0 + vt) * pl->swf + p + 1] = k;
            }
    }
    return 1;
}


static void phase_worker(void *ctx, int64_t b, int64_t e) { phase_tiles(ctx, b, e, NULL); }

/* Image-at-a-time runs: each task is one image, repacked into a free
 * workspace slot (one per running thread, so a slot is free whenever a
 * task starts) and then its tiles, which find their input in L2 instead
 * of a whole repacked batch in L3 or memory. */
static void image_worker(void *ctx, int64_t b, int64_t e) {
    run_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC;
    for (int64_t n = b; n < e; n++) {
        int slot;
        for (;;) {
            uint_fast64_t busy = atomic_load(&c->busy);
            slot = __builtin_ctzll(~(unsigned long long)busy);
            if (atomic_compare_exchange_weak(&c->busy, &busy, busy | (uint_fast64_t)1 << slot))
                break;
        }
        float *dst = c->slots + slot * pl->ximg;
        if (pl->ish > 1 || pl->isw > 1 || pl->pmode) {
            s2d_ctx t = {pl, c->src, dst, g->n, g->c_in, g->h_in, g->w_in, nhwc, n, 0};
            const int64_t rows = tc_s2d_tasks(&t);
            tc_s2d_worker(&t, n * rows, (n + 1) * rows);
        } else {
            repack_ctx t = {pl->ks, c->src, dst,  g->n,     g->c_in,
                            g->h_in, g->w_in, nhwc, pl->xlay, n};
            tc_repack_worker(&t, n * g->h_in, (n + 1) * g->h_in);
        }
        const int64_t per_n = tc_pgroups(pl) * pl->units_ng;
        phase_tiles(c, n * per_n, (n + 1) * per_n, dst);
        atomic_fetch_and(&c->busy, ~((uint_fast64_t)1 << slot));
    }
}

void tc_run_phase(run_ctx *c, int nt) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC;
    const int s2d = pl->ish > 1 || pl->isw > 1 || pl->pmode;
    const int repack = pl->xlay || nhwc;
    /* image at a time: enough images for the threads (the slots then fit
     * in the workspace, sized for the whole input) and small ones */
    if ((s2d || repack) && g->n >= 2 * (int64_t)nt && nt <= 64 && pl->ximg <= TC_IMAGE_MAX) {
        tc_parallel_for(nt, g->n, image_worker, c);
        return;
    }
    if (s2d) {
        s2d_ctx t = {pl, c->src, c->slots, g->n, g->c_in, g->h_in, g->w_in, nhwc, 0, 0};
        tc_parallel_for(nt, g->n * tc_s2d_tasks(&t), tc_s2d_worker, &t);
        c->x = c->slots;
    } else if (repack) {
        repack_ctx t = {pl->ks,  c->src,  c->slots, g->n,     g->c_in,
                        g->h_in, g->w_in, nhwc,     pl->xlay, 0};
        tc_parallel_for(nt, g->n * g->h_in, tc_repack_worker, &t);
        c->x = c->slots;
    }
    tc_parallel_for(nt, pl->units, phase_worker, c);
}

int tc_phase_rows_pack(const tc_plan *pl, int64_t wq0) {
    const int64_t VL = pl->ks->vl, W = pl->xw;
    return W * 2 <= VL && VL % W == 0 && wq0 <= W;
}

/* The phase plan, after plan.c has made the tap lists and the image sizes
 * (xh, xw, ximg); s2d: the input is read as phase images. */
tconv_status tc_plan_phase(tc_plan *pl, int s2d, size_t *ws_bytes) {
    const tc_geom *g = &pl->pb.g;
    const int VL = pl->ks->vl;
    const int64_t sh = g->sh, sw = g->sw, W = pl->xw;
    pl->path = PATH_PHASE;
    pl->swf = sw == 2 ? 2 : 1;
    const int64_t ngrp = sh * (pl->swf == 2 ? 1 : sw);
    free(pl->grp);
    pl->grp = calloc((size_t)ngrp, sizeof(phase_grp));
    if (!pl->grp) return tc_plan_oom();
    /* flat vectors: whole phase rows side by side when W divides VL */
    const int64_t wq0 = (g->w_out + sw - 1) / sw;
    pl->flat = tc_phase_rows_pack(pl, wq0);
    pl->R = pl->flat ? (int)(VL / W) : 1;
    int64_t maxvec = 0;
    pl->ngrp = ngrp;
    for (int64_t i = 0; i < ngrp; i++) {
        phase_grp *pg = &pl->grp[i];
        pg->ry = pl->swf == 2 ? i : i / sw;
        pg->rx = pl->swf == 2 ? 0 : i % sw;
        pg->hq = pg->ry < g->h_out ? (g->h_out - pg->ry + sh - 1) / sh : 0;
        pg->wq = pg->rx < g->w_out ? (g->w_out - pg->rx + sw - 1) / sw : 0;
        if (pg->wq == 0) pg->hq = 0;
        pg->nvec = pl->flat ? (pg->hq + pl->R - 1) / pl->R : pg->hq * ((pg->wq + VL - 1) / VL);
        if (pg->nvec > maxvec) maxvec = pg->nvec;
    }
    int nv, mr;
    tc_choose_tile(pl->ks, pl->dw, tc_pcog(pl), maxvec, &nv, &mr);
    if (mr != pl->mr && !tc_pack_phase(pl, mr)) return tc_plan_oom();
    pl->nv = nv;
    pl->nocb = (tc_pcog(pl) + mr - 1) / mr;
    /* Chunks of vector tiles whose input (about cig x taps' rows x NV*VL
     * floats per tile) stays in L2 while every channel block passes over
     * it, each block's weights staying in L1. */
    const int64_t xbytes_vt = tc_imax(1, pl->cig * nv * VL * 4 * ((g->kh + sh - 1) / sh));
    const int64_t vt_chunk = tc_imax(1, ((int64_t)512 << 10) / xbytes_vt);
    int64_t first = 0;
    for (int64_t i = 0; i < ngrp; i++) {
        phase_grp *pg = &pl->grp[i];
        pg->nvt = (pg->nvec + nv - 1) / nv;
        pg->vt_chunk = tc_imax(1, tc_imin(vt_chunk, pg->nvt));
        pg->nchunk = pg->nvt ? (pg->nvt + pg->vt_chunk - 1) / pg->vt_chunk : 0;
        pg->units = pg->nvt * pl->nocb; /* chunks of vt_chunk tiles, the last shorter */
        pg->first = first;
        first += pg->units;
    }
    pl->units_ng = first;
    pl->units = first * g->n * tc_pgroups(pl);
    /* Row vectors read the input repacked to NHCW, where the channels of a
     * tile's rows, re-read tap after tap, do not fight over the few cache
     * sets that whole channel planes (4-64 KiB apart) map to (d2: 17.8 ms
     * repacked, 18.8 planes; a3_b16 and e within noise either way).  The
     * planes stream without a copy
     *  - with one tap per phase (k == s: c1-c4, d1; 1x1 conv2d): c2 0.133
     *    -> 0.118 ms, h1 0.031 -> 0.013; c4 12.2 -> 11.3 and c3 9.9 -> 9.7
     *    in the benchmark's order, where c4's 8 MiB input comes from
     *    memory and its copy cost a pass;
     *  - for one image: its copy, split over the threads by rows, was read
     *    by the other thread's tiles (a3 at 2 threads 0.32 -> 0.30);
     *  - when all output channels fit one block, each plane read once (a4:
     *    64 -> 3) 0.065 -> 0.058 ms, at 2 threads 0.045 -> 0.032, and 0.10
     *    -> 0.039 while the two vCPUs sat far apart; a4_b16 1.18 -> 0.95;
     *  - depthwise: each plane is read by its own channel block. */
    pl->xlay = !pl->flat;
    if (!s2d) {
        int64_t taps = 0;
        for (int64_t r = 0; r < sh; r++)
            for (int64_t q = 0; q < sw; q++)
                taps = tc_imax(taps, (pl->kyo[r + 1] - pl->kyo[r]) * (pl->kxo[q + 1] - pl->kxo[q]));
        if (taps <= 1 || g->n == 1 || pl->nocb == 1) pl->xlay = 0;
    }
    if (pl->dw) pl->xlay = 0;
    /* An NCHW output beyond the L2 caches goes past them: whole lines need
     * no read for ownership, and the input and weights the tiles re-read
     * stay cached (c4, 16 MiB out: 15.8-16.7 -> 12.5-13.0 ms on a Zen 4;
     * c3, 4 MiB: 11.0 -> 10.3). */
    pl->stream_out = pl->layout == TCONV_LAYOUT_NCHW &&
                     4.0 * (double)g->n * (double)g->c_out * (double)g->h_out * (double)g->w_out >=
                         TC_STREAM_OUT_BYTES;
    if (!build_tap_table(pl, g)) return tc_plan_oom();
    *ws_bytes = 0;
    const int64_t xall = pl->ximg * g->n; /* checked by plan.c */
    if ((s2d || pl->xlay || pl->layout == TCONV_LAYOUT_NHWC) && !tc_float_bytes(xall, ws_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the phase images of the input do not fit");
    return TCONV_OK;
}
