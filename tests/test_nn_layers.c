/* test_nn_layers.c -- the nn layers' known answers, without Python (the
 * PyTorch comparisons over random inputs are in tests/python/test_nn_layers.py).
 * Outputs are poisoned with NaN first so an unwritten element fails. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <tconv.h>

#include "check.h"

static void poison(float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = NAN;
}

static void test_rng(void) {
    /* SplitMix64's published first outputs for seed 0. */
    tconv_rng r;
    tconv_rng_init(&r, 0);
    CHECK(tconv_rng_next_u64(&r) == 0xE220A8397B1DCDAFull);
    CHECK(tconv_rng_next_u64(&r) == 0x6E789E6AA1B965F4ull);
    CHECK(tconv_rng_next_u64(&r) == 0x06C45D188009454Full);
    double u = tconv_rng_uniform(&r);
    CHECK(u >= 0.0 && u < 1.0);
}

static void test_linear(void) {
    tconv_linear m;
    CHECK(tconv_linear_init(&m, 3, 2, 1, NULL) == TCONV_OK);
    const float w[6] = {1, 2, 3, -1, 0.5f, 0}, b[2] = {0.25f, -1};
    memcpy(m.weight, w, sizeof w);
    memcpy(m.bias, b, sizeof b);
    const float x[6] = {1, 0, -1, 2, 2, 2}; /* (2, 3) */
    float y[4];
    int64_t ys[2];
    poison(y, 4);
    CHECK(tconv_linear_forward(&m, 2, (const int64_t[]){2, 3}, x, y, 4, ys) == TCONV_OK);
    /* row 0: 1-3+0.25, -1+0+(-1); row 1: 2+4+6+0.25, -2+1+0-1 */
    CHECK(y[0] == -1.75f && y[1] == -2.0f && y[2] == 12.25f && y[3] == -2.0f);
    CHECK(ys[0] == 2 && ys[1] == 2);
    CHECK(tconv_linear_forward(&m, 2, (const int64_t[]){2, 4}, x, y, 4, ys) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strcmp(tconv_last_error(), "mat1 and mat2 shapes cannot be multiplied (2x4 and 3x2)") == 0);
    tconv_linear_free(&m);
    tconv_linear_free(&m); /* twice is fine */
}

static void test_batchnorm(void) {
    tconv_batchnorm2d m;
    CHECK(tconv_batchnorm2d_init(&m, 1) == TCONV_OK);
    CHECK(m.training == 1 && m.running_var[0] == 1.0f && m.running_mean[0] == 0.0f);
    const float x[4] = {1, 2, 3, 6}; /* (2, 1, 2, 1): mean 3, biased var 3.5, unbiased 14/3 */
    float y[4];
    poison(y, 4);
    CHECK(tconv_batchnorm2d_forward(&m, 4, (const int64_t[]){2, 1, 2, 1}, x, y) == TCONV_OK);
    double inv = 1.0 / sqrt(3.5 + 1e-5);
    for (int i = 0; i < 4; i++) CHECK(fabs(y[i] - (x[i] - 3.0) * inv) < 1e-6);
    CHECK(fabsf(m.running_mean[0] - 0.3f) < 1e-7f);
    CHECK(fabs(m.running_var[0] - (0.9 + 0.1 * 14.0 / 3.0)) < 1e-6);
    CHECK(m.num_batches_tracked == 1);
    m.training = 0; /* eval: running stats */
    poison(y, 4);
    CHECK(tconv_batchnorm2d_forward(&m, 4, (const int64_t[]){1, 1, 2, 2}, x, y) == TCONV_OK);
    double inv2 = 1.0 / sqrt(m.running_var[0] + 1e-5);
    for (int i = 0; i < 4; i++) CHECK(fabs(y[i] - (x[i] - m.running_mean[0]) * inv2) < 1e-6);
    CHECK(m.num_batches_tracked == 1);
    m.training = 1;
    CHECK(tconv_batchnorm2d_forward(&m, 4, (const int64_t[]){1, 1, 1, 1}, x, y) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strstr(tconv_last_error(), "Expected more than 1 value per channel when training"));
    CHECK(tconv_batchnorm2d_forward(&m, 3, (const int64_t[]){1, 2, 2}, x, y) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strcmp(tconv_last_error(), "expected 4D input (got 3D input)") == 0);
    tconv_batchnorm2d_free(&m);
}

