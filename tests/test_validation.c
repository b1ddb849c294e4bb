/* Every refusal: status code and message (PyTorch's exact words where
 * SEEDS-NOTES.md lists them, otherwise the parameter and its values), made
 * the same way by params_check, create, output_shape and the one-call
 * functions, with no output argument written on failure. */
#include "check.h"
#include "tutil.h"

#include <string.h>
#include <tconv.h>

/* ---- ConvTranspose2d parameters ------------------------------------------ */

typedef struct ct_case {
    const char *name;
    void (*mutate)(tconv_conv_transpose2d_params *p);
    tconv_status status;
    const char *msg;   /* must be contained in the message */
    int exact;         /* 1: msg is the whole message */
} ct_case;

#define CT_MUT(fn, body) static void fn(tconv_conv_transpose2d_params *p) { body; }
CT_MUT(ct_groups0, p->groups = 0)
CT_MUT(ct_groups_neg, p->groups = -3)
CT_MUT(ct_pad_neg, p->padding[1] = -1)
CT_MUT(ct_opad_neg, p->output_padding[0] = -1)
CT_MUT(ct_stride0, p->stride[0] = 0)
CT_MUT(ct_stride_neg, p->stride[1] = -2)
CT_MUT(ct_in_neg, p->in_channels = -4)
CT_MUT(ct_out_neg, p->out_channels = -1)
CT_MUT(ct_out_div, (p->groups = 2, p->out_channels = 5))
CT_MUT(ct_in_lt_groups, (p->in_channels = 2, p->out_channels = 4, p->groups = 4))
CT_MUT(ct_in_div, (p->in_channels = 6, p->out_channels = 4, p->groups = 4))
CT_MUT(ct_kernel0, p->kernel_size[0] = 0)
CT_MUT(ct_kernel_neg, p->kernel_size[1] = -3)
CT_MUT(ct_dil0, p->dilation[0] = p->dilation[1] = 0)
CT_MUT(ct_opad_big, p->output_padding[0] = p->output_padding[1] = 1)
CT_MUT(ct_opad_eq_stride, (p->stride[0] = 2, p->dilation[0] = 2, p->output_padding[0] = 2))
CT_MUT(ct_out0, p->out_channels = 0)
CT_MUT(ct_weight_huge, (p->in_channels = INT64_MAX / 4, p->kernel_size[0] = 8))
CT_MUT(ct_weight_bytes, (p->in_channels = INT64_MAX / 4, p->kernel_size[0] = 1,
                         p->kernel_size[1] = 1, p->out_channels = 3))

