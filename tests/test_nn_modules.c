/* test_nn_modules.c -- the modules' packed operators never give stale
 * results.  For random ConvTranspose2d / Conv2d geometries and for Linear,
 * a module's forward is compared with the reference kernel (double
 * accumulation) on the module's CURRENT weights after every documented way
 * of changing them: writing in place + *_weights_changed, *_load from a
 * safetensors file, *_init again, an optimizer step, replacing the weight
 * pointer, editing the parameters; and with TCONV_CHECK_WEIGHTS=1 (set
 * here) a forgotten weights_changed is refused.  Also: input shape changes
 * and back, a failed call writes nothing and leaves the module usable,
 * the module backward (and its input gradient alone) equals the one-call
 * backward, safetensors written by
 * the library read back by its reader.  Outputs are poisoned first. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 2e-5

static const char *tmp_path(void) {
    static char path[256];
    snprintf(path, sizeof path, "/tmp/tconv_test_nn_modules_%d.safetensors", (int)getpid());
    return path;
}

/* ---- ConvTranspose2d ---------------------------------------------------------- */

/* forward of the module vs the reference on its current weights */
static void check_ct(tconv_conv_transpose2d_module *m, const int64_t xs[4], const float *x,
                     const char *what) {
    int64_t ys[4];
    CHECK(tconv_conv_transpose2d_output_shape(&m->p, 4, xs, NULL, 0, ys) == TCONV_OK);
    const int64_t n = tu_numel(ys, 4);
    float *y = tu_alloc(n), *ref = tu_alloc(n);
    tu_poison(y, n);
    tu_poison(ref, n);
    int64_t got[4] = {0};
    CHECK_MSG(tconv_conv_transpose2d_module_forward(m, 4, xs, x, NULL, 0, y, n, got) == TCONV_OK,
              "%s: %s", what, tconv_last_error());
    tconv_conv_transpose2d_params q = m->p;
    CHECK(tconv_reference_conv_transpose2d(&q, xs, x, m->weight, m->bias, ref, n) == TCONV_OK);
    const double e = tu_max_rel_err(y, ref, n);
    CHECK_MSG(e < TOL && memcmp(got, ys, sizeof ys) == 0, "%s: error %g", what, e);
    free(y);
    free(ref);
}

static void save_ct_weights(const tconv_conv_transpose2d_module *m, const float *w,
                            const float *b) {
    tconv_conv_transpose2d_module tmp = *m; /* the same shapes, other arrays */
    tmp.weight = (float *)w;
    tmp.bias = (float *)b;
    tconv_safetensors_writer *wr;
    CHECK(tconv_safetensors_writer_create(&wr) == TCONV_OK);
    CHECK(tconv_conv_transpose2d_module_save(&tmp, wr, "up") == TCONV_OK);
    CHECK(tconv_safetensors_writer_save(wr, tmp_path()) == TCONV_OK);
    tconv_safetensors_writer_destroy(wr);
}

