/* cmd_explain.c -- `tconv explain`: seed 001's decomposition of a transposed
 * convolution, printed step by step for a small example, then compared with
 * the library's direct result.  The arithmetic lives in decompose.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#include "cli.h"
#include "commands.h"
#include "decompose.h"

static const char *CMD = "explain";

/* Seed 001: inputs and weight from torch.manual_seed(0) randint, and the
 * output PyTorch printed for stride 2, padding 1. */
static const float SEED_X[9] = {9, 1, 3, 7, 8, 7, 8, 2, 2};
static const float SEED_W[9] = {4, 2, 3, 1, 4, 3, 1, 1, 1};
static const float SEED_Y[25] = {36, 28, 4,  6,  12, 23, 63, 17, 56, 17, 28, 29, 32,
                                 31, 28, 23, 47, 12, 29, 11, 32, 26, 8,  8,  8};

/* explain prints every matrix: keep examples small enough to read. */
enum { MAX_SIDE = 48, MAX_PLANES = 16 };

static void help(void) {
    printf(
        "Usage: tconv explain [options]\n\n"
        "Prints, for a small example, how a transposed convolution is an ordinary one\n"
        "(seed 001): 1. insert stride-1 zeros between input pixels, 2. pad every edge with\n"
        "dilation*(kernel-1)-padding zeros (crop where negative; output_padding adds zeros at\n"
        "bottom/right), 3. flip the kernel (and swap in/out channels per group), 4. run a\n"
        "stride-1 convolution (tconv_conv2d).  Then computes the same layer directly with the\n"
        "library and prints the largest difference.\n\n"
        "Without options: seed 001's example, input 1x1x3x3, kernel 3, stride 2, padding 1,\n"
        "with the seed's numbers (checked against PyTorch's printed output too).\n"
        "Every option below starts from that example and changes one thing.\n\n"
        "  --input-size H,W          input height, width (default 3,3)\n"
        "  -n, --batch N             batch size (default 1)\n"
        "      --in-channels C       (default 1)\n"
        "  -o, --out-channels C      (default 1)\n"
        "  -k, --kernel K|KH,KW      kernel_size (default 3)\n"
        "  -s, --stride S|SH,SW      stride (default 2)\n"
        "  -p, --padding P|PH,PW     padding (default 1)\n"
        "      --output-padding OP   output_padding (default 0)\n"
        "  -d, --dilation D|DH,DW    dilation (default 1)\n"
        "  -g, --groups G            groups (default 1)\n"
        "      --output-size H,W     pick output_padding as forward(input, output_size)\n"
        "      --bias                add a random bias\n"
        "      --values int|float    random values: small integers like the seed's randint\n"
        "                            (exact in float32; default) or uniform floats in [-1, 1)\n"
        "      --seed S              random seed (default 0)\n"
        "      --input-values LIST   the input's values, comma separated, NCHW order\n"
        "      --weight-values LIST  the weight's values, (Cin, Cout/g, kH, kW) order\n"
        "  -h, --help                this text\n\n"
        "Examples:\n"
        "  tconv explain\n"
        "  tconv explain --output-padding 1\n"
        "  tconv explain -k 2 -s 3 -p 0 -d 2 --input-size 2,3\n"
        "  tconv explain --in-channels 2 -o 4 -g 2 --values float\n\n"
        "Exit status: 0 the decomposition equals the direct result, 1 it does not or the\n"
        "library refused the parameters, 2 bad command line.\n");
}

static void print_planes(const char *what, const float *t, int64_t planes, int64_t per_group,
                         const char *outer, const char *inner, int64_t h, int64_t w) {
    for (int64_t q = 0; q < planes; q++) {
        printf("  %s[%s=%lld, %s=%lld] (%lldx%lld):\n", what, outer, (long long)(q / per_group),
               inner, (long long)(q % per_group), (long long)h, (long long)w);
        cli_print_matrix(stdout, "    ", t + q * h * w, h, w);
    }
}

