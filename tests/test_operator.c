/* Operator lifecycle against the public reference entry points, for every
 * implementation this machine has: run before reshape, reshape again with
 * other shapes, NULL pointers, exact-size workspaces, output capacity with a
 * canary, zero batch, unbatched input, NHWC == transposed NCHW, thread
 * counts, weights copied at create, tiles (and their packing) changing with
 * the batch. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#define TOL 1e-5
#define CANARY 4242.0f

/* Runs op (already created) on x of shape in (ndim 3/4), with a workspace of
 * exactly the reported size, poisoned output; returns the output (caller
 * frees) and its shape in out. */
static float *op_run(tconv_op *op, int ndim, const int64_t *in, const float *x,
                     const int64_t *osz, int osz_len, int64_t *out, tconv_status *st_out) {
    size_t ws = 12345;
    tconv_status st = tconv_op_reshape(op, ndim, in, osz, osz_len, out, &ws);
    *st_out = st;
    if (st) return NULL;
    int64_t n = tu_numel(out, ndim);
    float *y = tu_alloc(n);
    tu_poison(y, n);
    void *w = ws ? malloc(ws) : NULL; /* exact size: ASan catches an overrun */
    *st_out = tconv_op_run(op, x, y, w);
    free(w);
    return y;
}

static tconv_op *ct_create(const tconv_conv_transpose2d_params *p, const float *w, const float *b,
                           tconv_impl impl, tconv_layout layout, int threads) {
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.layout = layout;
    o.num_threads = threads;
    tconv_op *op = NULL;
    tconv_status st = tconv_conv_transpose2d_create(p, w, b, &o, &op);
    CHECK_MSG(st == TCONV_OK, "create: %s", tconv_last_error());
    return op;
}

static tconv_op *cv_create(const tconv_conv2d_params *p, const float *w, const float *b,
                           tconv_impl impl, tconv_layout layout, int threads) {
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.layout = layout;
    o.num_threads = threads;
    tconv_op *op = NULL;
    tconv_status st = tconv_conv2d_create(p, w, b, &o, &op);
    CHECK_MSG(st == TCONV_OK, "create: %s", tconv_last_error());
    return op;
}