static void test_ct_weight_changes(tu_rng *r) {
    for (int t = 0; t < 24; t++) {
        tconv_conv_transpose2d_params p;
        int64_t xs[4];
        tu_random_ct(r, &p, xs, 1);
        tconv_rng g;
        tconv_rng_init(&g, (uint64_t)t);
        tconv_conv_transpose2d_module m;
        CHECK(tconv_conv_transpose2d_module_init(&m, &p, t % 3 != 0, &g) == TCONV_OK);
        const int64_t wn = tu_ct_weight_numel(&p), xn = tu_numel(xs, 4);
        float *x = tu_alloc(xn);
        tu_fill(r, x, xn);
        check_ct(&m, xs, x, "ct first forward");
        check_ct(&m, xs, x, "ct cached forward");

        /* 1. in place, then weights_changed */
        for (int64_t i = 0; i < wn; i++) m.weight[i] = -2.0f * m.weight[i] + 0.125f;
        tconv_conv_transpose2d_module_weights_changed(&m);
        check_ct(&m, xs, x, "ct in place + weights_changed");

        /* 2. load from a file */
        float *w2 = tu_alloc(wn), *b2 = tu_alloc(p.out_channels);
        tu_fill(r, w2, wn);
        tu_fill(r, b2, p.out_channels);
        save_ct_weights(&m, w2, m.bias ? b2 : NULL);
        tconv_safetensors *st;
        CHECK(tconv_safetensors_open(tmp_path(), &st) == TCONV_OK);
        CHECK(tconv_conv_transpose2d_module_load(&m, st, "up") == TCONV_OK);
        tconv_safetensors_close(st);
        CHECK(memcmp(m.weight, w2, (size_t)wn * sizeof(float)) == 0);
        check_ct(&m, xs, x, "ct after load");

        /* 3. an optimizer step */
        tconv_param prm[2];
        int np = 0;
        CHECK(tconv_conv_transpose2d_module_parameters(&m, prm, 2, &np) == TCONV_OK);
        CHECK(np == (m.bias ? 2 : 1) && prm[0].grad == m.weight_grad);
        tu_fill(r, m.weight_grad, wn);
        if (m.bias) tu_fill(r, m.bias_grad, p.out_channels);
        tconv_optimizer_options o;
        tconv_optimizer_options_init(&o, TCONV_OPTIMIZER_SGD, 0.5);
        tconv_optimizer *opt;
        CHECK(tconv_optimizer_create(TCONV_OPTIMIZER_SGD, prm, np, &o, &opt) == TCONV_OK);
        CHECK(tconv_optimizer_step(opt) == TCONV_OK);
        CHECK(memcmp(m.weight, w2, (size_t)wn * sizeof(float)) != 0);
        check_ct(&m, xs, x, "ct after optimizer step");
        tconv_optimizer_destroy(opt);

        /* 4. the weight array replaced (ownership passes to the module) */
        float *w3 = tu_alloc(wn);
        tu_fill(r, w3, wn);
        free(m.weight);
        m.weight = w3;
        check_ct(&m, xs, x, "ct weight pointer replaced");

        /* 5. another input shape, then the first again */
        int64_t xs2[4] = {xs[0] + 1, xs[1], xs[2], xs[3]};
        float *x2 = tu_alloc(tu_numel(xs2, 4));
        tu_fill(r, x2, tu_numel(xs2, 4));
        check_ct(&m, xs2, x2, "ct other batch");
        check_ct(&m, xs, x, "ct first shape again");

        /* 6. the parameters edited (a valid padding change) */
        if (m.p.padding[0] > 0) {
            m.p.padding[0]--;
            check_ct(&m, xs, x, "ct padding edited");
        }

        /* 7. a failed call writes nothing and leaves the module usable */
        float y1[4];
        tu_poison(y1, 4);
        CHECK(tconv_conv_transpose2d_module_forward(&m, 4, xs, x, NULL, 0, y1, 1, NULL) ==
              TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(isnan(y1[0]) && tu_err_has("output holds 1 floats"));
        const int64_t bad[4] = {xs[0], xs[1] + 1, xs[2], xs[3]};
        CHECK(tconv_conv_transpose2d_module_forward(&m, 4, bad, x, NULL, 0, y1, 1, NULL) ==
              TCONV_ERROR_INVALID_ARGUMENT);
        check_ct(&m, xs, x, "ct after failed calls");

        /* 8. init again (free first) */
        tconv_conv_transpose2d_module_free(&m);
        tconv_rng_init(&g, 1000 + (uint64_t)t);
        CHECK(tconv_conv_transpose2d_module_init(&m, &p, 1, &g) == TCONV_OK);
        check_ct(&m, xs, x, "ct init again");

        /* 9. a forgotten weights_changed is refused (TCONV_CHECK_WEIGHTS=1) */
        m.weight[0] += 1.0f;
        float *y = tu_alloc(1 << 16);
        CHECK(tconv_conv_transpose2d_module_forward(&m, 4, xs, x, NULL, 0, y, 1 << 16, NULL) ==
              TCONV_ERROR_INVALID_STATE);
        CHECK(tu_err_has("without calling its weights_changed"));
        tconv_conv_transpose2d_module_weights_changed(&m);
        check_ct(&m, xs, x, "ct after the checked change");
        free(y);
        free(x), free(x2), free(w2), free(b2);
        tconv_conv_transpose2d_module_free(&m);
        tconv_conv_transpose2d_module_free(&m); /* twice is fine */
    }
}

/* ---- Conv2d: the same, fewer ways (the cache is shared code) ------------------ */

static void check_cv(tconv_conv2d_module *m, const int64_t xs[4], const float *x,
                     const char *what) {
    int64_t ys[4];
    CHECK(tconv_conv2d_output_shape(&m->p, 4, xs, ys) == TCONV_OK);
    const int64_t n = tu_numel(ys, 4);
    float *y = tu_alloc(n), *ref = tu_alloc(n);
    tu_poison(y, n);
    CHECK_MSG(tconv_conv2d_module_forward(m, 4, xs, x, y, n, NULL) == TCONV_OK, "%s: %s", what,
              tconv_last_error());
    CHECK(tconv_reference_conv2d(&m->p, xs, x, m->weight, m->bias, ref, n) == TCONV_OK);
    const double e = tu_max_rel_err(y, ref, n);
    CHECK_MSG(e < TOL, "%s: error %g", what, e);
    free(y);
    free(ref);
}

static void test_conv2d_weight_changes_and_backward(tu_rng *r) {
    for (int t = 0; t < 24; t++) {
        tconv_conv2d_params p;
        int64_t xs[4];
        tu_random_cv(r, &p, xs, 1);
        tconv_rng g;
        tconv_rng_init(&g, 77 + (uint64_t)t);
        tconv_conv2d_module m;
        CHECK(tconv_conv2d_module_init(&m, &p, t % 2, &g) == TCONV_OK);
        const int64_t wn = tu_cv_weight_numel(&p), xn = tu_numel(xs, 4);
        float *x = tu_alloc(xn);
        tu_fill(r, x, xn);
        check_cv(&m, xs, x, "conv2d first forward");
        for (int64_t i = 0; i < wn; i++) m.weight[i] *= 3.0f;
        tconv_conv2d_module_weights_changed(&m);
        check_cv(&m, xs, x, "conv2d in place + weights_changed");

        /* backward: the module's (twice: .grad accumulates) vs the one-call's */
        int64_t ys[4];
        CHECK(tconv_conv2d_output_shape(&p, 4, xs, ys) == TCONV_OK);
        const int64_t yn = tu_numel(ys, 4);
        float *dy = tu_alloc(yn), *dx = tu_alloc(xn), *rdx = tu_alloc(xn), *rdw = tu_alloc(wn);
        float rdb[64];
        tu_fill(r, dy, yn);
        tu_poison(dx, xn);
        for (int k = 0; k < 2; k++)
            CHECK_MSG(tconv_conv2d_module_backward(&m, 4, xs, x, dy, dx) == TCONV_OK, "%s",
                      tconv_last_error());
        const int mask[3] = {1, 1, p.out_channels <= 64};
        CHECK(tconv_conv2d_backward(&p, 4, xs, x, m.weight, ys, dy, mask, rdx, rdw,
                                    p.out_channels <= 64 ? rdb : NULL) == TCONV_OK);
        for (int64_t i = 0; i < wn; i++) rdw[i] *= 2.0f;
        CHECK(tu_max_rel_err(dx, rdx, xn) < TOL);
        CHECK(tu_max_rel_err(m.weight_grad, rdw, wn) < TOL);
        if (m.bias && p.out_channels <= 64) {
            for (int64_t i = 0; i < p.out_channels; i++) rdb[i] *= 2.0f;
            CHECK(tu_max_rel_err(m.bias_grad, rdb, p.out_channels) < TOL);
        }
        tconv_conv2d_module_zero_grad(&m);
        CHECK(m.weight_grad[0] == 0.0f && m.weight_grad[wn - 1] == 0.0f);
        /* backward after a weight change uses the new weights */
        for (int64_t i = 0; i < wn; i++) m.weight[i] = -m.weight[i];
        tconv_conv2d_module_weights_changed(&m);
        CHECK(tconv_conv2d_module_backward(&m, 4, xs, x, dy, dx) == TCONV_OK);
        for (int64_t i = 0; i < xn; i++) rdx[i] = -rdx[i];
        CHECK(tu_max_rel_err(dx, rdx, xn) < TOL);
        /* the input gradient alone: the same dx, .grad untouched */
        const float g0 = m.weight_grad[0];
        tu_poison(dx, xn);
        CHECK(tconv_conv2d_module_backward_input(&m, 4, xs, dy, dx) == TCONV_OK);
        CHECK(tu_max_rel_err(dx, rdx, xn) < TOL && m.weight_grad[0] == g0);
        CHECK(tconv_conv2d_module_backward_input(&m, 4, xs, dy, NULL) ==
                  TCONV_ERROR_INVALID_ARGUMENT &&
              strstr(tconv_last_error(), "grad_input is NULL"));
        CHECK(tconv_conv2d_module_backward_input(&m, 4, xs, dy, dy) == TCONV_ERROR_INVALID_ARGUMENT);
        check_cv(&m, xs, x, "conv2d after backward and change");
        free(x), free(dy), free(dx), free(rdx), free(rdw);
        tconv_conv2d_module_free(&m);
    }
}

/* backward_input of ConvTranspose2d (cached and filled by hand) vs the
 * one-call backward's grad_input; .grad untouched */
static void test_ct_backward_input(tu_rng *r) {
    for (int t = 0; t < 16; t++) {
        tconv_conv_transpose2d_params p;
        int64_t xs[4], ys[4];
        tu_random_ct(r, &p, xs, 1);
        tconv_rng g;
        tconv_rng_init(&g, 5 + (uint64_t)t);
        tconv_conv_transpose2d_module m;
        CHECK(tconv_conv_transpose2d_module_init(&m, &p, t % 2, &g) == TCONV_OK);
        CHECK(tconv_conv_transpose2d_output_shape(&p, 4, xs, NULL, 0, ys) == TCONV_OK);
        const int64_t xn = tu_numel(xs, 4), yn = tu_numel(ys, 4);
        float *dy = tu_alloc(yn), *dx = tu_alloc(xn), *rdx = tu_alloc(xn);
        tu_fill(r, dy, yn);
        const int mask[3] = {1, 0, 0};
        CHECK(tconv_conv_transpose2d_backward(&p, 4, xs, NULL, m.weight, NULL, 0, ys, dy, mask, rdx,
                                              NULL, NULL) == TCONV_OK);
        tu_poison(dx, xn);
        CHECK_MSG(tconv_conv_transpose2d_module_backward_input(&m, 4, xs, NULL, 0, dy, dx) ==
                      TCONV_OK,
                  "%s", tconv_last_error());
        CHECK(tu_max_rel_err(dx, rdx, xn) < TOL && m.weight_grad == NULL);
        tconv_conv_transpose2d_module byhand = m; /* no cache: the one-call path */
        byhand.cache = NULL;
        tu_poison(dx, xn);
        CHECK(tconv_conv_transpose2d_module_backward_input(&byhand, 4, xs, NULL, 0, dy, dx) ==
              TCONV_OK);
        CHECK(tu_max_rel_err(dx, rdx, xn) < TOL && byhand.weight_grad == NULL);
        CHECK(tconv_conv_transpose2d_module_backward_input(&m, 4, xs, NULL, 0, dy, NULL) ==
              TCONV_ERROR_INVALID_ARGUMENT);
        CHECK(tconv_conv_transpose2d_module_backward_input(NULL, 4, xs, NULL, 0, dy, dx) ==
              TCONV_ERROR_INVALID_ARGUMENT);
        free(dy), free(dx), free(rdx);
        tconv_conv_transpose2d_module_free(&m);
    }
}

/* ---- Linear ------------------------------------------------------------------------ */

static void check_linear(tconv_linear *m, int64_t rows, const float *x, const char *what) {
    const int64_t k = m->in_features, o = m->out_features;
    float *y = tu_alloc(rows * o);
    tu_poison(y, rows * o);
    const int64_t xs[2] = {rows, k};
    CHECK_MSG(tconv_linear_forward(m, 2, xs, x, y, rows * o, NULL) == TCONV_OK, "%s: %s", what,
              tconv_last_error());
    double worst = 0, big = 1;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < o; j++) {
            double acc = m->bias ? m->bias[j] : 0.0;
            for (int64_t i = 0; i < k; i++) acc += (double)x[r * k + i] * m->weight[j * k + i];
            worst = fmax(worst, fabs(acc - y[r * o + j]));
            if (isnan(y[r * o + j])) worst = INFINITY;
            big = fmax(big, fabs(acc));
        }
    CHECK_MSG(worst / big < TOL, "%s: error %g", what, worst / big);
    free(y);
}

