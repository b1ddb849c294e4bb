/* batchnorm.c -- nn.BatchNorm2d, training (batch statistics) and eval. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

tconv_status tconv_batchnorm2d_init(tconv_batchnorm2d *m, int64_t num_features) {
    tc_clear_error();
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: module is NULL");
    if (num_features < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Trying to create tensor with negative dimension %lld: [%lld]",
                       (long long)num_features, (long long)num_features);
    float *w = NULL, *b = NULL, *rm = NULL, *rv = NULL;
    tconv_status st = tc_nn_alloc_fill(num_features, 1.0f, "BatchNorm2d weight", &w);
    if (!st) st = tc_nn_alloc_fill(num_features, 0.0f, "BatchNorm2d bias", &b);
    if (!st) st = tc_nn_alloc_fill(num_features, 0.0f, "BatchNorm2d running_mean", &rm);
    if (!st) st = tc_nn_alloc_fill(num_features, 1.0f, "BatchNorm2d running_var", &rv);
    if (st) {
        free(w), free(b), free(rm), free(rv);
        return st;
    }
    m->num_features = num_features;
    m->eps = 1e-5;
    m->momentum = 0.1;
    m->training = 1;
    m->weight = w;
    m->bias = b;
    m->running_mean = rm;
    m->running_var = rv;
    m->num_batches_tracked = 0;
    return TCONV_OK;
}

void tconv_batchnorm2d_free(tconv_batchnorm2d *m) {
    if (!m) return;
    free(m->weight), free(m->bias), free(m->running_mean), free(m->running_var);
    m->weight = m->bias = m->running_mean = m->running_var = NULL;
}

tconv_status tconv_batchnorm2d_forward(tconv_batchnorm2d *m, int ndim, const int64_t *input_shape,
                                       const float *input, float *output) {
    tc_clear_error();
    char b[200];
    if (!m || !m->running_mean || !m->running_var)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: module is not initialised");
    if (ndim != 4 || !input_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "expected 4D input (got %dD input)", ndim);
    int64_t numel;
    if (!tc_numel(input_shape, 4, &numel))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: bad input shape %s",
                       tc_fmt_dims(b, sizeof b, input_shape, 4));
    int64_t n = input_shape[0], c = input_shape[1], hw = input_shape[2] * input_shape[3];
    if (c != m->num_features)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "running_mean should contain %lld elements not %lld",
                       (long long)c, (long long)m->num_features);
    if (!(m->eps >= 0) || !(m->momentum <= 1) || (m->momentum < 0 && m->momentum != -1.0))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: eps %g / momentum %g out of range",
                       m->eps, m->momentum);
    int64_t per_channel = numel / (c ? c : 1); /* N*H*W */
    if (m->training && c > 0 && per_channel == 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Expected more than 1 value per channel when training, got input size "
                       "torch.Size(%s)", tc_fmt_dims(b, sizeof b, input_shape, 4));
    if (numel > 0 && (!input || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: input or output is NULL");
    if (m->training) m->num_batches_tracked++;
    if (numel == 0) return TCONV_OK; /* PyTorch leaves the running stats alone */
    /* momentum=None: a cumulative average, factor 1/num_batches_tracked. */
    const double mo = m->momentum >= 0           ? m->momentum
                      : m->num_batches_tracked > 0 ? 1.0 / (double)m->num_batches_tracked
                                                   : 1.0;
    /* x, y: (N, C, H*W); statistics per channel over N and H*W. */
    for (int64_t ch = 0; ch < c; ch++) {
        double mean, var;
        if (m->training) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++) {
                const float *xp = input + (i * c + ch) * hw;
                for (int64_t j = 0; j < hw; j++) s += xp[j];
            }
            mean = s / (double)per_channel;
            double ss = 0.0; /* two passes: no cancellation */
            for (int64_t i = 0; i < n; i++) {
                const float *xp = input + (i * c + ch) * hw;
                for (int64_t j = 0; j < hw; j++) {
                    double d = xp[j] - mean;
                    ss += d * d;
                }
            }
            var = ss / (double)per_channel; /* biased: normalisation */
            double unbiased = ss / (double)(per_channel - 1);
            m->running_mean[ch] = (float)((1.0 - mo) * m->running_mean[ch] + mo * mean);
            m->running_var[ch] = (float)((1.0 - mo) * m->running_var[ch] + mo * unbiased);
        } else {
            mean = m->running_mean[ch];
            var = m->running_var[ch];
        }
        double invstd = 1.0 / sqrt(var + m->eps);
        double g = m->weight ? m->weight[ch] : 1.0, be = m->bias ? m->bias[ch] : 0.0;
        double scale = invstd * g, shift = be - mean * scale;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = input + (i * c + ch) * hw;
            float *yp = output + (i * c + ch) * hw;
            for (int64_t j = 0; j < hw; j++) yp[j] = (float)(xp[j] * scale + shift);
        }
    }
    return TCONV_OK;
}
