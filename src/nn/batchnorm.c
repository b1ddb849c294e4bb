/* batchnorm.c -- nn.BatchNorm2d, training (batch statistics) and eval,
 * forward and backward.  Channels are independent tasks spread over
 * threads; each channel's sums run on the vector kernels in double, in a
 * fixed order, so results do not depend on the thread count. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tconv_status tconv_batchnorm2d_init(tconv_batchnorm2d *m, int64_t num_features) {
    tc_clear_error();
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: module is NULL");
    if (num_features < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Trying to create tensor with negative dimension %lld: [%lld]",
                       (long long)num_features, (long long)num_features);
    float *w = NULL, *b = NULL, *rm = NULL, *rv = NULL;
    tconv_nn_cache *c = NULL;
    tconv_status st = tc_nn_alloc_fill(num_features, 1.0f, "BatchNorm2d weight", &w);
    if (!st) st = tc_nn_alloc_fill(num_features, 0.0f, "BatchNorm2d bias", &b);
    if (!st) st = tc_nn_alloc_fill(num_features, 0.0f, "BatchNorm2d running_mean", &rm);
    if (!st) st = tc_nn_alloc_fill(num_features, 1.0f, "BatchNorm2d running_var", &rv);
    if (!st && !(c = tc_nn_cache_new("BatchNorm2d"))) st = TCONV_ERROR_OUT_OF_MEMORY;
    if (!st) {
        /* the batch statistics the backward needs, (C) doubles each */
        c->save_mean = malloc((size_t)num_features * sizeof(double) + 1);
        c->save_invstd = malloc((size_t)num_features * sizeof(double) + 1);
        if (!c->save_mean || !c->save_invstd)
            st = tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "BatchNorm2d: out of memory");
    }
    if (st) {
        free(w), free(b), free(rm), free(rv);
        tc_nn_cache_free(c);
        return st;
    }
    memset(m, 0, sizeof *m);
    m->num_features = num_features;
    m->eps = 1e-5;
    m->momentum = 0.1;
    m->training = 1;
    m->weight = w;
    m->bias = b;
    m->running_mean = rm;
    m->running_var = rv;
    m->num_batches_tracked = 0;
    m->cache = c;
    return TCONV_OK;
}

void tconv_batchnorm2d_free(tconv_batchnorm2d *m) {
    if (!m) return;
    free(m->weight), free(m->bias), free(m->running_mean), free(m->running_var);
    free(m->weight_grad), free(m->bias_grad);
    tc_nn_cache_free(m->cache);
    m->weight = m->bias = m->running_mean = m->running_var = NULL;
    m->weight_grad = m->bias_grad = NULL;
    m->cache = NULL;
}

void tconv_batchnorm2d_zero_grad(tconv_batchnorm2d *m) {
    if (!m) return;
    if (m->weight_grad) memset(m->weight_grad, 0, (size_t)m->num_features * sizeof(float));
    if (m->bias_grad) memset(m->bias_grad, 0, (size_t)m->num_features * sizeof(float));
}

/* One call's work: x, y / dy, dx viewed as (N, C, H*W). */
typedef struct bn_ctx {
    tconv_batchnorm2d *m;
    const tc_eltwise_kernels *k;
    int64_t n, c, hw;
    int training;
    double mo;          /* the momentum this step uses */
    const float *x, *dy;
    float *y, *dx;
    double *mean, *invstd; /* where the statistics go (forward) or come from */
} bn_ctx;

