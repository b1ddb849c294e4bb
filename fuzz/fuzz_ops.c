/* fuzz_ops.c -- libFuzzer target for the fast paths: bytes -> a small
 * conv_transpose2d or conv2d (every parameter varied within bounds that
 * keep one input fast), one pass (forward, backward data, backward
 * weight), a forced implementation (portable, AVX2, AVX-512 where the CPU
 * has it), layout, accumulate, bias, output_mask, unbatched inputs and
 * output_size -- then create + reshape + run on real tensors, compared
 * with the same operator on the reference implementation.
 *
 * Traps (beyond ASan / UBSan reports) when:
 *  - the forced implementation and the reference disagree on create or
 *    reshape (status, output shape), or on a result beyond float rounding;
 *  - a run leaves an output element unwritten (outputs are NaN-poisoned);
 *  - one and two threads give different bits;
 *  - a reshape to another shape and a second run break any of the above.
 * Buffers are exact-size mallocs, so ASan sees any read or write past them. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct src {
    const uint8_t *p;
    size_t n;
} src;

static unsigned byte(src *s) {
    if (!s->n) return 0;
    s->n--;
    return *s->p++;
}

/* lo + (a byte mod the range): small values, every one reachable. */
static int64_t pick(src *s, int64_t lo, int64_t hi) { return lo + (int64_t)(byte(s) % (unsigned)(hi - lo + 1)); }

static void must(int cond) {
    if (!cond) __builtin_trap();
}

static int64_t numel(const int64_t *d, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++) r *= d[i];
    return r;
}

/* Values k/8 for small integers k: exact in float, sums of a few hundred
 * of them stay exact enough that any real difference shows. */
static void fill(float *a, int64_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        a[i] = (float)((int)((x >> 24) % 17) - 8) / 8.0f;
    }
}

static float *alloc(int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) abort();
    return p;
}

static void poison(float *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) a[i] = NAN;
}

/* Every value is k/8 for a small integer k, so every product is a
 * multiple of 1/64 and every partial sum of fewer than 2^18 of them is
 * exact in float32: whatever the order of summation, the fast paths must
 * give the reference's result exactly.  Every element written (no NaN). */
static void same_values(const float *got, const float *ref, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        must(!isnan(got[i]));
        must(got[i] == ref[i]);
    }
}

typedef struct problem {
    int conv2d;
    tconv_pass pass;
    tconv_conv_transpose2d_params ct;
    tconv_conv2d_params cv;
    tconv_options opt;
    int bias, ndim, mask; /* mask: backward weight, bit 0 grad_weight, bit 1 grad_bias */
    int64_t in[4];
    int64_t osz[2];
    int has_osz;
} problem;

static tconv_status create(const problem *pb, tconv_impl impl, const float *w, const float *b,
                           tconv_op **op) {
    tconv_options o = pb->opt;
    o.impl = impl;
    if (!pb->conv2d) {
        switch (pb->pass) {
        case TCONV_PASS_FORWARD: return tconv_conv_transpose2d_create(&pb->ct, w, b, &o, op);
        case TCONV_PASS_BACKWARD_DATA:
            return tconv_conv_transpose2d_backward_data_create(&pb->ct, w, &o, op);
        default: return tconv_conv_transpose2d_backward_weight_create(&pb->ct, &o, op);
        }
    }
    switch (pb->pass) {
    case TCONV_PASS_FORWARD: return tconv_conv2d_create(&pb->cv, w, b, &o, op);
    case TCONV_PASS_BACKWARD_DATA: return tconv_conv2d_backward_data_create(&pb->cv, w, &o, op);
    default: return tconv_conv2d_backward_weight_create(&pb->cv, &o, op);
    }
}

/* The run of a pass: a = x (forward, backward weight) or dy (backward
 * data), b = dy (backward weight); r1 = y / dx / dw, r2 = db. */
static tconv_status run(tconv_op *op, tconv_pass pass, const float *a, const float *b, float *r1,
                        float *r2, void *ws) {
    switch (pass) {
    case TCONV_PASS_FORWARD: return tconv_op_run(op, a, r1, ws);
    case TCONV_PASS_BACKWARD_DATA: return tconv_op_run_backward_data(op, a, r1, ws);
    default: return tconv_op_run_backward_weight(op, a, b, r1, r2, ws);
    }
}

#define MAX_ELEMS 6000 /* any tensor (so any sum has fewer than 2^18 terms) */
#define MAX_WORK 300000 /* multiply-adds of one run */

/* Reshapes both operators to `in`, runs both, compares.  Returns 0 when the
 * shape is refused (by both) or too large to run. */
