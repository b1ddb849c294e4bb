/* nn_seed_timing.c -- per-layer times of the seed networks (not a test:
 * ctest does not run it; no timings are asserted anywhere).
 *
 * For every layer of the seed networks (DCGAN generators of seeds 000 and
 * 003, the U-Net decoder of seed 000, the U-Net block of seed 004, and a
 * U-Net encoder level: Conv2d + ReLU + MaxPool2d) it prints the median time
 * of the layer's forward and, for the layers around a convolution, their
 * cost as a fraction of that convolution.  Convolutions are timed twice:
 * through the module (tconv_*_module_forward) and as a bare tconv_op_run
 * on an operator created and reshaped beforehand.
 *
 * Only API that older versions of the library also have is used, so the
 * same program measures before and after a change:
 *   gcc -O2 -std=gnu11 -Iinclude tests/perf/nn_seed_timing.c build/libtconv.a -lm -lpthread \
 *       -o /tmp/nn_seed_timing && /tmp/nn_seed_timing [reps]
 * With -DWITH_BACKWARD it also times each layer's backward (current API).
 */
#include <tconv.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(call)                                                                            \
    do {                                                                                    \
        if ((call) != TCONV_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, tconv_last_error()); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmpd(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int REPS = 31;

/* median over REPS samples of fn(ctx), each sample as many calls as make
 * ~0.5 ms (at least 1), in microseconds per call */
#define TIME(result, body)                                                    \
    do {                                                                      \
        double s_[101];                                                       \
        int inner_ = 1;                                                       \
        {                                                                     \
            double t0_ = now();                                               \
            body;                                                             \
            double d_ = now() - t0_;                                          \
            inner_ = d_ > 5e-4 ? 1 : (int)(5e-4 / (d_ > 1e-7 ? d_ : 1e-7)) + 1; \
        }                                                                     \
        for (int r_ = 0; r_ < REPS; r_++) {                                   \
            double t0_ = now();                                               \
            for (int i_ = 0; i_ < inner_; i_++) body;                         \
            s_[r_] = (now() - t0_) / inner_;                                  \
        }                                                                     \
        qsort(s_, (size_t)REPS, sizeof(double), cmpd);                        \
        result = 1e6 * s_[REPS / 2];                                          \
    } while (0)

static float *alloc_rand(int64_t n, unsigned seed) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    srand(seed);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX * 2 - 1;
    return p;
}

static int64_t numel(const int64_t *s, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++) r *= s[i];
    return r;
}

static void row(const char *net, const char *layer, double us, double conv_us) {
    if (conv_us > 0)
        printf("  %-10s %-34s %9.1f us  %5.1f%% of its conv\n", net, layer, us, 100 * us / conv_us);
    else
        printf("  %-10s %-34s %9.1f us\n", net, layer, us);
}

/* Module forward and bare op run of one convolution, sampled alternately
 * (A, B, A, B, ...) so that the machine's drift affects both alike. */
typedef struct pair_ctx {
    int transposed;
    const void *m;
    tconv_op *op;
    const int64_t *in;
    const float *x;
    float *y;
    int64_t cap;
    void *ws;
} pair_ctx;

static void run_module(const pair_ctx *c) {
    if (c->transposed)
        CK(tconv_conv_transpose2d_module_forward(c->m, 4, c->in, c->x, NULL, 0, c->y, c->cap, NULL));
    else
        CK(tconv_conv2d_module_forward(c->m, 4, c->in, c->x, c->y, c->cap, NULL));
}

static void time_pair(const pair_ctx *c, double *tm, double *top) {
    double a[101], b[101];
    int inner = 1;
    double t0 = now();
    CK(tconv_op_run(c->op, c->x, c->y, c->ws));
    const double d = now() - t0;
    inner = d > 5e-4 ? 1 : (int)(5e-4 / (d > 1e-7 ? d : 1e-7)) + 1;
    for (int r = 0; r < REPS; r++) {
        t0 = now();
        for (int i = 0; i < inner; i++) run_module(c);
        a[r] = (now() - t0) / inner;
        t0 = now();
        for (int i = 0; i < inner; i++) CK(tconv_op_run(c->op, c->x, c->y, c->ws));
        b[r] = (now() - t0) / inner;
    }
    qsort(a, (size_t)REPS, sizeof(double), cmpd);
    qsort(b, (size_t)REPS, sizeof(double), cmpd);
    *tm = 1e6 * a[REPS / 2];
    *top = 1e6 * b[REPS / 2];
}

