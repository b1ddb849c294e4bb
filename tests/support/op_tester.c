/* op_tester.c -- see op_tester.h. */
#include "op_tester.h"

#include "check.h"
#include "guarded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OT_TOL 1e-5

static const char *pass_name(tconv_pass p) {
    return p == TCONV_PASS_FORWARD ? "forward" : p == TCONV_PASS_BACKWARD_DATA ? "backward_data"
                                                                            : "backward_weight";
}

static tconv_status create(const ot_case *c, tconv_pass pass, const float *w, const float *b,
                           const tconv_options *o, tconv_op **op) {
    if (c->conv2d) {
        if (pass == TCONV_PASS_FORWARD) return tconv_conv2d_create(&c->cv, w, b, o, op);
        if (pass == TCONV_PASS_BACKWARD_DATA) return tconv_conv2d_backward_data_create(&c->cv, w, o, op);
        return tconv_conv2d_backward_weight_create(&c->cv, o, op);
    }
    if (pass == TCONV_PASS_FORWARD) return tconv_conv_transpose2d_create(&c->ct, w, b, o, op);
    if (pass == TCONV_PASS_BACKWARD_DATA)
        return tconv_conv_transpose2d_backward_data_create(&c->ct, w, o, op);
    return tconv_conv_transpose2d_backward_weight_create(&c->ct, o, op);
}

static void describe(const ot_case *c, char *buf, size_t cap) {
    const int64_t *s = c->in;
    if (c->conv2d) {
        const tconv_conv2d_params *p = &c->cv;
        snprintf(buf, cap,
                 "conv2d in[%d]=(%lld,%lld,%lld,%lld) Cout%lld k%lldx%lld s%lld,%lld p%lld,%lld "
                 "kind%d mode%d d%lld,%lld g%lld",
                 c->ndim, (long long)s[0], (long long)s[1], (long long)s[2],
                 (long long)(c->ndim == 4 ? s[3] : 0), (long long)p->out_channels,
                 (long long)p->kernel_size[0], (long long)p->kernel_size[1],
                 (long long)p->stride[0], (long long)p->stride[1], (long long)p->padding[0],
                 (long long)p->padding[1], (int)p->padding_kind, (int)p->padding_mode,
                 (long long)p->dilation[0], (long long)p->dilation[1], (long long)p->groups);
    } else {
        const tconv_conv_transpose2d_params *p = &c->ct;
        snprintf(buf, cap,
                 "conv_transpose2d in[%d]=(%lld,%lld,%lld,%lld) Cout%lld k%lldx%lld s%lld,%lld "
                 "p%lld,%lld op%lld,%lld d%lld,%lld g%lld%s",
                 c->ndim, (long long)s[0], (long long)s[1], (long long)s[2],
                 (long long)(c->ndim == 4 ? s[3] : 0), (long long)p->out_channels,
                 (long long)p->kernel_size[0], (long long)p->kernel_size[1],
                 (long long)p->stride[0], (long long)p->stride[1], (long long)p->padding[0],
                 (long long)p->padding[1], (long long)p->output_padding[0],
                 (long long)p->output_padding[1], (long long)p->dilation[0],
                 (long long)p->dilation[1], (long long)p->groups,
                 c->has_output_size ? " (output_size)" : "");
    }
}

/* (n, c, h, w) of a logical shape (3 or 4 entries). */
static void dims4(int ndim, const int64_t *s, int64_t d[4]) {
    d[0] = ndim == 4 ? s[0] : 1;
    d[1] = s[ndim - 3];
    d[2] = s[ndim - 2];
    d[3] = s[ndim - 1];
}

static void to_layout(const float *nchw, float *dst, const int64_t d[4], int nhwc) {
    if (nhwc)
        tu_nchw_to_nhwc(nchw, dst, d[0], d[1], d[2], d[3]);
    else
        memcpy(dst, nchw, (size_t)(d[0] * d[1] * d[2] * d[3]) * sizeof(float));
}

