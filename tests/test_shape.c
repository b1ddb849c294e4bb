/* Shape rules: the output-size formulas, output_size -> output_padding and
 * its range, full output shapes (batched, unbatched, zero batch), and int64
 * overflow reported as TCONV_ERROR_OVERFLOW instead of a wrapped size. */
#include "check.h"
#include "tutil.h"

#include <string.h>
#include <tconv.h>

static const int64_t BIG = INT64_MAX;

static void test_ct_output_dim(void) {
    int64_t o = -7;
    /* The seeds' table, one spatial dim at a time (PyTorch's numbers). */
    CHECK(tconv_conv_transpose2d_output_dim(3, 3, 2, 1, 1, 0, &o) == TCONV_OK && o == 5);
    CHECK(tconv_conv_transpose2d_output_dim(16, 2, 2, 0, 1, 0, &o) == TCONV_OK && o == 32);
    CHECK(tconv_conv_transpose2d_output_dim(32, 3, 2, 2, 1, 0, &o) == TCONV_OK && o == 61);
    CHECK(tconv_conv_transpose2d_output_dim(50, 3, 2, 4, 1, 0, &o) == TCONV_OK && o == 93);
    CHECK(tconv_conv_transpose2d_output_dim(100, 5, 1, 2, 1, 0, &o) == TCONV_OK && o == 100);
    CHECK(tconv_conv_transpose2d_output_dim(8, 3, 2, 1, 1, 1, &o) == TCONV_OK && o == 16);
    CHECK(tconv_conv_transpose2d_output_dim(4, 1, 2, 1, 1, 0, &o) == TCONV_OK && o == 5);
    CHECK(tconv_conv_transpose2d_output_dim(5, 3, 3, 0, 2, 1, &o) == TCONV_OK && o == 18);
    /* Non-positive results are returned, not refused (the caller decides). */
    CHECK(tconv_conv_transpose2d_output_dim(1, 3, 1, 2, 1, 0, &o) == TCONV_OK && o == -1);
    /* Overflow in every term of the formula. */
    CHECK(tconv_conv_transpose2d_output_dim(BIG, 3, 2, 0, 1, 0, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tu_err_has("overflow"));
    CHECK(tconv_conv_transpose2d_output_dim(INT64_MIN, 3, 1, 0, 1, 0, &o) ==
          TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(4, 3, 1, BIG, 1, 0, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(4, BIG, 1, 0, 2, 0, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(4, 3, 1, 0, BIG, 0, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(BIG / 2, 1, 2, 0, 1, BIG, &o) ==
          TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(BIG, 1, 1, 0, 1, 0, &o) == TCONV_OK && o == BIG);
    CHECK(tconv_conv_transpose2d_output_dim(BIG, 1, 1, 0, 1, 1, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv_transpose2d_output_dim(3, 3, 1, 0, 1, 0, NULL) ==
          TCONV_ERROR_INVALID_ARGUMENT);
}

static void test_conv_output_dim(void) {
    int64_t o = -7;
    CHECK(tconv_conv2d_output_dim(5, 3, 1, 1, 1, 1, &o) == TCONV_OK && o == 5);
    CHECK(tconv_conv2d_output_dim(32, 3, 2, 1, 1, 1, &o) == TCONV_OK && o == 16);
    CHECK(tconv_conv2d_output_dim(7, 3, 2, 0, 0, 2, &o) == TCONV_OK && o == 2);
    CHECK(tconv_conv2d_output_dim(6, 4, 3, 1, 2, 1, &o) == TCONV_OK && o == 2);
    /* Floor division of a negative numerator: (2-4-1)/2 = floor(-1.5) = -2 -> -1. */
    CHECK(tconv_conv2d_output_dim(2, 5, 2, 0, 0, 1, &o) == TCONV_OK && o == -1);
    CHECK(tconv_conv2d_output_dim(BIG, 3, 1, 1, 1, 1, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv2d_output_dim(5, BIG, 1, 0, 0, 2, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv2d_output_dim(INT64_MIN, 1, 1, 0, 0, 1, &o) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv2d_output_dim(BIG, 1, 1, 0, 0, 1, &o) == TCONV_OK && o == BIG);
    CHECK(tconv_conv2d_output_dim(5, 3, 0, 0, 0, 1, &o) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("stride"));
    CHECK(tconv_conv2d_output_dim(5, 3, 1, 0, 0, 1, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
}

static void test_output_padding_for_size(void) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 16, 16, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    p.output_padding[0] = p.output_padding[1] = 1; /* ignored when output_size is given */
    const int64_t in4[4] = {1, 16, 6, 6}, in3[3] = {16, 6, 6};
    int64_t op[2] = {-1, -1};
    const int64_t s12[2] = {12, 12}, s11[2] = {11, 11}, s1112[2] = {11, 12};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s12, 2, op) == TCONV_OK);
    CHECK(op[0] == 1 && op[1] == 1);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s11, 2, op) == TCONV_OK);
    CHECK(op[0] == 0 && op[1] == 0);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s1112, 2, op) == TCONV_OK);
    CHECK(op[0] == 0 && op[1] == 1);
    /* Full-length output_size: the leading entries are ignored, as PyTorch. */
    const int64_t full4[4] = {99, 99, 12, 11}, full3[3] = {99, 12, 12};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, full4, 4, op) == TCONV_OK);
    CHECK(op[0] == 1 && op[1] == 0);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 3, in3, full3, 3, op) == TCONV_OK);
    CHECK(op[0] == 1 && op[1] == 1);
    /* Out of range, both sides: PyTorch's exact words. */
    const int64_t s14[2] = {14, 14}, s10[2] = {10, 12};
    op[0] = op[1] = -5;
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s14, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(),
                      "requested an output size of [14, 14], but valid sizes range from [11, 11] "
                      "to [12, 12] (for an input of torch.Size([6, 6]))"),
              "got: %s", tconv_last_error());
    CHECK(op[0] == -5 && op[1] == -5); /* untouched on failure */
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s10, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("requested an output size of [10, 12]"));
    /* Unbatched: PyTorch prints input.size()[2:], i.e. only the width. */
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 3, in3, s14, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(tu_err_has("(for an input of torch.Size([6]))"), "got: %s", tconv_last_error());
    /* Wrong length (PyTorch: "... must have 2 or 4 elements (got 3)"). */
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, full3, 3, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "ConvTranspose2D: for 4D input, output_size must have "
                                          "2 or 4 elements (got 3)"),
              "got: %s", tconv_last_error());
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, NULL, 0, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(NULL, 4, in4, s12, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in4, s12, 2, NULL) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    const int64_t in5[5] = {1, 16, 6, 6, 1};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 5, in5, s12, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    /* Range computation overflow. */
    const int64_t huge[4] = {1, 16, BIG, 6};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, huge, s12, 2, op) ==
          TCONV_ERROR_OVERFLOW);
    /* Unvalidated extreme parameters: an error, never a wrapped range (UBSan
     * checks the arithmetic in the sanitizer build). */
    tconv_conv_transpose2d_params x = p;
    x.stride[0] = INT64_MIN;
    x.padding[0] = 0;
    const int64_t one[4] = {1, 16, 1, 6};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&x, 4, one, s12, 2, op) != TCONV_OK);
    /* stride > 1 and dilation: range [min, min + stride - 1]. */
    tconv_conv_transpose2d_params q;
    tconv_conv_transpose2d_params_init(&q, 2, 2, 3, 2);
    q.stride[0] = 3;
    q.stride[1] = 1;
    q.dilation[0] = 2;
    const int64_t in_q[4] = {1, 2, 4, 5};
    /* min h = 3*3 + 2*2 + 1 = 14, max 16; w: 4 + 1 + 1 = 6 exactly. */
    const int64_t ok_q[2] = {16, 6}, bad_q[2] = {17, 6}, bad_w[2] = {14, 7};
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&q, 4, in_q, ok_q, 2, op) == TCONV_OK);
    CHECK(op[0] == 2 && op[1] == 0);
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&q, 4, in_q, bad_q, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("valid sizes range from [14, 6] to [16, 6]"));
    CHECK(tconv_conv_transpose2d_output_padding_for_size(&q, 4, in_q, bad_w, 2, op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
}

static int shape_is(const int64_t *got, const int64_t *want, int n) {
    return memcmp(got, want, (size_t)n * sizeof *got) == 0;
}

static void test_ct_output_shape(void) {
    tconv_conv_transpose2d_params p;
    int64_t out[4];
    /* Seed 003/004 shapes as PyTorch prints them. */
    tconv_conv_transpose2d_params_init(&p, 16, 33, 3, 5);
    p.stride[0] = 2;
    p.padding[0] = 4;
    p.padding[1] = 2;
    const int64_t a[4] = {20, 16, 50, 100}, a_out[4] = {20, 33, 93, 100};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, a, NULL, 0, out) == TCONV_OK);
    CHECK(shape_is(out, a_out, 4));
    tconv_conv_transpose2d_params_init(&p, 16, 33, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    p.output_padding[0] = p.output_padding[1] = 1;
    const int64_t b[4] = {20, 16, 8, 8}, b_out[4] = {20, 33, 16, 16};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, b, NULL, 0, out) == TCONV_OK);
    CHECK(shape_is(out, b_out, 4));
    /* Unbatched (C, H, W) -> (C, H, W). */
    const int64_t c[3] = {16, 8, 8}, c_out[3] = {33, 16, 16};
    memset(out, 0x7f, sizeof out);
    CHECK(tconv_conv_transpose2d_output_shape(&p, 3, c, NULL, 0, out) == TCONV_OK);
    CHECK(shape_is(out, c_out, 3));
    /* Zero batch is valid and gives an empty output of the right shape. */
    const int64_t z[4] = {0, 16, 8, 8}, z_out[4] = {0, 33, 16, 16};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, z, NULL, 0, out) == TCONV_OK);
    CHECK(shape_is(out, z_out, 4));
    /* output_size overrides output_padding. */
    tconv_conv_transpose2d_params_init(&p, 16, 16, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t d[4] = {1, 16, 6, 6}, req[2] = {12, 12}, d_out[4] = {1, 16, 12, 12};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, d, req, 2, out) == TCONV_OK);
    CHECK(shape_is(out, d_out, 4));
    const int64_t bad[2] = {14, 14};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, d, bad, 2, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("requested an output size of [14, 14]"));
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, d, NULL, 2, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, d, NULL, 0, NULL) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    /* Output too small (PyTorch's words). */
    tconv_conv_transpose2d_params_init(&p, 4, 2, 3, 3);
    p.padding[0] = p.padding[1] = 2;
    const int64_t e[4] = {1, 4, 1, 1};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, e, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Given input size per channel: (1 x 1). Calculated "
                                          "output size per channel: (-1 x -1). Output size is "
                                          "too small"),
              "got: %s", tconv_last_error());
    /* Huge sizes: overflow, not a wrapped shape. */
    tconv_conv_transpose2d_params_init(&p, 4, 2, 3, 3);
    p.stride[0] = 4;
    const int64_t h1[4] = {1, 4, INT64_MAX / 2, 3};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, h1, NULL, 0, out) == TCONV_ERROR_OVERFLOW);
    const int64_t h2[4] = {INT64_MAX / 4, 4, 3, 3}; /* output numel overflows */
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, h2, NULL, 0, out) == TCONV_ERROR_OVERFLOW);
    CHECK(tu_err_has("too large"));
    const int64_t h3[4] = {1, 4, (int64_t)1 << 40, (int64_t)1 << 40};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, h3, NULL, 0, out) == TCONV_ERROR_OVERFLOW);
    /* Zero batch does not hide an image size that overflows (kernels form
     * strides from C*H*W even when N == 0). */
    tconv_conv_transpose2d_params_init(&p, 4, 2, 1, 1);
    const int64_t z1[4] = {0, 4, (int64_t)1 << 31, (int64_t)1 << 31};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, z1, NULL, 0, out) == TCONV_ERROR_OVERFLOW);
    const int64_t z2[4] = {0, 4, (int64_t)1 << 20, (int64_t)1 << 20};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, z2, NULL, 0, out) == TCONV_OK);
    tconv_conv_transpose2d_params_init(&p, 4, 2, INT64_MAX / 2, 3);
    const int64_t h4[4] = {1, 4, 3, 3};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, h4, NULL, 0, out) == TCONV_ERROR_OVERFLOW);
}

