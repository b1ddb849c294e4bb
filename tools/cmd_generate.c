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

#ifdef TCONV_HAVE_PNG
#include <png.h>
#endif

#include "cli.h"
#include "commands.h"

#define CMD "tconv generate"
#define DEFAULT_WEIGHTS "models/dcgan_digits.safetensors"

static void help(void) {
    printf(
        "Usage: tconv generate [--seed S] [--count K] [--out grid.png] [--weights FILE]\n\n"
        "Runs the DCGAN generator of seed 003 (z 100x1x1 -> 1x16x16), trained on\n"
        "scikit-learn's handwritten digits by scripts/train_dcgan_digits.py, in C with\n"
        "libtconv, and writes its samples as a PNG grid.  BatchNorm uses the trained\n"
        "running statistics (eval mode).  z ~ N(0, 1) from tconv_rng seeded with S.\n\n"
        "  --seed S        noise seed (default 0)\n"
        "  --count K       number of samples, 1..4096 (default 64)\n"
        "  --out FILE      PNG to write (default digits.png)\n"
        "  --weights FILE  safetensors state_dict (default " DEFAULT_WEIGHTS ", from the\n"
        "                  current directory, else from the source tree tconv was built from)\n"
        "  --cols N        grid columns (default ceil(sqrt(K)))\n"
        "  --scale N       pixel size of one sample pixel, 1..32 (default 4)\n"
        "  --z FILE        read z from tensor \"z\" (K, Z, 1, 1) of a safetensors file\n"
        "                  instead of drawing it (for comparing with PyTorch)\n"
        "  --raw-out FILE  also write the generator's output (K, IMG, 16, 16) as raw\n"
        "                  little-endian float32\n"
        "  -h, --help      this text\n\n"
        "Exit status: 0 written, 1 the library or a file failed, 2 bad usage.\n");
}

#define FAIL_IF(call)                                                                    \
    do {                                                                                 \
        tconv_status s_ = (call);                                                        \
        if (s_ != TCONV_OK) {                                                            \
            fprintf(stderr, CMD ": %s: %s\n", tconv_status_string(s_), tconv_last_error()); \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

/* The shape of a state_dict tensor (4-D weights only here). */
static tconv_status weight_dims(const tconv_safetensors *st, const char *name, int64_t d[4]) {
    tconv_tensor_info info;
    tconv_status s = tconv_safetensors_find(st, name, &info);
    if (s) return s;
    if (info.ndim != 4) {
        fprintf(stderr, CMD ": %s has %d dims, expected a 4-D ConvTranspose2d weight\n", name,
                info.ndim);
        return TCONV_ERROR_FORMAT;
    }
    memcpy(d, info.shape, 4 * sizeof(int64_t));
    return TCONV_OK;
}

/* One ConvTranspose2d layer: allocate its output, run it, free the input. */
static tconv_status run_ct(const tconv_conv_transpose2d_module *m, float **x, int64_t shape[4]) {
    int64_t out[4], n;
    tconv_status s = tconv_conv_transpose2d_output_shape(&m->p, 4, shape, NULL, 0, out);
    if (s) return s;
    n = out[0] * out[1] * out[2] * out[3];
    float *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!y) return TCONV_ERROR_OUT_OF_MEMORY;
    s = tconv_conv_transpose2d_module_forward(m, 4, shape, *x, NULL, 0, y, n, shape);
    free(*x);
    *x = y;
    return s;
}

#ifdef TCONV_HAVE_PNG
/* 8-bit grey or RGB rows -> PNG, via libpng. */
static int write_png(const char *path, const unsigned char *pix, int w, int h, int channels) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 0;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        fprintf(stderr, CMD ": libpng failed writing %s\n", path);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pix + (size_t)y * w * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) {
        perror(path);
        return 0;
    }
    return 1;
}
#endif

int cmd_generate(int argc, char **argv) {
    int64_t seed = 0, count = 64, cols = 0, scale = 4;
    const char *out = "digits.png", *weights = DEFAULT_WEIGHTS, *z_path = NULL, *raw_out = NULL;
    int weights_given = 0;
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
            if (!cli_parse_i64(v, &count) || count < 1 || count > 4096)
                return cli_bad_value(CMD, "--count", v, "an integer in 1..4096");
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
            fprintf(stderr, CMD ": unknown argument '%s' (see tconv generate --help)\n", argv[i]);
            return CLI_USAGE;
        }
#undef OPT
    }
#ifndef TCONV_HAVE_PNG
    (void)out;
    fprintf(stderr, CMD ": this tconv was built without libpng (install libpng-dev, rebuild)\n");
    return CLI_FAIL;
