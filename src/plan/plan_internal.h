/* plan_internal.h -- what the files of src/plan share: the plan of a
 * transposed-convolution problem and the pieces each path contributes.
 * Never installed; only src/plan includes it. */
#ifndef TCONV_PLAN_INTERNAL_H
#define TCONV_PLAN_INTERNAL_H

#include "../kernels/kernels.h"
#include "plan.h"

#include <stdatomic.h>

enum { PATH_PHASE = 1, PATH_GEMM = 2, PATH_CIL = 3, PATH_WINO = 4 };

#define TC_CIL_TAPS 64                    /* most taps per phase the channels-in-lanes path takes */
#define TC_CIL_MAX_PX 64                  /* largest phase (pixels) it takes */
#define TC_CIL_ORDER_PX 256 /* largest phase whose positions it orders (uint8) */
#define TC_CIL_L2_WEIGHTS ((int64_t)1 << 20) /* bytes of a phase's weights kept in L2 */
#define TC_CIL_MIN_CIG 8 /* fewest input channels per group: its taps' setup is per channel run */
#define TC_IMAGE_MAX ((int64_t)512 << 10) /* floats of an image run image at a time */
#define TC_STREAM_OUT_BYTES ((double)(2 << 20)) /* outputs this large stored past the caches */
#define TC_WINO_MIN_C 16 /* fewest input and output channels of the Winograd path */
#define TC_S2D_IMAGE_FLOATS 16384 /* an image made channels-last phase images whole (stack) */
#define TC_TAP_TABLE_MAX ((int64_t)4 << 20) /* bytes */

typedef struct phase_grp { /* one (ry, column phase set) */
    int64_t ry, rx;        /* rx: the column phase when SWF == 1 (sw != 2) */
    int64_t hq, wq;        /* phase rows, phase columns (of column phase 0 if SWF == 2) */
    int64_t nvec, nvt, vt_chunk, nchunk;
    int64_t units, first;  /* tiles of this group per (n, g); prefix */
    int64_t vt0;           /* its first vector tile in the tap table */
} phase_grp;

struct tc_plan {
    const tc_kernel_set *ks;
    int nthreads; /* for packing */
    int w_finite; /* no NaN or inf among the weights */
    int64_t groups, cig, cog, kh, kw, kk;
    /* depthwise (cig = cog = 1, groups > 1): the phase path runs it as one
     * group of `groups` output channels, channel m reading input plane m
     * (the weights' memory is that of a one-group layer with one input
     * channel); tc_pgroups / tc_pcog give that view */
    int dw;
    /* weights as a transposed convolution's, (Cin, Cout/g, kh, kw); wown
     * is wsrc when the plan owns them */
    const float *wsrc;
    float *wown;
    float *bias; /* Cout values (+ TC_MR_MAX), zeros when there is none */
    /* phase path: weights packed [g][ocb][ky][kx][ic][MRb] for MR = mr */
    int mr;
    float *wpack;
    /* gemm path (a dense layer): packed for input size (g_ih, g_iw), output
     * size (g_h, g_w) and layout g_nhwc; g_cols columns per group (the
     * output's, rounded up to GN unless g_dot: the dot kernels) */
    int64_t g_h, g_w, g_ih, g_iw, g_cols, g_numel;
    int g_nhwc, g_dot;
    float *gpack, *gbias;
    int64_t *g_src; /* [input pixel][g_cols]: oc*kk + tap in a weight row, -1: none */
    /* Winograd path (3x3, stride 1): U = G g G^T as [xi][cb][ci][GN]; tiles
     * wn_th x wn_tw per image, wn_tiles in all, blocks of wn_tb in
     * wn_slots workspace slots of wn_slot_floats */
    float *upack;
    int64_t u_ncb, wn_th, wn_tw, wn_tiles, wn_tb, wn_nblk, wn_slot_floats;
    int wn_slots;
    int wn_cil, wn_gn, wn_mr; /* the 16 GEMMs' tiles: family, columns, rows */
    /* channels-in-lanes path: its tile family (c_fam: the kernel set's
     * cil or cil_wide), weights [g][ocb][ky][kx][ic][NR] for NR = c_pack_nr,
     * zero-padded */
    const tc_cil_family *c_fam;
    int c_pack_nr;
    float *cpack, *cbias;
    int64_t c_nocb, c_npb;
    int c_s2d; /* reads the phase images (workspace) */
    /* the images read hold channels innermost (the caller's NHWC input,
     * channels-last phase images, or c_tr); the pixel list then runs over
     * the batch innermost, so that a block's pixels share their position
     * and with it the taps that fall outside the input */
    int c_xnhwc;
    int c_tr; /* copies the caller's NCHW input channels-last (workspace) */
    /* NCHW output: tiles land channels-last in the workspace at float
     * c_stage_off (their pixels would scatter every channel to its own
     * line), then move to y a plane block at a time */
    int c_stage;
    int64_t c_stage_off;
    int c_big;       /* phases past TC_CIL_ORDER_PX (one tap each), in row order */
    int c_nt;        /* an NHWC output of TC_STREAM_OUT_BYTES or more: streamed */
    int c_ocb_inner; /* units (group, phase, pixel block, channel block), else
                        (group, phase, channel block, pixel block) */
    float *c_zero; /* zeros for pixels outside the input: one group's channels */
    int64_t c_nzero;
    /* per phase (ry*sw + rx), its positions in the order the pixel list
     * takes them: those reading the same taps together, most taps first
     * (c_order[phase*TC_CIL_ORDER_PX + i]: the position qy*wq + qx) */
    uint8_t *c_order;
    int64_t c_order_n; /* its bytes */

