/* Non-finite values through the operators, for every implementation this
 * machine has: inf / NaN in grad_output or the input of a weight gradient
 * (NaN where a tap reads padding, as PyTorch's zero-padded products give;
 * scanned over threads or checked as the panels are packed), weights set
 * after create, and Winograd images holding one (computed directly). */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

/* A non-finite grad_output value in the second scan chunk of a large
 * backward-weight run (the scan runs over threads): the taps of its pixel
 * that read padding get NaN, the same bits at 1 and 2 threads, the same
 * places as the reference. */
static void wgrad_nan_run(tconv_impl impl, int threads, const float *x, const float *dy,
                          float *dw) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 4, 8, 3, 3);
    p.padding[0] = p.padding[1] = 1;
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.num_threads = threads;
    tconv_op *op = NULL;
    CHECK_MSG(tconv_conv2d_backward_weight_create(&p, &o, &op) == TCONV_OK, "create: %s",
              tconv_last_error());
    if (!op) return;
    const int64_t in[4] = {3, 4, 64, 64};
    int64_t out[4];
    size_t ws = 0;
    CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
    void *w = ws ? malloc(ws) : NULL;
    tu_poison(dw, 8 * 4 * 9);
    CHECK_MSG(tconv_op_run_backward_weight(op, x, dy, dw, NULL, w) == TCONV_OK, "run: %s",
              tconv_last_error());
    free(w);
    tconv_op_destroy(op);
}

static void test_wgrad_nonfinite_threads(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 950 + impl);
    const int64_t nx = 3 * 4 * 64 * 64, ny = 3 * 8 * 64 * 64; /* dy: 1.5 scan chunks */
    float *x = tu_alloc(nx), *dy = tu_alloc(ny);
    tu_fill(&r, x, nx);
    tu_fill(&r, dy, ny);
    dy[((2 * 8 + 5) * 64 + 0) * 64 + 0] = INFINITY; /* image 2, channel 5, corner */
    float dref[8 * 4 * 9], d1[8 * 4 * 9], d2[8 * 4 * 9];
    wgrad_nan_run(TCONV_IMPL_REFERENCE, 1, x, dy, dref);
    wgrad_nan_run(impl, 1, x, dy, d1);
    wgrad_nan_run(impl, 2, x, dy, d2);
    int nans = 0;
    for (int i = 0; i < 8 * 4 * 9; i++) {
        nans += isnan(dref[i]) != 0;
        CHECK_MSG(!isnan(dref[i]) == !isnan(d2[i]), "impl %s dw[%d]: NaN %d vs reference %d",
                  tconv_impl_name(impl), i, isnan(d2[i]) != 0, isnan(dref[i]) != 0);
    }
    /* the corner's taps reading padding: 5 of 9, for the 4 input channels */
    CHECK_MSG(nans == 4 * 5, "reference NaNs %d, expected 20", nans);
    CHECK_MSG(!memcmp(d1, d2, sizeof d1), "impl %s: 1 and 2 threads differ",
              tconv_impl_name(impl));
    free(x);
    free(dy);
}

/* Non-finite input values of a ConvTranspose2d weight gradient on the
 * packed-panel path, which checks A (the input) as it packs it instead of
 * a separate scan: an inf at a corner pixel and a NaN inside, in two
 * images; the NaNs where the reference puts them, the infinities too, the
 * other values within rounding, the same bits at 1 and 2 threads. */
static void wgrad_packed_nan_run(tconv_impl impl, int threads, const float *x, const float *dy,
                                 float *dw, float *db) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 16, 24, 4, 4);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.num_threads = threads;
    tconv_op *op = NULL;
    CHECK_MSG(tconv_conv_transpose2d_backward_weight_create(&p, &o, &op) == TCONV_OK,
              "create: %s", tconv_last_error());
    if (!op) return;
    const int64_t in[4] = {3, 16, 8, 8};
    int64_t out[4];
    size_t ws = 0;
    CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
    if (impl != TCONV_IMPL_REFERENCE)
        CHECK_MSG(!strcmp(tconv_op_path(op), "wgrad"), "impl %s: path %s, expected wgrad",
                  tconv_impl_name(impl), tconv_op_path(op));
    void *w = ws ? malloc(ws) : NULL;
    tu_poison(dw, 16 * 24 * 16);
    tu_poison(db, 24);
    CHECK_MSG(tconv_op_run_backward_weight(op, x, dy, dw, db, w) == TCONV_OK, "run: %s",
              tconv_last_error());
    free(w);
    tconv_op_destroy(op);
}