static void fwd_worker(void *vctx, int64_t b, int64_t e) {
    const bn_ctx *t = vctx;
    tconv_batchnorm2d *m = t->m;
    const int64_t n = t->n, c = t->c, hw = t->hw, per = n * hw;
    for (int64_t ch = b; ch < e; ch++) {
        double mean, var;
        if (t->training) {
            double s = 0.0, ss = 0.0; /* x^2 of a float is exact in double */
            for (int64_t i = 0; i < n; i++) t->k->sum_sumsq(t->x + (i * c + ch) * hw, hw, &s, &ss);
            mean = s / (double)per;
            var = ss / (double)per - mean * mean; /* biased: the normalisation */
            if (var < 0.0) var = 0.0;
            const double unbiased = var * (double)per / (double)(per - 1);
            m->running_mean[ch] = (float)((1.0 - t->mo) * m->running_mean[ch] + t->mo * mean);
            m->running_var[ch] = (float)((1.0 - t->mo) * m->running_var[ch] + t->mo * unbiased);
        } else {
            mean = m->running_mean[ch];
            var = m->running_var[ch];
        }
        const double invstd = 1.0 / sqrt(var + m->eps);
        if (t->mean) {
            t->mean[ch] = mean;
            t->invstd[ch] = invstd;
        }
        /* y = x * scale + shift, PyTorch's alpha/beta form */
        const double g = m->weight ? m->weight[ch] : 1.0, be = m->bias ? m->bias[ch] : 0.0;
        const double scale = invstd * g, shift = be - mean * scale;
        for (int64_t i = 0; i < n; i++)
            t->k->affine(t->x + (i * c + ch) * hw, t->y + (i * c + ch) * hw, hw, (float)scale,
                         (float)shift);
    }
}

static tconv_status check_shape(const tconv_batchnorm2d *m, int ndim, const int64_t *input_shape,
                                int64_t *numel) {
    char b[200];
    if (!m || !m->running_mean || !m->running_var)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: module is not initialised");
    if (ndim != 4 || !input_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "expected 4D input (got %dD input)", ndim);
    if (!tc_numel(input_shape, 4, numel))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: bad input shape %s",
                       tc_fmt_dims(b, sizeof b, input_shape, 4));
    if (input_shape[1] != m->num_features)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "running_mean should contain %lld elements not %lld",
                       (long long)input_shape[1], (long long)m->num_features);
    return TCONV_OK;
}

/* ---- small images: the slab path ---------------------------------------------
 * With few pixels per channel and several images the per-channel loop
 * makes many tiny calls (N*C of H*W values); instead each image is one slab
 * of C*H*W values: the sums go into per-element double accumulators (kept
 * in registers across the images), are reduced per channel, and the
 * channel's numbers are spread into per-element patterns applied in one
 * pass per image.  It pays where the N*C calls cost more than the C*H*W
 * scalar reductions: slab_pays.  Threads split the slab's positions (each
 * position's sums always run over the images in order, so results do not
 * depend on the thread count). */
static int slab_pays(int64_t n, int64_t hw) { return hw < 256 && n * 8 > hw; }

typedef struct slab_ctx {
    const tc_eltwise_kernels *k;
    int pass; /* 0: s, ss += x; 1: s, sd += dy, dy*x; 2: y = x*A + B; 3: dx = dy*A + (x*B + C) */
    int64_t n, L, chunk;
    const float *x, *dy;
    float *y;
    double *s, *ss;
    const float *A, *B, *C;
} slab_ctx;

static void slab_worker(void *vctx, int64_t b, int64_t e) {
    const slab_ctx *t = vctx;
    for (int64_t task = b; task < e; task++) {
        const int64_t i0 = task * t->chunk, m = tc_imin(t->chunk, t->L - i0);
        if (t->pass == 0) {
            t->k->acc_sumsq(t->x + i0, t->L, t->n, t->s + i0, t->ss + i0, m);
            continue;
        }
        if (t->pass == 1) {
            t->k->acc_dot(t->dy + i0, t->x + i0, t->L, t->n, t->s + i0, t->ss + i0, m);
            continue;
        }
        for (int64_t i = 0; i < t->n; i++) {
            const int64_t o = i * t->L + i0;
            if (t->pass == 2) t->k->affine_v(t->x + o, t->y + o, m, t->A + i0, t->B + i0);
            else t->k->affine2_v(t->dy + o, t->x + o, t->y + o, m, t->A + i0, t->B + i0, t->C + i0);
        }
    }
}

static void slab_run(slab_ctx *t, int64_t cost) {
    t->chunk = 1024; /* a multiple of every vector width */
    const int64_t tasks = (t->L + t->chunk - 1) / t->chunk;
    const int nt = (int)tc_imin(tasks, tc_nn_threads_for(t->n * t->L, cost));
    if (nt <= 1) slab_worker(t, 0, tasks);
    else tc_parallel_for(nt, tasks, slab_worker, t);
}

