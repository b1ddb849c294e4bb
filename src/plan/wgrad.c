/* wgrad.c -- the weight gradient: for each tap (ky, kx) a GEMM whose
 * reduction runs over the pixels,
 *   dw[a, b, ky, kx] = sum over n, qy, qx of
 *       A[n, a, qy, qx] * B'[n, b, qy*sh - ph + ky*dh, qx*sw - pw + kx*dw]
 * (see plan.h).
 *
 * Packing (wgrad_pack.c; in the workspace, once per run):
 *  - A per channel block: [n][qy][qx][block], channels innermost;
 *  - B' as its stride phase images, per channel block: image (ry, rx)
 *    holds B'[ry + sh*i, rx + sw*j]; tap (ky, kx) with
 *    ky*dh - ph = sh*cy + ry reads image (ry, rx) at (qy + cy, qx + cx),
 *    so every tap is a dense, shifted read of one image: no per-tap copy,
 *    and only the residues some tap uses are made.
 * Terms whose B' position lies outside B' are skipped by clipping each
 * tap's row and column ranges (zero padding adds nothing).
 *
 * The micro-kernel (kernels/wgrad.inc) holds MR x NR sums: MR channels of
 * the broadcast operand by NR = NRV*VL channels of the lane operand; which
 * of A and B takes the lanes is chosen by their channel counts (a thin
 * layer puts its wide side in the lanes).
 *
 * Blocking: a unit owns one channel block of B (its images' rows of a
 * chunk stay in L2) and walks the pixels chunk by chunk; per chunk every
 * channel block of A in its range (all, unless the problem has too few B
 * blocks to share among threads) passes (its rows stay in L1) and every
 * tap reads its shifted rows.  The unit's sums, [A block][tap][MR][NR], live in the
 * workspace; a last pass writes them to dw.  Small images are folded: a
 * chunk holds several whole images, one kernel call runs over all of them.
 *
 * Determinism: a unit is (split, group, B block, A range); it sums its pixels in a
 * fixed order (chunks in order, within a chunk images, rows, columns) and
 * no two units add into the same sums, except the splits of a unit, whose
 * partial sums are added in split order when every unit is done.  The
 * split count depends on the problem only, so the result is the same for
 * every thread count. */
#include "wgrad_internal.h"

#include <stdlib.h>
#include <string.h>

#define WG_MIN_UNITS 4        /* units a problem is split into when it has fewer */
#define WG_SPLIT_PIXELS 1024  /* least pixels of a split: each one's partial sums cost a pass */
#define WG_CHUNK_FLOATS 65536 /* floats of B's rows (all images) a chunk keeps in L2 */
#define WG_FINISH_FLOATS 8192 /* sums of a chunk of taps the last pass adds up (stack) */
#define WG_FUSE_B_BYTES ((double)(512 << 10)) /* a unit's B panel re-read per A block */
#define WG_SLICE_BYTES ((double)(8 << 20)) /* packed operands of a slice of images */

void tc_wgrad_free(tc_wgrad *wg) {
    if (!wg) return;
    free(wg->img_h);
    free(wg->img_w);
    free(wg->res_y);
    free(wg->res_x);
    free(wg->ky_r);
    free(wg->ky_c);
    free(wg->kx_r);
    free(wg->kx_c);
    free(wg->img_off);
    free(wg);
}

tconv_status tc_wgrad_create(tconv_impl impl, tc_wgrad **out) {
    tc_wgrad *wg = calloc(1, sizeof *wg);
    if (!wg) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the weight pass");
    wg->ks = tc_kernels_for(impl);
    wg->ek = tc_eltwise_for(impl);
    *out = wg;
    return TCONV_OK;
}

/* Useful FMAs per cycle of a tile (2 FMA and 2 load ports, 4-cycle FMA
 * latency: fewer than 8 independent sums stall). */
static double tile_score(int64_t cs, int64_t cl, int mr, int nr, int nrv) {
    const double util = (double)(cs * cl) / (double)(((cs + mr - 1) / mr) * mr *
                                                     ((cl + nr - 1) / nr) * nr);
    const double fma = mr * nrv, loads = mr + nrv;
    double cyc = fma > loads ? fma : loads;
    if (cyc < 8) cyc = 8;
    /* equal throughput: fewer loads per FMA leave the load ports to the
     * operand streams */
    return util * fma / cyc - 1e-3 * loads / fma;
}

