/* test_nn_train.c -- a whole training step in C, every layer's forward and
 * backward chained, and the allocations it makes.
 *
 * The network (a small conditional GAN generator judged by a
 * discriminator; every parameter trained):
 *   z (8,16,1,1) -> ConvT(16,32,4,1,0) -> BN -> ReLU -> ConvT(32,16,4,2,1)
 *     -> BN -> ReLU -> ConvT(16,3,4,2,1) -> Tanh = g (8,3,16,16)
 *   cat([g, cond], 1) -> Conv2d(4,8,4,2,1) -> LeakyReLU(0.2)
 *     -> MaxPool2d(2) (indices) -> view (8,128) -> Linear(128,1) = logit
 *   loss = BCE(sigmoid(logit), 1) + BCEWithLogits(logit, 1)
 *        + MSE(g, target) + L1(g, target)            (means)
 * optimised by Adam.  Checked: the loss falls; a forward + backward of the
 * same shapes allocates nothing after the first (malloc counted through
 * glibc's __libc_* entry points, interposed in this program; skipped under
 * sanitizers, which interpose malloc themselves); and a full step (forward,
 * backward, optimizer step) allocates nothing either: the optimizer's new
 * weights are packed again in place (tconv_op_set_weights). */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sanitizer builds (GCC defines __SANITIZE_*, clang has __has_feature) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(SANITIZED)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static atomic_long n_allocs;
static atomic_int counting;
void *malloc(size_t n) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
static void count_start(void) {
    atomic_store(&n_allocs, 0);
    atomic_store(&counting, 1);
}
static long count_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&n_allocs);
}
#else
static void count_start(void) {}
static long count_stop(void) { return 0; }
#endif

#define OK(call) CHECK_MSG((call) == TCONV_OK, "%s", tconv_last_error())

enum { N = 8 };

typedef struct net {
    tconv_conv_transpose2d_module ct[3];
    tconv_batchnorm2d bn[2];
    tconv_conv2d_module d0;
    tconv_maxpool2d_params pool;
    tconv_linear fc;
    /* activations and their gradients, allocated once */
    float *z, *a0, *b0, *a1, *b1, *a2, *g, *cond, *target, *c, *e, *f, *mp, *logit, *s, *ones;
    int64_t *ind;
    float *d_logit, *t1, *d_mp, *d_f, *d_e, *d_c, *d_g, *t2, *d_a2, *d_b1, *d_a1, *d_b0, *d_a0;
} net;

static const int64_t zs[4] = {N, 16, 1, 1}, a0s[4] = {N, 32, 4, 4}, a1s[4] = {N, 16, 8, 8},
                     gs[4] = {N, 3, 16, 16}, cs[4] = {N, 1, 16, 16}, cat_s[4] = {N, 4, 16, 16},
                     es[4] = {N, 8, 8, 8}, mps[4] = {N, 8, 4, 4}, fcs[2] = {N, 128};

static void build(net *m, tu_rng *r) {
    memset(m, 0, sizeof *m);
    tconv_rng g;
    tconv_rng_init(&g, 7);
    const int64_t ch[4] = {16, 32, 16, 3}, k[3][3] = {{4, 1, 0}, {4, 2, 1}, {4, 2, 1}};
    for (int i = 0; i < 3; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, ch[i], ch[i + 1], k[i][0], k[i][0]);
        p.stride[0] = p.stride[1] = k[i][1];
        p.padding[0] = p.padding[1] = k[i][2];
        OK(tconv_conv_transpose2d_module_init(&m->ct[i], &p, i == 2, &g));
        if (i < 2) OK(tconv_batchnorm2d_init(&m->bn[i], ch[i + 1]));
    }
    tconv_conv2d_params q;
    tconv_conv2d_params_init(&q, 4, 8, 4, 4);
    q.stride[0] = q.stride[1] = 2;
    q.padding[0] = q.padding[1] = 1;
    OK(tconv_conv2d_module_init(&m->d0, &q, 1, &g));
    tconv_maxpool2d_params_init(&m->pool, 2, 2);
    OK(tconv_linear_init(&m->fc, 128, 1, 1, &g));
    float **bufs[] = {&m->z, &m->a0, &m->b0, &m->a1, &m->b1, &m->a2, &m->g, &m->cond,
                      &m->target, &m->c, &m->e, &m->f, &m->mp, &m->logit, &m->s, &m->ones,
                      &m->d_logit, &m->t1, &m->d_mp, &m->d_f, &m->d_e, &m->d_c, &m->d_g,
                      &m->t2, &m->d_a2, &m->d_b1, &m->d_a1, &m->d_b0, &m->d_a0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) *bufs[i] = tu_alloc(N * 4 * 16 * 16);
    m->ind = malloc(sizeof(int64_t) * N * 128);
    tu_fill(r, m->z, tu_numel(zs, 4));
    tu_fill(r, m->cond, tu_numel(cs, 4));
    tu_fill(r, m->target, tu_numel(gs, 4));
    for (int i = 0; i < N; i++) m->ones[i] = 1.0f;
}

