/* dcgan.c -- the digits DCGAN of `tconv train` (see dcgan.h): networks,
 * data, and the training step chained from libtconv's forward / backward
 * pairs, losses and Adam. */
#include "dcgan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dcgan_buffers {
    /* generator activations: ConvT out (BN in), BN out (ReLU in place), image */
    float *a0, *b0, *a1, *b1, *fake;
    /* discriminator activations: conv0 out (LeakyReLU in place), conv1 out
     * (BN in), BN out (LeakyReLU in place), logits */
    float *e0, *e1, *f1, *logit;
    /* gradients: logits, BN out / in (in place), conv0 out, image; the
     * generator's (in place through ReLU and BN) */
    float *d_logit, *d_f1, *d_e0, *d_x, *d_b1, *d_b0;
    /* BCE targets: 0.9 (real), 0 (fake), 1 (the generator's goal) */
    float *t_real, *t_fake, *t_one;
    float *zpad; /* sample(): one batch of noise */
};

#define BUFS(b)                                                                              \
    {&(b)->a0, &(b)->b0, &(b)->a1, &(b)->b1, &(b)->fake, &(b)->e0, &(b)->e1, &(b)->f1,       \
     &(b)->logit, &(b)->d_logit, &(b)->d_f1, &(b)->d_e0, &(b)->d_x, &(b)->d_b1, &(b)->d_b0,  \
     &(b)->t_real, &(b)->t_fake, &(b)->t_one, &(b)->zpad}
/* floats per image of each buffer above, in that order */
static const int64_t k_per_image[] = {128 * 16, 128 * 16, 64 * 64, 64 * 64, DCGAN_PIXELS,
                                      64 * 64,  128 * 16, 128 * 16, 1,      1,
                                      128 * 16, 64 * 64,  DCGAN_PIXELS, 64 * 64, 128 * 16,
                                      1,        1,        1,        DCGAN_Z};

/* batches larger than this are refused (every buffer then stays far below
 * 2^31 floats) */
#define MAX_BATCH ((int64_t)1 << 20)

#define TRY(call)                          \
    do {                                   \
        tconv_status s_ = (call);          \
        if (s_ != TCONV_OK) return s_;     \
    } while (0)

/* ---- networks ---------------------------------------------------------------- */

static void fill_normal(tconv_rng *rng, float *x, int64_t n, double mean, double std) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + std * tconv_rng_normal(rng));
}

static int64_t numel4(const int64_t *d) { return d[0] * d[1] * d[2] * d[3]; }