    /* ---- the last reshape ---- */
    tc_problem pb;
    tconv_layout layout;
    int path, swf, nv, flat, R;
    int xlay; /* kernels read the input as 0: NCHW planes, 1: NHCW rows
                 (workspace) */
    int stream_out; /* whole output lines stored past the caches (phase.c) */
    int64_t ngrp;
    phase_grp *grp;
    int64_t nocb, units_ng, units, nmb;
    double flops;
    /* Tap lists, one per row phase ry: the (ky, cy, plane row) triples at
     * kyc[3*kyo[ry] .. 3*kyo[ry+1]) (likewise columns).  Every kernel row
     * belongs to exactly one phase, so the lists hold kh (kw) triples in
     * all, whatever the stride. */
    int64_t *kyc, *kxc, *kyo, *kxo;
    /* A strided convolution reads its input as ish x isw phase images
     * ("space to depth": image (ry, rx) holds x[ry + ish*i, rx + isw*j]),
     * each xh x xw, zero-padded, in the workspace; 1 x 1 otherwise, the
     * input itself (xh x xw = H x W).  ximg: floats per image of the
     * buffer the kernels read.  With a padding mode (pmode) the phase
     * images are those of the padded input (F.pad's, pads ppt/ppb/ppl/ppr),
     * which the convolution then reads without padding. */
    int64_t ish, isw, xh, xw, ximg;
    int pmode;
    int64_t ppt, ppb, ppl, ppr;
    /* Tap table of the phase path: the taps of vector tile vt (numbered
     * across groups), column phase p, are taps[tap_off[vt*SWF + p] ..
     * tap_off[vt*SWF + p + 1]).  NULL where it would be large: the tiles
     * then build their lists as they run. */
    tc_tap *taps;
    int64_t *tap_off;
};

/* One run: what the workers share. */
typedef struct run_ctx {
    const tc_plan *pl;
    const float *x; /* what the kernels read: the input or its repacked copy */
    float *y;
    tc_strides ys;
    const tc_epilogue *ep;
    /* image-at-a-time runs: the caller's input, the workspace slots (one
     * image each, one per running thread) and which are taken */
    const float *src;
    float *slots;
    atomic_uint_fast64_t busy;
} run_ctx;