static void test_lifecycle(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 100 + impl);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 6, 4, 3, 2);
    p.stride[0] = 2;
    p.padding[1] = 1;
    p.groups = 2;
    p.output_padding[0] = 1;
    float w[6 * 2 * 6], b[4];
    tu_fill(&r, w, 72);
    tu_fill(&r, b, 4);
    tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 1);
    if (!op) return;
    /* The operator owns copies: the caller's arrays may change. */
    float w_saved[72], b_saved[4];
    memcpy(w_saved, w, sizeof w);
    memcpy(b_saved, b, sizeof b);
    tu_fill(&r, w, 72);
    tu_fill(&r, b, 4);
    CHECK(!strcmp(tconv_op_path(op), "none"));
    CHECK(tconv_op_impl(op) == impl);
    float x0[1], y0[1];
    CHECK(tconv_op_run(op, x0, y0, NULL) == TCONV_ERROR_INVALID_STATE);
    CHECK(tu_err_has("before tconv_op_reshape"));
    /* Several shapes in a row, each checked against the reference. */
    const int64_t shapes[][4] = {{2, 6, 5, 4}, {1, 6, 1, 2}, {3, 6, 7, 9}, {1, 6, 2, 3}};
    for (int s = 0; s < 4; s++) {
        int64_t n = tu_numel(shapes[s], 4);
        float *x = tu_alloc(n);
        tu_fill(&r, x, n);
        int64_t out[4];
        tconv_status st;
        float *y = op_run(op, 4, shapes[s], x, NULL, 0, out, &st);
        CHECK_MSG(st == TCONV_OK, "run: %s", tconv_last_error());
        CHECK(strcmp(tconv_op_path(op), "none"));
        int64_t ref_shape[4];
        CHECK(tconv_conv_transpose2d_output_shape(&p, 4, shapes[s], NULL, 0, ref_shape) == 0);
        CHECK(!memcmp(out, ref_shape, sizeof out));
        int64_t yn = tu_numel(out, 4);
        float *ref = tu_alloc(yn);
        tu_poison(ref, yn);
        CHECK(tconv_reference_conv_transpose2d(&p, shapes[s], x, w_saved, b_saved, ref, yn) == 0);
        if (y) {
            double e = tu_max_rel_err(y, ref, yn);
            CHECK_MSG(e < TOL, "impl %s shape %d err %g", tconv_impl_name(impl), s, e);
        }
        /* Unbatched (C, H, W) of the first image == batched result's first image. */
        if (shapes[s][0] >= 1) {
            int64_t in3[3] = {shapes[s][1], shapes[s][2], shapes[s][3]}, out3[3];
            float *y3 = op_run(op, 3, in3, x, NULL, 0, out3, &st);
            CHECK(st == TCONV_OK && out3[0] == out[1] && out3[1] == out[2] && out3[2] == out[3]);
            if (y3) {
                double e = tu_max_rel_err(y3, ref, yn / out[0]);
                CHECK_MSG(e < TOL, "unbatched err %g", e);
            }
            free(y3);
        }
        free(ref);
        free(y);
        free(x);
    }
    /* output_size through reshape: requested size, checked against the reference
     * with the resolved output_padding. */
    {
        const int64_t in[4] = {1, 6, 4, 4}, req[2] = {8, 6};
        int64_t opd[2];
        tconv_conv_transpose2d_params q = p;
        q.output_padding[0] = q.output_padding[1] = 0;
        /* h range [(4-1)*2 + 2 + 1, +1] = [9, 10]; w range [3 - 2 + 1 + 1] = [3, 3] */
        const int64_t ok_req[2] = {10, 3};
        CHECK(tconv_conv_transpose2d_output_padding_for_size(&q, 4, in, ok_req, 2, opd) == 0);
        CHECK(opd[0] == 1 && opd[1] == 0);
        int64_t out[4] = {-1, -1, -1, -1};
        size_t ws;
        CHECK(tconv_op_reshape(op, 4, in, req, 2, out, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tu_err_has("requested an output size of [8, 6]"));
        CHECK(out[0] == -1);
        int64_t n = tu_numel(in, 4);
        float *x = tu_alloc(n);
        tu_fill(&r, x, n);
        tconv_status st;
        float *y = op_run(op, 4, in, x, ok_req, 2, out, &st);
        CHECK(st == TCONV_OK && out[2] == 10 && out[3] == 3);
        q.output_padding[0] = opd[0];
        q.output_padding[1] = opd[1];
        int64_t yn = tu_numel(out, 4);
        float *ref = tu_alloc(yn);
        CHECK(tconv_reference_conv_transpose2d(&q, in, x, w_saved, b_saved, ref, yn) == 0);
        if (y) CHECK(tu_max_rel_err(y, ref, yn) < TOL);
        free(y);
        free(ref);
        free(x);
    }
    /* NULL pointers and argument errors on a reshaped op. */
    {
        const int64_t in[4] = {1, 6, 3, 3};
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(NULL, 4, in, NULL, 0, out, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, NULL, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_reshape(op, 4, NULL, NULL, 0, out, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, NULL) == TCONV_OK); /* ws optional */
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        float x[54], y[6 * 4 * 7 * 4 + 16];
        tu_fill(&r, x, 54);
        void *wsp = ws ? malloc(ws) : NULL;
        CHECK(tconv_op_run(NULL, x, y, wsp) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_run(op, NULL, y, wsp) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tu_err_has("input"));
        CHECK(tconv_op_run(op, x, NULL, wsp) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tu_err_has("output"));
        if (ws) {
            CHECK(tconv_op_run(op, x, y, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
            CHECK(tu_err_has("workspace"));
        }
        /* In-place (overlapping) buffers are refused. */
        float *buf = tu_alloc(2000);
        tu_fill(&r, buf, 2000);
        CHECK(tconv_op_run(op, buf, buf + 10, wsp) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tu_err_has("overlap"));
        free(buf);
        free(wsp);
        CHECK(tconv_op_set_num_threads(op, -2) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_set_num_threads(NULL, 1) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_set_num_threads(op, 0) == TCONV_OK);
        /* A failed reshape (bad channels) leaves an error, and the op still
         * runs with a good reshape afterwards. */
        const int64_t bad[4] = {1, 5, 3, 3};
        CHECK(tconv_op_reshape(op, 4, bad, NULL, 0, out, &ws) == TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
    }
    tconv_op_destroy(op);
    tconv_op_destroy(NULL);
    CHECK(tconv_op_impl(NULL) == TCONV_IMPL_AUTO);
    CHECK(!strcmp(tconv_op_path(NULL), "none"));
}

/* A workspace overlapping the input or the output is refused (a strided
 * Conv2d: the fast paths' phase images need one); adjacent buffers run. */
static void test_workspace_overlap(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 11);
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 16, 16, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    float *w = tu_alloc(16 * 16 * 9);
    tu_fill(&r, w, 16 * 16 * 9);
    tconv_op *op = cv_create(&p, w, NULL, impl, TCONV_LAYOUT_NCHW, 1);
    if (op) {
        const int64_t in[4] = {2, 16, 12, 12};
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        if (impl != TCONV_IMPL_REFERENCE) CHECK_MSG(ws > 0, "%s: no workspace", tconv_impl_name(impl));
        if (ws) {
            const int64_t xn = 2 * 16 * 144, yn = 2 * 16 * 36, wn = (int64_t)(ws / sizeof(float)) + 16;
            float *buf = tu_alloc(xn + yn + wn);
            tu_fill(&r, buf, xn + yn + wn);
            float *x = buf, *y = buf + xn, *wsp = y + yn;
            CHECK(tconv_op_run(op, x, y, wsp) == TCONV_OK);
            CHECK(tconv_op_run(op, x, y, x + xn - 1) == TCONV_ERROR_INVALID_ARGUMENT);
            CHECK(tu_err_has("overlap"));
            CHECK(tconv_op_run(op, x, y, y + 5) == TCONV_ERROR_INVALID_ARGUMENT);
            CHECK(tu_err_has("overlap"));
            free(buf);
        }
        tconv_op_destroy(op);
    }
    free(w);
}

/* Zero batch: an empty output of the right shape, for op and one-call. */
static void test_zero_batch(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 7);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 4, 6, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    float w[4 * 6 * 9], b[6];
    tu_fill(&r, w, 216);
    tu_fill(&r, b, 6);
    tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 1);
    if (!op) return;
    const int64_t in[4] = {0, 4, 5, 5};
    int64_t out[4];
    size_t ws = 0;
    CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
    CHECK(out[0] == 0 && out[1] == 6 && out[2] == 11 && out[3] == 11);
    float canary[4] = {CANARY, CANARY, CANARY, CANARY};
    void *wsp = ws ? malloc(ws) : NULL;
    CHECK(tconv_op_run(op, NULL, NULL, wsp) == TCONV_OK); /* nothing to read or write */
    free(wsp);
    CHECK(canary[2] == CANARY && canary[3] == CANARY);
    tconv_op_destroy(op);
    int64_t oshape[4] = {-1, -1, -1, -1};
    float y[1] = {CANARY};
    CHECK(tconv_conv_transpose2d(&p, 4, in, NULL, w, b, NULL, 0, y, 0, oshape) == TCONV_OK);
    CHECK(oshape[0] == 0 && oshape[1] == 6 && oshape[2] == 11 && oshape[3] == 11);
    CHECK(y[0] == CANARY);
    tconv_conv2d_params q;
    tconv_conv2d_params_init(&q, 4, 6, 3, 3);
    q.padding_mode = TCONV_PADDING_MODE_REPLICATE;
    q.padding[0] = q.padding[1] = 1;
    float wq[6 * 4 * 9];
    tu_fill(&r, wq, 216);
    CHECK(tconv_conv2d(&q, 4, in, NULL, wq, NULL, y, 0, oshape) == TCONV_OK);
    CHECK(oshape[0] == 0 && oshape[1] == 6 && oshape[2] == 5 && oshape[3] == 5);
    CHECK(y[0] == CANARY);
}

