/* sequential.c -- nn.Sequential for inference: a list of borrowed layers run
 * in order with two activation buffers and one workspace allocated once per
 * input shape, and, with fusion on (the default), what the peers fuse:
 *  - an eval-mode BatchNorm2d right after a convolution is folded into the
 *    convolution's weights and bias (w' = w * s, b' = (b - mean) * s + beta,
 *    s = gamma / sqrt(var + eps), in double, rounded once);
 *  - a ReLU / LeakyReLU / Tanh / Sigmoid right after a convolution (or after
 *    the BatchNorm folded into it) runs in the convolution's store
 *    (tconv_op_set_activation);
 *  - a view only renames the shape.
 * Fused convolutions run on operators of the sequential's own (the folded
 * weights); the others through their modules (and their caches).  The
 * folded weights are made at the first forward and again after
 * tconv_sequential_weights_changed. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum seq_kind {
    SEQ_LINEAR,
    SEQ_CT2D,
    SEQ_CONV2D,
    SEQ_BN,
    SEQ_ACT,
    SEQ_MAXPOOL,
    SEQ_VIEW
} seq_kind;

typedef struct seq_layer {
    seq_kind kind;
    void *m; /* the borrowed module */
    tconv_activation act;
    float alpha;
    tconv_maxpool2d_params pool;
    int view_ndim;
    int64_t view_shape[TCONV_MAX_DIMS];
} seq_layer;

/* One step of the plan: a layer, or a convolution with what is fused into it. */
typedef struct seq_step {
    int layer;       /* index of its (first) layer */
    int bn, act;     /* fused layers: index or -1 */
    tconv_op *op;    /* a fused convolution's own operator, or NULL */
    float *fw, *fb;  /* its folded weight and bias */
    int ndim_in, ndim_out;
    int64_t in[TCONV_MAX_DIMS], out[TCONV_MAX_DIMS];
} seq_step;

struct tconv_sequential {
    seq_layer *layers;
    int n, cap;
    int fuse;
    int stale; /* folded weights to be made again */
    /* the plan for the last input shape */
    seq_step *steps;
    int nsteps;
    int ndim_in;
    int64_t in[TCONV_MAX_DIMS];
    int planned;
    float *buf[2];
    int64_t buf_cap;
    void *ws;
    size_t ws_cap;
};

tconv_status tconv_sequential_create(tconv_sequential **s) {
    tc_clear_error();
    if (!s) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "sequential is NULL");
    tconv_sequential *q = calloc(1, sizeof *q);
    if (!q) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory creating a Sequential");
    q->fuse = 1;
    q->stale = 1;
    *s = q;
    return TCONV_OK;
}

static void drop_plan(tconv_sequential *s) {
    for (int i = 0; i < s->nsteps; i++) {
        tconv_op_destroy(s->steps[i].op);
        free(s->steps[i].fw);
        free(s->steps[i].fb);
    }
    free(s->steps);
    s->steps = NULL;
    s->nsteps = 0;
    s->planned = 0;
}

void tconv_sequential_destroy(tconv_sequential *s) {
    if (!s) return;
    drop_plan(s);
    free(s->layers);
    free(s->buf[0]);
    free(s->buf[1]);
    free(s->ws);
    free(s);
}

static tconv_status add(tconv_sequential *s, seq_layer l) {
    tc_clear_error();
    if (!s) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "sequential is NULL");
    if (s->n == s->cap) {
        const int cap = s->cap ? 2 * s->cap : 8;
        seq_layer *p = realloc(s->layers, (size_t)cap * sizeof *p);
        if (!p) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory adding a layer");
        s->layers = p;
        s->cap = cap;
    }
    s->layers[s->n++] = l;
    drop_plan(s);
    s->stale = 1;
    return TCONV_OK;
}

static tconv_status add_module(tconv_sequential *s, seq_kind k, void *m, const char *what) {
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s is NULL", what);
    seq_layer l = {0};
    l.kind = k;
    l.m = m;
    return add(s, l);
}