static void test_linear_weight_changes(tu_rng *r) {
    const int64_t dims[][3] = {{100, 8192, 1}, {37, 19, 5}, {1, 1, 1}, {64, 3, 33}, {5, 200, 16}};
    for (int t = 0; t < 5; t++) {
        const int64_t k = dims[t][0], o = dims[t][1], rows = dims[t][2];
        tconv_rng g;
        tconv_rng_init(&g, 5 + (uint64_t)t);
        tconv_linear m;
        CHECK(tconv_linear_init(&m, k, o, t != 3, &g) == TCONV_OK);
        float *x = tu_alloc(rows * k);
        tu_fill(r, x, rows * k);
        check_linear(&m, rows, x, "linear first");
        check_linear(&m, rows, x, "linear cached");
        for (int64_t i = 0; i < k * o; i++) m.weight[i] *= -0.5f;
        tconv_linear_weights_changed(&m);
        check_linear(&m, rows, x, "linear in place");
        if (m.bias) {
            m.bias[0] += 3.0f;
            tconv_linear_weights_changed(&m);
            check_linear(&m, rows, x, "linear bias in place");
        }
        check_linear(&m, 1, x, "linear one row");
        tconv_param prm[2];
        int np;
        CHECK(tconv_linear_parameters(&m, prm, 2, &np) == TCONV_OK);
        for (int i = 0; i < np; i++) tu_fill(r, prm[i].grad, prm[i].numel);
        tconv_optimizer_options oo;
        tconv_optimizer_options_init(&oo, TCONV_OPTIMIZER_ADAM, 0.1);
        tconv_optimizer *opt;
        CHECK(tconv_optimizer_create(TCONV_OPTIMIZER_ADAM, prm, np, &oo, &opt) == TCONV_OK);
        CHECK(tconv_optimizer_step(opt) == TCONV_OK);
        tconv_optimizer_destroy(opt);
        check_linear(&m, rows, x, "linear after Adam step");
        free(x);
        tconv_linear_free(&m);
    }
}