/* One-call functions: too small a capacity fails and writes nothing; the
 * exact capacity works and writes nothing past it. */
static void test_capacity(void) {
    tu_rng r;
    tu_rng_seed(&r, 9);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 3, 2, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = 1;
    const int64_t in[4] = {2, 3, 4, 5};
    int64_t out[4];
    CHECK(tconv_conv_transpose2d_output_shape(&p, 4, in, NULL, 0, out) == TCONV_OK);
    const int64_t yn = tu_numel(out, 4), guard = 64;
    float x[120], w[54], b[2];
    tu_fill(&r, x, 120);
    tu_fill(&r, w, 54);
    tu_fill(&r, b, 2);
    float *y = tu_alloc(yn + guard);
    for (int64_t i = 0; i < yn + guard; i++) y[i] = CANARY;
    int64_t oshape[4] = {-1, -1, -1, -1};
    CHECK(tconv_conv_transpose2d(&p, 4, in, x, w, b, NULL, 0, y, yn - 1, oshape) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK_MSG(tu_err_has("needs") && tu_err_has("holds"), "got: %s", tconv_last_error());
    int untouched = 1;
    for (int64_t i = 0; i < yn + guard; i++) untouched &= y[i] == CANARY;
    CHECK(untouched);
    CHECK(oshape[0] == -1);
    CHECK(tconv_conv_transpose2d(&p, 4, in, x, w, b, NULL, 0, y, -5, oshape) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(tconv_conv_transpose2d(&p, 4, in, x, w, b, NULL, 0, y, yn, oshape) == TCONV_OK);
    CHECK(!memcmp(oshape, out, sizeof out));
    int guard_ok = 1;
    for (int64_t i = yn; i < yn + guard; i++) guard_ok &= y[i] == CANARY;
    CHECK(guard_ok);
    float *ref = tu_alloc(yn);
    CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, ref, yn) == TCONV_OK);
    CHECK(tu_max_rel_err(y, ref, yn) < TOL);
    /* the reference entry points check capacity too */
    float small[4] = {CANARY, CANARY, CANARY, CANARY};
    CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, small, 3) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    CHECK(small[0] == CANARY && small[3] == CANARY);
    CHECK(tconv_reference_conv_transpose2d(&p, in, NULL, w, b, ref, yn) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    /* Null input with a non-empty output. */
    CHECK(tconv_conv_transpose2d(&p, 4, in, NULL, w, b, NULL, 0, y, yn, oshape) ==
          TCONV_ERROR_INVALID_ARGUMENT);
    free(ref);
    free(y);

    tconv_conv2d_params q;
    tconv_conv2d_params_init(&q, 3, 4, 2, 3);
    q.padding_kind = TCONV_PADDING_SAME;
    q.padding_mode = TCONV_PADDING_MODE_CIRCULAR;
    float wq[4 * 3 * 6];
    tu_fill(&r, wq, 72);
    CHECK(tconv_conv2d_output_shape(&q, 4, in, out) == TCONV_OK);
    const int64_t qn = tu_numel(out, 4);
    y = tu_alloc(qn + guard);
    for (int64_t i = 0; i < qn + guard; i++) y[i] = CANARY;
    CHECK(tconv_conv2d(&q, 4, in, x, wq, NULL, y, qn - 1, oshape) == TCONV_ERROR_INVALID_ARGUMENT);
    untouched = 1;
    for (int64_t i = 0; i < qn + guard; i++) untouched &= y[i] == CANARY;
    CHECK(untouched);
    CHECK(tconv_conv2d(&q, 4, in, x, wq, NULL, y, qn, oshape) == TCONV_OK);
    guard_ok = 1;
    for (int64_t i = qn; i < qn + guard; i++) guard_ok &= y[i] == CANARY;
    CHECK(guard_ok);
    ref = tu_alloc(qn);
    CHECK(tconv_reference_conv2d(&q, in, x, wq, NULL, ref, qn) == TCONV_OK);
    CHECK(tu_max_rel_err(y, ref, qn) < TOL);
    free(ref);
    free(y);
}