tconv_status tconv_sequential_add_linear(tconv_sequential *s, tconv_linear *m) {
    return add_module(s, SEQ_LINEAR, m, "Linear");
}
tconv_status tconv_sequential_add_conv_transpose2d(tconv_sequential *s,
                                                   tconv_conv_transpose2d_module *m) {
    return add_module(s, SEQ_CT2D, m, "ConvTranspose2d");
}
tconv_status tconv_sequential_add_conv2d(tconv_sequential *s, tconv_conv2d_module *m) {
    return add_module(s, SEQ_CONV2D, m, "Conv2d");
}
tconv_status tconv_sequential_add_batchnorm2d(tconv_sequential *s, tconv_batchnorm2d *m) {
    return add_module(s, SEQ_BN, m, "BatchNorm2d");
}

tconv_status tconv_sequential_add_activation(tconv_sequential *s, tconv_activation act,
                                             float alpha) {
    if (act <= TCONV_ACTIVATION_NONE || act > TCONV_ACTIVATION_SIGMOID)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "activation %d is not a layer",
                       (int)act);
    if (!isfinite(alpha))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "alpha must be finite, but got %g",
                       (double)alpha);
    seq_layer l = {0};
    l.kind = SEQ_ACT;
    l.act = act;
    l.alpha = alpha;
    return add(s, l);
}

tconv_status tconv_sequential_add_maxpool2d(tconv_sequential *s, const tconv_maxpool2d_params *p) {
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "MaxPool2d params is NULL");
    seq_layer l = {0};
    l.kind = SEQ_MAXPOOL;
    l.pool = *p;
    return add(s, l);
}

tconv_status tconv_sequential_add_view(tconv_sequential *s, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TCONV_MAX_DIMS || (ndim && !shape))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "view: ndim must be 0..%d with a shape",
                       TCONV_MAX_DIMS);
    seq_layer l = {0};
    l.kind = SEQ_VIEW;
    l.view_ndim = ndim;
    if (ndim) memcpy(l.view_shape, shape, (size_t)ndim * sizeof *shape);
    return add(s, l);
}

tconv_status tconv_sequential_set_fusion(tconv_sequential *s, int fuse) {
    tc_clear_error();
    if (!s) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "sequential is NULL");
    if (fuse != 0 && fuse != 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "fuse must be 0 or 1, but got %d", fuse);
    if (s->fuse != fuse) {
        drop_plan(s);
        s->fuse = fuse;
    }
    return TCONV_OK;
}

tconv_status tconv_sequential_weights_changed(tconv_sequential *s) {
    tc_clear_error();
    if (!s) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "sequential is NULL");
    s->stale = 1;
    return TCONV_OK;
}

/* ---- the plan ------------------------------------------------------------------ */

/* A BatchNorm2d that normalises with fixed statistics: foldable. */
static int bn_foldable(const tconv_batchnorm2d *b) {
    return !b->training && b->running_mean && b->running_var;
}

/* The folded weight and bias of a convolution (layer l) and BatchNorm
 * (layer bn, or -1: the module's own bias or zeros). */