static int check_shape(const problem *pb, tconv_op *fast, tconv_op *ref, const int64_t *in,
                       int64_t wn, int64_t cout, int64_t taps, uint32_t seed) {
    /* (taps: multiply-adds per element of the larger tensor) */
    const int nd = pb->ndim;
    const int64_t *osz = pb->has_osz ? pb->osz : NULL;
    int64_t out_f[4] = {0}, out_r[4] = {0};
    size_t ws_f = 0, ws_r = 0;
    tconv_status sf = tconv_op_reshape(fast, nd, in, osz, osz ? 2 : 0, out_f, &ws_f);
    tconv_status sr = tconv_op_reshape(ref, nd, in, osz, osz ? 2 : 0, out_r, &ws_r);
    must(sf == sr);
    if (sf != TCONV_OK) {
        /* a refused reshape leaves the operator refusing runs */
        float dummy = 0;
        must(run(fast, pb->pass, &dummy, &dummy, &dummy, &dummy, NULL) == TCONV_ERROR_INVALID_STATE);
        return 0;
    }
    must(!memcmp(out_f, out_r, (size_t)nd * sizeof out_f[0]));
    const int64_t xn = numel(in, nd), yn = numel(out_f, nd);
    const int64_t n_batch = nd == 4 ? in[0] : 1;
    if (xn > MAX_ELEMS || yn > MAX_ELEMS || wn > MAX_ELEMS) return 0;
    if (yn * taps > MAX_WORK || xn * taps > MAX_WORK || ws_f > ((size_t)1 << 24)) return 0;
    (void)n_batch;
    int64_t an, bn = 0, r1n, r2n = 0;
    switch (pb->pass) {
    case TCONV_PASS_FORWARD: an = xn, r1n = yn; break;
    case TCONV_PASS_BACKWARD_DATA: an = yn, r1n = xn; break;
    default: an = xn, bn = yn, r1n = wn, r2n = cout; break;
    }
    float *a = alloc(an), *b = alloc(bn);
    float *f1 = alloc(r1n), *f2 = alloc(r2n), *g1 = alloc(r1n), *g2 = alloc(r2n);
    float *e1 = alloc(r1n), *e2 = alloc(r2n);
    void *wsf = ws_f ? malloc(ws_f) : NULL, *wsr = ws_r ? malloc(ws_r) : NULL;
    fill(a, an, seed);
    fill(b, bn, seed + 1);
    const int acc = pb->opt.accumulate;
    float *r1 = pb->pass == TCONV_PASS_BACKWARD_WEIGHT && !(pb->mask & 1) ? NULL : f1;
    float *r2 = pb->pass == TCONV_PASS_BACKWARD_WEIGHT && (pb->mask & 2) ? f2 : NULL;
    /* reference */
    if (acc) {
        fill(e1, r1n, seed + 2);
        fill(e2, r2n, seed + 3);
    } else {
        poison(e1, r1n);
        poison(e2, r2n);
    }
    must(run(ref, pb->pass, a, b, r1 ? e1 : NULL, r2 ? e2 : NULL, wsr) == TCONV_OK);
    /* the forced implementation, one thread, then two */
    for (int t = 1; t <= 2; t++) {
        float *o1 = t == 1 ? f1 : g1, *o2 = t == 1 ? f2 : g2;
        if (acc) {
            fill(o1, r1n, seed + 2);
            fill(o2, r2n, seed + 3);
        } else {
            poison(o1, r1n);
            poison(o2, r2n);
        }
        must(tconv_op_set_num_threads(fast, t) == TCONV_OK);
        must(run(fast, pb->pass, a, b, r1 ? o1 : NULL, r2 ? o2 : NULL, wsf) == TCONV_OK);
    }
    if (r1) {
        same_values(f1, e1, r1n);
        must(!memcmp(f1, g1, (size_t)r1n * sizeof(float)));
    }
    if (r2) {
        same_values(f2, e2, r2n);
        must(!memcmp(f2, g2, (size_t)r2n * sizeof(float)));
    }
    free(a), free(b), free(f1), free(f2), free(g1), free(g2), free(e1), free(e2);
    free(wsf), free(wsr);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    src s = {data, size};
    problem pb;
    memset(&pb, 0, sizeof pb);
    const unsigned mode = byte(&s);
    pb.conv2d = mode & 1;
    pb.pass = (tconv_pass)((mode >> 1) % 3);
    tconv_options_init(&pb.opt);
    pb.opt.layout = (mode >> 3) & 1 ? TCONV_LAYOUT_NHWC : TCONV_LAYOUT_NCHW;
    pb.opt.accumulate = pb.pass != TCONV_PASS_FORWARD && ((mode >> 4) & 1);
    pb.bias = (mode >> 5) & 1;
    pb.ndim = (mode >> 6) & 1 ? 3 : 4;
    pb.mask = 1 + (int)(byte(&s) % 3); /* 1, 2 or 3 */
    (void)(mode >> 7);
    /* the implementation: one of the fast ones this CPU has */
    static const tconv_impl fast_impls[3] = {TCONV_IMPL_PORTABLE, TCONV_IMPL_AVX2,
                                             TCONV_IMPL_AVX512};
    tconv_impl impl = fast_impls[byte(&s) % 3];
    while (!tconv_impl_available(impl)) impl = (tconv_impl)(impl - 1);

    const int64_t groups = pick(&s, 1, 3);
    const int64_t cin = groups * pick(&s, 1, 4), cout = groups * pick(&s, 1, 4);
    const int64_t kh = pick(&s, 1, 5), kw = pick(&s, 1, 5);
    const int64_t sh = pick(&s, 1, 4), sw = pick(&s, 1, 4);
    const int64_t ph = pick(&s, 0, 4), pw = pick(&s, 0, 4);
    const int64_t dh = pick(&s, 1, 3), dw = pick(&s, 1, 3);
    const int64_t oph = pick(&s, 0, 3), opw = pick(&s, 0, 3);
    const unsigned pad_kind = byte(&s) % 4, pad_mode = byte(&s) % 4;
    int64_t nb = pick(&s, 0, 3), h = pick(&s, 1, 14), w = pick(&s, 1, 14);
    if (byte(&s) % 8 == 0) nb = 0;
    if (pb.ndim == 4) {
        pb.in[0] = nb, pb.in[1] = cin, pb.in[2] = h, pb.in[3] = w;
    } else {
        pb.in[0] = cin, pb.in[1] = h, pb.in[2] = w;
    }
    int64_t wn, taps;
    if (!pb.conv2d) {
        tconv_conv_transpose2d_params_init(&pb.ct, cin, cout, kh, kw);
        pb.ct.stride[0] = sh, pb.ct.stride[1] = sw;
        pb.ct.padding[0] = ph, pb.ct.padding[1] = pw;
        pb.ct.dilation[0] = dh, pb.ct.dilation[1] = dw;
        pb.ct.output_padding[0] = oph, pb.ct.output_padding[1] = opw;
        pb.ct.groups = groups;
        /* sometimes output_size instead: the output_padding it gives */
        if (byte(&s) % 4 == 0) {
            pb.has_osz = 1;
            pb.osz[0] = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1 + pick(&s, 0, 3);
            pb.osz[1] = (w - 1) * sw - 2 * pw + dw * (kw - 1) + 1 + pick(&s, 0, 3);
        }
        wn = cin * (cout / groups) * kh * kw;
        taps = (cin / groups) * kh * kw;
    } else {
        tconv_conv2d_params_init(&pb.cv, cin, cout, kh, kw);
        pb.cv.stride[0] = sh, pb.cv.stride[1] = sw;
        pb.cv.padding[0] = ph, pb.cv.padding[1] = pw;
        pb.cv.dilation[0] = dh, pb.cv.dilation[1] = dw;
        pb.cv.groups = groups;
        pb.cv.padding_kind = pad_kind == 3 ? TCONV_PADDING_SAME
                             : pad_kind == 2 ? TCONV_PADDING_VALID
                                             : TCONV_PADDING_EXPLICIT;
        pb.cv.padding_mode = (tconv_padding_mode)pad_mode;
        wn = cout * (cin / groups) * kh * kw;
        taps = (cin / groups) * kh * kw;
    }
    if ((cout / groups) * kh * kw > taps) taps = (cout / groups) * kh * kw;
    const uint32_t seed = byte(&s) | byte(&s) << 8;

    float *weight = alloc(wn), *bias = alloc(cout);
    fill(weight, wn, seed + 7);
    fill(bias, cout, seed + 9);
    const float *bptr = pb.bias ? bias : NULL;
    tconv_op *fast = NULL, *ref = NULL;
    tconv_status cf = create(&pb, impl, weight, bptr, &fast);
    tconv_status cr = create(&pb, TCONV_IMPL_REFERENCE, weight, bptr, &ref);
    must(cf == cr); /* the same parameter checks whatever the implementation */
    must((cf == TCONV_OK) == (fast != NULL) && (cr == TCONV_OK) == (ref != NULL));
    if (cf == TCONV_OK) {
        /* the caller's weight may go away after create */
        fill(weight, wn, seed + 100);
        fill(bias, cout, seed + 101);
        check_shape(&pb, fast, ref, pb.in, wn, cout, taps, seed);
        /* the same operators reshaped to another size, run again */
        int64_t in2[4];
        memcpy(in2, pb.in, sizeof in2);
        in2[pb.ndim - 2] = pick(&s, 1, 14);
        in2[pb.ndim - 1] = pick(&s, 1, 14);
        if (pb.ndim == 4 && byte(&s) % 2) in2[0] = pick(&s, 0, 3);
        check_shape(&pb, fast, ref, in2, wn, cout, taps, seed + 50);
    }
    tconv_op_destroy(fast);
    tconv_op_destroy(ref);
    free(weight);
    free(bias);
    return 0;
}
