/* linear.c -- nn.Linear: y = x W^T + b. */
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
    tconv_status st = tc_nn_alloc_fill(wn, 0.0f, "Linear weight", &w);
    if (!st && bias) st = tc_nn_alloc_fill(out_features, 0.0f, "Linear bias", &b);
    if (!st) st = tc_nn_default_init(rng, w, wn, b, out_features, in_features);
    if (st) {
        free(w);
        free(b);
        return st;
    }
    m->in_features = in_features;
    m->out_features = out_features;
    m->weight = w;
    m->bias = b;
    return TCONV_OK;
}

void tconv_linear_free(tconv_linear *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    m->weight = m->bias = NULL;
}

tconv_status tconv_linear_forward(const tconv_linear *m, int ndim, const int64_t *input_shape,
                                  const float *input, float *output, int64_t output_capacity,
                                  int64_t *output_shape) {
    tc_clear_error();
    char b[400];
    if (!m || !m->weight) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: module is not initialised");
    if (ndim < 1 || ndim > TCONV_MAX_DIMS || !input_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Linear: input must have 1..%d dimensions, got %d", TCONV_MAX_DIMS, ndim);
    int64_t in_n;
    if (!tc_numel(input_shape, ndim, &in_n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: bad input shape %s",
                       tc_fmt_dims(b, sizeof b, input_shape, ndim));
    int64_t k = input_shape[ndim - 1], rows;
    tc_numel(input_shape, ndim - 1, &rows);
    if (k != m->in_features)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)",
                       (long long)rows, (long long)k, (long long)m->in_features,
                       (long long)m->out_features);
    int64_t out_n;
    if (tc_mul_overflow(rows, m->out_features, &out_n))
        return tc_fail(TCONV_ERROR_OVERFLOW, "Linear: output size overflows int64");
    if (output_capacity < out_n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)out_n);
    if (out_n > 0 && (!output || (k > 0 && !input)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: input or output is NULL");
    /* x: (rows, in) . W: (out, in) -> y: (rows, out) */
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = input ? input + r * k : NULL;
        for (int64_t o = 0; o < m->out_features; o++) {
            const float *wr = m->weight + o * k;
            double acc = m->bias ? (double)m->bias[o] : 0.0;
            for (int64_t i = 0; i < k; i++) acc += (double)xr[i] * (double)wr[i];
            output[r * m->out_features + o] = (float)acc;
        }
    }
    if (output_shape) {
        memcpy(output_shape, input_shape, (size_t)(ndim - 1) * sizeof(int64_t));
        output_shape[ndim - 1] = m->out_features;
    }
    return TCONV_OK;
}
