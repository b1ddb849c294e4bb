/* cmd_generate.c -- `tconv generate`: run a trained DCGAN generator (seed
 * 003's network, trained by scripts/train_dcgan_digits.py on 8x8 digits
 * upscaled to 16x16) in C and write a PNG grid of its samples.
 *
 * Network (widths read from the weights file):
 *   z (K, Z, 1, 1) -> ConvT(Z, C1, 4, 1, 0) -> BN -> ReLU   (K, C1, 4, 4)
 *                  -> ConvT(C1, C2, 4, 2, 1) -> BN -> ReLU  (K, C2, 8, 8)
 *                  -> ConvT(C2, IMG, 4, 2, 1) -> Tanh       (K, IMG, 16, 16)
 * BatchNorm runs in eval mode with the trained running statistics (the
 * state_dict's running_mean / running_var), as model.eval() would. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#include "cli.h"
#include "commands.h"
#include "png_out.h"

#define CMD "generate" /* cli.c's helpers add the "tconv " */
#define PFX "tconv " CMD
#define MODEL_FILE "dcgan_digits.safetensors"
#define DEFAULT_WEIGHTS "models/" MODEL_FILE

#define MAX_COUNT 4096
/* Bound on what one run may allocate for any activation (floats); the
 * PNG's pixels are bounded by png_out.h's PNG_GRID_MAX_BYTES. */
#define MAX_ACTIVATION_FLOATS ((int64_t)1 << 28)

static void help(void) {
    printf(
        "Usage: tconv generate [--seed S] [--count K] [--out grid.png] [--weights FILE]\n\n"
        "Runs a DCGAN generator (z 100x1x1 -> 1x16x16: three ConvTranspose2d layers with\n"
        "BatchNorm and ReLU, then Tanh), trained on scikit-learn's handwritten digits, in C\n"
        "with libtconv, and writes its samples as a PNG grid.  BatchNorm uses the trained\n"
        "running statistics (eval mode).  z ~ N(0, 1) from tconv_rng seeded with S.\n\n"
        "  --seed S        noise seed (default 0)\n"
        "  --count K       number of samples, 1..4096 (default 64)\n"
        "  --out FILE      PNG to write (default digits.png)\n"
        "  --weights FILE  safetensors state_dict (default: " DEFAULT_WEIGHTS " in the\n"
        "                  current directory, else " MODEL_FILE " in the installed\n"
        "                  share/tconv, else in the source tree tconv was built from)\n"
        "  --cols N        grid columns (default ceil(sqrt(K)))\n"
        "  --scale N       pixel size of one sample pixel, 1..32 (default 4)\n"
        "  --z FILE        read z from tensor \"z\" (K, Z, 1, 1), F32, K in 1..4096, of a\n"
        "                  safetensors file instead of drawing it (for comparing with\n"
        "                  PyTorch); K is the count\n"
        "  --raw-out FILE  also write the generator's output (K, IMG, 16, 16) as raw\n"
        "                  little-endian float32\n"
        "  -h, --help      this text\n\n"
        "Exit status: 0 written, 1 the library or a file failed (also: the weights make\n"
        "NaN or infinite pixels; nothing is written then), 2 bad usage.\n");
}

