/* optim.c -- torch.optim.SGD, Adam and AdamW as PyTorch 1.13's
 * single-tensor implementation computes them (float32 tensors, Python
 * double scalars rounded to float where they meet a tensor, the same order
 * of operations), param groups, state by PyTorch's names; and the modules'
 * parameter lists. */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The updates are element-wise float32 expressions whose rounding must be
 * PyTorch's: fused multiply-adds exactly where PyTorch's kernels have them
 * (fmaf, below), no contraction elsewhere. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
/* sqrtf without errno (its result is the same): the update loops vectorize */
#pragma GCC optimize("no-math-errno")
#endif

typedef struct opt_param {
    tconv_param p;
    int64_t group;
    float step;    /* Adam, AdamW: PyTorch 1.13's float32 step tensor */
    int has_state; /* SGD: momentum_buffer exists; Adam: the state exists */
    float *buf;    /* SGD momentum_buffer; Adam exp_avg */
    float *sq;     /* exp_avg_sq */
    float *maxsq;  /* max_exp_avg_sq */
} opt_param;

struct tconv_optimizer {
    tconv_optimizer_kind kind;
    int64_t ngroups, nparams;
    tconv_optimizer_options *groups;
    opt_param *params;
};

/* ---- Python's repr of a float, for PyTorch's messages -------------------------- */

static const char *py_float(char *buf, size_t cap, double v) {
    if (isnan(v)) return "nan";
    if (isinf(v)) return v > 0 ? "inf" : "-inf";
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) { /* the shortest digits that read back as v */
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const int neg = e[0] == '-';
    char digits[24];
    int nd = 0;
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    digits[nd] = '\0';
    const int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
    size_t k = 0;
#define PUT(...) (k += (size_t)snprintf(buf + k, k < cap ? cap - k : 0, __VA_ARGS__))
    if (neg) PUT("-");
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++) PUT("%c", i < nd ? digits[i] : '0');
            PUT(".");
            if (nd > exp10 + 1) PUT("%s", digits + exp10 + 1);
            else PUT("0");
        } else {
            PUT("0.");
            for (int i = 0; i < -exp10 - 1; i++) PUT("0");
            PUT("%s", digits);
        }
    } else {
        PUT("%c", digits[0]);
        if (nd > 1) PUT(".%s", digits + 1);
        PUT("e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
#undef PUT
    return buf;
}

/* ---- options ------------------------------------------------------------------- */

void tconv_optimizer_options_init(tconv_optimizer_options *o, tconv_optimizer_kind kind,
                                  double lr) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = kind == TCONV_OPTIMIZER_ADAMW ? 1e-2 : 0.0;
}

/* The constructors' checks, with their messages. */
static tconv_status check_options(tconv_optimizer_kind kind, const tconv_optimizer_options *o) {
    char b[40];
    if (kind == TCONV_OPTIMIZER_SGD) {
        if (o->lr < 0.0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid learning rate: %s",
                           py_float(b, sizeof b, o->lr));
        if (o->momentum < 0.0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid momentum value: %s",
                           py_float(b, sizeof b, o->momentum));
        if (o->weight_decay < 0.0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid weight_decay value: %s",
                           py_float(b, sizeof b, o->weight_decay));
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Nesterov momentum requires a momentum and zero dampening");
        return TCONV_OK;
    }
    if (kind != TCONV_OPTIMIZER_ADAM && kind != TCONV_OPTIMIZER_ADAMW)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer kind %d is not a tconv_optimizer_kind",
                       (int)kind);
    if (!(0.0 <= o->lr))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid learning rate: %s",
                       py_float(b, sizeof b, o->lr));
    if (!(0.0 <= o->eps))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid epsilon value: %s",
                       py_float(b, sizeof b, o->eps));
    if (!(0.0 <= o->beta1 && o->beta1 < 1.0))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid beta parameter at index 0: %s",
                       py_float(b, sizeof b, o->beta1));
    if (!(0.0 <= o->beta2 && o->beta2 < 1.0))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid beta parameter at index 1: %s",
                       py_float(b, sizeof b, o->beta2));
    if (!(0.0 <= o->weight_decay))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Invalid weight_decay value: %s",
                       py_float(b, sizeof b, o->weight_decay));
    return TCONV_OK;
}

