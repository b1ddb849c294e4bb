/* one_call.c -- the one-call functions (create + reshape + run + destroy,
 * with the capacity and shape checks they promise) of every pass, and the
 * public reference entry points. */
#include "ops.h"
#include "../kernels/kernels.h"

#include <stdlib.h>
#include <string.h>

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
        st = tc_ct2d_create_borrowed(TCONV_PASS_FORWARD, &q, weight, bias, &op);
    } else {
        st = tc_ct2d_create_borrowed(TCONV_PASS_FORWARD, p, weight, bias, &op);
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
    tconv_status st = tc_conv2d_create_borrowed(TCONV_PASS_FORWARD, p, weight, bias, &op);
    if (st) return st;
    st = one_call(op, ndim, input_shape, input, NULL, 0, output, output_capacity, output_shape);
    tconv_op_destroy(op);
    return st;
}

/* ---- backward ------------------------------------------------------------ */

/* One pass's operator, reshaped, with its workspace. */
typedef struct pass_run {
    tconv_op *op;
    void *ws;
} pass_run;

static void pass_free(pass_run *r) {
    tconv_op_destroy(r->op);
    free(r->ws);
    r->op = NULL;
    r->ws = NULL;
}

static tconv_status pass_prepare(pass_run *r, int ndim, const int64_t *input_shape,
                                 const int64_t *output_size, int output_size_len) {
    int64_t shape[4];
    size_t ws = 0;
    tconv_status st = tconv_op_reshape(r->op, ndim, input_shape, output_size, output_size_len,
                                       shape, &ws);
    if (st) return st;
    if (ws && !(r->ws = malloc(ws)))
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory allocating %zu bytes", ws);
    return TCONV_OK;
}

/* grad_output_shape against the forward's output shape (computed by the
 * caller as out_shape). */
static tconv_status check_grad_output(int ndim, const int64_t *input_shape,
                                      const int64_t *out_shape, const int64_t *grad_output_shape) {
    if (!grad_output_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "grad_output_shape is NULL");
    if (memcmp(out_shape, grad_output_shape, (size_t)ndim * sizeof(int64_t)) != 0) {
        char a[160], b[160], c[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "grad_output has shape %s but the forward's output for input of shape %s "
                       "has shape %s",
                       tc_fmt_dims(a, sizeof a, grad_output_shape, ndim),
                       tc_fmt_dims(b, sizeof b, input_shape, ndim),
                       tc_fmt_dims(c, sizeof c, out_shape, ndim));
    }
    return TCONV_OK;
}

static tconv_status check_mask_buffers(const int mask[3], const float *grad_input,
                                       const float *grad_weight, const float *grad_bias) {
    static const char *names[3] = {"grad_input", "grad_weight", "grad_bias"};
    const float *bufs[3] = {grad_input, grad_weight, grad_bias};
    for (int i = 0; i < 3; i++)
        if (mask[i] && !bufs[i])
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s is NULL but output_mask[%d] is set",
                           names[i], i);
    return TCONV_OK;
}

/* Runs the masked passes once both operators are ready, so that nothing
 * is written when a create or reshape fails. */
static tconv_status run_backward(pass_run *data, pass_run *wt, const int mask[3],
                                 const float *input, const float *grad_output, float *grad_input,
                                 float *grad_weight, float *grad_bias) {
    tconv_status st = TCONV_OK;
    if (data->op) st = tconv_op_run_backward_data(data->op, grad_output, grad_input, data->ws);
    if (!st && wt->op)
        st = tconv_op_run_backward_weight(wt->op, input, grad_output,
                                          mask[1] ? grad_weight : NULL,
                                          mask[2] ? grad_bias : NULL, wt->ws);
    return st;
}

tconv_status tconv_conv_transpose2d_backward(
    const tconv_conv_transpose2d_params *p, int ndim, const int64_t *input_shape,
    const float *input, const float *weight, const int64_t *output_size, int output_size_len,
    const int64_t *grad_output_shape, const float *grad_output, const int output_mask[3],
    float *grad_input, float *grad_weight, float *grad_bias) {
    tc_clear_error();
    static const int all[3] = {1, 1, 1};
    const int *mask = output_mask ? output_mask : all;
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "params is NULL");
    /* forward(input, output_size) ignores the module's output_padding */
    tconv_conv_transpose2d_params q = *p;
    if (output_size) q.output_padding[0] = q.output_padding[1] = 0;
    int64_t out_shape[4];
    tconv_status st = tconv_conv_transpose2d_output_shape(&q, ndim, input_shape, output_size,
                                                          output_size_len, out_shape);
    if (st) return st;
    if ((st = check_grad_output(ndim, input_shape, out_shape, grad_output_shape))) return st;
    if ((st = check_mask_buffers(mask, grad_input, grad_weight, grad_bias))) return st;
    pass_run data = {NULL, NULL}, wt = {NULL, NULL};
    if (mask[0]) {
        st = tc_ct2d_create_borrowed(TCONV_PASS_BACKWARD_DATA, &q, weight, NULL, &data.op);
        if (!st) st = pass_prepare(&data, ndim, input_shape, output_size, output_size_len);
    }
    if (!st && (mask[1] || mask[2])) {
        st = tconv_conv_transpose2d_backward_weight_create(&q, NULL, &wt.op);
        if (!st) st = pass_prepare(&wt, ndim, input_shape, output_size, output_size_len);
    }
    if (!st)
        st = run_backward(&data, &wt, mask, input, grad_output, grad_input, grad_weight,
                          grad_bias);
    pass_free(&data);
    pass_free(&wt);
    return st;
}

tconv_status tconv_conv2d_backward(const tconv_conv2d_params *p, int ndim,
                                   const int64_t *input_shape, const float *input,
                                   const float *weight, const int64_t *grad_output_shape,
                                   const float *grad_output, const int output_mask[3],
                                   float *grad_input, float *grad_weight, float *grad_bias) {
    tc_clear_error();
    static const int all[3] = {1, 1, 1};
    const int *mask = output_mask ? output_mask : all;
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "params is NULL");
    int64_t out_shape[4];
    tconv_status st = tconv_conv2d_output_shape(p, ndim, input_shape, out_shape);
    if (st) return st;
    if ((st = check_grad_output(ndim, input_shape, out_shape, grad_output_shape))) return st;
    if ((st = check_mask_buffers(mask, grad_input, grad_weight, grad_bias))) return st;
    pass_run data = {NULL, NULL}, wt = {NULL, NULL};
    if (mask[0]) {
        st = tc_conv2d_create_borrowed(TCONV_PASS_BACKWARD_DATA, p, weight, NULL, &data.op);
        if (!st) st = pass_prepare(&data, ndim, input_shape, NULL, 0);
    }
    if (!st && (mask[1] || mask[2])) {
        st = tconv_conv2d_backward_weight_create(p, NULL, &wt.op);
        if (!st) st = pass_prepare(&wt, ndim, input_shape, NULL, 0);
    }
    if (!st)
        st = run_backward(&data, &wt, mask, input, grad_output, grad_input, grad_weight,
                          grad_bias);
    pass_free(&data);
    pass_free(&wt);
    return st;
}

/* ---- reference entry points ------------------------------------------------ */

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
    tc_ref_conv_transpose2d_forward(&g, input, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_in, g.h_in, g.w_in),
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
    tc_ref_conv2d_forward(&g, input, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_in, g.h_in, g.w_in), weight,
                  bias, output, tc_strides_for(TCONV_LAYOUT_NCHW, g.c_out, g.h_out, g.w_out));
    return TCONV_OK;
}