#define FAIL_IF(call)                                                                    \
    do {                                                                                 \
        tconv_status s_ = (call);                                                        \
        if (s_ != TCONV_OK) {                                                            \
            fprintf(stderr, PFX ": %s: %s\n", tconv_status_string(s_), tconv_last_error()); \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

/* The shape of ConvTranspose2d weight `name`, checked before anything is
 * allocated for it: F32, (C_in, C_out, 4, 4), channels >= 1.  Such a
 * tensor's bytes are in the file, so the layer built from it is no larger
 * than the file.  Prints why not and returns 0. */
static int weight_dims(const tconv_safetensors *st, const char *name, int64_t d[4]) {
    tconv_tensor_info info;
    tconv_status s = tconv_safetensors_find(st, name, &info);
    if (s) {
        fprintf(stderr, PFX ": %s: %s\n", tconv_status_string(s), tconv_last_error());
        return 0;
    }
    char b[160];
    if (info.dtype != TCONV_DTYPE_F32 || info.ndim != 4 || info.shape[0] < 1 ||
        info.shape[1] < 1 || info.shape[2] != 4 || info.shape[3] != 4) {
        fprintf(stderr,
                PFX ": weights file: %s is %s of shape (%s), expected F32 of shape (C_in, C_out, "
                "4, 4) with C_in, C_out >= 1\n",
                name, tconv_dtype_name(info.dtype),
                cli_shape_x(b, sizeof b, info.shape, info.ndim < 8 ? info.ndim : 8));
        return 0;
    }
    memcpy(d, info.shape, 4 * sizeof(int64_t));
    return 1;
}

/* n = the product of d[0..4) if it is at most MAX_ACTIVATION_FLOATS. */
static int activation_size(const int64_t d[4], int64_t *n) {
    int64_t r = 1;
    for (int i = 0; i < 4; i++)
        if (d[i] < 0 || __builtin_mul_overflow(r, d[i], &r) || r > MAX_ACTIVATION_FLOATS) return 0;
    *n = r;
    return 1;
}

/* One ConvTranspose2d layer: allocate its output, run it, free the input.
 * The output's size was bounded before the first layer ran. */
static tconv_status run_ct(const tconv_conv_transpose2d_module *m, float **x, int64_t shape[4]) {
    int64_t out[4], n;
    tconv_status s = tconv_conv_transpose2d_output_shape(&m->p, 4, shape, NULL, 0, out);
    if (s) return s;
    if (!activation_size(out, &n)) return TCONV_ERROR_OVERFLOW; /* not reached: checked first */
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!y) return TCONV_ERROR_OUT_OF_MEMORY;
    s = tconv_conv_transpose2d_module_forward(m, 4, shape, *x, NULL, 0, y, n, shape);
    free(*x);
    *x = y;
    return s;
}

int cmd_generate(int argc, char **argv) {
    int64_t seed = 0, count = 64, cols = 0, scale = 4;
    const char *out = "digits.png", *weights = DEFAULT_WEIGHTS, *z_path = NULL, *raw_out = NULL;
    int weights_given = 0, count_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
#define OPT(l, s, val) ((r = cli_opt(CMD, argc, argv, &i, l, s, val)) != 0)
        if (OPT("help", "h", NULL)) {
            help();
            return CLI_OK;
        } else if (OPT("seed", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &seed)) return cli_bad_value(CMD, "--seed", v, "an integer");
        } else if (OPT("count", "n", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &count) || count < 1 || count > MAX_COUNT)
                return cli_bad_value(CMD, "--count", v, "an integer in 1..4096");
            count_given = 1;
        } else if (OPT("cols", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &cols) || cols < 1 || cols > 4096)
                return cli_bad_value(CMD, "--cols", v, "an integer in 1..4096");
        } else if (OPT("scale", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &scale) || scale < 1 || scale > 32)
                return cli_bad_value(CMD, "--scale", v, "an integer in 1..32");
        } else if (OPT("out", "o", &v)) {
            if (r < 0) return CLI_USAGE;
            out = v;
        } else if (OPT("weights", "w", &v)) {
            if (r < 0) return CLI_USAGE;
            weights = v;
            weights_given = 1;
        } else if (OPT("z", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            z_path = v;
        } else if (OPT("raw-out", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            raw_out = v;
        } else {
            fprintf(stderr, PFX ": unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return CLI_USAGE;
        }
#undef OPT
    }
    if (!png_out_available()) {
        fprintf(stderr, PFX ": this tconv was built without libpng (install libpng-dev, rebuild)\n");
        return CLI_FAIL;
    }
    int rc = CLI_FAIL;
    tconv_safetensors *st = NULL, *zf = NULL;
    tconv_conv_transpose2d_module ct[3];
    tconv_batchnorm2d bn[2];
    memset(ct, 0, sizeof ct);
    memset(bn, 0, sizeof bn);
    float *x = NULL;

    if (!weights_given) {
        char tried[3 * 4096 + 64];
        static char found[4096];
        weights = cli_find_model_file(MODEL_FILE, found, sizeof found, tried, sizeof tried);
        if (!weights) {
            fprintf(stderr, PFX ": no weights file found (looked for %s); give one with --weights\n",
                    tried);
            goto fail;
        }
    }
    FAIL_IF(tconv_safetensors_open(weights, &st));
    /* The network's widths come from the file: net.0/3/6 are the ConvT
     * weights, each (C_in, C_out, 4, 4), each layer's C_in the previous C_out. */
    int64_t wd[3][4];
    for (int l = 0; l < 3; l++) {
        char name[16];
        snprintf(name, sizeof name, "net.%d.weight", 3 * l);
        if (!weight_dims(st, name, wd[l])) goto fail;
        if (l > 0 && wd[l][0] != wd[l - 1][1]) {
            fprintf(stderr,
                    PFX ": weights file: %s has %lld input channels but net.%d.weight makes %lld\n",
                    name, (long long)wd[l][0], 3 * (l - 1), (long long)wd[l - 1][1]);
            goto fail;
        }
    }
    const int64_t zdim = wd[0][0], img_c = wd[2][1];
    if (img_c != 1 && img_c != 3) {
        fprintf(stderr, PFX ": the generator makes %lld channels; PNG needs 1 or 3\n", (long long)img_c);
        goto fail;
    }

    /* z: (K, Z, 1, 1) from --z, checked before anything is allocated for it */
    if (z_path) {
        tconv_tensor_info info;
        char b[160];
        FAIL_IF(tconv_safetensors_open(z_path, &zf));
        FAIL_IF(tconv_safetensors_find(zf, "z", &info));
        if (info.dtype != TCONV_DTYPE_F32 || info.ndim != 4 || info.shape[1] != zdim ||
            info.shape[2] != 1 || info.shape[3] != 1) {
            fprintf(stderr, PFX ": --z: tensor z is %s of shape (%s), expected F32 of shape (K, %lld, 1, 1)\n",
                    tconv_dtype_name(info.dtype),
                    cli_shape_x(b, sizeof b, info.shape, info.ndim < 8 ? info.ndim : 8),
                    (long long)zdim);
            goto fail;
        }
        if (info.shape[0] < 1 || info.shape[0] > MAX_COUNT) {
            fprintf(stderr, PFX ": --z: tensor z holds %lld samples, expected 1..%d\n",
                    (long long)info.shape[0], MAX_COUNT);
            goto fail;
        }
        if (count_given && count != info.shape[0]) {
            fprintf(stderr, PFX ": --count %lld but z holds %lld samples (give one of them)\n",
                    (long long)count, (long long)info.shape[0]);
            rc = CLI_USAGE;
            goto done;
        }
        count = info.shape[0];
    }

    /* Every activation's size, bounded before the first allocation. */
    {
        const int64_t acts[4][4] = {{count, zdim, 1, 1},
                                    {count, wd[0][1], 4, 4},
                                    {count, wd[1][1], 8, 8},
                                    {count, wd[2][1], 16, 16}};
        for (int l = 0; l < 4; l++) {
            int64_t n;
            if (!activation_size(acts[l], &n)) {
                fprintf(stderr,
                        PFX ": %lld samples of this generator need an activation of %lldx%lldx%lldx%lld "
                        "floats, more than the %lld allowed; lower --count\n",
                        (long long)count, (long long)acts[l][0], (long long)acts[l][1],
                        (long long)acts[l][2], (long long)acts[l][3],
                        (long long)MAX_ACTIVATION_FLOATS);
                goto fail;
            }
        }
    }

    const int64_t stride[3] = {1, 2, 2}, pad[3] = {0, 1, 1};
    for (int l = 0; l < 3; l++) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, wd[l][0], wd[l][1], 4, 4);
        p.stride[0] = p.stride[1] = stride[l];
        p.padding[0] = p.padding[1] = pad[l];
        FAIL_IF(tconv_conv_transpose2d_module_init(&ct[l], &p, 0, NULL));
        char name[16];
        snprintf(name, sizeof name, "net.%d", 3 * l);
        FAIL_IF(tconv_conv_transpose2d_module_load(&ct[l], st, name));
        if (l < 2) {
            FAIL_IF(tconv_batchnorm2d_init(&bn[l], wd[l][1]));
            snprintf(name, sizeof name, "net.%d", 3 * l + 1);
            FAIL_IF(tconv_batchnorm2d_load(&bn[l], st, name));
            bn[l].training = 0; /* gen.eval() */
        }
    }

    int64_t shape[4] = {count, zdim, 1, 1};
    x = malloc((size_t)(count * zdim) * sizeof(float));
    if (!x) goto oom;
    if (zf) {
        FAIL_IF(tconv_safetensors_read_f32(zf, "z", 4, shape, x, count * zdim));
    } else {
        tconv_rng rng;
        tconv_rng_init(&rng, (uint64_t)seed);
        FAIL_IF(tconv_rng_fill_normal(&rng, x, count * zdim));
    }

    /* The generator: ConvT -> BN -> ReLU, twice, then ConvT -> Tanh. */
    for (int l = 0; l < 3; l++) {
        FAIL_IF(run_ct(&ct[l], &x, shape));
        int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
        if (l < 2) {
            FAIL_IF(tconv_batchnorm2d_forward(&bn[l], 4, shape, x, x));
            FAIL_IF(tconv_relu(x, x, n));
        } else {
            FAIL_IF(tconv_tanh(x, x, n));
        }
    }
    /* A NaN or infinity (NaN weights or statistics, a zero running_var
     * with eps removed, ...) has no pixel value: refuse rather than write a
     * picture that hides it. */
    {
        const int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(x[i])) {
                if (first < 0) first = i;
                bad++;
            }
        if (bad) {
            const int64_t per = shape[1] * shape[2] * shape[3];
            fprintf(stderr,
                    PFX ": the generator's output has %lld non-finite values (NaN or infinity; "
                    "first in sample %lld) -- are the weights in %s finite?  Nothing written.\n",
                    (long long)bad, (long long)(first / per), weights);
            goto fail;
        }
    }
    if (raw_out) {
        FILE *f = fopen(raw_out, "wb");
        size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        if (!f || fwrite(x, sizeof(float), n, f) != n || fclose(f) != 0) {
            perror(raw_out);
            goto fail;
        }
    }

    /* Grid: tiles of (H*scale) x (W*scale), 2*scale-pixel gaps, Tanh's [-1, 1] -> [0, 255]. */
    png_grid g;
    if (!png_grid_layout(&g, count, img_c, shape[2], shape[3], cols, scale)) {
        fprintf(stderr,
                PFX ": a grid of %lldx%lld pixels is too large (at most 65535 a side and %lld "
                "bytes); lower --scale or --count, or change --cols\n",
                (long long)g.width, (long long)g.height, (long long)PNG_GRID_MAX_BYTES);
        goto fail;
    }
    if (!png_grid_write(PFX, out, &g, x)) goto fail;
    printf("wrote %s: %lld samples of %lldx%lldx%lld in a %lldx%lld grid (%lldx%lld pixels), "
           "seed %lld, weights %s\n",
           out, (long long)count, (long long)img_c, (long long)shape[2], (long long)shape[3],
           (long long)g.rows, (long long)g.cols, (long long)g.width, (long long)g.height,
           (long long)seed, weights);
    rc = CLI_OK;
    goto done;
oom:
    fprintf(stderr, PFX ": out of memory\n");
fail:
    rc = CLI_FAIL;
done:
    free(x);
    for (int l = 0; l < 3; l++) tconv_conv_transpose2d_module_free(&ct[l]);
    for (int l = 0; l < 2; l++) tconv_batchnorm2d_free(&bn[l]);
    tconv_safetensors_close(st);
    tconv_safetensors_close(zf);
    return rc;
}