static void report_pair(const char *net, const char *name, double tm, double top) {
    char b[96];
    snprintf(b, sizeof b, "%s (module)", name);
    row(net, b, tm, 0);
    snprintf(b, sizeof b, "%s (bare op run: module %+.1f%%)", name, 100 * (tm - top) / top);
    row(net, b, top, 0);
}

/* A ConvTranspose2d layer: module forward and bare op run, both timed. */
static double time_ct(const char *net, const char *name, const tconv_conv_transpose2d_params *p,
                      int bias, const int64_t in[4], const float *x, float *y, int64_t cap) {
    tconv_conv_transpose2d_module m;
    tconv_rng g;
    tconv_rng_init(&g, 1);
    CK(tconv_conv_transpose2d_module_init(&m, p, bias, &g));
    int64_t os[4];
    CK(tconv_conv_transpose2d_module_forward(&m, 4, in, x, NULL, 0, y, cap, os));
    tconv_op *op;
    CK(tconv_conv_transpose2d_create(p, m.weight, m.bias, NULL, &op));
    size_t wsb;
    CK(tconv_op_reshape(op, 4, in, NULL, 0, os, &wsb));
    pair_ctx c = {1, &m, op, in, x, y, cap, wsb ? malloc(wsb) : NULL};
    double tm, top;
    time_pair(&c, &tm, &top);
    free(c.ws);
    tconv_op_destroy(op);
    report_pair(net, name, tm, top);
    /* leave the module's output in y for the next layer */
    CK(tconv_conv_transpose2d_module_forward(&m, 4, in, x, NULL, 0, y, cap, os));
    tconv_conv_transpose2d_module_free(&m);
    return top;
}

static double time_cv(const char *net, const char *name, const tconv_conv2d_params *p,
                      const int64_t in[4], const float *x, float *y, int64_t cap) {
    tconv_conv2d_module m;
    tconv_rng g;
    tconv_rng_init(&g, 2);
    CK(tconv_conv2d_module_init(&m, p, 1, &g));
    int64_t os[4];
    CK(tconv_conv2d_module_forward(&m, 4, in, x, y, cap, os));
    tconv_op *op;
    CK(tconv_conv2d_create(p, m.weight, m.bias, NULL, &op));
    size_t wsb;
    CK(tconv_op_reshape(op, 4, in, NULL, 0, os, &wsb));
    pair_ctx c = {0, &m, op, in, x, y, cap, wsb ? malloc(wsb) : NULL};
    double tm, top;
    time_pair(&c, &tm, &top);
    free(c.ws);
    tconv_op_destroy(op);
    report_pair(net, name, tm, top);
    CK(tconv_conv2d_module_forward(&m, 4, in, x, y, cap, os));
    tconv_conv2d_module_free(&m);
    return top;
}

/* BatchNorm2d (training mode, as the seeds' fresh modules) + ReLU after a conv */
static void time_bn_relu(const char *net, const int64_t s[4], float *x, float *tmp, double conv) {
    tconv_batchnorm2d bn;
    CK(tconv_batchnorm2d_init(&bn, s[1]));
    double t;
    TIME(t, CK(tconv_batchnorm2d_forward(&bn, 4, s, x, tmp)));
    char b[64];
    snprintf(b, sizeof b, "BatchNorm2d(%lld) train", (long long)s[1]);
    row(net, b, t, conv);
    bn.training = 0;
    TIME(t, CK(tconv_batchnorm2d_forward(&bn, 4, s, x, tmp)));
    snprintf(b, sizeof b, "BatchNorm2d(%lld) eval", (long long)s[1]);
    row(net, b, t, conv);
    TIME(t, CK(tconv_relu(x, tmp, numel(s, 4))));
    row(net, "ReLU", t, conv);
    tconv_batchnorm2d_free(&bn);
}