/* The slab workspace in the cache: 2L doubles, then 3L floats. */
static tconv_status slab_ws(tconv_nn_cache *c, int64_t L, double **s, double **ss, float **A,
                            float **B, float **C) {
    int64_t bytes;
    if (tc_mul_overflow(L, 2 * (int64_t)sizeof(double) + 3 * (int64_t)sizeof(float), &bytes) ||
        (uint64_t)bytes > SIZE_MAX)
        return tc_fail(TCONV_ERROR_OVERFLOW, "BatchNorm2d: workspace size overflows");
    if ((size_t)bytes > c->ws_cap) {
        free(c->ws);
        c->ws_cap = 0;
        if (!(c->ws = malloc((size_t)bytes)))
            return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "BatchNorm2d: out of memory for a %lld-byte workspace",
                           (long long)bytes);
        c->ws_cap = (size_t)bytes;
    }
    *s = c->ws;
    *ss = *s + L;
    *A = (float *)(*ss + L);
    *B = *A + L;
    *C = *B + L;
    return TCONV_OK;
}

static void fill(float *p, int64_t hw, float v) {
    for (int64_t j = 0; j < hw; j++) p[j] = v;
}

static tconv_status slab_forward(tconv_batchnorm2d *m, int64_t n, int64_t c, int64_t hw,
                                 double mo, const float *x, float *y) {
    double *s = NULL, *ss = NULL;
    float *A = NULL, *B = NULL, *C = NULL;
    const int64_t L = c * hw, per = n * hw;
    tconv_status st = slab_ws(m->cache, L, &s, &ss, &A, &B, &C);
    if (st) return st;
    slab_ctx t = {tc_eltwise(), 0, n, L, 0, x, NULL, y, s, ss, A, B, NULL};
    if (m->training) slab_run(&t, 2);
    for (int64_t ch = 0; ch < c; ch++) {
        double mean, var;
        if (m->training) {
            double S = 0.0, SS = 0.0;
            for (int64_t j = 0; j < hw; j++) {
                S += s[ch * hw + j];
                SS += ss[ch * hw + j];
            }
            mean = S / (double)per;
            var = SS / (double)per - mean * mean;
            if (var < 0.0) var = 0.0;
            const double unbiased = var * (double)per / (double)(per - 1);
            m->running_mean[ch] = (float)((1.0 - mo) * m->running_mean[ch] + mo * mean);
            m->running_var[ch] = (float)((1.0 - mo) * m->running_var[ch] + mo * unbiased);
        } else {
            mean = m->running_mean[ch];
            var = m->running_var[ch];
        }
        const double invstd = 1.0 / sqrt(var + m->eps);
        m->cache->save_mean[ch] = mean;
        m->cache->save_invstd[ch] = invstd;
        const double g = m->weight ? m->weight[ch] : 1.0, be = m->bias ? m->bias[ch] : 0.0;
        const double scale = invstd * g;
        fill(A + ch * hw, hw, (float)scale);
        fill(B + ch * hw, hw, (float)(be - mean * scale));
    }
    t.pass = 2;
    slab_run(&t, 2);
    return TCONV_OK;
}

