/* operator.c -- the operator object, the same for every (operator, pass)
 * row: create (options, weight copies, the planner's packed state),
 * reshape (the forward's geometry, the row's lowering, the plan), the runs
 * of the three passes, destroy; and the concurrency checks the header's
 * contract promises. */
#include "ops.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tconv_options_init(tconv_options *opt) {
    if (!opt) return;
    opt->num_threads = 0;
    opt->layout = TCONV_LAYOUT_NCHW;
    opt->impl = TCONV_IMPL_AUTO;
    opt->accumulate = 0;
}

const char *tconv_impl_name(tconv_impl impl) {
    switch (impl) {
    case TCONV_IMPL_AUTO: return "auto";
    case TCONV_IMPL_REFERENCE: return "reference";
    case TCONV_IMPL_PORTABLE: return "portable";
    case TCONV_IMPL_AVX2: return "avx2";
    case TCONV_IMPL_AVX512: return "avx512";
    }
    return "unknown";
}

int tconv_impl_available(tconv_impl impl) {
    switch (impl) {
    case TCONV_IMPL_AUTO:
    case TCONV_IMPL_REFERENCE:
    case TCONV_IMPL_PORTABLE: return 1;
    case TCONV_IMPL_AVX2: return tc_cpu_has_avx2_fma();
    case TCONV_IMPL_AVX512: return tc_cpu_has_avx512();
    }
    return 0;
}

tconv_impl tconv_best_impl(void) {
    if (tc_cpu_has_avx512()) return TCONV_IMPL_AVX512;
    if (tc_cpu_has_avx2_fma()) return TCONV_IMPL_AVX2;
    return TCONV_IMPL_PORTABLE;
}

static const char *pass_name(tconv_pass pass) {
    return pass == TCONV_PASS_FORWARD         ? "forward"
           : pass == TCONV_PASS_BACKWARD_DATA ? "backward_data"
                                              : "backward_weight";
}

static const char *kind_name(tc_op_kind kind) {
    return kind == TC_OP_CONV_TRANSPOSE2D ? "conv_transpose2d" : "conv2d";
}

static tconv_status check_options(const tconv_options *opt) {
    if (opt->num_threads < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "num_threads must be >= 0 (0 = default), but got %d", opt->num_threads);
    if (opt->layout != TCONV_LAYOUT_NCHW && opt->layout != TCONV_LAYOUT_NHWC)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "layout must be NCHW or NHWC, but got %d",
                       (int)opt->layout);
    if (opt->impl < TCONV_IMPL_AUTO || opt->impl > TCONV_IMPL_AVX512)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "impl %d is not a tconv_impl",
                       (int)opt->impl);
    if (opt->impl != TCONV_IMPL_AUTO && !tconv_impl_available(opt->impl))
        return tc_fail(TCONV_ERROR_UNSUPPORTED, "impl '%s' is not available on this CPU or build",
                       tconv_impl_name(opt->impl));
    if (opt->accumulate != 0 && opt->accumulate != 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "accumulate must be 0 or 1, but got %d",
                       opt->accumulate);
    return TCONV_OK;
}

/* The channels and kernel of an operator, as its weight holds them:
 * (d0, d1, kh, kw) = conv_transpose2d (Cin, Cout/g, ...) or conv2d
 * (Cout, Cin/g, ...). */
static void weight_dims(const tconv_op *op, int64_t *cin, int64_t *cout, int64_t *groups,
                        int64_t *kh, int64_t *kw) {
    if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        *cin = op->ct.in_channels;
        *cout = op->ct.out_channels;
        *groups = op->ct.groups;
        *kh = op->ct.kernel_size[0];
        *kw = op->ct.kernel_size[1];
    } else {
        *cin = op->cv.in_channels;
        *cout = op->cv.out_channels;
        *groups = op->cv.groups;
        *kh = op->cv.kernel_size[0];
        *kw = op->cv.kernel_size[1];
    }
}

/* The fast state of the row: a plan over the weights as the planner wants
 * them (data-like passes), or a weight-gradient planner. */
