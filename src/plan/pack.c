/* pack.c -- weights in the order each path's micro-kernels read them, and
 * the tile shape that decides that order.  The source is always a
 * transposed convolution's weight, (Cin, Cout/g, kh, kw). */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

/* Relative speed of a tile shape.  Each input load (from L2 or beyond)
 * feeds MR FMAs and each weight broadcast (from L1) NV FMAs; fewer than 8
 * accumulators cannot hide the FMA latency.  Weights fitted to timings on
 * Zen 5 (a tile with one vector and more than 16 accumulators ran slow). */
static double tile_eff(int nv, int mr) {
    const double acc = nv * mr;
    double e = acc >= 8 ? 1.0 : acc / 8;
    return e / (1.0 + 4.0 / mr + 1.0 / nv);
}

/* Depthwise tiles: every product needs its own load, so the tile shape
 * only spreads the per-tap work (NV masks, MR broadcasts) over NV x MR
 * products and keeps at least 8 accumulators for the FMA latency. */
static double dw_tile_eff(int nv, int mr) {
    const double acc = nv * mr;
    return (acc >= 8 ? 1.0 : acc / 8) * acc / (acc + nv + mr);
}

void tc_choose_tile(const tc_kernel_set *ks, int dw, int64_t cog, int64_t nvec, int *nv_out,
                    int *mr_out) {
    double best = -1;
    int bnv = 1, bmr = 1;
    const int mrmax = dw ? TC_DW_MR_MAX : TC_MR_MAX;
    for (int nv = 1; nv <= TC_NV_MAX && nv <= (nvec > 0 ? nvec : 1); nv++)
        for (int mr = 1; mr <= mrmax && mr <= cog && nv * mr <= ks->acc_cap; mr++) {
            const tc_phase_kernel k = dw ? ks->phase_dw[nv - 1][mr - 1] : ks->phase[nv - 1][mr - 1];
            if (!k || (nv == 1 && mr > 16)) continue;
            /* more than 4 vectors only with registers for them (AVX-512) */
            if (nv > 4 && ks->acc_cap < 24) continue;
            const int64_t full = cog / mr, rem = cog % mr;
            const double e = dw ? dw_tile_eff(nv, mr) : tile_eff(nv, mr);
            double t = (double)full * mr / e;
            if (rem) t += (double)rem / (dw ? dw_tile_eff(nv, (int)rem) : tile_eff(nv, (int)rem));
            const double sc = (double)cog / t;
            if (sc > best + 1e-9) {
                best = sc;
                bnv = nv;
                bmr = mr;
            }
        }
    *nv_out = bnv;
    *mr_out = bmr;
}

/* Packing runs over (group, channel block) tasks on the pool: each task
 * writes its block tap by tap for chunks of 16 input channels, whose
 * source (per input channel the block's output channels x kh*kw taps,
 * contiguous) stays in L1/L2 while every tap reads it. */
typedef struct pack_ctx {
    tc_plan *pl;
    float *dst;
    int width;  /* channels per block (MR or NR) */
    int padded; /* blocks zero-padded to width (cil), else the last one narrower */
} pack_ctx;

static void pack_blocks(void *ctx, int64_t b, int64_t e) {
    const pack_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const int64_t cig = pl->cig, kk = pl->kk, W = c->width;
    const int64_t cog = c->padded ? pl->cog : tc_pcog(pl);
    const int64_t nob = (cog + W - 1) / W;
    for (int64_t task = b; task < e; task++) {
        const int64_t g = task / nob, o0 = task % nob * W;
        const int64_t n = tc_imin(W, cog - o0), bw = c->padded ? W : n;
        float *dst = c->dst + (g * (c->padded ? nob * W : cog) + o0) * cig * kk;
        /* per input channel, its n x kk weights (channel-major, kk apart) to
         * kk rows of n channels, cig*bw apart: 8 x 8 register transposes */
        for (int64_t ic = 0; ic < cig; ic++) {
            float *d = dst + ic * bw;
            pl->ks->pack_cols(d, cig * bw, pl->wsrc + ((g * cig + ic) * cog + o0) * kk, kk, 1, kk, n);
            if (bw > n)
                for (int64_t t = 0; t < kk; t++)
                    memset(d + t * cig * bw + n, 0, (size_t)(bw - n) * sizeof(float));
        }
    }
}

