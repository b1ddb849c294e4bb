/* test_conv_transpose2d_forward.c -- ConvTranspose2d's forward on every
 * path and ISA against the reference kernel (the operator tester): the
 * seed shapes' forms (shrunk), batches run image at a time, the 1x1 GEMM,
 * channels-in-lanes and thin-output tiles, then random cases of every
 * parameter. */
#include "check.h"
#include "op_tester.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t seed_like[][14] = {
    /* N Cin H W Cout kh kw sh sw ph pw oph opw g */
    {1, 64, 4, 4, 40, 4, 4, 2, 2, 1, 1, 0, 0, 1},   {1, 32, 8, 8, 24, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {1, 16, 16, 16, 20, 4, 4, 2, 2, 1, 1, 0, 0, 1}, {2, 16, 32, 32, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    {9, 8, 16, 20, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1},
    /* batches of small images run image at a time (N >= 2 x threads) */
    {8, 6, 12, 9, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2},    {9, 4, 7, 5, 5, 3, 5, 2, 1, 2, 2, 0, 0, 1},
    {5, 20, 1, 1, 24, 4, 4, 1, 1, 0, 0, 0, 0, 1},   {1, 24, 8, 8, 16, 2, 2, 2, 2, 0, 0, 0, 0, 1},
    {1, 8, 40, 48, 12, 2, 2, 2, 2, 0, 0, 0, 0, 1},  {2, 16, 10, 20, 33, 3, 5, 2, 1, 4, 2, 0, 0, 1},
    {3, 16, 8, 8, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1},   {1, 3, 32, 32, 6, 3, 3, 2, 2, 2, 2, 0, 0, 1},
    {1, 4, 12, 12, 5, 7, 7, 1, 1, 3, 3, 0, 0, 1}, /* 49 taps: more than one tap chunk */
    {1, 5, 9, 9, 4, 3, 3, 3, 3, 0, 0, 2, 2, 1},   /* stride 3 */
    /* small phases, many output channels: the channels-in-lanes tiles */
    {1, 32, 4, 4, 56, 4, 4, 2, 2, 1, 1, 0, 0, 1},   {2, 24, 8, 6, 100, 3, 3, 2, 2, 1, 1, 1, 0, 1},
    {1, 16, 5, 5, 192, 3, 3, 2, 2, 0, 0, 0, 0, 2},  {3, 8, 3, 7, 64, 2, 3, 1, 1, 0, 1, 0, 0, 1},
    /* thin outputs: tiles of more than 4 pixel vectors (MR 2..4 x NV 5..8 on
     * AVX-512), with a short last tile and partial vectors */
    {1, 8, 13, 20, 2, 4, 4, 2, 2, 1, 1, 0, 0, 1},   {1, 8, 17, 20, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1},
    {2, 6, 11, 36, 3, 4, 4, 2, 2, 1, 1, 1, 0, 1},
    /* 1x1 inputs: groups, padding, and output padding leaving pixels no
     * tap reaches (then not the GEMM panel) */
    {3, 12, 1, 1, 10, 4, 3, 2, 2, 1, 0, 1, 1, 2}, {2, 9, 1, 1, 7, 3, 3, 2, 3, 0, 1, 1, 2, 1},
    /* depthwise (one channel per group) */
    {2, 20, 9, 17, 20, 4, 4, 2, 2, 1, 1, 0, 0, 20}, {1, 13, 8, 8, 13, 3, 3, 1, 1, 1, 1, 0, 0, 13},
    {1, 24, 16, 16, 24, 2, 2, 2, 2, 0, 0, 0, 0, 24}, {2, 10, 5, 33, 10, 3, 3, 3, 3, 1, 1, 2, 0, 10},
    /* outputs of 2 MiB and more, stored past the caches: stride 2 with
     * every row's lines aligned, with rows 800 bytes long (some lines
     * aligned), stride 1 */
    {1, 8, 128, 128, 16, 2, 2, 2, 2, 0, 0, 0, 0, 1}, {1, 4, 100, 100, 28, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {1, 8, 64, 200, 48, 3, 3, 1, 1, 1, 1, 0, 0, 1},
};

/* the path the best implementation must take (NCHW); `only`: on that
 * implementation alone (its vector length decides), AUTO: on every one */
static const struct {
    int64_t s[14];
    const char *path;
    tconv_impl only;
} paths[] = {
    {{1, 64, 4, 4, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil", TCONV_IMPL_AUTO},
    {{2, 16, 16, 16, 8, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-sw2", TCONV_IMPL_AUTO},
    {{2, 20, 1, 1, 24, 4, 4, 1, 1, 0, 0, 0, 0, 1}, "gemm-1x1", TCONV_IMPL_AUTO},
    /* groups, padding */
    {{3, 12, 1, 1, 10, 4, 3, 1, 1, 1, 0, 0, 0, 2}, "gemm-1x1", TCONV_IMPL_AUTO},
    {{1, 8, 9, 9, 8, 3, 3, 3, 3, 0, 0, 0, 0, 1}, "phase", TCONV_IMPL_AUTO},
    {{2, 12, 8, 8, 12, 4, 4, 2, 2, 1, 1, 0, 0, 12}, "phase-dw", TCONV_IMPL_AUTO},
    /* stride beyond the output */
    {{1, 4, 1, 2, 4, 2, 2, 300, 1, 0, 0, 0, 0, 1}, "reference", TCONV_IMPL_AUTO},
    /* 3x3 stride 1: Winograd (paddings 1, 0, 2; part tiles; two images) */
    {{2, 32, 9, 7, 64, 3, 3, 1, 1, 1, 1, 0, 0, 1}, "winograd", TCONV_IMPL_AUTO},
    {{1, 24, 6, 6, 48, 3, 3, 1, 1, 0, 0, 0, 0, 1}, "winograd", TCONV_IMPL_AUTO},
    {{1, 16, 10, 9, 64, 3, 3, 1, 1, 2, 2, 0, 0, 1}, "winograd", TCONV_IMPL_AUTO},
    /* one vector of output channels on 6-pixel rows: channels in lanes
     * where a vector holds 16 floats */
    {{16, 32, 3, 3, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil", TCONV_IMPL_AVX512},
    /* Winograd with 32 output channels: its GEMMs on channels-in-lanes tiles */
    {{2, 48, 9, 7, 32, 3, 3, 1, 1, 1, 1, 0, 0, 1}, "winograd", TCONV_IMPL_AVX512},
    {{3, 24, 3, 3, 20, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil", TCONV_IMPL_AVX512},
    /* small phases whose rows fill 16-lane vectors: pixel vectors where a
     * vector holds 16 floats, channels in lanes where it holds 8 */
    {{3, 16, 8, 8, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1}, "phase-sw2", TCONV_IMPL_AVX512},
    {{3, 16, 8, 8, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1}, "phase-cil", TCONV_IMPL_AVX2},
    /* a batch of small phases with many output channels: AVX-512's wide
     * tiles (8 pixels x 48 channels); blocks of 3 + 3 vectors, of 3 + 3 + 1
     * with a short last block of 4 pixels (12 images of 3 x 3 phases), a
     * batch of 10 whose blocks straddle positions, and filled 16-lane rows
     * (8 x 8 phases) that the folded batch takes from the pixel vectors */
    {{16, 64, 4, 4, 96, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide", TCONV_IMPL_AVX512},
    {{12, 24, 3, 3, 100, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide", TCONV_IMPL_AVX512},
    {{10, 32, 4, 4, 112, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide", TCONV_IMPL_AVX512},
    {{8, 16, 8, 8, 96, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide", TCONV_IMPL_AVX512},
    /* one image of 8 x 8 phases: the wide tiles where the padding leaves
     * positions fewer taps (blocks skip them), pixel vectors where every
     * position reads all of its phase's taps */
    {{1, 16, 8, 8, 96, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide", TCONV_IMPL_AVX512},
    {{1, 16, 10, 10, 96, 4, 4, 2, 2, 3, 3, 0, 0, 1}, "phase-sw2", TCONV_IMPL_AVX512},
    /* one image, or 64 channels (two narrow blocks): the narrow tiles */
    {{1, 64, 4, 4, 96, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil", TCONV_IMPL_AVX512},
    {{16, 32, 4, 4, 64, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil", TCONV_IMPL_AVX512},
};

/* the path in NHWC: one tap per phase (k == s), any phase size: the
 * channels-in-lanes GEMM of the pixels' channel rows (phases of 144
 * pixels; of 1024, past the ordered ones, into a 2 MiB output, streamed;
 * padding that shifts the taps; output_padding's pixels without a tap;
 * groups; a 1x1 kernel of stride 1) */
static const struct {
    int64_t s[14];
    const char *path;
} nhwc_paths[] = {
    {{1, 16, 12, 12, 32, 2, 2, 2, 2, 0, 0, 0, 0, 1}, "phase-cil"},
    {{1, 16, 64, 64, 32, 2, 2, 2, 2, 0, 0, 0, 0, 1}, "phase-cil"},
    {{2, 16, 10, 10, 96, 2, 2, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide"},
    {{1, 16, 9, 9, 32, 2, 2, 2, 2, 0, 0, 1, 1, 1}, "phase-cil"},
    {{2, 32, 9, 7, 64, 2, 2, 2, 2, 0, 0, 0, 0, 2}, "phase-cil"},
    {{3, 24, 11, 5, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1}, "phase-cil"},
    /* one image whose phases of 144 / 256 pixels lose taps to the padding:
     * channels in lanes, positions ordered by their taps; a padding that
     * leaves every position all of its taps: pixel vectors */
    {{1, 32, 12, 12, 32, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil"},
    {{1, 24, 16, 16, 96, 4, 4, 2, 2, 1, 1, 0, 0, 1}, "phase-cil-wide"},
    {{1, 16, 18, 18, 32, 4, 4, 2, 2, 3, 3, 0, 0, 1}, "phase-sw2"},
};

/* An NHWC output past the caches written at an address off a vector's
 * alignment (the tiles then store through the caches): the same bits as
 * at an aligned one, and the reference's values. */
static void test_unaligned_nhwc(void) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 16, 32, 2, 2);
    p.stride[0] = p.stride[1] = 2;
    const int64_t in[4] = {1, 16, 64, 64}, xn = 16 * 64 * 64, yn = 32 * 128 * 128;
    tu_rng r;
    tu_rng_seed(&r, 6061);
    float *x = tu_alloc(xn), *xt = tu_alloc(xn), *w = tu_alloc(16 * 32 * 4), b[32];
    float *y0 = tu_alloc(yn), *y1 = tu_alloc(yn + 16), *ref = tu_alloc(yn);
    tu_fill(&r, x, xn);
    tu_fill(&r, w, 16 * 32 * 4);
    tu_fill(&r, b, 32);
    for (int64_t c = 0; c < 16; c++) /* NHWC copy of x */
        for (int64_t i = 0; i < 64 * 64; i++) xt[i * 16 + c] = x[c * 64 * 64 + i];
    tu_poison(ref, yn);
    CHECK(tconv_reference_conv_transpose2d(&p, in, x, w, b, ref, yn) == TCONV_OK);
    tconv_impl impls[8];
    const int ni = tu_impls(impls);
    for (int i = 0; i < ni; i++) {
        tconv_options o;
        tconv_options_init(&o);
        o.impl = impls[i];
        o.layout = TCONV_LAYOUT_NHWC;
        tconv_op *op = NULL;
        CHECK(tconv_conv_transpose2d_create(&p, w, b, &o, &op) == TCONV_OK);
        if (!op) continue;
        int64_t out[4];
        size_t ws = 0;
        CHECK(tconv_op_reshape(op, 4, in, NULL, 0, out, &ws) == TCONV_OK);
        void *wsp = ws ? malloc(ws) : NULL;
        tu_poison(y0, yn);
        tu_poison(y1, yn + 16);
        CHECK(tconv_op_run(op, xt, y0, wsp) == TCONV_OK);
        CHECK(tconv_op_run(op, xt, y1 + 1, wsp) == TCONV_OK);
        CHECK_MSG(!memcmp(y0, y1 + 1, (size_t)yn * sizeof(float)),
                  "%s: an NHWC output at an unaligned address differs", tconv_impl_name(impls[i]));
        double worst = 0;
        for (int64_t c = 0; c < 32; c++)
            for (int64_t j = 0; j < 128 * 128; j++) {
                const double d = fabs((double)y0[j * 32 + c] - ref[c * 128 * 128 + j]);
                worst = d > worst || d != d ? d : worst;
            }
        CHECK_MSG(worst < 1e-4, "%s: NHWC output off the reference by %g", tconv_impl_name(impls[i]),
                  worst);
        free(wsp);
        tconv_op_destroy(op);
    }
    free(x);
    free(xt);
    free(w);
    free(y0);
    free(y1);
    free(ref);
}

int main(void) {
    ot_stats st = {0};
    tu_rng r;
    tu_rng_seed(&r, 20261124);
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof seed_like / sizeof seed_like[0]; i++) {
        ot_case c = ot_ct_case(seed_like[i]);
        c.bias = (int)(i % 3 != 2);
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        ot_case c = ot_ct_case(paths[i].s);
        if (paths[i].only == TCONV_IMPL_AUTO || paths[i].only == tconv_best_impl()) c.expect_path = paths[i].path;
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    for (size_t i = 0; i < sizeof nhwc_paths / sizeof nhwc_paths[0]; i++) {
        ot_case c = ot_ct_case(nhwc_paths[i].s);
        if (tconv_best_impl() == TCONV_IMPL_AVX512) c.expect_path_nhwc = nhwc_paths[i].path;
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    test_unaligned_nhwc();
    for (int i = 0; i < 300; i++) {
        ot_case c;
        ot_random_ct(&r, 0, &c);
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    for (int i = 0; i < 40; i++) {
        ot_case c;
        ot_random_ct(&r, 1, &c);
        ot_run(&c, TCONV_PASS_FORWARD, seed++, &st);
    }
    ot_report("conv_transpose2d forward", &st);
    CHECK(st.fast_runs > 0);
    return tc_test_summary("test_conv_transpose2d_forward");
}