/* The data of one case: inputs and the reference results, NCHW. */
typedef struct ot_data {
    int64_t xd[4], yd[4], xn, yn, wn, bn;
    float *x, *w, *b, *dy;
    float *ref0, *ref1; /* forward: y; backward data: dx; backward weight: dw, db */
    int64_t n0, n1;
} ot_data;

/* Runs an operator of pass on guarded copies of the inputs in a layout;
 * out0/out1 receive the results (NCHW). */
static int run_once(const ot_case *c, tconv_pass pass, tconv_op *op, const ot_data *dt,
                    int nhwc, size_t wsb, int right, float *out0, float *out1, const float *base0,
                    const float *base1) {
    tg_buf in0, in1 = {0}, o0, o1 = {0}, ws = {0};
    int ok = 1;
    const int64_t *ind = pass == TCONV_PASS_BACKWARD_DATA ? dt->yd : dt->xd;
    const int64_t inn = pass == TCONV_PASS_BACKWARD_DATA ? dt->yn : dt->xn;
    in0 = tg_alloc(inn, right);
    to_layout(pass == TCONV_PASS_BACKWARD_DATA ? dt->dy : dt->x, in0.p, ind, nhwc);
    if (pass == TCONV_PASS_BACKWARD_WEIGHT) {
        in1 = tg_alloc(dt->yn, right);
        to_layout(dt->dy, in1.p, dt->yd, nhwc);
    }
    o0 = tg_alloc(dt->n0, right);
    if (pass == TCONV_PASS_BACKWARD_WEIGHT) o1 = tg_alloc(dt->n1, right);
    if (wsb) ws = tg_alloc_bytes(wsb, right);
    /* destinations: poisoned, or (accumulate) the given bases in layout */
    const int64_t *od = pass == TCONV_PASS_FORWARD ? dt->yd : dt->xd;
    if (base0) {
        if (pass == TCONV_PASS_BACKWARD_WEIGHT)
            memcpy(o0.p, base0, (size_t)dt->n0 * sizeof(float));
        else
            to_layout(base0, o0.p, od, nhwc);
        if (o1.p) memcpy(o1.p, base1, (size_t)dt->n1 * sizeof(float));
    } else {
        tu_poison(o0.p, dt->n0);
        if (o1.p) tu_poison(o1.p, dt->n1);
    }
    tconv_status st;
    if (pass == TCONV_PASS_FORWARD)
        st = tconv_op_run(op, in0.p, o0.p, ws.p);
    else if (pass == TCONV_PASS_BACKWARD_DATA)
        st = tconv_op_run_backward_data(op, in0.p, o0.p, ws.p);
    else
        st = tconv_op_run_backward_weight(op, in0.p, in1.p, o0.p, dt->b ? o1.p : NULL, ws.p);
    if (st != TCONV_OK) {
        CHECK_MSG(0, "run failed: %s", tconv_last_error());
        ok = 0;
    }
    if (pass == TCONV_PASS_BACKWARD_WEIGHT) {
        memcpy(out0, o0.p, (size_t)dt->n0 * sizeof(float));
        if (dt->b) memcpy(out1, o1.p, (size_t)dt->n1 * sizeof(float));
    } else if (nhwc) {
        tu_nhwc_to_nchw(o0.p, out0, od[0], od[1], od[2], od[3]);
    } else {
        memcpy(out0, o0.p, (size_t)dt->n0 * sizeof(float));
    }
    tg_free(&in0);
    tg_free(&in1);
    tg_free(&o0);
    tg_free(&o1);
    tg_free(&ws);
    return ok;
}

static void compare(const char *what, const float *got, const float *ref, int64_t n,
                    ot_stats *st, const char *desc, const char *impl, int nhwc, int t,
                    const char *path) {
    const double e = tu_max_rel_err(got, ref, n);
    if (e > st->worst && e < 1e30) st->worst = e;
    CHECK_MSG(e < OT_TOL, "%s %s %s t=%d path %s: err %g; %s", what, impl,
              nhwc ? "nhwc" : "nchw", t, path, e, desc);
}

