/* plan.h -- the planners: what the operators lower their passes to.
 *
 * Two problems cover every pass of both operators:
 *
 *  - tc_problem, a transposed convolution (scatter form), read from the
 *    input directly or through its stride phase images:
 *      y[n, oc, oy, ox] = b[oc] + sum over ic in oc's group, ky, kx with
 *          oy = iy*sh - ph + ky*dh,  ox = ix*sw - pw + kx*dw
 *        of x'[n, ic, iy, ix] * w[ic, oc % cog, ky, kx]
 *    where x' is x, or, for a convolution lowered to one (kernel flipped,
 *    channels swapped, stride 1), x padded by a padding mode and read as
 *    ish x isw phase images.  y (h_out x w_out) may crop the sum.  The
 *    forward of conv_transpose2d and the backward data of conv2d are this
 *    directly; the forward of conv2d and the backward data of
 *    conv_transpose2d are convolutions, lowered by tc_lower_convolution.
 *    Planned by plan.c onto the phase, channels-in-lanes and dense-GEMM
 *    paths (phase.c, cil.c, gemm_dense.c: 1x1 inputs and other dense layers,
 *    winograd.c: 3x3 stride 1).
 *
 *  - tc_wgrad_problem, a weight gradient (wgrad.c):
 *      dw[a, b % cbg, ky, kx] = sum over n, qy, qx of
 *          A[n, a, qy, qx] * B'[n, b, qy*sh - ph + ky*dh, qx*sw - pw + kx*dw]
 *    for a and b in the same group, B' being B extended by a padding mode
 *    (zeros: absent terms).  conv_transpose2d: A = x, B = dy;
 *    conv2d: A = dy, B = x.
 */
#ifndef TCONV_PLAN_H
#define TCONV_PLAN_H

#include "../core/core.h"

/* ---- transposed-convolution problems ----------------------------------- */

typedef struct tc_problem {
    /* as a transposed convolution: x (n, c_in, h_in, w_in), the tensor read
     * (before any padding mode); y (n, c_out, h_out, w_out); groups, kh, kw,
     * sh, sw (output strides), ph, pw, dh, dw.  Other fields unused. */
    tc_geom g;
    int64_t ish, isw;          /* x read as ish x isw phase images; 1 x 1: as is */
    tconv_padding_mode pmode;  /* zeros: none; else x padded first by ... */
    int64_t ppt, ppb, ppl, ppr; /* ... these pads (top, bottom, left, right) */
} tc_problem;

/* A convolution with stride s, padding pt (top) / pl (left) and output
 * (n, c_out, h_out, w_out) of input x (n, c_in, h_in, w_in), given in g with
 * conv2d's fields (sh, sw, pad_t, pad_l, padding_mode; pads of a padding
 * mode in pad_t/b/l/r), as the stride-1 transposed convolution of its input
 * phase images that the planner runs: fills pb and returns 1, or returns 0
 * where the planner cannot take it (an empty output, strides beyond the
 * input or 4096, a mode's pad beyond the input).  The
 * weights it runs with are the convolution's flipped with in/out swapped
 * (tc_flip_swap_weights). */
int tc_lower_convolution(const tc_geom *g, tc_problem *pb);

/* A transposed convolution given in g (conv_transpose2d's fields) as the
 * planner's problem; returns 0 where the planner does not take it (empty
 * output, strides beyond the output or 256). */
int tc_lower_transposed(const tc_geom *g, tc_problem *pb);

/* (Cout, Cin/g, kh, kw) -> (Cin, Cout/g, kh, kw) with each kernel flipped:
 * a convolution's weights as the equivalent transposed convolution's (and
 * back: the map is its own inverse with the channel counts swapped). */
void tc_flip_swap_weights(const float *w, int64_t cout, int64_t cin, int64_t groups, int64_t kh,
                          int64_t kw, float *out, int nthreads);

/* What a store does with the finished sums: activation is applied to
 * (sum + bias); accumulate adds the result to the destination. */
