/* pool.c -- nn.MaxPool2d / F.max_pool2d forward (no indices). */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

void tconv_maxpool2d_params_init(tconv_maxpool2d_params *p, int64_t kernel_h, int64_t kernel_w) {
    memset(p, 0, sizeof *p);
    p->kernel_size[0] = p->stride[0] = kernel_h;
    p->kernel_size[1] = p->stride[1] = kernel_w;
    p->dilation[0] = p->dilation[1] = 1;
}

/* PyTorch's pooling_output_shape: floor or ceil division, and in ceil mode
 * the last window must start inside the input or the left padding. */
static bool pool_out_dim(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                         int ceil_mode, int64_t *out) {
    int64_t span, num;
    if (tc_mul_overflow(dil, k - 1, &span) || tc_add_overflow(in, pad, &num) ||
        tc_add_overflow(num, pad, &num) || tc_sub_overflow(num, span, &num) ||
        tc_sub_overflow(num, 1, &num) ||
        (ceil_mode && tc_add_overflow(num, stride - 1, &num)))
        return false;
    int64_t q = num / stride;
    if ((num % stride != 0) && (num < 0)) q--; /* floor division */
    int64_t o = q + 1;
    if (ceil_mode && (o - 1) * stride >= in + pad) o--;
    *out = o;
    return true;
}

tconv_status tconv_maxpool2d_output_shape(const tconv_maxpool2d_params *p, int ndim,
                                          const int64_t *input_shape, int64_t *output_shape) {
    tc_clear_error();
    char b[200];
    if (!p || !input_shape || !output_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: NULL argument");
    const int64_t *k = p->kernel_size, *s = p->stride, *pd = p->padding, *d = p->dilation;
    if (s[0] == 0 || s[1] == 0) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "stride should not be zero");
    if (k[0] <= 0 || k[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "kernel size should be greater than zero, but got kH: %lld kW: %lld",
                       (long long)k[0], (long long)k[1]);
    if (s[0] <= 0 || s[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "stride should be greater than zero, but got dH: %lld dW: %lld",
                       (long long)s[0], (long long)s[1]);
    if (d[0] <= 0 || d[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "dilation should be greater than zero, but got dilationH: %lld dilationW: %lld",
                       (long long)d[0], (long long)d[1]);
    if (ndim != 3 && ndim != 4)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "non-empty 3D or 4D (batch mode) tensor expected for input");
    for (int i = 0; i < ndim; i++)
        if (input_shape[i] < 0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: negative input size %s",
                           tc_fmt_dims(b, sizeof b, input_shape, ndim));
    for (int i = 0; i < 2; i++) {
        if (pd[i] < 0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "pad must be non-negative, but got pad: %lld",
                           (long long)pd[i]);
        if (pd[i] > k[i] / 2)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "pad should be at most half of kernel size, but got pad=%lld and kernel_size=%lld",
                           (long long)pd[i], (long long)k[i]);
    }
    const int64_t *chw = input_shape + (ndim - 3);
    if (chw[0] == 0 || chw[1] == 0 || chw[2] == 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for "
                       "input, but got:%s", tc_fmt_dims(b, sizeof b, input_shape, ndim));
    int64_t oh, ow;
    if (!pool_out_dim(chw[1], k[0], pd[0], s[0], d[0], p->ceil_mode, &oh) ||
        !pool_out_dim(chw[2], k[1], pd[1], s[1], d[1], p->ceil_mode, &ow))
        return tc_fail(TCONV_ERROR_OVERFLOW, "max_pool2d: output size overflows int64");
    if (oh < 1 || ow < 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given input size: (%lldx%lldx%lld). Calculated output size: (%lldx%lldx%lld). "
                       "Output size is too small",
                       (long long)chw[0], (long long)chw[1], (long long)chw[2], (long long)chw[0],
                       (long long)oh, (long long)ow);
    if (ndim == 4) output_shape[0] = input_shape[0];
    output_shape[ndim - 3] = chw[0];
    output_shape[ndim - 2] = oh;
    output_shape[ndim - 1] = ow;
    return TCONV_OK;
}

tconv_status tconv_maxpool2d(const tconv_maxpool2d_params *p, int ndim, const int64_t *input_shape,
                             const float *input, float *output, int64_t output_capacity,
                             int64_t *output_shape) {
    int64_t os[4];
    tconv_status st = tconv_maxpool2d_output_shape(p, ndim, input_shape, os);
    if (st) return st;
    int64_t in_n, out_n;
    if (!tc_numel(input_shape, ndim, &in_n) || !tc_numel(os, ndim, &out_n))
        return tc_fail(TCONV_ERROR_OVERFLOW, "max_pool2d: tensor size overflows int64");
    if (output_capacity < out_n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)out_n);
    if (out_n > 0 && (!input || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: input or output is NULL");
    /* x: (N*C, H, W) -> y: (N*C, OH, OW) */
    int64_t planes = ndim == 4 ? input_shape[0] * input_shape[1] : input_shape[0];
    int64_t h = input_shape[ndim - 2], w = input_shape[ndim - 1];
    int64_t oh = os[ndim - 2], ow = os[ndim - 1];
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = input + c * h * w;
        float *yp = output + c * oh * ow;
        for (int64_t i = 0; i < oh; i++) {
            for (int64_t j = 0; j < ow; j++) {
                float best = -INFINITY;
                for (int64_t a = 0; a < p->kernel_size[0]; a++) {
                    int64_t y = i * p->stride[0] - p->padding[0] + a * p->dilation[0];
                    if (y < 0 || y >= h) continue;
                    for (int64_t b = 0; b < p->kernel_size[1]; b++) {
                        int64_t x = j * p->stride[1] - p->padding[1] + b * p->dilation[1];
                        if (x < 0 || x >= w) continue;
                        float v = xp[y * w + x];
                        if (v > best || isnan(v)) best = v;
                        if (isnan(best)) goto done; /* NaN wins, as in PyTorch */
                    }
                }
            done:
                yp[i * ow + j] = best;
            }
        }
    }
    if (output_shape) memcpy(output_shape, os, (size_t)ndim * sizeof(int64_t));
    return TCONV_OK;
}