static void test_wgrad_packed_nonfinite(tconv_impl impl) {
    enum { NX = 3 * 16 * 64, NY = 3 * 24 * 256, NW = 16 * 24 * 16 };
    tu_rng r;
    tu_rng_seed(&r, 970 + impl);
    float *x = tu_alloc(NX), *dy = tu_alloc(NY);
    tu_fill(&r, x, NX);
    tu_fill(&r, dy, NY);
    x[(1 * 16 + 3) * 64 + 0] = INFINITY;     /* image 1, channel 3, corner (0, 0) */
    x[(2 * 16 + 9) * 64 + 3 * 8 + 4] = NAN;  /* image 2, channel 9, (3, 4) */
    static float dref[NW], d1[NW], d2[NW], bref[24], b1[24], b2[24];
    wgrad_packed_nan_run(TCONV_IMPL_REFERENCE, 1, x, dy, dref, bref);
    wgrad_packed_nan_run(impl, 1, x, dy, d1, b1);
    wgrad_packed_nan_run(impl, 2, x, dy, d2, b2);
    int nans = 0, bad = 0;
    for (int i = 0; i < NW; i++) {
        nans += isnan(dref[i]) != 0;
        if (isnan(dref[i]) != isnan(d1[i]) ||
            (!isnan(dref[i]) && d1[i] != dref[i] && /* infinities equal */
             !(fabsf(d1[i] - dref[i]) <= 1e-4f * (1.0f + fabsf(dref[i])))))
            bad++;
    }
    CHECK_MSG(nans > 0, "reference NaNs %d, expected some", nans);
    CHECK_MSG(bad == 0, "impl %s: %d of %d weight gradients differ from the reference",
              tconv_impl_name(impl), bad, NW);
    CHECK_MSG(!memcmp(d1, d2, sizeof d1) && !memcmp(b1, b2, sizeof b1),
              "impl %s: 1 and 2 threads differ", tconv_impl_name(impl));
    free(x);
    free(dy);
}

/* New weights through tconv_op_set_weights, copied and scanned in chunks
 * over threads: weights of 2.25 scan chunks, an infinity in the last
 * chunk, give what an operator created with them gives (NaN and inf in
 * the same places, the same values elsewhere to rounding: the two may
 * take different paths), at 1 and 2 threads. */
static void sw_run(tconv_impl impl, int threads, const float *w0, const float *w, const float *x,
                   float *y) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 128, 128, 3, 3);
    p.padding[0] = p.padding[1] = 1;
    tconv_options o;
    tconv_options_init(&o);
    o.impl = impl;
    o.num_threads = threads;
    tconv_op *op = NULL;
    CHECK_MSG(tconv_conv2d_create(&p, w0 ? w0 : w, NULL, &o, &op) == TCONV_OK, "create: %s",
              tconv_last_error());
    if (!op) return;
    const int64_t in[4] = {1, 128, 4, 4};
    int64_t out[4];
    size_t ws = 0;
    CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
    if (w0) CHECK_MSG(tconv_op_set_weights(op, w, NULL) == TCONV_OK, "set: %s", tconv_last_error());
    void *wk = ws ? malloc(ws) : NULL;
    tu_poison(y, 128 * 16);
    CHECK_MSG(tconv_op_run(op, x, y, wk) == TCONV_OK, "run: %s", tconv_last_error());
    free(wk);
    tconv_op_destroy(op);
}

static void test_set_weights_nonfinite(tconv_impl impl) {
    tu_rng r;
    tu_rng_seed(&r, 970 + impl);
    const int64_t wn = 128 * 128 * 9; /* 2.25 chunks of 65536 */
    float *w0 = tu_alloc(wn), *w = tu_alloc(wn), *x = tu_alloc(128 * 16);
    float want[128 * 16], got[128 * 16];
    tu_fill(&r, w0, wn);
    tu_fill(&r, w, wn);
    tu_fill(&r, x, 128 * 16);
    for (int bad = 0; bad < 2; bad++) {
        if (bad) w[wn - 100] = INFINITY; /* output channel 127 */
        sw_run(impl, 1, NULL, w, x, want);
        for (int t = 1; t <= 2; t++) {
            sw_run(impl, t, w0, w, x, got);
            int nans = 0, same = 1;
            double big = 0;
            for (int i = 0; i < 128 * 16; i++)
                if (isfinite(want[i]) && fabs(want[i]) > big) big = fabs(want[i]);
            for (int i = 0; i < 128 * 16; i++) {
                nans += isnan(want[i]) != 0;
                if (isnan(want[i]))
                    same &= isnan(got[i]) != 0;
                else if (isinf(want[i]))
                    same &= want[i] == got[i];
                else
                    same &= fabs((double)got[i] - want[i]) <= 1e-5 * big;
            }
            CHECK_MSG(same, "impl %s, %d threads, %s weights: set_weights differs from create",
                      tconv_impl_name(impl), t, bad ? "non-finite" : "finite");
            CHECK_MSG(bad ? nans > 0 : nans == 0, "impl %s: %d NaN outputs", tconv_impl_name(impl),
                      nans);
        }
    }
    free(w0);
    free(w);
    free(x);
}

