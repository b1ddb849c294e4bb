/* activations.c -- nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid: forward and
 * backward side by side, on the vector kernels of eltwise.inc (one set per
 * ISA, picked at run time), split over threads for large tensors.  Every
 * element's result is the same for every ISA, thread count and position. */
#include "nn_internal.h"

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

bool tc_nn_overlap(const void *a, int64_t an, const void *b, int64_t bn) {
    if (!a || !b || an <= 0 || bn <= 0) return false;
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    /* sizes were checked to fit in memory, so the ends do not wrap */
    return pa < pb + (uintptr_t)bn * sizeof(float) && pb < pa + (uintptr_t)an * sizeof(float);
}

/* ---- threads -------------------------------------------------------------- */

int tc_nn_threads_for(int64_t n, int64_t cost) {
    /* Waking a worker costs a microsecond or two: give each one at least
     * ~32K element-costs (several microseconds of streaming work). */
    const int64_t per = ((int64_t)1 << 15) / (cost > 0 ? cost : 1);
    int64_t nt = n / (per > 0 ? per : 1);
    const int cap = tc_default_threads();
    if (nt > cap) nt = cap;
    return nt < 1 ? 1 : (int)nt;
}

int64_t tc_nn_chunk(int64_t n, int nt) {
    if (nt <= 1) return n;
    /* whole cache lines: a multiple of every vector width */
    const int64_t chunk = (n + 2 * (int64_t)nt - 1) / (2 * (int64_t)nt);
    return tc_imin((chunk + 63) / 64 * 64, (int64_t)1 << 14);
}

/* A map split into chunks over threads. */
typedef struct map_ctx {
    int kind; /* 0: unary, 1: unary with slope, 2: binary, 3: binary with slope */
    void (*f1)(const float *, float *, int64_t);
    void (*f1s)(const float *, float *, int64_t, float);
    void (*f2)(const float *, const float *, float *, int64_t);
    void (*f2s)(const float *, const float *, float *, int64_t, float);
    const float *a, *b;
    float *y;
    float s;
    int64_t n, chunk;
} map_ctx;

static void map_worker(void *vctx, int64_t tb, int64_t te) {
    const map_ctx *c = vctx;
    for (int64_t t = tb; t < te; t++) {
        const int64_t i = t * c->chunk, m = tc_imin(c->chunk, c->n - i);
        switch (c->kind) {
        case 0: c->f1(c->a + i, c->y + i, m); break;
        case 1: c->f1s(c->a + i, c->y + i, m, c->s); break;
        case 2: c->f2(c->a + i, c->b + i, c->y + i, m); break;
        default: c->f2s(c->a + i, c->b + i, c->y + i, m, c->s); break;
        }
    }
}

static void run_map(map_ctx *c, int64_t cost) {
    const int nt = tc_nn_threads_for(c->n, cost);
    if (nt <= 1) {
        c->chunk = c->n;
        map_worker(c, 0, c->n > 0 ? 1 : 0);
        return;
    }
    const int64_t chunk = tc_nn_chunk(c->n, nt);
    c->chunk = chunk;
    tc_parallel_for(nt, (c->n + chunk - 1) / chunk, map_worker, c);
}

static tconv_status unary(const char *fn, void (*f)(const float *, float *, int64_t),
                          const float *x, float *y, int64_t n, int64_t cost) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise(fn, x, y, n);
    if (st) return st;
    if (x != y && tc_nn_overlap(x, n, y, n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s: output must be the input itself or not overlap it", fn);
    map_ctx c = {.kind = 0, .f1 = f, .a = x, .y = y, .n = n};
    run_map(&c, cost);
    return TCONV_OK;
}

/* Backward maps: (saved, dy) -> dx; dx may be dy itself (in place). */
static tconv_status binary(const char *fn,
                           void (*f)(const float *, const float *, float *, int64_t),
                           void (*fs)(const float *, const float *, float *, int64_t, float),
                           float s, const float *a, const float *dy, float *dx, int64_t n) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise(fn, dy, dx, n);
    if (st) return st;
    if (n > 0 && !a) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: the saved tensor is NULL", fn);
    if ((dx != dy && tc_nn_overlap(dx, n, dy, n)) || (dx != a && tc_nn_overlap(dx, n, a, n)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s: grad_input must be grad_output or the saved tensor itself, or "
                       "overlap neither", fn);
    map_ctx c = {.kind = fs ? 3 : 2, .f2 = f, .f2s = fs, .a = a, .b = dy, .y = dx, .s = s, .n = n};
    run_map(&c, 2);
    return TCONV_OK;
}

/* ---- ReLU ------------------------------------------------------------------ */

/* y (n) = max(x, 0); NaN stays NaN. */
tconv_status tconv_relu(const float *x, float *y, int64_t n) {
    return unary("relu", tc_eltwise()->relu, x, y, n, 1);
}

/* dx (n) = y <= 0 ? 0 : dy, y the forward's output (or its input). */
tconv_status tconv_relu_backward(const float *y, const float *dy, float *dx, int64_t n) {
    return binary("relu_backward", tc_eltwise()->relu_bwd, NULL, 0.0f, y, dy, dx, n);
}

/* ---- LeakyReLU ------------------------------------------------------------- */

/* y = x > 0 ? x : x * slope */
tconv_status tconv_leaky_relu(const float *x, float *y, int64_t n, float negative_slope) {
    tc_clear_error();
    tconv_status st = tc_nn_check_elementwise("leaky_relu", x, y, n);
    if (st) return st;
    if (x != y && tc_nn_overlap(x, n, y, n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "leaky_relu: output must be the input itself or not overlap it");
    map_ctx c = {.kind = 1, .f1s = tc_eltwise()->leaky_relu, .a = x, .y = y, .s = negative_slope,
                 .n = n};
    run_map(&c, 1);
    return TCONV_OK;
}

/* dx = x > 0 ? dy : dy * slope, x the forward's input */
tconv_status tconv_leaky_relu_backward(const float *x, const float *dy, float *dx, int64_t n,
                                       float negative_slope) {
    return binary("leaky_relu_backward", NULL, tc_eltwise()->leaky_relu_bwd, negative_slope, x, dy,
                  dx, n);
}

/* ---- Tanh ------------------------------------------------------------------- */

tconv_status tconv_tanh(const float *x, float *y, int64_t n) {
    return unary("tanh", tc_eltwise()->tanh, x, y, n, 8);
}

/* dx = dy * (1 - y*y), y the forward's output */
tconv_status tconv_tanh_backward(const float *y, const float *dy, float *dx, int64_t n) {
    return binary("tanh_backward", tc_eltwise()->tanh_bwd, NULL, 0.0f, y, dy, dx, n);
}

/* ---- Sigmoid ---------------------------------------------------------------- */

tconv_status tconv_sigmoid(const float *x, float *y, int64_t n) {
    return unary("sigmoid", tc_eltwise()->sigmoid, x, y, n, 8);
}

/* dx = dy * (1 - y) * y, y the forward's output */
tconv_status tconv_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n) {
    return binary("sigmoid_backward", tc_eltwise()->sigmoid_bwd, NULL, 0.0f, y, dy, dx, n);
}
