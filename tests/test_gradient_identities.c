/* Identities every gradient must satisfy, on random cases of both
 * operators (every parameter the op tester draws: groups, dilation,
 * padding kinds and modes, output_size, unbatched):
 *  - adjoint of the data pass:   <dy, F(x)>        = <x, backward_data(dy)>
 *  - adjoint of the weight pass: <dy, F(x; W)>     = <W, grad_weight(x, dy)>
 *  - the bias:                   <dy, F(x; W, b)> - <dy, F(x; W, 0)> = <b, grad_bias(dy)>
 * for every implementation (the forward is linear in x, in W and in b);
 * and a finite-difference check of the reference backward: central
 * differences of <dy, F> along random directions of x, W and b, computed
 * with the reference forward in double, against <grad, direction>. */
#include "check.h"
#include "op_tester.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tconv_status make_op(const ot_case *c, tconv_pass pass, const float *w, const float *b,
                            tconv_impl impl, tconv_op **op) {
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.num_threads = 2;
    if (c->conv2d)
        return pass == TCONV_PASS_FORWARD         ? tconv_conv2d_create(&c->cv, w, b, &o, op)
               : pass == TCONV_PASS_BACKWARD_DATA ? tconv_conv2d_backward_data_create(&c->cv, w, &o, op)
                                                  : tconv_conv2d_backward_weight_create(&c->cv, &o, op);
    return pass == TCONV_PASS_FORWARD ? tconv_conv_transpose2d_create(&c->ct, w, b, &o, op)
           : pass == TCONV_PASS_BACKWARD_DATA
               ? tconv_conv_transpose2d_backward_data_create(&c->ct, w, &o, op)
               : tconv_conv_transpose2d_backward_weight_create(&c->ct, &o, op);
}

typedef struct sizes {
    int64_t xn, yn, wn, cout;
} sizes;

/* Runs one pass; returns 0 on failure. */
static int run(const ot_case *c, tconv_pass pass, tconv_impl impl, const float *w, const float *b,
               const float *in0, const float *in1, float *out0, float *out1) {
    tconv_op *op = NULL;
    if (make_op(c, pass, w, b, impl, &op) != TCONV_OK) {
        CHECK_MSG(0, "create: %s", tconv_last_error());
        return 0;
    }
    int64_t os[4];
    size_t ws = 0;
    const int64_t *osz = c->has_output_size ? c->output_size : NULL;
    tconv_status st = tconv_op_reshape(op, c->ndim, c->in, osz, osz ? 2 : 0, os, &ws);
    void *wsp = ws ? malloc(ws) : NULL;
    if (st == TCONV_OK)
        st = pass == TCONV_PASS_FORWARD         ? tconv_op_run(op, in0, out0, wsp)
             : pass == TCONV_PASS_BACKWARD_DATA ? tconv_op_run_backward_data(op, in0, out0, wsp)
                                                : tconv_op_run_backward_weight(op, in0, in1, out0, out1, wsp);
    CHECK_MSG(st == TCONV_OK, "run: %s", tconv_last_error());
    free(wsp);
    tconv_op_destroy(op);
    return st == TCONV_OK;
}

static double worst_adj, worst_fd;

static void gap(const char *what, double lhs, double rhs, double scale, const char *impl, int t) {
    const double e = fabs(lhs - rhs) / (scale > 1.0 ? scale : 1.0);
    if (strstr(what, "finite")) {
        if (!(e <= worst_fd)) worst_fd = e;
        CHECK_MSG(e < 1e-5, "%s, case %d: %.9g vs %.9g", what, t, lhs, rhs);
    } else {
        if (!(e <= worst_adj)) worst_adj = e;
        CHECK_MSG(e < 1e-5, "%s %s, case %d: %.9g vs %.9g", what, impl, t, lhs, rhs);
    }
}

/* sum |a_i b_i| in double: the scale of a dot product's rounding */
static double abs_dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)a[i] * b[i]);
    return s;
}

