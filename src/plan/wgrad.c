/* wgrad.c -- the weight gradient: for each tap (ky, kx) a GEMM whose
 * reduction runs over the pixels,
 *   dw[a, b, ky, kx] = sum over n, qy, qx of
 *       A[n, a, qy, qx] * B'[n, b, qy*sh - ph + ky*dh, qx*sw - pw + kx*dw]
 * (see plan.h).
 *
 * Packing (in the workspace, once per run):
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
 * Determinism: a unit is (group, A block, B block, split); it sums its
 * rows in a fixed order (rows of a split in order, taps in order) and no
 * two units add into the same sums, except the splits of a unit, whose
 * partial sums are added in split order after every unit is done.  The
 * split count depends on the problem only, so the result is the same for
 * every thread count. */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

#define WG_TAPS 16       /* taps whose sums a unit holds at once (stack) */
#define WG_MIN_UNITS 16  /* units a problem is split into when it has fewer */
#define WG_ROW_FLOATS 8192 /* floats of A and B rows a row chunk keeps in L1 */

struct tc_wgrad {
    const tc_kernel_set *ks;
    tc_wgrad_problem pb;
    tconv_layout layout;
    int a_lanes;        /* A is the lane operand (B broadcast), else B is */
    int nrv, mr, nr;    /* tile: NR = NRV*VL lanes by MR rows */
    int64_t cag, cbg;   /* channels per group */
    int64_t aw, bw;     /* channel block widths of A and B (mr or nr) */
    int64_t nab, nbb;   /* blocks per group */
    int64_t hp, wp;     /* B' (B padded by the mode) */
    /* distinct row / column residues of the taps, their images' sizes and
     * per tap its residue's index and offset */
    int64_t nry, nrx;
    int64_t *img_h, *img_w; /* [nry], [nrx] */
    int64_t *res_y, *res_x; /* residues */
    int64_t *ky_r, *ky_c, *kx_r, *kx_c;
    int64_t *img_off;   /* [nry*nrx]: image offsets within a B block's panel (floats / (n*bw)) */
    int64_t img_all;    /* sum of the images' pixels */
    int64_t a_panel, b_panel; /* floats per (group, block) */
    int64_t nsplit, rows_per_split, row_chunk;
    int64_t base_units;
    size_t a_bytes, b_bytes, part_bytes;
};

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
#if defined(TCONV_X86)
    wg->ks = impl == TCONV_IMPL_AVX512 ? &tc_kernels_avx512
             : impl == TCONV_IMPL_AVX2 ? &tc_kernels_avx2
                                       : &tc_kernels_portable;
#else
    (void)impl;
    wg->ks = &tc_kernels_portable;