/* phase path: w -> [g][ocb][ky][kx][ic][MRb] (the last block MRb < MR
 * wide); depthwise as one group (tc_pgroups, tc_pcog). */
int tc_pack_phase(tc_plan *pl, int mr) {
    float *pk = malloc((size_t)(pl->groups * pl->cig * pl->cog * pl->kk) * sizeof(float) + 64);
    if (!pk) return 0;
    free(pl->wpack);
    pl->wpack = pk;
    pl->mr = mr;
    pack_ctx c = {pl, pk, mr, 0};
    tc_parallel_for(pl->nthreads, tc_pgroups(pl) * ((tc_pcog(pl) + mr - 1) / mr), pack_blocks, &c);
    return 1;
}


/* The dense-layer GEMM: per group, a (cig*H*W x cog*Hout*Wout) matrix
 * whose rows are the group's input elements in memory order ((ic, pixel)
 * for NCHW, (pixel, ic) for NHWC) and whose columns are the output's
 * ((oc, pixel) for NCHW, (pixel, oc) for NHWC): in blocks of GN columns,
 * [g][cb][row][GN], zero past the last column; or, for the dot kernels (a
 * few columns), each column's rows contiguous, [g][col][row].  The bias
 * likewise per column. */
typedef struct gemm_fill_ctx {
    const tc_plan *pl;
    float *pk;
} gemm_fill_ctx;

/* task = (group, input channel): its rows of the panel in every column */
static void gemm_fill_rows(void *ctx, int64_t b, int64_t e) {
    const gemm_fill_ctx *c = ctx;
    const tc_plan *pl = c->pl;
    const int GN = pl->ks->gemm_nv * pl->ks->vl;
    const int64_t cig = pl->cig, ncol = pl->g_cols, ihw = pl->g_ih * pl->g_iw, k = cig * ihw;
    for (int64_t task = b; task < e; task++) {
        const int64_t gi = task / cig, ic = task % cig;
        const float *wrow = pl->wsrc + (gi * cig + ic) * pl->cog * pl->kk;
        for (int64_t pix = 0; pix < ihw; pix++) {
            const int64_t row = pl->g_nhwc ? pix * cig + ic : ic * ihw + pix;
            const int64_t *src = pl->g_src + pix * ncol;
            if (pl->g_dot) {
                for (int64_t col = 0; col < ncol; col++)
                    c->pk[(gi * ncol + col) * k + row] = src[col] < 0 ? 0.0f : wrow[src[col]];
                continue;
            }
            for (int64_t c0 = 0; c0 < ncol; c0 += GN) { /* block c0 / GN, row `row` */
                float *d = c->pk + (gi * ncol + c0) * k + row * GN;
                for (int j = 0; j < GN; j++) d[j] = src[c0 + j] < 0 ? 0.0f : wrow[src[c0 + j]];
            }
        }
    }
}

/* The gemm panel for the plan's sizes and layout (pl->g_src) into
 * pl->gpack and its per-column bias into pl->gbias. */
static void fill_gemm(tc_plan *pl) {
    const int64_t cog = pl->cog, nc = cog * pl->g_h * pl->g_w, hw = pl->g_h * pl->g_w;
    for (int64_t gi = 0; gi < pl->groups; gi++)
        for (int64_t col = 0; col < pl->g_cols; col++) {
            const int64_t ocg = pl->g_nhwc ? col % cog : col / hw;
            pl->gbias[gi * pl->g_cols + col] = col < nc ? pl->bias[gi * cog + ocg] : 0.0f;
        }
    gemm_fill_ctx c = {pl, pl->gpack};
    tc_parallel_for(pl->nthreads, pl->groups * pl->cig, gemm_fill_rows, &c);
}

/* Where each (input pixel, column) entry of the panel takes its weight:
 * src[pix][col] = oc*kk + tap in a weight row, -1 past the last column;
 * columns in output memory order.  Input pixel (iy, ix) reaches output
 * pixel (oy, ox) through ky = (oy + ph - iy*sh) / dh (dense_layer in
 * plan.c has checked that it is a kernel row), likewise kx. */