static tconv_status create_fast(tconv_op *op) {
    if (op->pass == TCONV_PASS_BACKWARD_WEIGHT) return tc_wgrad_create(op->impl, &op->wgrad);
    int64_t cin, cout, groups, kh, kw;
    weight_dims(op, &cin, &cout, &groups, &kh, &kw);
    const tc_op_row *row = op->row;
    const int nt = tc_resolve_threads(op->opt.num_threads);
    /* the planner's transposed convolution runs from pcin to pcout channels */
    const int64_t pcin = row->swap ? cout : cin, pcout = row->swap ? cin : cout;
    float *own = NULL;
    if (row->flip) {
        own = malloc((size_t)op->weight_numel * sizeof(float) + 1);
        if (!own) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the fast path");
        /* the weight is (pcout, pcin/g, kh, kw) as a convolution's */
        tc_flip_swap_weights(op->weight, pcout, pcin, groups, kh, kw, own, nt);
    }
    return tc_plan_create(op->impl, pcin, pcout, groups, kh, kw, own ? own : op->weight, own,
                          op->w_finite, op->pass == TCONV_PASS_FORWARD ? op->bias : NULL, nt,
                          &op->plan);
}

/* The convolution-shaped rows' non-finite taps, from op->weight. */
static tconv_status find_nan_taps(tconv_op *op) {
    tc_nan_taps_free(&op->nan_taps);
    if (!op->row->conv_shaped || op->w_finite) return TCONV_OK;
    const int ct = op->kind == TC_OP_CONV_TRANSPOSE2D;
    const int64_t *k = ct ? op->ct.kernel_size : op->cv.kernel_size;
    const int64_t d0 = ct ? op->ct.in_channels : op->cv.out_channels;
    return tc_nan_taps_find(op->weight, d0, op->weight_numel / (d0 * k[0] * k[1]), k[0], k[1],
                            &op->nan_taps);
}

/* The common part of every create: options, the row, weight and bias
 * copies, the fast state.  weight_numel and bias_len from the checked
 * parameters. */
static tconv_status op_new(tc_op_kind kind, tconv_pass pass, const void *params,
                           int64_t weight_numel, const float *weight, const float *bias,
                           int64_t bias_len, const tconv_options *opt, int borrow,
                           tconv_op **out) {
    const double t0 = tc_verbose() ? tc_now() : 0;
    tconv_options o;
    tconv_options_init(&o);
    if (opt) o = *opt;
    tconv_status st = check_options(&o);
    if (st) return st;
    const int needs_weight = pass != TCONV_PASS_BACKWARD_WEIGHT;
    if (needs_weight && !weight) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "weight is NULL");
    size_t wbytes, bbytes;
    if (!tc_float_bytes(weight_numel, &wbytes) || !tc_float_bytes(bias_len, &bbytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "weight does not fit in memory");
    tconv_op *op = calloc(1, sizeof *op);
    if (!op) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory allocating the operator");
    op->kind = kind;
    op->pass = pass;
    op->row = kind == TC_OP_CONV_TRANSPOSE2D ? tc_ct2d_row(pass) : tc_conv2d_row(pass);
    if (kind == TC_OP_CONV_TRANSPOSE2D)
        op->ct = *(const tconv_conv_transpose2d_params *)params;
    else
        op->cv = *(const tconv_conv2d_params *)params;
    op->opt = o;
    atomic_init(&op->num_threads, o.num_threads);
    atomic_init(&op->state, 0);
    op->impl = o.impl == TCONV_IMPL_AUTO ? tconv_best_impl() : o.impl;
    op->weight_numel = weight_numel;
    const int with_bias = pass == TCONV_PASS_FORWARD && bias;
    /* a borrowed weight is only read (nothing sets an internal op's weights) */
    op->weight_borrowed = needs_weight && borrow;
    if (op->weight_borrowed)
        op->weight = (float *)weight;
    else if (needs_weight)
        op->weight = malloc(wbytes ? wbytes : 1);
    if (with_bias) op->bias = malloc(bbytes ? bbytes : 1);
    if ((needs_weight && !op->weight) || (with_bias && !op->bias)) {
        tconv_op_destroy(op);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory copying %lld weights",
                       (long long)weight_numel);
    }
    if (needs_weight && !op->weight_borrowed) memcpy(op->weight, weight, wbytes);
    if (with_bias) memcpy(op->bias, bias, bbytes);
    op->w_finite = !needs_weight || !tc_any_nonfinite(op->weight, weight_numel);
    if ((st = find_nan_taps(op))) {
        tconv_op_destroy(op);
        return st;
    }
    if (op->impl != TCONV_IMPL_REFERENCE) { /* pack once for the fast path */
        st = create_fast(op);
        if (st) {
            tconv_op_destroy(op);
            return st;
        }
    }
    if (tc_verbose())
        fprintf(stderr, "tconv: %s %s create impl=%s layout=%s time=%.3fms\n", kind_name(kind),
                pass_name(pass), tconv_impl_name(op->impl),
                o.layout == TCONV_LAYOUT_NHWC ? "nhwc" : "nchw", 1e3 * (tc_now() - t0));
    *out = op;
    return TCONV_OK;
}

