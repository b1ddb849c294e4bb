/* operator.c -- operator objects: create (validate, copy/pack weights),
 * reshape (per-input checks, path choice, workspace size), run, destroy;
 * the one-call functions; the public reference entry points. */
#include "internal.h"
#include "fast/fast.h"

#include <stdlib.h>
#include <string.h>

void tconv_options_init(tconv_options *opt) {
    if (!opt) return;
    opt->num_threads = 0;
    opt->layout = TCONV_LAYOUT_NCHW;
    opt->impl = TCONV_IMPL_AUTO;
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

int tconv_default_num_threads(void) { return tc_cpu_count(); }

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
    return TCONV_OK;
}

/* Shared tail of both creates: options, weight/bias copies. */
static tconv_status op_new(tc_op_kind kind, int64_t weight_numel, const float *weight,
                           const float *bias, int64_t bias_len, const tconv_options *opt,
                           tconv_op **out) {
    tconv_options o;
    tconv_options_init(&o);
    if (opt) o = *opt;
    tconv_status st = check_options(&o);
    if (st) return st;
    if (!weight) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "weight is NULL");
    size_t wbytes, bbytes;
    if (!tc_float_bytes(weight_numel, &wbytes) || !tc_float_bytes(bias_len, &bbytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "weight does not fit in memory");
    tconv_op *op = calloc(1, sizeof *op);
    if (!op) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory allocating the operator");
    op->kind = kind;
    op->opt = o;
    op->impl = o.impl == TCONV_IMPL_AUTO ? tconv_best_impl() : o.impl;
    op->weight_numel = weight_numel;
    op->weight = malloc(wbytes ? wbytes : 1);
    op->bias = bias ? malloc(bbytes ? bbytes : 1) : NULL;
    if (!op->weight || (bias && !op->bias)) {
        free(op->weight);
        free(op->bias);
        free(op);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory copying %lld weights",
                       (long long)weight_numel);
    }
    memcpy(op->weight, weight, wbytes);
    if (bias) memcpy(op->bias, bias, bbytes);
    *out = op;
    return TCONV_OK;
}

tconv_status tconv_conv_transpose2d_create(const tconv_conv_transpose2d_params *p,
                                           const float *weight, const float *bias,
                                           const tconv_options *opt, tconv_op **op) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    tconv_status st = tc_check_ct2d_params(p);
    if (st) return st;
    int64_t dims[4] = {p->in_channels, p->out_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]},
            numel;
    tc_numel(dims, 4, &numel); /* checked by tc_check_ct2d_params */
    tconv_op *o;
    st = op_new(TC_OP_CONV_TRANSPOSE2D, numel, weight, bias, p->out_channels, opt, &o);
    if (st) return st;
    o->ct = *p;
    if (o->impl != TCONV_IMPL_REFERENCE) { /* pack once for the fast path */
        st = tc_fast_ct2d_create(o);
        if (st) {
            tconv_op_destroy(o);
            return st;
        }
    }
    *op = o;
    return TCONV_OK;
}

tconv_status tconv_conv2d_create(const tconv_conv2d_params *p, const float *weight,
                                 const float *bias, const tconv_options *opt, tconv_op **op) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    tconv_status st = tc_check_conv2d_params(p);
    if (st) return st;
    int64_t dims[4] = {p->out_channels, p->in_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]},
            numel;
    tc_numel(dims, 4, &numel);
    tconv_op *o;
    st = op_new(TC_OP_CONV2D, numel, weight, bias, p->out_channels, opt, &o);
    if (st) return st;
    o->cv = *p;
    /* conv2d runs on the transposed-convolution kernels too (tc_fast_conv2d_create) */
    if (o->impl != TCONV_IMPL_REFERENCE) {
        st = tc_fast_conv2d_create(o);
        if (st) {
            tconv_op_destroy(o);
            return st;
        }
    }
    *op = o;
    return TCONV_OK;
}

static tconv_status run_reference(tconv_op *op, const float *x, float *y, void *ws) {
    (void)ws;
    const tc_geom *g = &op->geom;
    tc_strides xs = tc_strides_for(op->opt.layout, g->c_in, g->h_in, g->w_in);
    tc_strides ys = tc_strides_for(op->opt.layout, g->c_out, g->h_out, g->w_out);
    if (op->kind == TC_OP_CONV_TRANSPOSE2D)
        tc_ref_conv_transpose2d(g, x, xs, op->weight, op->bias, y, ys);
    else
        tc_ref_conv2d(g, x, xs, op->weight, op->bias, y, ys);
    return TCONV_OK;
}

