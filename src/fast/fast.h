/* fast.h -- internals of the fast conv_transpose2d path: CPU features,
 * the thread pool, the micro-kernel interface every ISA file implements,
 * and the operator hooks operator.c calls.  Never installed. */
#ifndef TCONV_FAST_H
#define TCONV_FAST_H

#include "../internal.h"

/* ---- CPU features (cpu.c) ------------------------------------------------ */

/* 1 if the CPU and the OS (XGETBV state) support the ISA and this build
 * compiled its kernels. */
int tc_cpu_has_avx2_fma(void);
int tc_cpu_has_avx512(void);
/* Cores this process may run on (sched_getaffinity, else sysconf), >= 1. */
int tc_cpu_count(void);

/* ---- thread pool (threadpool.c) ------------------------------------------ */

/* Calls fn(ctx, b, e) over disjoint ranges covering [0, ntasks), on up to
 * nthreads threads (the caller and reusable pool workers), tasks taken from
 * a shared counter.  Returns when all are done.  If the pool is busy with
 * another caller's run, everything runs on the caller.  Callers make each
 * task's result independent of the thread that runs it. */
void tc_parallel_for(int nthreads, int64_t ntasks, void (*fn)(void *ctx, int64_t b, int64_t e),
                     void *ctx);

/* ---- micro-kernel interface (kernels/ct2d_*_{portable,avx2,avx512}.c) ---- */

#define TC_NV_MAX 8      /* pixel vectors per tile (more than 4 only with MR <= 4) */
#define TC_MR_MAX 24     /* output channels per tile */
#define TC_VL_MAX 16     /* lanes of the widest vector */
#define TC_TAP_CHUNK 32  /* taps passed to one kernel call */

/* One kernel tap (ky, kx): where its packed weights start (in rows of MR
 * floats, so one tap list serves every channel block) and, per pixel
 * vector, where its input row segment starts (element offset from channel
 * 0) and which lanes are inside the input.  A tap does not depend on the
 * image, group or channel block, so the plan can build the lists once. */
typedef struct tc_tap {
    int64_t woff;
    int64_t xoff[TC_NV_MAX];
    uint32_t mask[TC_NV_MAX];
    /* every vector's VL floats, for every ic, lie in [x + lo, x + hi) */
    int64_t lo, hi;
} tc_tap;

/* A phase tile: MR output channels x NV pixel vectors of one column phase.
 *   acc[m][v] = init + sum over taps, ic < cin of
 *               x[ic*xcs + tap.xoff[v] + lane] * w[tap.woff*MR + ic*MR + m]
 * out: [MR][NV][VL] floats.  x[-xpre .. xpost) may be read (the input
 * buffer): a tap whose [lo, hi) lies inside loads whole vectors. */
typedef struct tc_phase_tile {
    const float *x;
    int64_t xpre, xpost;
    int64_t xcs, cin;
    const float *w;
    const tc_tap *taps;
    int ntap;
    const float *init; /* previous partial tile (same layout as out), or NULL: */
    const float *bias; /* MR values to start from */
    float *out;
} tc_phase_tile;
typedef void (*tc_phase_kernel)(const tc_phase_tile *t);

/* A GEMM tile (1x1 inputs): out[m][j] = binit[j] + sum_k a[m*a_rs + k] * b[k*GN + j]
 * for m < MR, j < GN = gemm_nv*VL.  out: [MR][GN]. */
typedef struct tc_gemm_tile {
    const float *a;
    int64_t a_rs, k;
    const float *b;
    const float *binit;
    float *out;
} tc_gemm_tile;
typedef void (*tc_gemm_kernel)(const tc_gemm_tile *t);

/* A channels-in-lanes tile (small phases): out[m][j] = bias[j] + sum over
 * taps i, ic < cin of xp[i*MR+m][ic*xs[i*MR+m]] * w[woff[i] + ic*NR + j],
 * m < cil_mr pixels, j < cil_nr output channels.  out: [MR][NR]. */
typedef struct tc_cil_tile {
    const float *const *xp;
    const int64_t *xs;
    const int64_t *woff;
    int ntap;
    int64_t cin;
    const float *w, *bias;
    float *out;
} tc_cil_tile;
typedef void (*tc_cil_kernel)(const tc_cil_tile *t);

typedef struct tc_kernel_set {
    tconv_impl impl;
    int vl;      /* lanes */
    int acc_cap; /* accumulator vectors a tile may hold without spilling */
    tc_phase_kernel phase[TC_NV_MAX][TC_MR_MAX]; /* [NV-1][MR-1]; NULL beyond NV*MR = 24 or NV > 4, MR > 4 */
    int gemm_nv, gemm_mr;
    tc_gemm_kernel gemm[TC_MR_MAX]; /* [MR-1], MR <= gemm_mr */
    /* d[0..cnt) = a[0] b[0] a[1] b[1] ... (cnt <= 2*vl; reads a, b up to vl) */
    void (*store_il2)(float *d, const float *a, const float *b, int64_t cnt);
    tc_cil_kernel cil[3]; /* [NRV-1]: the first NRV vectors of a block, NRV*vl <= cil_nr */
    int cil_mr, cil_nr;
} tc_kernel_set;

extern const tc_kernel_set tc_kernels_portable;
#if defined(TCONV_X86)
extern const tc_kernel_set tc_kernels_avx2;
extern const tc_kernel_set tc_kernels_avx512;
#endif

/* ---- operator hooks (fast/ct2d_fast.c) ------------------------------------- */

/* At create: picks the kernel set for op->impl and packs the weights
 * (op->fast, op->fast_free).  conv_transpose2d only. */
tconv_status tc_fast_ct2d_create(tconv_op *op);
/* At reshape: plans op->geom, sets op->run, op->path, op->workspace_bytes. */
tconv_status tc_fast_ct2d_plan(tconv_op *op);

/* conv2d through the same kernels: create packs the equivalent transposed
 * convolution's weights (and notes the stride: strided inputs are read as
 * phase images); at reshape, conv2d_geom turns a conv2d geometry into that
 * stride-1 transposed convolution's and returns 1, or returns 0 (geometry
 * untouched) where it has none (padding beyond the kernel's reach, a
 * non-zeros padding mode with padding). */
tconv_status tc_fast_conv2d_create(tconv_op *op);
int tc_fast_conv2d_geom(tc_geom *g);

#endif /* TCONV_FAST_H */