static tconv_status ct2d_create(tconv_pass pass, const tconv_conv_transpose2d_params *p,
                                const float *weight, const float *bias, const tconv_options *opt,
                                int borrow, tconv_op **op) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    tconv_status st = tc_check_ct2d_params(p);
    if (st) return st;
    int64_t dims[4] = {p->in_channels, p->out_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]},
            numel;
    tc_numel(dims, 4, &numel); /* checked by tc_check_ct2d_params */
    return op_new(TC_OP_CONV_TRANSPOSE2D, pass, p, numel, weight, bias, p->out_channels, opt,
                  borrow, op);
}

static tconv_status conv2d_create(tconv_pass pass, const tconv_conv2d_params *p,
                                  const float *weight, const float *bias,
                                  const tconv_options *opt, int borrow, tconv_op **op) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    tconv_status st = tc_check_conv2d_params(p);
    if (st) return st;
    int64_t dims[4] = {p->out_channels, p->in_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]},
            numel;
    tc_numel(dims, 4, &numel);
    return op_new(TC_OP_CONV2D, pass, p, numel, weight, bias, p->out_channels, opt, borrow, op);
}

tconv_status tconv_conv_transpose2d_create(const tconv_conv_transpose2d_params *p,
                                           const float *weight, const float *bias,
                                           const tconv_options *opt, tconv_op **op) {
    return ct2d_create(TCONV_PASS_FORWARD, p, weight, bias, opt, 0, op);
}

tconv_status tconv_conv_transpose2d_backward_data_create(const tconv_conv_transpose2d_params *p,
                                                         const float *weight,
                                                         const tconv_options *opt,
                                                         tconv_op **op) {
    return ct2d_create(TCONV_PASS_BACKWARD_DATA, p, weight, NULL, opt, 0, op);
}

tconv_status tconv_conv_transpose2d_backward_weight_create(const tconv_conv_transpose2d_params *p,
                                                           const tconv_options *opt,
                                                           tconv_op **op) {
    return ct2d_create(TCONV_PASS_BACKWARD_WEIGHT, p, NULL, NULL, opt, 0, op);
}

tconv_status tc_ct2d_create_borrowed(tconv_pass pass, const tconv_conv_transpose2d_params *p,
                                     const float *weight, const float *bias, tconv_op **op) {
    return ct2d_create(pass, p, weight, bias, NULL, 1, op);
}

tconv_status tc_conv2d_create_borrowed(tconv_pass pass, const tconv_conv2d_params *p,
                                       const float *weight, const float *bias, tconv_op **op) {
    return conv2d_create(pass, p, weight, bias, NULL, 1, op);
}