static inline int64_t tc_pgroups(const tc_plan *pl) { return pl->dw ? 1 : pl->groups; }
static inline int64_t tc_pcog(const tc_plan *pl) { return pl->dw ? pl->groups : pl->cog; }

static inline uint32_t tc_bits_range(int64_t lo, int64_t hi) { /* bits [lo, hi) */
    if (hi <= lo) return 0;
    return (uint32_t)((((uint64_t)1 << hi) - 1) & ~(((uint64_t)1 << lo) - 1));
}

/* ---- pack.c: weights in the order each path's kernels read them ---- */
/* Picks NV and MR of a phase tile within the kernel set's registers
 * (depthwise tiles when dw). */
void tc_choose_tile(const tc_kernel_set *ks, int dw, int64_t cog, int64_t nvec, int *nv, int *mr);
int tc_pack_phase(tc_plan *pl, int mr);              /* 0: out of memory */
tconv_status tc_pack_gemm(tc_plan *pl);              /* for pl->pb's output size and layout */
tconv_status tc_pack_cil(tc_plan *pl); /* for pl->c_fam */
void tc_fill_winograd(tc_plan *pl); /* Winograd's U = G g G^T into pl->upack, in place */
/* Every packing the plan holds, again from wsrc and bias, in place. */
void tc_repack(tc_plan *pl);

/* ---- store.c: finished tiles into y ---- */
/* n floats of a tile row (src) into y at d (element stride ds), through
 * the epilogue (bias already in src). */
void tc_store_row(float *d, int64_t ds, const float *src, int64_t n, const tc_epilogue *ep);
/* d[0..n) = s[0..n): the whole 64-byte lines of d past the caches (the
 * kernel set's non-temporal stores; stream_fence before the run ends),
 * the part lines at either end by plain stores */
void tc_stream_run(const tc_kernel_set *ks, float *d, const float *s, int64_t n);
/* channels-last stage -> NCHW planes (cn <= TC_UNSTAGE_CB channels): see store.c */
#define TC_UNSTAGE_CB 16
void tc_unstage(const tc_kernel_set *ks, float *y, int64_t ycs, const float *st, int64_t C,
                int64_t cn, int64_t rows, int64_t w, int64_t srs, const tc_epilogue *ep);
/* d[j] = a[j/2] or b[j/2] interleaved (stride-2 column phases), cnt floats */
void tc_store_row_il2(const tc_kernel_set *ks, float *d, const float *a, const float *b,
                      int64_t cnt, const tc_epilogue *ep);

/* ---- input_transform.c: the input as the kernels read it ---- */
typedef struct repack_ctx {
    const tc_kernel_set *ks;
    const float *src;
    float *dst; /* holds images n0, n0 + 1, ... */
    int64_t n, c, h, w;
    int from_nhwc, to_nhcw;
    int64_t n0;
} repack_ctx;
void tc_repack_worker(void *ctx, int64_t b, int64_t e); /* over (image, row) */
/* NCHW -> NHWC, whole images (src, dst as in repack_ctx; from_nhwc, to_nhcw
 * unused) */
void tc_to_nhwc_worker(void *ctx, int64_t b, int64_t e); /* over images */

typedef struct s2d_ctx {
    const tc_plan *pl;
    const float *src;
    float *dst; /* holds images n0, n0 + 1, ... */
    int64_t n, c, h, w;
    int from_nhwc;
    int64_t n0;
    int to_nhwc; /* phase images channels-last, [phase][i][j][c] */
} s2d_ctx;
/* tasks per image: (phase, row), or (row phase, row) or channels (a row,
 * or every row of a plane, into both column phases of stride 2 at once),
 * or one (a small NCHW image made channels-last phase images whole) */
int64_t tc_s2d_tasks(const s2d_ctx *t);
void tc_s2d_worker(void *ctx, int64_t b, int64_t e);