static void destroy(net *m) {
    for (int i = 0; i < 3; i++) tconv_conv_transpose2d_module_free(&m->ct[i]);
    for (int i = 0; i < 2; i++) tconv_batchnorm2d_free(&m->bn[i]);
    tconv_conv2d_module_free(&m->d0);
    tconv_linear_free(&m->fc);
    float *bufs[] = {m->z, m->a0, m->b0, m->a1, m->b1, m->a2, m->g, m->cond, m->target, m->c,
                     m->e, m->f, m->mp, m->logit, m->s, m->ones, m->d_logit, m->t1, m->d_mp,
                     m->d_f, m->d_e, m->d_c, m->d_g, m->t2, m->d_a2, m->d_b1, m->d_a1,
                     m->d_b0, m->d_a0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(m->ind);
}

static const int64_t CAP = N * 4 * 16 * 16;

/* the forward; returns the loss */
static double forward(net *m) {
    OK(tconv_conv_transpose2d_module_forward(&m->ct[0], 4, zs, m->z, NULL, 0, m->a0, CAP, NULL));
    OK(tconv_batchnorm2d_forward(&m->bn[0], 4, a0s, m->a0, m->b0));
    OK(tconv_relu(m->b0, m->b0, tu_numel(a0s, 4)));
    OK(tconv_conv_transpose2d_module_forward(&m->ct[1], 4, a0s, m->b0, NULL, 0, m->a1, CAP, NULL));
    OK(tconv_batchnorm2d_forward(&m->bn[1], 4, a1s, m->a1, m->b1));
    OK(tconv_relu(m->b1, m->b1, tu_numel(a1s, 4)));
    OK(tconv_conv_transpose2d_module_forward(&m->ct[2], 4, a1s, m->b1, NULL, 0, m->a2, CAP, NULL));
    OK(tconv_tanh(m->a2, m->g, tu_numel(gs, 4)));
    const float *parts[2] = {m->g, m->cond};
    const int64_t *shapes[2] = {gs, cs};
    OK(tconv_cat(2, parts, shapes, 4, 1, m->c, CAP, NULL));
    OK(tconv_conv2d_module_forward(&m->d0, 4, cat_s, m->c, m->e, CAP, NULL));
    OK(tconv_leaky_relu(m->e, m->f, tu_numel(es, 4), 0.2f));
    OK(tconv_maxpool2d_with_indices(&m->pool, 4, es, m->f, m->mp, m->ind, CAP, NULL));
    int64_t v[2];
    OK(tconv_view_shape(4, mps, 2, (const int64_t[]){N, -1}, v));
    OK(tconv_linear_forward(&m->fc, 2, v, m->mp, m->logit, CAP, NULL));
    OK(tconv_sigmoid(m->logit, m->s, N));
    float l[4];
    OK(tconv_bce_loss(m->s, m->ones, NULL, N, TCONV_REDUCTION_MEAN, &l[0]));
    OK(tconv_bce_with_logits_loss(m->logit, m->ones, NULL, NULL, 0, N, TCONV_REDUCTION_MEAN, &l[1]));
    OK(tconv_mse_loss(m->g, m->target, tu_numel(gs, 4), TCONV_REDUCTION_MEAN, &l[2]));
    OK(tconv_l1_loss(m->g, m->target, tu_numel(gs, 4), TCONV_REDUCTION_MEAN, &l[3]));
    return (double)l[0] + l[1] + l[2] + l[3];
}

static void add(float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] += b[i];
}

