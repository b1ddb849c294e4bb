/* winograd.c -- Winograd's F(2x2, 3x3) for 3x3 stride-1 layers (a 3x3
 * convolution is one: tc_lower_convolution makes it a stride-1
 * transposed convolution with the kernel flipped back, which this path
 * flips again).  Each 2x2 output tile of each image is
 *   Y = A^T [ sum over ci of U[co, ci] (.) V[ci] ] A,
 *   U = G g G^T (g: the 3x3 correlation kernel), V = B^T d B (d: the
 * tile's 4x4 input patch),
 * so the 9 products per output pixel and channel pair of the direct
 * path become 4: 16 GEMMs M[xi] (tiles x cout) = V[xi] (tiles x cin) *
 * U[xi] (cin x cout) on the GEMM kernels, between two transforms
 * (kernels/wino.inc).  Its error is that of the transforms' adds, a few
 * times the direct path's (tested within the same bound).
 *
 * The input is first copied channels-last (and scanned); tiles are taken
 * in blocks whose V and M stay in L2, a block being one task in a
 * workspace slot of its own; the outputs land channels-last and move to y
 * by transposes.  An image holding a non-finite value is computed
 * directly (the transforms would spread an inf to its whole tile as NaN
 * where the direct sum has inf). */
#include "plan_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WN_BLOCK_FLOATS ((int64_t)1 << 18) /* floats of a block's V and M */
#define WN_SLOTS 16                        /* workspace slots: threads at most */
#define WN_MIN_BLOCKS 4                    /* blocks a layer is cut into where it can be */

/* The workspace: the input channels-last (whole batch), a flag per image
 * (a non-finite input value), the outputs channels-last on the tile grid
 * (2*wn_th x 2*wn_tw per image), then wn_slots slots of V, M and a row of
 * zeros, all 16-float aligned. */
typedef struct wn_ws {
    float *xt, *stage, *slots;
    atomic_int *bad;
} wn_ws;

static int64_t up16(int64_t n) { return (n + 15) / 16 * 16; }

/* The parts' offsets in floats (off[0] xt, off[1] bad, off[2] stage,
 * off[3] slots) from a 64-byte aligned base; returns the floats in all.
 * Each part is at most a few times the input or the output, which exist. */
static int64_t ws_layout(const tc_plan *pl, int64_t off[4]) {
    const tc_geom *g = &pl->pb.g;
    off[0] = 0;
    off[1] = off[0] + up16(g->n * g->c_in * g->h_in * g->w_in);
    off[2] = off[1] + up16(g->n);
    off[3] = off[2] + up16(g->n * 4 * pl->wn_th * pl->wn_tw * pl->cog);
    return off[3] + pl->wn_slots * pl->wn_slot_floats;
}