void ot_run(const ot_case *c, tconv_pass pass, uint64_t seed, ot_stats *st) {
    char desc[400];
    describe(c, desc, sizeof desc);
    tu_rng r;
    tu_rng_seed(&r, seed);
    ot_data dt;
    memset(&dt, 0, sizeof dt);
    /* shapes through a reference operator (also checks the case is valid) */
    tconv_options ro;
    tconv_options_init(&ro);
    ro.impl = TCONV_IMPL_REFERENCE;
    tconv_op *ref = NULL;
    const int64_t wn = c->conv2d ? tu_cv_weight_numel(&c->cv) : tu_ct_weight_numel(&c->ct);
    const int64_t cout = c->conv2d ? c->cv.out_channels : c->ct.out_channels;
    /* weights and bias against guard pages too: create and set_weights
     * read exactly wn and cout floats */
    tg_buf wg = tg_alloc(wn, 1), bg = {0};
    dt.w = wg.p;
    dt.wn = wn;
    tu_fill(&r, dt.w, wn);
    /* the forward's bias; the weight pass's grad_bias (NULL when not) */
    const int with_bias = c->bias;
    if (with_bias) {
        bg = tg_alloc(cout, 0);
        dt.b = bg.p;
        tu_fill(&r, dt.b, cout);
    }
    dt.bn = cout;
    if (create(c, pass, dt.w, pass == TCONV_PASS_FORWARD ? dt.b : NULL, &ro, &ref) != TCONV_OK) {
        CHECK_MSG(0, "reference create failed: %s; %s", tconv_last_error(), desc);
        tg_free(&wg);
        tg_free(&bg);
        return;
    }
    int64_t oshape[4];
    size_t wsb = 0;
    const int64_t *osz = c->has_output_size ? c->output_size : NULL;
    if (tconv_op_reshape(ref, c->ndim, c->in, osz, osz ? 2 : 0, oshape, &wsb) != TCONV_OK) {
        CHECK_MSG(0, "reference reshape failed: %s; %s", tconv_last_error(), desc);
        tconv_op_destroy(ref);
        tg_free(&wg);
        tg_free(&bg);
        return;
    }
    dims4(c->ndim, c->in, dt.xd);
    dims4(c->ndim, oshape, dt.yd);
    dt.xn = tu_numel(dt.xd, 4);
    dt.yn = tu_numel(dt.yd, 4);
    dt.x = tu_alloc(dt.xn);
    dt.dy = tu_alloc(dt.yn);
    tu_fill(&r, dt.x, dt.xn);
    tu_fill(&r, dt.dy, dt.yn);
    dt.n0 = pass == TCONV_PASS_FORWARD ? dt.yn : pass == TCONV_PASS_BACKWARD_DATA ? dt.xn : wn;
    dt.n1 = pass == TCONV_PASS_BACKWARD_WEIGHT ? cout : 0;
    dt.ref0 = tu_alloc(dt.n0);
    dt.ref1 = tu_alloc(dt.n1);
    CHECK(run_once(c, pass, ref, &dt, 0, wsb, 1, dt.ref0, dt.ref1, NULL, NULL));
    tconv_op_destroy(ref);
    st->cases++;

    float *got0 = tu_alloc(dt.n0), *got1 = tu_alloc(dt.n1);
    float *first0 = tu_alloc(dt.n0), *first1 = tu_alloc(dt.n1);
    float *base0 = tu_alloc(dt.n0), *base1 = tu_alloc(dt.n1);
    float *exp0 = tu_alloc(dt.n0), *exp1 = tu_alloc(dt.n1);
    tconv_impl impls[8];
    const int nimpl = tu_impls(impls);
    for (int i = 0; i < nimpl; i++)
        for (int nhwc = 0; nhwc < 2; nhwc++) {
            const char *iname = tconv_impl_name(impls[i]);
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.layout = nhwc ? TCONV_LAYOUT_NHWC : TCONV_LAYOUT_NCHW;
            tconv_op *op = NULL;
            if (create(c, pass, dt.w, pass == TCONV_PASS_FORWARD ? dt.b : NULL, &o, &op) !=
                TCONV_OK) {
                CHECK_MSG(0, "%s create failed: %s; %s", iname, tconv_last_error(), desc);
                continue;
            }
            int64_t os[4];
            CHECK(tconv_op_reshape(op, c->ndim, c->in, osz, osz ? 2 : 0, os, &wsb) == TCONV_OK);
            CHECK(!memcmp(os, oshape, (size_t)c->ndim * sizeof(int64_t)));
            const char *path = tconv_op_path(op);
            if (impls[i] != TCONV_IMPL_REFERENCE && strcmp(path, "reference") != 0)
                st->fast_runs++;
            const char *want = nhwc ? c->expect_path_nhwc : c->expect_path;
            if (want && impls[i] == tconv_best_impl())
                CHECK_MSG(!strcmp(path, want), "%s %s %s: path %s, expected %s; %s",
                          pass_name(pass), iname, nhwc ? "NHWC" : "NCHW", path, want, desc);
            /* the reference kernel runs on one thread whatever it is asked */
            const int tmax = impls[i] == TCONV_IMPL_REFERENCE ? 1 : 4;
            for (int t = 1; t <= tmax; t++) {
                CHECK(tconv_op_set_num_threads(op, t) == TCONV_OK);
                run_once(c, pass, op, &dt, nhwc, wsb, t != 1, got0, got1, NULL, NULL);
                st->runs++;
                compare(pass_name(pass), got0, dt.ref0, dt.n0, st, desc, iname, nhwc, t, path);
                if (dt.n1 && dt.b) compare("grad_bias", got1, dt.ref1, dt.n1, st, desc, iname, nhwc, t, path);
                if (t == 1) {
                    memcpy(first0, got0, (size_t)dt.n0 * sizeof(float));
                    memcpy(first1, got1, (size_t)dt.n1 * sizeof(float));
                } else {
                    CHECK_MSG(!memcmp(first0, got0, (size_t)dt.n0 * sizeof(float)) &&
                                  !memcmp(first1, got1, (size_t)dt.n1 * sizeof(float)),
                              "%s %s %s: %d threads differ from 1 thread; %s", pass_name(pass),
                              iname, nhwc ? "nhwc" : "nchw", t, desc);
                }
            }
            /* a fused activation: exactly the unfused output through
             * tconv_relu / leaky_relu / tanh / sigmoid */
            if (pass == TCONV_PASS_FORWARD) {
                const tconv_activation a = (tconv_activation)(1 + (int)(seed % 4));
                const float alpha = 0.2f;
                CHECK(tconv_op_set_num_threads(op, 2) == TCONV_OK);
                CHECK(tconv_op_set_activation(op, a, alpha) == TCONV_OK);
                run_once(c, pass, op, &dt, nhwc, wsb, 1, got0, got1, NULL, NULL);
                float *want = tu_alloc(dt.n0);
                const tconv_status as =
                    a == TCONV_ACTIVATION_RELU         ? tconv_relu(first0, want, dt.n0)
                    : a == TCONV_ACTIVATION_LEAKY_RELU ? tconv_leaky_relu(first0, want, dt.n0, alpha)
                    : a == TCONV_ACTIVATION_TANH       ? tconv_tanh(first0, want, dt.n0)
                                                       : tconv_sigmoid(first0, want, dt.n0);
                CHECK(as == TCONV_OK);
                CHECK_MSG(!memcmp(want, got0, (size_t)dt.n0 * sizeof(float)),
                          "%s %s: activation %d fused differs from applied afterwards; %s", iname,
                          nhwc ? "nhwc" : "nchw", (int)a, desc);
                CHECK(tconv_op_set_activation(op, TCONV_ACTIVATION_NONE, 0.0f) == TCONV_OK);
                free(want);
                st->runs++;
            }
            /* new weights through tconv_op_set_weights: the reference's
             * result for them (packed in place, same reshape) */
            if (pass != TCONV_PASS_BACKWARD_WEIGHT && !nhwc) {
                tg_buf w2g = tg_alloc(wn, 0), b2g = dt.b ? tg_alloc(cout, 1) : (tg_buf){0};
                float *w2 = w2g.p, *b2 = b2g.p;
                tu_fill(&r, w2, wn);
                if (b2) tu_fill(&r, b2, cout);
                tconv_op *ref2 = NULL;
                const float *bb = pass == TCONV_PASS_FORWARD ? b2 : NULL;
                CHECK(create(c, pass, w2, bb, &ro, &ref2) == TCONV_OK);
                size_t wsr = 0;
                CHECK(tconv_op_reshape(ref2, c->ndim, c->in, osz, osz ? 2 : 0, os, &wsr) == TCONV_OK);
                float *ref2o = tu_alloc(dt.n0);
                run_once(c, pass, ref2, &dt, 0, wsr, 1, ref2o, got1, NULL, NULL);
                tconv_op_destroy(ref2);
                CHECK_MSG(tconv_op_set_weights(op, w2, bb) == TCONV_OK, "%s set_weights: %s", iname,
                          tconv_last_error());
                run_once(c, pass, op, &dt, 0, wsb, 1, got0, got1, NULL, NULL);
                st->runs++;
                compare("set_weights", got0, ref2o, dt.n0, st, desc, iname, 0, 2, path);
                free(ref2o);
                tg_free(&w2g);
                tg_free(&b2g);
            }
            tconv_op_destroy(op);
            if (pass == TCONV_PASS_FORWARD) continue;
            /* accumulate: destination + gradient */
            o.accumulate = 1;
            o.num_threads = 2;
            if (create(c, pass, dt.w, NULL, &o, &op) != TCONV_OK) {
                CHECK_MSG(0, "%s create (accumulate) failed: %s", iname, tconv_last_error());
                continue;
            }
            CHECK(tconv_op_reshape(op, c->ndim, c->in, osz, osz ? 2 : 0, os, &wsb) == TCONV_OK);
            tu_fill(&r, base0, dt.n0);
            tu_fill(&r, base1, dt.n1);
            for (int64_t k = 0; k < dt.n0; k++) exp0[k] = base0[k] + dt.ref0[k];
            for (int64_t k = 0; k < dt.n1; k++) exp1[k] = base1[k] + dt.ref1[k];
            run_once(c, pass, op, &dt, nhwc, wsb, 1, got0, got1, base0, base1);
            st->runs++;
            compare("accumulate", got0, exp0, dt.n0, st, desc, iname, nhwc, 2, tconv_op_path(op));
            if (dt.n1 && dt.b) compare("accumulate grad_bias", got1, exp1, dt.n1, st, desc, iname, nhwc, 2, tconv_op_path(op));
            tconv_op_destroy(op);
        }
    free(got0);
    free(got1);
    free(first0);
    free(first1);
    free(base0);
    free(base1);
    free(exp0);
    free(exp1);
    free(dt.x);
    tg_free(&wg);
    tg_free(&bg);
    free(dt.dy);
    free(dt.ref0);
    free(dt.ref1);
}

