/* tconv_sequential: the seed networks (DCGAN generators: Linear, view,
 * ConvTranspose2d + BatchNorm2d + ReLU, Tanh; a Conv2d stack with
 * LeakyReLU, BatchNorm2d and MaxPool2d) run fused (BatchNorm folded,
 * activations in the convolutions' stores) and unfused, against the same
 * layers called one by one: outputs within 1e-5 (relative to the largest);
 * after changing weights and BatchNorm statistics
 * (tconv_sequential_weights_changed) the new result; a training-mode
 * BatchNorm is not folded (batch statistics) and still agrees; repeated
 * forwards of the same shape give the same bits. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#define OK(x) CHECK_MSG((x) == TCONV_OK, "%s: %s", #x, tconv_last_error())

typedef struct net {
    tconv_linear fc;
    tconv_conv_transpose2d_module ct[3];
    tconv_conv2d_module cv[2];
    tconv_batchnorm2d bn[3];
} net;

static void random_bn(tu_rng *r, tconv_batchnorm2d *b) {
    for (int64_t c = 0; c < b->num_features; c++) {
        b->weight[c] = 1.0f + 0.3f * tu_rng_float(r);
        b->bias[c] = 0.2f * tu_rng_float(r);
        b->running_mean[c] = 0.1f * tu_rng_float(r);
        b->running_var[c] = 1.0f + 0.5f * tu_rng_float(r);
    }
}

/* DCGAN generator: z (N, 16) -> Linear -> view (N, 32, 2, 2) -> ConvT(32, 16) BN ReLU ->
 * ConvT(16, 8) BN ReLU -> ConvT(8, 3) Tanh -> (N, 3, 16, 16) */
static void build_gen(net *m, tu_rng *r, tconv_rng *tr, int training) {
    OK(tconv_linear_init(&m->fc, 16, 32 * 2 * 2, 1, tr));
    const int64_t ch[4] = {32, 16, 8, 3};
    for (int i = 0; i < 3; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, ch[i], ch[i + 1], 4, 4);
        p.stride[0] = p.stride[1] = 2;
        p.padding[0] = p.padding[1] = 1;
        OK(tconv_conv_transpose2d_module_init(&m->ct[i], &p, i != 1, tr));
        if (i < 2) {
            OK(tconv_batchnorm2d_init(&m->bn[i], ch[i + 1]));
            random_bn(r, &m->bn[i]);
            m->bn[i].training = training;
        }
    }
}

static void gen_seq(net *m, tconv_sequential *s) {
    OK(tconv_sequential_add_linear(s, &m->fc));
    OK(tconv_sequential_add_view(s, 4, (const int64_t[]){-1, 32, 2, 2}));
    for (int i = 0; i < 3; i++) {
        OK(tconv_sequential_add_conv_transpose2d(s, &m->ct[i]));
        if (i < 2) {
            OK(tconv_sequential_add_batchnorm2d(s, &m->bn[i]));
            OK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_RELU, 0.0f));
        } else {
            OK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_TANH, 0.0f));
        }
    }
}

/* the same layers one by one; returns a new array */
static float *gen_manual(net *m, const float *z, int64_t n, int64_t out[4]) {
    int64_t zs[2] = {n, 16}, fs[2], shape[4];
    float *x = tu_alloc(n * 128);
    OK(tconv_linear_forward(&m->fc, 2, zs, z, x, n * 128, fs));
    OK(tconv_view_shape(2, fs, 4, (const int64_t[]){-1, 32, 2, 2}, shape));
    for (int i = 0; i < 3; i++) {
        int64_t o[4];
        OK(tconv_conv_transpose2d_output_shape(&m->ct[i].p, 4, shape, NULL, 0, o));
        float *y = tu_alloc(tu_numel(o, 4));
        OK(tconv_conv_transpose2d_module_forward(&m->ct[i], 4, shape, x, NULL, 0, y,
                                                 tu_numel(o, 4), o));
        free(x);
        x = y;
        memcpy(shape, o, sizeof o);
        if (i < 2) {
            OK(tconv_batchnorm2d_forward(&m->bn[i], 4, shape, x, x));
            OK(tconv_relu(x, x, tu_numel(shape, 4)));
        } else {
            OK(tconv_tanh(x, x, tu_numel(shape, 4)));
        }
    }
    memcpy(out, shape, sizeof shape);
    return x;
}

static double rel(const float *a, const float *b, int64_t n) { return tu_max_rel_err(a, b, n); }