/* ---- the paths: plan (at reshape) and run ---- */
tconv_status tc_plan_phase(tc_plan *pl, int s2d, size_t *ws_bytes);
void tc_run_phase(run_ctx *c, int nt);
tconv_status tc_plan_cil(tc_plan *pl, int s2d, const tc_cil_family *fam, size_t *ws_bytes);
void tc_cil_worker(void *ctx, int64_t b, int64_t e);
void tc_cil_unstage_worker(void *ctx, int64_t b, int64_t e); /* (image, channel block) */
/* The channels-in-lanes kernel of family f for a block of nr (<= f->nr)
 * channels and rows (<= f->mr) pixels: the short-block kernel where one
 * covers them. */
tc_cil_kernel tc_cil_pick(const tc_cil_family *f, int64_t nr, int64_t rows);
/* The channels-in-lanes family for a problem of npx pixels per phase
 * (all images) and cog output channels per group. */
const tc_cil_family *tc_cil_family_for(const tc_kernel_set *ks, int64_t npx, int64_t cog);
/* Whether some phase position of one image reads fewer taps than its
 * phase has (padding): blocks of such positions skip them. */
int tc_cil_taps_skipped(const tc_plan *pl);
/* Whether pixel vectors take whole phase rows side by side (rows of the
 * read image, xw wide, dividing the vector; wq0 output columns per row). */
int tc_phase_rows_pack(const tc_plan *pl, int64_t wq0);
/* Whether the Winograd GEMMs' tiles for pl's output channels (the GEMM
 * family's, or for a few channels the channels-in-lanes family's) use at
 * least 3/4 of the columns they compute. */
int tc_wino_fits(const tc_plan *pl);
/* Of the columns j < w reading position x0 + s*j (s >= 1), those inside
 * [0, len): [*ja, *jb), empty when *ja == *jb (zero padding leaves the
 * rest out). */
static inline void tc_inside_cols(int64_t x0, int64_t s, int64_t len, int64_t w, int64_t *ja,
                                  int64_t *jb) {
    *ja = x0 >= 0 ? 0 : tc_imin(w, (-x0 + s - 1) / s);
    *jb = x0 >= len ? *ja : tc_imax(*ja, tc_imin(w, (len - x0 + s - 1) / s));
}

tconv_status tc_plan_winograd(tc_plan *pl, size_t *ws_bytes);
void tc_run_winograd(run_ctx *c, int nt);
tconv_status tc_plan_gemm(tc_plan *pl);
void tc_gemm_worker(void *ctx, int64_t b, int64_t e);

/* ---- wgrad_dot.c: the weight gradient of a layer thin on B's side ---- */
typedef struct tc_wdot {
    int on;
    int mr, nc;                       /* dot tile */
    int64_t cag, cbg, cols, len;      /* columns = cbg*kh*kw, len = A's pixels */
    int64_t rows;                     /* Bt rows: the columns, then ones when db is of A */
    int64_t ipc, nchunk, nab, ncb;    /* images per chunk, chunks, blocks */
    size_t bt_bytes, sum_bytes;
} tc_wdot;
/* 1 when pb (in layout) takes this path: fills d and *ws_bytes; db_of_a:
 * the bias gradient, if asked for, is A's channel sums (see tc_wgrad_run) */
int tc_wdot_reshape(tc_wdot *d, const tc_kernel_set *ks, const tc_wgrad_problem *pb,
                    tconv_layout layout, int db_of_a, size_t *ws_bytes);
/* dw (ca, cbg, kh, kw) and, when the reshape had db_of_a and db is not
 * NULL, db (ca), overwritten or added to (accumulate); dw not NULL */
void tc_wdot_run(const tc_wdot *d, const tc_kernel_set *ks, const tc_wgrad_problem *pb,
                 const float *a, const float *b, float *dw, float *db, void *ws, int nt,
                 int accumulate);

tconv_status tc_plan_oom(void);

#endif /* TCONV_PLAN_INTERNAL_H */
