/* cmd_demo.c -- `tconv demo`: the seeds' examples computed for real with the
 * library.  Every layer is the library's (modules initialised as PyTorch
 * does from tconv_rng; the convolutions run through the operator API so the
 * path taken can be shown), outputs are poisoned (NaN) before each run, and
 * each shape is compared with what PyTorch gives (SEEDS-NOTES.md); the seed
 * 001 golden example is compared number by number with PyTorch's printed
 * output.  Exit 1 if anything differs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#include "cli.h"
#include "commands.h"
#include "decompose.h"

static void help(void) {
    printf(
        "Usage: tconv demo [--quick] [--seed S]\n\n"
        "Runs the examples of the seed tutorials with libtconv and prints the shapes they\n"
        "print: ConvTranspose2d 2x upsampling, the DCGAN generators (seed 000 and 003), the\n"
        "U-Net decoder with Conv2d + ReLU, the kernel-1 configurations, seed 001's 61x61\n"
        "example, seed 002's (3,5)-kernel layer and its output_size example, seed 004's\n"
        "Conv2d; then the two shapes the seeds get wrong, with PyTorch's answer; then seed\n"
        "001's 5x5 example checked number by number against PyTorch's output.\n\n"
        "Weights follow PyTorch's default initialisation distribution (uniform, bound\n"
        "1/sqrt(fan_in)) from a seeded generator; inputs are standard normal; BatchNorm2d\n"
        "runs in training mode (batch statistics), as in the seeds' freshly built models.\n\n"
        "  --quick      run seed 002's 20x16x50x100 layer on 1 of its 20 samples (its batch-20\n"
        "               shape then comes from the shape rules); every other example always\n"
        "               uses the seed's own batch.  For slow builds (sanitizers, reference only)\n"
        "  --seed S     seed of the generator (default 0)\n"
        "  -h, --help   this text\n\n"
        "Exit status: 0 every shape and the golden numbers match PyTorch, 1 otherwise.\n");
}

typedef struct tensor {
    int ndim;
    int64_t shape[4];
    float *data;
} tensor;

typedef struct demo {
    tconv_rng rng;
    int checks, failures;
    char paths[256]; /* the convolution paths the library chose, comma separated */
} demo;

/* Remembers the path an operator ran, once. */
static void note_path(demo *dm, const char *kind, const tconv_op *op) {
    char entry[64];
    snprintf(entry, sizeof entry, "%s %s/%s", kind, tconv_impl_name(tconv_op_impl(op)),
             tconv_op_path(op));
    if (strstr(dm->paths, entry)) return;
    const size_t used = strlen(dm->paths);
    snprintf(dm->paths + used, sizeof dm->paths - used, "%s%s", used ? ", " : "", entry);
}

/* A library call that failed: count it and show the library's message. */
static int lib_fail(demo *dm, const char *what) {
    dm->checks++;
    dm->failures++;
    printf("    error in %s: %s\n", what, tconv_last_error());
    return 0;
}

static int64_t numel(const tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

/* Allocates t with the given shape, poisoned with NaN. */
static int tensor_alloc(tensor *t, int ndim, const int64_t *shape) {
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    const int64_t n = numel(t);
    t->data = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!t->data) {
        fprintf(stderr, "tconv demo: out of memory for %lld floats\n", (long long)n);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) t->data[i] = NAN;
    return 1;
}

static void tensor_free(tensor *t) {
    free(t->data);
    t->data = NULL;
}

static int tensor_randn(demo *dm, tensor *t, int ndim, const int64_t *shape) {
    if (!tensor_alloc(t, ndim, shape)) return 0;
    if (tconv_rng_fill_normal(&dm->rng, t->data, numel(t)) != TCONV_OK) return lib_fail(dm, "randn");
    return 1;
}