static int64_t pick(tu_rng *r, const int64_t *v, int n) { return v[tu_rng_int(r, 0, n - 1)]; }

static void maybe_unbatch(tu_rng *r, ot_case *c) {
    if (c->in[0] == 1 && tu_rng_int(r, 0, 5) == 0) { /* unbatched (C, H, W) */
        c->ndim = 3;
        memmove(c->in, c->in + 1, 3 * sizeof(int64_t));
    }
}

void ot_random_ct(tu_rng *r, int big, ot_case *c) {
    for (;;) {
        memset(c, 0, sizeof *c);
        tconv_conv_transpose2d_params *p = &c->ct;
        const int64_t G = tu_rng_int(r, 0, 4) == 0 ? tu_rng_int(r, 2, 3) : 1;
        static const int64_t odd_c[] = {1, 1, 2, 3, 3, 4, 5, 7, 12, 13, 16, 17};
        const int64_t cig = big ? tu_rng_int(r, 8, 40) : pick(r, odd_c, 12);
        const int64_t cog = big ? tu_rng_int(r, 1, 40) : pick(r, odd_c, 12);
        tconv_conv_transpose2d_params_init(p, cig * G, cog * G, tu_rng_int(r, 1, 5),
                                           tu_rng_int(r, 1, 5));
        p->groups = G;
        for (int d = 0; d < 2; d++) {
            const int64_t k = p->kernel_size[d];
            p->stride[d] = tu_rng_int(r, 0, 2) ? 2 : tu_rng_int(r, 1, 5); /* > kernel too */
            p->dilation[d] = tu_rng_int(r, 0, 3) ? 1 : tu_rng_int(r, 2, 3);
            const int64_t span = p->dilation[d] * (k - 1);
            p->padding[d] = tu_rng_int(r, 0, 4) ? tu_rng_int(r, 0, span) : tu_rng_int(r, 0, span + 6);
            const int64_t mx = p->stride[d] > p->dilation[d] ? p->stride[d] : p->dilation[d];
            p->output_padding[d] = tu_rng_int(r, 0, 2) ? 0 : tu_rng_int(r, 0, mx - 1);
        }
        static const int64_t sizes[] = {1, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31};
        c->ndim = 4;
        c->in[0] = tu_rng_int(r, 1, big ? 2 : 3);
        c->in[1] = p->in_channels;
        if (tu_rng_int(r, 0, 7) == 0) {
            c->in[2] = c->in[3] = 1; /* 1x1 input: the GEMM path */
        } else if (big) {
            c->in[2] = tu_rng_int(r, 1, 36);
            c->in[3] = tu_rng_int(r, 1, 40);
        } else {
            c->in[2] = pick(r, sizes, 12);
            c->in[3] = pick(r, sizes, 12);
        }
        c->bias = tu_rng_int(r, 0, 3) != 0;
        maybe_unbatch(r, c);
        int64_t out[4];
        if (tconv_conv_transpose2d_params_check(p) != TCONV_OK ||
            tconv_conv_transpose2d_output_shape(p, c->ndim, c->in, NULL, 0, out) != TCONV_OK)
            continue;
        /* sometimes the size through output_size (output_padding then ignored) */
        if (tu_rng_int(r, 0, 7) == 0) {
            tconv_conv_transpose2d_params q = *p;
            q.output_padding[0] = q.output_padding[1] = 0;
            int64_t base[4];
            if (tconv_conv_transpose2d_output_shape(&q, c->ndim, c->in, NULL, 0, base) != TCONV_OK)
                continue;
            for (int d = 0; d < 2; d++) {
                const int64_t mx = p->stride[d] > p->dilation[d] ? p->stride[d] : p->dilation[d];
                c->output_size[d] = base[c->ndim - 2 + d] + tu_rng_int(r, 0, mx - 1);
            }
            c->has_output_size = 1;
            c->ct = q;
            if (tconv_conv_transpose2d_output_shape(&q, c->ndim, c->in, c->output_size, 2, out) !=
                TCONV_OK)
                continue;
        }
        return;
    }
}