static void test_conv_output_shape(void) {
    tconv_conv2d_params p;
    int64_t out[4];
    tconv_conv2d_params_init(&p, 4, 6, 3, 3);
    p.padding_kind = TCONV_PADDING_SAME;
    const int64_t a[4] = {2, 4, 7, 9}, a_out[4] = {2, 6, 7, 9};
    CHECK(tconv_conv2d_output_shape(&p, 4, a, out) == TCONV_OK && shape_is(out, a_out, 4));
    /* "same" with an even, dilated kernel: total padding d*(k-1) = 3, split 1/2. */
    tconv_conv2d_params_init(&p, 4, 6, 4, 2);
    p.dilation[0] = 1;
    p.padding_kind = TCONV_PADDING_SAME;
    CHECK(tconv_conv2d_output_shape(&p, 4, a, out) == TCONV_OK && shape_is(out, a_out, 4));
    p.padding_kind = TCONV_PADDING_VALID;
    const int64_t v_out[4] = {2, 6, 4, 8};
    CHECK(tconv_conv2d_output_shape(&p, 4, a, out) == TCONV_OK && shape_is(out, v_out, 4));
    tconv_conv2d_params_init(&p, 4, 6, 3, 3);
    p.stride[0] = 2;
    p.stride[1] = 3;
    p.padding[0] = 1;
    p.padding[1] = 2;
    p.dilation[1] = 2;
    p.padding_mode = TCONV_PADDING_MODE_REFLECT;
    /* h: (7+2-2-1)/2+1 = 4; w: (9+4-4-1)/3+1 = 3 */
    const int64_t e_out[4] = {2, 6, 4, 3}, u[3] = {4, 7, 9}, u_out[3] = {6, 4, 3};
    CHECK(tconv_conv2d_output_shape(&p, 4, a, out) == TCONV_OK && shape_is(out, e_out, 4));
    CHECK(tconv_conv2d_output_shape(&p, 3, u, out) == TCONV_OK && shape_is(out, u_out, 3));
    const int64_t z[4] = {0, 4, 7, 9}, z_out[4] = {0, 6, 4, 3};
    CHECK(tconv_conv2d_output_shape(&p, 4, z, out) == TCONV_OK && shape_is(out, z_out, 4));
    /* Kernel larger than the padded input (PyTorch's words). */
    tconv_conv2d_params_init(&p, 4, 4, 7, 3);
    const int64_t s[4] = {1, 4, 5, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, s, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(tu_err_has("Calculated padded input size per channel: (5 x 5). Kernel size: (7 x "
                         "3). Kernel size can't be greater than actual input size"),
              "got: %s", tconv_last_error());
    /* Overflow of padded sizes. */
    tconv_conv2d_params_init(&p, 4, 4, 3, 3);
    p.padding[0] = INT64_MAX;
    CHECK(tconv_conv2d_output_shape(&p, 4, s, out) == TCONV_ERROR_OVERFLOW);
    tconv_conv2d_params_init(&p, 4, 4, 3, 3);
    p.dilation[0] = INT64_MAX;
    CHECK(tconv_conv2d_output_shape(&p, 4, s, out) == TCONV_ERROR_OVERFLOW);
    p.padding_kind = TCONV_PADDING_SAME;
    CHECK(tconv_conv2d_output_shape(&p, 4, s, out) == TCONV_ERROR_OVERFLOW);
    /* 'same' with an even kernel pads one extra row: at INT64_MAX rows that
     * is an overflow, with or without a channel mismatch to report */
    tconv_conv2d_params_init(&p, 4, 4, 2, 2);
    p.padding_kind = TCONV_PADDING_SAME;
    const int64_t tall[4] = {1, 4, INT64_MAX, 5}, tall_c[4] = {1, 3, INT64_MAX, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, tall, out) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv2d_output_shape(&p, 4, tall_c, out) == TCONV_ERROR_OVERFLOW);
    tconv_conv2d_params_init(&p, 4, 4, 2, 1); /* effective kernel extent INT64_MAX + 1 */
    p.dilation[0] = INT64_MAX;
    CHECK(tconv_conv2d_output_shape(&p, 4, s, out) == TCONV_ERROR_OVERFLOW);
    tconv_conv2d_params_init(&p, 4, 4, 1, 1);
    const int64_t big[4] = {INT64_MAX / 2, 4, 5, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, big, out) == TCONV_ERROR_OVERFLOW);
    /* channel mismatch with a padding mode names the padded size: no overflow */
    tconv_conv2d_params_init(&p, 4, 4, 1, 1);
    p.padding_mode = TCONV_PADDING_MODE_CIRCULAR;
    p.padding[0] = INT64_MAX;
    const int64_t wrong_c[4] = {1, 3, INT64_MAX, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, wrong_c, out) != TCONV_OK);
    tconv_conv2d_params_init(&p, 4, 4, 1, 1);
    const int64_t zbig[4] = {0, 4, (int64_t)1 << 31, (int64_t)1 << 31};
    CHECK(tconv_conv2d_output_shape(&p, 4, zbig, out) == TCONV_ERROR_OVERFLOW);
    CHECK(tconv_conv2d_output_shape(&p, 4, s, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
}

int main(void) {
    test_ct_output_dim();
    test_conv_output_dim();
    test_output_padding_for_size();
    test_ct_output_shape();
    test_conv_output_shape();
    return tc_test_summary("test_shape");
}
