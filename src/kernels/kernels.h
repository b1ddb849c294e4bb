/* kernels.h -- the micro-kernels: one template per kernel family
 * (phase.inc, gemm.inc, cil.inc, wgrad.inc), compiled once per ISA by the
 * shims f32_portable.c, f32_avx2.c and f32_avx512.c into a kernel set; and
 * the reference kernels (reference/), the direct definitions every fast
 * path is tested against.  Never installed. */
#ifndef TCONV_KERNELS_H
#define TCONV_KERNELS_H

#include "../core/core.h"

/* ---- micro-kernel interface ------------------------------------------------ */

#define TC_NV_MAX 8      /* pixel vectors per tile (more than 4 only with MR <= 4) */
#define TC_MR_MAX 24     /* output channels per tile */
#define TC_DW_MR_MAX 8   /* channels per depthwise tile */
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

/* A channels-in-lanes tile (small phases, one-tap GEMMs):
 *   out[m][j] = bias[j] + sum over taps i, ic < cin of
 *               xp[i*MR+m][ic*xs] * w[woff[i] + ic*NR + j],
 * m < MR pixels, j < NR output channels (the family's mr, nr).  out:
 * [MR][NR], or, with orow, pixel m's computed vectors (whole vectors of
 * channels) at orow[m].  A pixel outside the input points at zeros as long
 * as the input's channels, so every pixel has the same channel stride xs. */
typedef struct tc_cil_tile {
    const float *const *xp;
    int64_t xs;
    const int64_t *woff;
    int ntap;
    int64_t cin;
    const float *w, *bias;
    float *out;
    float *const *orow; /* NULL: out */
    int nt; /* orow's rows aligned to a vector, written past the caches
               (stream_fence after the worker's last) */
} tc_cil_tile;
typedef void (*tc_cil_kernel)(const tc_cil_tile *t);
/* A family of channels-in-lanes tiles: MR = mr pixels by NR = nr channels
 * (k[0] NULL: the ISA has none); mr <= TC_CIL_MAX_MR. */
#define TC_CIL_MAX_MR 12
typedef struct tc_cil_family {
    tc_cil_kernel k[3]; /* [NRV-1]: the first NRV vectors of a block, NRV*vl <= nr */
    int mr, nr, nrv; /* nr = nrv vectors */
    /* [s][NRV-1]: blocks of at most part_mr[s] pixels (ascending; 0: none) */
    tc_cil_kernel part[2][3];
    int part_mr[2];
} tc_cil_family;

/* A weight-gradient tile: MR channels of the broadcast operand s by
 * NR = NRV*VL channels of the lane operand l, summed over a block of
 * pixels (images x rows x columns):
 *   out[m][j] = init[m][j] (or 0) + sum over i < nimg, r < nrows, c < ncols of
 *               s[i*s_is + r*s_rs + c*MR + m] * l[i*l_is + r*l_rs + c*NR + j]
 * Both operands are packed pixel-major with their channel block innermost
 * (plan/wgrad.c).  out, init: [MR][NR] (init may be out). */
typedef struct tc_wgrad_tile {
    const float *s, *l;
    int64_t s_is, s_rs, l_is, l_rs;
    int64_t nimg, nrows, ncols;
    const float *init;
    float *out;
} tc_wgrad_tile;
typedef void (*tc_wgrad_kernel)(const tc_wgrad_tile *t);
#define TC_WG_TILE_MAX 512 /* floats of the largest MR x NR weight-gradient tile */
#define TC_WG_MR_MAX 12    /* most rows of a weight-gradient tile */

/* A dot tile: MR rows of a by NC rows of b, the reduction axis contiguous
 * in both (kernels/dot.inc):
 *   out[m][j] = init[m][j] (or 0) + sum over i < nimg, k < len of
 *               a[i*a_is + m*a_rs + k] * b[i*b_is + j*b_rs + k]
 * out, init: [MR][NC] (init may be out). */
typedef struct tc_dot_tile {
    const float *a, *b;
    int64_t a_is, a_rs, b_is, b_rs;
    int64_t nimg, len;
    const float *init;
    float *out;
} tc_dot_tile;
typedef void (*tc_dot_kernel)(const tc_dot_tile *t);
#define TC_DOT_MAX 4 /* most rows of either side of a dot tile */