/* NHWC in and out equals NCHW transposed, both operators, random parameters. */
static void test_nhwc(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 500 + impl);
    for (int t = 0; t < 30; t++) {
        int is_ct = t % 2 == 0;
        tconv_conv_transpose2d_params p;
        tconv_conv2d_params q;
        int64_t in[4], out[4];
        int64_t wn;
        if (is_ct) {
            tu_random_ct(&r, &p, in, 1);
            wn = tu_ct_weight_numel(&p);
        } else {
            tu_random_cv(&r, &q, in, 1);
            wn = tu_cv_weight_numel(&q);
        }
        int64_t cout = is_ct ? p.out_channels : q.out_channels;
        float *w = tu_alloc(wn), *b = tu_alloc(cout);
        tu_fill(&r, w, wn);
        tu_fill(&r, b, cout);
        const float *bias = t % 3 ? b : NULL;
        int64_t xn = tu_numel(in, 4);
        float *x = tu_alloc(xn), *xh = tu_alloc(xn);
        tu_fill(&r, x, xn);
        tu_nchw_to_nhwc(x, xh, in[0], in[1], in[2], in[3]);
        tconv_op *a = is_ct ? ct_create(&p, w, bias, impl, TCONV_LAYOUT_NCHW, 1)
                            : cv_create(&q, w, bias, impl, TCONV_LAYOUT_NCHW, 1);
        tconv_op *h = is_ct ? ct_create(&p, w, bias, impl, TCONV_LAYOUT_NHWC, 1)
                            : cv_create(&q, w, bias, impl, TCONV_LAYOUT_NHWC, 1);
        /* every fourth transposed case asks for an output_size in range */
        int64_t req[2], *osz = NULL;
        if (is_ct && t % 4 == 0) {
            tconv_conv_transpose2d_params z = p;
            z.output_padding[0] = z.output_padding[1] = 0;
            int64_t base[4];
            if (tconv_conv_transpose2d_output_shape(&z, 4, in, NULL, 0, base) == TCONV_OK) {
                req[0] = base[2] + tu_rng_int(&r, 0, p.stride[0] - 1);
                req[1] = base[3] + tu_rng_int(&r, 0, p.stride[1] - 1);
                osz = req;
            }
        }
        if (a && h) {
            tconv_status s1, s2;
            int64_t out2[4];
            float *ya = op_run(a, 4, in, x, osz, osz ? 2 : 0, out, &s1);
            float *yh = op_run(h, 4, in, xh, osz, osz ? 2 : 0, out2, &s2);
            if (osz) CHECK(s1 == TCONV_OK && out[2] == req[0] && out[3] == req[1]);
            CHECK(s1 == TCONV_OK && s2 == TCONV_OK && !memcmp(out, out2, sizeof out));
            if (ya && yh) {
                int64_t yn = tu_numel(out, 4);
                float *yt = tu_alloc(yn);
                tu_nhwc_to_nchw(yh, yt, out[0], out[1], out[2], out[3]);
                double e = tu_max_rel_err(yt, ya, yn);
                CHECK_MSG(e < TOL, "impl %s case %d (%s) NHWC err %g", tconv_impl_name(impl), t,
                          is_ct ? "ct" : "conv", e);
                /* unbatched (H, W, C) image 0 == batched NHWC image 0 */
                const int64_t in3[3] = {in[1], in[2], in[3]};
                int64_t out3[3];
                float *y3 = op_run(h, 3, in3, xh, osz, osz ? 2 : 0, out3, &s2);
                CHECK(s2 == TCONV_OK && out3[0] == out[1] && out3[1] == out[2] &&
                      out3[2] == out[3]);
                if (y3) {
                    e = tu_max_rel_err(y3, yh, yn / out[0]);
                    CHECK_MSG(e < TOL, "impl %s case %d unbatched NHWC err %g",
                              tconv_impl_name(impl), t, e);
                }
                free(y3);
                /* and NCHW agrees with the public reference */
                float *ref = tu_alloc(yn);
                tu_poison(ref, yn);
                tconv_conv_transpose2d_params pr = p;
                if (osz) { /* the reference takes output_padding: resolve it */
                    CHECK(tconv_conv_transpose2d_output_padding_for_size(&p, 4, in, osz, 2,
                                                                         pr.output_padding) ==
                          TCONV_OK);
                }
                tconv_status st = is_ct ? tconv_reference_conv_transpose2d(&pr, in, x, w, bias, ref, yn)
                                        : tconv_reference_conv2d(&q, in, x, w, bias, ref, yn);
                CHECK(st == TCONV_OK);
                e = tu_max_rel_err(ya, ref, yn);
                CHECK_MSG(e < TOL, "impl %s case %d NCHW vs reference err %g",
                          tconv_impl_name(impl), t, e);
                free(ref);
                free(yt);
            }
            free(ya);
            free(yh);
        }
        tconv_op_destroy(a);
        tconv_op_destroy(h);
        free(x);
        free(xh);
        free(w);
        free(b);
    }
}

