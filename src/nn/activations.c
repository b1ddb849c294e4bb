/* activations.c -- nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, element-wise.
 * Computed in double and rounded once, so each result is the correctly
 * rounded float of the exact function up to libm's last-bit error; PyTorch's
 * vectorised float code may differ by an ulp or two. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

tconv_status tc_nn_check_elementwise(const char *fn, const float *x, const float *y, int64_t n) {
    if (n < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: n must be >= 0, got %lld", fn,
                       (long long)n);
    if (n > 0 && (!x || !y))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: input or output is NULL", fn);
    return TCONV_OK;
}

tconv_status tc_nn_alloc_fill(int64_t n, float value, const char *what, float **out) {
    size_t bytes;
    *out = NULL;
    if (!tc_float_bytes(n, &bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "%s: %lld floats do not fit in memory", what,
                       (long long)n);
    float *p = malloc(bytes ? bytes : 1);
    if (!p)
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "%s: out of memory allocating %zu bytes", what,
                       bytes);
    for (int64_t i = 0; i < n; i++) p[i] = value;
    *out = p;
    return TCONV_OK;
}

tconv_status tconv_relu(const float *x, float *y, int64_t n) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise("relu", x, y, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN passes through */
    return TCONV_OK;
}

tconv_status tconv_leaky_relu(const float *x, float *y, int64_t n, float negative_slope) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise("leaky_relu", x, y, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * negative_slope;
    return TCONV_OK;
}

tconv_status tconv_tanh(const float *x, float *y, int64_t n) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise("tanh", x, y, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) y[i] = (float)tanh((double)x[i]);
    return TCONV_OK;
}

tconv_status tconv_sigmoid(const float *x, float *y, int64_t n) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise("sigmoid", x, y, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    return TCONV_OK;
}
