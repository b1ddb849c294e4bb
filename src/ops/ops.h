/* ops.h -- the operators: parameters and their checks (conv_params.c),
 * shape rules (conv_shapes.c), the operator object (operator.c) and, per
 * operator, how each pass lowers onto the planners
 * (conv_transpose2d.c, conv2d.c).  Never installed. */
#ifndef TCONV_OPS_H
#define TCONV_OPS_H

#include "../core/core.h"
#include "../plan/plan.h"

#include <stdatomic.h>

/* ---- parameters and shapes ----------------------------------------------- */

tconv_status tc_check_ct2d_params(const tconv_conv_transpose2d_params *p);
tconv_status tc_check_conv2d_params(const tconv_conv2d_params *p);

/* The forward call's geometry for an input shape, with every check
 * PyTorch's forward makes. */
tconv_status tc_ct2d_geometry(const tconv_conv_transpose2d_params *p, int ndim,
                              const int64_t *input_shape, const int64_t *output_size,
                              int output_size_len, tc_geom *g);
tconv_status tc_conv2d_geometry(const tconv_conv2d_params *p, int ndim,
                                const int64_t *input_shape, tc_geom *g);

/* ---- the operator object ------------------------------------------------- */

typedef enum tc_op_kind { TC_OP_CONV_TRANSPOSE2D = 1, TC_OP_CONV2D = 2 } tc_op_kind;

/* One (operator, pass) row: how the pass runs.  A data-like pass (forward,
 * backward data) lowers to a transposed-convolution problem, the weight
 * pass to a weight-gradient problem; where the lowering declines, the
 * reference kernel of the row runs. */
/* The (output channel, tap) pairs of a convolution-shaped pass's weight
 * (Cout, Cin/g, kh, kw) that hold a non-finite value (nonfinite.c). */
typedef struct tc_nan_taps {
    int64_t n;
    int64_t *co, *k; /* k = ky*kw + kx */
} tc_nan_taps;

typedef struct tc_op_row {
    const char *name; /* "conv2d backward_data" */
    /* data-like passes: the planner's weights are the op's flipped with
     * in/out swapped (flip) or as given, and its channels (cin, cout) are
     * the forward's (swap = 0) or swapped (the data gradient runs from
     * grad_output's channels to the input's) */
    int flip, swap;
    int (*lower)(const tc_geom *g, tc_problem *pb);
    /* the weight pass; db_of_a: grad_bias is the channel sum of operand A */
    int (*lower_wgrad)(const tc_geom *g, tc_wgrad_problem *pb);
    int db_of_a;
    /* conv2d backward data with a padding mode: the planner's output is the
     * padded input's gradient, folded back afterwards */
    int folds;
    /* a convolution of a zero-padded input in PyTorch (conv2d forward,
     * conv_transpose2d backward data): non-finite weights meet padding */
    int conv_shaped;
} tc_op_row;

const tc_op_row *tc_ct2d_row(tconv_pass pass);
const tc_op_row *tc_conv2d_row(tconv_pass pass);

struct tconv_op {
    tc_op_kind kind;
    tconv_pass pass;
    const tc_op_row *row;
    tconv_conv_transpose2d_params ct; /* valid when kind == CONV_TRANSPOSE2D */
    tconv_conv2d_params cv;           /* valid when kind == CONV2D */
    tconv_options opt;
    atomic_int num_threads; /* opt.num_threads, changed by tconv_op_set_num_threads */
    tconv_impl impl;        /* resolved, never AUTO */
    float *weight;          /* owned copy, PyTorch layout; NULL for the weight pass */
    int weight_borrowed;    /* weight is the caller's array (the one-call functions) */
    float *bias;            /* owned copy or NULL (forward only) */
    int64_t weight_numel;
    int w_finite;           /* no NaN or inf in weight (scanned once per weight change) */

    /* Set by reshape (reshaped and path also read by tconv_op_path, which
     * may overlap a reshape). */
    atomic_bool reshaped;
    tc_geom geom; /* the forward's geometry */
    size_t workspace_bytes;
    _Atomic(const char *) path;
    bool fast;         /* the last reshape planned a fast path */
    size_t fold_bytes; /* padded-gradient buffer at the workspace's end (folds) */

    tc_nan_taps nan_taps; /* convolution-shaped passes */
    tc_epilogue act;      /* forward: the fused activation (tconv_op_set_activation) */

    /* Fast state; NULL for the reference implementation. */
    tc_plan *plan;   /* data-like passes */
    tc_wgrad *wgrad; /* the weight pass */

    /* Concurrency: runs in flight (> 0), or -1 while reshape or destroy
     * holds the op. */
    atomic_int state;
};

/* The adjoint of F.pad with a padding mode: dx (+)= the sums of the padded
 * gradient dxp (n, c, h + pt + pb, w + pl + pr) over the padded positions
 * that each input position supplies.  Layouts as given. */
void tc_fold_padding(const float *dxp, float *dx, int64_t n, int64_t c, int64_t h, int64_t w,
                     int64_t pt, int64_t pb, int64_t pl, int64_t pr, tconv_padding_mode mode,
                     tconv_layout layout, int accumulate, int nthreads);

/* ---- non-finite values where PyTorch multiplies padding (nonfinite.c) ---- */

/* The create functions of a pass with the weight read in place for the
 * op's life instead of copied, default options: for the one-call functions,
 * whose op lives one call. */
tconv_status tc_ct2d_create_borrowed(tconv_pass pass, const tconv_conv_transpose2d_params *p,
                                     const float *weight, const float *bias, tconv_op **op);
tconv_status tc_conv2d_create_borrowed(tconv_pass pass, const tconv_conv2d_params *p,
                                       const float *weight, const float *bias, tconv_op **op);

tconv_status tc_nan_taps_find(const float *w, int64_t cout, int64_t cig, int64_t kh, int64_t kw,
                              tc_nan_taps *t);
void tc_nan_taps_free(tc_nan_taps *t);
/* NaN into y (n, c_out, h_out, w_out) of the convolution c (input h_in x
 * w_in, sh/sw, pad_t/pad_l, dh/dw) wherever a listed tap reads padding. */
void tc_nan_taps_apply(const tc_nan_taps *t, const tc_geom *c, float *y, tc_strides ys);
/* dst[0..n) = src[0..n) on up to nthreads threads; true when every value
 * is finite. */
bool tc_copy_check_finite(float *dst, const float *src, int64_t n, int nthreads);
/* NaN into dw (ca, cb/groups, kh, kw) where a non-finite A value's tap reads
 * B's zero padding (a: layout strides as).  a_bad: whether A holds one (1,
 * 0), or -1: unknown, then A is scanned for one on up to nthreads
 * threads. */
void tc_wgrad_nan(const tc_wgrad_problem *pb, const float *a, tc_strides as, float *dw,
                  int a_bad, int nthreads);

#endif /* TCONV_OPS_H */
