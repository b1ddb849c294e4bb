/* test_conv2d_backward_data.c -- Conv2d's backward_data pass on every path and ISA
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
    /* small outputs, many channels (their gradients: wide inputs) */
    {5, 16, 7, 7, 56, 4, 4, 2, 2, 1, 1, 1},   {3, 12, 4, 4, 50, 4, 4, 1, 1, 0, 0, 1},
    {2, 16, 9, 9, 96, 3, 3, 3, 3, 1, 1, 2},   {4, 9, 6, 5, 49, 3, 3, 2, 2, 1, 1, 1},
    /* 3x3 stride 1, zero padding: the gradient through Winograd */
    {2, 64, 10, 7, 48, 3, 3, 1, 1, 1, 1, 1},
};

/* padding modes on the fixed cases */
static const tconv_padding_mode modes[] = {TCONV_PADDING_MODE_ZEROS, TCONV_PADDING_MODE_REFLECT,
                                           TCONV_PADDING_MODE_REPLICATE,
                                           TCONV_PADDING_MODE_CIRCULAR};

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 2026 + TCONV_PASS_BACKWARD_DATA);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_case c = ot_cv_case(cases[i]);
        const int64_t *k = cases[i];
        if (k[11] > 1 && k[1] == k[11] && k[4] == k[11]) c.expect_path = "phase-dw";
        c.cv.padding_mode = modes[i % 4];
        /* the gradient of a 3x3 stride-1 convolution with zero padding is
         * one (Cin 48, 64, 128 fill every ISA's GEMM blocks) */
        if (k[5] == 3 && k[6] == 3 && k[7] == 1 && k[8] == 1 && k[11] == 1 && k[4] >= 16 &&
            (k[1] == 48 || k[1] == 64 || k[1] == 128) && modes[i % 4] == TCONV_PADDING_MODE_ZEROS)
            c.expect_path = "winograd";
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    for (int i = 0; i < 200; i++) {
        ot_case c;
        ot_random_cv(&r, 0, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    for (int i = 0; i < 20; i++) {
        ot_case c;
        ot_random_cv(&r, 1, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    ot_report("conv2d backward_data", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv2d_backward_data");
}