/* Uniform in [-1, 1). */
static float uniform(tconv_rng *r) { return (float)(2.0 * tconv_rng_uniform(r) - 1.0); }

/* Uniform integer in [lo, hi], like torch.randint(lo, hi + 1). */
static float int_in(tconv_rng *r, int lo, int hi) {
    return (float)(lo + (int)(tconv_rng_uniform(r) * (double)(hi - lo + 1)));
}

/* "1 zero row on top" / "2 rows cropped at the top" */
static void say_border(const char *side, int64_t n, const char *unit) {
    if (n >= 0)
        printf("%lld zero %s%s at the %s", (long long)n, unit, n == 1 ? "" : "s", side);
    else
        printf("%lld %s%s cropped at the %s", (long long)-n, unit, n == -1 ? "" : "s", side);
}

int cmd_explain(int argc, char **argv) {
    int64_t size[2] = {3, 3}, batch = 1, cin = 1, cout = 1, groups = 1, seed = 0;
    int64_t k[2] = {3, 3}, s[2] = {2, 2}, pad[2] = {1, 1}, opad[2] = {0, 0}, dil[2] = {1, 1};
    int64_t osize[4];
    int osize_len = 0, use_bias = 0, floats = 0, changed = 0;
    const char *xv_text = NULL, *wv_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        int n;
#define OPT(l, sh, val) ((r = cli_opt(CMD, argc, argv, &i, l, sh, val)) != 0)
#define NEED() \
    do {       \
        if (r < 0) return CLI_USAGE; \
        changed = 1; \
    } while (0)
        if (OPT("help", "h", NULL)) {
            help();
            return CLI_OK;
        } else if (OPT("input-size", NULL, &v)) {
            NEED();
            if (!cli_parse_pair(v, size)) return cli_bad_value(CMD, "--input-size", v, "H,W");
        } else if (OPT("batch", "n", &v)) {
            NEED();
            if (!cli_parse_i64(v, &batch)) return cli_bad_value(CMD, "--batch", v, "an integer");
        } else if (OPT("in-channels", NULL, &v)) {
            NEED();
            if (!cli_parse_i64(v, &cin)) return cli_bad_value(CMD, "--in-channels", v, "an integer");
        } else if (OPT("out-channels", "o", &v)) {
            NEED();
            if (!cli_parse_i64(v, &cout)) return cli_bad_value(CMD, "--out-channels", v, "an integer");
        } else if (OPT("kernel", "k", &v)) {
            NEED();
            if (!cli_parse_pair(v, k)) return cli_bad_value(CMD, "--kernel", v, "K or KH,KW");
        } else if (OPT("stride", "s", &v)) {
            NEED();
            if (!cli_parse_pair(v, s)) return cli_bad_value(CMD, "--stride", v, "S or SH,SW");
        } else if (OPT("padding", "p", &v)) {
            NEED();
            if (!cli_parse_pair(v, pad)) return cli_bad_value(CMD, "--padding", v, "P or PH,PW");
        } else if (OPT("output-padding", NULL, &v)) {
            NEED();
            if (!cli_parse_pair(v, opad))
                return cli_bad_value(CMD, "--output-padding", v, "OP or OPH,OPW");
        } else if (OPT("dilation", "d", &v)) {
            NEED();
            if (!cli_parse_pair(v, dil)) return cli_bad_value(CMD, "--dilation", v, "D or DH,DW");
        } else if (OPT("groups", "g", &v)) {
            NEED();
            if (!cli_parse_i64(v, &groups)) return cli_bad_value(CMD, "--groups", v, "an integer");
        } else if (OPT("output-size", NULL, &v)) {
            NEED();
            if (!cli_parse_list(v, osize, 4, &osize_len) || (osize_len != 2 && osize_len != 4))
                return cli_bad_value(CMD, "--output-size", v, "H,W");
        } else if (OPT("bias", NULL, NULL)) {
            use_bias = 1;
            changed = 1;
        } else if (OPT("values", NULL, &v)) {
            NEED();
            if (strcmp(v, "int") && strcmp(v, "float"))
                return cli_bad_value(CMD, "--values", v, "int or float");
            floats = v[0] == 'f';
        } else if (OPT("seed", NULL, &v)) {
            NEED();
            if (!cli_parse_i64(v, &seed)) return cli_bad_value(CMD, "--seed", v, "an integer");
        } else if (OPT("input-values", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            xv_text = v;
        } else if (OPT("weight-values", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            wv_text = v;
        } else {
            fprintf(stderr, "tconv explain: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return CLI_USAGE;
        }
        (void)n;
#undef OPT
#undef NEED
    }

    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, cin, cout, k[0], k[1]);
    memcpy(p.stride, s, sizeof p.stride);
    memcpy(p.padding, pad, sizeof p.padding);
    memcpy(p.output_padding, opad, sizeof p.output_padding);
    memcpy(p.dilation, dil, sizeof p.dilation);
    p.groups = groups;
    const int64_t in_shape[4] = {batch, cin, size[0], size[1]};
    if (tconv_conv_transpose2d_params_check(&p) != TCONV_OK) {
        fprintf(stderr, "tconv explain: error: %s\n", tconv_last_error());
        return CLI_FAIL;
    }
    if (osize_len) {
        int64_t op[2];
        if (tconv_conv_transpose2d_output_padding_for_size(&p, 4, in_shape, osize, osize_len, op) !=
            TCONV_OK) {
            fprintf(stderr, "tconv explain: error: %s\n", tconv_last_error());
            return CLI_FAIL;
        }
        memcpy(p.output_padding, op, sizeof op);
    }
    int64_t out_shape[4];
    if (tconv_conv_transpose2d_output_shape(&p, 4, in_shape, NULL, 0, out_shape) != TCONV_OK) {
        fprintf(stderr, "tconv explain: error: %s\n", tconv_last_error());
        return CLI_FAIL;
    }
    /* Bound what gets printed (and allocated) before allocating anything;
     * the library accepted the parameters, so each one is positive. */
    if (size[0] > MAX_SIDE || size[1] > MAX_SIDE || k[0] > MAX_SIDE || k[1] > MAX_SIDE ||
        s[0] > MAX_SIDE || s[1] > MAX_SIDE || dil[0] > MAX_SIDE || dil[1] > MAX_SIDE ||
        cin > MAX_PLANES || cout > MAX_PLANES || batch > MAX_PLANES) {
        fprintf(stderr, "tconv explain: this example is too big to print (sizes, kernel, stride, "
                        "dilation at most %d, channels and batch at most %d)\n",
                MAX_SIDE, MAX_PLANES);
        return CLI_USAGE;
    }
    const int64_t big_h = (size[0] - 1) * s[0] + 1 + 2 * dil[0] * (k[0] - 1) + p.output_padding[0];
    const int64_t big_w = (size[1] - 1) * s[1] + 1 + 2 * dil[1] * (k[1] - 1) + p.output_padding[1];
    if (batch < 1) {
        fprintf(stderr, "tconv explain: --batch must be at least 1 here (zero batch gives an empty "
                        "output: nothing to explain; tconv shape shows its size)\n");
        return CLI_USAGE;
    }
    if (batch * cin > MAX_PLANES || cout * cin / groups > MAX_PLANES ||
        batch * cout > MAX_PLANES || big_h > MAX_SIDE || big_w > MAX_SIDE || out_shape[2] > MAX_SIDE ||
        out_shape[3] > MAX_SIDE) {
        fprintf(stderr,
                "tconv explain: this example is too big to print (at most %d planes per tensor "
                "and %d rows/columns); use tconv shape for sizes\n",
                MAX_PLANES, MAX_SIDE);
        return CLI_USAGE;
    }

    const int64_t x_count = batch * cin * size[0] * size[1];
    const int64_t w_count = cin * (cout / groups) * k[0] * k[1];
    const int64_t y_count = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
    float *x = malloc(sizeof(float) * (size_t)x_count);
    float *w = malloc(sizeof(float) * (size_t)w_count);
    float *b = malloc(sizeof(float) * (size_t)cout);
    float *y_dec = malloc(sizeof(float) * (size_t)y_count);
    float *y_dir = malloc(sizeof(float) * (size_t)y_count);
    float *y_ref = malloc(sizeof(float) * (size_t)y_count);
    int rc = CLI_FAIL;
    decomp_steps st;
    memset(&st, 0, sizeof st);
    tconv_op *op = NULL;
    void *ws = NULL;
    if (!x || !w || !b || !y_dec || !y_dir || !y_ref) {
        fprintf(stderr, "tconv explain: out of memory\n");
        goto done;
    }

    /* Values: the seed's where the example is the seed's, else random. */
    const int seed_values = x_count == 9 && w_count == 9 && !floats && seed == 0;
    tconv_rng rng;
    tconv_rng_init(&rng, (uint64_t)seed);
    for (int64_t i = 0; i < x_count; i++)
        x[i] = seed_values ? SEED_X[i] : floats ? uniform(&rng) : int_in(&rng, 1, 9);
    for (int64_t i = 0; i < w_count; i++)
        w[i] = seed_values ? SEED_W[i] : floats ? uniform(&rng) : int_in(&rng, 1, 4);
    for (int64_t i = 0; i < cout; i++)
        b[i] = floats ? uniform(&rng) : int_in(&rng, -5, 5);
    if (xv_text) {
        int64_t got;
        if (!cli_parse_floats(xv_text, x, x_count, &got) || got != x_count) {
            fprintf(stderr, "tconv explain: --input-values needs exactly %lld numbers (input %lldx%lldx%lldx%lld)\n",
                    (long long)x_count, (long long)batch, (long long)cin, (long long)size[0],
                    (long long)size[1]);
            rc = CLI_USAGE;
            goto done;
        }
    }
    if (wv_text) {
        int64_t got;
        if (!cli_parse_floats(wv_text, w, w_count, &got) || got != w_count) {
            fprintf(stderr, "tconv explain: --weight-values needs exactly %lld numbers (weight %lldx%lldx%lldx%lld)\n",
                    (long long)w_count, (long long)cin, (long long)(cout / groups), (long long)k[0],
                    (long long)k[1]);
            rc = CLI_USAGE;
            goto done;
        }
    }
    const float *bias = use_bias ? b : NULL;

    /* Poisoned outputs: an element nobody wrote stays NaN and fails below. */
    for (int64_t i = 0; i < y_count; i++) y_dec[i] = y_dir[i] = y_ref[i] = NAN;
    if (decomp_conv_transpose2d(&p, in_shape, x, w, bias, y_dec, y_count, NULL, &st) != TCONV_OK) {
        fprintf(stderr, "tconv explain: error: %s\n", decomp_error());
        goto done;
    }

    const int64_t cig = cin / groups, cog = cout / groups;
    char b1[64], b2[64];
    printf("ConvTranspose2d(%lld, %lld, kernel_size=(%lld, %lld), stride=(%lld, %lld), "
           "padding=(%lld, %lld), output_padding=(%lld, %lld), dilation=(%lld, %lld), groups=%lld, "
           "bias=%s)\n",
           (long long)cin, (long long)cout, (long long)k[0], (long long)k[1], (long long)s[0],
           (long long)s[1], (long long)pad[0], (long long)pad[1], (long long)p.output_padding[0],
           (long long)p.output_padding[1], (long long)dil[0], (long long)dil[1], (long long)groups,
           use_bias ? "True" : "False");
    if (osize_len)
        printf("output_size %s -> output_padding (%lld, %lld)\n",
               cli_shape_x(b1, sizeof b1, osize, osize_len), (long long)p.output_padding[0],
               (long long)p.output_padding[1]);
    printf("input %s -> output %s%s\n\n", cli_shape_x(b1, sizeof b1, in_shape, 4),
           cli_shape_x(b2, sizeof b2, out_shape, 4),
           seed_values ? "   (seed 001's numbers)" : floats ? "   (random floats)" : "   (random integers)");
    print_planes("input x", x, batch * cin, cin, "n", "c", size[0], size[1]);
    print_planes("weight w", w, cin * cog, cog, "in", "out/g", k[0], k[1]);
    if (bias) {
        printf("  bias:");
        for (int64_t i = 0; i < cout; i++) printf(" %g", (double)b[i]);
        printf("\n");
    }

    printf("\nStep 1. zero insertion: stride-1 zeros between neighbouring pixels "
           "(%lld between rows, %lld between columns)\n",
           (long long)(s[0] - 1), (long long)(s[1] - 1));
    printf("        %lldx%lld -> (%lld-1)*%lld+1 x (%lld-1)*%lld+1 = %lldx%lld\n",
           (long long)size[0], (long long)size[1], (long long)size[0], (long long)s[0],
           (long long)size[1], (long long)s[1], (long long)st.zero_h, (long long)st.zero_w);
    print_planes("z", st.zero_inserted, batch * cin, cin, "n", "c", st.zero_h, st.zero_w);

    printf("\nStep 2. border padding: dilation*(kernel-1) - padding zeros on every edge\n");
    printf("        rows: %lld*(%lld-1) - %lld = %lld; columns: %lld*(%lld-1) - %lld = %lld",
           (long long)dil[0], (long long)k[0], (long long)pad[0], (long long)st.pad_top,
           (long long)dil[1], (long long)k[1], (long long)pad[1], (long long)st.pad_left);
    if (p.output_padding[0] || p.output_padding[1])
        printf("; output_padding (%lld, %lld) adds that many more at the bottom/right",
               (long long)p.output_padding[0], (long long)p.output_padding[1]);
    printf("\n        ");
    say_border("top", st.pad_top, "row");
    printf(", ");
    say_border("bottom", st.pad_bottom, "row");
    printf(", ");
    say_border("left", st.pad_left, "column");
    printf(", ");
    say_border("right", st.pad_right, "column");
    printf("\n        %lldx%lld -> %lldx%lld\n", (long long)st.zero_h, (long long)st.zero_w,
           (long long)st.padded_h, (long long)st.padded_w);
    if (st.pad_top < 0 || st.pad_left < 0)
        printf("        (padding > dilation*(kernel-1): the output starts inside the zero-inserted "
               "image, so its first rows/columns are cut off)\n");
    print_planes("padded", st.padded, batch * cin, cin, "n", "c", st.padded_h, st.padded_w);

    printf("\nStep 3. kernel flip: top-bottom and left-right");
    if (cin > 1 || cout > 1)
        printf("; in/out channels swapped per group: conv2d weight[o, i] = flip(w[g*%lld + i, o %% %lld]), g = o / %lld",
               (long long)cig, (long long)cog, (long long)cog);
    printf("\n        conv2d weight (%lld, %lld, %lld, %lld)\n", (long long)cout, (long long)cig,
           (long long)k[0], (long long)k[1]);
    print_planes("w_flipped", st.flipped_weight, cout * cig, cig, "out", "in/g", k[0], k[1]);
    if (dil[0] > 1 || dil[1] > 1) {
        /* What the dilated stride-1 convolution effectively slides. */
        const int64_t eh = dil[0] * (k[0] - 1) + 1, ew = dil[1] * (k[1] - 1) + 1;
        float *e = calloc((size_t)(eh * ew), sizeof(float));
        if (e) {
            printf("        dilation (%lld, %lld): the convolution below spreads each flipped kernel "
                   "to %lldx%lld (zeros between taps), e.g. w_flipped[0, 0]:\n",
                   (long long)dil[0], (long long)dil[1], (long long)eh, (long long)ew);
            for (int64_t a = 0; a < k[0]; a++)
                for (int64_t c = 0; c < k[1]; c++)
                    e[a * dil[0] * ew + c * dil[1]] = st.flipped_weight[a * k[1] + c];
            cli_print_matrix(stdout, "    ", e, eh, ew);
            free(e);
        }
    }

    printf("\nStep 4. stride-1 convolution of the padded image with the flipped kernel\n"
           "        tconv_conv2d(stride 1, padding 0, dilation (%lld, %lld), groups %lld): "
           "%lld - %lld*(%lld-1) = %lld rows, %lld - %lld*(%lld-1) = %lld columns\n",
           (long long)dil[0], (long long)dil[1], (long long)groups, (long long)st.padded_h,
           (long long)dil[0], (long long)k[0], (long long)st.out_h, (long long)st.padded_w,
           (long long)dil[1], (long long)k[1], (long long)st.out_w);
    print_planes("y_decomposed", y_dec, batch * cout, cout, "n", "c", st.out_h, st.out_w);

    /* The library's direct computation: the operator as a user would run it,
     * and the reference kernel. */
    tconv_options opt;
    tconv_options_init(&opt);
    size_t ws_bytes = 0;
    int64_t dshape[4];
    if (tconv_conv_transpose2d_create(&p, w, bias, &opt, &op) != TCONV_OK ||
        tconv_op_reshape(op, 4, in_shape, NULL, 0, dshape, &ws_bytes) != TCONV_OK ||
        (ws_bytes && !(ws = malloc(ws_bytes))) || tconv_op_run(op, x, y_dir, ws) != TCONV_OK) {
        fprintf(stderr, "tconv explain: error: direct ConvTranspose2d failed: %s\n",
                tconv_last_error());
        goto done;
    }
    if (tconv_reference_conv_transpose2d(&p, in_shape, x, w, bias, y_ref, y_count) != TCONV_OK) {
        fprintf(stderr, "tconv explain: error: reference kernel failed: %s\n", tconv_last_error());
        goto done;
    }
    printf("\nStep 5. the library computes the layer directly (tconv_conv_transpose2d operator, "
           "impl %s, path %s):\n",
           tconv_impl_name(tconv_op_impl(op)), tconv_op_path(op));
    print_planes("y_direct", y_dir, batch * cout, cout, "n", "c", out_shape[2], out_shape[3]);

    double diff_dir = 0, diff_ref = 0, scale = 1;
    for (int64_t i = 0; i < y_count; i++) {
        const double d1 = fabs((double)y_dec[i] - (double)y_dir[i]);
        const double d2 = fabs((double)y_dec[i] - (double)y_ref[i]);
        diff_dir = (isnan(d1) || d1 > diff_dir) ? (isnan(d1) ? INFINITY : d1) : diff_dir;
        diff_ref = (isnan(d2) || d2 > diff_ref) ? (isnan(d2) ? INFINITY : d2) : diff_ref;
        if (fabs((double)y_ref[i]) > scale) scale = fabs((double)y_ref[i]);
    }
    const double tol = 1e-5 * scale;
    printf("\nmax |decomposition - direct operator|  = %g\n", diff_dir);
    printf("max |decomposition - reference kernel| = %g   (tolerance %g = 1e-5 * max(1, max|y|))\n",
           diff_ref, tol);
    int ok = diff_dir <= tol && diff_ref <= tol;
    if (seed_values && !changed && !xv_text && !wv_text) {
        double diff_torch = 0;
        for (int i = 0; i < 25; i++) {
            const double d = fabs((double)y_dec[i] - (double)SEED_Y[i]);
            if (!(d <= diff_torch)) diff_torch = isnan(d) ? INFINITY : d;
        }
        printf("max |decomposition - PyTorch's output printed in seed 001| = %g\n", diff_torch);
        ok = ok && diff_torch == 0;
    }
    printf("%s\n", ok ? "the decomposition equals the direct transposed convolution"
                      : "MISMATCH: the decomposition differs from the direct result");
    rc = ok ? CLI_OK : CLI_FAIL;

done:
    tconv_op_destroy(op);
    free(ws);
    decomp_steps_free(&st);
    free(x);
    free(w);
    free(b);
    free(y_dec);
    free(y_dir);
    free(y_ref);
    return rc;
}