static const ct_case ct_cases[] = {
    {"groups 0", ct_groups0, TCONV_ERROR_INVALID_ARGUMENT, "non-positive groups is not supported", 1},
    {"groups -3", ct_groups_neg, TCONV_ERROR_INVALID_ARGUMENT, "non-positive groups is not supported", 1},
    {"padding -1", ct_pad_neg, TCONV_ERROR_INVALID_ARGUMENT, "negative padding is not supported", 1},
    {"output_padding -1", ct_opad_neg, TCONV_ERROR_INVALID_ARGUMENT, "negative output_padding is not supported", 1},
    {"stride 0", ct_stride0, TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported", 1},
    {"stride -2", ct_stride_neg, TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported", 1},
    {"in_channels -4", ct_in_neg, TCONV_ERROR_INVALID_ARGUMENT, "-4", 0},
    {"out_channels -1", ct_out_neg, TCONV_ERROR_INVALID_ARGUMENT, "-1", 0},
    {"out_channels 5 groups 2", ct_out_div, TCONV_ERROR_INVALID_ARGUMENT,
     "out_channels must be divisible by groups", 0},
    {"in_channels < groups", ct_in_lt_groups, TCONV_ERROR_INVALID_ARGUMENT,
     "Given groups=4, expected weight to be at least 4 at dimension 0, but got weight of size "
     "[2, 1, 3, 3] instead", 1},
    {"in_channels % groups", ct_in_div, TCONV_ERROR_INVALID_ARGUMENT,
     "Given groups=4, expected weight to be divisible by 4 at dimension 0, but got weight of "
     "size [[6, 1, 3, 3]] instead", 1},
    {"kernel 0", ct_kernel0, TCONV_ERROR_INVALID_ARGUMENT,
     "kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 3", 1},
    {"kernel -3", ct_kernel_neg, TCONV_ERROR_INVALID_ARGUMENT, "kernel_width: -3", 0},
    {"dilation 0", ct_dil0, TCONV_ERROR_INVALID_ARGUMENT,
     "dilation should be greater than zero, but got dilation_height: 0, dilation_width: 0", 1},
    {"output_padding 1 stride 1", ct_opad_big, TCONV_ERROR_INVALID_ARGUMENT,
     "output padding must be smaller than either stride or dilation, but got "
     "output_padding_height: 1 output_padding_width: 1 stride_height: 1 stride_width: 1 "
     "dilation_height: 1 dilation_width: 1", 1},
    {"output_padding == stride == dilation", ct_opad_eq_stride, TCONV_ERROR_INVALID_ARGUMENT,
     "output_padding_height: 2 output_padding_width: 0 stride_height: 2", 0},
    {"out_channels 0", ct_out0, TCONV_ERROR_INVALID_ARGUMENT,
     "non-empty 2D or 4D weight tensor expected, but got: [4, 0, 3, 3]", 1},
    {"weight numel overflow", ct_weight_huge, TCONV_ERROR_OVERFLOW, "weight of size", 0},
    {"weight bytes overflow", ct_weight_bytes, TCONV_ERROR_OVERFLOW, "weight of size", 0},
};

static void ct_base(tconv_conv_transpose2d_params *p) {
    tconv_conv_transpose2d_params_init(p, 4, 2, 3, 3);
}

static int msg_ok(const char *msg, int exact) {
    return exact ? strcmp(tconv_last_error(), msg) == 0 : tu_err_has(msg);
}

static void test_ct_params(void) {
    tconv_conv_transpose2d_params p;
    ct_base(&p);
    CHECK(tconv_conv_transpose2d_params_check(&p) == TCONV_OK);
    CHECK(tconv_last_error()[0] == '\0');
    float w[4 * 2 * 9], x[4 * 25], y[64];
    tu_rng r;
    tu_rng_seed(&r, 11);
    tu_fill(&r, w, 72);
    tu_fill(&r, x, 100);
    for (size_t i = 0; i < sizeof ct_cases / sizeof ct_cases[0]; i++) {
        const ct_case *c = &ct_cases[i];
        ct_base(&p);
        c->mutate(&p);
        tconv_status st = tconv_conv_transpose2d_params_check(&p);
        CHECK_MSG(st == c->status, "%s: status %d", c->name, (int)st);
        CHECK_MSG(msg_ok(c->msg, c->exact), "%s: message '%s'", c->name, tconv_last_error());
        /* create refuses the same way and leaves *op alone */
        tconv_op *op = (tconv_op *)&r;
        st = tconv_conv_transpose2d_create(&p, w, NULL, NULL, &op);
        CHECK_MSG(st == c->status && op == (tconv_op *)&r, "%s: create status %d", c->name,
                  (int)st);
        CHECK_MSG(msg_ok(c->msg, c->exact), "%s: create message '%s'", c->name,
                  tconv_last_error());
        /* output_shape and the one-call function too, writing nothing */
        int64_t in[4] = {1, p.in_channels, 5, 5}, out[4] = {-9, -9, -9, -9};
        st = tconv_conv_transpose2d_output_shape(&p, 4, in, NULL, 0, out);
        CHECK_MSG(st == c->status && out[0] == -9 && out[3] == -9, "%s: output_shape %d",
                  c->name, (int)st);
        tu_poison(y, 64);
        y[0] = 1234.0f;
        st = tconv_conv_transpose2d(&p, 4, in, x, w, NULL, NULL, 0, y, 64, out);
        CHECK_MSG(st == c->status && y[0] == 1234.0f && out[0] == -9, "%s: one-call %d",
                  c->name, (int)st);
    }
    CHECK(tconv_conv_transpose2d_params_check(NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("params"));
    /* Accepted corner cases: output_padding < dilation though >= stride. */
    ct_base(&p);
    p.dilation[0] = 3;
    p.output_padding[0] = 2;
    CHECK(tconv_conv_transpose2d_params_check(&p) == TCONV_OK);
    /* in_channels 0 with groups 1 is what PyTorch's constructor accepts. */
    ct_base(&p);
    p.groups = 2;
    p.in_channels = 4;
    p.out_channels = 2;
    CHECK(tconv_conv_transpose2d_params_check(&p) == TCONV_OK);
}

/* ---- Conv2d parameters ------------------------------------------------ */

typedef struct cv_case {
    const char *name;
    void (*mutate)(tconv_conv2d_params *p);
    tconv_status status;
    const char *msg;
    int exact;
} cv_case;

#define CV_MUT(fn, body) static void fn(tconv_conv2d_params *p) { body; }
CV_MUT(cv_mode_bad, p->padding_mode = (tconv_padding_mode)7)
CV_MUT(cv_kind_bad, p->padding_kind = (tconv_padding_kind)-1)
CV_MUT(cv_groups0, p->groups = 0)
CV_MUT(cv_same_strided, (p->padding_kind = TCONV_PADDING_SAME, p->stride[1] = 2))
CV_MUT(cv_pad_neg, p->padding[0] = -2)
CV_MUT(cv_stride0, p->stride[0] = 0)
CV_MUT(cv_dil0, p->dilation[1] = 0)
CV_MUT(cv_in_neg, p->in_channels = -1)
CV_MUT(cv_in_div, (p->in_channels = 4, p->groups = 3, p->out_channels = 6))
CV_MUT(cv_out_lt_groups, (p->in_channels = 4, p->out_channels = 2, p->groups = 4))
CV_MUT(cv_out_div, (p->in_channels = 4, p->out_channels = 6, p->groups = 4))
CV_MUT(cv_kernel0, p->kernel_size[1] = 0)
CV_MUT(cv_weight_huge, (p->out_channels = INT64_MAX / 2, p->kernel_size[0] = 5))

static const cv_case cv_cases[] = {
    {"padding_mode 7", cv_mode_bad, TCONV_ERROR_INVALID_ARGUMENT, "padding_mode", 0},
    {"padding_kind -1", cv_kind_bad, TCONV_ERROR_INVALID_ARGUMENT, "-1", 0},
    {"groups 0", cv_groups0, TCONV_ERROR_INVALID_ARGUMENT, "non-positive groups is not supported", 1},
    {"same + stride 2", cv_same_strided, TCONV_ERROR_INVALID_ARGUMENT,
     "padding='same' is not supported for strided convolutions", 1},
    {"padding -2", cv_pad_neg, TCONV_ERROR_INVALID_ARGUMENT, "negative padding is not supported", 1},
    {"stride 0", cv_stride0, TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported", 1},
    {"dilation 0", cv_dil0, TCONV_ERROR_INVALID_ARGUMENT,
     "dilation should be greater than zero, but got [1, 0]", 1},
    {"in_channels -1", cv_in_neg, TCONV_ERROR_INVALID_ARGUMENT, "-1", 0},
    {"in_channels % groups", cv_in_div, TCONV_ERROR_INVALID_ARGUMENT,
     "in_channels must be divisible by groups", 0},
    {"out_channels < groups", cv_out_lt_groups, TCONV_ERROR_INVALID_ARGUMENT,
     "Given groups=4, expected weight to be at least 4 at dimension 0, but got weight of size "
     "[2, 1, 3, 3] instead", 1},
    {"out_channels % groups", cv_out_div, TCONV_ERROR_INVALID_ARGUMENT,
     "Given groups=4, expected weight to be divisible by 4 at dimension 0, but got weight of "
     "size [[6, 1, 3, 3]] instead", 1},
    {"kernel 0", cv_kernel0, TCONV_ERROR_INVALID_ARGUMENT,
     "kernel size should be greater than zero, but got kernel_height: 3 kernel_width: 0", 1},
    {"weight overflow", cv_weight_huge, TCONV_ERROR_OVERFLOW, "weight of size", 0},
};

static void cv_base(tconv_conv2d_params *p) { tconv_conv2d_params_init(p, 4, 4, 3, 3); }

static void test_cv_params(void) {
    tconv_conv2d_params p;
    cv_base(&p);
    CHECK(tconv_conv2d_params_check(&p) == TCONV_OK);
    float w[4 * 4 * 9], x[4 * 25], y[64];
    tu_rng r;
    tu_rng_seed(&r, 12);
    tu_fill(&r, w, 144);
    tu_fill(&r, x, 100);
    for (size_t i = 0; i < sizeof cv_cases / sizeof cv_cases[0]; i++) {
        const cv_case *c = &cv_cases[i];
        cv_base(&p);
        c->mutate(&p);
        tconv_status st = tconv_conv2d_params_check(&p);
        CHECK_MSG(st == c->status, "%s: status %d", c->name, (int)st);
        CHECK_MSG(msg_ok(c->msg, c->exact), "%s: message '%s'", c->name, tconv_last_error());
        tconv_op *op = NULL;
        st = tconv_conv2d_create(&p, w, NULL, NULL, &op);
        CHECK_MSG(st == c->status && op == NULL, "%s: create %d", c->name, (int)st);
        int64_t in[4] = {1, 4, 5, 5}, out[4] = {-9, -9, -9, -9};
        st = tconv_conv2d_output_shape(&p, 4, in, out);
        CHECK_MSG(st == c->status && out[0] == -9, "%s: output_shape %d", c->name, (int)st);
        y[0] = 1234.0f;
        st = tconv_conv2d(&p, 4, in, x, w, NULL, y, 64, out);
        CHECK_MSG(st == c->status && y[0] == 1234.0f, "%s: one-call %d", c->name, (int)st);
    }
    CHECK(tconv_conv2d_params_check(NULL) == TCONV_ERROR_INVALID_ARGUMENT);
}

/* ---- Per-input checks ------------------------------------------------- */

static void test_ct_inputs(void) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 4, 2, 3, 3);
    int64_t out[5] = {-9, -9, -9, -9, -9};
    const int64_t five[5] = {4, 5, 5, 5, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 5, five, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Expected 3D (unbatched) or 4D (batched) input to "
                                          "conv_transpose2d, but got input of size: [4, 5, 5, 5, 5]"),
              "got: %s", tconv_last_error());
    const int64_t two[2] = {4, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 2, two, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("but got input of size: [4, 5]"));
    CHECK(tconv_conv_transpose2d_output_shape(&p, 1000, two, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("1000 dimensions"));
    CHECK(tconv_conv_transpose2d_output_shape(&p, -1, NULL, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, NULL, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("input_shape"));
    const int64_t neg[4] = {1, 4, -5, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, neg, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("[1, 4, -5, 5]"));
    const int64_t ch[4] = {1, 3, 5, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, ch, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Given transposed=1, weight of size [4, 2, 3, 3], "
                                          "expected input[1, 3, 5, 5] to have 4 channels, but "
                                          "got 3 channels instead"),
              "got: %s", tconv_last_error());
    const int64_t ch3[3] = {3, 5, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 3, ch3, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("expected input[1, 3, 5, 5] to have 4 channels"));
    const int64_t empty[4] = {1, 4, 0, 5};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, empty, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Only zero batch or zero channel inputs are supported, "
                                          "but got input shape: [1, 4, 0, 5]"),
              "got: %s", tconv_last_error());
    const int64_t emptyw[3] = {4, 5, 0};
    CHECK(tconv_conv_transpose2d_output_shape(&p, 3, emptyw, NULL, 0, out) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(out[0] == -9 && out[1] == -9 && out[2] == -9 && out[3] == -9);
}

static void test_cv_inputs(void) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 4, 4, 3, 3);
    int64_t out[4] = {-9, -9, -9, -9};
    const int64_t five[5] = {4, 5, 5, 5, 5};
    CHECK(tconv_conv2d_output_shape(&p, 5, five, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of "
                     "size: [4, 5, 5, 5, 5]"));
    const int64_t ch[4] = {1, 3, 5, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, ch, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Given groups=1, weight of size [4, 4, 3, 3], expected "
                                          "input[1, 3, 5, 5] to have 4 channels, but got 3 "
                                          "channels instead"),
              "got: %s", tconv_last_error());
    /* With a padding mode the module pads first: PyTorch names the padded size. */
    p.padding[0] = p.padding[1] = 1;
    p.padding_mode = TCONV_PADDING_MODE_REFLECT;
    CHECK(tconv_conv2d_output_shape(&p, 4, ch, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(tu_err_has("expected input[1, 3, 7, 7] to have 4 channels"), "got: %s",
              tconv_last_error());
    /* reflect: padding must be smaller than the dimension (PyTorch's words). */
    const int64_t in[4] = {1, 4, 5, 5};
    p.padding[0] = p.padding[1] = 5;
    CHECK(tconv_conv2d_output_shape(&p, 4, in, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Argument #4: Padding size should be less than the "
                                          "corresponding input dimension, but got: padding (5, 5) "
                                          "at dimension 3 of input 4"),
              "got: %s", tconv_last_error());
    tconv_conv2d_params_init(&p, 4, 4, 1, 3);
    p.padding[0] = 3;
    p.padding[1] = 1;
    p.padding_mode = TCONV_PADDING_MODE_REFLECT;
    const int64_t in35[4] = {1, 4, 3, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, in35, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Argument #6: Padding size should be less than the "
                                          "corresponding input dimension, but got: padding (3, 3) "
                                          "at dimension 2 of input 4"),
              "got: %s", tconv_last_error());
    const int64_t e[4] = {1, 4, 0, 5};
    CHECK(tconv_conv2d_output_shape(&p, 4, e, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("3D or 4D (batch mode) tensor expected for input"));
    p.padding_mode = TCONV_PADDING_MODE_REPLICATE;
    CHECK(tconv_conv2d_output_shape(&p, 4, e, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Expected 3D or 4D (batch mode) tensor with possibly 0 "
                                          "batch size and other non-zero dimensions for input, "
                                          "but got: [1, 4, 0, 5]"),
              "got: %s", tconv_last_error());
    tconv_conv2d_params_init(&p, 4, 4, 3, 3);
    p.padding[0] = p.padding[1] = 6;
    p.padding_mode = TCONV_PADDING_MODE_CIRCULAR;
    CHECK(tconv_conv2d_output_shape(&p, 4, in, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(!strcmp(tconv_last_error(), "Padding value causes wrapping around more than once."));
    p.padding[0] = p.padding[1] = 5; /* == size: wraps exactly once, accepted */
    CHECK(tconv_conv2d_output_shape(&p, 4, in, out) == TCONV_OK);
    /* Zeros mode, empty spatial dim: the kernel-size message comes first, as PyTorch. */
    tconv_conv2d_params_init(&p, 4, 4, 1, 1);
    CHECK(tconv_conv2d_output_shape(&p, 4, e, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(!strcmp(tconv_last_error(), "Calculated padded input size per channel: (0 x 5). "
                                          "Kernel size: (1 x 1). Kernel size can't be greater "
                                          "than actual input size"),
              "got: %s", tconv_last_error());
    p.padding[0] = 1;
    CHECK(tconv_conv2d_output_shape(&p, 4, e, out) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("Only zero batch or zero channel inputs are supported"));
}

/* ---- Options and operator arguments ----------------------------------- */

static void test_options(void) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 4, 2, 3, 3);
    float w[72];
    tu_rng r;
    tu_rng_seed(&r, 3);
    tu_fill(&r, w, 72);
    tconv_options o;
    tconv_op *op = NULL;
    tconv_options_init(&o);
    CHECK(o.num_threads == 0 && o.layout == TCONV_LAYOUT_NCHW && o.impl == TCONV_IMPL_AUTO);
    o.num_threads = -1;
    CHECK(tconv_conv_transpose2d_create(&p, w, NULL, &o, &op) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("num_threads") && tu_err_has("-1"));
    tconv_options_init(&o);
    o.layout = (tconv_layout)5;
    CHECK(tconv_conv_transpose2d_create(&p, w, NULL, &o, &op) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("layout") && tu_err_has("5"));
    tconv_options_init(&o);
    o.impl = (tconv_impl)42;
    CHECK(tconv_conv_transpose2d_create(&p, w, NULL, &o, &op) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("42"));
    for (int i = TCONV_IMPL_REFERENCE; i <= TCONV_IMPL_AVX512; i++) {
        tconv_options_init(&o);
        o.impl = (tconv_impl)i;
        tconv_status st = tconv_conv_transpose2d_create(&p, w, NULL, &o, &op);
        if (tconv_impl_available((tconv_impl)i)) {
            CHECK_MSG(st == TCONV_OK, "impl %s available but create gave %d",
                      tconv_impl_name((tconv_impl)i), (int)st);
            if (st == TCONV_OK) {
                CHECK(tconv_op_impl(op) == (tconv_impl)i);
                tconv_op_destroy(op);
            }
        } else {
            CHECK(st == TCONV_ERROR_UNSUPPORTED);
            CHECK(tu_err_has(tconv_impl_name((tconv_impl)i)));
        }
        op = NULL;
    }
    CHECK(tconv_impl_available(TCONV_IMPL_REFERENCE));
    CHECK(tconv_best_impl() != TCONV_IMPL_AUTO && tconv_impl_available(tconv_best_impl()));
    CHECK(tconv_default_num_threads() >= 1);
    CHECK(tconv_conv_transpose2d_create(&p, NULL, NULL, NULL, &op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("weight"));
    CHECK(tconv_conv_transpose2d_create(&p, w, NULL, NULL, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d_create(NULL, w, NULL, NULL, &op) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    tconv_conv2d_params q;
    tconv_conv2d_params_init(&q, 4, 2, 3, 3);
    CHECK(tconv_conv2d_create(&q, NULL, NULL, NULL, &op) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv2d_create(&q, w, NULL, NULL, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv2d_create(NULL, w, NULL, NULL, &op) == TCONV_ERROR_INVALID_ARGUMENT);
    /* conv2d has no output_size */
    CHECK(tconv_conv2d_create(&q, w, NULL, NULL, &op) == TCONV_OK);
    const int64_t in[4] = {1, 4, 5, 5}, req[2] = {3, 3};
    int64_t out[4];
    CHECK(tconv_op_reshape(op, 4, in, req, 2, out, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tu_err_has("output_size"));
    tconv_op_destroy(op);
}

static void test_status_strings(void) {
    CHECK(!strcmp(tconv_status_string(TCONV_OK), "ok"));
    for (int s = 1; s <= 8; s++) CHECK(strcmp(tconv_status_string((tconv_status)s), "unknown status"));
    CHECK(!strcmp(tconv_status_string((tconv_status)99), "unknown status"));
    CHECK(!strcmp(tconv_impl_name(TCONV_IMPL_AVX512), "avx512"));
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", TCONV_VERSION_MAJOR, TCONV_VERSION_MINOR, TCONV_VERSION_PATCH);
    CHECK(!strcmp(tconv_version(), v));
    /* A successful call clears the previous message. */
    CHECK(tconv_conv_transpose2d_params_check(NULL) != TCONV_OK && tconv_last_error()[0]);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 1, 1, 1, 1);
    CHECK(tconv_conv_transpose2d_params_check(&p) == TCONV_OK && tconv_last_error()[0] == '\0');
}

int main(void) {
    test_ct_params();
    test_cv_params();
    test_ct_inputs();
    test_cv_inputs();
    test_options();
    test_status_strings();
    return tc_test_summary("test_validation");
}
