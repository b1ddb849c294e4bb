/* tutil.h -- support for the C tests: a seeded RNG, random tensors, NaN
 * poisoning, error comparison and message checks. */
#ifndef TCONV_TEST_TUTIL_H
#define TCONV_TEST_TUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <tconv.h>

/* splitmix64: small, seedable, the same sequence on every platform. */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;

void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/* Uniform integer in [lo, hi] (inclusive). */
int64_t tu_rng_int(tu_rng *r, int64_t lo, int64_t hi);
/* Uniform float in [-1, 1). */
float tu_rng_float(tu_rng *r);

/* malloc that aborts on failure (tests only); n may be 0. */
float *tu_alloc(int64_t n);
/* a[i] uniform in [-1, 1), never all zero for n > 0. */
void tu_fill(tu_rng *r, float *a, int64_t n);
/* a[i] = NaN, so an element a kernel forgets to write fails a compare. */
void tu_poison(float *a, int64_t n);
int64_t tu_numel(const int64_t *dims, int n);

/* max|a-b| / max(1, max|ref|) over n elements; NaN anywhere (either side)
 * gives +inf so it always fails a tolerance check. */
double tu_max_rel_err(const float *got, const float *ref, int64_t n);

/* 1 if the thread's last error message contains needle. */
int tu_err_has(const char *needle);

/* NCHW (n,c,h,w) -> NHWC and back. */
void tu_nchw_to_nhwc(const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w);
void tu_nhwc_to_nchw(const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w);

/* Dot product in double. */
double tu_dot(const float *a, const float *b, int64_t n);

/* Every implementation that can run here (reference first); returns count. */
int tu_impls(tconv_impl out[8]);



/* Random valid configurations (small sizes, every parameter varied); the
 * input shape is batched (N, C, H, W) with N in [nmin, 2]. Loops until
 * the library accepts the shape. */
void tu_random_ct(tu_rng *r, tconv_conv_transpose2d_params *p, int64_t in_shape[4], int nmin);
void tu_random_cv(tu_rng *r, tconv_conv2d_params *p, int64_t in_shape[4], int nmin);
/* Weight element counts. */
int64_t tu_ct_weight_numel(const tconv_conv_transpose2d_params *p);
int64_t tu_cv_weight_numel(const tconv_conv2d_params *p);

#endif