static wn_ws ws_parts(const tc_plan *pl, void *ws) {
    float *p = (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
    int64_t off[4];
    ws_layout(pl, off);
    return (wn_ws){p + off[0], p + off[2], p + off[3], (atomic_int *)(p + off[1])};
}

/* The 16 GEMMs' tiles: the GEMM family's (rows of *mr tiles by *gn
 * channels), or with *cil the channels-in-lanes family's; returns whether
 * the columns computed are at least 3/4 used. */
static int wino_shape(const tc_plan *pl, int *cil, int *gn, int *mr) {
    const tc_kernel_set *ks = pl->ks;
    const int64_t VL = ks->vl;
    /* a block of channels in lanes with its vectors all (nearly) used, on
     * kernels with more rows than the GEMM's (AVX-512's 12 x 32 against
     * 6 x 64): a part block ran slower than the direct path (64 -> 24 and
     * 32 -> 16 on 32 x 32: 0.267 against 0.254 ms, 0.104 against 0.092),
     * and AVX2's 4 x 24 slower than its GEMM (64 -> 24: 0.256 against 0.239) */
    const tc_cil_family *f = &ks->cil;
    *cil = f->k[0] && f->mr <= TC_CIL_MAX_MR && f->mr > ks->gemm_mr && pl->cog <= f->nr &&
           2 * pl->cog > 2 * f->nr - VL;
    *gn = *cil ? f->nr : ks->gemm_nv * ks->vl;
    *mr = *cil ? f->mr : ks->gemm_mr;
    /* channels in lanes compute whole vectors, the GEMM whole blocks */
    const int64_t unit = *cil ? VL : *gn;
    return 4 * pl->cog >= 3 * ((pl->cog + unit - 1) / unit * unit);
}

int tc_wino_fits(const tc_plan *pl) {
    int cil, gn, mr;
    return wino_shape(pl, &cil, &gn, &mr);
}

tconv_status tc_plan_winograd(tc_plan *pl, size_t *ws_bytes) {
    const tc_geom *g = &pl->pb.g;
    wino_shape(pl, &pl->wn_cil, &pl->wn_gn, &pl->wn_mr);
    const int GN = pl->wn_gn;
    if (!pl->upack) {
        const int64_t ncb = (pl->cog + GN - 1) / GN;
        pl->upack = malloc((size_t)(16 * ncb * pl->cig * GN) * sizeof(float));
        if (!pl->upack) return tc_plan_oom();
        pl->u_ncb = ncb;
        tc_fill_winograd(pl);
    }
    pl->path = PATH_WINO;
    pl->wn_th = (g->h_out + 1) / 2;
    pl->wn_tw = (g->w_out + 1) / 2;
    pl->wn_tiles = g->n * pl->wn_th * pl->wn_tw; /* <= the output's pixels */
    /* a slot: V and M of a block of tiles, and a row of zeros */
    const int64_t per_tile = 16 * (pl->cig + pl->cog);
    /* blocks within L2, and at least WN_MIN_BLOCKS of them where the tiles
     * allow (the threads share out blocks), in whole GEMM row blocks */
    const int64_t MR = pl->wn_mr;
    const int64_t by_l2 = WN_BLOCK_FLOATS / per_tile;
    const int64_t by_share = (pl->wn_tiles + WN_MIN_BLOCKS - 1) / WN_MIN_BLOCKS;
    pl->wn_tb = tc_imax(MR, (tc_imin(by_l2, by_share) + MR - 1) / MR * MR);
    pl->wn_nblk = (pl->wn_tiles + pl->wn_tb - 1) / pl->wn_tb;
    pl->wn_slots = (int)tc_imin(pl->wn_nblk, WN_SLOTS);
    pl->wn_slot_floats = up16(pl->wn_tb * per_tile + pl->cig);
    pl->units = pl->wn_nblk;
    int64_t off[4];
    if (!tc_float_bytes(ws_layout(pl, off) + 16, ws_bytes)) /* + 16: the base's alignment */
        return tc_fail(TCONV_ERROR_OVERFLOW, "the Winograd workspace does not fit");
    return TCONV_OK;
}

typedef struct wn_run {
    run_ctx *c;
    wn_ws w;
} wn_run;

/* tile tt of the batch: image *n, tile row *ty, tile column *tx */
static void tile_at(const tc_plan *pl, int64_t tt, int64_t *n, int64_t *ty, int64_t *tx) {
    *tx = tt % pl->wn_tw;
    *ty = tt / pl->wn_tw % pl->wn_th;
    *n = tt / pl->wn_tw / pl->wn_th;
}

/* image n's tiles go the direct way: it holds an inf or NaN, or new
 * weights since the reshape are not all finite */
static int direct_image(const wn_run *r, int64_t n) {
    return !r->c->pl->w_finite || atomic_load_explicit(&r->w.bad[n], memory_order_relaxed);
}

/* Pixels per task of the channels-last transform: one image's transform
 * was one thread's while the other waited (at 2 threads, 3x3 Conv2d 64 ->
 * 64 on 64 x 64 0.816 -> 0.787 ms, 64 -> 32 on 32 x 32 0.139 -> 0.130). */
#define WN_NHWC_PX 256

static int64_t nhwc_chunks(const tc_geom *g) {
    return tc_imax(1, g->h_in * g->w_in / WN_NHWC_PX);
}

/* Image n channels-last, and whether it holds an inf or NaN (bad[n], set
 * by any of its tasks); task = (image n, chunk of its pixels). */
static void nhwc_worker(void *ctx, int64_t b, int64_t e) {
    const wn_run *r = ctx;
    const tc_plan *pl = r->c->pl;
    const tc_geom *g = &pl->pb.g;
    const int64_t C = g->c_in, HW = g->h_in * g->w_in, nch = nhwc_chunks(g);
    const int64_t per = (HW + nch - 1) / nch;
    for (int64_t u = b; u < e; u++) {
        const int64_t n = u / nch, p0 = u % nch * per, np = tc_imin(per, HW - p0);
        float *d = r->w.xt + (n * HW + p0) * C;
        pl->ks->pack_cols(d, C, r->c->x + n * C * HW + p0, HW, 1, np, C);
        if (!atomic_load_explicit(&r->w.bad[n], memory_order_relaxed) &&
            tc_any_nonfinite(d, np * C))
            atomic_store_explicit(&r->w.bad[n], 1, memory_order_relaxed);
    }
}

/* Tiles [t0, t0 + nt) directly into the stage: bias + the sum over ci and
 * the 3x3 window of x * g, for the tiles of an image holding an inf or NaN
 * (its products then propagate as the reference's), or after new weights
 * that are not all finite. */
static void tiles_direct(const wn_run *r, int64_t t0, int64_t nt) {
    const tc_plan *pl = r->c->pl;
    const tc_geom *g = &pl->pb.g;
    const int64_t cig = pl->cig, cog = pl->cog, H = g->h_in, W = g->w_in;
    const int64_t P = 2 - g->ph, Q = 2 - g->pw; /* input row of output row o, tap a: o - P + a */
    const int64_t sw = 2 * pl->wn_tw, simg = 4 * pl->wn_th * pl->wn_tw * cog;
    for (int64_t t = 0; t < nt; t++) {
        int64_t n, ty, tx;
        tile_at(pl, t0 + t, &n, &ty, &tx);
        for (int k = 0; k < 4; k++) {
            const int64_t oy = 2 * ty + k / 2, ox = 2 * tx + k % 2;
            float *o = r->w.stage + n * simg + (oy * sw + ox) * cog;
            for (int64_t co = 0; co < cog; co++) {
                float s = pl->bias[co];
                for (int64_t ci = 0; ci < cig; ci++) {
                    const float *xp = r->c->x + (n * g->c_in + ci) * H * W;
                    const float *w = pl->wsrc + (ci * cog + co) * 9;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) {
                            const int64_t iy = oy - P + a, ix = ox - Q + b;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += xp[iy * W + ix] * w[(2 - a) * 3 + (2 - b)];
                        }
                }
                o[co] = s;
            }
        }
    }
}