/* A 3x3 stride-1 layer on the Winograd path with an inf and a NaN in its
 * second image: the outputs they reach are inf or NaN as the reference's,
 * the rest agree with it; the first image is untouched by them.  Images of
 * hw x hw: 8 x 8 (one task of the channels-last transform), 32 x 32
 * (several; the non-finite values in a later one). */
static void test_winograd_nonfinite(tconv_impl impl, int64_t hw) {
    tconv_conv2d_params p;
    tconv_conv2d_params_init(&p, 64, 64, 3, 3);
    p.padding[0] = p.padding[1] = 1;
    tu_rng r;
    tu_rng_seed(&r, 990 + impl + (uint64_t)hw);
    const int64_t in[4] = {2, 64, hw, hw}, px = hw * hw, xn = 2 * 64 * px, wn = 64 * 64 * 9;
    float *x = tu_alloc(xn), *w = tu_alloc(wn), *b = tu_alloc(64);
    float *want = tu_alloc(xn), *got = tu_alloc(xn);
    tu_fill(&r, x, xn);
    tu_fill(&r, w, wn);
    tu_fill(&r, b, 64);
    x[(64 + 3) * px + (hw - 6) * hw + 5] = INFINITY; /* image 1, channel 3, (hw - 6, 5) */
    x[(64 + 9) * px + (hw - 2) * hw + 1] = NAN;      /* image 1, channel 9, (hw - 2, 1) */
    const char *path = "";
    for (int which = 0; which < 2; which++) {
        tconv_options o;
        tconv_options_init(&o);
        o.impl = which ? impl : TCONV_IMPL_REFERENCE;
        o.num_threads = 2;
        tconv_op *op = NULL;
        CHECK_MSG(tconv_conv2d_create(&p, w, b, &o, &op) == TCONV_OK, "create: %s",
                  tconv_last_error());
        if (!op) break;
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        if (which) path = tconv_op_path(op);
        void *wk = ws ? malloc(ws) : NULL;
        float *y = which ? got : want;
        tu_poison(y, xn);
        CHECK_MSG(tconv_op_run(op, x, y, wk) == TCONV_OK, "run: %s", tconv_last_error());
        free(wk);
        tconv_op_destroy(op);
    }
    if (impl == tconv_best_impl())
        CHECK_MSG(!strcmp(path, "winograd"), "impl %s: path %s, expected winograd",
                  tconv_impl_name(impl), path);
    double big = 0;
    int nonfinite = 0, same = 1;
    for (int64_t i = 0; i < xn; i++)
        if (isfinite(want[i]) && fabs(want[i]) > big) big = fabs(want[i]);
    for (int64_t i = 0; i < xn; i++) {
        if (!isfinite(want[i])) {
            nonfinite++;
            same &= i >= 64 * px && (isnan(want[i]) ? isnan(got[i]) != 0 : want[i] == got[i]);
        } else {
            same &= fabs((double)got[i] - want[i]) <= 1e-5 * big;
        }
    }
    CHECK_MSG(same, "impl %s (%s): outputs differ from the reference", tconv_impl_name(impl), path);
    CHECK_MSG(nonfinite >= 64 * 9, "impl %s: %d non-finite outputs", tconv_impl_name(impl),
              nonfinite);
    free(x);
    free(w);
    free(b);
    free(want);
    free(got);
}

int main(void) {
    tconv_impl impls[8];
    int n = tu_impls(impls);
    CHECK(n >= 1 && impls[0] == TCONV_IMPL_REFERENCE);
    for (int i = 0; i < n; i++) {
        test_wgrad_nonfinite_threads(impls[i]);
        test_wgrad_packed_nonfinite(impls[i]);
        test_set_weights_nonfinite(impls[i]);
        test_winograd_nonfinite(impls[i], 8);
        test_winograd_nonfinite(impls[i], 32);
    }
    return tc_test_summary("test_operator_nonfinite");
}