typedef struct tc_kernel_set {
    tconv_impl impl;
    int vl;      /* lanes */
    int acc_cap; /* accumulator vectors a tile may hold without spilling */
    tc_phase_kernel phase[TC_NV_MAX][TC_MR_MAX]; /* [NV-1][MR-1]; NULL beyond NV*MR = 24 or NV > 4, MR > 4 */
    /* [NV-1][MR-1], depthwise tiles (channel m reads plane x + m*xcs, cin 1):
     * MR <= TC_DW_MR_MAX; NULL beyond NV*MR = 24 or NV > 4, MR > 3 */
    tc_phase_kernel phase_dw[TC_NV_MAX][TC_DW_MR_MAX];
    int gemm_nv, gemm_mr;
    tc_gemm_kernel gemm[TC_MR_MAX]; /* [MR-1], MR <= gemm_mr */
    /* d[0..cnt) = a[0] b[0] a[1] b[1] ... (cnt <= 2*vl; reads a, b up to vl) */
    void (*store_il2)(float *d, const float *a, const float *b, int64_t cnt);
    /* with non-temporal stores (past the caches) where the ISA has them,
     * d 64-byte aligned: store_il2 of cnt = 2*vl, and d[0..16) = s[0..16);
     * stream_fence after a worker's last, before the run ends */
    void (*store_il2_nt)(float *d, const float *a, const float *b);
    void (*store_line_nt)(float *d, const float *s);
    void (*stream_fence)(void);
    /* channels-in-lanes tiles; cil_wide (where k[0] is set) has fewer
     * pixels and more channels: more weight traffic per FMA, fewer
     * broadcasts (plan/cil.c chooses) */
    tc_cil_family cil, cil_wide;
    /* e[j] = src[2*j], j < ne; o[j] = src[2*j + 1], j < no (transpose.inc) */
    void (*deinterleave)(float *e, float *o, const float *src, int64_t ne, int64_t no);
    /* dst[j*bw + c] = src[c*cs + j*xs], j < n, c < cn (transpose.inc) */
    void (*pack_cols)(float *dst, int64_t bw, const float *src, int64_t cs, int64_t xs,
                      int64_t n, int64_t cn);
    /* [NRV-1][MR-1]: NRV lane vectors x MR rows, MR <= wgrad_mr[NRV-1] */
    tc_wgrad_kernel wgrad[4][TC_WG_MR_MAX];
    int wgrad_mr[4];
    /* [MR-1][NC-1], MR <= dot_mr, NC <= dot_nc */
    tc_dot_kernel dot[TC_DOT_MAX][TC_DOT_MAX];
    int dot_mr, dot_nc;
    /* Winograd F(2x2, 3x3), n channels (wino.inc): input patch p[16] (rows
     * of channels) -> v[xi*vs + c]; m[xi*ms + c] -> 2x2 outputs y[k][c]
     * plus bias b[c] */
    void (*wino_in)(float *v, int64_t vs, const float *const *p, int64_t n);
    void (*wino_out)(float *const *y, const float *m, int64_t ms, const float *b, int64_t n);
} tc_kernel_set;

extern const tc_kernel_set tc_kernels_portable;
#if defined(TCONV_X86)
extern const tc_kernel_set tc_kernels_avx2;
extern const tc_kernel_set tc_kernels_avx512;
#endif

/* ---- element-wise kernels (eltwise.inc, shims eltwise_{portable,avx2,avx512}.c) ---- */

/* One Adam / AdamW step's coefficients, as torch.optim computes them in
 * float32: decay = 1 - lr*wd (AdamW; 1 for Adam), a1 = 1 - beta1,
 * a2 = 1 - beta2, bc2s = sqrt(1 - beta2^step), nstep = -lr / (1 - beta1^step). */
typedef struct tc_adam_coef {
    float decay, b1, a1, b2, a2, bc2s, eps, nstep;
} tc_adam_coef;

