/* conv_modules.c -- nn.ConvTranspose2d / nn.Conv2d as modules: parameters,
 * owned weight and bias with PyTorch's default initialisation, forward. */
#include "nn_internal.h"

#include <stdlib.h>

/* Allocates weight (numel of dims) and optional bias (n_bias), initialised
 * with fan_in = dims[1] * kH * kW, as PyTorch's _calculate_fan_in_and_fan_out. */
static tconv_status alloc_params(const int64_t dims[4], int64_t n_bias, int bias, tconv_rng *rng,
                                 const char *what, float **w_out, float **b_out) {
    int64_t wn, fan_in;
    if (!tc_numel(dims, 4, &wn) || !tc_numel(dims + 1, 3, &fan_in))
        return tc_fail(TCONV_ERROR_OVERFLOW, "%s: weight size overflows int64", what);
    float *w = NULL, *b = NULL;
    tconv_status st = tc_nn_alloc_fill(wn, 0.0f, what, &w);
    if (!st && bias) st = tc_nn_alloc_fill(n_bias, 0.0f, what, &b);
    if (!st) st = tc_nn_default_init(rng, w, wn, b, n_bias, fan_in);
    if (st) {
        free(w);
        free(b);
        return st;
    }
    *w_out = w;
    *b_out = b;
    return TCONV_OK;
}

tconv_status tconv_conv_transpose2d_module_init(tconv_conv_transpose2d_module *m,
                                                const tconv_conv_transpose2d_params *p, int bias,
                                                tconv_rng *rng) {
    tc_clear_error();
    if (!m || !p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: NULL argument");
    tconv_status st = tconv_conv_transpose2d_params_check(p);
    if (st) return st;
    int64_t dims[4] = {p->in_channels, p->out_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]};
    float *w, *b;
    st = alloc_params(dims, p->out_channels, bias, rng, "ConvTranspose2d", &w, &b);
    if (st) return st;
    m->p = *p;
    m->weight = w;
    m->bias = b;
    return TCONV_OK;
}

void tconv_conv_transpose2d_module_free(tconv_conv_transpose2d_module *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    m->weight = m->bias = NULL;
}

tconv_status tconv_conv_transpose2d_module_forward(const tconv_conv_transpose2d_module *m, int ndim,
                                                   const int64_t *input_shape, const float *input,
                                                   const int64_t *output_size, int output_size_len,
                                                   float *output, int64_t output_capacity,
                                                   int64_t *output_shape) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: module is not initialised");
    return tconv_conv_transpose2d(&m->p, ndim, input_shape, input, m->weight, m->bias, output_size,
                                  output_size_len, output, output_capacity, output_shape);
}

tconv_status tconv_conv2d_module_init(tconv_conv2d_module *m, const tconv_conv2d_params *p,
                                      int bias, tconv_rng *rng) {
    tc_clear_error();
    if (!m || !p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: NULL argument");
    tconv_status st = tconv_conv2d_params_check(p);
    if (st) return st;
    int64_t dims[4] = {p->out_channels, p->in_channels / p->groups, p->kernel_size[0],
                       p->kernel_size[1]};
    float *w, *b;
    st = alloc_params(dims, p->out_channels, bias, rng, "Conv2d", &w, &b);
    if (st) return st;
    m->p = *p;
    m->weight = w;
    m->bias = b;
    return TCONV_OK;
}

void tconv_conv2d_module_free(tconv_conv2d_module *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    m->weight = m->bias = NULL;
}

tconv_status tconv_conv2d_module_forward(const tconv_conv2d_module *m, int ndim,
                                         const int64_t *input_shape, const float *input,
                                         float *output, int64_t output_capacity,
                                         int64_t *output_shape) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: module is not initialised");
    return tconv_conv2d(&m->p, ndim, input_shape, input, m->weight, m->bias, output,
                        output_capacity, output_shape);
}
