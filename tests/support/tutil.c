#include "tutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tu_rng_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint64_t tu_rng_next(tu_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int64_t tu_rng_int(tu_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(span ? tu_rng_next(r) % span : tu_rng_next(r));
}

float tu_rng_float(tu_rng *r) {
    return (float)((double)(tu_rng_next(r) >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

float *tu_alloc(int64_t n) {
    float *p = malloc(n > 0 ? (size_t)n * sizeof(float) : 1);
    if (!p) {
        fprintf(stderr, "tu_alloc(%lld) failed\n", (long long)n);
        abort();
    }
    return p;
}

void tu_fill(tu_rng *r, float *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] = tu_rng_float(r);
    if (n > 0) a[0] = a[0] == 0.0f ? 0.5f : a[0];
}

void tu_poison(float *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] = NAN;
}

int64_t tu_numel(const int64_t *dims, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++) r *= dims[i];
    return r;
}

double tu_max_rel_err(const float *got, const float *ref, int64_t n) {
    double md = 0.0, mr = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(ref[i])) return INFINITY;
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > md) md = d;
        if (fabs((double)ref[i]) > mr) mr = fabs((double)ref[i]);
    }
    return md / (mr > 1.0 ? mr : 1.0);
}

int tu_err_has(const char *needle) { return strstr(tconv_last_error(), needle) != NULL; }

void tu_nchw_to_nhwc(const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w) {
    for (int64_t a = 0; a < n; a++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++)
                    dst[((a * h + y) * w + x) * c + ch] = src[((a * c + ch) * h + y) * w + x];
}

void tu_nhwc_to_nchw(const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w) {
    for (int64_t a = 0; a < n; a++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++)
                    dst[((a * c + ch) * h + y) * w + x] = src[((a * h + y) * w + x) * c + ch];
}

double tu_dot(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

int tu_impls(tconv_impl out[8]) {
    int k = 0;
    for (int i = TCONV_IMPL_REFERENCE; i <= TCONV_IMPL_AVX512; i++)
        if (tconv_impl_available((tconv_impl)i)) out[k++] = (tconv_impl)i;
    return k;
}

void tu_random_ct(tu_rng *r, tconv_conv_transpose2d_params *p, int64_t in_shape[4], int nmin) {
    for (;;) {
        int64_t g = tu_rng_int(r, 1, 3);
        tconv_conv_transpose2d_params_init(p, g * tu_rng_int(r, 1, 3), g * tu_rng_int(r, 1, 3),
                                           tu_rng_int(r, 1, 4), tu_rng_int(r, 1, 4));
        p->groups = g;
        for (int d = 0; d < 2; d++) {
            p->stride[d] = tu_rng_int(r, 1, 3);
            p->dilation[d] = tu_rng_int(r, 1, 3);
            p->padding[d] = tu_rng_int(r, 0, p->dilation[d] * (p->kernel_size[d] - 1) + 1);
            int64_t opmax = (p->stride[d] > p->dilation[d] ? p->stride[d] : p->dilation[d]) - 1;
            p->output_padding[d] = tu_rng_int(r, 0, opmax);
        }
        in_shape[0] = tu_rng_int(r, nmin, 2);
        in_shape[1] = p->in_channels;
        in_shape[2] = tu_rng_int(r, 1, 6);
        in_shape[3] = tu_rng_int(r, 1, 6);
        int64_t out[4];
        if (tconv_conv_transpose2d_output_shape(p, 4, in_shape, NULL, 0, out) == TCONV_OK) return;
    }
}

void tu_random_cv(tu_rng *r, tconv_conv2d_params *p, int64_t in_shape[4], int nmin) {
    for (;;) {
        int64_t g = tu_rng_int(r, 1, 3);
        tconv_conv2d_params_init(p, g * tu_rng_int(r, 1, 3), g * tu_rng_int(r, 1, 3),
                                 tu_rng_int(r, 1, 4), tu_rng_int(r, 1, 4));
        p->groups = g;
        p->padding_kind = (tconv_padding_kind)tu_rng_int(r, 0, 2);
        p->padding_mode = (tconv_padding_mode)tu_rng_int(r, 0, 3);
        for (int d = 0; d < 2; d++) {
            p->stride[d] = p->padding_kind == TCONV_PADDING_SAME ? 1 : tu_rng_int(r, 1, 3);
            p->dilation[d] = tu_rng_int(r, 1, 2);
            p->padding[d] = tu_rng_int(r, 0, 3);
        }
        in_shape[0] = tu_rng_int(r, nmin, 2);
        in_shape[1] = p->in_channels;
        in_shape[2] = tu_rng_int(r, 1, 8);
        in_shape[3] = tu_rng_int(r, 1, 8);
        int64_t out[4];
        if (tconv_conv2d_output_shape(p, 4, in_shape, out) == TCONV_OK) return;
    }
}

int64_t tu_ct_weight_numel(const tconv_conv_transpose2d_params *p) {
    return p->in_channels * (p->out_channels / p->groups) * p->kernel_size[0] * p->kernel_size[1];
}

int64_t tu_cv_weight_numel(const tconv_conv2d_params *p) {
    return p->out_channels * (p->in_channels / p->groups) * p->kernel_size[0] * p->kernel_size[1];
}