typedef struct tc_eltwise_kernels {
    const char *name;
    void (*relu)(const float *x, float *y, int64_t n);
    void (*leaky_relu)(const float *x, float *y, int64_t n, float slope);
    void (*tanh)(const float *x, float *y, int64_t n);
    void (*sigmoid)(const float *x, float *y, int64_t n);
    void (*exp)(const float *x, float *y, int64_t n);
    /* gradients: (saved tensor, dy) -> dx */
    void (*relu_bwd)(const float *y, const float *dy, float *dx, int64_t n);
    void (*leaky_relu_bwd)(const float *x, const float *dy, float *dx, int64_t n, float slope);
    void (*tanh_bwd)(const float *y, const float *dy, float *dx, int64_t n);
    void (*sigmoid_bwd)(const float *y, const float *dy, float *dx, int64_t n);
    /* BatchNorm: sums in double (added to *s, *ss), y = x*a + b,
     * dx = dy*a + (x*b + c) */
    void (*sum_sumsq)(const float *x, int64_t n, double *s, double *ss);
    /* 1 if some x[i] is an infinity or a NaN, else 0 */
    int (*any_nonfinite)(const float *x, int64_t n);
    void (*sum_dot)(const float *dy, const float *x, int64_t n, double *s, double *sd);
    void (*affine)(const float *x, float *y, int64_t n, float a, float b);
    void (*affine2)(const float *dy, const float *x, float *dx, int64_t n, float a, float b,
                    float c);
    /* the same per element, for slabs of small images: over nimg images
     * `stride` floats apart, s[i] = sum x[i], ss[i] = sum x[i]^2;
     * s[i] = sum dy[i], sd[i] = sum dy[i]*x[i]; then y = x*A + B,
     * dx = dy*A + (x*B + C) */
    void (*acc_sumsq)(const float *x, int64_t stride, int64_t nimg, double *s, double *ss,
                      int64_t n);
    void (*acc_dot)(const float *dy, const float *x, int64_t stride, int64_t nimg, double *s,
                    double *sd, int64_t n);
    void (*affine_v)(const float *x, float *y, int64_t n, const float *A, const float *B);
    void (*affine2_v)(const float *dy, const float *x, float *dx, int64_t n, const float *A,
                      const float *B, const float *C);
    /* MaxPool2d, one tap over n output columns: v = x[i*s], y[i] = v where
     * v > y[i] or v is NaN (and ind[i] = base + i*s) */
    void (*pool_tap)(const float *x, int64_t s, float *y, int64_t n);
    void (*pool_tap_idx)(const float *x, int64_t s, float *y, int64_t *ind, int64_t n,
                         int64_t base);
    /* Adam / AdamW without amsgrad or maximize, n parameters p with
     * gradients g (not overlapping p), first and second moments m, v:
     * p = p*decay; m = fma(a1, g, m*b1); v = fma(a2*g, g, v*b2);
     * p = p + nstep*m / (sqrt(v)/bc2s + eps), each in float32. */
    void (*adam)(float *p, const float *g, float *m, float *v, int64_t n, const tc_adam_coef *c);
} tc_eltwise_kernels;

extern const tc_eltwise_kernels tc_eltwise_kernels_portable;
#if defined(TCONV_X86)
extern const tc_eltwise_kernels tc_eltwise_kernels_avx2;
extern const tc_eltwise_kernels tc_eltwise_kernels_avx512;
#endif

/* The set for an implementation (AUTO: the best this CPU runs); NULL if
 * impl is not available here (REFERENCE gives the portable set). */
const tc_eltwise_kernels *tc_eltwise_for(tconv_impl impl);
/* The set the layers use: tc_eltwise_for(AUTO), looked up once. */
const tc_eltwise_kernels *tc_eltwise(void);

/* The phase/gemm/cil/wgrad kernel set of a fast implementation (never
 * REFERENCE or AUTO). */
const tc_kernel_set *tc_kernels_for(tconv_impl impl);

/* ---- reference kernels (the files of reference/) ------------------------- */
/*
 * Direct definitions, double accumulation, every output element written
 * once; strides make one kernel serve NCHW and NHWC.  g is the operator's
 * forward geometry; names follow the passes: x input, y output, w weight,
 * b bias, dy/dx/dw/db their gradients.  accumulate: add into dx/dw/db
 * instead of overwriting them.
 */

/* conv_transpose2d.  x: (N, Cin, Hin, Win), w: (Cin, Cout/g, kH, kW),
 * y, dy: (N, Cout, Hout, Wout). */
void tc_ref_conv_transpose2d_forward(const tc_geom *g, const float *x, tc_strides xs,
                                     const float *w, const float *b, float *y, tc_strides ys);
void tc_ref_conv_transpose2d_backward_data(const tc_geom *g, const float *dy, tc_strides ys,
                                           const float *w, float *dx, tc_strides xs,
                                           int accumulate);
void tc_ref_conv_transpose2d_backward_weight(const tc_geom *g, const float *x, tc_strides xs,
                                             const float *dy, tc_strides ys, float *dw,
                                             float *db, int accumulate);

/* conv2d (padding mode included).  x: (N, Cin, Hin, Win),
 * w: (Cout, Cin/g, kH, kW), y, dy: (N, Cout, Hout, Wout). */
void tc_ref_conv2d_forward(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                           const float *b, float *y, tc_strides ys);
void tc_ref_conv2d_backward_data(const tc_geom *g, const float *dy, tc_strides ys,
                                 const float *w, float *dx, tc_strides xs, int accumulate);
void tc_ref_conv2d_backward_weight(const tc_geom *g, const float *x, tc_strides xs,
                                   const float *dy, tc_strides ys, float *dw, float *db,
                                   int accumulate);

/* db[c] (+)= sum over n, h, w of dy[n, c, h, w], in double. */
void tc_ref_bias_grad(const tc_geom *g, const float *dy, tc_strides ys, float *db,
                      int accumulate);

#endif /* TCONV_KERNELS_H */