static tconv_status fold(const tconv_sequential *s, const seq_step *st, float *fw, float *fb) {
    const seq_layer *l = &s->layers[st->layer];
    const int ct = l->kind == SEQ_CT2D;
    const tconv_conv_transpose2d_module *cm = l->m;
    const tconv_conv2d_module *vm = l->m;
    const int64_t cin = ct ? cm->p.in_channels : vm->p.in_channels;
    const int64_t cout = ct ? cm->p.out_channels : vm->p.out_channels;
    const int64_t groups = ct ? cm->p.groups : vm->p.groups;
    const int64_t kk = ct ? cm->p.kernel_size[0] * cm->p.kernel_size[1]
                          : vm->p.kernel_size[0] * vm->p.kernel_size[1];
    const float *w = ct ? cm->weight : vm->weight, *b = ct ? cm->bias : vm->bias;
    const tconv_batchnorm2d *bn = st->bn >= 0 ? s->layers[st->bn].m : NULL;
    if (bn && bn->num_features != cout)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "BatchNorm2d(%lld) follows a convolution with %lld output channels",
                       (long long)bn->num_features, (long long)cout);
    const int64_t cog = cout / groups, cig = cin / groups;
    for (int64_t oc = 0; oc < cout; oc++) {
        double sc = 1.0, sh = b ? (double)b[oc] : 0.0;
        if (bn) {
            sc = (bn->weight ? (double)bn->weight[oc] : 1.0) /
                 sqrt((double)bn->running_var[oc] + bn->eps);
            sh = (sh - (double)bn->running_mean[oc]) * sc + (bn->bias ? (double)bn->bias[oc] : 0.0);
        }
        fb[oc] = (float)sh;
        const int64_t g = oc / cog, ocg = oc % cog;
        if (ct) /* (Cin, Cout/g, kh, kw) */
            for (int64_t icg = 0; icg < cig; icg++) {
                const int64_t o = ((g * cig + icg) * cog + ocg) * kk;
                for (int64_t t = 0; t < kk; t++) fw[o + t] = (float)(w[o + t] * sc);
            }
        else /* (Cout, Cin/g, kh, kw) */
            for (int64_t t = 0; t < cig * kk; t++)
                fw[oc * cig * kk + t] = (float)(w[oc * cig * kk + t] * sc);
    }
    return TCONV_OK;
}

/* The shape after a layer (without computing it). */
static tconv_status layer_shape(const seq_layer *l, int nd, const int64_t *in, int *ndo,
                                int64_t *out) {
    switch (l->kind) {
    case SEQ_LINEAR: {
        const tconv_linear *m = l->m;
        if (nd < 1 || in[nd - 1] != m->in_features) {
            char b[160];
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Linear(%lld, %lld) cannot take an input of shape %s",
                           (long long)m->in_features, (long long)m->out_features,
                           tc_fmt_dims(b, sizeof b, in, nd));
        }
        memcpy(out, in, (size_t)nd * sizeof *in);
        out[nd - 1] = m->out_features;
        *ndo = nd;
        return TCONV_OK;
    }
    case SEQ_CT2D: {
        const tconv_conv_transpose2d_module *m = l->m;
        *ndo = nd;
        return tconv_conv_transpose2d_output_shape(&m->p, nd, in, NULL, 0, out);
    }
    case SEQ_CONV2D: {
        const tconv_conv2d_module *m = l->m;
        *ndo = nd;
        return tconv_conv2d_output_shape(&m->p, nd, in, out);
    }
    case SEQ_MAXPOOL: *ndo = nd; return tconv_maxpool2d_output_shape(&l->pool, nd, in, out);
    case SEQ_VIEW:
        *ndo = l->view_ndim;
        return tconv_view_shape(nd, in, l->view_ndim, l->view_shape, out);
    case SEQ_BN:
    case SEQ_ACT:
    default:
        *ndo = nd;
        memcpy(out, in, (size_t)nd * sizeof *in);
        return TCONV_OK;
    }
}

static int64_t numel_of(const int64_t *d, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++) r *= d[i]; /* checked by the layers' shape rules */
    return r;
}