/* ---- create / groups / destroy ---------------------------------------------------- */

static void free_param(opt_param *q) {
    free(q->buf);
    free(q->sq);
    free(q->maxsq);
}

void tconv_optimizer_destroy(tconv_optimizer *opt) {
    if (!opt) return;
    for (int64_t i = 0; i < opt->nparams; i++) free_param(&opt->params[i]);
    free(opt->params);
    free(opt->groups);
    free(opt);
}

static float *zeros(int64_t n) {
    size_t bytes;
    if (!tc_float_bytes(n, &bytes)) return NULL;
    return calloc(bytes ? bytes : 1, 1);
}

tconv_status tconv_optimizer_add_param_group(tconv_optimizer *opt, const tconv_param *params,
                                             int64_t count,
                                             const tconv_optimizer_options *options) {
    tc_clear_error();
    if (!opt) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer is NULL");
    const tconv_optimizer_options o = options ? *options : opt->groups[0];
    options = &o; /* (a copy: groups may move below) */
    if (count < 1 || !params)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer got an empty parameter list");
    tconv_status st = check_options(opt->kind, options);
    if (st) return st;
    for (int64_t i = 0; i < count; i++) {
        if (params[i].numel < 0 || (params[i].numel > 0 && !params[i].data))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "optimizer: parameter %lld has numel %lld and data %s", (long long)i,
                           (long long)params[i].numel, params[i].data ? "set" : "NULL");
        for (int64_t j = 0; j < opt->nparams + i; j++) {
            const float *other = j < opt->nparams ? opt->params[j].p.data : params[j - opt->nparams].data;
            if (params[i].data && other == params[i].data)
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "some parameters appear in more than one parameter group");
        }
    }
    /* grow the arrays, then allocate the new parameters' state */
    opt_param *np = realloc(opt->params, (size_t)(opt->nparams + count) * sizeof *np);
    if (!np) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "optimizer: out of memory");
    opt->params = np;
    tconv_optimizer_options *ng = realloc(opt->groups, (size_t)(opt->ngroups + 1) * sizeof *ng);
    if (!ng) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "optimizer: out of memory");
    opt->groups = ng;
    ng[opt->ngroups] = *options;
    for (int64_t i = 0; i < count; i++) {
        opt_param *q = &np[opt->nparams + i];
        memset(q, 0, sizeof *q);
        q->p = params[i];
        q->group = opt->ngroups;
        const int64_t n = params[i].numel;
        int ok = (q->buf = zeros(n)) != NULL;
        if (opt->kind != TCONV_OPTIMIZER_SGD) ok = ok && (q->sq = zeros(n)) && (q->maxsq = zeros(n));
        if (!ok) {
            for (int64_t j = 0; j <= i; j++) free_param(&np[opt->nparams + j]);
            return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "optimizer: out of memory for the state of %lld floats",
                           (long long)n);
        }
    }
    opt->nparams += count;
    opt->ngroups++;
    return TCONV_OK;
}

tconv_status tconv_optimizer_create(tconv_optimizer_kind kind, const tconv_param *params,
                                    int64_t count, const tconv_optimizer_options *options,
                                    tconv_optimizer **out) {
    tc_clear_error();
    if (!options || !out) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer: options or out is NULL");
    tconv_status st = check_options(kind, options);
    if (st) return st;
    tconv_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "optimizer: out of memory");
    opt->kind = kind;
    opt->groups = malloc(sizeof *opt->groups); /* groups[0] until the first group is added */
    if (!opt->groups) {
        free(opt);
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "optimizer: out of memory");
    }
    opt->groups[0] = *options;
    st = tconv_optimizer_add_param_group(opt, params, count, options);
    if (st) {
        tconv_optimizer_destroy(opt);
        return st;
    }
    *out = opt;
    return TCONV_OK;
}

tconv_optimizer_options *tconv_optimizer_group_options(tconv_optimizer *opt, int64_t group) {
    return opt && group >= 0 && group < opt->ngroups ? &opt->groups[group] : NULL;
}

/* ---- step ------------------------------------------------------------------------ */

