/* The seed 001 example, checked against the numbers PyTorch prints. */
#include "check.h"

#include <math.h>
#include <string.h>
#include <tconv.h>

int main(void) {
    const float x[9] = {9, 1, 3, 7, 8, 7, 8, 2, 2};
    const float w[9] = {4, 2, 3, 1, 4, 3, 1, 1, 1};
    const float expect[25] = {36, 28, 4,  6,  12, 23, 63, 17, 56, 17, 28, 29, 32,
                              31, 28, 23, 47, 12, 29, 11, 32, 26, 8,  8,  8};
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 1, 1, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t in_shape[4] = {1, 1, 3, 3};
    for (int impl = TCONV_IMPL_REFERENCE; impl <= TCONV_IMPL_AVX512; impl++) {
        if (!tconv_impl_available((tconv_impl)impl)) continue;
        tconv_options opt;
        tconv_options_init(&opt);
        opt.impl = (tconv_impl)impl;
        tconv_op *op = NULL;
        CHECK(tconv_conv_transpose2d_create(&p, w, NULL, &opt, &op) == TCONV_OK);
        int64_t out_shape[4];
        size_t ws_bytes = 0;
        CHECK(tconv_op_reshape(op, 4, in_shape, NULL, 0, out_shape, &ws_bytes) == TCONV_OK);
        CHECK(out_shape[0] == 1 && out_shape[1] == 1 && out_shape[2] == 5 && out_shape[3] == 5);
        float y[25];
        for (int i = 0; i < 25; i++) y[i] = NAN; /* poison: an unwritten element fails */
        void *ws = ws_bytes ? malloc(ws_bytes) : NULL;
        CHECK(tconv_op_run(op, x, y, ws) == TCONV_OK);
        free(ws);
        for (int i = 0; i < 25; i++)
            CHECK_MSG(y[i] == expect[i], "impl %s y[%d] = %g, PyTorch %g",
                      tconv_impl_name((tconv_impl)impl), i, y[i], expect[i]);
        tconv_op_destroy(op);
    }
    return tc_test_summary("test_golden_seed001");
}