#else
    int rc = CLI_FAIL;
    tconv_safetensors *st = NULL, *zf = NULL;
    tconv_conv_transpose2d_module ct[3];
    tconv_batchnorm2d bn[2];
    memset(ct, 0, sizeof ct);
    memset(bn, 0, sizeof bn);
    float *x = NULL;
    unsigned char *pix = NULL;

    /* The network's widths come from the file: net.0/3/6 are the ConvT weights.
     * The default path is relative to the current directory (the repository
     * root); from elsewhere, fall back to the source tree this tool was
     * compiled from (__FILE__ is tools/cmd_generate.c there). */
    if (!weights_given && tconv_safetensors_open(weights, &st) != TCONV_OK) {
        static char alt[4096];
        const char *slash = strrchr(__FILE__, '/');
        int len = slash ? (int)(slash - __FILE__) : 0;
        snprintf(alt, sizeof alt, "%.*s/../" DEFAULT_WEIGHTS, len, __FILE__);
        if (len > 0 && tconv_safetensors_open(alt, &st) == TCONV_OK) weights = alt;
        else st = NULL;
    }
    if (!st) FAIL_IF(tconv_safetensors_open(weights, &st));
    int64_t wd[3][4];
    FAIL_IF(weight_dims(st, "net.0.weight", wd[0]));
    FAIL_IF(weight_dims(st, "net.3.weight", wd[1]));
    FAIL_IF(weight_dims(st, "net.6.weight", wd[2]));
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
    const int64_t zdim = wd[0][0], img_c = wd[2][1];
    if (img_c != 1 && img_c != 3) {
        fprintf(stderr, CMD ": the generator makes %lld channels; PNG needs 1 or 3\n", (long long)img_c);
        goto fail;
    }

    /* z ~ N(0, 1), (K, Z, 1, 1) */
    int64_t shape[4] = {count, zdim, 1, 1};
    if (z_path) {
        tconv_tensor_info info;
        FAIL_IF(tconv_safetensors_open(z_path, &zf));
        FAIL_IF(tconv_safetensors_find(zf, "z", &info));
        if (info.ndim == 4) shape[0] = count = info.shape[0];
    }
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
    if (raw_out) {
        FILE *f = fopen(raw_out, "wb");
        size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        if (!f || fwrite(x, sizeof(float), n, f) != n || fclose(f) != 0) {
            perror(raw_out);
            goto fail;
        }
    }

    /* Grid: tiles of (H*scale) x (W*scale), 2*scale-pixel gaps, Tanh's [-1, 1] -> [0, 255]. */
    const int64_t h = shape[2], w = shape[3], gap = 2 * scale;
    if (!cols) cols = (int64_t)ceil(sqrt((double)count));
    const int64_t rows = (count + cols - 1) / cols;
    const int64_t th = h * scale, tw = w * scale;
    const int64_t pw = cols * tw + (cols + 1) * gap, ph = rows * th + (rows + 1) * gap;
    if (pw > 65535 || ph > 65535) {
        fprintf(stderr, CMD ": grid %lldx%lld pixels is too large; lower --scale or --count\n",
                (long long)pw, (long long)ph);
        goto fail;
    }
    pix = malloc((size_t)(pw * ph * img_c));
    if (!pix) goto oom;
    memset(pix, 40, (size_t)(pw * ph * img_c)); /* dark grey frame */
    for (int64_t k = 0; k < count; k++) {
        int64_t oy = gap + (k / cols) * (th + gap), ox = gap + (k % cols) * (tw + gap);
        for (int64_t y = 0; y < th; y++)
            for (int64_t xx = 0; xx < tw; xx++)
                for (int64_t c = 0; c < img_c; c++) {
                    float v = x[((k * img_c + c) * h + y / scale) * w + xx / scale];
                    long q = lroundf((v + 1.0f) * 127.5f);
                    pix[((oy + y) * pw + ox + xx) * img_c + c] =
                        (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
                }
    }
    if (!write_png(out, pix, (int)pw, (int)ph, (int)img_c)) goto fail;
    printf("wrote %s: %lld samples of %lldx%lldx%lld in a %lldx%lld grid (%lldx%lld pixels), "
           "seed %lld, weights %s\n",
           out, (long long)count, (long long)img_c, (long long)h, (long long)w, (long long)rows,
           (long long)cols, (long long)pw, (long long)ph, (long long)seed, weights);
    rc = CLI_OK;
    goto done;
oom:
    fprintf(stderr, CMD ": out of memory\n");
fail:
    rc = CLI_FAIL;
done:
    free(x);
    free(pix);
    for (int l = 0; l < 3; l++) tconv_conv_transpose2d_module_free(&ct[l]);
    for (int l = 0; l < 2; l++) tconv_batchnorm2d_free(&bn[l]);
    tconv_safetensors_close(st);
    tconv_safetensors_close(zf);
    return rc;
#endif
}