/* The shape as the seeds print it, and whether it is PyTorch's. */
static void check_shape(demo *dm, const tensor *t, const int64_t *expect, const char *what) {
    char got[96], want[96];
    cli_shape_torch(got, sizeof got, t->shape, t->ndim);
    dm->checks++;
    if (memcmp(t->shape, expect, sizeof(int64_t) * (size_t)t->ndim) != 0) {
        dm->failures++;
        printf("    MISMATCH %s: tconv %s, PyTorch %s\n", what, got,
               cli_shape_torch(want, sizeof want, expect, t->ndim));
    }
}

/* Every element written and finite (outputs were poisoned with NaN). */
static int check_finite(demo *dm, const tensor *t, const char *what) {
    dm->checks++;
    for (int64_t i = 0; i < numel(t); i++)
        if (!isfinite(t->data[i])) {
            dm->failures++;
            printf("    FAIL %s: element %lld is %g (unwritten or not finite)\n", what, (long long)i,
                   (double)t->data[i]);
            return 0;
        }
    return 1;
}

static void describe(const tensor *t) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    const int64_t n = numel(t);
    for (int64_t i = 0; i < n; i++) {
        const double v = t->data[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    if (n) printf("    values: min %.4f, max %.4f, mean %.4f\n", lo, hi, sum / (double)n);
}

/* Runs op (created by the caller) on x into a new tensor y. */
static int run_op(demo *dm, const char *kind, tconv_op *op, const tensor *x,
                  const int64_t *output_size, int output_size_len, tensor *y) {
    int64_t oshape[4];
    size_t ws_bytes = 0;
    void *ws = NULL;
    int ok = 0;
    y->data = NULL;
    if (tconv_op_reshape(op, x->ndim, x->shape, output_size, output_size_len, oshape, &ws_bytes) !=
        TCONV_OK)
        return lib_fail(dm, kind);
    if (!tensor_alloc(y, x->ndim, oshape)) return lib_fail(dm, "allocation");
    if (ws_bytes && !(ws = malloc(ws_bytes))) {
        tensor_free(y);
        return lib_fail(dm, "workspace allocation");
    }
    if (tconv_op_run(op, x->data, y->data, ws) == TCONV_OK) {
        ok = 1;
        note_path(dm, kind, op);
    } else {
        lib_fail(dm, kind);
        tensor_free(y);
    }
    free(ws);
    return ok;
}

/* y = nn.ConvTranspose2d(p, bias)(x[, output_size]): a module initialised as
 * PyTorch does, run through an operator. */
static int conv_transpose(demo *dm, const tconv_conv_transpose2d_params *p, int with_bias,
                          const tensor *x, const int64_t *output_size, int output_size_len,
                          tensor *y) {
    tconv_conv_transpose2d_module m;
    tconv_op *op = NULL;
    y->data = NULL;
    if (tconv_conv_transpose2d_module_init(&m, p, with_bias, &dm->rng) != TCONV_OK)
        return lib_fail(dm, "ConvTranspose2d");
    int ok = tconv_conv_transpose2d_create(p, m.weight, m.bias, NULL, &op) == TCONV_OK
                 ? run_op(dm, "ConvTranspose2d", op, x, output_size, output_size_len, y)
                 : lib_fail(dm, "ConvTranspose2d");
    tconv_op_destroy(op);
    tconv_conv_transpose2d_module_free(&m);
    return ok;
}

/* y = nn.Conv2d(p, bias=True)(x), the same way. */
static int conv2d(demo *dm, const tconv_conv2d_params *p, const tensor *x, tensor *y) {
    tconv_conv2d_module m;
    tconv_op *op = NULL;
    y->data = NULL;
    if (tconv_conv2d_module_init(&m, p, 1, &dm->rng) != TCONV_OK) return lib_fail(dm, "Conv2d");
    int ok = tconv_conv2d_create(p, m.weight, m.bias, NULL, &op) == TCONV_OK
                 ? run_op(dm, "Conv2d", op, x, NULL, 0, y)
                 : lib_fail(dm, "Conv2d");
    tconv_op_destroy(op);
    tconv_conv2d_module_free(&m);
    return ok;
}

static int relu(demo *dm, tensor *t) {
    return tconv_relu(t->data, t->data, numel(t)) == TCONV_OK ? 1 : lib_fail(dm, "ReLU");
}

static int tanh_(demo *dm, tensor *t) {
    return tconv_tanh(t->data, t->data, numel(t)) == TCONV_OK ? 1 : lib_fail(dm, "Tanh");
}

/* A fresh nn.BatchNorm2d (training mode: batch statistics, as the seeds'
 * freshly built models run) applied in place. */
static int batchnorm(demo *dm, tensor *t) {
    tconv_batchnorm2d bn;
    if (tconv_batchnorm2d_init(&bn, t->shape[1]) != TCONV_OK) return lib_fail(dm, "BatchNorm2d");
    const int ok = tconv_batchnorm2d_forward(&bn, t->ndim, t->shape, t->data, t->data) == TCONV_OK
                       ? 1
                       : lib_fail(dm, "BatchNorm2d");
    tconv_batchnorm2d_free(&bn);
    return ok;
}

static tconv_conv_transpose2d_params ct_params(int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                                               int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
    tconv_conv_transpose2d_params p;
    tconv_conv_transpose2d_params_init(&p, cin, cout, kh, kw);
    p.stride[0] = sh;
    p.stride[1] = sw;
    p.padding[0] = ph;
    p.padding[1] = pw;
    return p;
}

static const char *tshape(char *buf, size_t len, const tensor *t) {
    return cli_shape_torch(buf, len, t->shape, t->ndim);
}

/* Moves src into dst (freeing dst's data). */
static void take(tensor *dst, tensor *src) {
    tensor_free(dst);
    *dst = *src;
    src->data = NULL;
}

/* ---- seed 000 ---------------------------------------------------------- */

static void seed000_upsample(demo *dm) {
    char a[96], b[96];
    printf("\n[seed 000, example 1] nn.ConvTranspose2d(64, 64, kernel_size=2, stride=2)\n");
    tensor x, y;
    const int64_t xs[4] = {1, 64, 16, 16}, ys[4] = {1, 64, 32, 32};
    if (!tensor_randn(dm, &x, 4, xs)) return;
    tconv_conv_transpose2d_params p = ct_params(64, 64, 2, 2, 2, 2, 0, 0);
    if (conv_transpose(dm, &p, 1, &x, NULL, 0, &y)) {
        printf("    input: %s -> output: %s\n", tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        check_shape(dm, &y, ys, "output");
        check_finite(dm, &y, "output");
    }
    tensor_free(&x);
    tensor_free(&y);
}

static void seed000_dcgan(demo *dm) {
    char a[96], b[96];
    printf("\n[seed 000, example 2] DCGAN generator: Linear(100, 512*4*4) -> view(-1, 512, 4, 4)\n"
           "    -> 3 x [ConvTranspose2d(k4, s2, p1) + BatchNorm2d + ReLU] -> ConvTranspose2d(64, 3, "
           "4, 2, 1) + Tanh\n");
    /* fc = nn.Linear(100, 512*4*4); x = fc(z).view(-1, 512, 4, 4). */
    tensor z, x, y;
    const int64_t zs[2] = {1, 100}, fs[2] = {1, 8192}, view[4] = {-1, 512, 4, 4};
    int64_t xs[4], fc_shape[2];
    if (!tensor_randn(dm, &z, 2, zs)) return;
    tconv_linear fc;
    if (tconv_linear_init(&fc, 100, 8192, 1, &dm->rng) != TCONV_OK) {
        lib_fail(dm, "Linear");
        tensor_free(&z);
        return;
    }
    const int fc_ok = tensor_alloc(&x, 2, fs) &&
                      (tconv_linear_forward(&fc, 2, zs, z.data, x.data, 8192, fc_shape) == TCONV_OK
                           ? 1
                           : lib_fail(dm, "Linear")) &&
                      (tconv_view_shape(2, fc_shape, 4, view, xs) == TCONV_OK ? 1 : lib_fail(dm, "view"));
    tconv_linear_free(&fc);
    if (!fc_ok) {
        tensor_free(&z);
        tensor_free(&x);
        return;
    }
    x.ndim = 4;
    memcpy(x.shape, xs, sizeof xs);
    printf("    fc: %s -> view: %s\n", tshape(a, sizeof a, &z), tshape(b, sizeof b, &x));
    const int64_t chans[5] = {512, 256, 128, 64, 3};
    int ok = 1;
    for (int l = 0; l < 4 && ok; l++) {
        tconv_conv_transpose2d_params p = ct_params(chans[l], chans[l + 1], 4, 4, 2, 2, 1, 1);
        if (!(ok = conv_transpose(dm, &p, 1, &x, NULL, 0, &y))) break;
        ok = l < 3 ? batchnorm(dm, &y) && relu(dm, &y) : tanh_(dm, &y);
        printf("    ConvTranspose2d(%lld, %lld, 4, 2, 1)%s: %s -> %s\n", (long long)chans[l],
               (long long)chans[l + 1], l < 3 ? " + BatchNorm2d + ReLU" : " + Tanh",
               tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        take(&x, &y);
    }
    if (ok) {
        const int64_t want[4] = {1, 3, 64, 64};
        printf("    noise: %s -> image: %s\n", tshape(a, sizeof a, &z), tshape(b, sizeof b, &x));
        check_shape(dm, &x, want, "image");
        if (check_finite(dm, &x, "image")) describe(&x);
    }
    tensor_free(&z);
    tensor_free(&x);
}

static void seed000_unet(demo *dm) {
    char a[96], b[96];
    printf("\n[seed 000, example 3] U-Net decoder: ConvTranspose2d(256, 128, 2, stride=2), "
           "Conv2d(128, 128, 3, padding=1), ReLU,\n"
           "    ConvTranspose2d(128, 64, 2, stride=2), Conv2d(64, 64, 3, padding=1), ReLU\n");
    tensor x0, x, y;
    const int64_t xs[4] = {1, 256, 8, 8}, want[4] = {1, 64, 32, 32};
    if (!tensor_randn(dm, &x0, 4, xs)) return;
    if (!tensor_alloc(&x, 4, xs)) {
        tensor_free(&x0);
        return;
    }
    memcpy(x.data, x0.data, sizeof(float) * (size_t)numel(&x0));
    int ok = 1;
    const int64_t chans[3] = {256, 128, 64};
    for (int l = 0; l < 2 && ok; l++) {
        tconv_conv_transpose2d_params p = ct_params(chans[l], chans[l + 1], 2, 2, 2, 2, 0, 0);
        if (!(ok = conv_transpose(dm, &p, 1, &x, NULL, 0, &y))) break;
        printf("    ConvTranspose2d(%lld, %lld, 2, stride=2): %s -> %s\n", (long long)chans[l],
               (long long)chans[l + 1], tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        take(&x, &y);
        tconv_conv2d_params c;
        tconv_conv2d_params_init(&c, chans[l + 1], chans[l + 1], 3, 3);
        c.padding[0] = c.padding[1] = 1;
        if (!(ok = conv2d(dm, &c, &x, &y))) break;
        ok = relu(dm, &y);
        printf("    Conv2d(%lld, %lld, 3, padding=1) + ReLU: %s -> %s\n", (long long)chans[l + 1],
               (long long)chans[l + 1], tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        take(&x, &y);
    }
    if (ok) {
        printf("    input: %s -> output: %s\n", tshape(a, sizeof a, &x0), tshape(b, sizeof b, &x));
        check_shape(dm, &x, want, "output");
        if (check_finite(dm, &x, "output")) describe(&x);
    }
    tensor_free(&x0);
    tensor_free(&x);
}

static void seed000_k1(demo *dm) {
    char a[96], b[96];
    printf("\n[seed 000, example 4] nn.ConvTranspose2d(64, 64, kernel_size=k, stride=s, padding=p)"
           " on one input\n");
    tensor x, y;
    const int64_t xs[4] = {1, 64, 4, 4};
    if (!tensor_randn(dm, &x, 4, xs)) return;
    const int64_t cfg[3][3] = {{1, 1, 0}, {2, 1, 0}, {2, 1, 1}}; /* stride, k, p as the seed */
    const int64_t out[3] = {4, 7, 5};
    for (int c = 0; c < 3; c++) {
        tconv_conv_transpose2d_params p =
            ct_params(64, 64, cfg[c][1], cfg[c][1], cfg[c][0], cfg[c][0], cfg[c][2], cfg[c][2]);
        if (!conv_transpose(dm, &p, 1, &x, NULL, 0, &y)) continue;
        printf("    k=%lld, s=%lld, p=%lld: %s -> %s\n", (long long)cfg[c][1], (long long)cfg[c][0],
               (long long)cfg[c][2], tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        const int64_t want[4] = {1, 64, out[c], out[c]};
        check_shape(dm, &y, want, "output");
        check_finite(dm, &y, "output");
        tensor_free(&y);
    }
    tensor_free(&x);
}

/* ---- seed 001 ---------------------------------------------------------- */

static void seed001_shape(demo *dm) {
    char a[96];
    printf("\n[seed 001, feature-map size] nn.ConvTranspose2d(3, 6, kernel_size=3, stride=2, "
           "padding=2, bias=False) on torch.randn(1, 3, 32, 32)\n");
    tensor x, y;
    const int64_t xs[4] = {1, 3, 32, 32}, want[4] = {1, 6, 61, 61};
    if (!tensor_randn(dm, &x, 4, xs)) return;
    tconv_conv_transpose2d_params p = ct_params(3, 6, 3, 3, 2, 2, 2, 2);
    if (conv_transpose(dm, &p, 0, &x, NULL, 0, &y)) {
        printf("    %s   (H_out = 2*(32-1) + 3 - 2*2 = 61)\n", tshape(a, sizeof a, &y));
        check_shape(dm, &y, want, "output");
        check_finite(dm, &y, "output");
    }
    tensor_free(&x);
    tensor_free(&y);
}

/* Seed 001's worked example: the numbers PyTorch printed for it. */
static void seed001_golden(demo *dm) {
    static const float x[9] = {9, 1, 3, 7, 8, 7, 8, 2, 2};
    static const float w[9] = {4, 2, 3, 1, 4, 3, 1, 1, 1};
    static const float torch_y[25] = {36, 28, 4,  6,  12, 23, 63, 17, 56, 17, 28, 29, 32,
                                      31, 28, 23, 47, 12, 29, 11, 32, 26, 8,  8,  8};
    printf("\n[seed 001, golden example] F.conv_transpose2d(inputs, weight, bias=0, padding=1, "
           "stride=2)\n");
    printf("    inputs (1x1x3x3):\n");
    cli_print_matrix(stdout, "      ", x, 3, 3);
    printf("    weight (1x1x3x3):\n");
    cli_print_matrix(stdout, "      ", w, 3, 3);
    tconv_conv_transpose2d_params p = ct_params(1, 1, 3, 3, 2, 2, 1, 1);
    const float bias[1] = {0};
    const int64_t xs[4] = {1, 1, 3, 3};
    int64_t ys[4];
    float y[25], y_dec[25];
    for (int i = 0; i < 25; i++) y[i] = y_dec[i] = NAN;
    dm->checks++;
    if (tconv_conv_transpose2d(&p, 4, xs, x, w, bias, NULL, 0, y, 25, ys) != TCONV_OK) {
        dm->failures++;
        printf("    error: %s\n", tconv_last_error());
        return;
    }
    printf("    tconv output (1x1x5x5):\n");
    cli_print_matrix(stdout, "      ", y, 5, 5);
    double diff = 0;
    for (int i = 0; i < 25; i++) {
        const double d = fabs((double)y[i] - (double)torch_y[i]);
        if (!(d <= diff)) diff = isnan(d) ? INFINITY : d;
    }
    if (diff == 0 && ys[2] == 5 && ys[3] == 5) {
        printf("    equals PyTorch's output printed in seed 001 (max difference 0)\n");
    } else {
        dm->failures++;
        printf("    MISMATCH with PyTorch's output in seed 001: max difference %g\n", diff);
        printf("    PyTorch:\n");
        cli_print_matrix(stdout, "      ", torch_y, 5, 5);
    }
    /* The seed's own cross-check: zero insertion + padding + flip + conv. */
    dm->checks++;
    if (decomp_conv_transpose2d(&p, xs, x, w, bias, y_dec, 25, NULL, NULL) != TCONV_OK) {
        dm->failures++;
        printf("    decomposition error: %s\n", decomp_error());
        return;
    }
    diff = 0;
    for (int i = 0; i < 25; i++) {
        const double d = fabs((double)y_dec[i] - (double)torch_y[i]);
        if (!(d <= diff)) diff = isnan(d) ? INFINITY : d;
    }
    if (diff == 0) {
        printf("    the seed's decomposition (zero insertion, padding, flipped kernel, stride-1 "
               "conv2d) gives the same 25 numbers (tconv explain shows the steps)\n");
    } else {
        dm->failures++;
        printf("    MISMATCH: the decomposition differs from PyTorch by %g\n", diff);
    }
}

/* ---- seed 002 ---------------------------------------------------------- */

static void seed002(demo *dm, int full) {
    char a[96], b[96], c3[96];
    const int64_t seed_n = 20, n = full ? 20 : 1;
    printf("\n[seed 002] nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2)) on "
           "torch.randn(20, 16, 50, 100)\n");
    tensor x, y;
    const int64_t xs[4] = {n, 16, 50, 100};
    if (!tensor_randn(dm, &x, 4, xs)) return;
    tconv_conv_transpose2d_params p = ct_params(16, 33, 3, 5, 2, 1, 4, 2);
    if (conv_transpose(dm, &p, 1, &x, NULL, 0, &y)) {
        const int64_t want[4] = {n, 33, 93, 100};
        check_shape(dm, &y, want, "output");
        check_finite(dm, &y, "output");
        if (full) {
            printf("    %s\n    %s\n", tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        } else {
            /* The batch-20 shape from the shape rules, the data for one sample. */
            const int64_t full_in[4] = {seed_n, 16, 50, 100}, full_want[4] = {seed_n, 33, 93, 100};
            tensor f = {4, {0}, NULL};
            dm->checks++;
            if (tconv_conv_transpose2d_output_shape(&p, 4, full_in, NULL, 0, f.shape) != TCONV_OK) {
                dm->failures++;
                printf("    error: %s\n", tconv_last_error());
            } else {
                printf("    torch.Size([20, 16, 50, 100])\n    %s   (shape rule for batch 20; "
                       "computed for batch 1 (--quick): %s -> %s)\n",
                       tshape(a, sizeof a, &f), cli_shape_torch(b, sizeof b, xs, 4),
                       tshape(c3, sizeof c3, &y));
                check_shape(dm, &f, full_want, "batch-20 output");
            }
        }
    }
    tensor_free(&x);
    tensor_free(&y);

    /* "exact output size can be also specified as an argument" */
    printf("    output_size: downsample = Conv2d(16, 16, 3, stride=2, padding=1), upsample = "
           "ConvTranspose2d(16, 16, 3, stride=2, padding=1)\n");
    tensor in, h, out;
    const int64_t is[4] = {1, 16, 12, 12};
    if (!tensor_randn(dm, &in, 4, is)) return;
    tconv_conv2d_params c;
    tconv_conv2d_params_init(&c, 16, 16, 3, 3);
    c.stride[0] = c.stride[1] = 2;
    c.padding[0] = c.padding[1] = 1;
    if (conv2d(dm, &c, &in, &h)) {
        const int64_t hwant[4] = {1, 16, 6, 6};
        check_shape(dm, &h, hwant, "h");
        check_finite(dm, &h, "h");
        tconv_conv_transpose2d_params up = ct_params(16, 16, 3, 3, 2, 2, 1, 1);
        int64_t op[2] = {-1, -1};
        tconv_conv_transpose2d_output_padding_for_size(&up, 4, h.shape, in.shape, 4, op);
        if (conv_transpose(dm, &up, 1, &h, in.shape, 4, &out)) {
            printf("    %s\n    %s\n    %s   (output_size=input.size() -> output_padding "
                   "(%lld, %lld))\n",
                   tshape(a, sizeof a, &in), tshape(b, sizeof b, &h),
                   tshape(c3, sizeof c3, &out), (long long)op[0], (long long)op[1]);
            check_shape(dm, &out, is, "output");
            check_finite(dm, &out, "output");
            tensor_free(&out);
        }
        tensor_free(&h);
    }
    tensor_free(&in);
}

/* ---- seed 003 ---------------------------------------------------------- */

static void seed003_generator(demo *dm) {
    char a[96], b[96];
    printf("\n[seed 003] Generator(z_dim=100, img_channels=3): ConvTranspose2d(100, 128, 4, 1, 0, "
           "bias=False) + BatchNorm2d + ReLU,\n"
           "    ConvTranspose2d(128, 64, 4, 2, 1, bias=False) + BatchNorm2d + ReLU, "
           "ConvTranspose2d(64, 3, 4, 2, 1, bias=False) + Tanh\n");
    tensor x, y;
    const int64_t zs[4] = {16, 100, 1, 1}, want[4] = {16, 3, 16, 16};
    if (!tensor_randn(dm, &x, 4, zs)) return;
    const int64_t chans[4] = {100, 128, 64, 3};
    int ok = 1;
    for (int l = 0; l < 3 && ok; l++) {
        tconv_conv_transpose2d_params p =
            l == 0 ? ct_params(100, 128, 4, 4, 1, 1, 0, 0) : ct_params(chans[l], chans[l + 1], 4, 4, 2, 2, 1, 1);
        if (!(ok = conv_transpose(dm, &p, 0, &x, NULL, 0, &y))) break;
        ok = l < 2 ? batchnorm(dm, &y) && relu(dm, &y) : tanh_(dm, &y);
        printf("    %s -> %s\n", tshape(a, sizeof a, &x), tshape(b, sizeof b, &y));
        take(&x, &y);
    }
    if (ok) {
        printf("    %s\n", tshape(a, sizeof a, &x));
        check_shape(dm, &x, want, "img");
        if (check_finite(dm, &x, "img")) describe(&x);
    }
    tensor_free(&x);
}

/* ---- seed 004 ---------------------------------------------------------- */

static void seed004_conv2d(demo *dm) {
    char a[96];
    printf("\n[seed 004] nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1) on "
           "torch.randn(1, 3, 32, 32)\n");
    tensor x, y;
    const int64_t xs[4] = {1, 3, 32, 32}, want[4] = {1, 16, 32, 32};
    if (!tensor_randn(dm, &x, 4, xs)) return;
    tconv_conv2d_params c;
    tconv_conv2d_params_init(&c, 3, 16, 3, 3);
    c.padding[0] = c.padding[1] = 1;
    if (conv2d(dm, &c, &x, &y)) {
        printf("    %s\n", tshape(a, sizeof a, &y));
        check_shape(dm, &y, want, "output");
        check_finite(dm, &y, "output");
        tensor_free(&y);
    }
    tensor_free(&x);
}

/* ---- the seeds' two wrong shapes ---------------------------------------- */

static void run_and_report(demo *dm, const char *label, const tconv_conv_transpose2d_params *p,
                           const tensor *x, const int64_t *output_size, int output_size_len,
                           const int64_t *want) {
    char a[96];
    tensor y;
    if (!conv_transpose(dm, p, 1, x, output_size, output_size_len, &y)) return;
    printf("    %-44s %s\n", label, tshape(a, sizeof a, &y));
    check_shape(dm, &y, want, label);
    check_finite(dm, &y, label);
    tensor_free(&y);
}

static void seed_errors(demo *dm) {
    printf("\nWhere the seeds are wrong (PyTorch's answer, computed):\n");
    printf("\n[seed 003] nn.ConvTranspose2d(16, 33, 3, stride=2, padding=1, output_padding=1) on "
           "torch.randn(20, 16, 8, 8)\n"
           "    the seed's comment says torch.Size([20, 33, 15, 15]); PyTorch and tconv give:\n");
    tensor x;
    const int64_t xs[4] = {20, 16, 8, 8}, want[4] = {20, 33, 16, 16};
    if (tensor_randn(dm, &x, 4, xs)) {
        tconv_conv_transpose2d_params p = ct_params(16, 33, 3, 3, 2, 2, 1, 1);
        p.output_padding[0] = p.output_padding[1] = 1;
        run_and_report(dm, "output:", &p, &x, NULL, 0, want);
        printf("    H_out = (8-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 16\n");
        tensor_free(&x);
    }

    printf("\n[seed 004] nn.ConvTranspose2d(16, 3, kernel_size=3, stride=2, padding=1) on "
           "torch.randn(1, 16, 16, 16)\n"
           "    the seed's comment says torch.Size([1, 3, 32, 32]) (\"2x upsampling\"); PyTorch "
           "and tconv give:\n");
    const int64_t xs4[4] = {1, 16, 16, 16};
    const int64_t w31[4] = {1, 3, 31, 31}, w32[4] = {1, 3, 32, 32};
    if (tensor_randn(dm, &x, 4, xs4)) {
        tconv_conv_transpose2d_params p = ct_params(16, 3, 3, 3, 2, 2, 1, 1);
        run_and_report(dm, "output:", &p, &x, NULL, 0, w31);
        printf("    H_out = (16-1)*2 - 2*1 + 1*(3-1) + 0 + 1 = 31.  Three ways to get 32x32:\n");
        tconv_conv_transpose2d_params q = p;
        q.output_padding[0] = q.output_padding[1] = 1;
        run_and_report(dm, "output_padding=1:", &q, &x, NULL, 0, w32);
        const int64_t osz[2] = {32, 32};
        run_and_report(dm, "forward(x, output_size=[32, 32]):", &p, &x, osz, 2, w32);
        q = ct_params(16, 3, 4, 4, 2, 2, 1, 1);
        run_and_report(dm, "kernel_size=4, stride=2, padding=1:", &q, &x, NULL, 0, w32);
        tensor_free(&x);
    }
}

int cmd_demo(int argc, char **argv) {
    int full = 1;
    int64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = cli_opt("demo", argc, argv, &i, "help", "h", NULL)) != 0) {
            help();
            return CLI_OK;
        } else if ((r = cli_opt("demo", argc, argv, &i, "quick", NULL, NULL)) != 0) {
            full = 0;
        } else if ((r = cli_opt("demo", argc, argv, &i, "seed", NULL, &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &seed)) return cli_bad_value("demo", "--seed", v, "an integer");
        } else {
            fprintf(stderr, "tconv demo: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return CLI_USAGE;
        }
    }
    demo dm;
    memset(&dm, 0, sizeof dm);
    tconv_rng_init(&dm.rng, (uint64_t)seed);
    const double t0 = cli_now();
    printf("tconv demo: the seed tutorials' examples computed with libtconv %s (implementation: %s)\n"
           "weights: PyTorch's default init distribution from seed %lld; outputs NaN-poisoned "
           "before every run; shapes checked against PyTorch's\n",
           tconv_version(), tconv_impl_name(tconv_best_impl()), (long long)seed);

    seed000_upsample(&dm);
    seed000_dcgan(&dm);
    seed000_unet(&dm);
    seed000_k1(&dm);
    seed001_shape(&dm);
    seed002(&dm, full);
    seed003_generator(&dm);
    seed004_conv2d(&dm);
    seed_errors(&dm);
    seed001_golden(&dm);

    printf("\nconvolution paths used: %s\n", dm.paths);
    printf("%d checks, %d failed, %.2f s\n", dm.checks, dm.failures, cli_now() - t0);
    return dm.failures ? CLI_FAIL : CLI_OK;
}