/* Legal but extreme geometry: a stride far beyond the output (PyTorch
 * accepts stride 2^50 on a one-row input) runs and matches the reference. */
static void test_huge_stride(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 31);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 3, 4, 3, 2);
    p.stride[0] = (int64_t)1 << 50;
    p.stride[1] = 3;
    p.padding[1] = 1;
    const int64_t in[4] = {2, 3, 1, 5};
    float w[3 * 4 * 6], b[4], x[30];
    tu_fill(&r, w, 72);
    tu_fill(&r, b, 4);
    tu_fill(&r, x, 30);
    tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 2);
    if (!op) return;
    int64_t out[4];
    tconv_status st;
    float *y = op_run(op, 4, in, x, NULL, 0, out, &st);
    CHECK_MSG(st == TCONV_OK, "impl %s huge stride: %s", tconv_impl_name(impl),
              tconv_last_error());
    CHECK(out[2] == 3 && out[3] == 12);
    if (y && st == TCONV_OK) {
        int64_t yn = tu_numel(out, 4);
        float *ref = tu_alloc(yn);
        CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, ref, yn) == TCONV_OK);
        CHECK(tu_max_rel_err(y, ref, yn) < TOL);
        free(ref);
    }
    free(y);
    tconv_op_destroy(op);
}