static void gemm_columns(const tc_plan *pl, int64_t *src, int64_t ncols) {
    const tc_geom *g = &pl->pb.g;
    const int64_t cog = pl->cog, hw = g->h_out * g->w_out, nc = cog * hw;
    for (int64_t pix = 0; pix < g->h_in * g->w_in; pix++) {
        const int64_t iy = pix / g->w_in, ix = pix % g->w_in;
        for (int64_t col = 0; col < ncols; col++) {
            int64_t *s = src + pix * ncols + col;
            *s = -1;
            if (col >= nc) continue;
            const int64_t ocg = pl->g_nhwc ? col % cog : col / hw;
            const int64_t opix = pl->g_nhwc ? col / cog : col % hw;
            const int64_t ty = opix / g->w_out + g->ph - iy * g->sh;
            const int64_t tx = opix % g->w_out + g->pw - ix * g->sw;
            if (ty < 0 || tx < 0 || ty % g->dh || tx % g->dw) continue;
            const int64_t ky = ty / g->dh, kx = tx / g->dw;
            if (ky < g->kh && kx < g->kw) *s = ocg * pl->kk + ky * g->kw + kx;
        }
    }
}

tconv_status tc_pack_gemm(tc_plan *pl) {
    const tc_geom *g = &pl->pb.g;
    const int nhwc = pl->layout == TCONV_LAYOUT_NHWC;
    if (pl->gpack && pl->g_h == g->h_out && pl->g_w == g->w_out && pl->g_ih == g->h_in &&
        pl->g_iw == g->w_in && pl->g_nhwc == nhwc)
        return TCONV_OK;
    const int GN = pl->ks->gemm_nv * pl->ks->vl;
    /* H*W*Hout*Wout <= kk (dense_layer): these products stay within the weights' size */
    const int64_t ihw = g->h_in * g->w_in, nc = pl->cog * g->h_out * g->w_out;
    /* a quarter of the GEMM's lanes or fewer in use, and rows enough to
     * fill vectors: the dot kernels, the rows in the lanes */
    const int dot = pl->ks->dot[0][0] && nc * 4 <= GN && pl->cig * ihw >= pl->ks->vl;
    const int64_t ncol = dot ? nc : (nc + GN - 1) / GN * GN;
    int64_t numel;
    if (tc_mul_overflow(g->groups * ncol, pl->cig * ihw, &numel) || numel > (int64_t)1 << 40)
        return tc_fail(TCONV_ERROR_OVERFLOW, "gemm weights of a dense layer do not fit");
    float *pk = malloc(((size_t)numel + 1) * sizeof(float));
    float *bi = malloc((size_t)(g->groups * ncol) * sizeof(float) + 1);
    int64_t *src = malloc((size_t)(ihw * ncol) * sizeof(int64_t));
    if (!pk || !bi || !src) {
        free(pk);
        free(bi);
        free(src);
        return tc_plan_oom();
    }
    free(pl->gpack);
    free(pl->gbias);
    free(pl->g_src);
    pl->gpack = pk;
    pl->gbias = bi;
    pl->g_src = src;
    pl->g_h = g->h_out;
    pl->g_w = g->w_out;
    pl->g_ih = g->h_in;
    pl->g_iw = g->w_in;
    pl->g_nhwc = nhwc;
    pl->g_dot = dot;
    pl->g_cols = ncol;
    pl->g_numel = numel;
    gemm_columns(pl, src, ncol);
    fill_gemm(pl);
    return TCONV_OK;
}

/* channels in lanes: w -> [g][ocb][ky][kx][ic][NR], zero-padded to NR, and
 * the bias likewise, into the plan's buffers. */
static void fill_cil(tc_plan *pl) {
    const int NR = pl->c_pack_nr;
    const int64_t G = pl->groups, cog = pl->cog, nocb = pl->c_nocb;
    pack_ctx c = {pl, pl->cpack, NR, 1};
    tc_parallel_for(pl->nthreads, G * nocb, pack_blocks, &c);
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t oc = 0; oc < cog; oc++)
            pl->cbias[(gi * nocb + oc / NR) * NR + oc % NR] = pl->bias[gi * cog + oc];
}