tconv_status tconv_conv2d_create(const tconv_conv2d_params *p, const float *weight,
                                 const float *bias, const tconv_options *opt, tconv_op **op) {
    return conv2d_create(TCONV_PASS_FORWARD, p, weight, bias, opt, 0, op);
}

tconv_status tconv_conv2d_backward_data_create(const tconv_conv2d_params *p, const float *weight,
                                               const tconv_options *opt, tconv_op **op) {
    return conv2d_create(TCONV_PASS_BACKWARD_DATA, p, weight, NULL, opt, 0, op);
}

tconv_status tconv_conv2d_backward_weight_create(const tconv_conv2d_params *p,
                                                 const tconv_options *opt, tconv_op **op) {
    return conv2d_create(TCONV_PASS_BACKWARD_WEIGHT, p, NULL, NULL, opt, 0, op);
}

/* ---- reshape ------------------------------------------------------------- */

/* The row's lowering and plan for op->geom; the reference where the row
 * declines or the impl is the reference. */
static tconv_status plan_pass(tconv_op *op) {
    const tc_op_row *row = op->row;
    const tc_geom *g = &op->geom;
    op->fast = false;
    op->fold_bytes = 0;
    op->workspace_bytes = 0;
    atomic_store(&op->path, "reference");
    const char *path = "reference";
    if (op->pass == TCONV_PASS_BACKWARD_WEIGHT) {
        tc_wgrad_problem wp;
        if (!op->wgrad || !row->lower_wgrad(g, &wp)) return TCONV_OK;
        tconv_status st = tc_wgrad_reshape(op->wgrad, &wp, op->opt.layout, row->db_of_a,
                                           &op->workspace_bytes, &path);
        if (st) return st;
        atomic_store(&op->path, path);
        op->fast = true;
        return TCONV_OK;
    }
    tc_problem pb;
    if (!op->plan || !row->lower(g, &pb)) return TCONV_OK;
    size_t ws = 0;
    tconv_status st = tc_plan_reshape(op->plan, &pb, op->opt.layout, &ws, &path);
    if (st) return st;
    atomic_store(&op->path, path);
    if (row->folds && (pb.g.h_out != g->h_in || pb.g.w_out != g->w_in)) {
        /* the planner writes the padded input's gradient; fold it back */
        int64_t dims[4] = {pb.g.n, pb.g.c_out, pb.g.h_out, pb.g.w_out}, numel;
        if (!tc_numel(dims, 4, &numel) || !tc_float_bytes(numel, &op->fold_bytes) ||
            ws > SIZE_MAX - op->fold_bytes - 64)
            return tc_fail(TCONV_ERROR_OVERFLOW, "the padded input's gradient does not fit");
        ws = (ws + 63) / 64 * 64 + op->fold_bytes;
    }
    op->workspace_bytes = ws;
    op->fast = true;
    return TCONV_OK;
}

tconv_status tconv_op_reshape(tconv_op *op, int ndim, const int64_t *input_shape,
                              const int64_t *output_size, int output_size_len,
                              int64_t *output_shape, size_t *workspace_bytes) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (!output_shape) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output_shape is NULL");
    const double t0 = tc_verbose() ? tc_now() : 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&op->state, &expected, -1))
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "tconv_op_reshape called while %s of the operator %s in flight",
                       expected > 0 ? "runs" : "another reshape or destroy",
                       expected > 0 ? "are" : "is");
    atomic_store(&op->reshaped, false); /* a failed reshape leaves the op unreshaped */
    tc_geom g;
    tconv_status st;
    if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        st = tc_ct2d_geometry(&op->ct, ndim, input_shape, output_size, output_size_len, &g);
    } else if (output_size || output_size_len) {
        st = tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                     "output_size is only accepted by conv_transpose2d");
    } else {
        st = tc_conv2d_geometry(&op->cv, ndim, input_shape, &g);
    }
    if (st == TCONV_OK) {
        op->geom = g;
        st = plan_pass(op);
    }
    if (st == TCONV_OK) {
        atomic_store(&op->reshaped, true);
        if (ndim == 4) {
            output_shape[0] = g.n;
            output_shape += 1;
        }
        output_shape[0] = g.c_out;
        output_shape[1] = g.h_out;
        output_shape[2] = g.w_out;
        if (workspace_bytes) *workspace_bytes = op->workspace_bytes;
        if (tc_verbose())
            fprintf(stderr,
                    "tconv: %s %s reshape in=[%lld,%lld,%lld,%lld] out=[%lld,%lld,%lld,%lld] "
                    "impl=%s path=%s ws=%zu time=%.3fms\n",
                    kind_name(op->kind), pass_name(op->pass), (long long)g.n, (long long)g.c_in,
                    (long long)g.h_in, (long long)g.w_in, (long long)g.n, (long long)g.c_out,
                    (long long)g.h_out, (long long)g.w_out, tconv_impl_name(op->impl), op->path,
                    op->workspace_bytes, 1e3 * (tc_now() - t0));
    }
    atomic_store(&op->state, 0);
    return st;
}

