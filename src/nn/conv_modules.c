/* conv_modules.c -- nn.ConvTranspose2d / nn.Conv2d as modules: parameters,
 * owned weight and bias with PyTorch's default initialisation, and the
 * forward / backward pair on packed operators kept in the module's cache
 * (module_cache.c): created once, reshaped when the input shape changes,
 * packed again only after the weights change. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* Allocates weight (numel of dims) and optional bias (n_bias), initialised
 * with fan_in = dims[1] * kH * kW, as PyTorch's _calculate_fan_in_and_fan_out;
 * and the module's cache. */
static tconv_status alloc_params(const int64_t dims[4], int64_t n_bias, int bias, tconv_rng *rng,
                                 const char *what, float **w_out, float **b_out,
                                 tconv_nn_cache **c_out) {
    int64_t wn, fan_in;
    if (!tc_numel(dims, 4, &wn) || !tc_numel(dims + 1, 3, &fan_in))
        return tc_fail(TCONV_ERROR_OVERFLOW, "%s: weight size overflows int64", what);
    float *w = NULL, *b = NULL;
    tconv_nn_cache *c = NULL;
    tconv_status st = tc_nn_alloc_fill(wn, 0.0f, what, &w);
    if (!st && bias) st = tc_nn_alloc_fill(n_bias, 0.0f, what, &b);
    if (!st) st = tc_nn_default_init(rng, w, wn, b, n_bias, fan_in);
    if (!st && !(c = tc_nn_cache_new(what))) st = TCONV_ERROR_OUT_OF_MEMORY;
    if (st) {
        free(w);
        free(b);
        return st;
    }
    *w_out = w;
    *b_out = b;
    *c_out = c;
    return TCONV_OK;
}

/* The weight's element count for parameters that may have been edited
 * (0 where they are invalid: creating the operator then fails with the
 * constructor's message). */
static int64_t weight_numel(int64_t d0, int64_t cout_or_cin, int64_t groups, int64_t kh,
                            int64_t kw) {
    if (groups <= 0 || cout_or_cin < 0 || cout_or_cin % groups) return 0;
    const int64_t dims[4] = {d0, cout_or_cin / groups, kh, kw};
    int64_t n;
    return tc_numel(dims, 4, &n) ? n : 0;
}

/* ---- the pair, for either operator ------------------------------------------ */

typedef struct conv_desc {
    const char *what;
    tc_nn_op_kind kind;
    const void *p;
    size_t psize;
    const float *w, *b;
    int64_t wn, bn;
} conv_desc;

/* y = forward(x): one tconv_op_run on the cached operator. */
static tconv_status module_forward(tconv_nn_cache *c, const conv_desc *d, int ndim,
                                   const int64_t *input_shape, const float *input,
                                   const int64_t *output_size, int output_size_len,
                                   float *output, int64_t output_capacity,
                                   int64_t *output_shape) {
    tconv_status st = tc_nn_cache_sync(c, d->what, d->w, d->wn, d->b, d->bn, d->p, d->psize);
    if (!st) st = tc_nn_ensure_op(&c->fwd, d->kind, TCONV_PASS_FORWARD, d->p, d->w, d->b);
    if (!st)
        st = tc_nn_slot_reshape(c, &c->fwd, ndim, input_shape, output_size, output_size_len);
    if (st) return st;
    int64_t numel;
    tc_numel(c->fwd.out, ndim, &numel);
    if (output_capacity < numel) {
        char b[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "output holds %lld floats but the output of size %s needs %lld",
                       (long long)output_capacity, tc_fmt_dims(b, sizeof b, c->fwd.out, ndim),
                       (long long)numel);
    }
    st = tconv_op_run(c->fwd.op, input, output, c->ws);
    if (st) return st;
    if (output_shape) memcpy(output_shape, c->fwd.out, (size_t)ndim * sizeof(int64_t));
    return TCONV_OK;
}

/* dx = the data gradient (overwritten, if dx), .grad += dw, db (unless wg
 * is NULL: the input gradient alone). */