#endif
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
    return util * fma / cyc;
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
                              size_t *ws_bytes, const char **path) {
    wg->pb = *pb;
    wg->layout = layout;
    const tc_kernel_set *ks = wg->ks;
    const int VL = ks->vl;
    wg->cag = pb->ca / pb->groups;
    wg->cbg = pb->cb / pb->groups;
    /* the tile: which operand takes the lanes, and how many vectors */
    double best = -1;
    for (int al = 0; al < 2; al++)
        for (int nrv = 1; nrv <= 4; nrv++) {
            const int nr = nrv * VL, mr = ks->wgrad_mr[nrv - 1];
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
    /* residues are distinct rows of B' (< sh apart... one per row class), so
     * the images together hold about B' once: no overflow beyond B's size */
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
    /* row chunks: A's and B's rows of a chunk stay in L1 across the taps */
    wg->row_chunk = tc_imax(1, WG_ROW_FLOATS / tc_imax(1, pb->wa * (wg->aw + wg->bw)));
    /* splits: a problem with few units is cut into row ranges (fixed by the
     * problem, never by the thread count), each worth ~1 MFLOP or more */
    wg->base_units = pb->groups * wg->nab * wg->nbb;
    const int64_t rows = pb->n * pb->ha;
    wg->nsplit = 1;
    if (wg->base_units < WG_MIN_UNITS && rows > 1) {
        const double flop_row = 2.0 * wg->cag * wg->cbg * pb->wa * pb->kh * pb->kw;
        const int64_t by_work = (int64_t)(flop_row * rows / 1e6);
        wg->nsplit = tc_imin(rows, (WG_MIN_UNITS + wg->base_units - 1) / wg->base_units);
        wg->nsplit = tc_imax(1, tc_imin(wg->nsplit, by_work));
    }
    wg->rows_per_split = (rows + wg->nsplit - 1) / wg->nsplit;
    wg->nsplit = rows ? (rows + wg->rows_per_split - 1) / wg->rows_per_split : 1;
    int64_t part = 0;
    if (wg->nsplit > 1) {
        const int64_t pd[4] = {wg->nsplit, wg->base_units, pb->kh * pb->kw, (int64_t)wg->mr * wg->nr};
        if (!tc_numel(pd, 4, &part) || !tc_float_bytes(part, &wg->part_bytes))
            return tc_fail(TCONV_ERROR_OVERFLOW, "the weight pass's partial sums do not fit");
    } else {
        wg->part_bytes = 0;
    }
    const size_t align = 64;
    *ws_bytes = wg->a_bytes + align + wg->b_bytes + align + wg->part_bytes;
    if (*ws_bytes < wg->a_bytes) /* wrapped */
        return tc_fail(TCONV_ERROR_OVERFLOW, "the weight pass's workspace does not fit");
    *path = "wgrad";
    return TCONV_OK;
}

/* ---- packing ---------------------------------------------------------------- */

typedef struct wg_run {
    const tc_wgrad *wg;
    const float *a, *b;
    float *apack, *bpack, *part;
    float *dw, *db;
    int accumulate, db_of_a;
} wg_run;

static tc_strides strides_of(const tc_wgrad *wg, int64_t c, int64_t h, int64_t w) {
    return tc_strides_for(wg->layout, c, h, w);
}

/* A: task = (group, block, image) -> [n][qy][qx][aw] */
static void pack_a(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const tc_strides s = strides_of(wg, pb->ca, pb->ha, pb->wa);
    const int64_t aw = wg->aw, px = pb->ha * pb->wa;
    for (int64_t t = b; t < e; t++) {
        const int64_t n = t % pb->n, blk = t / pb->n; /* blk = g*nab + ablk */
        const int64_t g = blk / wg->nab, c0 = (blk % wg->nab) * aw;
        const int64_t cn = tc_imin(aw, wg->cag - c0);
        float *d = r->apack + blk * wg->a_panel + n * px * aw;
        const float *src = r->a + n * s.n + (g * wg->cag + c0) * s.c;
        for (int64_t y = 0; y < pb->ha; y++)
            for (int64_t x = 0; x < pb->wa; x++) {
                float *dp = d + (y * pb->wa + x) * aw;
                const float *sp = src + y * s.h + x * s.w;
                int64_t c = 0;
                for (; c < cn; c++) dp[c] = sp[c * s.c];
                for (; c < aw; c++) dp[c] = 0.0f;
            }
    }
}

/* B': task = (group, block, image) -> per image (ry, rx): [n][i][j][bw] */
static void pack_b(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const tc_strides s = strides_of(wg, pb->cb, pb->hb, pb->wb);
    const int64_t bw = wg->bw;
    for (int64_t t = b; t < e; t++) {
        const int64_t n = t % pb->n, blk = t / pb->n;
        const int64_t g = blk / wg->nbb, c0 = (blk % wg->nbb) * bw;
        const int64_t cn = tc_imin(bw, wg->cbg - c0);
        const float *src = r->b + n * s.n + (g * wg->cbg + c0) * s.c;
        float *panel = r->bpack + blk * wg->b_panel;
        for (int64_t iy = 0; iy < wg->nry; iy++)
            for (int64_t ix = 0; ix < wg->nrx; ix++) {
                const int64_t h = wg->img_h[iy], w = wg->img_w[ix];
                float *d = panel + (wg->img_off[iy * wg->nrx + ix] * pb->n + n * h * w) * bw;
                for (int64_t i = 0; i < h; i++) {
                    const int64_t yy = tc_pad_index(pb->pmode, wg->res_y[iy] + pb->sh * i - pb->ppt,
                                                    pb->hb);
                    for (int64_t j = 0; j < w; j++) {
                        const int64_t xx = tc_pad_index(
                            pb->pmode, wg->res_x[ix] + pb->sw * j - pb->ppl, pb->wb);
                        float *dp = d + (i * w + j) * bw;
                        int64_t c = 0;
                        if (yy >= 0 && xx >= 0) {
                            const float *sp = src + yy * s.h + xx * s.w;
                            for (; c < cn; c++) dp[c] = sp[c * s.c];
                        }
                        for (; c < bw; c++) dp[c] = 0.0f;
                    }
                }
            }
    }
}

/* ---- units ------------------------------------------------------------------ */

/* Writes the sums of tap t ([MR][NR]: S rows by L lanes) of unit (g, ablk,
 * bblk) to dw, through accumulate. */
static void store_sums(const wg_run *r, int64_t g, int64_t ablk, int64_t bblk, int64_t tap,
                       const float *sum) {
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t kk = pb->kh * pb->kw;
    for (int64_t m = 0; m < wg->mr; m++)
        for (int64_t j = 0; j < wg->nr; j++) {
            const int64_t ai = ablk * wg->aw + (wg->a_lanes ? j : m);
            const int64_t bi = bblk * wg->bw + (wg->a_lanes ? m : j);
            if (ai >= wg->cag || bi >= wg->cbg) continue;
            float *d = r->dw + ((g * wg->cag + ai) * wg->cbg + bi) * kk + tap;
            const float v = sum[m * wg->nr + j];
            *d = r->accumulate ? *d + v : v;
        }
}

static void unit_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t kk = pb->kh * pb->kw, tile = (int64_t)wg->mr * wg->nr;
    const int64_t rows = pb->n * pb->ha;
    const tc_wgrad_kernel kern = wg->ks->wgrad[wg->nrv - 1];
    float sums[WG_TAPS * TC_WG_TILE_MAX] __attribute__((aligned(64)));
    for (int64_t u = b; u < e; u++) {
        const int64_t split = u % wg->nsplit, bu = u / wg->nsplit;
        const int64_t bblk = bu % wg->nbb, ablk = bu / wg->nbb % wg->nab,
                      g = bu / wg->nbb / wg->nab;
        const float *ap = r->apack + (g * wg->nab + ablk) * wg->a_panel;
        const float *bp = r->bpack + (g * wg->nbb + bblk) * wg->b_panel;
        const int64_t r0 = split * wg->rows_per_split, r1 = tc_imin(rows, r0 + wg->rows_per_split);
        for (int64_t t0 = 0; t0 < kk; t0 += WG_TAPS) {
            const int64_t nt = tc_imin(WG_TAPS, kk - t0);
            uint32_t started = 0;
            /* chunks of rows within one image */
            for (int64_t q = r0; q < r1;) {
                const int64_t n = q / pb->ha, qy0 = q % pb->ha;
                const int64_t qy1 = tc_imin(pb->ha, tc_imin(qy0 + wg->row_chunk, qy0 + (r1 - q)));
                for (int64_t ti = 0; ti < nt; ti++) {
                    const int64_t tap = t0 + ti, ky = tap / pb->kw, kx = tap % pb->kw;
                    const int64_t iy = wg->ky_r[ky], cy = wg->ky_c[ky];
                    const int64_t ix = wg->kx_r[kx], cx = wg->kx_c[kx];
                    const int64_t ih = wg->img_h[iy], iw = wg->img_w[ix];
                    /* rows with 0 <= qy + cy < ih, columns likewise */
                    const int64_t ya = tc_imax(qy0, -cy), yb = tc_imin(qy1, ih - cy);
                    const int64_t xa = tc_imax(0, -cx), xb = tc_imin(pb->wa, iw - cx);
                    if (ya >= yb || xa >= xb) continue;
                    const float *img = bp + (wg->img_off[iy * wg->nrx + ix] * pb->n + n * ih * iw) * wg->bw;
                    const float *pa = ap + ((n * pb->ha + ya) * pb->wa + xa) * wg->aw;
                    const float *pbb = img + ((ya + cy) * iw + xa + cx) * wg->bw;
                    tc_wgrad_tile t;
                    t.s = wg->a_lanes ? pbb : pa;
                    t.l = wg->a_lanes ? pa : pbb;
                    t.s_rs = wg->a_lanes ? iw * wg->bw : pb->wa * wg->aw;
                    t.l_rs = wg->a_lanes ? pb->wa * wg->aw : iw * wg->bw;
                    t.nrows = yb - ya;
                    t.ncols = xb - xa;
                    t.out = sums + ti * tile;
                    t.init = (started >> ti) & 1 ? t.out : NULL;
                    kern(&t);
                    started |= (uint32_t)1 << ti;
                }
                q += qy1 - qy0;
            }
            for (int64_t ti = 0; ti < nt; ti++) {
                float *s = sums + ti * tile;
                if (!((started >> ti) & 1)) memset(s, 0, (size_t)tile * sizeof(float));
                if (wg->nsplit > 1)
                    memcpy(r->part + ((split * wg->base_units + bu) * kk + t0 + ti) * tile, s,
                           (size_t)tile * sizeof(float));
                else
                    store_sums(r, g, ablk, bblk, t0 + ti, s);
            }
        }
    }
}