/* PyTorch's float kernels on x86 fuse "a + alpha * b" (add with alpha, the
 * vector path's fmadd) and "self + value * t1 * t2" (addcmul) into one
 * rounding; fmaf does the same, so the updates match PyTorch's float32
 * bit for bit on FMA CPUs.  The loops are compiled twice where the
 * compiler can: with FMA instructions and for the baseline (where fmaf is
 * glibc's, still one rounding). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TC_CLONES
#endif

TC_CLONES static void sgd_step(opt_param *q, const tconv_optimizer_options *o) {
    float *p = q->p.data, *buf = q->buf;
    const float *g = q->p.grad;
    const float wd = (float)o->weight_decay, mom = (float)o->momentum;
    const float damp1 = (float)(1.0 - o->dampening), nlr = (float)(-o->lr);
    const int first = !q->has_state;
    for (int64_t i = 0; i < q->p.numel; i++) {
        float d = o->maximize ? -g[i] : g[i];
        if (o->weight_decay != 0) d = fmaf(wd, p[i], d); /* d_p.add(param, alpha=wd) */
        if (o->momentum != 0) {
            /* buf.mul_(momentum).add_(d_p, alpha=1-dampening) */
            buf[i] = first ? d : fmaf(damp1, d, buf[i] * mom);
            d = o->nesterov ? fmaf(mom, buf[i], d) : buf[i]; /* d_p.add(buf, alpha=momentum) */
        }
        p[i] = fmaf(nlr, d, p[i]); /* param.add_(d_p, alpha=-lr) */
    }
    if (o->momentum != 0) q->has_state = 1;
}

/* The vectorised Adam step over chunks of one parameter (threads). */
typedef struct adam_ctx {
    float *p;
    const float *g;
    float *ea, *es;
    int64_t n, chunk;
    const tc_adam_coef *c;
} adam_ctx;

static void adam_worker(void *ctx, int64_t b, int64_t e) {
    const adam_ctx *a = ctx;
    for (int64_t t = b; t < e; t++) {
        const int64_t i = t * a->chunk, m = tc_imin(a->chunk, a->n - i);
        tc_eltwise()->adam(a->p + i, a->g + i, a->ea + i, a->es + i, m, a->c);
    }
}

TC_CLONES static void adam_step(opt_param *q, const tconv_optimizer_options *o, int decoupled) {
    float *p = q->p.data, *ea = q->buf, *es = q->sq, *mx = q->maxsq;
    const float *g = q->p.grad;
    q->step = q->step + 1.0f;
    q->has_state = 1;
    const double step = q->step; /* step_t.item() */
    const double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    const float nstep = (float)(-(o->lr / bc1)), bc2s = (float)sqrt(bc2), eps = (float)o->eps;
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float a1 = (float)(1.0 - o->beta1), a2 = (float)(1.0 - o->beta2);
    const float wd = (float)o->weight_decay, decay = (float)(1.0 - o->lr * o->weight_decay);
    if (!o->maximize && !o->amsgrad && (decoupled || o->weight_decay == 0) &&
        !tc_nn_overlap(p, q->p.numel, g, q->p.numel)) {
        /* the loop below with its branches taken (AdamW's p * (1 - lr*wd) is
         * p * 1 = p exactly for Adam), vectorized: the same bits */
        const tc_adam_coef c = {decoupled ? decay : 1.0f, b1, a1, b2, a2, bc2s, eps, nstep};
        adam_ctx ac = {p, g, ea, es, q->p.numel, 0, &c};
        const int nt = tc_nn_threads_for(ac.n, 8);
        ac.chunk = tc_nn_chunk(ac.n, nt); /* element-wise: any split gives the same bits */
        if (nt <= 1) adam_worker(&ac, 0, 1);
        else tc_parallel_for(nt, (ac.n + ac.chunk - 1) / ac.chunk, adam_worker, &ac);
        return;
    }
    for (int64_t i = 0; i < q->p.numel; i++) {
        if (decoupled) p[i] = p[i] * decay; /* param.mul_(1 - lr * weight_decay) */
        float d = o->maximize ? -g[i] : g[i];
        if (!decoupled && o->weight_decay != 0) d = fmaf(wd, p[i], d); /* grad.add(param, alpha=wd) */
        ea[i] = fmaf(a1, d, ea[i] * b1);      /* exp_avg.mul_(b1).add_(d, alpha=1-b1) */
        es[i] = fmaf(a2 * d, d, es[i] * b2);  /* exp_avg_sq.mul_(b2).addcmul_(d, d, value=1-b2) */
        float v = es[i];
        if (o->amsgrad) { /* torch.maximum: NaN wins */
            const float m = mx[i];
            mx[i] = (isnan(m) || isnan(v)) ? NAN : (m > v ? m : v);
            v = mx[i];
        }
        const float denom = sqrtf(v) / bc2s + eps; /* (v.sqrt() / bc2_sqrt).add_(eps) */
        p[i] = p[i] + (nstep * ea[i]) / denom;     /* param.addcdiv_(exp_avg, denom, value=-lr/bc1) */
    }
}