static tconv_status build(dcgan *t, tconv_rng *rng) {
    /* generator: (in, out, stride, padding) per ConvTranspose2d */
    static const int64_t gl[3][4] = {{DCGAN_Z, 128, 1, 0}, {128, 64, 2, 1}, {64, 1, 2, 1}};
    for (int l = 0; l < 3; l++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, gl[l][0], gl[l][1], 4, 4);
        p.stride[0] = p.stride[1] = gl[l][2];
        p.padding[0] = p.padding[1] = gl[l][3];
        TRY(tconv_conv_transpose2d_module_init(&t->g.ct[l], &p, 0, NULL));
        if (l < 2) TRY(tconv_batchnorm2d_init(&t->g.bn[l], gl[l][1]));
    }
    static const int64_t dl[3][4] = {{1, 64, 2, 1}, {64, 128, 2, 1}, {128, 1, 1, 0}};
    for (int l = 0; l < 3; l++) {
        tconv_conv2d_params p;
        tconv_conv2d_params_init(&p, dl[l][0], dl[l][1], 4, 4);
        p.stride[0] = p.stride[1] = dl[l][2];
        p.padding[0] = p.padding[1] = dl[l][3];
        TRY(tconv_conv2d_module_init(&t->d.conv[l], &p, 0, NULL));
    }
    TRY(tconv_batchnorm2d_init(&t->d.bn, 128));
    if (rng) { /* weights_init, in state_dict order: G then D */
        for (int l = 0; l < 3; l++) {
            fill_normal(rng, t->g.ct[l].weight, gl[l][0] * gl[l][1] * 16, 0.0, 0.02);
            if (l < 2) fill_normal(rng, t->g.bn[l].weight, gl[l][1], 1.0, 0.02);
        }
        for (int l = 0; l < 3; l++) {
            fill_normal(rng, t->d.conv[l].weight, dl[l][0] * dl[l][1] * 16, 0.0, 0.02);
            if (l == 1) fill_normal(rng, t->d.bn.weight, 128, 1.0, 0.02);
        }
        for (int l = 0; l < 3; l++) {
            tconv_conv_transpose2d_module_weights_changed(&t->g.ct[l]);
            tconv_conv2d_module_weights_changed(&t->d.conv[l]);
        }
    }
    /* parameters in PyTorch's order (gen.parameters(), disc.parameters()) */
    int n = 0, c;
    for (int l = 0; l < 3; l++) {
        TRY(tconv_conv_transpose2d_module_parameters(&t->g.ct[l], t->g_params + n,
                                                     DCGAN_G_PARAMS - n, &c));
        n += c;
        if (l < 2) {
            TRY(tconv_batchnorm2d_parameters(&t->g.bn[l], t->g_params + n, DCGAN_G_PARAMS - n, &c));
            n += c;
        }
    }
    n = 0;
    for (int l = 0; l < 3; l++) {
        TRY(tconv_conv2d_module_parameters(&t->d.conv[l], t->d_params + n, DCGAN_D_PARAMS - n, &c));
        n += c;
        if (l == 1) {
            TRY(tconv_batchnorm2d_parameters(&t->d.bn, t->d_params + n, DCGAN_D_PARAMS - n, &c));
            n += c;
        }
    }
    tconv_optimizer_options o;
    tconv_optimizer_options_init(&o, TCONV_OPTIMIZER_ADAM, DCGAN_LR);
    o.beta1 = DCGAN_BETA1;
    o.beta2 = DCGAN_BETA2;
    TRY(tconv_optimizer_create(TCONV_OPTIMIZER_ADAM, t->g_params, DCGAN_G_PARAMS, &o, &t->opt_g));
    TRY(tconv_optimizer_create(TCONV_OPTIMIZER_ADAM, t->d_params, DCGAN_D_PARAMS, &o, &t->opt_d));

    dcgan_buffers *b = calloc(1, sizeof *b);
    if (!b) return TCONV_ERROR_OUT_OF_MEMORY;
    t->buf = b;
    float **bufs[] = BUFS(b);
    _Static_assert(sizeof bufs / sizeof bufs[0] == sizeof k_per_image / sizeof k_per_image[0],
                   "one size per buffer");
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = calloc((size_t)(k_per_image[i] * t->batch), sizeof(float));
        if (!*bufs[i]) return TCONV_ERROR_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < t->batch; i++) {
        b->t_real[i] = DCGAN_REAL_LABEL;
        b->t_fake[i] = 0.0f;
        b->t_one[i] = 1.0f;
    }
    return TCONV_OK;
}

tconv_status dcgan_init(dcgan *t, int64_t batch, tconv_rng *rng) {
    if (!t) return TCONV_ERROR_INVALID_ARGUMENT;
    memset(t, 0, sizeof *t);
    if (batch < 1 || batch > MAX_BATCH) return TCONV_ERROR_INVALID_ARGUMENT;
    t->batch = batch;
    tconv_status s = build(t, rng);
    if (s) dcgan_free(t);
    return s;
}

void dcgan_free(dcgan *t) {
    if (!t) return;
    for (int l = 0; l < 3; l++) {
        tconv_conv_transpose2d_module_free(&t->g.ct[l]);
        tconv_conv2d_module_free(&t->d.conv[l]);
    }
    for (int l = 0; l < 2; l++) tconv_batchnorm2d_free(&t->g.bn[l]);
    tconv_batchnorm2d_free(&t->d.bn);
    tconv_optimizer_destroy(t->opt_g);
    tconv_optimizer_destroy(t->opt_d);
    if (t->buf) {
        float **bufs[] = BUFS(t->buf);
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
        free(t->buf);
    }
    memset(t, 0, sizeof *t);
}

/* ---- the passes ------------------------------------------------------------------ */

