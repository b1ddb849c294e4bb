/* linear.c -- nn.Linear: y = x W^T + b, forward and backward.  A Linear is
 * a 1x1 Conv2d (weight (out, in, 1, 1) is the Linear's (out, in)) on the
 * input viewed as (rows, in, 1, 1): the library's GEMM path, threaded,
 * register-blocked, weights packed once and kept in the module's cache. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's kaiming_uniform_(a=sqrt(5)) bound for a fan_in: gain
 * sqrt(2/(1+5)) * sqrt(3/fan_in) = 1/sqrt(fan_in); the bias uses the same. */
static double default_bound(int64_t fan_in) { return fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0; }

tconv_status tc_nn_default_init(tconv_rng *rng, float *w, int64_t wn, float *b, int64_t bn,
                                int64_t fan_in) {
    /* Kaiming on the weight first, then the bias: PyTorch's reset_parameters order. */
    double bound = default_bound(fan_in);
    if (!rng) return TCONV_OK; /* zeros, left by the allocation */
    tconv_status st = tconv_rng_fill_uniform(rng, w, wn, -bound, bound);
    if (!st && b) st = tconv_rng_fill_uniform(rng, b, bn, -bound, bound);
    return st;
}

tconv_status tconv_linear_init(tconv_linear *m, int64_t in_features, int64_t out_features, int bias,
                               tconv_rng *rng) {
    tc_clear_error();
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: module is NULL");
    if (in_features < 0 || out_features < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Trying to create tensor with negative dimension: Linear(in_features=%lld, "
                       "out_features=%lld)", (long long)in_features, (long long)out_features);
    int64_t wn;
    if (tc_mul_overflow(in_features, out_features, &wn))
        return tc_fail(TCONV_ERROR_OVERFLOW, "Linear: weight (%lld, %lld) overflows int64",
                       (long long)out_features, (long long)in_features);
    float *w = NULL, *b = NULL;
    tconv_nn_cache *c = NULL;
    tconv_status st = tc_nn_alloc_fill(wn, 0.0f, "Linear weight", &w);
    if (!st && bias) st = tc_nn_alloc_fill(out_features, 0.0f, "Linear bias", &b);
    if (!st) st = tc_nn_default_init(rng, w, wn, b, out_features, in_features);
    if (!st && !(c = tc_nn_cache_new("Linear"))) st = TCONV_ERROR_OUT_OF_MEMORY;
    if (st) {
        free(w);
        free(b);
        return st;
    }
    memset(m, 0, sizeof *m);
    m->in_features = in_features;
    m->out_features = out_features;
    m->weight = w;
    m->bias = b;
    m->cache = c;
    return TCONV_OK;
}

void tconv_linear_free(tconv_linear *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    free(m->weight_grad);
    free(m->bias_grad);
    tc_nn_cache_free(m->cache);
    m->weight = m->bias = m->weight_grad = m->bias_grad = NULL;
    m->cache = NULL;
}

void tconv_linear_weights_changed(tconv_linear *m) {
    if (m && m->cache) m->cache->stale = 1;
}

void tconv_linear_zero_grad(tconv_linear *m) {
    if (!m) return;
    if (m->weight_grad)
        memset(m->weight_grad, 0, (size_t)(m->in_features * m->out_features) * sizeof(float));
    if (m->bias_grad) memset(m->bias_grad, 0, (size_t)m->out_features * sizeof(float));
}

/* The checks of forward and backward: rows = the product of the leading
 * dimensions; the message of F.linear for a wrong last dimension. */
static tconv_status check_input(const tconv_linear *m, int ndim, const int64_t *input_shape,
                                int64_t *rows) {
    char b[400];
    if (!m || !m->weight) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: module is not initialised");
    if (ndim < 1 || ndim > TCONV_MAX_DIMS || !input_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Linear: input must have 1..%d dimensions, got %d", TCONV_MAX_DIMS, ndim);
    int64_t in_n, out_n;
    if (!tc_numel(input_shape, ndim, &in_n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: bad input shape %s",
                       tc_fmt_dims(b, sizeof b, input_shape, ndim));
    const int64_t k = input_shape[ndim - 1];
    tc_numel(input_shape, ndim - 1, rows);
    if (k != m->in_features)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)",
                       (long long)*rows, (long long)k, (long long)m->in_features,
                       (long long)m->out_features);
    if (tc_mul_overflow(*rows, m->out_features, &out_n))
        return tc_fail(TCONV_ERROR_OVERFLOW, "Linear: output size overflows int64");
    return TCONV_OK;
}

/* The module as a 1x1 convolution, and its input as (rows, in, 1, 1). */
static tconv_conv2d_params conv_params(const tconv_linear *m) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, m->in_features, m->out_features, 1, 1);
    return p;
}