typedef enum tc_act {
    TC_ACT_NONE = 0,
    TC_ACT_RELU = 1,
    TC_ACT_LEAKY_RELU = 2,
    TC_ACT_TANH = 3,
    TC_ACT_SIGMOID = 4
} tc_act;
struct tc_eltwise_kernels;
typedef struct tc_epilogue {
    int accumulate;
    tc_act act;
    float alpha;                           /* LeakyReLU's negative slope */
    const struct tc_eltwise_kernels *ek; /* the activation's kernels (act != NONE) */
} tc_epilogue;

/* y[i] = act(x[i]) for i < n through the epilogue's kernels (y may be x). */
void tc_epilogue_apply(const tc_epilogue *ep, const float *x, float *y, int64_t n);

typedef struct tc_plan tc_plan;

/* Weights w (cin, cout/groups, kh, kw) as a transposed convolution's and
 * bias (cout floats, or NULL), packed for impl (a fast one).  w must stay
 * valid for the plan's life (reshape may repack from it); w_owned, if not
 * NULL, is w and is freed with the plan (also on failure); w_finite: no NaN
 * or inf among the weights (the caller has scanned them).  Packing (here
 * and at reshape) uses up to nthreads threads. */
tconv_status tc_plan_create(tconv_impl impl, int64_t cin, int64_t cout, int64_t groups,
                            int64_t kh, int64_t kw, const float *w, float *w_owned,
                            int w_finite, const float *bias, int nthreads, tc_plan **out);
void tc_plan_free(tc_plan *pl);

/* New weight values: the caller has rewritten the array the plan reads
 * (its w, or the plan's own copy: tc_plan_owned_weights); bias is the new
 * bias (NULL: none).  Every packing is redone in place, without
 * allocating.  Not during a run. */
float *tc_plan_owned_weights(tc_plan *pl);
void tc_plan_set_weights(tc_plan *pl, int w_finite, const float *bias);

/* Plans pb in layout: sets *ws_bytes and *path (a static string). */
tconv_status tc_plan_reshape(tc_plan *pl, const tc_problem *pb, tconv_layout layout,
                             size_t *ws_bytes, const char **path);

/* Runs the last reshape on up to nthreads threads (the planner may use
 * fewer): reads x, writes every element of y (of the reshaped size).  Many
 * runs of one plan may go on at once, each with its own workspace. */
void tc_plan_run(const tc_plan *pl, const float *x, float *y, void *ws, int nthreads,
                 const tc_epilogue *ep);

/* ---- weight-gradient problems -------------------------------------------- */

typedef struct tc_wgrad_problem {
    int64_t n, groups;
    int64_t ca, ha, wa; /* A: (n, ca, ha, wa) */
    int64_t cb, hb, wb; /* B: (n, cb, hb, wb) before padding */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    tconv_padding_mode pmode; /* with a mode, B is padded by these first (then ph, pw = 0) */
    int64_t ppt, ppb, ppl, ppr;
} tc_wgrad_problem;

typedef struct tc_wgrad tc_wgrad;

tconv_status tc_wgrad_create(tconv_impl impl, tc_wgrad **out);
void tc_wgrad_free(tc_wgrad *wg);
tconv_status tc_wgrad_reshape(tc_wgrad *wg, const tc_wgrad_problem *pb, tconv_layout layout,
                              int db_of_a, size_t *ws_bytes, const char **path);
/* dw: (ca, cb/groups, kh, kw), overwritten or (accumulate) added to; the
 * result does not depend on nthreads.  db (may be NULL): the channel sums
 * of A (db_of_a, as at the reshape) or of B, same rule.  Runs may go on at once, each with
 * its own workspace.  Returns 1 if A holds a non-finite value, 0 if not,
 * -1 when the run did not look (it checks A where it packs all of it, in
 * cache, sparing the caller a pass over A: tc_wgrad_nan). */
int tc_wgrad_run(const tc_wgrad *wg, const float *a, const float *b, float *dw, float *db,
                 int db_of_a, void *ws, int nthreads, int accumulate);

#endif /* TCONV_PLAN_H */