/* G(z) -> b->fake, keeping every activation its backward needs. */
static tconv_status g_forward(dcgan *t, const float *z) {
    dcgan_buffers *b = t->buf;
    const int64_t B = t->batch;
    const int64_t zs[4] = {B, DCGAN_Z, 1, 1}, a0s[4] = {B, 128, 4, 4}, a1s[4] = {B, 64, 8, 8};
    TRY(tconv_conv_transpose2d_module_forward(&t->g.ct[0], 4, zs, z, NULL, 0, b->a0,
                                              numel4(a0s), NULL));
    TRY(tconv_batchnorm2d_forward(&t->g.bn[0], 4, a0s, b->a0, b->b0));
    TRY(tconv_relu(b->b0, b->b0, numel4(a0s)));
    TRY(tconv_conv_transpose2d_module_forward(&t->g.ct[1], 4, a0s, b->b0, NULL, 0, b->a1,
                                              numel4(a1s), NULL));
    TRY(tconv_batchnorm2d_forward(&t->g.bn[1], 4, a1s, b->a1, b->b1));
    TRY(tconv_relu(b->b1, b->b1, numel4(a1s)));
    TRY(tconv_conv_transpose2d_module_forward(&t->g.ct[2], 4, a1s, b->b1, NULL, 0, b->fake,
                                              B * DCGAN_PIXELS, NULL));
    return tconv_tanh(b->fake, b->fake, B * DCGAN_PIXELS);
}

/* dL/dz is not needed: from d_fake (dL/dG(z), overwritten) down to the
 * generator's parameter gradients. */
static tconv_status g_backward(dcgan *t, const float *z, float *d_fake) {
    dcgan_buffers *b = t->buf;
    const int64_t B = t->batch;
    const int64_t zs[4] = {B, DCGAN_Z, 1, 1}, a0s[4] = {B, 128, 4, 4}, a1s[4] = {B, 64, 8, 8};
    TRY(tconv_tanh_backward(b->fake, d_fake, d_fake, B * DCGAN_PIXELS));
    TRY(tconv_conv_transpose2d_module_backward(&t->g.ct[2], 4, a1s, b->b1, NULL, 0, d_fake,
                                               b->d_b1));
    TRY(tconv_relu_backward(b->b1, b->d_b1, b->d_b1, numel4(a1s)));
    TRY(tconv_batchnorm2d_backward(&t->g.bn[1], 4, a1s, b->a1, b->d_b1, b->d_b1));
    TRY(tconv_conv_transpose2d_module_backward(&t->g.ct[1], 4, a0s, b->b0, NULL, 0, b->d_b1,
                                               b->d_b0));
    TRY(tconv_relu_backward(b->b0, b->d_b0, b->d_b0, numel4(a0s)));
    TRY(tconv_batchnorm2d_backward(&t->g.bn[0], 4, a0s, b->a0, b->d_b0, b->d_b0));
    return tconv_conv_transpose2d_module_backward(&t->g.ct[0], 4, zs, z, NULL, 0, b->d_b0, NULL);
}

/* D(x) -> b->logit (B values). */
static tconv_status d_forward(dcgan *t, const float *x) {
    dcgan_buffers *b = t->buf;
    const int64_t B = t->batch;
    const int64_t xs[4] = {B, 1, DCGAN_SIDE, DCGAN_SIDE}, e0s[4] = {B, 64, 8, 8},
                  e1s[4] = {B, 128, 4, 4};
    TRY(tconv_conv2d_module_forward(&t->d.conv[0], 4, xs, x, b->e0, numel4(e0s), NULL));
    TRY(tconv_leaky_relu(b->e0, b->e0, numel4(e0s), 0.2f));
    TRY(tconv_conv2d_module_forward(&t->d.conv[1], 4, e0s, b->e0, b->e1, numel4(e1s), NULL));
    TRY(tconv_batchnorm2d_forward(&t->d.bn, 4, e1s, b->e1, b->f1));
    TRY(tconv_leaky_relu(b->f1, b->f1, numel4(e1s), 0.2f));
    return tconv_conv2d_module_forward(&t->d.conv[2], 4, e1s, b->f1, b->logit, B, NULL);
}

/* The backward of the last d_forward(x) from b->d_logit: with `params` the
 * parameter gradients accumulate, without only dL/dx is computed (into dx;
 * may be NULL with params).  LeakyReLU ran in place: its gradient is taken
 * from its output, whose sign is its input's (slope 0.2 > 0), so the branch
 * taken is the same. */