static void backward(net *m) {
    const float one = 1.0f;
    const int64_t gn = tu_numel(gs, 4);
    /* the logit's gradient from both BCE terms */
    OK(tconv_bce_loss_backward(m->s, m->ones, NULL, N, TCONV_REDUCTION_MEAN, &one, m->t1));
    OK(tconv_sigmoid_backward(m->s, m->t1, m->t1, N));
    OK(tconv_bce_with_logits_loss_backward(m->logit, m->ones, NULL, NULL, 0, N,
                                           TCONV_REDUCTION_MEAN, &one, m->d_logit));
    add(m->d_logit, m->t1, N);
    OK(tconv_linear_backward(&m->fc, 2, fcs, m->mp, m->d_logit, m->d_mp));
    OK(tconv_maxpool2d_backward(&m->pool, 4, es, m->ind, m->d_mp, m->d_f, CAP));
    OK(tconv_leaky_relu_backward(m->e, m->d_f, m->d_e, tu_numel(es, 4), 0.2f));
    OK(tconv_conv2d_module_backward(&m->d0, 4, cat_s, m->c, m->d_e, m->d_c));
    float *const dparts[2] = {m->d_g, NULL};
    const int64_t *shapes[2] = {gs, cs};
    OK(tconv_cat_backward(2, shapes, 4, 1, m->d_c, dparts));
    OK(tconv_mse_loss_backward(m->g, m->target, gn, TCONV_REDUCTION_MEAN, &one, m->t2));
    add(m->d_g, m->t2, gn);
    OK(tconv_l1_loss_backward(m->g, m->target, gn, TCONV_REDUCTION_MEAN, &one, m->t2));
    add(m->d_g, m->t2, gn);
    OK(tconv_tanh_backward(m->g, m->d_g, m->d_a2, gn));
    OK(tconv_conv_transpose2d_module_backward(&m->ct[2], 4, a1s, m->b1, NULL, 0, m->d_a2, m->d_b1));
    OK(tconv_relu_backward(m->b1, m->d_b1, m->d_b1, tu_numel(a1s, 4)));
    OK(tconv_batchnorm2d_backward(&m->bn[1], 4, a1s, m->a1, m->d_b1, m->d_a1));
    OK(tconv_conv_transpose2d_module_backward(&m->ct[1], 4, a0s, m->b0, NULL, 0, m->d_a1, m->d_b0));
    OK(tconv_relu_backward(m->b0, m->d_b0, m->d_b0, tu_numel(a0s, 4)));
    OK(tconv_batchnorm2d_backward(&m->bn[0], 4, a0s, m->a0, m->d_b0, m->d_a0));
    OK(tconv_conv_transpose2d_module_backward(&m->ct[0], 4, zs, m->z, NULL, 0, m->d_a0, NULL));
}

int main(void) {
    tu_rng r;
    tu_rng_seed(&r, 99);
    net m;
    build(&m, &r);
    /* every parameter, PyTorch's order, into one Adam */
    tconv_param prm[16];
    int np = 0, c;
    for (int i = 0; i < 3; i++) {
        OK(tconv_conv_transpose2d_module_parameters(&m.ct[i], prm + np, 16 - np, &c));
        np += c;
        if (i < 2) {
            OK(tconv_batchnorm2d_parameters(&m.bn[i], prm + np, 16 - np, &c));
            np += c;
        }
    }
    OK(tconv_conv2d_module_parameters(&m.d0, prm + np, 16 - np, &c));
    np += c;
    OK(tconv_linear_parameters(&m.fc, prm + np, 16 - np, &c));
    np += c;
    CHECK(np == 12);
    tconv_optimizer_options o;
    tconv_optimizer_options_init(&o, TCONV_OPTIMIZER_ADAM, 5e-3);
    tconv_optimizer *opt;
    OK(tconv_optimizer_create(TCONV_OPTIMIZER_ADAM, prm, np, &o, &opt));

    /* step 1 (everything is created), then the weights change: the next
     * forward + backward re-packs, the one after must allocate nothing */
    tconv_optimizer_zero_grad(opt);
    const double first = forward(&m);
    backward(&m);
    OK(tconv_optimizer_step(opt));
    tconv_optimizer_zero_grad(opt);
    forward(&m);
    backward(&m);
    count_start();
    forward(&m);
    backward(&m);
    const long fb = count_stop();
    CHECK_MSG(fb == 0, "a forward + backward of the same shapes allocated %ld times", fb);

    /* full steps: after the first, the packed operators of the conv
     * modules and the Linear are re-packed in place from the new weights */
    long per_step[6];
    double loss = first;
    for (int s = 0; s < 6; s++) {
        tconv_optimizer_zero_grad(opt);
        count_start();
        loss = forward(&m);
        backward(&m);
        OK(tconv_optimizer_step(opt));
        per_step[s] = count_stop();
    }
    for (int s = 0; s < 6; s++)
        CHECK_MSG(per_step[s] == 0, "training step %d allocated %ld times", s, per_step[s]);
    for (int s = 0; s < 30; s++) {
        tconv_optimizer_zero_grad(opt);
        loss = forward(&m);
        backward(&m);
        OK(tconv_optimizer_step(opt));
    }
    printf("loss %.4f -> %.4f; allocations: forward+backward %ld, full step %ld%s\n",
           first, loss, fb, per_step[1],
#if defined(COUNT_ALLOCS)
           ""
#else
           " [not counted in this build]"
#endif
    );
    CHECK_MSG(loss < 0.8 * first, "the loss did not fall: %g -> %g", first, loss);
    tconv_optimizer_destroy(opt);
    destroy(&m);
    return tc_test_summary("test_nn_train");
}