static tconv_status plan(tconv_sequential *s, int ndim, const int64_t *in) {
    drop_plan(s);
    s->steps = calloc((size_t)(s->n ? s->n : 1), sizeof *s->steps);
    if (!s->steps) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory planning a Sequential");
    int nd = ndim;
    int64_t shape[TCONV_MAX_DIMS], bufmax = numel_of(in, ndim);
    memcpy(shape, in, (size_t)ndim * sizeof *in);
    size_t wsmax = 0;
    tconv_status st = TCONV_OK;
    for (int i = 0; i < s->n && !st; i++) {
        seq_step *sp = &s->steps[s->nsteps++];
        sp->layer = i;
        sp->bn = sp->act = -1;
        sp->ndim_in = nd;
        memcpy(sp->in, shape, (size_t)nd * sizeof *shape);
        st = layer_shape(&s->layers[i], nd, shape, &nd, shape);
        if (st) break;
        const seq_kind k = s->layers[i].kind;
        if (s->fuse && (k == SEQ_CT2D || k == SEQ_CONV2D)) {
            /* what follows and can go into the convolution */
            int j = i + 1;
            if (j < s->n && s->layers[j].kind == SEQ_BN && bn_foldable(s->layers[j].m))
                sp->bn = j++;
            if (j < s->n && s->layers[j].kind == SEQ_ACT) sp->act = j++;
            if (sp->bn >= 0 || sp->act >= 0) {
                const int ct = k == SEQ_CT2D;
                const tconv_conv_transpose2d_module *cm = s->layers[i].m;
                const tconv_conv2d_module *vm = s->layers[i].m;
                const int64_t cout = ct ? cm->p.out_channels : vm->p.out_channels;
                const int64_t wn = ct ? cm->p.in_channels * (cm->p.out_channels / cm->p.groups) *
                                            cm->p.kernel_size[0] * cm->p.kernel_size[1]
                                      : vm->p.out_channels * (vm->p.in_channels / vm->p.groups) *
                                            vm->p.kernel_size[0] * vm->p.kernel_size[1];
                sp->fw = malloc((size_t)wn * sizeof(float) + 1);
                sp->fb = malloc((size_t)cout * sizeof(float) + 1);
                if (!sp->fw || !sp->fb) {
                    st = tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory folding weights");
                    break;
                }
                if ((st = fold(s, sp, sp->fw, sp->fb))) break;
                st = ct ? tconv_conv_transpose2d_create(&cm->p, sp->fw, sp->fb, NULL, &sp->op)
                        : tconv_conv2d_create(&vm->p, sp->fw, sp->fb, NULL, &sp->op);
                if (!st && sp->act >= 0)
                    st = tconv_op_set_activation(sp->op, s->layers[sp->act].act,
                                                 s->layers[sp->act].alpha);
                int64_t o[TCONV_MAX_DIMS];
                size_t ws = 0;
                if (!st) st = tconv_op_reshape(sp->op, sp->ndim_in, sp->in, NULL, 0, o, &ws);
                if (ws > wsmax) wsmax = ws;
                i = j - 1; /* the fused layers are done */
            }
        }
        sp->ndim_out = nd;
        memcpy(sp->out, shape, (size_t)nd * sizeof *shape);
        const int64_t n = numel_of(shape, nd);
        if (n > bufmax) bufmax = n;
    }
    if (!st && bufmax > s->buf_cap) {
        for (int b = 0; b < 2 && !st; b++) {
            float *p = realloc(s->buf[b], (size_t)bufmax * sizeof(float) + 1);
            if (!p)
                st = tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory for activations");
            else
                s->buf[b] = p;
        }
        if (!st) s->buf_cap = bufmax;
    }
    if (!st && wsmax > s->ws_cap) {
        void *p = realloc(s->ws, wsmax);
        if (!p)
            st = tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "out of memory for the workspace");
        else {
            s->ws = p;
            s->ws_cap = wsmax;
        }
    }
    if (st) {
        drop_plan(s);
        return st;
    }
    s->ndim_in = ndim;
    memcpy(s->in, in, (size_t)ndim * sizeof *in);
    s->planned = 1;
    s->stale = 0;
    return TCONV_OK;
}

/* Folded weights again from the modules (same shapes: no allocation). */
static tconv_status refold(tconv_sequential *s) {
    for (int i = 0; i < s->nsteps; i++) {
        seq_step *sp = &s->steps[i];
        if (!sp->op) continue;
        tconv_status st = fold(s, sp, sp->fw, sp->fb);
        if (!st) st = tconv_op_set_weights(sp->op, sp->fw, sp->fb);
        if (st) return st;
    }
    s->stale = 0;
    return TCONV_OK;
}

/* ---- forward ------------------------------------------------------------------- */