static tconv_status d_backward(dcgan *t, const float *x, float *dx, int params) {
    dcgan_buffers *b = t->buf;
    const int64_t B = t->batch;
    const int64_t xs[4] = {B, 1, DCGAN_SIDE, DCGAN_SIDE}, e0s[4] = {B, 64, 8, 8},
                  e1s[4] = {B, 128, 4, 4};
    if (params)
        TRY(tconv_conv2d_module_backward(&t->d.conv[2], 4, e1s, b->f1, b->d_logit, b->d_f1));
    else
        TRY(tconv_conv2d_module_backward_input(&t->d.conv[2], 4, e1s, b->d_logit, b->d_f1));
    TRY(tconv_leaky_relu_backward(b->f1, b->d_f1, b->d_f1, numel4(e1s), 0.2f));
    TRY(tconv_batchnorm2d_backward(&t->d.bn, 4, e1s, b->e1, b->d_f1, b->d_f1));
    if (params)
        TRY(tconv_conv2d_module_backward(&t->d.conv[1], 4, e0s, b->e0, b->d_f1, b->d_e0));
    else
        TRY(tconv_conv2d_module_backward_input(&t->d.conv[1], 4, e0s, b->d_f1, b->d_e0));
    TRY(tconv_leaky_relu_backward(b->e0, b->d_e0, b->d_e0, numel4(e0s), 0.2f));
    if (params) return tconv_conv2d_module_backward(&t->d.conv[0], 4, xs, x, b->d_e0, dx);
    return tconv_conv2d_module_backward_input(&t->d.conv[0], 4, xs, b->d_e0, dx);
}

/* BCEWithLogits(D(x), target) (mean), its gradient into b->d_logit. */
static tconv_status d_loss(dcgan *t, const float *target, float *loss) {
    dcgan_buffers *b = t->buf;
    const float one = 1.0f;
    TRY(tconv_bce_with_logits_loss(b->logit, target, NULL, NULL, 0, t->batch,
                                   TCONV_REDUCTION_MEAN, loss));
    return tconv_bce_with_logits_loss_backward(b->logit, target, NULL, NULL, 0, t->batch,
                                               TCONV_REDUCTION_MEAN, &one, b->d_logit);
}

tconv_status dcgan_step(dcgan *t, const float *real, const float *z, float *loss_d,
                        float *loss_g) {
    if (!t || !t->buf || !real || !z || !loss_d || !loss_g) return TCONV_ERROR_INVALID_ARGUMENT;
    dcgan_buffers *b = t->buf;
    float lr, lf, lg;
    /* fake = gen(z) */
    TRY(g_forward(t, z));
    /* the discriminator: real -> 0.9, fake.detach() -> 0.  PyTorch runs both
     * forwards, then one backward through both graphs; each BatchNorm
     * backward needs its own forward's statistics, so here each forward is
     * followed by its backward (the weights do not change in between, and
     * the gradients of the two sum in .grad as autograd sums them). */
    tconv_optimizer_zero_grad(t->opt_d);
    TRY(d_forward(t, real));
    TRY(d_loss(t, b->t_real, &lr));
    TRY(d_backward(t, real, NULL, 1));
    TRY(d_forward(t, b->fake));
    TRY(d_loss(t, b->t_fake, &lf));
    TRY(d_backward(t, b->fake, NULL, 1));
    TRY(tconv_optimizer_step(t->opt_d));
    /* the generator: D(fake) -> 1, through the updated discriminator.
     * PyTorch also computes the discriminator's weight gradients here and
     * throws them away (the next step starts with opt_d.zero_grad()); only
     * the input gradient is computed here (BatchNorm's parameter gradients
     * come with its input gradient and are thrown away likewise). */
    tconv_optimizer_zero_grad(t->opt_g);
    TRY(d_forward(t, b->fake));
    TRY(d_loss(t, b->t_one, &lg));
    TRY(d_backward(t, b->fake, b->d_x, 0));
    TRY(g_backward(t, z, b->d_x));
    TRY(tconv_optimizer_step(t->opt_g));
    *loss_d = lr + lf;
    *loss_g = lg;
    return TCONV_OK;
}