static void run_block(const wn_run *r, int64_t blk, float *slot) {
    const tc_plan *pl = r->c->pl;
    const tc_geom *g = &pl->pb.g;
    const tc_kernel_set *ks = pl->ks;
    const int GN = pl->wn_gn, MR = pl->wn_mr;
    const int64_t cig = pl->cig, cog = pl->cog, H = g->h_in, W = g->w_in, C = g->c_in;
    const int64_t tb = pl->wn_tb, t0 = blk * tb, nt = tc_imin(tb, pl->wn_tiles - t0);
    const int64_t P = 2 - g->ph, Q = 2 - g->pw;
    const int64_t sw = 2 * pl->wn_tw, simg = 4 * pl->wn_th * pl->wn_tw * cog;
    float *V = slot, *M = V + 16 * tb * cig; /* V[xi][t][ci], M[xi][t][co] */
    float *zero = M + 16 * tb * cog;         /* cig zeros: patch pixels outside the input */
    memset(zero, 0, (size_t)cig * sizeof(float));
    /* tiles of images with non-finite values (or all, after non-finite new
     * weights) directly, the rest by the transforms: runs of either kind */
    for (int64_t t = 0; t < nt;) {
        const int64_t n = (t0 + t) / (pl->wn_tw * pl->wn_th);
        const int64_t run = tc_imin(nt - t, (n + 1) * pl->wn_tw * pl->wn_th - (t0 + t));
        if (direct_image(r, n)) tiles_direct(r, t0 + t, run);
        t += run;
    }
    /* the input transform: each patch pixel is a run of channels in xt */
    for (int64_t t = 0; t < nt; t++) {
        int64_t n, ty, tx;
        tile_at(pl, t0 + t, &n, &ty, &tx);
        if (direct_image(r, n)) continue;
        const float *p[16];
        for (int k = 0; k < 16; k++) {
            const int64_t iy = 2 * ty - P + k / 4, ix = 2 * tx - Q + k % 4;
            p[k] = iy < 0 || iy >= H || ix < 0 || ix >= W ? zero
                                                          : r->w.xt + ((n * H + iy) * W + ix) * C;
        }
        ks->wino_in(V + t * cig, tb * cig, p, cig);
    }
    /* the 16 GEMMs, MR tiles x GN channels at a time (rows of direct tiles
     * go through them too and are not used); at most cil_nr channels on
     * the channels-in-lanes kernels (a Zen 4, 1 / 2 threads: Conv2d
     * 64 -> 32 3x3 on 32 x 32 0.345 / 0.207 ms direct, 0.38 on the GEMM's
     * 64-wide blocks half idle, 0.291 / 0.179 on 12 x 32 tiles; 128 -> 32
     * on 16 x 16 0.168 -> 0.118) */
    float out[TC_MR_MAX * 4 * TC_VL_MAX] __attribute__((aligned(64)));
    static const float zeros[4 * TC_VL_MAX];
    for (int xi = 0; xi < 16; xi++)
        for (int64_t r0 = 0; r0 < nt; r0 += MR) {
            const int mr = (int)tc_imin(MR, nt - r0);
            if (pl->wn_cil) { /* one block of at most NR channels: rows as pixels, one tap */
                const float *xp[TC_CIL_MAX_MR];
                for (int m = 0; m < MR; m++) xp[m] = m < mr ? V + (xi * tb + r0 + m) * cig : zero;
                const int64_t woff = 0;
                const tc_cil_tile ct = {xp, 1, &woff, 1, cig, pl->upack + xi * cig * GN, zeros, out,
                                        NULL, 0};
                tc_cil_pick(&ks->cil, cog, mr)(&ct);
                for (int m = 0; m < mr; m++)
                    memcpy(M + (xi * tb + r0 + m) * cog, out + m * GN, (size_t)cog * sizeof(float));
                continue;
            }
            for (int64_t cb = 0; cb < pl->u_ncb; cb++) {
                const tc_gemm_tile gt = {V + (xi * tb + r0) * cig, cig, cig,
                                         pl->upack + (xi * pl->u_ncb + cb) * cig * GN, zeros, out};
                ks->gemm[mr - 1](&gt);
                const int64_t cnt = tc_imin(GN, cog - cb * GN);
                for (int m = 0; m < mr; m++)
                    memcpy(M + (xi * tb + r0 + m) * cog + cb * GN, out + m * GN,
                           (size_t)cnt * sizeof(float));
            }
        }
    /* the output transform, into the stage (channels-last, 2x2 per tile) */
    for (int64_t t = 0; t < nt; t++) {
        int64_t n, ty, tx;
        tile_at(pl, t0 + t, &n, &ty, &tx);
        if (direct_image(r, n)) continue;
        float *o = r->w.stage + n * simg + (2 * ty * sw + 2 * tx) * cog;
        float *const y[4] = {o, o + cog, o + sw * cog, o + (sw + 1) * cog};
        ks->wino_out(y, M + t * cog, tb * cog, pl->bias, cog);
    }
}