/* ---- runs ------------------------------------------------------------------ */

static bool overlaps(const void *a, size_t an, const void *b, size_t bn) {
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return a && b && an && bn && pa < pb + bn && pb < pa + an;
}

/* Enters a run of op for pass (the state check of the contract). */
static tconv_status run_enter(tconv_op *op, tconv_pass pass, const char *fn) {
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (op->pass != pass)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s called on a %s %s operator", fn,
                       kind_name(op->kind), pass_name(op->pass));
    int s = atomic_load(&op->state);
    do {
        if (s < 0)
            return tc_fail(TCONV_ERROR_INVALID_STATE,
                           "%s called while the operator is being reshaped or destroyed", fn);
    } while (!atomic_compare_exchange_weak(&op->state, &s, s + 1));
    if (!atomic_load(&op->reshaped)) {
        atomic_fetch_sub(&op->state, 1);
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "%s called before tconv_op_reshape, or after a failed one", fn);
    }
    return TCONV_OK;
}

static tconv_status run_leave(tconv_op *op, tconv_status st) {
    atomic_fetch_sub(&op->state, 1);
    return st;
}

static size_t bytes_of(int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t d[4] = {n, c, h, w}, numel;
    size_t b = 0;
    tc_numel(d, 4, &numel); /* sizes checked at reshape */
    tc_float_bytes(numel, &b);
    return b;
}

static void verbose_run(const tconv_op *op, double t0) {
    if (!tc_verbose()) return;
    const tc_geom *g = &op->geom;
    fprintf(stderr,
            "tconv: %s %s run in=[%lld,%lld,%lld,%lld] impl=%s path=%s threads=%d "
            "time=%.3fms\n",
            kind_name(op->kind), pass_name(op->pass), (long long)g->n, (long long)g->c_in,
            (long long)g->h_in, (long long)g->w_in, tconv_impl_name(op->impl), op->path,
            tc_resolve_threads(atomic_load_explicit(&op->num_threads, memory_order_relaxed)),
            1e3 * (tc_now() - t0));
}

static int run_threads(const tconv_op *op) {
    return tc_resolve_threads(atomic_load_explicit(&op->num_threads, memory_order_relaxed));
}

