/* wgrad_internal.h -- what the weight gradient's plan and run (wgrad.c)
 * share with its packing (wgrad_pack.c). */
#ifndef TCONV_WGRAD_INTERNAL_H
#define TCONV_WGRAD_INTERNAL_H

#include "plan_internal.h"

#include <stdatomic.h>

struct tc_wgrad {
    const tc_kernel_set *ks;
    const tc_eltwise_kernels *ek; /* the same ISA's: channel sums of NCHW planes */
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
    int64_t nsplit, rows_per_split, chunk_rows;
    int64_t base_units; /* groups x B blocks */
    /* slices: each split's images are packed and summed slice_imgs at a
     * time (0: all at once), ips images per split */
    int64_t slice_imgs, ips;
    int64_t nar, apr;   /* A ranges per base unit, A blocks per range */
    int64_t tile;       /* MR x NR */
    size_t a_bytes, b_bytes, sum_bytes, csum_bytes;
    /* the bias gradient of B comes from B's packing only when its images
     * hold every element of B once (every row and column residue used) */
    int b_complete;
    tc_wdot dot; /* a layer thin on B's side: wgrad_dot.c instead */
};

/* One run: the operands, the workspace's parts and this slice of images. */
typedef struct wg_run {
    const tc_wgrad *wg;
    const float *a, *b;
    float *apack, *bpack, *sums;
    float *dw, *db;
    int accumulate, db_of_a;
    double *csum; /* [n][C]: channel sums of grad_output per image (db) */
    int sum_a, sum_b; /* which packing adds them up */
    atomic_int *a_bad; /* set when a packed A panel holds a non-finite value */
    /* this slice: images sp*ips + lo + k of each split sp < nsp, k < cnt, and
     * each unit's rows [lo*ha, hi*ha) of its split */
    int64_t lo, cnt, hi, ips, nsp;
    int fused; /* each unit writes dw itself, A block by A block (see tc_wgrad_run) */
    int stream_dw; /* dw's contiguous runs are stored past the caches */
} wg_run;

static inline tc_strides strides_of(const tc_wgrad *wg, int64_t c, int64_t h, int64_t w) {
    return tc_strides_for(wg->layout, c, h, w);
}

/* Packing tasks over (group, block, image of the slice): A as
 * [n][qy][qx][aw] per block, B' as its phase images [n][i][j][bw]. */
void tc_wg_pack_a(void *ctx, int64_t b, int64_t e);
void tc_wg_pack_b(void *ctx, int64_t b, int64_t e);

#endif
