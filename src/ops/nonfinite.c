/* nonfinite.c -- where PyTorch multiplies zero padding, a non-finite
 * factor makes NaN (0 * inf = NaN, 0 * NaN = NaN); the fast paths and the
 * reference never form those products (they add nothing for finite
 * values), so these passes put the NaNs where PyTorch's float64 result has
 * them:
 *  - convolution-shaped passes (conv2d forward with zero padding,
 *    conv_transpose2d backward data): PyTorch convolves a zero-padded
 *    input, so an output whose window reads padding through a non-finite
 *    weight is NaN.  The weights are known at create: the op keeps the
 *    (out channel, tap) pairs with a non-finite weight (usually none: then
 *    nothing runs).
 *  - the weight gradients: PyTorch multiplies the padded operand's zeros by
 *    the other operand, so a non-finite value there at a pixel whose tap
 *    reads padding makes that tap's gradient NaN for its channel.
 * Transposed-shaped passes (conv_transpose2d forward, conv2d backward data)
 * drop what lands outside the output instead: no product, nothing to do. */
#include "ops.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

tconv_status tc_nan_taps_find(const float *w, int64_t cout, int64_t cig, int64_t kh, int64_t kw,
                              tc_nan_taps *t) {
    t->n = 0;
    t->co = t->k = NULL;
    const int64_t kk = kh * kw;
    int64_t n = 0;
    for (int64_t co = 0; co < cout; co++)
        for (int64_t k = 0; k < kk; k++)
            for (int64_t ci = 0; ci < cig; ci++)
                if (!isfinite(w[(co * cig + ci) * kk + k])) {
                    n++;
                    break;
                }
    if (!n) return TCONV_OK;
    t->co = malloc((size_t)n * sizeof(int64_t));
    t->k = malloc((size_t)n * sizeof(int64_t));
    if (!t->co || !t->k) {
        tc_nan_taps_free(t);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating the operator");
    }
    for (int64_t co = 0; co < cout; co++)
        for (int64_t k = 0; k < kk; k++)
            for (int64_t ci = 0; ci < cig; ci++)
                if (!isfinite(w[(co * cig + ci) * kk + k])) {
                    t->co[t->n] = co;
                    t->k[t->n++] = k;
                    break;
                }
    return TCONV_OK;
}

void tc_nan_taps_free(tc_nan_taps *t) {
    free(t->co);
    free(t->k);
    t->co = t->k = NULL;
    t->n = 0;
}

/* Whether output position o (stride s, padding p, dilation d, tap k) reads
 * the zero padding of an input of length len. */
static inline int in_padding(int64_t o, int64_t s, int64_t p, int64_t k, int64_t d, int64_t len) {
    const int64_t i = o * s - p + k * d; /* bounded by the output size rule */
    return i < 0 || i >= len;
}

void tc_nan_taps_apply(const tc_nan_taps *t, const tc_geom *c, float *y, tc_strides ys) {
    for (int64_t j = 0; j < t->n; j++) {
        const int64_t co = t->co[j], ky = t->k[j] / c->kw, kx = t->k[j] % c->kw;
        for (int64_t oy = 0; oy < c->h_out; oy++) {
            const int row = in_padding(oy, c->sh, c->pad_t, ky, c->dh, c->h_in);
            for (int64_t ox = 0; ox < c->w_out; ox++)
                if (row || in_padding(ox, c->sw, c->pad_l, kx, c->dw, c->w_in))
                    for (int64_t n = 0; n < c->n; n++)
                        y[n * ys.n + co * ys.c + oy * ys.h + ox * ys.w] = NAN;
        }
    }
}

/* The scan for a non-finite value, in chunks over threads: a whole pass
 * over the operand, serial, was a few percent of a training step at 2
 * threads.  With a destination each chunk is copied first, an L1-sized
 * block at a time, and the copy scanned while it is in cache (one pass
 * over the weights instead of two when an operator takes new ones). */
#define SCAN_CHUNK ((int64_t)1 << 16)
#define COPY_BLOCK 4096
typedef struct scan_ctx {
    const float *p;
    float *dst; /* NULL: scan only */
    int64_t n;
    atomic_int hit;
} scan_ctx;

static void scan_worker(void *ctx, int64_t b, int64_t e) {
    scan_ctx *c = ctx;
    for (int64_t t = b; t < e; t++) {
        const int64_t i = t * SCAN_CHUNK, m = tc_imin(SCAN_CHUNK, c->n - i);
        if (!c->dst) {
            if (atomic_load_explicit(&c->hit, memory_order_relaxed)) return;
            if (tc_any_nonfinite(c->p + i, m)) atomic_store_explicit(&c->hit, 1, memory_order_relaxed);
            continue;
        }
        for (int64_t j = 0; j < m; j += COPY_BLOCK) { /* every element copied, hit or not */
            const int64_t k = tc_imin(COPY_BLOCK, m - j);
            memcpy(c->dst + i + j, c->p + i + j, (size_t)k * sizeof(float));
            if (tc_any_nonfinite(c->dst + i + j, k))
                atomic_store_explicit(&c->hit, 1, memory_order_relaxed);
        }
    }
}

static int scan_mt(const float *p, float *dst, int64_t n, int nthreads) {
    const int64_t chunks = (n + SCAN_CHUNK - 1) / SCAN_CHUNK;
    scan_ctx c = {p, dst, n, 0};
    if (nthreads <= 1 || chunks < 2)
        scan_worker(&c, 0, chunks);
    else
        tc_parallel_for((int)tc_imin(nthreads, chunks), chunks, scan_worker, &c);
    return atomic_load(&c.hit);
}

static int any_nonfinite_mt(const float *p, int64_t n, int nthreads) {
    return scan_mt(p, NULL, n, nthreads);
}

bool tc_copy_check_finite(float *dst, const float *src, int64_t n, int nthreads) {
    return !scan_mt(src, dst, n, nthreads);
}

void tc_wgrad_nan(const tc_wgrad_problem *pb, const float *a, tc_strides as, float *dw,
                  int a_bad, int nthreads) {
    if (pb->pmode != TCONV_PADDING_MODE_ZEROS) return; /* a mode pads with values */
    if (a_bad < 0) a_bad = any_nonfinite_mt(a, pb->n * pb->ca * pb->ha * pb->wa, nthreads);
    if (!a_bad) return;
    const int64_t cbg = pb->cb / pb->groups, kk = pb->kh * pb->kw;
    for (int64_t n = 0; n < pb->n; n++)
        for (int64_t ch = 0; ch < pb->ca; ch++)
            for (int64_t qy = 0; qy < pb->ha; qy++)
                for (int64_t qx = 0; qx < pb->wa; qx++) {
                    if (isfinite(a[n * as.n + ch * as.c + qy * as.h + qx * as.w])) continue;
                    for (int64_t ky = 0; ky < pb->kh; ky++) {
                        const int row = in_padding(qy, pb->sh, pb->ph, ky, pb->dh, pb->hb);
                        for (int64_t kx = 0; kx < pb->kw; kx++) {
                            if (!row && !in_padding(qx, pb->sw, pb->pw, kx, pb->dw, pb->wb))
                                continue;
                            /* dw[ch, every b of the group, ky, kx] */
                            for (int64_t b = 0; b < cbg; b++)
                                dw[(ch * cbg + b) * kk + ky * pb->kw + kx] = NAN;
                        }
                    }
                }
}