tconv_status tconv_op_run(tconv_op *op, const float *input, float *output, void *workspace) {
    tc_clear_error();
    tconv_status st = run_enter(op, TCONV_PASS_FORWARD, "tconv_op_run");
    if (st) return st;
    const double t0 = tc_verbose() ? tc_now() : 0;
    const tc_geom *g = &op->geom;
    const size_t xb = bytes_of(g->n, g->c_in, g->h_in, g->w_in),
                 yb = bytes_of(g->n, g->c_out, g->h_out, g->w_out), wsb = op->workspace_bytes;
    if (yb == 0) return run_leave(op, TCONV_OK); /* zero batch: nothing to compute */
    const tc_epilogue *ep = &op->act;
    if (!input || !output)
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s is NULL",
                                     input ? "output" : "input"));
    if (wsb && !workspace)
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "workspace is NULL but tconv_op_reshape asked for %zu bytes",
                                     wsb));
    if (overlaps(input, xb, output, yb) || overlaps(input, xb, workspace, wsb) ||
        overlaps(output, yb, workspace, wsb))
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "input, output and workspace must not overlap"));
    const tc_strides xs = tc_strides_for(op->opt.layout, g->c_in, g->h_in, g->w_in);
    const tc_strides ys = tc_strides_for(op->opt.layout, g->c_out, g->h_out, g->w_out);
    if (op->fast) {
        tc_plan_run(op->plan, input, output, workspace, run_threads(op), ep);
    } else if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        tc_ref_conv_transpose2d_forward(g, input, xs, op->weight, op->bias, output, ys);
    } else {
        tc_ref_conv2d_forward(g, input, xs, op->weight, op->bias, output, ys);
    }
    if (op->nan_taps.n && g->padding_mode == TCONV_PADDING_MODE_ZEROS)
        tc_nan_taps_apply(&op->nan_taps, g, output, ys);
    /* the reference's output through the activation afterwards: element-
     * wise, the same values the fast stores give (and the NaNs of padding
     * stay NaN through every activation) */
    if (ep->act != TC_ACT_NONE && !op->fast)
        tc_epilogue_apply(ep, output, output, (int64_t)(yb / sizeof(float)));
    verbose_run(op, t0);
    return run_leave(op, TCONV_OK);
}

tconv_status tconv_op_run_backward_data(tconv_op *op, const float *grad_output,
                                        float *grad_input, void *workspace) {
    tc_clear_error();
    tconv_status st = run_enter(op, TCONV_PASS_BACKWARD_DATA, "tconv_op_run_backward_data");
    if (st) return st;
    const double t0 = tc_verbose() ? tc_now() : 0;
    const tc_geom *g = &op->geom;
    const size_t xb = bytes_of(g->n, g->c_in, g->h_in, g->w_in),
                 yb = bytes_of(g->n, g->c_out, g->h_out, g->w_out), wsb = op->workspace_bytes;
    if (xb == 0) return run_leave(op, TCONV_OK); /* an empty grad_input */
    if (!grad_input || (yb && !grad_output))
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s is NULL",
                                     grad_input ? "grad_output" : "grad_input"));
    if (wsb && !workspace)
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "workspace is NULL but tconv_op_reshape asked for %zu bytes",
                                     wsb));
    if (overlaps(grad_output, yb, grad_input, xb) || overlaps(grad_output, yb, workspace, wsb) ||
        overlaps(grad_input, xb, workspace, wsb))
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "grad_output, grad_input and workspace must not overlap"));
    const tc_strides xs = tc_strides_for(op->opt.layout, g->c_in, g->h_in, g->w_in);
    const tc_strides ys = tc_strides_for(op->opt.layout, g->c_out, g->h_out, g->w_out);
    const int acc = op->opt.accumulate, nt = run_threads(op);
    if (op->fast && op->fold_bytes) {
        /* the planner writes the padded gradient at the workspace's end */
        float *dxp = (float *)((char *)workspace + op->workspace_bytes - op->fold_bytes);
        const tc_epilogue ep = {0, TC_ACT_NONE, 0.0f, NULL};
        tc_plan_run(op->plan, grad_output, dxp, workspace, nt, &ep);
        tc_fold_padding(dxp, grad_input, g->n, g->c_in, g->h_in, g->w_in, g->pad_t, g->pad_b,
                        g->pad_l, g->pad_r, g->padding_mode, op->opt.layout, acc, nt);
    } else if (op->fast) {
        const tc_epilogue ep = {acc, TC_ACT_NONE, 0.0f, NULL};
        tc_plan_run(op->plan, grad_output, grad_input, workspace, nt, &ep);
    } else if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        tc_ref_conv_transpose2d_backward_data(g, grad_output, ys, op->weight, grad_input, xs, acc);
    } else {
        tc_ref_conv2d_backward_data(g, grad_output, ys, op->weight, grad_input, xs, acc);
    }
    if (op->nan_taps.n) { /* conv_transpose2d: a convolution of grad_output */
        tc_geom c = *g;
        c.h_in = g->h_out;
        c.w_in = g->w_out;
        c.h_out = g->h_in;
        c.w_out = g->w_in;
        c.pad_t = g->ph;
        c.pad_l = g->pw;
        tc_nan_taps_apply(&op->nan_taps, &c, grad_input, xs);
    }
    verbose_run(op, t0);
    return run_leave(op, TCONV_OK);
}

