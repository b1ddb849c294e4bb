/* test_conv2d_backward_weight.c -- Conv2d's backward_weight pass on every path and ISA
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
    /* the DCGAN discriminator's middle layer (zero padding): whole planes
     * packed by transposes */
    {3, 64, 8, 8, 128, 4, 4, 2, 2, 1, 1, 1},
    /* one to four input channels per group: the pixels in the lanes
     * (the discriminator's first layer), every padding mode, groups, a
     * last vector of a row short */
    {5, 1, 16, 16, 24, 4, 4, 2, 2, 1, 1, 1}, {3, 4, 13, 11, 6, 3, 3, 1, 1, 1, 1, 2},
    {2, 1, 20, 20, 9, 3, 3, 1, 1, 1, 1, 1},  {4, 2, 12, 12, 7, 4, 4, 2, 2, 1, 1, 1},
    {2, 3, 9, 10, 5, 3, 3, 1, 1, 1, 1, 1},
};

/* padding modes on the fixed cases */
static const tconv_padding_mode modes[] = {TCONV_PADDING_MODE_ZEROS, TCONV_PADDING_MODE_REFLECT,
                                           TCONV_PADDING_MODE_REPLICATE,
                                           TCONV_PADDING_MODE_CIRCULAR};

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 2026 + TCONV_PASS_BACKWARD_WEIGHT);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_case c = ot_cv_case(cases[i]);
        c.cv.padding_mode = modes[i % 4];
        c.bias = (int)(i % 3 != 2); /* with and without grad_bias */
        const int64_t *k = cases[i];
        /* few input channels per group against at least 32 output pixels
         * (two vectors on every ISA): the pixels in the lanes */
        const int64_t ho = (k[2] + 2 * k[9] - k[5]) / k[7] + 1, wo = (k[3] + 2 * k[10] - k[6]) / k[8] + 1;
        if (k[1] / k[11] <= 4 && k[1] / k[11] * k[5] * k[6] <= 32 && ho * wo >= 32)
            c.expect_path = "wgrad-dot";
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    for (int i = 0; i < 200; i++) {
        ot_case c;
        ot_random_cv(&r, 0, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    for (int i = 0; i < 20; i++) {
        ot_case c;
        ot_random_cv(&r, 1, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    ot_report("conv2d backward_weight", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv2d_backward_weight");
}