/* Distinct residues (k*d - p) mod s over k < kn, ascending; per k its
 * residue index and offset floor((k*d - p) / s).  Returns the count, or -1
 * when out of memory. */
static int64_t residues(int64_t kn, int64_t s, int64_t d, int64_t p, int64_t **res,
                        int64_t **kr, int64_t **kc) {
    *res = malloc((size_t)kn * sizeof(int64_t));
    *kr = malloc((size_t)kn * sizeof(int64_t));
    *kc = malloc((size_t)kn * sizeof(int64_t));
    if (!*res || !*kr || !*kc) return -1;
    int64_t n = 0;
    for (int64_t k = 0; k < kn; k++) {
        const int64_t t = k * d - p, c = tc_floor_div(t, s), r = t - c * s;
        int64_t i = 0;
        while (i < n && (*res)[i] < r) i++;
        if (i == n || (*res)[i] != r) { /* insert keeping the list sorted */
            memmove(*res + i + 1, *res + i, (size_t)(n - i) * sizeof(int64_t));
            (*res)[i] = r;
            n++;
            for (int64_t q = 0; q < k; q++)
                if ((*kr)[q] >= i) (*kr)[q]++;
        }
        (*kr)[k] = i;
        (*kc)[k] = c;
    }
    return n;
}