tconv_status tconv_op_run_backward_weight(tconv_op *op, const float *input,
                                          const float *grad_output, float *grad_weight,
                                          float *grad_bias, void *workspace) {
    tc_clear_error();
    tconv_status st = run_enter(op, TCONV_PASS_BACKWARD_WEIGHT, "tconv_op_run_backward_weight");
    if (st) return st;
    const double t0 = tc_verbose() ? tc_now() : 0;
    const tc_geom *g = &op->geom;
    const size_t xb = bytes_of(g->n, g->c_in, g->h_in, g->w_in),
                 yb = bytes_of(g->n, g->c_out, g->h_out, g->w_out), wsb = op->workspace_bytes;
    const size_t wb = (size_t)op->weight_numel * sizeof(float),
                 bb = (size_t)g->c_out * sizeof(float);
    if (!grad_weight && !grad_bias) return run_leave(op, TCONV_OK);
    if ((grad_weight && xb && !input) || (yb && !grad_output))
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s is NULL",
                                     yb && !grad_output ? "grad_output" : "input"));
    if (grad_weight && wsb && !workspace && xb && yb)
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "workspace is NULL but tconv_op_reshape asked for %zu bytes",
                                     wsb));
    const void *in[3] = {input, grad_output, workspace};
    const size_t inb[3] = {xb, yb, wsb};
    void *out[3] = {grad_weight, grad_bias, workspace};
    const size_t outb[3] = {wb, bb, wsb};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if ((i < 2 || j < 2) && !(i == 2 && j == 2) && overlaps(in[i], inb[i], out[j], outb[j]))
                return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                             "input, grad_output, grad_weight, grad_bias and "
                                             "workspace must not overlap"));
    if (overlaps(grad_weight, wb, grad_bias, bb))
        return run_leave(op, tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                                     "grad_weight and grad_bias must not overlap"));
    const tc_strides xs = tc_strides_for(op->opt.layout, g->c_in, g->h_in, g->w_in);
    const tc_strides ys = tc_strides_for(op->opt.layout, g->c_out, g->h_out, g->w_out);
    const int acc = op->opt.accumulate;
    int a_bad = -1; /* A's non-finite values: not looked for yet */
    if (op->fast) {
        const int a_is_dy = op->row->db_of_a;
        a_bad = tc_wgrad_run(op->wgrad, a_is_dy ? grad_output : input,
                             a_is_dy ? input : grad_output, grad_weight, grad_bias, a_is_dy,
                             workspace, run_threads(op), acc);
    } else if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        tc_ref_conv_transpose2d_backward_weight(g, input, xs, grad_output, ys, grad_weight,
                                                grad_bias, acc);
    } else {
        tc_ref_conv2d_backward_weight(g, input, xs, grad_output, ys, grad_weight, grad_bias, acc);
    }
    tc_wgrad_problem wp;
    if (grad_weight && op->row->lower_wgrad(g, &wp)) {
        const int a_is_dy = op->row->db_of_a;
        tc_wgrad_nan(&wp, a_is_dy ? grad_output : input, a_is_dy ? ys : xs, grad_weight, a_bad,
                     run_threads(op));
    }
    verbose_run(op, t0);
    return run_leave(op, TCONV_OK);
}