static void test_maxpool(void) {
    float x[25], y[9];
    for (int i = 0; i < 25; i++) x[i] = (float)((i * 7) % 25); /* 5x5, a permutation of 0..24 */
    tconv_maxpool2d_params p;
    tconv_maxpool2d_params_init(&p, 2, 2);
    CHECK(p.stride[0] == 2 && p.dilation[1] == 1 && p.padding[0] == 0 && !p.ceil_mode);
    int64_t os[3];
    poison(y, 9);
    CHECK(tconv_maxpool2d(&p, 3, (const int64_t[]){1, 5, 5}, x, y, 9, os) == TCONV_OK);
    CHECK(os[0] == 1 && os[1] == 2 && os[2] == 2 && isnan(y[4])); /* floor: 2x2, nothing more written */
    p.ceil_mode = 1; /* ceil: 3x3, the last row/column windows hold one input each */
    CHECK(tconv_maxpool2d(&p, 3, (const int64_t[]){1, 5, 5}, x, y, 9, os) == TCONV_OK);
    CHECK(os[1] == 3 && os[2] == 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            float best = -INFINITY;
            for (int a = 2 * i; a < 2 * i + 2 && a < 5; a++)
                for (int b = 2 * j; b < 2 * j + 2 && b < 5; b++) best = fmaxf(best, x[a * 5 + b]);
            CHECK(y[i * 3 + j] == best);
        }
    /* ceil mode drops a window that would start in the right padding:
     * in 4, k 2, s 2, pad 1 -> (4+2-2+1)/2+1 = 3, and (3-1)*2 = 4 < 4+1 keeps it. */
    p.padding[0] = p.padding[1] = 1;
    CHECK(tconv_maxpool2d_output_shape(&p, 4, (const int64_t[]){2, 3, 4, 4}, (int64_t[4]){0}) == TCONV_OK);
    p.padding[0] = 2;
    CHECK(tconv_maxpool2d_output_shape(&p, 4, (const int64_t[]){2, 3, 4, 4}, (int64_t[4]){0}) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strcmp(tconv_last_error(), "pad should be at most half of kernel size, but got pad=2 and kernel_size=2") == 0);
}

static void test_cat_view_activations(void) {
    const float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}; /* (1, 2, 2) and (1, 1, 2) */
    const float *xs[2] = {a, b};
    const int64_t *shapes[2] = {(const int64_t[]){1, 2, 2}, (const int64_t[]){1, 1, 2}};
    float y[6];
    int64_t ys[3];
    poison(y, 6);
    CHECK(tconv_cat(2, xs, shapes, 3, 1, y, 6, ys) == TCONV_OK);
    CHECK(ys[1] == 3 && y[0] == 1 && y[3] == 4 && y[4] == 5 && y[5] == 6);
    CHECK(tconv_cat(2, xs, shapes, 3, -1, y, 6, ys) == TCONV_ERROR_INVALID_ARGUMENT &&
          strstr(tconv_last_error(), "Sizes of tensors must match except in dimension 2. Expected size 2 but got size 1 for tensor number 1"));
    int64_t out[4];
    CHECK(tconv_view_shape(2, (const int64_t[]){2, 8192}, 4, (const int64_t[]){-1, 512, 4, 4}, out) == TCONV_OK &&
          out[0] == 2 && out[3] == 4);
    CHECK(tconv_view_shape(2, (const int64_t[]){2, 3}, 2, (const int64_t[]){4, -1}, out) ==
              TCONV_ERROR_INVALID_ARGUMENT &&
          strcmp(tconv_last_error(), "shape '[4, -1]' is invalid for input of size 6") == 0);
    float v[4] = {-2.0f, 0.0f, 3.0f, NAN}, r[4];
    CHECK(tconv_relu(v, r, 4) == TCONV_OK && r[0] == 0 && r[2] == 3 && isnan(r[3]));
    CHECK(tconv_leaky_relu(v, r, 4, 0.2f) == TCONV_OK && r[0] == -2.0f * 0.2f && r[2] == 3);
    CHECK(tconv_sigmoid(v, r, 3) == TCONV_OK && r[1] == 0.5f);
    CHECK(tconv_tanh(v, v, 3) == TCONV_OK && v[1] == 0.0f && fabsf(v[2] - 0.99505475f) < 1e-7f);
}

int main(void) {
    test_rng();
    test_linear();
    test_batchnorm();
    test_maxpool();
    test_cat_view_activations();
    return tc_test_summary("test_nn_layers");
}