tconv_status dcgan_sample(dcgan *t, int64_t count, const float *z, float *out) {
    if (!t || !t->buf || count < 0 || (count > 0 && (!z || !out)))
        return TCONV_ERROR_INVALID_ARGUMENT;
    dcgan_buffers *b = t->buf;
    const int64_t B = t->batch;
    t->g.bn[0].training = t->g.bn[1].training = 0;
    tconv_status s = TCONV_OK;
    for (int64_t at = 0; at < count && !s; at += B) {
        const int64_t n = count - at < B ? count - at : B;
        memset(b->zpad, 0, (size_t)(B * DCGAN_Z) * sizeof(float));
        memcpy(b->zpad, z + at * DCGAN_Z, (size_t)(n * DCGAN_Z) * sizeof(float));
        s = g_forward(t, b->zpad);
        if (!s) memcpy(out + at * DCGAN_PIXELS, b->fake, (size_t)(n * DCGAN_PIXELS) * sizeof(float));
    }
    t->g.bn[0].training = t->g.bn[1].training = 1;
    return s;
}

/* ---- state dicts ---------------------------------------------------------------- */

/* "<prefix>net.<i>" into buf */
static const char *name(char *buf, size_t len, const char *prefix, int i) {
    snprintf(buf, len, "%snet.%d", prefix ? prefix : "", i);
    return buf;
}

tconv_status dcgan_generator_save(const dcgan *t, tconv_safetensors_writer *w, const char *prefix) {
    char n[256];
    for (int l = 0; l < 3; l++) {
        TRY(tconv_conv_transpose2d_module_save(&t->g.ct[l], w, name(n, sizeof n, prefix, 3 * l)));
        if (l < 2) TRY(tconv_batchnorm2d_save(&t->g.bn[l], w, name(n, sizeof n, prefix, 3 * l + 1)));
    }
    return TCONV_OK;
}

tconv_status dcgan_discriminator_save(const dcgan *t, tconv_safetensors_writer *w,
                                      const char *prefix) {
    static const int idx[3] = {0, 2, 5};
    char n[256];
    for (int l = 0; l < 3; l++) {
        TRY(tconv_conv2d_module_save(&t->d.conv[l], w, name(n, sizeof n, prefix, idx[l])));
        if (l == 1) TRY(tconv_batchnorm2d_save(&t->d.bn, w, name(n, sizeof n, prefix, 3)));
    }
    return TCONV_OK;
}

tconv_status dcgan_load(dcgan *t, const tconv_safetensors *st, const char *g_prefix,
                        const char *d_prefix) {
    static const int didx[3] = {0, 2, 5};
    char n[256];
    for (int l = 0; l < 3; l++) {
        TRY(tconv_conv_transpose2d_module_load(&t->g.ct[l], st, name(n, sizeof n, g_prefix, 3 * l)));
        if (l < 2) TRY(tconv_batchnorm2d_load(&t->g.bn[l], st, name(n, sizeof n, g_prefix, 3 * l + 1)));
        TRY(tconv_conv2d_module_load(&t->d.conv[l], st, name(n, sizeof n, d_prefix, didx[l])));
    }
    return tconv_batchnorm2d_load(&t->d.bn, st, name(n, sizeof n, d_prefix, 3));
}

/* The parameters' state_dict names and shapes, in the optimizers' order. */
static const char *const k_gnames[DCGAN_G_PARAMS] = {"net.0.weight", "net.1.weight", "net.1.bias",
                                                     "net.3.weight", "net.4.weight", "net.4.bias",
                                                     "net.6.weight"};
static const char *const k_dnames[DCGAN_D_PARAMS] = {"net.0.weight", "net.2.weight",
                                                     "net.3.weight", "net.3.bias", "net.5.weight"};
static const int64_t k_gshapes[DCGAN_G_PARAMS][4] = {
    {DCGAN_Z, 128, 4, 4}, {128}, {128}, {128, 64, 4, 4}, {64}, {64}, {64, 1, 4, 4}};
static const int64_t k_dshapes[DCGAN_D_PARAMS][4] = {
    {64, 1, 4, 4}, {128, 64, 4, 4}, {128}, {128}, {1, 128, 4, 4}};
static const char *const k_states[3] = {"step", "exp_avg", "exp_avg_sq"};

/* Calls f for each (network, parameter, state) with the entry's name,
 * rank and shape; stops at the first failure. */
typedef tconv_status (*state_fn)(void *ctx, tconv_optimizer *opt, int index, const char *state,
                                 const char *name, int ndim, const int64_t *shape);