static void test_generator(int training) {
    tu_rng r;
    tu_rng_seed(&r, 11 + training);
    tconv_rng tr;
    tconv_rng_init(&tr, 5);
    net m;
    memset(&m, 0, sizeof m);
    build_gen(&m, &r, &tr, training);
    const int64_t n = 3;
    float *z = tu_alloc(n * 16);
    tu_fill(&r, z, n * 16);
    int64_t ref_shape[4];
    /* training-mode BatchNorm updates its running statistics: keep a copy */
    float *rm0[2], *rv0[2];
    for (int i = 0; i < 2; i++) {
        rm0[i] = tu_alloc(m.bn[i].num_features);
        rv0[i] = tu_alloc(m.bn[i].num_features);
        memcpy(rm0[i], m.bn[i].running_mean, (size_t)m.bn[i].num_features * 4);
        memcpy(rv0[i], m.bn[i].running_var, (size_t)m.bn[i].num_features * 4);
    }
    float *ref = gen_manual(&m, z, n, ref_shape);
    const int64_t yn = tu_numel(ref_shape, 4);
    for (int fuse = 1; fuse >= 0; fuse--) {
        for (int i = 0; i < 2; i++) { /* the same statistics for each run */
            memcpy(m.bn[i].running_mean, rm0[i], (size_t)m.bn[i].num_features * 4);
            memcpy(m.bn[i].running_var, rv0[i], (size_t)m.bn[i].num_features * 4);
        }
        tconv_sequential *s = NULL;
        OK(tconv_sequential_create(&s));
        gen_seq(&m, s);
        OK(tconv_sequential_set_fusion(s, fuse));
        float *y = tu_alloc(yn), *y2 = tu_alloc(yn);
        tu_poison(y, yn);
        int ndo = 0;
        int64_t os[TCONV_MAX_DIMS];
        const int64_t zs[2] = {n, 16};
        OK(tconv_sequential_forward(s, 2, zs, z, y, yn, &ndo, os));
        CHECK(ndo == 4 && !memcmp(os, ref_shape, sizeof ref_shape));
        const double e = rel(y, ref, yn);
        CHECK_MSG(e < 1e-5, "generator (training %d, fuse %d): err %g", training, fuse, e);
        if (!training) { /* same shape again: the same bits */
            OK(tconv_sequential_forward(s, 2, zs, z, y2, yn, &ndo, os));
            CHECK(!memcmp(y, y2, (size_t)yn * 4));
        }
        if (!training && fuse) {
            /* change a convolution's weights and a BatchNorm's statistics */
            for (int64_t k = 0; k < 16 * 8 * 16; k++) m.ct[1].weight[k] *= -0.5f;
            tconv_conv_transpose2d_module_weights_changed(&m.ct[1]);
            for (int64_t c = 0; c < 16; c++) m.bn[0].running_var[c] *= 2.0f;
            OK(tconv_sequential_weights_changed(s));
            OK(tconv_sequential_forward(s, 2, zs, z, y, yn, &ndo, os));
            int64_t s2[4];
            float *ref2 = gen_manual(&m, z, n, s2);
            const double e2 = rel(y, ref2, yn);
            CHECK_MSG(e2 < 1e-5, "after weights_changed: err %g", e2);
            CHECK(rel(y, ref, yn) > 1e-3); /* it did change */
            free(ref2);
            for (int64_t k = 0; k < 16 * 8 * 16; k++) m.ct[1].weight[k] *= -2.0f;
            tconv_conv_transpose2d_module_weights_changed(&m.ct[1]);
            for (int64_t c = 0; c < 16; c++) m.bn[0].running_var[c] *= 0.5f;
        }
        free(y);
        free(y2);
        tconv_sequential_destroy(s);
    }
    free(ref);
    free(z);
    for (int i = 0; i < 2; i++) {
        free(rm0[i]);
        free(rv0[i]);
        tconv_batchnorm2d_free(&m.bn[i]);
    }
    tconv_linear_free(&m.fc);
    for (int i = 0; i < 3; i++) tconv_conv_transpose2d_module_free(&m.ct[i]);
}