/* y (N, C, H, W) = (x - mean) * invstd * weight + bias, per channel. */
tconv_status tconv_batchnorm2d_forward(tconv_batchnorm2d *m, int ndim, const int64_t *input_shape,
                                       const float *input, float *output) {
    tc_clear_error();
    char b[200];
    int64_t numel;
    tconv_status st = check_shape(m, ndim, input_shape, &numel);
    if (st) return st;
    const int64_t n = input_shape[0], c = input_shape[1], hw = input_shape[2] * input_shape[3];
    if (!(m->eps >= 0) || !(m->momentum <= 1) || (m->momentum < 0 && m->momentum != -1.0))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: eps %g / momentum %g out of range",
                       m->eps, m->momentum);
    const int64_t per_channel = numel / (c ? c : 1); /* N*H*W */
    if (m->training && c > 0 && per_channel == 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Expected more than 1 value per channel when training, got input size "
                       "torch.Size(%s)", tc_fmt_dims(b, sizeof b, input_shape, 4));
    if (numel > 0 && (!input || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: input or output is NULL");
    if (input != output && tc_nn_overlap(input, numel, output, numel))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "BatchNorm2d: output must be the input itself or not overlap it");
    if (m->training) m->num_batches_tracked++;
    tconv_nn_cache *cache = m->cache;
    if (cache) { /* what the backward will need */
        cache->saved = m->training ? 1 : 2;
        memcpy(cache->saved_shape, input_shape, sizeof cache->saved_shape);
    }
    if (numel == 0) return TCONV_OK; /* PyTorch leaves the running stats alone */
    /* momentum=None: a cumulative average, factor 1/num_batches_tracked. */
    const double mo = m->momentum >= 0           ? m->momentum
                      : m->num_batches_tracked > 0 ? 1.0 / (double)m->num_batches_tracked
                                                   : 1.0;
    if (cache && slab_pays(n, hw)) return slab_forward(m, n, c, hw, mo, input, output);
    bn_ctx t = {m, tc_eltwise(), n, c, hw, m->training, mo, input, NULL, output, NULL,
                cache ? cache->save_mean : NULL, cache ? cache->save_invstd : NULL};
    const int nt = (int)tc_imin(c, tc_nn_threads_for(numel, 3));
    if (nt <= 1) fwd_worker(&t, 0, c);
    else tc_parallel_for(nt, c, fwd_worker, &t);
    return TCONV_OK;
}

static void bwd_worker(void *vctx, int64_t b, int64_t e) {
    const bn_ctx *t = vctx;
    tconv_batchnorm2d *m = t->m;
    const int64_t n = t->n, c = t->c, hw = t->hw, per = n * hw;
    for (int64_t ch = b; ch < e; ch++) {
        double mean, invstd;
        if (t->training) {
            mean = t->mean[ch];
            invstd = t->invstd[ch];
        } else {
            mean = m->running_mean[ch];
            invstd = 1.0 / sqrt((double)m->running_var[ch] + m->eps);
        }
        double sdy = 0.0, sdyx = 0.0;
        if (m->weight_grad || t->training)
            for (int64_t i = 0; i < n; i++)
                t->k->sum_dot(t->dy + (i * c + ch) * hw, t->x + (i * c + ch) * hw, hw, &sdy, &sdyx);
        const double dotp = sdyx - mean * sdy; /* sum dy * (x - mean) */
        if (m->weight_grad) {
            m->weight_grad[ch] += (float)(dotp * invstd);
            m->bias_grad[ch] += (float)sdy;
        }
        if (!t->dx) continue;
        const double g = m->weight ? m->weight[ch] : 1.0;
        if (t->training) {
            /* dx = (dy - sum(dy)/M - (x - mean) * k) * invstd * w,
             * k = sum(dy * (x - mean)) * invstd^2 / M, as dy*a + (x*b + c) */
            const double kk = dotp * invstd * invstd / (double)per, gm = sdy / (double)per;
            const double a = invstd * g, bb = -kk * a, cc = (mean * kk - gm) * a;
            for (int64_t i = 0; i < n; i++)
                t->k->affine2(t->dy + (i * c + ch) * hw, t->x + (i * c + ch) * hw,
                              t->dx + (i * c + ch) * hw, hw, (float)a, (float)bb, (float)cc);
        } else {
            for (int64_t i = 0; i < n; i++)
                t->k->affine(t->dy + (i * c + ch) * hw, t->dx + (i * c + ch) * hw, hw,
                             (float)(invstd * g), 0.0f);
        }
    }
}