static tconv_status each_state(const dcgan *t, const char *prefix, state_fn f, void *ctx) {
    for (int net = 0; net < 2; net++) {
        const int count = net ? DCGAN_D_PARAMS : DCGAN_G_PARAMS;
        for (int i = 0; i < count; i++)
            for (int k = 0; k < 3; k++) {
                const int64_t *shape = (net ? k_dshapes : k_gshapes)[i];
                char n[256];
                snprintf(n, sizeof n, "%s%s.%s.%s", prefix ? prefix : "", net ? "d" : "g",
                         (net ? k_dnames : k_gnames)[i], k_states[k]);
                TRY(f(ctx, net ? t->opt_d : t->opt_g, i, k_states[k], n,
                      k == 0 ? 0 : shape[1] ? 4 : 1, shape));
            }
    }
    return TCONV_OK;
}

static tconv_status save_one(void *w, tconv_optimizer *opt, int index, const char *state,
                             const char *name, int ndim, const int64_t *shape) {
    float *data;
    int64_t numel;
    if (tconv_optimizer_state(opt, index, state, &data, &numel) != TCONV_OK)
        return TCONV_OK; /* no state yet (before the first step) */
    return tconv_safetensors_writer_add(w, name, TCONV_DTYPE_F32, ndim, shape, data);
}

tconv_status dcgan_optimizer_save(const dcgan *t, tconv_safetensors_writer *w, const char *prefix) {
    return each_state(t, prefix, save_one, w);
}

typedef struct load_ctx {
    const tconv_safetensors *st;
    int found, missing;
    char first_missing[256];
    char *why;
    size_t why_len;
} load_ctx;

/* counts the entries present (first pass) */
static tconv_status count_one(void *c_, tconv_optimizer *opt, int index, const char *state,
                              const char *name, int ndim, const int64_t *shape) {
    load_ctx *c = c_;
    (void)opt, (void)index, (void)state, (void)ndim, (void)shape;
    if (tconv_safetensors_find(c->st, name, NULL) == TCONV_OK) c->found++;
    else if (!c->missing++) snprintf(c->first_missing, sizeof c->first_missing, "%s", name);
    return TCONV_OK;
}

static tconv_status load_one(void *c_, tconv_optimizer *opt, int index, const char *state,
                             const char *name, int ndim, const int64_t *shape) {
    load_ctx *c = c_;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    float *buf = malloc((size_t)numel * sizeof(float));
    if (!buf) return TCONV_ERROR_OUT_OF_MEMORY;
    tconv_status s = tconv_safetensors_read_f32(c->st, name, ndim, shape, buf, numel);
    if (!s) s = tconv_optimizer_load_state(opt, index, state, buf, numel);
    free(buf);
    if (s) snprintf(c->why, c->why_len, "%s", tconv_last_error());
    return s;
}

tconv_status dcgan_optimizer_load(dcgan *t, const tconv_safetensors *st, const char *prefix,
                                  int *loaded, char *why, size_t why_len) {
    load_ctx c = {st, 0, 0, "", why, why_len};
    *loaded = 0;
    why[0] = '\0';
    TRY(each_state(t, prefix, count_one, &c));
    if (c.found == 0) return TCONV_OK;
    if (c.missing) {
        snprintf(why, why_len, "the optimizer state has %d entries but lacks %s%s", c.found,
                 c.first_missing, c.missing > 1 ? " and more" : "");
        return TCONV_ERROR_NOT_FOUND;
    }
    TRY(each_state(t, prefix, load_one, &c));
    *loaded = 1;
    return TCONV_OK;
}

/* ---- data ------------------------------------------------------------------------ */

/* PyTorch's source index and weights along one dimension (align_corners=False). */
static void axis(int64_t in, int64_t out, int64_t dst, int64_t *i0, int64_t *i1, float *w0,
                 float *w1) {
    const float scale = (float)in / (float)out;
    float src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int64_t i = (int64_t)src; /* floor: src >= 0 */
    if (i > in - 1) i = in - 1;
    float l = src - (float)i;
    l = l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
    *i0 = i;
    *i1 = i + (i < in - 1 ? 1 : 0);
    *w1 = l;
    *w0 = 1.0f - l;
}