/* y (rows, out) = x (rows, in) W^T + b. */
tconv_status tconv_linear_forward(const tconv_linear *m, int ndim, const int64_t *input_shape,
                                  const float *input, float *output, int64_t output_capacity,
                                  int64_t *output_shape) {
    tc_clear_error();
    int64_t rows;
    tconv_status st = check_input(m, ndim, input_shape, &rows);
    if (st) return st;
    const int64_t k = m->in_features, n_out = m->out_features, out_n = rows * n_out;
    if (output_capacity < out_n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)out_n);
    if (out_n > 0 && (!output || (k > 0 && !input)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: input or output is NULL");
    if (tc_nn_overlap(input, rows * k, output, out_n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: output must not overlap input");
    if (out_n > 0 && k == 0) { /* no products: the bias (or zeros) */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < n_out; o++) output[r * n_out + o] = m->bias ? m->bias[o] : 0.0f;
    } else if (out_n > 0 && !m->cache) { /* a struct filled by hand: the direct sums */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < n_out; o++) {
                const float *xr = input + r * k, *wr = m->weight + o * k;
                double acc = m->bias ? (double)m->bias[o] : 0.0;
                for (int64_t i = 0; i < k; i++) acc += (double)xr[i] * (double)wr[i];
                output[r * n_out + o] = (float)acc;
            }
    } else if (out_n > 0) {
        tconv_nn_cache *c = m->cache;
        const tconv_conv2d_params p = conv_params(m);
        const int64_t shape4[4] = {rows, k, 1, 1};
        if ((st = tc_nn_cache_sync(c, "Linear", m->weight, k * n_out, m->bias,
                                   m->bias ? n_out : 0, &p, sizeof p)) ||
            (st = tc_nn_ensure_op(&c->fwd, TC_NN_CONV2D, TCONV_PASS_FORWARD, &p, m->weight,
                                  m->bias)) ||
            (st = tc_nn_slot_reshape(c, &c->fwd, 4, shape4, NULL, 0)) ||
            (st = tconv_op_run(c->fwd.op, input, output, c->ws)))
            return st;
    }
    if (output_shape) {
        memcpy(output_shape, input_shape, (size_t)(ndim - 1) * sizeof(int64_t));
        output_shape[ndim - 1] = n_out;
    }
    return TCONV_OK;
}

/* dx (rows, in) = dy (rows, out) W;  weight_grad += dy^T x;  bias_grad += sum_rows dy. */
tconv_status tconv_linear_backward(tconv_linear *m, int ndim, const int64_t *input_shape,
                                   const float *input, const float *grad_output,
                                   float *grad_input) {
    tc_clear_error();
    int64_t rows;
    tconv_status st = check_input(m, ndim, input_shape, &rows);
    if (st) return st;
    const int64_t k = m->in_features, n_out = m->out_features;
    const int64_t xn = rows * k, yn = rows * n_out;
    if (yn > 0 && !grad_output)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear backward: grad_output is NULL");
    if (xn > 0 && yn > 0 && !input)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Linear backward: input is NULL (the weight gradient needs it)");
    if (tc_nn_overlap(grad_input, xn, grad_output, yn) || tc_nn_overlap(grad_input, xn, input, xn))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Linear backward: grad_input must not overlap grad_output or input");
    tconv_nn_cache *c = m->cache;
    const tconv_conv2d_params p = conv_params(m);
    const int64_t shape4[4] = {rows, k, 1, 1};
    const int gemm = c && xn > 0 && yn > 0;
    if (gemm) {
        if ((st = tc_nn_cache_sync(c, "Linear", m->weight, k * n_out, m->bias,
                                   m->bias ? n_out : 0, &p, sizeof p)) ||
            (st = tc_nn_ensure_op(&c->bwd_weight, TC_NN_CONV2D, TCONV_PASS_BACKWARD_WEIGHT, &p,
                                  NULL, NULL)) ||
            (st = tc_nn_slot_reshape(c, &c->bwd_weight, 4, shape4, NULL, 0)))
            return st;
        if (grad_input &&
            ((st = tc_nn_ensure_op(&c->bwd_data, TC_NN_CONV2D, TCONV_PASS_BACKWARD_DATA, &p,
                                   m->weight, NULL)) ||
             (st = tc_nn_slot_reshape(c, &c->bwd_data, 4, shape4, NULL, 0))))
            return st;
    }
    if ((st = tc_nn_ensure_grad(&m->weight_grad, k * n_out, "Linear")) ||
        (m->bias && (st = tc_nn_ensure_grad(&m->bias_grad, n_out, "Linear"))))
        return st;
    if (gemm) {
        if (grad_input &&
            (st = tconv_op_run_backward_data(c->bwd_data.op, grad_output, grad_input, c->ws)))
            return st;
        return tconv_op_run_backward_weight(c->bwd_weight.op, input, grad_output, m->weight_grad,
                                            m->bias_grad, c->ws);
    }
    /* Empty sums (no rows, in or out features) or a struct filled by hand:
     * the direct definition in double. */
    for (int64_t r = 0; grad_input && r < rows; r++)
        for (int64_t i = 0; i < k; i++) {
            double acc = 0.0;
            for (int64_t o = 0; o < n_out; o++)
                acc += (double)grad_output[r * n_out + o] * m->weight[o * k + i];
            grad_input[r * k + i] = (float)acc;
        }
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t i = 0; i < k; i++) {
            double acc = 0.0;
            for (int64_t r = 0; r < rows; r++)
                acc += (double)grad_output[r * n_out + o] * input[r * k + i];
            m->weight_grad[o * k + i] += (float)acc;
        }
        if (m->bias_grad) {
            double acc = 0.0;
            for (int64_t r = 0; r < rows; r++) acc += grad_output[r * n_out + o];
            m->bias_grad[o] += (float)acc;
        }
    }
    return TCONV_OK;
}