/* A 1x1 input whose output is much larger than the kernel (dilation,
 * output_padding): most outputs are bias only; a dense 1x1 GEMM packing
 * would be output-sized.  Also the kernel-sized 1x1 case (the GEMM). */
static void test_1x1_inputs(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 41);
    for (int t = 0; t < 4; t++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, 6, 8, 3, 2);
        p.groups = t % 2 ? 2 : 1;
        if (t >= 2) {
            p.dilation[0] = 40;
            p.dilation[1] = 7;
            p.stride[1] = 9;
            p.output_padding[1] = 8;
            p.padding[0] = 3;
        }
        int64_t wn = tu_ct_weight_numel(&p);
        float *w = tu_alloc(wn), b[8], x[12];
        tu_fill(&r, w, wn);
        tu_fill(&r, b, 8);
        tu_fill(&r, x, 12);
        const int64_t in[4] = {2, 6, 1, 1};
        tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 2);
        if (op) {
            int64_t out[4];
            tconv_status st;
            float *y = op_run(op, 4, in, x, NULL, 0, out, &st);
            CHECK_MSG(st == TCONV_OK, "impl %s 1x1 case %d: %s", tconv_impl_name(impl), t,
                      tconv_last_error());
            if (y && st == TCONV_OK) {
                int64_t yn = tu_numel(out, 4);
                float *ref = tu_alloc(yn);
                CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, ref, yn) == TCONV_OK);
                double e = tu_max_rel_err(y, ref, yn);
                CHECK_MSG(e < TOL, "impl %s 1x1 case %d (path %s) err %g", tconv_impl_name(impl),
                          t, tconv_op_path(op), e);
                free(ref);
            }
            free(y);
            tconv_op_destroy(op);
        }
        free(w);
    }
}

/* One operator reshaped between a batch of one (the narrow channels-in-lanes
 * tiles) and a batch (the wide ones on AVX-512): each reshape repacks the
 * weights for its tiles, and new weights are packed for the tiles in use. */