tconv_status tconv_optimizer_step(tconv_optimizer *opt) {
    tc_clear_error();
    if (!opt) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer is NULL");
    for (int64_t gi = 0; gi < opt->ngroups; gi++) { /* options edited since: check again */
        tconv_status st = check_options(opt->kind, &opt->groups[gi]);
        if (st) return st;
    }
    for (int64_t i = 0; i < opt->nparams; i++) {
        opt_param *q = &opt->params[i];
        if (!q->p.grad || q->p.numel == 0) continue;
        const tconv_optimizer_options *o = &opt->groups[q->group];
        if (opt->kind == TCONV_OPTIMIZER_SGD) sgd_step(q, o);
        else adam_step(q, o, opt->kind == TCONV_OPTIMIZER_ADAMW);
        if (q->p.changed) q->p.changed(q->p.owner);
    }
    return TCONV_OK;
}

void tconv_optimizer_zero_grad(tconv_optimizer *opt) {
    if (!opt) return;
    for (int64_t i = 0; i < opt->nparams; i++)
        if (opt->params[i].p.grad && opt->params[i].p.numel > 0)
            memset(opt->params[i].p.grad, 0, (size_t)opt->params[i].p.numel * sizeof(float));
}

/* ---- state ------------------------------------------------------------------------ */

/* The state entry name of parameter i, or NULL where the kind / options /
 * first step say PyTorch has none (load: the entry exists once loaded). */
static float *state_entry(tconv_optimizer *opt, int64_t index, const char *name, int64_t *numel,
                          int loading) {
    opt_param *q = &opt->params[index];
    const tconv_optimizer_options *o = &opt->groups[q->group];
    *numel = q->p.numel;
    if (opt->kind == TCONV_OPTIMIZER_SGD) {
        if (strcmp(name, "momentum_buffer") == 0 && o->momentum != 0 && (q->has_state || loading))
            return q->buf;
        return NULL;
    }
    if (!q->has_state && !loading) return NULL;
    if (strcmp(name, "step") == 0) {
        *numel = 1;
        return &q->step;
    }
    if (strcmp(name, "exp_avg") == 0) return q->buf;
    if (strcmp(name, "exp_avg_sq") == 0) return q->sq;
    if (strcmp(name, "max_exp_avg_sq") == 0 && o->amsgrad) return q->maxsq;
    return NULL;
}

tconv_status tconv_optimizer_state(tconv_optimizer *opt, int64_t index, const char *name,
                                   float **data, int64_t *numel) {
    tc_clear_error();
    if (!opt || !name || !data || !numel)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer state: NULL argument");
    if (index < 0 || index >= opt->nparams)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "optimizer state: index %lld out of range [0, %lld)", (long long)index,
                       (long long)opt->nparams);
    int64_t n;
    float *p = state_entry(opt, index, name, &n, 0);
    if (!p)
        return tc_fail(TCONV_ERROR_NOT_FOUND, "optimizer state of parameter %lld has no '%.64s'",
                       (long long)index, name);
    *data = p;
    *numel = n;
    return TCONV_OK;
}

