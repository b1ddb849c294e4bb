/* test_fast_paths.c -- every fast conv_transpose2d path against the
 * reference kernel: randomised parameters (stride incl. > kernel, large
 * padding, output_padding, dilation, groups, asymmetric sizes, batches,
 * 1x1 inputs, tiny and odd channel counts), every ISA this machine has
 * (forced one at a time), threads 1..4, NCHW and NHWC.  Outputs are
 * poisoned with NaN before each run; results must also be bit-identical
 * across thread counts. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#define TOL 1e-5

static int64_t pick(tu_rng *r, const int64_t *v, int n) { return v[tu_rng_int(r, 0, n - 1)]; }

/* A random valid case; big = 1 draws channel-rich, larger images. */
static void random_case(tu_rng *r, int big, tconv_conv_transpose2d_params *p, int64_t in[4]) {
    for (;;) {
        const int64_t G = tu_rng_int(r, 0, 4) == 0 ? tu_rng_int(r, 2, 3) : 1;
        static const int64_t odd_c[] = {1, 1, 2, 3, 3, 4, 5, 7, 12, 13, 16, 17};
        int64_t cig = big ? tu_rng_int(r, 8, 40) : pick(r, odd_c, 12);
        int64_t cog = big ? tu_rng_int(r, 1, 40) : pick(r, odd_c, 12);
        const int64_t kh = tu_rng_int(r, 1, 5), kw = tu_rng_int(r, 1, 5);
        tconv_conv_transpose2d_params_init(p, cig * G, cog * G, kh, kw);
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
        in[0] = tu_rng_int(r, 1, big ? 2 : 3);
        in[1] = p->in_channels;
        if (tu_rng_int(r, 0, 7) == 0) {
            in[2] = in[3] = 1; /* 1x1 input: the GEMM path */
        } else if (big) {
            in[2] = tu_rng_int(r, 1, 36);
            in[3] = tu_rng_int(r, 1, 40);
        } else {
            in[2] = pick(r, sizes, 12);
            in[3] = pick(r, sizes, 12);
        }
        int64_t out[4];
        if (tconv_conv_transpose2d_params_check(p) == TCONV_OK &&
            tconv_conv_transpose2d_output_shape(p, 4, in, NULL, 0, out) == TCONV_OK)
            return;
    }
}

static int64_t ncases, nruns;
static double worst;

static void run_case(const tconv_conv_transpose2d_params *p, const int64_t in[4], tu_rng *r,
                     const tconv_impl *impls, int nimpl) {
    int64_t out[4];
    CHECK(tconv_conv_transpose2d_output_shape(p, 4, in, NULL, 0, out) == TCONV_OK);
    const int64_t xn = tu_numel(in, 4), yn = tu_numel(out, 4);
    const int64_t wn = p->in_channels * (p->out_channels / p->groups) * p->kernel_size[0] *
                       p->kernel_size[1];
    float *x = tu_alloc(xn), *w = tu_alloc(wn), *b = tu_alloc(p->out_channels);
    float *ref = tu_alloc(yn), *refh = tu_alloc(yn), *xh = tu_alloc(xn);
    float *y = tu_alloc(yn), *y1 = tu_alloc(yn);
    tu_fill(r, x, xn);
    tu_fill(r, w, wn);
    tu_fill(r, b, p->out_channels);
    const int use_bias = tu_rng_int(r, 0, 3) != 0;
    CHECK(tconv_reference_conv_transpose2d(p, in, x, w, use_bias ? b : NULL, ref, yn) == TCONV_OK);
    tu_nchw_to_nhwc(ref, refh, out[0], out[1], out[2], out[3]);
    tu_nchw_to_nhwc(x, xh, in[0], in[1], in[2], in[3]);
    ncases++;
    for (int i = 0; i < nimpl; i++)
        for (int lay = 0; lay < 2; lay++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.layout = lay ? TCONV_LAYOUT_NHWC : TCONV_LAYOUT_NCHW;
            o.num_threads = 1;
            tconv_op *op = NULL;
            if (tconv_conv_transpose2d_create(p, w, use_bias ? b : NULL, &o, &op) != TCONV_OK) {
                CHECK_MSG(0, "create failed: %s", tconv_last_error());
                continue;
            }
            int64_t os[4];
            size_t wsb = 0;
            CHECK(tconv_op_reshape(op, 4, in, NULL, 0, os, &wsb) == TCONV_OK);
            CHECK(wsb <= (size_t)xn * sizeof(float)); /* at most the input's size */
            void *ws = wsb ? malloc(wsb) : NULL;
            for (int t = 1; t <= 4; t++) {
                CHECK(tconv_op_set_num_threads(op, t) == TCONV_OK);
                tu_poison(y, yn);
                CHECK(tconv_op_run(op, lay ? xh : x, y, ws) == TCONV_OK);
                nruns++;
                const double e = tu_max_rel_err(y, lay ? refh : ref, yn);
                if (e > worst) worst = e;
                CHECK_MSG(e < TOL,
                          "%s %s t=%d path %s: err %g; N%lld Cin%lld H%lld W%lld Cout%lld k%lldx%lld "
                          "s%lld,%lld p%lld,%lld op%lld,%lld d%lld,%lld g%lld",
                          tconv_impl_name(impls[i]), lay ? "nhwc" : "nchw", t, tconv_op_path(op), e,
                          (long long)in[0], (long long)in[1], (long long)in[2], (long long)in[3],
                          (long long)p->out_channels, (long long)p->kernel_size[0],
                          (long long)p->kernel_size[1], (long long)p->stride[0],
                          (long long)p->stride[1], (long long)p->padding[0],
                          (long long)p->padding[1], (long long)p->output_padding[0],
                          (long long)p->output_padding[1], (long long)p->dilation[0],
                          (long long)p->dilation[1], (long long)p->groups);
                if (t == 1)
                    memcpy(y1, y, (size_t)yn * sizeof(float));
                else
                    CHECK_MSG(!memcmp(y, y1, (size_t)yn * sizeof(float)),
                              "%s: %d threads differ from 1 thread", tconv_impl_name(impls[i]), t);
            }
            free(ws);
            tconv_op_destroy(op);
        }
    free(x);
    free(w);
    free(b);
    free(ref);
    free(refh);
    free(xh);
    free(y);
    free(y1);
}