static tconv_status run_step(tconv_sequential *s, const seq_step *sp, const float *x, float *y) {
    const seq_layer *l = &s->layers[sp->layer];
    const int64_t cap = numel_of(sp->out, sp->ndim_out);
    int64_t o[TCONV_MAX_DIMS];
    if (sp->op) return tconv_op_run(sp->op, x, y, s->ws);
    switch (l->kind) {
    case SEQ_LINEAR: return tconv_linear_forward(l->m, sp->ndim_in, sp->in, x, y, cap, o);
    case SEQ_CT2D:
        return tconv_conv_transpose2d_module_forward(l->m, sp->ndim_in, sp->in, x, NULL, 0, y,
                                                     cap, o);
    case SEQ_CONV2D: return tconv_conv2d_module_forward(l->m, sp->ndim_in, sp->in, x, y, cap, o);
    case SEQ_MAXPOOL: return tconv_maxpool2d(&l->pool, sp->ndim_in, sp->in, x, y, cap, o);
    case SEQ_BN: return tconv_batchnorm2d_forward(l->m, sp->ndim_in, sp->in, x, y);
    case SEQ_ACT:
        switch (l->act) {
        case TCONV_ACTIVATION_RELU: return tconv_relu(x, y, cap);
        case TCONV_ACTIVATION_LEAKY_RELU: return tconv_leaky_relu(x, y, cap, l->alpha);
        case TCONV_ACTIVATION_TANH: return tconv_tanh(x, y, cap);
        default: return tconv_sigmoid(x, y, cap);
        }
    case SEQ_VIEW:
    default:
        if (x != y) memcpy(y, x, (size_t)cap * sizeof(float));
        return TCONV_OK;
    }
}

tconv_status tconv_sequential_forward(tconv_sequential *s, int ndim, const int64_t *input_shape,
                                      const float *input, float *output, int64_t output_capacity,
                                      int *output_ndim, int64_t *output_shape) {
    tc_clear_error();
    if (!s) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "sequential is NULL");
    if (ndim < 1 || ndim > TCONV_MAX_DIMS || !input_shape)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input_shape must have 1..%d dimensions",
                       TCONV_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (input_shape[i] < 0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input_shape has a negative size");
    tconv_status st = TCONV_OK;
    if (!s->planned || s->ndim_in != ndim ||
        memcmp(s->in, input_shape, (size_t)ndim * sizeof *input_shape) != 0) {
        if ((st = plan(s, ndim, input_shape))) return st;
    } else if (s->stale) {
        if ((st = refold(s))) return st;
    }
    const seq_step *last = s->nsteps ? &s->steps[s->nsteps - 1] : NULL;
    const int ndo = last ? last->ndim_out : ndim;
    const int64_t *shp = last ? last->out : input_shape;
    const int64_t need = numel_of(shp, ndo);
    if (output_capacity < need)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)need);
    if (need && (!input || !output))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input or output is NULL");
    /* ping-pong through the two buffers (element-wise steps in place), the
     * last step into output */
    const float *x = input;
    int cur = -1; /* the buffer x is in; -1: the caller's input */
    for (int i = 0; i < s->nsteps; i++) {
        const seq_step *sp = &s->steps[i];
        const seq_kind k = s->layers[sp->layer].kind;
        const int elementwise = !sp->op && (k == SEQ_BN || k == SEQ_ACT || k == SEQ_VIEW);
        float *y;
        if (i == s->nsteps - 1) {
            y = output;
        } else if (elementwise && cur >= 0) {
            y = s->buf[cur];
        } else {
            cur = cur == 0 ? 1 : 0;
            y = s->buf[cur];
        }
        if ((st = run_step(s, sp, x, y))) return st;
        x = y;
    }
    if (!s->nsteps && need) memmove(output, input, (size_t)need * sizeof(float));
    if (output_ndim) *output_ndim = ndo;
    if (output_shape) memcpy(output_shape, shp, (size_t)ndo * sizeof *shp);
    return TCONV_OK;
}