/* ---- the writer and the reader agree ------------------------------------------------ */

static void test_writer_round_trip(void) {
    tconv_batchnorm2d bn;
    CHECK(tconv_batchnorm2d_init(&bn, 3) == TCONV_OK);
    bn.running_mean[1] = 0.25f;
    bn.num_batches_tracked = 123456789012345ll;
    tconv_safetensors_writer *w;
    CHECK(tconv_safetensors_writer_create(&w) == TCONV_OK);
    CHECK(tconv_batchnorm2d_save(&bn, w, "net.1") == TCONV_OK);
    CHECK(tconv_batchnorm2d_save(&bn, w, "net.1") == TCONV_ERROR_INVALID_ARGUMENT &&
          tu_err_has("already added"));
    CHECK(tconv_safetensors_writer_set_metadata(w, "format", "pt") == TCONV_OK);
    CHECK(tconv_safetensors_writer_save(w, tmp_path()) == TCONV_OK);
    tconv_safetensors_writer_destroy(w);
    tconv_batchnorm2d b2;
    CHECK(tconv_batchnorm2d_init(&b2, 3) == TCONV_OK);
    tconv_safetensors *st;
    CHECK(tconv_safetensors_open(tmp_path(), &st) == TCONV_OK);
    CHECK(tconv_safetensors_count(st) == 5);
    CHECK(strcmp(tconv_safetensors_metadata(st, "format"), "pt") == 0);
    CHECK(tconv_batchnorm2d_load(&b2, st, "net.1") == TCONV_OK);
    tconv_safetensors_close(st);
    CHECK(b2.running_mean[1] == 0.25f && b2.num_batches_tracked == 123456789012345ll);
    /* a save to a directory that does not exist: IO, nothing left behind */
    CHECK(tconv_safetensors_save("/nonexistent-dir/x.safetensors", 0, NULL, NULL, NULL, NULL,
                                 NULL) == TCONV_ERROR_IO);
    remove(tmp_path());
    tconv_batchnorm2d_free(&bn);
    tconv_batchnorm2d_free(&b2);
}

int main(void) {
    setenv("TCONV_CHECK_WEIGHTS", "1", 1); /* read once, at the first module call */
    tu_rng r;
    tu_rng_seed(&r, 4242);
    test_ct_weight_changes(&r);
    test_conv2d_weight_changes_and_backward(&r);
    test_ct_backward_input(&r);
    test_linear_weight_changes(&r);
    test_writer_round_trip();
    return tc_test_summary("test_nn_modules");
}