void ot_random_cv(tu_rng *r, int big, ot_case *c) {
    for (;;) {
        memset(c, 0, sizeof *c);
        tconv_conv2d_params *p = &c->cv;
        c->conv2d = 1;
        const int64_t G = tu_rng_int(r, 0, 4) == 0 ? tu_rng_int(r, 2, 3) : 1;
        static const int64_t ch[] = {1, 2, 3, 4, 5, 8, 12, 16, 17, 24, 33};
        const int64_t cig = big ? tu_rng_int(r, 8, 40) : pick(r, ch, 11);
        const int64_t cog = big ? tu_rng_int(r, 8, 40) : pick(r, ch, 11);
        tconv_conv2d_params_init(p, cig * G, cog * G, tu_rng_int(r, 1, 5), tu_rng_int(r, 1, 5));
        p->groups = G;
        /* stride 1 or 2 mostly, up to 4 and asymmetric sometimes */
        const int64_t s = tu_rng_int(r, 0, 2) == 0 ? 2 : tu_rng_int(r, 0, 3) ? 1 : tu_rng_int(r, 3, 4);
        p->stride[0] = s;
        p->stride[1] = tu_rng_int(r, 0, 4) ? s : tu_rng_int(r, 1, 3);
        for (int d = 0; d < 2; d++) {
            p->dilation[d] = tu_rng_int(r, 0, 3) ? 1 : tu_rng_int(r, 2, 3);
            const int64_t reach = p->dilation[d] * (p->kernel_size[d] - 1);
            /* mostly within the kernel's reach, sometimes beyond it */
            p->padding[d] = tu_rng_int(r, 0, 5) ? tu_rng_int(r, 0, reach) : reach + tu_rng_int(r, 1, 3);
        }
        const int kind = (int)tu_rng_int(r, 0, 5);
        p->padding_kind = kind == 4 && s == 1 && p->stride[1] == 1 ? TCONV_PADDING_SAME
                          : kind == 5                              ? TCONV_PADDING_VALID
                                                                   : TCONV_PADDING_EXPLICIT;
        const int mode = (int)tu_rng_int(r, 0, 7);
        p->padding_mode = mode < 4 ? TCONV_PADDING_MODE_ZEROS : (tconv_padding_mode)(mode - 4);
        c->ndim = 4;
        c->in[0] = tu_rng_int(r, 1, big ? 2 : 3);
        c->in[1] = p->in_channels;
        static const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 40};
        if (tu_rng_int(r, 0, 9) == 0) {
            c->in[2] = c->in[3] = 1;
        } else if (big) {
            c->in[2] = tu_rng_int(r, 4, 36);
            c->in[3] = tu_rng_int(r, 4, 40);
        } else {
            c->in[2] = pick(r, sizes, 12);
            c->in[3] = pick(r, sizes, 12);
        }
        c->bias = tu_rng_int(r, 0, 3) != 0;
        maybe_unbatch(r, c);
        int64_t out[4];
        if (tconv_conv2d_params_check(p) == TCONV_OK &&
            tconv_conv2d_output_shape(p, c->ndim, c->in, out) == TCONV_OK)
            return;
    }
}