static tconv_status module_backward(tconv_nn_cache *c, const conv_desc *d, float **wg,
                                    float **bg, int ndim, const int64_t *input_shape,
                                    const float *x, const int64_t *output_size,
                                    int output_size_len, const float *dy, float *dx) {
    tconv_status st = tc_nn_cache_sync(c, d->what, d->w, d->wn, d->b, d->bn, d->p, d->psize);
    if (!wg) {
        if (!dx)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s backward_input: grad_input is NULL",
                           d->what);
        if (!st)
            st = tc_nn_ensure_op(&c->bwd_data, d->kind, TCONV_PASS_BACKWARD_DATA, d->p, d->w, NULL);
        if (!st)
            st = tc_nn_slot_reshape(c, &c->bwd_data, ndim, input_shape, output_size,
                                    output_size_len);
        if (st) return st;
        int64_t xn, yn;
        tc_numel(input_shape, ndim, &xn); /* checked by the reshape */
        tc_numel(c->bwd_data.out, ndim, &yn);
        if (yn > 0 && !dy)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s backward: grad_output is NULL",
                           d->what);
        if (tc_nn_overlap(dx, xn, dy, yn))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "%s backward: grad_input must not overlap grad_output", d->what);
        return tconv_op_run_backward_data(c->bwd_data.op, dy, dx, c->ws);
    }
    if (!st) st = tc_nn_ensure_op(&c->bwd_weight, d->kind, TCONV_PASS_BACKWARD_WEIGHT, d->p, NULL, NULL);
    if (!st)
        st = tc_nn_slot_reshape(c, &c->bwd_weight, ndim, input_shape, output_size,
                                output_size_len);
    if (!st && dx)
        st = tc_nn_ensure_op(&c->bwd_data, d->kind, TCONV_PASS_BACKWARD_DATA, d->p, d->w, NULL);
    if (!st && dx)
        st = tc_nn_slot_reshape(c, &c->bwd_data, ndim, input_shape, output_size,
                                output_size_len);
    if (st) return st;
    int64_t xn, yn;
    tc_numel(input_shape, ndim, &xn); /* checked by the reshape */
    tc_numel(c->bwd_weight.out, ndim, &yn);
    if (yn > 0 && !dy)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s backward: grad_output is NULL", d->what);
    if (xn > 0 && yn > 0 && !x)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s backward: input is NULL (the weight gradient needs it)", d->what);
    if (dx && (tc_nn_overlap(dx, xn, dy, yn) || tc_nn_overlap(dx, xn, x, xn)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s backward: grad_input must not overlap grad_output or input", d->what);
    if ((st = tc_nn_ensure_grad(wg, d->wn, d->what)) ||
        (d->b && (st = tc_nn_ensure_grad(bg, d->bn, d->what))))
        return st;
    if (dx && (st = tconv_op_run_backward_data(c->bwd_data.op, dy, dx, c->ws))) return st;
    return tconv_op_run_backward_weight(c->bwd_weight.op, x, dy, *wg, d->b ? *bg : NULL, c->ws);
}

/* Without a cache (a struct filled by hand): the one-call functions, the
 * parameter gradients through temporaries added to .grad. */
static tconv_status uncached_backward(const conv_desc *d, float **wg, float **bg, int ndim,
                                      const int64_t *input_shape, const float *x,
                                      const int64_t *output_size, int output_size_len,
                                      const float *dy, float *dx) {
    int64_t ys[4];
    tconv_status st =
        d->kind == TC_NN_CT2D
            ? tconv_conv_transpose2d_output_shape(d->p, ndim, input_shape, output_size,
                                                  output_size_len, ys)
            : tconv_conv2d_output_shape(d->p, ndim, input_shape, ys);
    if (st) return st;
    if (!wg) { /* the input gradient alone */
        if (!dx)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s backward_input: grad_input is NULL",
                           d->what);
        const int mask[3] = {1, 0, 0};
        return d->kind == TC_NN_CT2D
                   ? tconv_conv_transpose2d_backward(d->p, ndim, input_shape, x, d->w, output_size,
                                                     output_size_len, ys, dy, mask, dx, NULL, NULL)
                   : tconv_conv2d_backward(d->p, ndim, input_shape, x, d->w, ys, dy, mask, dx,
                                           NULL, NULL);
    }
    if ((st = tc_nn_ensure_grad(wg, d->wn, d->what)) ||
        (d->b && (st = tc_nn_ensure_grad(bg, d->bn, d->what))))
        return st;
    float *tw = malloc((size_t)(d->wn + d->bn + 1) * sizeof(float));
    if (!tw) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "%s backward: out of memory", d->what);
    float *tb = tw + d->wn;
    const int mask[3] = {dx != NULL, 1, d->b != NULL};
    st = d->kind == TC_NN_CT2D
             ? tconv_conv_transpose2d_backward(d->p, ndim, input_shape, x, d->w, output_size,
                                               output_size_len, ys, dy, mask, dx, tw, tb)
             : tconv_conv2d_backward(d->p, ndim, input_shape, x, d->w, ys, dy, mask, dx, tw, tb);
    if (!st) {
        for (int64_t i = 0; i < d->wn; i++) (*wg)[i] += tw[i];
        for (int64_t i = 0; d->b && i < d->bn; i++) (*bg)[i] += tb[i];
    }
    free(tw);
    return st;
}