/* The splits' partial sums, added in split order: task = base unit. */
static void reduce_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t kk = pb->kh * pb->kw, tile = (int64_t)wg->mr * wg->nr;
    float sum[TC_WG_TILE_MAX] __attribute__((aligned(64)));
    for (int64_t bu = b; bu < e; bu++) {
        const int64_t bblk = bu % wg->nbb, ablk = bu / wg->nbb % wg->nab,
                      g = bu / wg->nbb / wg->nab;
        for (int64_t tap = 0; tap < kk; tap++) {
            memcpy(sum, r->part + (bu * kk + tap) * tile, (size_t)tile * sizeof(float));
            for (int64_t sp = 1; sp < wg->nsplit; sp++) {
                const float *p = r->part + ((sp * wg->base_units + bu) * kk + tap) * tile;
                for (int64_t i = 0; i < tile; i++) sum[i] += p[i];
            }
            store_sums(r, g, ablk, bblk, tap, sum);
        }
    }
}

/* db: channel sums of the operand that is dy, in double; task = channel. */
static void bias_worker(void *ctx, int64_t b, int64_t e) {
    const wg_run *r = ctx;
    const tc_wgrad *wg = r->wg;
    const tc_wgrad_problem *pb = &wg->pb;
    const int64_t C = r->db_of_a ? pb->ca : pb->cb, H = r->db_of_a ? pb->ha : pb->hb,
                  W = r->db_of_a ? pb->wa : pb->wb;
    const float *src = r->db_of_a ? r->a : r->b;
    const tc_strides s = strides_of(wg, C, H, W);
    for (int64_t c = b; c < e; c++) {
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

void tc_wgrad_run(const tc_wgrad *wg, const float *a, const float *b, float *dw, float *db,
                  int db_of_a, void *ws, int nthreads, int accumulate) {
    const tc_wgrad_problem *pb = &wg->pb;
    uintptr_t p = ((uintptr_t)ws + 63) & ~(uintptr_t)63;
    float *apack = (float *)p;
    p = ((uintptr_t)apack + wg->a_bytes + 63) & ~(uintptr_t)63;
    float *bpack = (float *)p;
    float *part = (float *)((uintptr_t)bpack + wg->b_bytes);
    wg_run r = {wg, a, b, apack, bpack, part, dw, db, accumulate, db_of_a};
    const double flops = 2.0 * pb->n * pb->ha * pb->wa * wg->cag * wg->cbg * pb->groups *
                         pb->kh * pb->kw;
    int nt = nthreads;
    if (nt > 1 && flops / 2e6 < nt) nt = flops < 2e6 ? 1 : (int)(flops / 2e6);
    if (nt < 1) nt = 1;
    if (db) {
        const int64_t C = db_of_a ? pb->ca : pb->cb;
        tc_parallel_for(nt, C, bias_worker, &r);
    }
    if (!dw) return;
    tc_parallel_for(nt, pb->groups * wg->nab * pb->n, pack_a, &r);
    tc_parallel_for(nt, pb->groups * wg->nbb * pb->n, pack_b, &r);
    tc_parallel_for(nt, wg->base_units * wg->nsplit, unit_worker, &r);
    if (wg->nsplit > 1) tc_parallel_for(nt, wg->base_units, reduce_worker, &r);
}