static void dcgan000(void) {
    const char *net = "dcgan000";
    const int64_t cap = (int64_t)1 << 17;
    float *z = alloc_rand(100, 1), *x = alloc_rand(cap, 2), *y = alloc_rand(cap, 3),
          *tmp = alloc_rand(cap, 4);
    tconv_linear fc;
    tconv_rng g;
    tconv_rng_init(&g, 3);
    CK(tconv_linear_init(&fc, 100, 8192, 1, &g));
    double t;
    TIME(t, CK(tconv_linear_forward(&fc, 2, (const int64_t[]){1, 100}, z, x, cap, NULL)));
    row(net, "Linear(100, 8192)", t, 0);
    tconv_linear_free(&fc);
    const int64_t ch[5] = {512, 256, 128, 64, 3};
    int64_t s[4] = {1, 512, 4, 4};
    for (int i = 0; i < 4; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, ch[i], ch[i + 1], 4, 4);
        p.stride[0] = p.stride[1] = 2;
        p.padding[0] = p.padding[1] = 1;
        char name[64];
        snprintf(name, sizeof name, "ConvT(%lld,%lld,4,2,1) %lldx%lld", (long long)ch[i],
                 (long long)ch[i + 1], (long long)s[2], (long long)s[3]);
        const double c = time_ct(net, name, &p, 1, s, x, y, cap);
        s[1] = ch[i + 1], s[2] *= 2, s[3] *= 2;
        if (i < 3) {
            time_bn_relu(net, s, y, tmp, c);
        } else {
            TIME(t, CK(tconv_tanh(y, tmp, numel(s, 4))));
            row(net, "Tanh", t, c);
        }
        float *sw = x;
        x = y, y = sw;
    }
    free(z), free(x), free(y), free(tmp);
}

static void dcgan003(void) {
    const char *net = "dcgan003";
    const int64_t cap = (int64_t)1 << 17;
    float *x = alloc_rand(cap, 5), *y = alloc_rand(cap, 6), *tmp = alloc_rand(cap, 7);
    const int64_t L[3][5] = {{100, 128, 4, 1, 0}, {128, 64, 4, 2, 1}, {64, 3, 4, 2, 1}};
    int64_t s[4] = {16, 100, 1, 1};
    for (int i = 0; i < 3; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, L[i][0], L[i][1], L[i][2], L[i][2]);
        p.stride[0] = p.stride[1] = L[i][3];
        p.padding[0] = p.padding[1] = L[i][4];
        char name[64];
        snprintf(name, sizeof name, "ConvT(%lld,%lld,4,%lld,%lld) b16", (long long)L[i][0],
                 (long long)L[i][1], (long long)L[i][3], (long long)L[i][4]);
        const double c = time_ct(net, name, &p, 0, s, x, y, cap);
        int64_t os[4];
        CK(tconv_conv_transpose2d_output_shape(&p, 4, s, NULL, 0, os));
        memcpy(s, os, sizeof s);
        if (i < 2) {
            time_bn_relu(net, s, y, tmp, c);
        } else {
            double t;
            TIME(t, CK(tconv_tanh(y, tmp, numel(s, 4))));
            row(net, "Tanh", t, c);
        }
        float *sw = x;
        x = y, y = sw;
    }
    free(x), free(y), free(tmp);
}

