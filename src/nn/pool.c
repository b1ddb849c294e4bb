/* pool.c -- nn.MaxPool2d / F.max_pool2d: output shape, forward (with or
 * without PyTorch's indices) and backward.  Windows are clipped to the input
 * before any loop runs, so the work is bounded by output x input taps,
 * never by the kernel size (a 2^34 kernel on a 1x1 input costs one tap).
 * Threads split output rows (forward) or planes (backward); results do not
 * depend on the thread count. */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

void tconv_maxpool2d_params_init(tconv_maxpool2d_params *p, int64_t kernel_h, int64_t kernel_w) {
    if (!p) return;
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

/* The geometry of one call: (planes, h, w) -> (planes, oh, ow). */
typedef struct pool_geom {
    int64_t planes, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    const float *x;
    float *y;
    int64_t *ind; /* NULL: no indices */
    const float *dy;
    float *dx;
} pool_geom;

/* ceil(a / b) for b > 0 */
static int64_t ceil_div(int64_t a, int64_t b) { return -tc_floor_div(-a, b); }

/* a + b clamped to INT64_MAX (a, b >= 0 or a small) */
static int64_t sat_add(int64_t a, int64_t b) {
    int64_t r;
    return tc_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* First in-range position of a window along one dimension, as PyTorch's
 * kernel finds it (start, then stepped by the dilation until >= 0). */
static int64_t first_in(int64_t start, int64_t d) {
    return start < 0 ? start + ceil_div(-start, d) * d : start;
}

/* The column taps some output column can see (tap kx reads input column
 * ox*sw + off, off = kx*dw - pw, for output columns lo..hi), computed
 * once per batch of rows: they do not depend on the row or the plane. */
#define POOL_TAPS 64
typedef struct col_taps {
    int64_t kx_lo, kx_hi; /* the taps visited */
    int64_t n;            /* how many are tabled below (all when <= POOL_TAPS) */
    int64_t off[POOL_TAPS], lo[POOL_TAPS], hi[POOL_TAPS];
} col_taps;

static void col_tap(const pool_geom *g, int64_t kx, int64_t *off, int64_t *lo, int64_t *hi) {
    *off = kx * g->dw - g->pw;
    *lo = tc_imax(0, ceil_div(-*off, g->sw));
    *hi = tc_imin(g->ow - 1, tc_floor_div(g->w - 1 - *off, g->sw));
}

static void col_taps_init(const pool_geom *g, col_taps *t) {
    t->kx_lo = tc_imax(0, ceil_div(g->pw - (g->ow - 1) * g->sw, g->dw));
    t->kx_hi = tc_imin(g->kw - 1, tc_floor_div(g->w - 1 + g->pw, g->dw));
    t->n = 0;
    for (int64_t kx = t->kx_lo; kx <= t->kx_hi && t->n < POOL_TAPS; kx++, t->n++)
        col_tap(g, kx, &t->off[t->n], &t->lo[t->n], &t->hi[t->n]);
}

/* One output row oy of one plane.  For each output column the window is
 * scanned in PyTorch's order (rows, then columns) with its rule
 * "val > max || isnan(val)": the first of equal maxima wins, a NaN always
 * replaces (the last NaN's index).  Here the scan runs tap by tap over the
 * whole row, which visits each window's taps in that same order. */
static void pool_row(const pool_geom *g, const col_taps *t, int64_t plane, int64_t oy) {
    const float *x = g->x + plane * g->h * g->w;
    float *y = g->y + (plane * g->oh + oy) * g->ow;
    int64_t *ind = g->ind ? g->ind + (plane * g->oh + oy) * g->ow : NULL;
    const int64_t w = g->w, ow = g->ow, sw = g->sw;
    const int64_t ystart = oy * g->sh - g->ph;
    const int64_t iy1 = tc_imin(sat_add(ystart, (g->kh - 1) * g->dh + 1), g->h);
    const int64_t iy0 = first_in(ystart, g->dh);
    for (int64_t ox = 0; ox < ow; ox++) y[ox] = -INFINITY;
    if (ind) /* PyTorch's starting index: the window's first in-range position
              * (wrapping arithmetic: it is only a value, never dereferenced) */
        for (int64_t ox = 0; ox < ow; ox++) {
            const int64_t xs = ox * sw - g->pw;
            ind[ox] = (int64_t)((uint64_t)iy0 * (uint64_t)w +
                                (uint64_t)(xs < 0 ? first_in(xs, g->dw) : xs));
        }
    const tc_eltwise_kernels *k = tc_eltwise();
    for (int64_t iy = iy0; iy < iy1; iy += g->dh) {
        const float *xr = x + iy * w;
        for (int64_t kx = t->kx_lo; kx <= t->kx_hi; kx++) {
            int64_t off, lo, hi;
            const int64_t j = kx - t->kx_lo;
            if (j < t->n) {
                off = t->off[j], lo = t->lo[j], hi = t->hi[j];
            } else {
                col_tap(g, kx, &off, &lo, &hi);
            }
            if (hi < lo) continue;
            if (ind)
                k->pool_tap_idx(xr + lo * sw + off, sw, y + lo, ind + lo, hi - lo + 1,
                                iy * w + lo * sw + off);
            else
                k->pool_tap(xr + lo * sw + off, sw, y + lo, hi - lo + 1);
        }
    }
}

static void pool_worker(void *vctx, int64_t b, int64_t e) {
    const pool_geom *g = vctx;
    col_taps t;
    col_taps_init(g, &t);
    for (int64_t r = b; r < e; r++) pool_row(g, &t, r / g->oh, r % g->oh);
}

static void pool_bwd_worker(void *vctx, int64_t b, int64_t e) {
    const pool_geom *g = vctx;
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    for (int64_t c = b; c < e; c++) {
        float *dx = g->dx + c * hw;
        const int64_t *ind = g->ind + c * ohw;
        const float *dy = g->dy + c * ohw;
        memset(dx, 0, (size_t)hw * sizeof(float));
        for (int64_t o = 0; o < ohw; o++) dx[ind[o]] += dy[o];
    }
}

/* Shapes and sizes of a call: fills g (not the pointers). */
static tconv_status pool_setup(const tconv_maxpool2d_params *p, int ndim,
                               const int64_t *input_shape, int64_t os[4], int64_t *in_n,
                               int64_t *out_n, pool_geom *g) {
    tconv_status st = tconv_maxpool2d_output_shape(p, ndim, input_shape, os);
    if (st) return st;
    if (!tc_numel(input_shape, ndim, in_n) || !tc_numel(os, ndim, out_n))
        return tc_fail(TCONV_ERROR_OVERFLOW, "max_pool2d: tensor size overflows int64");
    memset(g, 0, sizeof *g);
    g->planes = ndim == 4 ? input_shape[0] * input_shape[1] : input_shape[0];
    g->h = input_shape[ndim - 2];
    g->w = input_shape[ndim - 1];
    g->oh = os[ndim - 2];
    g->ow = os[ndim - 1];
    g->kh = p->kernel_size[0], g->kw = p->kernel_size[1];
    g->sh = p->stride[0], g->sw = p->stride[1];
    g->ph = p->padding[0], g->pw = p->padding[1];
    g->dh = p->dilation[0], g->dw = p->dilation[1];
    return TCONV_OK;
}

tconv_status tconv_maxpool2d_with_indices(const tconv_maxpool2d_params *p, int ndim,
                                          const int64_t *input_shape, const float *input,
                                          float *output, int64_t *indices,
                                          int64_t output_capacity, int64_t *output_shape) {
    int64_t os[4], in_n, out_n;
    pool_geom g;
    tconv_status st = pool_setup(p, ndim, input_shape, os, &in_n, &out_n, &g);
    if (st) return st;
    if (output_capacity < out_n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)out_n);
    if (out_n > 0 && (!input || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "max_pool2d: input or output is NULL");
    if (tc_nn_overlap(input, in_n, output, out_n) ||
        (indices && (tc_nn_overlap(indices, 2 * out_n, input, in_n) ||
                     tc_nn_overlap(indices, 2 * out_n, output, out_n))))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "max_pool2d: input, output and indices must not overlap");
    g.x = input;
    g.y = output;
    g.ind = indices;
    /* cost per output: its in-range taps (at most the kernel's, at most the input's) */
    const int64_t taps = tc_imin(g.kh, (g.h + g.dh - 1) / g.dh) * tc_imin(g.kw, (g.w + g.dw - 1) / g.dw);
    const int64_t rows = g.planes * g.oh;
    const int nt = rows > 0 ? tc_nn_threads_for(out_n, tc_imax(1, tc_imin(taps, 64))) : 1;
    if (nt <= 1) pool_worker(&g, 0, rows);
    else tc_parallel_for(nt, rows, pool_worker, &g);
    if (output_shape) memcpy(output_shape, os, (size_t)ndim * sizeof(int64_t));
    return TCONV_OK;
}

tconv_status tconv_maxpool2d(const tconv_maxpool2d_params *p, int ndim, const int64_t *input_shape,
                             const float *input, float *output, int64_t output_capacity,
                             int64_t *output_shape) {
    return tconv_maxpool2d_with_indices(p, ndim, input_shape, input, output, NULL,
                                        output_capacity, output_shape);
}

tconv_status tconv_maxpool2d_backward(const tconv_maxpool2d_params *p, int ndim,
                                      const int64_t *input_shape, const int64_t *indices,
                                      const float *grad_output, float *grad_input,
                                      int64_t grad_input_capacity) {
    int64_t os[4], in_n, out_n;
    pool_geom g;
    tconv_status st = pool_setup(p, ndim, input_shape, os, &in_n, &out_n, &g);
    if (st) return st;
    if (grad_input_capacity < in_n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "max_pool2d_backward: grad_input holds %lld floats but needs %lld",
                       (long long)grad_input_capacity, (long long)in_n);
    if (in_n == 0) return TCONV_OK;
    if (!grad_input || (out_n > 0 && (!indices || !grad_output)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "max_pool2d_backward: indices, grad_output or grad_input is NULL");
    if (tc_nn_overlap(grad_input, in_n, grad_output, out_n) ||
        tc_nn_overlap(grad_input, in_n, indices, 2 * out_n))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "max_pool2d_backward: grad_input must not overlap grad_output or indices");
    /* every index must point into its plane (checked before anything is written) */
    const int64_t hw = g.h * g.w;
    for (int64_t i = 0; i < out_n; i++)
        if (indices[i] < 0 || indices[i] >= hw)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "max_pool2d_backward: index %lld at position %lld is outside the "
                           "input plane of %lld elements", (long long)indices[i], (long long)i,
                           (long long)hw);
    g.ind = (int64_t *)indices; /* read only */
    g.dy = grad_output;
    g.dx = grad_input;
    const int nt = tc_nn_threads_for(in_n + out_n, 2);
    if (nt <= 1) pool_bwd_worker(&g, 0, g.planes);
    else tc_parallel_for(nt, g.planes, pool_bwd_worker, &g);
    return TCONV_OK;
}