static void zero(float *g, int64_t n) {
    if (g && n > 0) memset(g, 0, (size_t)n * sizeof(float));
}

/* ---- ConvTranspose2d ------------------------------------------------------------ */

static conv_desc ct_desc(const tconv_conv_transpose2d_module *m) {
    const tconv_conv_transpose2d_params *p = &m->p;
    conv_desc d = {"ConvTranspose2d", TC_NN_CT2D, p, sizeof *p, m->weight, m->bias, 0, 0};
    d.wn = weight_numel(p->in_channels, p->out_channels, p->groups, p->kernel_size[0],
                        p->kernel_size[1]);
    d.bn = m->bias ? p->out_channels : 0;
    return d;
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
    tconv_nn_cache *c;
    st = alloc_params(dims, p->out_channels, bias, rng, "ConvTranspose2d", &w, &b, &c);
    if (st) return st;
    memset(m, 0, sizeof *m);
    m->p = *p;
    m->weight = w;
    m->bias = b;
    m->cache = c;
    return TCONV_OK;
}

void tconv_conv_transpose2d_module_free(tconv_conv_transpose2d_module *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    free(m->weight_grad);
    free(m->bias_grad);
    tc_nn_cache_free(m->cache);
    m->weight = m->bias = m->weight_grad = m->bias_grad = NULL;
    m->cache = NULL;
}

/* y (forward's output shape) = conv_transpose2d(x (input_shape)) */
tconv_status tconv_conv_transpose2d_module_forward(const tconv_conv_transpose2d_module *m, int ndim,
                                                   const int64_t *input_shape, const float *input,
                                                   const int64_t *output_size, int output_size_len,
                                                   float *output, int64_t output_capacity,
                                                   int64_t *output_shape) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: module is not initialised");
    if (!m->cache)
        return tconv_conv_transpose2d(&m->p, ndim, input_shape, input, m->weight, m->bias,
                                      output_size, output_size_len, output, output_capacity,
                                      output_shape);
    const conv_desc d = ct_desc(m);
    return module_forward(m->cache, &d, ndim, input_shape, input, output_size, output_size_len,
                          output, output_capacity, output_shape);
}

/* dx (input_shape) = conv2d(dy) (overwritten); weight_grad, bias_grad += */
tconv_status tconv_conv_transpose2d_module_backward(tconv_conv_transpose2d_module *m, int ndim,
                                                    const int64_t *input_shape, const float *input,
                                                    const int64_t *output_size,
                                                    int output_size_len, const float *grad_output,
                                                    float *grad_input) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: module is not initialised");
    const conv_desc d = ct_desc(m);
    if (!m->cache)
        return uncached_backward(&d, &m->weight_grad, &m->bias_grad, ndim, input_shape, input,
                                 output_size, output_size_len, grad_output, grad_input);
    return module_backward(m->cache, &d, &m->weight_grad, &m->bias_grad, ndim, input_shape,
                           input, output_size, output_size_len, grad_output, grad_input);
}

tconv_status tconv_conv_transpose2d_module_backward_input(tconv_conv_transpose2d_module *m, int ndim,
                                                          const int64_t *input_shape,
                                                          const int64_t *output_size,
                                                          int output_size_len,
                                                          const float *grad_output,
                                                          float *grad_input) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: module is not initialised");
    const conv_desc d = ct_desc(m);
    if (!m->cache)
        return uncached_backward(&d, NULL, NULL, ndim, input_shape, NULL, output_size,
                                 output_size_len, grad_output, grad_input);
    return module_backward(m->cache, &d, NULL, NULL, ndim, input_shape, NULL, output_size,
                           output_size_len, grad_output, grad_input);
}

