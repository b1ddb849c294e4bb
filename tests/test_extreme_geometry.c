/* test_extreme_geometry.c -- legal geometries whose stride or kernel is far
 * larger than the tensors: the planner must neither allocate nor loop in
 * proportion to them (the fuzzer once found reshape asking for 320 GiB for
 * a 1x1 input with stride 2^32 and no output channels), and every element
 * must still equal the reference kernel's.  Each case runs on every
 * implementation this machine has, NCHW, outputs poisoned with NaN. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tconv.h>

typedef struct xcase {
    const char *name;
    int64_t n, cin, cout, h, w, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups;
    const char *want_path; /* NULL: any */
} xcase;

static void run_case(const xcase *c, tconv_impl impl) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, c->cin, c->cout, c->kh, c->kw);
    p.stride[0] = c->sh, p.stride[1] = c->sw;
    p.padding[0] = c->ph, p.padding[1] = c->pw;
    p.output_padding[0] = c->oph, p.output_padding[1] = c->opw;
    p.dilation[0] = c->dh, p.dilation[1] = c->dw;
    p.groups = c->groups;
    CHECK_MSG(tconv_conv_transpose2d_params_check(&p) == TCONV_OK, "%s: %s", c->name,
              tconv_last_error());
    const int64_t wd[4] = {c->cin, c->cout / c->groups, c->kh, c->kw};
    const int64_t wn = tu_numel(wd, 4);
    tu_rng r;
    tu_rng_seed(&r, 77);
    float *w = tu_alloc(wn), *b = tu_alloc(c->cout);
    tu_fill(&r, w, wn);
    tu_fill(&r, b, c->cout);
    tconv_options opt;
    tconv_options_init(&opt);
    opt.impl = impl;
    opt.num_threads = 2;
    tconv_op *op = NULL;
    tconv_status st = tconv_conv_transpose2d_create(&p, w, b, &opt, &op);
    CHECK_MSG(st == TCONV_OK, "%s: create: %s", c->name, tconv_last_error());
    if (st) goto out;
    const int64_t in[4] = {c->n, c->cin, c->h, c->w};
    int64_t os[4], ref_shape[4];
    size_t ws = 0;
    st = tconv_op_reshape(op, 4, in, NULL, 0, os, &ws);
    CHECK_MSG(st == TCONV_OK, "%s: reshape: %s", c->name, tconv_last_error());
    if (st) goto out;
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, in, NULL, 0, ref_shape) == TCONV_OK &&
          !memcmp(os, ref_shape, sizeof os));
    if (c->want_path && impl != TCONV_IMPL_REFERENCE)
        CHECK_MSG(!strcmp(tconv_op_path(op), c->want_path), "%s: path %s, expected %s", c->name,
                  tconv_op_path(op), c->want_path);
    const int64_t xn = tu_numel(in, 4), yn = tu_numel(os, 4);
    CHECK_MSG(yn <= (1 << 20) && ws <= (size_t)(xn > 0 ? xn : 1) * sizeof(float),
              "%s: %lld outputs, workspace %zu", c->name, (long long)yn, ws);
    float *x = tu_alloc(xn), *y = tu_alloc(yn), *ref = tu_alloc(yn);
    void *wsp = ws ? tu_alloc((int64_t)(ws / sizeof(float)) + 1) : NULL;
    tu_fill(&r, x, xn);
    tu_poison(y, yn);
    tu_poison(ref, yn);
    CHECK_MSG(tconv_op_run(op, x, y, wsp) == TCONV_OK, "%s: run: %s", c->name, tconv_last_error());
    if (yn > 0) {
        CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, ref, yn) == TCONV_OK);
        const double e = tu_max_rel_err(y, ref, yn);
        CHECK_MSG(e <= 1e-5, "%s (impl %d, path %s): error %g", c->name, (int)impl,
                  tconv_op_path(op), e);
    }
    free(x);
    free(y);
    free(ref);
    free(wsp);
out:
    tconv_op_destroy(op);
    free(w);
    free(b);
}

/* conv2d: strides far beyond the input (the output is then one row or
 * column; the fuzzer found the phase-image sizes overflowing) and at the
 * edge of the phase-image limit; every element against the reference. */