tconv_status tc_wgrad_reshape(tc_wgrad *wg, const tc_wgrad_problem *pb, tconv_layout layout,
                              int db_of_a, size_t *ws_bytes, const char **path) {
    wg->pb = *pb;
    wg->layout = layout;
    const tc_kernel_set *ks = wg->ks;
    const int VL = ks->vl;
    wg->cag = pb->ca / pb->groups;
    wg->cbg = pb->cb / pb->groups;
    if (tc_wdot_reshape(&wg->dot, ks, pb, layout, db_of_a, ws_bytes)) {
        *path = "wgrad-dot";
        return TCONV_OK;
    }
    /* the tile: which operand takes the lanes, and how many vectors */
    double best = -1;
    for (int al = 0; al < 2; al++)
        for (int nrv = 1; nrv <= 4; nrv++)
            for (int mr = 1; mr <= ks->wgrad_mr[nrv - 1]; mr++) {
                const int nr = nrv * VL;
                const int64_t cl = al ? wg->cag : wg->cbg, cs = al ? wg->cbg : wg->cag;
                const double sc = tile_score(cs, cl, mr, nr, nrv);
                if (sc > best + 1e-9) {
                    best = sc;
                    wg->a_lanes = al;
                    wg->nrv = nrv;
                    wg->mr = mr;
                    wg->nr = nr;
                }
            }
    wg->aw = wg->a_lanes ? wg->nr : wg->mr;
    wg->bw = wg->a_lanes ? wg->mr : wg->nr;
    wg->nab = (wg->cag + wg->aw - 1) / wg->aw;
    wg->nbb = (wg->cbg + wg->bw - 1) / wg->bw;
    /* B' and its phase images */
    wg->hp = pb->hb + pb->ppt + pb->ppb;
    wg->wp = pb->wb + pb->ppl + pb->ppr;
    free(wg->res_y);
    free(wg->ky_r);
    free(wg->ky_c);
    free(wg->res_x);
    free(wg->kx_r);
    free(wg->kx_c);
    free(wg->img_h);
    free(wg->img_w);
    free(wg->img_off);
    wg->img_h = wg->img_w = wg->img_off = NULL;
    wg->nry = residues(pb->kh, pb->sh, pb->dh, pb->ph, &wg->res_y, &wg->ky_r, &wg->ky_c);
    wg->nrx = residues(pb->kw, pb->sw, pb->dw, pb->pw, &wg->res_x, &wg->kx_r, &wg->kx_c);
    if (wg->nry < 0 || wg->nrx < 0) return tc_plan_oom();
    wg->img_h = malloc((size_t)wg->nry * sizeof(int64_t));
    wg->img_w = malloc((size_t)wg->nrx * sizeof(int64_t));
    wg->img_off = malloc((size_t)(wg->nry * wg->nrx) * sizeof(int64_t));
    if (!wg->img_h || !wg->img_w || !wg->img_off) return tc_plan_oom();
    for (int64_t i = 0; i < wg->nry; i++)
        wg->img_h[i] = wg->res_y[i] < wg->hp ? (wg->hp - wg->res_y[i] - 1) / pb->sh + 1 : 0;
    for (int64_t i = 0; i < wg->nrx; i++)
        wg->img_w[i] = wg->res_x[i] < wg->wp ? (wg->wp - wg->res_x[i] - 1) / pb->sw + 1 : 0;
    /* each residue is its own class of B' rows, so the images together hold
     * about B' once: no overflow beyond B's size */
    int64_t off = 0;
    for (int64_t i = 0; i < wg->nry; i++)
        for (int64_t j = 0; j < wg->nrx; j++) {
            wg->img_off[i * wg->nrx + j] = off;
            off += wg->img_h[i] * wg->img_w[j];
        }
    wg->img_all = off;
    int64_t ap, bp;
    const int64_t ad[4] = {pb->n, pb->ha, pb->wa, wg->aw}, bd[3] = {pb->n, off, wg->bw};
    if (!tc_numel(ad, 4, &ap) || !tc_numel(bd, 3, &bp))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the packed operands of the weight pass do not fit");
    wg->a_panel = ap;
    wg->b_panel = bp;
    int64_t an, bn;
    if (tc_mul_overflow(ap, pb->groups * wg->nab, &an) ||
        tc_mul_overflow(bp, pb->groups * wg->nbb, &bn) || !tc_float_bytes(an, &wg->a_bytes) ||
        !tc_float_bytes(bn, &wg->b_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the packed operands of the weight pass do not fit");
    /* chunks: the rows of all B images a chunk reads (its rows plus the
     * taps' reach) stay in L2 while every A block passes */
    int64_t bimg_w = 0, reach = 0;
    for (int64_t j = 0; j < wg->nrx; j++) bimg_w += wg->img_w[j];
    for (int64_t k = 0; k < pb->kh; k++) reach = tc_imax(reach, tc_imax(wg->ky_c[k], -wg->ky_c[k]));
    const int64_t row_floats = tc_imax(1, bimg_w * wg->nry * wg->bw);
    wg->chunk_rows = tc_imax(1, WG_CHUNK_FLOATS / row_floats - tc_imin(reach, 64));
    /* A problem with few units is cut first into ranges of A blocks (each
     * unit then sums its own blocks over every pixel: no extra work, the
     * same order), then, while that leaves too few, into row ranges
     * (splits, each of WG_SPLIT_PIXELS or more: every split adds a pass
     * over the weight's sums).  Both are fixed by the problem, never by
     * the thread count. */
    wg->base_units = pb->groups * wg->nbb;
    const int64_t rows = pb->n * pb->ha;
    wg->nar = 1;
    if (wg->base_units < WG_MIN_UNITS)
        wg->nar = tc_imin(wg->nab, (WG_MIN_UNITS + wg->base_units - 1) / wg->base_units);
    wg->apr = (wg->nab + wg->nar - 1) / wg->nar;
    wg->nar = (wg->nab + wg->apr - 1) / wg->apr;
    wg->nsplit = 1;
    const int64_t units = wg->base_units * wg->nar;
    if (units < WG_MIN_UNITS && rows > 1) {
        const int64_t by_size = rows * pb->wa / WG_SPLIT_PIXELS;
        wg->nsplit = tc_imin(rows, (WG_MIN_UNITS + units - 1) / units);
        wg->nsplit = tc_imax(1, tc_imin(wg->nsplit, by_size));
    }
    /* whole images per split when there are enough of them */
    if (pb->n >= wg->nsplit)
        wg->rows_per_split = (pb->n + wg->nsplit - 1) / wg->nsplit * pb->ha;
    else
        wg->rows_per_split = (rows + wg->nsplit - 1) / wg->nsplit;
    wg->nsplit = rows ? (rows + wg->rows_per_split - 1) / wg->rows_per_split : 1;
    /* Large batches are packed and summed a slice of images at a time, so
     * the packed panels are read back from the caches, not from memory (d2's
     * 24 MiB of grad_output panels, e's 134 MiB).  Whole images per split
     * only; the sums keep their order (a unit's chunks in order). */
    wg->slice_imgs = 0;
    wg->ips = pb->ha ? wg->rows_per_split / pb->ha : 0;
    if (pb->ha && wg->rows_per_split % pb->ha == 0 && wg->ips > 1) {
        const double per_img = 4.0 * ((double)(pb->groups * wg->nab * wg->aw) * pb->ha * pb->wa +
                                      (double)(pb->groups * wg->nbb * wg->bw) * wg->img_all);
        const double fit = WG_SLICE_BYTES / (per_img * (double)wg->nsplit);
        if (fit < (double)wg->ips) wg->slice_imgs = fit < 1 ? 1 : (int64_t)fit;
    }
    wg->tile = (int64_t)wg->mr * wg->nr;
    const int64_t sd[5] = {wg->nsplit, wg->base_units, wg->nab, pb->kh * pb->kw, wg->tile};
    int64_t sums;
    if (!tc_numel(sd, 5, &sums) || !tc_float_bytes(sums, &wg->sum_bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the weight pass's partial sums do not fit");
    const size_t align = 64;
    /* per image and channel, the sums of the operand that is grad_output */
    wg->b_complete = pb->pmode == TCONV_PADDING_MODE_ZEROS && wg->nry == pb->sh &&
                     wg->nrx == pb->sw;
    const int64_t cs = pb->n * (pb->ca > pb->cb ? pb->ca : pb->cb);
    if (cs > (int64_t)(SIZE_MAX / 4 / sizeof(double)))
        return tc_fail(TCONV_ERROR_OVERFLOW, "the weight pass's bias sums do not fit");
    wg->csum_bytes = (size_t)cs * sizeof(double);
    *ws_bytes = wg->a_bytes + align + wg->b_bytes + align + wg->sum_bytes + align +
                wg->csum_bytes;
    if (*ws_bytes < wg->a_bytes) /* wrapped */
        return tc_fail(TCONV_ERROR_OVERFLOW, "the weight pass's workspace does not fit");
    *path = "wgrad";
    return TCONV_OK;
}

/* ---- units ------------------------------------------------------------------ */

/* The sums of unit (split, bu): [A block][tap][MR][NR]. */
static float *unit_sums(const wg_run *r, int64_t split, int64_t bu) {
    const tc_wgrad *wg = r->wg;
    const int64_t per = wg->nab * wg->pb.kh * wg->pb.kw * wg->tile;
    return r->sums + (split * wg->base_units + bu) * per;
}

/* One chunk of unit (g, bblk)'s rows, from row q (nimg whole images, or
 * rows [q % ha, + nrow) of one), for A blocks [a0, a1): every tap's
 * kernel call; first: the unit's first chunk, which starts its sums. */
static void unit_chunk(const wg_run *r, float *sums, const float *bp, int64_t g, int64_t q,
                       int64_t nimg, int64_t nrow, int64_t a0, int64_t a1, int first) {
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t kk = pb->kh * pb->kw, tile = wg->tile, ha = pb->ha;
    const tc_wgrad_kernel kern = wg->ks->wgrad[wg->nrv - 1][wg->mr - 1];
    const int64_t a_is = ha * pb->wa * wg->aw, a_rs = pb->wa * wg->aw;
    const int64_t n = q / ha, qy0 = q % ha;
    for (int64_t ablk = a0; ablk < a1; ablk++) {
        const float *ap = r->apack + (g * wg->nab + ablk) * wg->a_panel;
        for (int64_t tap = 0; tap < kk; tap++) {
            const int64_t ky = tap / pb->kw, kx = tap % pb->kw;
            const int64_t iy = wg->ky_r[ky], cy = wg->ky_c[ky];
            const int64_t ix = wg->kx_r[kx], cx = wg->kx_c[kx];
            const int64_t ih = wg->img_h[iy], iw = wg->img_w[ix];
            /* rows with 0 <= qy + cy < ih, columns likewise */
            const int64_t ya = tc_imax(qy0, -cy), yb = tc_imin(qy0 + nrow, ih - cy);
            const int64_t xa = tc_imax(0, -cx), xb = tc_imin(pb->wa, iw - cx);
            float *out = sums + (ablk * kk + tap) * tile;
            if (ya >= yb || xa >= xb) {
                if (first) memset(out, 0, (size_t)tile * sizeof(float));
                continue;
            }
            const float *img = bp + wg->img_off[iy * wg->nrx + ix] * pb->n * wg->bw;
            const float *pa = ap + n * a_is + (ya * pb->wa + xa) * wg->aw;
            const float *pbb = img + ((n * ih + ya + cy) * iw + xa + cx) * wg->bw;
            const int64_t b_is = ih * iw * wg->bw, b_rs = iw * wg->bw;
            const tc_wgrad_tile t = {
                .s = wg->a_lanes ? pbb : pa,
                .l = wg->a_lanes ? pa : pbb,
                .s_is = wg->a_lanes ? b_is : a_is,
                .s_rs = wg->a_lanes ? b_rs : a_rs,
                .l_is = wg->a_lanes ? a_is : b_is,
                .l_rs = wg->a_lanes ? a_rs : b_rs,
                .nimg = nimg,
                .nrows = yb - ya,
                .ncols = xb - xa,
                .init = first ? NULL : out,
                .out = out,
            };
            kern(&t);
        }
    }
}

static void finish_block(const wg_run *r, int64_t bu, int64_t ablk);

static void unit_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t kk = pb->kh * pb->kw, tile = wg->tile, ha = pb->ha;
    const int64_t rows = pb->n * ha;
    for (int64_t u = b; u < e; u++) {
        const int64_t split = u % wg->nsplit, ar = u / wg->nsplit % wg->nar,
                      bu = u / wg->nsplit / wg->nar;
        const int64_t g = bu / wg->nbb, bblk = bu % wg->nbb;
        const int64_t a0 = ar * wg->apr, a1 = tc_imin(wg->nab, a0 + wg->apr);
        float *sums = unit_sums(r, split, bu);
        const float *bp = r->bpack + (g * wg->nbb + bblk) * wg->b_panel;
        const int64_t r0 = split * wg->rows_per_split, r1 = tc_imin(rows, r0 + wg->rows_per_split);
        if (r0 >= r1 && r->lo == 0) /* no pixels: no chunk starts the sums */
            memset(sums + a0 * kk * tile, 0, (size_t)((a1 - a0) * kk * tile) * sizeof(float));
        /* this slice's rows of the unit: chunks of nimg whole images, or of
         * nrow rows of one; the unit's first chunk starts its sums (no pass
         * zeroing them first).  Fused, the A blocks run one after another,
         * each over every chunk, and go to dw while their sums are in L1. */
        const int64_t w1 = tc_imin(r1, r0 + r->hi * ha);
        const int64_t step = r->fused ? 1 : a1 - a0; /* A blocks per pass over the chunks */
        for (int64_t b0 = a0; b0 < a1; b0 += step) {
            const int64_t b1 = b0 + step;
            for (int64_t q = r0 + r->lo * ha; q < w1;) {
                const int64_t qy0 = q % ha;
                int64_t nimg = 1, nrow;
                if (qy0 == 0 && w1 - q >= ha && ha <= wg->chunk_rows) {
                    nimg = tc_imax(1, tc_imin((w1 - q) / ha, wg->chunk_rows / ha));
                    nrow = ha;
                } else {
                    nrow = tc_imin(tc_imin(wg->chunk_rows, ha - qy0), w1 - q);
                }
                unit_chunk(r, sums, bp, g, q, nimg, nrow, b0, b1, q == r0);
                q += nimg * nrow;
            }
            if (r->fused) finish_block(r, bu, b0);
        }
    }
    if (r->stream_dw) wg->ks->stream_fence();
}

/* The sums of (B unit bu, A block ablk), the splits added in split order,
 * into dw.  A chunk of taps at a time, so that each (a, b) pair writes its
 * run of taps in dw at once. */
static void finish_block(const wg_run *r, int64_t bu, int64_t ablk) {
    enum { TT = WG_FINISH_FLOATS / TC_WG_TILE_MAX };
    const tc_wgrad *wg = r->wg;
    const int64_t kk = wg->pb.kh * wg->pb.kw, tile = wg->tile, nr = wg->nr;
    const int64_t g = bu / wg->nbb, bblk = bu % wg->nbb;
    float sum[WG_FINISH_FLOATS] __attribute__((aligned(64))); /* [tap][MR][NR] */
    for (int64_t t0 = 0; t0 < kk; t0 += TT) {
        const int64_t nt = tc_imin(TT, kk - t0), off = (ablk * kk + t0) * tile;
        const float *sv = unit_sums(r, 0, bu) + off; /* one split: no copy */
        if (wg->nsplit > 1) {
            memcpy(sum, sv, (size_t)(nt * tile) * sizeof(float));
            for (int64_t sp = 1; sp < wg->nsplit; sp++) {
                const float *p = unit_sums(r, sp, bu) + off;
                for (int64_t i = 0; i < nt * tile; i++) sum[i] += p[i];
            }
            sv = sum;
        }
        for (int64_t m = 0; m < wg->mr; m++) {
            /* row m of the tile: NR lanes j, each a run of nt taps in dw */
            const int64_t a0 = ablk * wg->aw, b0 = bblk * wg->bw;
            const int64_t ai = a0 + (wg->a_lanes ? 0 : m), bi = b0 + (wg->a_lanes ? m : 0);
            if (ai >= wg->cag || bi >= wg->cbg) continue;
            const int64_t nj = tc_imin(nr, wg->a_lanes ? wg->cag - a0 : wg->cbg - b0);
            /* lane j's run: j steps A channels (a_lanes) or B channels */
            const int64_t js = wg->a_lanes ? wg->cbg * kk : kk;
            float *d = r->dw + ((g * wg->cag + ai) * wg->cbg + bi) * kk + t0;
            const float *v = sv + m * nr;
            if (!r->accumulate && r->stream_dw && nt == js) {
                /* the transpose's run is contiguous in dw: into L1, then
                 * whole lines past the caches */
                float buf[4 * TC_VL_MAX * (WG_FINISH_FLOATS / TC_WG_TILE_MAX)]
                    __attribute__((aligned(64)));
                wg->ks->pack_cols(buf, nt, v, tile, 1, nj, nt);
                tc_stream_run(wg->ks, d, buf, nj * nt);
                continue;
            }
            if (!r->accumulate) { /* a transpose: [tap][j] -> [j][tap] */
                wg->ks->pack_cols(d, js, v, tile, 1, nj, nt);
                continue;
            }
            for (int64_t j = 0; j < nj; j++)
                for (int64_t k = 0; k < nt; k++) d[j * js + k] += v[k * tile + j];
        }
    }
}

/* finish_block over tasks (group, B block, A block) */
static void finish_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    for (int64_t t = b; t < e; t++) finish_block(r, t / r->wg->nab, t % r->wg->nab);
    if (r->stream_dw) r->wg->ks->stream_fence();
}

/* db from the packings' per-image sums, added in image order; task = channel. */
static void bias_from_sums(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const int64_t C = r->db_of_a ? r->wg->pb.ca : r->wg->pb.cb;
    for (int64_t c = b; c < e; c++) {
        double v = 0.0;
        for (int64_t n = 0; n < r->wg->pb.n; n++) v += r->csum[n * C + c];
        r->db[c] = r->accumulate ? (float)((double)r->db[c] + v) : (float)v;
    }
}

/* db: channel sums of the operand that is dy, in double, when no packing
 * gives them; task = channel. */
static void bias_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t C = r->db_of_a ? pb->ca : pb->cb, H = r->db_of_a ? pb->ha : pb->hb,
                  W = r->db_of_a ? pb->wa : pb->wb;
    const float *src = r->db_of_a ? r->a : r->b;
    const tc_strides s = strides_of(wg, C, H, W);
    const int planes = s.w == 1 && s.h == W && r->wg->ek;
    for (int64_t c = b; c < e; c++) {
        if (planes) { /* NCHW: each image's plane is one vectorised run */
            double v = 0.0, sq = 0.0;
            for (int64_t n = 0; n < pb->n; n++) {
                double pv = 0.0;
                r->wg->ek->sum_sumsq(src + n * s.n + c * s.c, H * W, &pv, &sq);
                v += pv;
            }
            r->db[c] = r->accumulate ? (float)((double)r->db[c] + v) : (float)v;
            continue;
        }
        double acc[4] = {0, 0, 0, 0};
        for (int64_t n = 0; n < pb->n; n++)
            for (int64_t y = 0; y < H; y++) {
                const float *row = src + n * s.n + c * s.c + y * s.h;
                int64_t x = 0;
                for (; x + 4 <= W; x += 4)
                    for (int l = 0; l < 4; l++) acc[l] += row[(x + l) * s.w];
                for (; x < W; x++) acc[0] += row[x * s.w];
            }
        const double v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        r->db[c] = r->accumulate ? (float)((double)r->db[c] + v) : (float)v;
    }
}

int tc_wgrad_run(const tc_wgrad *wg, const float *a, const float *b, float *dw, float *db,
                 int db_of_a, void *ws, int nthreads, int accumulate) {
    const tc_wgrad_problem *pb = &wg->pb;
    const double flops = 2.0 * pb->n * pb->ha * pb->wa * wg->cag * wg->cbg * pb->groups *
                         pb->kh * pb->kw;
    int nt = nthreads;
    if (nt > 1 && flops / 2e6 < nt) nt = flops < 2e6 ? 1 : (int)(flops / 2e6);
    if (nt < 1) nt = 1;
    const int64_t C = db_of_a ? pb->ca : pb->cb;
    if (wg->dot.on) { /* db of A comes with dw (a row of ones), else on its own */
        wg_run r = {.wg = wg, .a = a, .b = b, .db = db, .accumulate = accumulate,
                    .db_of_a = db_of_a};
        const int db_with_dw = dw && db_of_a && wg->dot.rows > wg->dot.cols;
        if (db && !db_with_dw) tc_parallel_for(nt, C, bias_worker, &r);
        if (dw)
            tc_wdot_run(&wg->dot, wg->ks, pb, a, b, dw, db_with_dw ? db : NULL, ws, nt,
                        accumulate);
        return -1;
    }
    uintptr_t p = ((uintptr_t)ws + 63) & ~(uintptr_t)63;
    float *apack = (float *)p;
    p = ((uintptr_t)apack + wg->a_bytes + 63) & ~(uintptr_t)63;
    float *bpack = (float *)p;
    float *sums = (float *)((uintptr_t)bpack + wg->b_bytes);
    p = ((uintptr_t)sums + wg->sum_bytes + 63) & ~(uintptr_t)63;
    atomic_int a_bad = 0;
    wg_run r = {.wg = wg, .a = a, .b = b, .apack = apack, .bpack = bpack, .sums = sums,
                .dw = dw, .db = db, .accumulate = accumulate, .db_of_a = db_of_a,
                .csum = (double *)p, .a_bad = &a_bad};
    if (db && dw) { /* the packings read grad_output anyway: they add it up */
        r.sum_a = db_of_a;
        r.sum_b = !db_of_a && wg->b_complete;
    }
    if (db && !r.sum_a && !r.sum_b) tc_parallel_for(nt, C, bias_worker, &r);
    if (!dw) return -1;
    /* One split in one slice, its B panels small enough to stay in L2
     * while each A block passes over them all: the units write dw
     * themselves, A block by A block, from sums still in L1 (a separate
     * pass read them back from memory: a1_b16's 8 MiB of sums and of dw,
     * 1.6 ms of its 9.5) */
    r.fused = wg->nsplit == 1 && !wg->slice_imgs &&
              (double)wg->b_panel * 4.0 <= WG_FUSE_B_BYTES;
    /* a dw beyond the L2 caches, overwritten: its lines need no read for
     * ownership (writing a1_b16's 8 MiB 0.84 -> 0.47 ms) */
    r.stream_dw = !accumulate && 4.0 * (double)pb->ca * (double)wg->cbg * (double)(pb->kh * pb->kw) >=
                                     TC_STREAM_OUT_BYTES;
    /* one slice holding every image, or each split's images slice by slice */
    const int64_t S = wg->slice_imgs ? wg->slice_imgs : pb->n;
    r.ips = wg->slice_imgs ? wg->ips : pb->n;
    r.nsp = wg->slice_imgs ? wg->nsplit : 1;
    const int64_t all = pb->ha ? (wg->rows_per_split + pb->ha - 1) / pb->ha : 1;
    for (r.lo = 0;; r.lo += S) { /* at least once: empty units zero their sums */
        r.cnt = tc_imin(S, r.ips - r.lo);
        r.hi = wg->slice_imgs ? r.lo + r.cnt : all;
        tc_parallel_for(nt, pb->groups * wg->nab * r.nsp * r.cnt, tc_wg_pack_a, &r);
        tc_parallel_for(nt, pb->groups * wg->nbb * r.nsp * r.cnt, tc_wg_pack_b, &r);
        tc_parallel_for(nt, wg->base_units * wg->nar * wg->nsplit, unit_worker, &r);
        if (r.lo + S >= r.ips) break;
    }
    if (r.sum_a || r.sum_b) tc_parallel_for(nt, C, bias_from_sums, &r);
    if (!r.fused) tc_parallel_for(nt, wg->base_units * wg->nab, finish_worker, &r);
    return atomic_load(&a_bad);
}