void tconv_conv_transpose2d_module_weights_changed(tconv_conv_transpose2d_module *m) {
    if (m && m->cache) m->cache->stale = 1;
}

void tconv_conv_transpose2d_module_zero_grad(tconv_conv_transpose2d_module *m) {
    if (!m) return;
    const conv_desc d = ct_desc(m);
    zero(m->weight_grad, d.wn);
    zero(m->bias_grad, m->p.out_channels);
}

/* ---- Conv2d ------------------------------------------------------------------- */

static conv_desc conv2d_desc(const tconv_conv2d_module *m) {
    const tconv_conv2d_params *p = &m->p;
    conv_desc d = {"Conv2d", TC_NN_CONV2D, p, sizeof *p, m->weight, m->bias, 0, 0};
    d.wn = weight_numel(p->out_channels, p->in_channels, p->groups, p->kernel_size[0],
                        p->kernel_size[1]);
    d.bn = m->bias ? p->out_channels : 0;
    return d;
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
    tconv_nn_cache *c;
    st = alloc_params(dims, p->out_channels, bias, rng, "Conv2d", &w, &b, &c);
    if (st) return st;
    memset(m, 0, sizeof *m);
    m->p = *p;
    m->weight = w;
    m->bias = b;
    m->cache = c;
    return TCONV_OK;
}

void tconv_conv2d_module_free(tconv_conv2d_module *m) {
    if (!m) return;
    free(m->weight);
    free(m->bias);
    free(m->weight_grad);
    free(m->bias_grad);
    tc_nn_cache_free(m->cache);
    m->weight = m->bias = m->weight_grad = m->bias_grad = NULL;
    m->cache = NULL;
}

/* y (forward's output shape) = conv2d(x (input_shape)) */
tconv_status tconv_conv2d_module_forward(const tconv_conv2d_module *m, int ndim,
                                         const int64_t *input_shape, const float *input,
                                         float *output, int64_t output_capacity,
                                         int64_t *output_shape) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: module is not initialised");
    if (!m->cache)
        return tconv_conv2d(&m->p, ndim, input_shape, input, m->weight, m->bias, output,
                            output_capacity, output_shape);
    const conv_desc d = conv2d_desc(m);
    return module_forward(m->cache, &d, ndim, input_shape, input, NULL, 0, output,
                          output_capacity, output_shape);
}

/* dx (input_shape) = conv_transpose2d(dy) (overwritten); weight_grad, bias_grad += */
tconv_status tconv_conv2d_module_backward(tconv_conv2d_module *m, int ndim,
                                          const int64_t *input_shape, const float *input,
                                          const float *grad_output, float *grad_input) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: module is not initialised");
    const conv_desc d = conv2d_desc(m);
    if (!m->cache)
        return uncached_backward(&d, &m->weight_grad, &m->bias_grad, ndim, input_shape, input,
                                 NULL, 0, grad_output, grad_input);
    return module_backward(m->cache, &d, &m->weight_grad, &m->bias_grad, ndim, input_shape,
                           input, NULL, 0, grad_output, grad_input);
}

tconv_status tconv_conv2d_module_backward_input(tconv_conv2d_module *m, int ndim,
                                                const int64_t *input_shape,
                                                const float *grad_output, float *grad_input) {
    tc_clear_error();
    if (!m || !m->weight)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: module is not initialised");
    const conv_desc d = conv2d_desc(m);
    if (!m->cache)
        return uncached_backward(&d, NULL, NULL, ndim, input_shape, NULL, NULL, 0, grad_output,
                                 grad_input);
    return module_backward(m->cache, &d, NULL, NULL, ndim, input_shape, NULL, NULL, 0,
                           grad_output, grad_input);
}

void tconv_conv2d_module_weights_changed(tconv_conv2d_module *m) {
    if (m && m->cache) m->cache->stale = 1;
}

void tconv_conv2d_module_zero_grad(tconv_conv2d_module *m) {
    if (!m) return;
    const conv_desc d = conv2d_desc(m);
    zero(m->weight_grad, d.wn);
    zero(m->bias_grad, m->p.out_channels);
}