static void block_worker(void *ctx, int64_t b, int64_t e) {
    const wn_run *r = ctx;
    const tc_plan *pl = r->c->pl;
    int slot;
    for (;;) { /* a free slot: at most wn_slots workers run */
        uint_fast64_t busy = atomic_load(&r->c->busy);
        slot = __builtin_ctzll(~(unsigned long long)busy);
        if (atomic_compare_exchange_weak(&r->c->busy, &busy, busy | (uint_fast64_t)1 << slot))
            break;
    }
    for (int64_t blk = b; blk < e; blk++) run_block(r, blk, r->w.slots + slot * pl->wn_slot_floats);
    atomic_fetch_and(&r->c->busy, ~((uint_fast64_t)1 << slot));
}

/* The stage into y (NCHW) through the epilogue: task = (image, block of
 * TC_UNSTAGE_CB channels); the stage's rows are 2*wn_tw pixels apart. */
static void unstage_worker(void *ctx, int64_t b, int64_t e) {
    const wn_run *r = ctx;
    const run_ctx *c = r->c;
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    const int64_t cog = pl->cog, ncb = (cog + TC_UNSTAGE_CB - 1) / TC_UNSTAGE_CB;
    const int64_t sw = 2 * pl->wn_tw, simg = 4 * pl->wn_th * pl->wn_tw * cog;
    for (int64_t u = b; u < e; u++) {
        const int64_t n = u / ncb, c0 = u % ncb * TC_UNSTAGE_CB;
        tc_unstage(pl->ks, c->y + n * c->ys.n + c0 * c->ys.c, c->ys.c,
                   r->w.stage + n * simg + c0, cog, tc_imin(TC_UNSTAGE_CB, cog - c0), g->h_out,
                   g->w_out, sw * cog, c->ep);
    }
}

void tc_run_winograd(run_ctx *c, int nt) {
    const tc_plan *pl = c->pl;
    const tc_geom *g = &pl->pb.g;
    wn_run r = {c, ws_parts(pl, c->slots)};
    for (int64_t n = 0; n < g->n; n++) atomic_init(&r.w.bad[n], 0);
    tc_parallel_for(nt, g->n * nhwc_chunks(g), nhwc_worker, &r);
    tc_parallel_for((int)tc_imin(nt, pl->wn_slots), pl->wn_nblk, block_worker, &r);
    tc_parallel_for(nt, g->n * ((pl->cog + TC_UNSTAGE_CB - 1) / TC_UNSTAGE_CB), unstage_worker,
                    &r);
}