/* Conv2d(3, 8, 3, p1) BN LeakyReLU(0.2) MaxPool(2) Conv2d(8, 4, 3, s2, p1, bias) Sigmoid */
static void test_conv_stack(void) {
    tu_rng r;
    tu_rng_seed(&r, 21);
    tconv_rng tr;
    tconv_rng_init(&tr, 9);
    net m;
    memset(&m, 0, sizeof m);
    tconv_conv2d_params p0, p1;
    tconv_conv2d_params_init(&p0, 3, 8, 3, 3);
    p0.padding[0] = p0.padding[1] = 1;
    tconv_conv2d_params_init(&p1, 8, 4, 3, 3);
    p1.stride[0] = p1.stride[1] = 2;
    p1.padding[0] = p1.padding[1] = 1;
    OK(tconv_conv2d_module_init(&m.cv[0], &p0, 0, &tr));
    OK(tconv_conv2d_module_init(&m.cv[1], &p1, 1, &tr));
    OK(tconv_batchnorm2d_init(&m.bn[2], 8));
    random_bn(&r, &m.bn[2]);
    m.bn[2].training = 0;
    tconv_maxpool2d_params mp;
    tconv_maxpool2d_params_init(&mp, 2, 2);
    const int64_t in[4] = {2, 3, 12, 10};
    const int64_t xn = tu_numel(in, 4);
    float *x = tu_alloc(xn);
    tu_fill(&r, x, xn);
    /* one by one */
    int64_t s1[4], s2[4], s3[4];
    OK(tconv_conv2d_output_shape(&p0, 4, in, s1));
    float *a = tu_alloc(tu_numel(s1, 4));
    OK(tconv_conv2d_module_forward(&m.cv[0], 4, in, x, a, tu_numel(s1, 4), s1));
    OK(tconv_batchnorm2d_forward(&m.bn[2], 4, s1, a, a));
    OK(tconv_leaky_relu(a, a, tu_numel(s1, 4), 0.2f));
    OK(tconv_maxpool2d_output_shape(&mp, 4, s1, s2));
    float *b = tu_alloc(tu_numel(s2, 4));
    OK(tconv_maxpool2d(&mp, 4, s1, a, b, tu_numel(s2, 4), s2));
    OK(tconv_conv2d_output_shape(&p1, 4, s2, s3));
    const int64_t yn = tu_numel(s3, 4);
    float *ref = tu_alloc(yn);
    OK(tconv_conv2d_module_forward(&m.cv[1], 4, s2, b, ref, yn, s3));
    OK(tconv_sigmoid(ref, ref, yn));
    for (int fuse = 0; fuse < 2; fuse++) {
        tconv_sequential *s = NULL;
        OK(tconv_sequential_create(&s));
        OK(tconv_sequential_add_conv2d(s, &m.cv[0]));
        OK(tconv_sequential_add_batchnorm2d(s, &m.bn[2]));
        OK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_LEAKY_RELU, 0.2f));
        OK(tconv_sequential_add_maxpool2d(s, &mp));
        OK(tconv_sequential_add_conv2d(s, &m.cv[1]));
        OK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_SIGMOID, 0.0f));
        OK(tconv_sequential_set_fusion(s, fuse));
        float *y = tu_alloc(yn);
        tu_poison(y, yn);
        int ndo;
        int64_t os[TCONV_MAX_DIMS];
        OK(tconv_sequential_forward(s, 4, in, x, y, yn, &ndo, os));
        CHECK(ndo == 4 && !memcmp(os, s3, sizeof s3));
        const double e = rel(y, ref, yn);
        CHECK_MSG(e < 1e-5, "conv stack (fuse %d): err %g", fuse, e);
        /* too small an output: refused, nothing written */
        float small[4] = {5, 5, 5, 5};
        CHECK(tconv_sequential_forward(s, 4, in, x, small, 4, &ndo, os) ==
              TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(small[0] == 5 && small[3] == 5);
        free(y);
        tconv_sequential_destroy(s);
    }
    free(x);
    free(a);
    free(b);
    free(ref);
    tconv_conv2d_module_free(&m.cv[0]);
    tconv_conv2d_module_free(&m.cv[1]);
    tconv_batchnorm2d_free(&m.bn[2]);
}

int main(void) {
    test_generator(0);
    test_generator(1);
    test_conv_stack();
    tconv_sequential *s = NULL;
    CHECK(tconv_sequential_create(NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    OK(tconv_sequential_create(&s));
    CHECK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_NONE, 0) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_sequential_add_activation(s, TCONV_ACTIVATION_LEAKY_RELU, NAN) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_sequential_add_linear(s, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_sequential_set_fusion(s, 2) == TCONV_ERROR_INVALID_ARGUMENT);
    tconv_sequential_destroy(s);
    tconv_sequential_destroy(NULL);
    return tc_test_summary("test_nn_sequential");
}
