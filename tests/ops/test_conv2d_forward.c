/* test_conv2d_forward.c -- Conv2d's forward pass on every path and ISA
 * against the reference kernel (the operator tester): the U-Net decoder's
 * and the seeds' convolutions, then random cases of every parameter
 * (explicit / "same" / "valid" padding, padding beyond the kernel's
 * reach, every padding mode, strides 1 to 4 and asymmetric, dilation,
 * groups, unbatched, 1x1 inputs). */
#include "check.h"
#include "op_tester.h"

static const int64_t cases[][12] = {
    /* N Cin H W Cout kh kw sh sw ph pw g */
    {1, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1}, {2, 32, 9, 13, 16, 3, 3, 1, 1, 1, 1, 1},
    {1, 48, 8, 8, 48, 1, 1, 1, 1, 0, 0, 1},   {1, 3, 32, 32, 8, 5, 5, 1, 1, 2, 2, 1},
    {9, 8, 12, 10, 6, 3, 3, 1, 1, 1, 1, 1},   {2, 16, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1},
    {1, 16, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1}, {1, 12, 10, 10, 12, 3, 3, 1, 1, 1, 1, 12},
    /* depthwise (one channel per group): blocks of channels, the last one
     * short, rows of several vectors, strided, a wide kernel */
    {2, 20, 19, 37, 20, 3, 3, 1, 1, 1, 1, 20}, {1, 16, 16, 40, 16, 3, 3, 2, 2, 1, 1, 16},
    {3, 9, 11, 11, 9, 5, 5, 1, 1, 2, 2, 9},    {1, 27, 7, 70, 27, 3, 1, 1, 1, 1, 0, 27},
    /* small outputs, many channels: channels in lanes, strided ones on the
     * phase images, pixel blocks running across images */
    {5, 16, 7, 7, 56, 4, 4, 2, 2, 1, 1, 1},   {3, 12, 5, 5, 50, 4, 4, 1, 1, 0, 0, 1},
    {2, 16, 9, 9, 96, 3, 3, 3, 3, 1, 1, 2},   {4, 9, 6, 5, 49, 3, 3, 2, 2, 1, 1, 1},
    /* a k x k convolution of a k x k input (a discriminator's last layer):
     * one GEMM; with few outputs the dot kernels (a short last block of
     * images and of columns, rows not a whole number of vectors) */
    {3, 12, 4, 4, 50, 4, 4, 1, 1, 0, 0, 1},   {7, 64, 4, 4, 1, 4, 4, 1, 1, 0, 0, 1},
    {5, 7, 3, 3, 6, 3, 3, 1, 1, 0, 0, 1},     {2, 16, 3, 3, 8, 3, 3, 1, 1, 0, 0, 2},
    /* 3x3 stride 1, channels enough: Winograd F(2x2, 3x3) (odd sizes: part
     * tiles; blocks running across images; paddings 0, 1, 2; with a
     * padding mode the phase images instead) */
    {1, 64, 11, 9, 64, 3, 3, 1, 1, 1, 1, 1},  {2, 48, 9, 11, 64, 3, 3, 1, 1, 0, 0, 1},
    {3, 20, 7, 13, 64, 3, 3, 1, 1, 2, 2, 1},  {1, 64, 6, 6, 64, 3, 3, 1, 1, 1, 1, 1},
    {1, 16, 20, 20, 48, 3, 3, 1, 1, 1, 1, 1}, {5, 32, 8, 8, 128, 3, 3, 1, 1, 1, 1, 1},
    /* 30 and 32 output channels: Winograd's GEMMs on the channels-in-lanes
     * tiles where those have more rows than the GEMM's (AVX-512); with a
     * padding mode (replicate), without padding (circular), then zero
     * padding with blocks across images */
    {1, 64, 10, 10, 30, 3, 3, 1, 1, 1, 1, 1}, {1, 40, 12, 7, 32, 3, 3, 1, 1, 0, 0, 1},
    {3, 24, 9, 11, 32, 3, 3, 1, 1, 1, 1, 1},
    /* row stride only (whole rows into the phase images), images of 140K
     * floats run image at a time; stride 2 on planes of 1024 floats and
     * more (made plane by plane), odd sizes */
    {3, 20, 70, 100, 8, 3, 5, 2, 1, 2, 2, 1}, {2, 8, 33, 35, 24, 4, 4, 2, 2, 1, 1, 1},
    /* Winograd on an image whose channels-last transform runs as several
     * tasks (1023 pixels: chunks not a multiple of 8) */
    {1, 64, 33, 31, 64, 3, 3, 1, 1, 0, 0, 1},
};

/* padding modes on the fixed cases */
static const tconv_padding_mode modes[] = {TCONV_PADDING_MODE_ZEROS, TCONV_PADDING_MODE_REFLECT,
                                           TCONV_PADDING_MODE_REPLICATE,
                                           TCONV_PADDING_MODE_CIRCULAR};

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 2026 + TCONV_PASS_FORWARD);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_case c = ot_cv_case(cases[i]);
        const int64_t *k = cases[i];
        if (k[11] > 1 && k[1] == k[11] && k[4] == k[11]) c.expect_path = "phase-dw";
        if (k[4] / k[11] >= 48 && k[1] / k[11] >= 8 && k[5] * k[6] > 1) c.expect_path = "phase-cil";
        /* one vector of output channels on 6-pixel rows: channels in lanes
         * where a vector holds 16 floats */
        if (k[2] == 12 && k[7] == 2 && k[4] / k[11] == 16 && tconv_best_impl() == TCONV_IMPL_AVX512)
            c.expect_path = "phase-cil";
        if (k[2] == k[5] && k[3] == k[6] && k[7] == 1 && k[8] == 1 && k[9] == 0 && k[10] == 0)
            c.expect_path = "gemm-window";
        /* (Cout 48, 64, 128 fill the GEMM blocks of every ISA) */
        if (k[5] == 3 && k[6] == 3 && k[7] == 1 && k[8] == 1 && k[11] == 1 && k[1] >= 16 &&
            (k[4] == 48 || k[4] == 64 || k[4] == 128 ||
             ((k[4] == 30 || k[4] == 32) && tconv_best_impl() == TCONV_IMPL_AVX512)) &&
            k[2] + 2 * k[9] >= 6 &&
            k[3] + 2 * k[10] >= 6)
            c.expect_path = modes[i % 4] == TCONV_PADDING_MODE_ZEROS || (k[9] == 0 && k[10] == 0)
                                ? "winograd"
                                : NULL; /* a padding mode: the phase images, by size */
        c.cv.padding_mode = modes[i % 4];
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    for (int i = 0; i < 200; i++) {
        ot_case c;
        ot_random_cv(&r, 0, &c);
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    for (int i = 0; i < 20; i++) {
        ot_case c;
        ot_random_cv(&r, 1, &c);
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    ot_report("conv2d forward", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv2d_forward");
}