static void run_case(const ot_case *c, int t, tu_rng *r, const tconv_impl *impls, int nimpl,
                     int *count) {
    /* sizes through the reference forward's reshape */
    tconv_op *ref = NULL;
    const int64_t wn = c->conv2d ? tu_cv_weight_numel(&c->cv) : tu_ct_weight_numel(&c->ct);
    const int64_t cout = c->conv2d ? c->cv.out_channels : c->ct.out_channels;
    float *w = tu_alloc(wn), *b = tu_alloc(cout);
    tu_fill(r, w, wn);
    tu_fill(r, b, cout);
    if (make_op(c, TCONV_PASS_FORWARD, w, NULL, TCONV_IMPL_REFERENCE, &ref) != TCONV_OK) {
        CHECK_MSG(0, "create: %s", tconv_last_error());
        free(w);
        free(b);
        return;
    }
    int64_t os[4];
    size_t ws;
    const int64_t *osz = c->has_output_size ? c->output_size : NULL;
    CHECK(tconv_op_reshape(ref, c->ndim, c->in, osz, osz ? 2 : 0, os, &ws) == TCONV_OK);
    tconv_op_destroy(ref);
    const int64_t xn = tu_numel(c->in, c->ndim), yn = tu_numel(os, c->ndim);
    float *x = tu_alloc(xn), *dy = tu_alloc(yn), *y = tu_alloc(yn), *y0 = tu_alloc(yn);
    float *dx = tu_alloc(xn), *dw = tu_alloc(wn), *db = tu_alloc(cout);
    tu_fill(r, x, xn);
    tu_fill(r, dy, yn);
    for (int i = 0; i < nimpl; i++) {
        const char *name = tconv_impl_name(impls[i]);
        /* F(x) without bias, F(x) with bias, the gradients */
        if (!run(c, TCONV_PASS_FORWARD, impls[i], w, NULL, x, NULL, y0, NULL) ||
            !run(c, TCONV_PASS_FORWARD, impls[i], w, b, x, NULL, y, NULL) ||
            !run(c, TCONV_PASS_BACKWARD_DATA, impls[i], w, NULL, dy, NULL, dx, NULL) ||
            !run(c, TCONV_PASS_BACKWARD_WEIGHT, impls[i], NULL, NULL, x, dy, dw, db))
            continue;
        const double f = tu_dot(dy, y0, yn), sf = abs_dot(dy, y0, yn);
        gap("data adjoint", f, tu_dot(x, dx, xn), sf, name, t);
        gap("weight adjoint", f, tu_dot(w, dw, wn), sf, name, t);
        /* the left side is a difference of two dot products: their scale */
        gap("bias", tu_dot(dy, y, yn) - f, tu_dot(b, db, cout), sf + abs_dot(b, db, cout), name, t);
        (*count)++;
        if (impls[i] != TCONV_IMPL_REFERENCE) continue;
        /* central differences of <dy, F> along random directions, h = 1/4 */
        const float h = 0.25f;
        float *xp = tu_alloc(xn), *wp = tu_alloc(wn), *bp = tu_alloc(cout);
        float *v = tu_alloc(xn > wn ? (xn > cout ? xn : cout) : (wn > cout ? wn : cout));
        float *yp = tu_alloc(yn), *ym = tu_alloc(yn);
        /* along x */
        tu_fill(r, v, xn);
        for (int64_t k = 0; k < xn; k++) xp[k] = x[k] + h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], w, NULL, xp, NULL, yp, NULL);
        for (int64_t k = 0; k < xn; k++) xp[k] = x[k] - h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], w, NULL, xp, NULL, ym, NULL);
        gap("finite differences (x)", (tu_dot(dy, yp, yn) - tu_dot(dy, ym, yn)) / (2 * h),
            tu_dot(dx, v, xn), abs_dot(dy, yp, yn) + abs_dot(dx, v, xn), name, t);
        /* along W */
        tu_fill(r, v, wn);
        for (int64_t k = 0; k < wn; k++) wp[k] = w[k] + h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], wp, NULL, x, NULL, yp, NULL);
        for (int64_t k = 0; k < wn; k++) wp[k] = w[k] - h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], wp, NULL, x, NULL, ym, NULL);
        gap("finite differences (W)", (tu_dot(dy, yp, yn) - tu_dot(dy, ym, yn)) / (2 * h),
            tu_dot(dw, v, wn), abs_dot(dy, yp, yn) + abs_dot(dw, v, wn), name, t);
        /* along b */
        tu_fill(r, v, cout);
        for (int64_t k = 0; k < cout; k++) bp[k] = b[k] + h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], w, bp, x, NULL, yp, NULL);
        for (int64_t k = 0; k < cout; k++) bp[k] = b[k] - h * v[k];
        run(c, TCONV_PASS_FORWARD, impls[i], w, bp, x, NULL, ym, NULL);
        gap("finite differences (b)", (tu_dot(dy, yp, yn) - tu_dot(dy, ym, yn)) / (2 * h),
            tu_dot(db, v, cout), abs_dot(dy, yp, yn) + abs_dot(db, v, cout), name, t);
        free(xp);
        free(wp);
        free(bp);
        free(v);
        free(yp);
        free(ym);
    }
    free(w);
    free(b);
    free(x);
    free(dy);
    free(y);
    free(y0);
    free(dx);
    free(dw);
    free(db);
}

int main(void) {
    tconv_impl impls[8];
    const int nimpl = tu_impls(impls);
    tu_rng r;
    tu_rng_seed(&r, 31337);
    int count = 0;
    for (int t = 0; t < 300; t++) {
        ot_case c;
        if (t % 2)
            ot_random_cv(&r, 0, &c);
        else
            ot_random_ct(&r, 0, &c);
        run_case(&c, t, &r, impls, nimpl, &count);
    }
    printf("gradient identities: %d case x impl runs, worst adjoint gap %.3g, worst finite "
           "difference gap %.3g\n",
           count, worst_adj, worst_fd);
    CHECK(count >= 300 * nimpl * 9 / 10);
    return tc_test_summary("test_gradient_identities");
}