static void conv2d_case(const char *name, int64_t h, int64_t w, int64_t k, int64_t sh, int64_t sw,
                        int64_t pad, tconv_padding_mode mode, tconv_impl impl, int64_t dil_w,
                        int64_t pad_w) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 3, 4, k, k);
    p.stride[0] = sh, p.stride[1] = sw;
    p.padding[0] = pad;
    p.padding[1] = pad_w < 0 ? pad : pad_w;
    p.dilation[1] = dil_w;
    if (pad < 0) { /* "same", the dilation given to the rows */
        p.padding_kind = TCONV_PADDING_SAME;
        p.padding[0] = p.padding[1] = 0;
        p.dilation[0] = dil_w;
        p.dilation[1] = 1;
    }
    p.padding_mode = mode;
    tu_rng r;
    tu_rng_seed(&r, 78);
    const int64_t wn = 4 * 3 * k * k, in[4] = {2, 3, h, w};
    float *wt = tu_alloc(wn), *b = tu_alloc(4);
    tu_fill(&r, wt, wn);
    tu_fill(&r, b, 4);
    tconv_options opt;
    tconv_options_init(&opt);
    opt.impl = impl;
    tconv_op *op = NULL;
    int64_t os[4];
    size_t ws = 0;
    if (tconv_conv2d_create(&p, wt, b, &opt, &op) != TCONV_OK ||
        tconv_op_reshape(op, 4, in, NULL, 0, os, &ws) != TCONV_OK) {
        CHECK_MSG(0, "%s: %s", name, tconv_last_error());
    } else {
        const int64_t xn = tu_numel(in, 4), yn = tu_numel(os, 4);
        float *x = tu_alloc(xn), *y = tu_alloc(yn), *ref = tu_alloc(yn);
        void *wsp = ws ? tu_alloc((int64_t)(ws / sizeof(float)) + 1) : NULL;
        tu_fill(&r, x, xn);
        tu_poison(y, yn);
        CHECK(ws <= (size_t)xn * 8 * sizeof(float));
        CHECK(tconv_op_run(op, x, y, wsp) == TCONV_OK);
        CHECK(tconv_reference_conv2d(&p, in, x, wt, b, ref, yn) == TCONV_OK);
        const double e = tu_max_rel_err(y, ref, yn);
        CHECK_MSG(e <= 1e-5, "%s (impl %d, path %s): error %g", name, (int)impl,
                  tconv_op_path(op), e);
        free(x);
        free(y);
        free(ref);
        free(wsp);
    }
    tconv_op_destroy(op);
    free(wt);
    free(b);
}

int main(void) {
    const int64_t big = (int64_t)1 << 32;
    const xcase cases[] = {
        /* the fuzzer's case: 1x1 input, stride 2^32, zero batch: an empty
         * output 1 x 28 x 12148002000 */
        {"stride 2^32, zero batch", 0, 2, 1, 1, 1, 5, 5, 6, big, 3, 2, 2, 3, 6, 3037000500, 1, NULL},
        {"stride 2^32 both, zero batch", 0, 2, 3, 1, 1, 3, 3, big, big, 0, 0, 0, 0, 1, 1, 1, NULL},
        /* stride far beyond the output: two input rows, padding crops all
         * but a few output rows */
        {"stride 2^40 cropped", 1, 3, 4, 2, 2, 3, 3, (int64_t)1 << 40, 3, ((int64_t)1 << 39) - 2, 0,
         0, 0, 1, 1, 1, "reference"},
        /* the largest strides the phase plan takes, and one beyond */
        {"stride 256 x 16", 1, 2, 3, 2, 3, 3, 2, 256, 16, 0, 0, 0, 0, 1, 1, 1, NULL},
        {"stride 300", 1, 2, 3, 2, 2, 2, 2, 300, 1, 0, 0, 0, 0, 1, 1, 1, "reference"},
        /* a tall kernel with a large stride: per-phase tap tables sized
         * stride x kernel would be 256 x 20000 pairs; the lists hold 20000 */
        {"kernel 20000 rows, stride 256", 1, 1, 2, 3, 2, 20000, 1, 256, 1, 9900, 0, 0, 0, 1, 1, 1,
         "phase"},
        /* dilated tall kernel: taps spread over many phases */
        {"kernel 4000 rows, dilation 7, stride 200", 1, 2, 2, 2, 2, 4000, 2, 200, 2, 13900, 0, 0, 0,
         7, 1, 1, NULL},
    };
    tconv_impl impls[8];
    const int ni = tu_impls(impls);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int k = 0; k < ni; k++) run_case(&cases[i], impls[k]);
    for (int k = 0; k < ni; k++) {
        conv2d_case("conv2d stride 2^62", 5, 6, 3, INT64_MAX - 1, ((int64_t)1 << 62), 1,
                    TCONV_PADDING_MODE_ZEROS, impls[k], 1, -1);
        conv2d_case("conv2d stride 2^62 reflect", 5, 6, 3, INT64_MAX - 1, 7, 2,
                    TCONV_PADDING_MODE_REFLECT, impls[k], 1, -1);
        conv2d_case("conv2d stride = padded input", 5, 6, 3, 7, 8, 1, TCONV_PADDING_MODE_ZEROS,
                    impls[k], 1, -1);
        conv2d_case("conv2d stride 64 x 64", 130, 129, 3, 64, 64, 1, TCONV_PADDING_MODE_CIRCULAR,
                    impls[k], 1, -1);
        conv2d_case("conv2d stride 65 x 64", 130, 129, 3, 65, 64, 1, TCONV_PADDING_MODE_ZEROS,
                    impls[k], 1, -1);
        /* the fuzzer's: replicate padding 2^58 wide, dilation 2^58 -- the
         * padded copy would be 2^59 columns for an output 8 wide */
        conv2d_case("conv2d replicate pad 2^58", 7, 8, 3, 1, 1, 1, TCONV_PADDING_MODE_REPLICATE,
                    impls[k], (int64_t)1 << 58, (int64_t)1 << 58);
        conv2d_case("conv2d replicate pad = width", 7, 8, 3, 1, 1, 1, TCONV_PADDING_MODE_REPLICATE,
                    impls[k], 4, 8);
        /* the fuzzer's: "same" with dilation 4.4e17 rows: every tap but the
         * centre's reads rows ~1e18 away (their offsets overflowed) */
        conv2d_case("conv2d same, dilation 4.4e17", 1, 9, 4, 1, 1, -1, TCONV_PADDING_MODE_ZEROS,
                    impls[k], 436729949538653071, -1);
    }
    return tc_test_summary("test_extreme_geometry");
}