void dcgan_bilinear(const float *in, int64_t planes, int64_t ih, int64_t iw, float *out,
                    int64_t oh, int64_t ow) {
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ih * iw;
        float *y = out + p * oh * ow;
        for (int64_t r = 0; r < oh; r++) {
            int64_t h0, h1;
            float hw0, hw1;
            axis(ih, oh, r, &h0, &h1, &hw0, &hw1);
            for (int64_t c = 0; c < ow; c++) {
                int64_t c0, c1;
                float cw0, cw1;
                axis(iw, ow, c, &c0, &c1, &cw0, &cw1);
                const float top = x[h0 * iw + c0] * cw0 + x[h0 * iw + c1] * cw1;
                const float bottom = x[h1 * iw + c0] * cw0 + x[h1 * iw + c1] * cw1;
                y[r * ow + c] = top * hw0 + bottom * hw1;
            }
        }
    }
}

tconv_status dcgan_load_digits(const char *path, float **images, int64_t *count, char *why,
                               size_t why_len) {
    *images = NULL;
    *count = 0;
    why[0] = '\0';
    tconv_safetensors *st = NULL;
    tconv_status s = tconv_safetensors_open(path, &st);
    tconv_tensor_info info;
    if (!s) s = tconv_safetensors_find(st, "images", &info);
    if (s) {
        snprintf(why, why_len, "%s", tconv_last_error());
        tconv_safetensors_close(st);
        return s;
    }
    if (info.dtype != TCONV_DTYPE_U8 || info.ndim != 3 || info.shape[0] < 1 ||
        info.shape[1] != 8 || info.shape[2] != 8) {
        char b[96] = "";
        for (int i = 0, k = 0; i < info.ndim && i < 4; i++)
            k += snprintf(b + k, sizeof b - (size_t)k, "%s%lld", i ? ", " : "",
                          (long long)info.shape[i]);
        snprintf(why, why_len,
                 "%s: tensor 'images' is %s of shape (%s%s), expected U8 of shape (N, 8, 8) "
                 "with N >= 1",
                 path, tconv_dtype_name(info.dtype), b, info.ndim > 4 ? ", ..." : "");
        tconv_safetensors_close(st);
        return TCONV_ERROR_FORMAT;
    }
    /* the file holds n*64 bytes, so these sizes are bounded by it */
    const int64_t n = info.shape[0];
    unsigned char *u8 = malloc((size_t)(n * 64));
    float *x8 = malloc((size_t)(n * 64) * sizeof(float));
    float *x16 = malloc((size_t)(n * DCGAN_PIXELS) * sizeof(float));
    if (!u8 || !x8 || !x16) {
        s = TCONV_ERROR_OUT_OF_MEMORY;
        snprintf(why, why_len, "out of memory for %lld images", (long long)n);
    }
    if (!s && (s = tconv_safetensors_read(st, "images", TCONV_DTYPE_U8, 3, info.shape, u8,
                                          (size_t)(n * 64))))
        snprintf(why, why_len, "%s", tconv_last_error());
    for (int64_t i = 0; !s && i < n * 64; i++) {
        if (u8[i] > 16) {
            snprintf(why, why_len, "%s: image %lld has grey level %d, expected 0..16", path,
                     (long long)(i / 64), u8[i]);
            s = TCONV_ERROR_FORMAT;
        }
        x8[i] = (float)u8[i] / 16.0f;
    }
    if (!s) {
        dcgan_bilinear(x8, n, 8, 8, x16, DCGAN_SIDE, DCGAN_SIDE);
        for (int64_t i = 0; i < n * DCGAN_PIXELS; i++) {
            const float v = x16[i] * 2.0f - 1.0f;
            x16[i] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
        }
        *images = x16;
        *count = n;
        x16 = NULL;
    }
    free(u8);
    free(x8);
    free(x16);
    tconv_safetensors_close(st);
    return s;
}

void dcgan_permutation(tconv_rng *rng, int64_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* uniform in [0, i]: the high half of a 64x64-bit product (the bias
         * is below 2^-40 for these sizes) */
#if defined(__SIZEOF_INT128__)
        const int64_t j =
            (int64_t)(((unsigned __int128)tconv_rng_next_u64(rng) * (uint64_t)(i + 1)) >> 64);
#else
        const int64_t j = (int64_t)(tconv_rng_next_u64(rng) % (uint64_t)(i + 1));
#endif
        const int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}