tconv_status tconv_op_set_weights(tconv_op *op, const float *weight, const float *bias) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (op->pass == TCONV_PASS_BACKWARD_WEIGHT)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "a backward_weight operator has no weights to set");
    if (!weight) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "weight is NULL");
    if ((bias != NULL) != (op->bias != NULL))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "bias must be %s: the operator was created %s a bias",
                       op->bias ? "given" : "NULL", op->bias ? "with" : "without");
    int expected = 0;
    if (!atomic_compare_exchange_strong(&op->state, &expected, -1))
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "tconv_op_set_weights called while the operator is in use");
    const int nt = tc_resolve_threads(op->opt.num_threads);
    op->w_finite = tc_copy_check_finite(op->weight, weight, op->weight_numel, nt);
    if (bias) {
        const int64_t cout = op->kind == TC_OP_CONV_TRANSPOSE2D ? op->ct.out_channels
                                                                 : op->cv.out_channels;
        memcpy(op->bias, bias, (size_t)cout * sizeof(float));
    }
    tconv_status st = find_nan_taps(op);
    if (op->plan) {
        float *own = tc_plan_owned_weights(op->plan);
        if (own) { /* the planner's copy is the weight flipped, channels swapped */
            int64_t cin, cout, groups, kh, kw;
            weight_dims(op, &cin, &cout, &groups, &kh, &kw);
            const int64_t pcin = op->row->swap ? cout : cin, pcout = op->row->swap ? cin : cout;
            tc_flip_swap_weights(op->weight, pcout, pcin, groups, kh, kw, own, nt);
        }
        tc_plan_set_weights(op->plan, op->w_finite,
                            op->pass == TCONV_PASS_FORWARD ? op->bias : NULL);
    }
    atomic_store(&op->state, 0);
    return st;
}

tconv_status tconv_op_set_activation(tconv_op *op, tconv_activation activation, float alpha) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (op->pass != TCONV_PASS_FORWARD)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "an activation is fused into forward operators only, not %s",
                       pass_name(op->pass));
    if (activation < TCONV_ACTIVATION_NONE || activation > TCONV_ACTIVATION_SIGMOID)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "activation %d is not a tconv_activation",
                       (int)activation);
    if (!isfinite(alpha))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "alpha must be finite, but got %g",
                       (double)alpha);
    int expected = 0;
    if (!atomic_compare_exchange_strong(&op->state, &expected, -1))
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "tconv_op_set_activation called while the operator is in use");
    static const tc_act acts[] = {TC_ACT_NONE, TC_ACT_RELU, TC_ACT_LEAKY_RELU, TC_ACT_TANH,
                                  TC_ACT_SIGMOID};
    op->act.act = acts[activation];
    op->act.alpha = alpha;
    op->act.ek = tc_eltwise();
    atomic_store(&op->state, 0);
    return TCONV_OK;
}

tconv_status tconv_op_set_num_threads(tconv_op *op, int num_threads) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (num_threads < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "num_threads must be >= 0 (0 = default), but got %d", num_threads);
    atomic_store_explicit(&op->num_threads, num_threads, memory_order_relaxed);
    return TCONV_OK;
}

tconv_impl tconv_op_impl(const tconv_op *op) { return op ? op->impl : TCONV_IMPL_AUTO; }

tconv_pass tconv_op_pass(const tconv_op *op) { return op ? op->pass : TCONV_PASS_FORWARD; }

const char *tconv_op_path(const tconv_op *op) {
    if (!op) return "none";
    /* during a reshape: the old path, "reference" or the new one; never torn */
    return atomic_load(&((tconv_op *)op)->reshaped) ? atomic_load(&((tconv_op *)op)->path)
                                                   : "none";
}

void tconv_op_destroy(tconv_op *op) {
    if (!op) return;
    /* wait for runs in flight (the contract lets destroy race with them) */
    for (int expected = 0; !atomic_compare_exchange_weak(&op->state, &expected, -1);
         expected = 0)
        sched_yield();
    tc_plan_free(op->plan);
    tc_wgrad_free(op->wgrad);
    tc_nan_taps_free(&op->nan_taps);
    if (!op->weight_borrowed) free(op->weight);
    free(op->bias);
    free(op);
}