/* The seed shapes' forms, shrunk where large (same kernel/stride/padding). */
static void seed_like(tu_rng *r, const tconv_impl *impls, int nimpl) {
    static const int64_t s[][14] = {
        /* N Cin H W Cout kh kw sh sw ph pw oph opw g */
        {1, 64, 4, 4, 40, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {1, 32, 8, 8, 24, 4, 4, 2, 2, 1, 1, 0, 0, 1},
        {1, 16, 16, 16, 20, 4, 4, 2, 2, 1, 1, 0, 0, 1}, {2, 16, 32, 32, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1}, {9, 8, 16, 20, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1},
        /* batches of small images run image at a time (N >= 2 x threads) */
        {8, 6, 12, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2},  {9, 4, 7, 5, 5, 3, 5, 2, 1, 2, 2, 0, 0, 1},
        {5, 20, 1, 1, 24, 4, 4, 1, 1, 0, 0, 0, 0, 1},  {1, 24, 8, 8, 16, 2, 2, 2, 2, 0, 0, 0, 0, 1},
        {1, 8, 40, 48, 12, 2, 2, 2, 2, 0, 0, 0, 0, 1}, {2, 16, 10, 20, 33, 3, 5, 2, 1, 4, 2, 0, 0, 1},
        {3, 16, 8, 8, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1},  {1, 3, 32, 32, 6, 3, 3, 2, 2, 2, 2, 0, 0, 1},
        {1, 4, 12, 12, 5, 7, 7, 1, 1, 3, 3, 0, 0, 1},  /* 49 taps: more than one tap chunk */
        {1, 5, 9, 9, 4, 3, 3, 3, 3, 0, 0, 2, 2, 1},    /* stride 3 */
        /* small phases, many output channels: the channels-in-lanes tiles */
        {1, 32, 4, 4, 56, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {2, 24, 8, 6, 100, 3, 3, 2, 2, 1, 1, 1, 0, 1},
        {1, 16, 5, 5, 192, 3, 3, 2, 2, 0, 0, 0, 0, 2}, {3, 8, 3, 7, 64, 2, 3, 1, 1, 0, 1, 0, 0, 1},
        /* thin outputs: tiles of more than 4 pixel vectors (MR 2..4 x NV 5..8 on
         * AVX-512), with a short last tile and partial vectors */
        {1, 8, 13, 20, 2, 4, 4, 2, 2, 1, 1, 0, 0, 1},  {1, 8, 17, 20, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1},
        {2, 6, 11, 36, 3, 4, 4, 2, 2, 1, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, s[i][1], s[i][4], s[i][5], s[i][6]);
        p.stride[0] = s[i][7];
        p.stride[1] = s[i][8];
        p.padding[0] = s[i][9];
        p.padding[1] = s[i][10];
        p.output_padding[0] = s[i][11];
        p.output_padding[1] = s[i][12];
        p.groups = s[i][13];
        const int64_t in[4] = {s[i][0], s[i][1], s[i][2], s[i][3]};
        run_case(&p, in, r, impls, nimpl);
    }
}

int main(void) {
    tconv_impl impls[4];
    int nimpl = 0;
    for (int i = TCONV_IMPL_PORTABLE; i <= TCONV_IMPL_AVX512; i++)
        if (tconv_impl_available((tconv_impl)i)) impls[nimpl++] = (tconv_impl)i;
    CHECK(nimpl >= 1);
    printf("fast impls:");
    for (int i = 0; i < nimpl; i++) printf(" %s", tconv_impl_name(impls[i]));
    printf(" (best %s, default threads %d)\n", tconv_impl_name(tconv_best_impl()),
           tconv_default_num_threads());
    tu_rng r;
    tu_rng_seed(&r, 20261124);
    seed_like(&r, impls, nimpl);
    for (int c = 0; c < 400; c++) {
        tconv_conv_transpose2d_params p;
        int64_t in[4];
        random_case(&r, 0, &p, in);
        run_case(&p, in, &r, impls, nimpl);
    }
    for (int c = 0; c < 60; c++) {
        tconv_conv_transpose2d_params p;
        int64_t in[4];
        random_case(&r, 1, &p, in);
        run_case(&p, in, &r, impls, nimpl);
    }
    printf("fast paths: %lld cases, %lld runs, worst rel err %.3g\n", (long long)ncases,
           (long long)nruns, worst);
    return tc_test_summary("test_fast_paths");
}