/* Path choice: which routine runs this geometry, and its workspace. */
static tconv_status choose_path(tconv_op *op) {
    /* conv_transpose2d: the fast path for every impl but REFERENCE; conv2d
     * too where its geometry has a transposed-convolution form. */
    /* The phase plan's tables and loops grow with the stride and the kernel
     * size.  The kernel is bounded by the (never empty) weights; the stride
     * only where the output is non-empty and the stride does not exceed it
     * (legal: stride 2^50 on a 1-row input, or on a zero batch).  Those
     * geometries, and strides beyond any real layer's, take the reference
     * kernel, which does no work for an empty output. */
    tc_geom *g = &op->geom;
    if (op->kind == TC_OP_CONV2D && op->fast && g->n > 0 && g->c_out > 0 &&
        tc_fast_conv2d_geom(g))
        return tc_fast_ct2d_plan(op);
    if (op->kind == TC_OP_CONV_TRANSPOSE2D && op->fast && g->n > 0 && g->c_out > 0 &&
        g->sh <= g->h_out && g->sw <= g->w_out &&
        g->sh <= 256 && g->sw <= 256 && g->sh * g->sw <= 4096)
        return tc_fast_ct2d_plan(op);
    op->run = run_reference;
    op->path = "reference";
    op->workspace_bytes = 0;
    return TCONV_OK;
}

tconv_status tconv_op_reshape(tconv_op *op, int ndim, const int64_t *input_shape,
                              const int64_t *output_size, int output_size_len,
                              int64_t *output_shape, size_t *workspace_bytes) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (!output_shape) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output_shape is NULL");
    tc_geom g;
    tconv_status st;
    if (op->kind == TC_OP_CONV_TRANSPOSE2D) {
        st = tc_ct2d_geometry(&op->ct, ndim, input_shape, output_size, output_size_len, &g);
    } else {
        if (output_size || output_size_len)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "output_size is only accepted by conv_transpose2d");
        st = tc_conv2d_geometry(&op->cv, ndim, input_shape, &g);
    }
    if (st) return st;
    op->reshaped = false;
    op->geom = g;
    st = choose_path(op);
    if (st) return st;
    op->reshaped = true;
    if (ndim == 4) {
        output_shape[0] = g.n;
        output_shape += 1;
    }
    output_shape[0] = g.c_out;
    output_shape[1] = g.h_out;
    output_shape[2] = g.w_out;
    if (workspace_bytes) *workspace_bytes = op->workspace_bytes;
    return TCONV_OK;
}

static bool overlaps(const void *a, size_t an, const void *b, size_t bn) {
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return an && bn && pa < pb + bn && pb < pa + an;
}

tconv_status tconv_op_run(tconv_op *op, const float *input, float *output, void *workspace) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (!op->reshaped)
        return tc_fail(TCONV_ERROR_INVALID_STATE, "tconv_op_run called before tconv_op_reshape");
    const tc_geom *g = &op->geom;
    int64_t xd[4] = {g->n, g->c_in, g->h_in, g->w_in}, yd[4] = {g->n, g->c_out, g->h_out, g->w_out};
    int64_t xn, yn;
    size_t xb, yb;
    tc_numel(xd, 4, &xn);
    tc_numel(yd, 4, &yn);
    tc_float_bytes(xn, &xb);
    tc_float_bytes(yn, &yb);
    if (yn == 0) return TCONV_OK; /* zero batch: nothing to compute */
    if (!input) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input is NULL");
    if (!output) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output is NULL");
    if (op->workspace_bytes && !workspace)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "workspace is NULL but tconv_op_reshape asked for %zu bytes",
                       op->workspace_bytes);
    if (overlaps(input, xb, output, yb))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input and output overlap");
    return op->run(op, input, output, workspace);
}

tconv_status tconv_op_set_num_threads(tconv_op *op, int num_threads) {
    tc_clear_error();
    if (!op) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "op is NULL");
    if (num_threads < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "num_threads must be >= 0 (0 = default), but got %d", num_threads);
    op->opt.num_threads = num_threads;
    return TCONV_OK;
}

tconv_impl tconv_op_impl(const tconv_op *op) { return op ? op->impl : TCONV_IMPL_AUTO; }

const char *tconv_op_path(const tconv_op *op) {
    return op && op->reshaped ? op->path : "none";
}

void tconv_op_destroy(tconv_op *op) {
    if (!op) return;
    if (op->fast && op->fast_free) op->fast_free(op->fast);
    free(op->weight);
    free(op->bias);
    free(op);
}

/* create + reshape + run + destroy, with the capacity check the one-call
 * functions promise. */
