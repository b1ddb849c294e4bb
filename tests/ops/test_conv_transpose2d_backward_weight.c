/* test_conv_transpose2d_backward_weight.c -- ConvTranspose2d's backward_weight pass on
 * every path and ISA against the reference kernel (the operator tester):
 * the seed shapes' forms (shrunk), then random cases of every parameter
 * (groups, dilation, asymmetric pairs, output_padding and output_size,
 * unbatched, 1x1 inputs). */
#include "check.h"
#include "op_tester.h"
#include "tutil.h"

#include <stdlib.h>
#include <string.h>
#include <tconv.h>

/* A grad_weight written past the caches at an address off a line (one
 * float past one): the runs' heads and tails as plain stores, the same
 * values as at an aligned address, on every implementation. */
static void test_unaligned_dw(void) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 256, 128, 4, 4);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t in[4] = {2, 256, 4, 4}, wn = 256 * 128 * 16;
    tu_rng r;
    tu_rng_seed(&r, 5150);
    float *x = tu_alloc(2 * 256 * 16), *dy = tu_alloc(2 * 128 * 64);
    float *dw0 = tu_alloc(wn), *dw1 = tu_alloc(wn + 16);
    tu_fill(&r, x, 2 * 256 * 16);
    tu_fill(&r, dy, 2 * 128 * 64);
    tconv_impl impls[8];
    const int ni = tu_impls(impls);
    for (int i = 0; i < ni; i++) {
        tconv_options o;
        tconv_options_init(&o);
        o.impl = impls[i];
        tconv_op *op = NULL;
        CHECK(tconv_conv_transpose2d_backward_weight_create(&p, &o, &op) == TCONV_OK);
        if (!op) continue;
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        void *w = ws ? malloc(ws) : NULL;
        tu_poison(dw0, wn);
        tu_poison(dw1, wn + 16);
        CHECK(tconv_op_run_backward_weight(op, x, dy, dw0, NULL, w) == TCONV_OK);
        CHECK(tconv_op_run_backward_weight(op, x, dy, dw1 + 1, NULL, w) == TCONV_OK);
        CHECK_MSG(!memcmp(dw0, dw1 + 1, (size_t)wn * sizeof(float)),
                  "%s: grad_weight at an unaligned address differs", tconv_impl_name(impls[i]));
        free(w);
        tconv_op_destroy(op);
    }
    free(x);
    free(dy);
    free(dw0);
    free(dw1);
}

static const int64_t cases[][14] = {
    /* N Cin H W Cout kh kw sh sw ph pw oph opw g */
    {2, 32, 4, 4, 24, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {2, 16, 8, 8, 12, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {2, 8, 16, 16, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {4, 20, 1, 1, 24, 4, 4, 1, 1, 0, 0, 0, 0, 1},
    {1, 24, 8, 8, 16, 2, 2, 2, 2, 0, 0, 0, 0, 1},  {3, 8, 10, 20, 9, 3, 5, 2, 1, 4, 2, 0, 0, 1},
    {3, 16, 8, 8, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1},  {1, 3, 32, 32, 6, 3, 3, 2, 2, 2, 2, 0, 0, 1},
    {2, 12, 6, 7, 12, 3, 3, 2, 2, 1, 1, 1, 0, 3},  {1, 4, 12, 12, 5, 7, 7, 1, 1, 3, 3, 0, 0, 1},
    {9, 6, 12, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2},   {1, 64, 4, 4, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {3, 128, 4, 4, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1}, /* the DCGAN generator's middle layer */
    /* one to four output channels per group (the generator's last layer):
     * the pixels in the lanes; groups, dilation-free odd sizes */
    {5, 24, 8, 8, 1, 4, 4, 2, 2, 1, 1, 0, 0, 1},   {3, 10, 6, 7, 2, 3, 3, 1, 1, 1, 1, 0, 0, 2},
    {2, 9, 11, 5, 3, 3, 3, 2, 2, 1, 1, 1, 0, 1},
    /* packed operands beyond the slice size: each split's images packed
     * and summed a slice at a time (two splits of three images, slices of
     * two; one split of twelve, slices of six) */
    {6, 16, 50, 100, 33, 3, 5, 2, 1, 4, 2, 0, 0, 1}, {12, 64, 32, 32, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    /* grad_weight of 2 MiB and more, written past the caches: runs that
     * start on a line, and runs that start and end mid-line */
    {2, 256, 4, 4, 128, 4, 4, 2, 2, 1, 1, 0, 0, 1}, {3, 320, 3, 3, 100, 4, 4, 2, 2, 1, 1, 0, 0, 1},
};

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 7100 + TCONV_PASS_BACKWARD_WEIGHT);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ot_case c = ot_ct_case(cases[i]);
        c.bias = (int)(i % 3 != 2); /* with and without grad_bias */
        /* few output channels per group against at least 32 input pixels
         * (two vectors on every ISA): the pixels in the lanes */
        const int64_t *k = cases[i];
        if (k[4] / k[13] <= 4 && k[4] / k[13] * k[5] * k[6] <= 32 && k[2] * k[3] >= 32)
            c.expect_path = "wgrad-dot";
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    for (int i = 0; i < 200; i++) {
        ot_case c;
        ot_random_ct(&r, 0, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    for (int i = 0; i < 20; i++) {
        ot_case c;
        ot_random_ct(&r, 1, &c);
        ot_run(&c, TCONV_PASS_BACKWARD_WEIGHT, seed++, &st);
    }
    test_unaligned_dw();
    ot_report("conv_transpose2d backward_weight", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv_transpose2d_backward_weight");
}