tconv_status tc_pack_cil(tc_plan *pl) {
    const int NR = pl->c_fam->nr;
    if (pl->cpack && pl->c_pack_nr == NR) return TCONV_OK;
    free(pl->cpack); /* packed for the other family */
    free(pl->cbias);
    pl->cpack = pl->cbias = NULL;
    const int64_t G = pl->groups, cig = pl->cig, cog = pl->cog, kk = pl->kk;
    const int64_t nocb = (cog + NR - 1) / NR;
    float *pk = malloc((size_t)(G * nocb * kk * cig * NR) * sizeof(float) + 4);
    float *bi = calloc((size_t)(G * nocb * NR), sizeof(float));
    if (!pk || !bi) {
        free(pk);
        free(bi);
        return tc_plan_oom();
    }
    pl->cpack = pk;
    pl->cbias = bi;
    pl->c_nocb = nocb;
    pl->c_pack_nr = NR;
    fill_cil(pl);
    return TCONV_OK;
}

/* U[xi][cb][ci][GN] from the plan's weights (ct layout (cin, cout, 3, 3):
 * the correlation kernel is g[a][b] = w[ci][co][2-a][2-b]); task = ci */
typedef struct wu_ctx {
    tc_plan *pl;
} wu_ctx;

static void fill_u_worker(void *ctx, int64_t b, int64_t e) {
    tc_plan *pl = ((wu_ctx *)ctx)->pl;
    const int GN = pl->wn_gn;
    const int64_t cig = pl->cig, cog = pl->cog, ncb = pl->u_ncb;
    for (int64_t ci = b; ci < e; ci++)
        for (int64_t co = 0; co < ncb * GN; co++) {
            float u[16] = {0};
            if (co < cog) {
                const float *w = pl->wsrc + (ci * cog + co) * 9;
                float g[3][3], t[4][3];
                for (int a = 0; a < 3; a++)
                    for (int c = 0; c < 3; c++) g[a][c] = w[(2 - a) * 3 + (2 - c)];
                for (int c = 0; c < 3; c++) { /* t = G g */
                    t[0][c] = g[0][c];
                    t[1][c] = 0.5f * (g[0][c] + g[1][c] + g[2][c]);
                    t[2][c] = 0.5f * (g[0][c] - g[1][c] + g[2][c]);
                    t[3][c] = g[2][c];
                }
                for (int i = 0; i < 4; i++) { /* u = t G^T */
                    u[4 * i + 0] = t[i][0];
                    u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                    u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                    u[4 * i + 3] = t[i][2];
                }
            }
            for (int xi = 0; xi < 16; xi++)
                pl->upack[((xi * ncb + co / GN) * cig + ci) * GN + co % GN] = u[xi];
        }
}

void tc_fill_winograd(tc_plan *pl) {
    wu_ctx c = {pl};
    tc_parallel_for(pl->nthreads, pl->cig, fill_u_worker, &c);
}

void tc_repack(tc_plan *pl) {
    if (pl->wpack) {
        pack_ctx c = {pl, pl->wpack, pl->mr, 0};
        tc_parallel_for(pl->nthreads, tc_pgroups(pl) * ((tc_pcog(pl) + pl->mr - 1) / pl->mr),
                        pack_blocks, &c);
    }
    if (pl->cpack) fill_cil(pl);
    if (pl->gpack) fill_gemm(pl);
    if (pl->upack) tc_fill_winograd(pl);
}

typedef struct flip_ctx {
    const float *w;
    float *out;
    int64_t cig, cog, kk;
} flip_ctx;

/* task = (group, output channel): its Cin/g kernels, each reversed */
static void flip_worker(void *ctx, int64_t b, int64_t e) {
    const flip_ctx *c = ctx;
    for (int64_t task = b; task < e; task++) {
        const int64_t gi = task / c->cog, co = task % c->cog;
        for (int64_t ci = 0; ci < c->cig; ci++) {
            const float *src = c->w + ((gi * c->cog + co) * c->cig + ci) * c->kk;
            float *dst = c->out + ((gi * c->cig + ci) * c->cog + co) * c->kk;
            for (int64_t t = 0; t < c->kk; t++) dst[c->kk - 1 - t] = src[t];
        }
    }
}

void tc_flip_swap_weights(const float *w, int64_t cout, int64_t cin, int64_t groups, int64_t kh,
                          int64_t kw, float *out, int nthreads) {
    /* w: (Cout, Cin/g, kh, kw) -> out: (Cin, Cout/g, kh, kw), each kernel reversed */
    flip_ctx c = {w, out, cin / groups, cout / groups, kh * kw};
    tc_parallel_for(nthreads, cout, flip_worker, &c);
}