static tconv_status one_call(tconv_op *op, int ndim, const int64_t *input_shape,
                             const float *input, const int64_t *output_size, int output_size_len,
                             float *output, int64_t output_capacity, int64_t *output_shape) {
    int64_t shape[4];
    size_t ws_bytes = 0;
    tconv_status st = tconv_op_reshape(op, ndim, input_shape, output_size, output_size_len,
                                       shape, &ws_bytes);
    if (st) return st;
    int64_t numel;
    tc_numel(shape, ndim, &numel);
    if (output_capacity < numel) {
        char b[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "output holds %lld floats but the output of size %s needs %lld",
                       (long long)output_capacity, tc_fmt_dims(b, sizeof b, shape, ndim),
                       (long long)numel);
    }
    void *ws = NULL;
    if (ws_bytes) {
        ws = malloc(ws_bytes);
        if (!ws)
            return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory allocating %zu bytes",
                           ws_bytes);
    }
    st = tconv_op_run(op, input, output, ws);
    free(ws);
    if (st) return st;
    if (output_shape) memcpy(output_shape, shape, (size_t)ndim * sizeof *shape);
    return TCONV_OK;
}

tconv_status tconv_conv_transpose2d(const tconv_conv_transpose2d_params *p, int ndim,
                                    const int64_t *input_shape, const float *input,
                                    const float *weight, const float *bias,
                                    const int64_t *output_size, int output_size_len,
                                    float *output, int64_t output_capacity,
                                    int64_t *output_shape) {
    tconv_op *op = NULL;
    tconv_status st;
    if (p && output_size) {
        /* forward(input, output_size) ignores the module's output_padding. */
        tconv_conv_transpose2d_params q = *p;
        q.output_padding[0] = q.output_padding[1] = 0;
        st = tconv_conv_transpose2d_create(&q, weight, bias, NULL, &op);
    } else {
        st = tconv_conv_transpose2d_create(p, weight, bias, NULL, &op);
    }
    if (st) return st;
    st = one_call(op, ndim, input_shape, input, output_size, output_size_len, output,
                  output_capacity, output_shape);
    tconv_op_destroy(op);
    return st;
}

tconv_status tconv_conv2d(const tconv_conv2d_params *p, int ndim, const int64_t *input_shape,
                          const float *input, const float *weight, const float *bias,
                          float *output, int64_t output_capacity, int64_t *output_shape) {
    tconv_op *op = NULL;
    tconv_status st = tconv_conv2d_create(p, weight, bias, NULL, &op);
    if (st) return st;
    st = one_call(op, ndim, input_shape, input, NULL, 0, output, output_capacity, output_shape);
    tconv_op_destroy(op);
    return st;
}

static tconv_status reference_checks(const int64_t *input_shape, const float *input,
                                     const float *weight, const float *output,
                                     int64_t output_capacity, const tc_geom *g) {
    (void)input_shape;
    int64_t yd[4] = {g->n, g->c_out, g->h_out, g->w_out}, yn;
    tc_numel(yd, 4, &yn);
    if (output_capacity < yn)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)yn);
    if (yn && (!input || !weight || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input, weight or output is NULL");
    return TCONV_OK;
}

tconv_status tconv_reference_conv_transpose2d(const tconv_conv_transpose2d_params *p,
                                              const int64_t input_shape[4], const float *input,
                                              const float *weight, const float *bias,
                                              float *output, int64_t output_capacity) {
    tc_clear_error();
    tc_geom g;
    tconv_status st = tc_ct2d_geometry(p, 4, input_shape, NULL, 0, &g);
    if (st) return st;
    st = reference_checks(input_shape, input, weight, output, output_capacity, &g);
    if (st) return st;
    tc_ref_conv_transpose2d(&g, input, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_in, g.h_in, g.w_in),
                            weight, bias, output,
                            tc_strides_for(TCONV_LAYOUT_NCHW, g.c_out, g.h_out, g.w_out));
    return TCONV_OK;
}

tconv_status tconv_reference_conv2d(const tconv_conv2d_params *p, const int64_t input_shape[4],
                                    const float *input, const float *weight, const float *bias,
                                    float *output, int64_t output_capacity) {
    tc_clear_error();
    tc_geom g;
    tconv_status st = tc_conv2d_geometry(p, 4, input_shape, &g);
    if (st) return st;
    st = reference_checks(input_shape, input, weight, output, output_capacity, &g);
    if (st) return st;
    tc_ref_conv2d(&g, input, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_in, g.h_in, g.w_in), weight,
                  bias, output, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_out, g.h_out, g.w_out));
    return TCONV_OK;
}