tconv_status tconv_optimizer_load_state(tconv_optimizer *opt, int64_t index, const char *name,
                                        const float *data, int64_t numel) {
    tc_clear_error();
    if (!opt || !name || (numel > 0 && !data))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "optimizer load_state: NULL argument");
    if (index < 0 || index >= opt->nparams)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "optimizer load_state: index %lld out of range [0, %lld)",
                       (long long)index, (long long)opt->nparams);
    int64_t n;
    float *p = state_entry(opt, index, name, &n, 1);
    if (!p)
        return tc_fail(TCONV_ERROR_NOT_FOUND, "optimizer state of parameter %lld has no '%.64s'",
                       (long long)index, name);
    if (numel != n)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "optimizer load_state: '%.64s' of parameter %lld has %lld elements, got %lld",
                       name, (long long)index, (long long)n, (long long)numel);
    if (n > 0) memmove(p, data, (size_t)n * sizeof(float));
    opt->params[index].has_state = 1;
    return TCONV_OK;
}

/* ---- the modules' parameter lists -------------------------------------------------- */

static void linear_changed(void *m) { tconv_linear_weights_changed(m); }
static void ct_changed(void *m) { tconv_conv_transpose2d_module_weights_changed(m); }
static void conv2d_changed(void *m) { tconv_conv2d_module_weights_changed(m); }

/* Fills up to two entries (weight, bias) after allocating the .grad arrays. */
static tconv_status two(const char *what, float *w, float **wg, int64_t wn, float *b, float **bg,
                        int64_t bn, void (*changed)(void *), void *owner, tconv_param *params,
                        int capacity, int *count) {
    tc_clear_error();
    if (!w) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: module is not initialised", what);
    const int need = b ? 2 : 1;
    if (!params || !count || capacity < need)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s parameters: room for %d entries needed",
                       what, need);
    tconv_status st = tc_nn_ensure_grad(wg, wn, what);
    if (!st && b) st = tc_nn_ensure_grad(bg, bn, what);
    if (st) return st;
    params[0] = (tconv_param){w, *wg, wn, changed, owner};
    if (b) params[1] = (tconv_param){b, *bg, bn, changed, owner};
    *count = need;
    return TCONV_OK;
}

tconv_status tconv_linear_parameters(tconv_linear *m, tconv_param *params, int capacity,
                                     int *count) {
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Linear: module is NULL");
    return two("Linear", m->weight, &m->weight_grad, m->in_features * m->out_features, m->bias,
               &m->bias_grad, m->out_features, linear_changed, m, params, capacity, count);
}

tconv_status tconv_batchnorm2d_parameters(tconv_batchnorm2d *m, tconv_param *params, int capacity,
                                          int *count) {
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d: module is NULL");
    if (!m->weight) { /* affine=False: no parameters */
        tc_clear_error();
        if (!count) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "BatchNorm2d parameters: count is NULL");
        *count = 0;
        return TCONV_OK;
    }
    return two("BatchNorm2d", m->weight, &m->weight_grad, m->num_features, m->bias, &m->bias_grad,
               m->num_features, NULL, NULL, params, capacity, count);
}

tconv_status tconv_conv_transpose2d_module_parameters(tconv_conv_transpose2d_module *m,
                                                      tconv_param *params, int capacity,
                                                      int *count) {
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "ConvTranspose2d: module is NULL");
    const tconv_conv_transpose2d_params *p = &m->p;
    const int64_t dims[4] = {p->in_channels, p->groups > 0 ? p->out_channels / p->groups : 0,
                             p->kernel_size[0], p->kernel_size[1]};
    int64_t wn;
    if (!tc_numel(dims, 4, &wn)) return tc_fail(TCONV_ERROR_OVERFLOW, "ConvTranspose2d: weight size overflows");
    return two("ConvTranspose2d", m->weight, &m->weight_grad, wn, m->bias, &m->bias_grad,
               p->out_channels, ct_changed, m, params, capacity, count);
}

tconv_status tconv_conv2d_module_parameters(tconv_conv2d_module *m, tconv_param *params,
                                            int capacity, int *count) {
    if (!m) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "Conv2d: module is NULL");
    const tconv_conv2d_params *p = &m->p;
    const int64_t dims[4] = {p->out_channels, p->groups > 0 ? p->in_channels / p->groups : 0,
                             p->kernel_size[0], p->kernel_size[1]};
    int64_t wn;
    if (!tc_numel(dims, 4, &wn)) return tc_fail(TCONV_ERROR_OVERFLOW, "Conv2d: weight size overflows");
    return two("Conv2d", m->weight, &m->weight_grad, wn, m->bias, &m->bias_grad,
               p->out_channels, conv2d_changed, m, params, capacity, count);
}
