/* The seeds' decomposition (tools/decompose.c: zero insertion, border
 * padding or cropping, flipped and in/out-swapped kernel, stride-1 conv2d
 * through the public API) equals the direct kernel
 * tconv_reference_conv_transpose2d over random parameter sets; its
 * intermediates are what seed 001 prints; it refuses what the library
 * refuses and then writes nothing. */
#include "check.h"

#include <math.h>
#include <string.h>
#include <tconv.h>

#include "decompose.h"

static uint64_t rng_state = 0x1234567ull;

static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]. */
static int64_t irand(int64_t lo, int64_t hi) {
    return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}

static float frand(void) { return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static float *random_floats(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static float *poisoned(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* Seed 001: the 7x7 padded image and the flipped kernel it prints, and
 * PyTorch's output. */
static void test_seed001_intermediates(void) {
    const float x[9] = {9, 1, 3, 7, 8, 7, 8, 2, 2};
    const float w[9] = {4, 2, 3, 1, 4, 3, 1, 1, 1};
    const float flipped[9] = {1, 1, 1, 3, 4, 1, 3, 2, 4};
    const float torch_y[25] = {36, 28, 4,  6,  12, 23, 63, 17, 56, 17, 28, 29, 32,
                               31, 28, 23, 47, 12, 29, 11, 32, 26, 8,  8,  8};
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, 1, 1, 3, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    const int64_t xs[4] = {1, 1, 3, 3};
    float y[25];
    for (int i = 0; i < 25; i++) y[i] = NAN;
    decomp_steps st;
    int64_t ys[4];
    CHECK(decomp_conv_transpose2d(&p, xs, x, w, NULL, y, 25, ys, &st) == TCONV_OK);
    CHECK(ys[0] == 1 && ys[1] == 1 && ys[2] == 5 && ys[3] == 5);
    CHECK(st.zero_h == 5 && st.zero_w == 5 && st.padded_h == 7 && st.padded_w == 7);
    CHECK(st.pad_top == 1 && st.pad_bottom == 1 && st.pad_left == 1 && st.pad_right == 1);
    for (int i = 0; i < 25; i++) CHECK_MSG(y[i] == torch_y[i], "y[%d] = %g, PyTorch %g", i, y[i], torch_y[i]);
    for (int i = 0; i < 9; i++) CHECK(st.flipped_weight[i] == flipped[i]);
    if (st.padded) {
        /* The seed's 周围填充 matrix: x at odd (row, col) of the 7x7, zero elsewhere. */
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 7; c++) {
                const float want = (r % 2 == 1 && c % 2 == 1) ? x[(r / 2) * 3 + c / 2] : 0.0f;
                CHECK_MSG(st.padded[r * 7 + c] == want, "padded[%d][%d] = %g, seed %g", r, c,
                          st.padded[r * 7 + c], want);
            }
    }
    decomp_steps_free(&st);
}

/* Intermediates of one random case against their definitions. */
static void check_intermediates(const tconv_conv_transpose2d_params *p, const int64_t xs[4],
                                const float *x, const float *w, const decomp_steps *st,
                                const int64_t ys[4], int case_no) {
    const int64_t nc = xs[0] * xs[1];
    CHECK_MSG(st->zero_h == (xs[2] - 1) * p->stride[0] + 1 && st->zero_w == (xs[3] - 1) * p->stride[1] + 1,
              "case %d zero-inserted size", case_no);
    CHECK_MSG(st->pad_top == p->dilation[0] * (p->kernel_size[0] - 1) - p->padding[0] &&
                  st->pad_bottom == st->pad_top + p->output_padding[0] &&
                  st->pad_left == p->dilation[1] * (p->kernel_size[1] - 1) - p->padding[1] &&
                  st->pad_right == st->pad_left + p->output_padding[1],
              "case %d border sizes", case_no);
    CHECK_MSG(st->padded_h - p->dilation[0] * (p->kernel_size[0] - 1) == ys[2] &&
                  st->padded_w - p->dilation[1] * (p->kernel_size[1] - 1) == ys[3],
              "case %d padded size does not give the output size", case_no);
    int bad = 0;
    for (int64_t q = 0; q < nc && !bad; q++)
        for (int64_t r = 0; r < st->zero_h; r++)
            for (int64_t c = 0; c < st->zero_w; c++) {
                const int on = r % p->stride[0] == 0 && c % p->stride[1] == 0;
                const float want =
                    on ? x[(q * xs[2] + r / p->stride[0]) * xs[3] + c / p->stride[1]] : 0.0f;
                if (st->zero_inserted[(q * st->zero_h + r) * st->zero_w + c] != want) bad = 1;
            }
    CHECK_MSG(!bad, "case %d zero insertion", case_no);
    const int64_t cig = p->in_channels / p->groups, cog = p->out_channels / p->groups;
    const int64_t kh = p->kernel_size[0], kw = p->kernel_size[1];
    bad = 0;
    for (int64_t oc = 0; oc < p->out_channels; oc++)
        for (int64_t i = 0; i < cig; i++)
            for (int64_t a = 0; a < kh; a++)
                for (int64_t b = 0; b < kw; b++) {
                    const int64_t g = oc / cog, ic = g * cig + i;
                    if (st->flipped_weight[((oc * cig + i) * kh + a) * kw + b] !=
                        w[((ic * cog + oc % cog) * kh + (kh - 1 - a)) * kw + (kw - 1 - b)])
                        bad = 1;
                }
    CHECK_MSG(!bad, "case %d flipped weight", case_no);
}

static void test_random(int cases) {
    int compared = 0, refused = 0, cropped = 0, zero_batch = 0;
    double worst = 0;
    for (int t = 0; t < cases; t++) {
        const int64_t groups = irand(1, 3);
        tconv_conv_transpose2d_params p;
        int64_t k[2], d[2], s[2];
        for (int i = 0; i < 2; i++) {
            k[i] = irand(1, 4);
            d[i] = irand(1, 3);
            s[i] = irand(1, 4);
        }
        tconv_conv_transpose2d_params_init(&p, groups * irand(1, 3), groups * irand(1, 3), k[0], k[1]);
        p.groups = groups;
        for (int i = 0; i < 2; i++) {
            p.stride[i] = s[i];
            p.dilation[i] = d[i];
            /* 1 in 3 may exceed dilation*(k-1): the crop case. */
            p.padding[i] = irand(0, d[i] * (k[i] - 1) + (irand(0, 2) == 0 ? 2 : 0));
            const int64_t opmax = (s[i] > d[i] ? s[i] : d[i]) - 1;
            p.output_padding[i] = irand(0, opmax);
        }
        /* 1 in 40: an out-of-range output_padding, which must be refused. */
        if (irand(0, 39) == 0) p.output_padding[0] = (s[0] > d[0] ? s[0] : d[0]);
        const int64_t xs[4] = {irand(0, 9) == 0 ? 0 : irand(1, 2), p.in_channels, irand(1, 6), irand(1, 6)};
        const int64_t x_count = xs[0] * xs[1] * xs[2] * xs[3];
        const int64_t w_count = p.in_channels * (p.out_channels / groups) * k[0] * k[1];
        float *x = random_floats(x_count), *w = random_floats(w_count);
        float *bias = irand(0, 1) ? random_floats(p.out_channels) : NULL;

        int64_t ys[4];
        const tconv_status shape_st = tconv_conv_transpose2d_output_shape(&p, 4, xs, NULL, 0, ys);
        if (shape_st != TCONV_OK) {
            /* Refused (e.g. output size <= 0): the decomposition must refuse
             * too and leave its output alone. */
            float probe[16];
            for (int i = 0; i < 16; i++) probe[i] = NAN;
            decomp_steps st;
            const tconv_status dst = decomp_conv_transpose2d(&p, xs, x, w, bias, probe, 16, NULL, &st);
            CHECK_MSG(dst == shape_st, "case %d: library says %d (%s), decomposition %d", t,
                      (int)shape_st, tconv_last_error(), (int)dst);
            CHECK_MSG(strlen(decomp_error()) > 0, "case %d: refusal without a message", t);
            int untouched = 1;
            for (int i = 0; i < 16; i++) untouched &= isnan(probe[i]);
            CHECK_MSG(untouched, "case %d: refused but wrote output", t);
            decomp_steps_free(&st);
            refused++;
        } else {
            const int64_t y_count = ys[0] * ys[1] * ys[2] * ys[3];
            float *y_ref = poisoned(y_count), *y_dec = poisoned(y_count);
            CHECK(tconv_reference_conv_transpose2d(&p, xs, x, w, bias, y_ref, y_count) == TCONV_OK);
            decomp_steps st;
            int64_t ds[4];
            const tconv_status dst = decomp_conv_transpose2d(&p, xs, x, w, bias, y_dec, y_count, ds, &st);
            CHECK_MSG(dst == TCONV_OK, "case %d: decomposition failed: %s", t, decomp_error());
            if (dst == TCONV_OK) {
                CHECK(memcmp(ds, ys, sizeof ys) == 0);
                double scale = 1, diff = 0;
                for (int64_t i = 0; i < y_count; i++)
                    if (fabs((double)y_ref[i]) > scale) scale = fabs((double)y_ref[i]);
                for (int64_t i = 0; i < y_count; i++) {
                    const double e = fabs((double)y_dec[i] - (double)y_ref[i]);
                    if (!(e <= diff)) diff = isnan(e) ? INFINITY : e;
                }
                diff /= scale;
                if (diff > worst) worst = diff;
                CHECK_MSG(diff < 1e-5,
                          "case %d: N=%lld Cin=%lld Cout=%lld H=%lld W=%lld k=(%lld,%lld) "
                          "s=(%lld,%lld) p=(%lld,%lld) op=(%lld,%lld) d=(%lld,%lld) g=%lld: "
                          "relative max difference %g",
                          t, (long long)xs[0], (long long)p.in_channels, (long long)p.out_channels,
                          (long long)xs[2], (long long)xs[3], (long long)k[0], (long long)k[1],
                          (long long)s[0], (long long)s[1], (long long)p.padding[0],
                          (long long)p.padding[1], (long long)p.output_padding[0],
                          (long long)p.output_padding[1], (long long)d[0], (long long)d[1],
                          (long long)groups, diff);
                check_intermediates(&p, xs, x, w, &st, ys, t);
                compared++;
                cropped += st.pad_top < 0 || st.pad_left < 0;
                zero_batch += xs[0] == 0;
            }
            decomp_steps_free(&st);
            /* Too small an output buffer: refused, nothing written. */
            if (y_count > 1) {
                float *small = poisoned(y_count - 1);
                CHECK(decomp_conv_transpose2d(&p, xs, x, w, bias, small, y_count - 1, NULL, NULL) != TCONV_OK);
                int untouched = 1;
                for (int64_t i = 0; i < y_count - 1; i++) untouched &= isnan(small[i]);
                CHECK_MSG(untouched, "case %d: short buffer written", t);
                free(small);
            }
            free(y_ref);
            free(y_dec);
        }
        free(x);
        free(w);
        free(bias);
    }
    printf("random cases: %d compared with the reference kernel (worst relative difference %.3g; "
           "%d with cropping, %d with zero batch), %d refused by both\n",
           compared, worst, cropped, zero_batch, refused);
    CHECK(compared > cases / 2);
    CHECK(cropped > 10);
    CHECK(zero_batch > 0);
    CHECK(refused > 0);
}

int main(void) {
    test_seed001_intermediates();
    test_random(600);
    return tc_test_summary("test_explain_decomposition");
}