static void unet(void) {
    const int64_t cap = 64 * 64 * 64 * 4;
    float *x = alloc_rand(cap, 8), *y = alloc_rand(cap, 9), *tmp = alloc_rand(cap, 10);
    double t;
    /* seed 000's decoder: (ConvT k2 s2, Conv2d 3x3 p1, ReLU) x 2 from 1x256x8x8 */
    const char *net = "unet000";
    const int64_t ch[3] = {256, 128, 64};
    int64_t s[4] = {1, 256, 8, 8};
    for (int i = 0; i < 2; i++) {
        tconv_conv_transpose2d_params pu;
        tconv_conv_transpose2d_params_init(&pu, ch[i], ch[i + 1], 2, 2);
        pu.stride[0] = pu.stride[1] = 2;
        char name[64];
        snprintf(name, sizeof name, "ConvT(%lld,%lld,2,2) %lldx%lld", (long long)ch[i],
                 (long long)ch[i + 1], (long long)s[2], (long long)s[3]);
        time_ct(net, name, &pu, 1, s, x, y, cap);
        s[1] = ch[i + 1], s[2] *= 2, s[3] *= 2;
        tconv_conv2d_params pc;
        tconv_conv2d_params_init(&pc, ch[i + 1], ch[i + 1], 3, 3);
        pc.padding[0] = pc.padding[1] = 1;
        snprintf(name, sizeof name, "Conv2d(%lld,%lld,3,p1) %lldx%lld", (long long)ch[i + 1],
                 (long long)ch[i + 1], (long long)s[2], (long long)s[3]);
        const double c = time_cv(net, name, &pc, s, y, x, cap);
        TIME(t, CK(tconv_relu(x, tmp, numel(s, 4))));
        row(net, "ReLU", t, c);
    }
    /* seed 004's block: conv 128->64, ReLU, conv 64->64, ReLU, up 64->32, cat with skip */
    net = "unet004";
    int64_t b[4] = {1, 128, 16, 16};
    tconv_conv2d_params pc;
    tconv_conv2d_params_init(&pc, 128, 64, 3, 3);
    pc.padding[0] = pc.padding[1] = 1;
    double c = time_cv(net, "Conv2d(128,64,3,p1) 16x16", &pc, b, x, y, cap);
    b[1] = 64;
    TIME(t, CK(tconv_relu(y, tmp, numel(b, 4))));
    row(net, "ReLU", t, c);
    tconv_conv2d_params_init(&pc, 64, 64, 3, 3);
    pc.padding[0] = pc.padding[1] = 1;
    c = time_cv(net, "Conv2d(64,64,3,p1) 16x16", &pc, b, y, x, cap);
    TIME(t, CK(tconv_relu(x, tmp, numel(b, 4))));
    row(net, "ReLU", t, c);
    tconv_conv_transpose2d_params pu;
    tconv_conv_transpose2d_params_init(&pu, 64, 32, 2, 2);
    pu.stride[0] = pu.stride[1] = 2;
    c = time_ct(net, "ConvT(64,32,2,2) 16x16", &pu, 1, b, x, y, cap);
    const int64_t up[4] = {1, 32, 32, 32}, skip[4] = {1, 32, 32, 32};
    const float *parts[2] = {y, x};
    const int64_t *shapes[2] = {up, skip};
    TIME(t, CK(tconv_cat(2, parts, shapes, 4, 1, tmp, cap, NULL)));
    row(net, "cat([up, skip], 1)", t, c);
    /* an encoder level: Conv2d(64,64,3,p1) on 64x64, ReLU, MaxPool2d(2) */
    net = "unet-enc";
    int64_t e[4] = {1, 64, 64, 64};
    tconv_conv2d_params_init(&pc, 64, 64, 3, 3);
    pc.padding[0] = pc.padding[1] = 1;
    c = time_cv(net, "Conv2d(64,64,3,p1) 64x64", &pc, e, x, y, cap);
    TIME(t, CK(tconv_relu(y, tmp, numel(e, 4))));
    row(net, "ReLU", t, c);
    tconv_maxpool2d_params mp;
    tconv_maxpool2d_params_init(&mp, 2, 2);
    TIME(t, CK(tconv_maxpool2d(&mp, 4, e, y, tmp, cap, NULL)));
    row(net, "MaxPool2d(2)", t, c);
    free(x), free(y), free(tmp);
}

int main(int argc, char **argv) {
    if (argc > 1) REPS = atoi(argv[1]) > 0 && atoi(argv[1]) <= 101 ? atoi(argv[1]) : REPS;
    printf("tconv %s, %d threads, median of %d samples\n", tconv_version(),
           tconv_get_num_threads(), REPS);
    dcgan000();
    dcgan003();
    unet();
    return 0;
}