ot_case ot_ct_case(const int64_t s[14]) {
    ot_case c;
    memset(&c, 0, sizeof c);
    tconv_conv_transpose2d_params_init(&c.ct, s[1], s[4], s[5], s[6]);
    c.ct.stride[0] = s[7];
    c.ct.stride[1] = s[8];
    c.ct.padding[0] = s[9];
    c.ct.padding[1] = s[10];
    c.ct.output_padding[0] = s[11];
    c.ct.output_padding[1] = s[12];
    c.ct.groups = s[13];
    c.ndim = 4;
    c.in[0] = s[0];
    c.in[1] = s[1];
    c.in[2] = s[2];
    c.in[3] = s[3];
    c.bias = 1;
    return c;
}

ot_case ot_cv_case(const int64_t s[12]) {
    ot_case c;
    memset(&c, 0, sizeof c);
    c.conv2d = 1;
    tconv_conv2d_params_init(&c.cv, s[1], s[4], s[5], s[6]);
    c.cv.stride[0] = s[7];
    c.cv.stride[1] = s[8];
    c.cv.padding[0] = s[9];
    c.cv.padding[1] = s[10];
    c.cv.groups = s[11];
    c.ndim = 4;
    c.in[0] = s[0];
    c.in[1] = s[1];
    c.in[2] = s[2];
    c.in[3] = s[3];
    c.bias = 1;
    return c;
}

void ot_report(const char *name, const ot_stats *st) {
    printf("%s: %lld cases, %lld runs (%lld operators on fast paths), worst rel err %.3g\n", name,
           (long long)st->cases, (long long)st->runs, (long long)st->fast_runs, st->worst);
}