static void test_tile_family_switch(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 77 + impl);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 24, 100, 4, 4);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t wn = tu_ct_weight_numel(&p);
    float *w = tu_alloc(wn), *w2 = tu_alloc(wn), b[100];
    tu_fill(&r, w, wn);
    tu_fill(&r, w2, wn);
    tu_fill(&r, b, 100);
    tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 2);
    const int64_t batches[] = {1, 12, 1, 12, 12};
    for (int s = 0; op && s < 5; s++) {
        if (s == 4) /* new weights while the wide tiles are planned */
            CHECK(tconv_op_set_weights(op, w2, b) == TCONV_OK);
        const float *ws = s == 4 ? w2 : w;
        const int64_t in[4] = {batches[s], 24, 3, 3};
        const int64_t xn = tu_numel(in, 4);
        float *x = tu_alloc(xn);
        tu_fill(&r, x, xn);
        int64_t out[4];
        tconv_status st;
        float *y = op_run(op, 4, in, x, NULL, 0, out, &st);
        CHECK_MSG(st == TCONV_OK, "run: %s", tconv_last_error());
        const char *path = tconv_op_path(op);
        if (impl == TCONV_IMPL_AVX512)
            CHECK_MSG(!strcmp(path, batches[s] > 1 ? "phase-cil-wide" : "phase-cil"),
                      "batch %lld: path %s", (long long)batches[s], path);
        const int64_t yn = tu_numel(out, 4);
        float *ref = tu_alloc(yn);
        tu_poison(ref, yn);
        CHECK(tconv_reference_conv_transpose2d(&p, in, x, ws, b, ref, yn) == TCONV_OK);
        if (y) {
            const double e = tu_max_rel_err(y, ref, yn);
            CHECK_MSG(e < TOL, "impl %s step %d (path %s) err %g", tconv_impl_name(impl), s, path, e);
        }
        free(ref);
        free(y);
        free(x);
    }
    tconv_op_destroy(op);
    free(w);
    free(w2);
}

/* Thread counts 1..4 give bit-identical results. */
static void test_threads(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 900 + impl);
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 8, 12, 4, 4);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    float *w = tu_alloc(8 * 12 * 16), b[12];
    tu_fill(&r, w, 8 * 12 * 16);
    tu_fill(&r, b, 12);
    const int64_t in[4] = {2, 8, 9, 7};
    float *x = tu_alloc(2 * 8 * 9 * 7);
    tu_fill(&r, x, 2 * 8 * 9 * 7);
    tconv_op *op = ct_create(&p, w, b, impl, TCONV_LAYOUT_NCHW, 1);
    if (op) {
        int64_t out[4];
        tconv_status st;
        float *y1 = op_run(op, 4, in, x, NULL, 0, out, &st);
        int64_t yn = tu_numel(out, 4);
        for (int t = 2; t <= 4; t++) {
            CHECK(tconv_op_set_num_threads(op, t) == TCONV_OK);
            float *yt = op_run(op, 4, in, x, NULL, 0, out, &st);
            CHECK(st == TCONV_OK);
            if (y1 && yt) CHECK_MSG(!memcmp(y1, yt, (size_t)yn * sizeof(float)),
                                    "impl %s threads %d differ", tconv_impl_name(impl), t);
            free(yt);
        }
        free(y1);
        tconv_op_destroy(op);
    }
    free(x);
    free(w);
}

int main(void) {
    tconv_impl impls[8];
    int n = tu_impls(impls);
    CHECK(n >= 1 && impls[0] == TCONV_IMPL_REFERENCE);
    for (int i = 0; i < n; i++) {
        test_lifecycle(impls[i]);
        test_zero_batch(impls[i]);
        test_nhwc(impls[i]);
        test_threads(impls[i]);
        test_huge_stride(impls[i]);
        test_1x1_inputs(impls[i]);
        test_workspace_overlap(impls[i]);
        test_tile_family_switch(impls[i]);
    }
    test_capacity();
    return tc_test_summary("test_operator");
}