static tconv_status slab_backward(tconv_batchnorm2d *m, int training, int64_t n, int64_t c,
                                  int64_t hw, const float *x, const float *dy, float *dx) {
    double *s = NULL, *sd = NULL;
    float *A = NULL, *B = NULL, *C = NULL;
    const int64_t L = c * hw, per = n * hw;
    tconv_status st = slab_ws(m->cache, L, &s, &sd, &A, &B, &C);
    if (st) return st;
    const double *smean = m->cache->save_mean, *sinv = m->cache->save_invstd;
    slab_ctx t = {tc_eltwise(), 1, n, L, 0, x, dy, dx, s, sd, A, B, C};
    const int sums = m->weight_grad || training;
    if (sums) slab_run(&t, 3);
    for (int64_t ch = 0; ch < c; ch++) {
        double mean, invstd;
        if (training) {
            mean = smean[ch];
            invstd = sinv[ch];
        } else {
            mean = m->running_mean[ch];
            invstd = 1.0 / sqrt((double)m->running_var[ch] + m->eps);
        }
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t j = 0; sums && j < hw; j++) {
            sdy += s[ch * hw + j];
            sdyx += sd[ch * hw + j];
        }
        const double dotp = sdyx - mean * sdy;
        if (m->weight_grad) {
            m->weight_grad[ch] += (float)(dotp * invstd);
            m->bias_grad[ch] += (float)sdy;
        }
        const double g = m->weight ? m->weight[ch] : 1.0;
        if (training) {
            const double kk = dotp * invstd * invstd / (double)per, gm = sdy / (double)per;
            const double a = invstd * g;
            fill(A + ch * hw, hw, (float)a);
            fill(B + ch * hw, hw, (float)(-kk * a));
            fill(C + ch * hw, hw, (float)((mean * kk - gm) * a));
        } else {
            fill(A + ch * hw, hw, (float)(invstd * g));
            fill(B + ch * hw, hw, 0.0f);
        }
    }
    if (dx) {
        t.pass = training ? 3 : 2;
        t.x = training ? x : dy; /* eval: dx = dy*A + 0 */
        slab_run(&t, 3);
    }
    return TCONV_OK;
}

tconv_status tconv_batchnorm2d_backward(tconv_batchnorm2d *m, int ndim, const int64_t *input_shape,
                                        const float *input, const float *grad_output,
                                        float *grad_input) {
    tc_clear_error();
    char b1[200], b2[200];
    int64_t numel;
    tconv_status st = check_shape(m, ndim, input_shape, &numel);
    if (st) return st;
    tconv_nn_cache *cache = m->cache;
    if (!cache || !cache->saved)
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "BatchNorm2d backward: no forward has run on this module");
    if (memcmp(cache->saved_shape, input_shape, sizeof cache->saved_shape) != 0)
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "BatchNorm2d backward: input shape %s differs from the last forward's %s",
                       tc_fmt_dims(b1, sizeof b1, input_shape, 4),
                       tc_fmt_dims(b2, sizeof b2, cache->saved_shape, 4));
    const int affine = m->weight && m->bias;
    const int training = cache->saved == 1;
    if (numel > 0 && (!grad_output || ((training || affine) && !input)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "BatchNorm2d backward: input or grad_output is NULL");
    if (grad_input && ((grad_input != grad_output && tc_nn_overlap(grad_input, numel, grad_output, numel)) ||
                       tc_nn_overlap(grad_input, numel, input, numel)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "BatchNorm2d backward: grad_input must be grad_output itself or overlap "
                       "neither it nor input");
    if (affine && ((st = tc_nn_ensure_grad(&m->weight_grad, m->num_features, "BatchNorm2d")) ||
                   (st = tc_nn_ensure_grad(&m->bias_grad, m->num_features, "BatchNorm2d"))))
        return st;
    if (numel == 0) return TCONV_OK;
    const int64_t n = input_shape[0], c = input_shape[1], hw = input_shape[2] * input_shape[3];
    if (slab_pays(n, hw)) return slab_backward(m, training, n, c, hw, input, grad_output, grad_input);
    bn_ctx t = {m, tc_eltwise(), n, c, hw, training, 0.0, input, grad_output, NULL, grad_input,
                cache->save_mean, cache->save_invstd};
    const int nt = (int)tc_imin(c, tc_nn_threads_for(numel, 4));
    if (nt <= 1) bwd_worker(&t, 0, c);
    else tc_parallel_for(nt, c, bwd_worker, &t);
    return TCONV_OK;
}
