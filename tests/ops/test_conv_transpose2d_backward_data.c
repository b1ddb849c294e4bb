/* test_conv_transpose2d_backward_data.c -- ConvTranspose2d's backward_data pass on
 * every path and ISA against the reference kernel (the operator tester):
 * the seed shapes' forms (shrunk), then random cases of every parameter
 * (groups, dilation, asymmetric pairs, output_padding and output_size,
 * unbatched, 1x1 inputs). */
#include "check.h"
#include "op_tester.h"

static const int64_t cases[][14] = {
    /* N Cin H W Cout kh kw sh sw ph pw oph opw g */
    {2, 32, 4, 4, 24, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {2, 16, 8, 8, 12, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {2, 8, 16, 16, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {4, 20, 1, 1, 24, 4, 4, 1, 1, 0, 0, 0, 0, 1},
    {1, 24, 8, 8, 16, 2, 2, 2, 2, 0, 0, 0, 0, 1},  {3, 8, 10, 20, 9, 3, 5, 2, 1, 4, 2, 0, 0, 1},
    {3, 16, 8, 8, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1},  {1, 3, 32, 32, 6, 3, 3, 2, 2, 2, 2, 0, 0, 1},
    {2, 12, 6, 7, 12, 3, 3, 2, 2, 1, 1, 1, 0, 3},  {1, 4, 12, 12, 5, 7, 7, 1, 1, 3, 3, 0, 0, 1},
    {9, 6, 12, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2},   {1, 64, 4, 4, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    /* depthwise (one channel per group) */
    {2, 20, 9, 17, 20, 4, 4, 2, 2, 1, 1, 0, 0, 20}, {1, 13, 8, 8, 13, 3, 3, 1, 1, 1, 1, 0, 0, 13},
    /* gradients of small inputs: channels in lanes over the batch, strided */
    {3, 50, 2, 2, 12, 4, 4, 1, 1, 0, 0, 0, 0, 1},   {4, 56, 3, 3, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {8, 96, 3, 3, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    /* the gradient of a 1x1 input whose kernel covers the output: one GEMM */
    {3, 50, 1, 1, 12, 4, 4, 1, 1, 0, 0, 0, 0, 1},   {6, 3, 1, 1, 40, 4, 4, 1, 1, 0, 0, 0, 0, 1},
};

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 7100 + TCONV_PASS_BACKWARD_DATA);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_case c = ot_ct_case(cases[i]);
        /* the convolution of the gradient: small input, many channels */
        if (cases[i][1] >= 48 && cases[i][4] >= 8 && cases[i][2] * cases[i][3] <= 9 &&
            cases[i][13] == 1)
            c.expect_path = tconv_best_impl() == TCONV_IMPL_AVX512 && cases[i][0] >= 8 &&
                                    cases[i][1] >= 96
                                ? "phase-cil-wide" /* a batch: AVX-512's wide tiles */
                                : "phase-cil";
        if (cases[i][2] == 1 && cases[i][3] == 1 && cases[i][7] == 1 && cases[i][8] == 1 &&
            cases[i][9] == 0 && cases[i][10] == 0)
            c.expect_path = "gemm-window";
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    for (int i = 0; i < 200; i++) {
        ot_case c;
        ot_random_ct(&r, 0, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    for (int i = 0; i < 20; i++) {
        ot_case c;
        ot_random_ct(&r, 1, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_DATA, seed++, &st);
    }
    ot_report("conv_transpose2d backward_data", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv_transpose2d_backward_data");
}
