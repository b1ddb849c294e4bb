/* cmd_train.c -- `tconv train`: trains the digits DCGAN (tools/dcgan.h)
 * from scratch in C, as scripts/train_dcgan_digits.py does in PyTorch, and
 * writes the generator's weights (which `tconv generate --weights` runs)
 * and a PNG grid of samples after every epoch.  --replay runs a step
 * schedule written by PyTorch's side (scripts/dcgan_parity.py) instead, for
 * comparing the two. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tconv.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "dcgan.h"
#include "png_out.h"

#define CMD "train"
#define PFX "tconv " CMD
#define DATA_FILE "digits8x8.safetensors"
#define DEFAULT_OUT "dcgan-train/"
#define DEFAULT_EPOCHS 30
#define MAX_EPOCHS 100000
#define MAX_THREADS 1024
#define SAMPLES 64 /* images in each epoch's PNG grid */

static void help(void) {
    printf(
        "Usage: tconv train [--epochs E] [--batch-size B] [--seed S] [--out PATH]\n"
        "                   [--threads T] [--data FILE]\n"
        "       tconv train --replay FILE --dump FILE [--data FILE] [--threads T]\n\n"
        "Trains a DCGAN on scikit-learn's 8x8 handwritten digits from scratch, in C\n"
        "with libtconv, as scripts/train_dcgan_digits.py does in PyTorch.  The\n"
        "generator is seed 003's (z 100x1x1 -> ConvTranspose2d to 128, 64, 1 channels\n"
        "with BatchNorm, ReLU and Tanh -> 1x16x16), the discriminator its mirror image\n"
        "(Conv2d, LeakyReLU(0.2), BatchNorm).  The digits are upscaled to 16x16 as\n"
        "F.interpolate(mode=\"bilinear\", align_corners=False) does and mapped to\n"
        "[-1, 1]; weights start as DCGAN's N(0, 0.02) (BatchNorm scale N(1, 0.02));\n"
        "each network has Adam(lr=2e-4, betas=(0.5, 0.999)); the losses are BCE with\n"
        "logits, the real images' labels smoothed to 0.9.\n\n"
        "After every epoch it writes the generator's weights, a safetensors file with\n"
        "the PyTorch Generator's state_dict names (net.0.weight, net.1.running_mean,\n"
        "...: load_state_dict(strict=True) takes it, tconv generate --weights runs it),\n"
        "and a PNG grid of 64 samples (eval-mode BatchNorm, the same noise each epoch).\n\n"
        "  --epochs E       passes over the images, 1..%d (default %d)\n"
        "  --batch-size B   images per step, 1..(number of images) (default 64); each\n"
        "                   epoch is a new shuffle cut into batches, the incomplete\n"
        "                   last one dropped (1797 images: 28 steps of 64)\n"
        "  --seed S         seeds the initial weights, the shuffles and the noise\n"
        "                   (default 0): the same seed and batch size give the same\n"
        "                   weights, on any thread count\n"
        "  --out PATH       where the files go (default " DEFAULT_OUT "):\n"
        "                     a directory (PATH ends in '/' or is one; created if it\n"
        "                     ends in '/'): PATH/generator.safetensors and\n"
        "                     PATH/epoch_001.png, PATH/epoch_002.png, ...;\n"
        "                     PATH ending in .safetensors: that file, and the grids\n"
        "                     beside it as PATH-without-.safetensors_epoch_001.png;\n"
        "                     otherwise a prefix: PATH.safetensors, PATH_epoch_001.png\n"
        "  --threads T      threads, 1..%d (default: TCONV_NUM_THREADS, else the\n"
        "                   available cores)\n"
        "  --data FILE      the digits: U8 tensor \"images\" (N, 8, 8), grey levels\n"
        "                   0..16 (default: models/" DATA_FILE "\n"
        "                   in the current directory, else in the installed\n"
        "                   share/tconv, else in the source tree)\n"
        "  --replay FILE    instead of a seeded run, the steps of FILE (safetensors):\n"
        "                   both networks' initial state_dicts (\"G.net.0.weight\",\n"
        "                   ..., \"D.net.0.weight\", ...), \"index\" (S, B) I64 (each\n"
        "                   step's images), \"z\" (S, B, 100, 1, 1) F32 (each step's\n"
        "                   noise) and optionally Adam's state to start from (named\n"
        "                   as --dump writes it); for comparing with PyTorch\n"
        "                   (scripts/dcgan_parity.py)\n"
        "  --dump FILE      with --replay: write both networks' state_dicts (\"G.\",\n"
        "                   \"D.\"), Adam's state (\"adam.g.net.0.weight.exp_avg\", ...),\n"
        "                   the losses \"loss_d\", \"loss_g\" (S) and the last step's\n"
        "                   images \"real\" (B, 1, 16, 16) after the S steps\n"
        "  -h, --help       this text\n\n"
        "Progress: on a terminal one line, updated as it goes (epoch, step, the last\n"
        "step's D and G losses, images per second); otherwise one line per epoch with\n"
        "the epoch's mean losses.\n\n"
        "Exit status: 0 trained, 1 a file could not be read or written or the losses\n"
        "stopped being finite, 2 bad usage.\n",
        MAX_EPOCHS, DEFAULT_EPOCHS, MAX_THREADS);
}

/* The library's message for a failed call (or the status's name). */
static const char *why(tconv_status s) {
    const char *e = tconv_last_error();
    return e && e[0] ? e : tconv_status_string(s);
}

#define FAIL_IF(call)                                              \
    do {                                                           \
        tconv_status s_ = (call);                                  \
        if (s_ != TCONV_OK) {                                      \
            fprintf(stderr, PFX ": %s\n", why(s_));                \
            goto fail;                                             \
        }                                                          \
    } while (0)

/* ---- where the files go --------------------------------------------------------- */

typedef struct out_paths {
    char weights[4096];
    char png_base[4096];     /* the grids: png_base, then the epoch number and .png */
    char shown[4096];        /* what the messages call the destination */
} out_paths;

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Works out the file names for --out and checks that the directory they go
 * to exists (creating PATH/ if asked) and is writable.  Prints why not. */
static int plan_out(const char *out, out_paths *o) {
    const size_t n = strlen(out);
    if (n == 0 || n > 4000) {
        fprintf(stderr, PFX ": bad value for --out: '%s' (expected a path of 1..4000 bytes)\n", out);
        return 0;
    }
    char *base = o->png_base, dir[4096];
    const char *ext = ".safetensors";
    const size_t en = strlen(ext);
    if (out[n - 1] == '/' || is_dir(out)) {
        snprintf(dir, sizeof dir, "%s", out);
        while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/') dir[strlen(dir) - 1] = '\0';
        if (!is_dir(dir) && mkdir(dir, 0777) != 0) {
            fprintf(stderr, PFX ": cannot create the directory %s: %s\n", dir, strerror(errno));
            return 0;
        }
        const char *sep = strcmp(dir, "/") == 0 ? "" : "/";
        snprintf(o->weights, sizeof o->weights, "%s%sgenerator.safetensors", dir, sep);
        snprintf(base, sizeof o->png_base, "%s%sepoch_", dir, sep);
        snprintf(o->shown, sizeof o->shown, "%s%s", dir, sep);
    } else {
        if (n > en && strcmp(out + n - en, ext) == 0) {
            snprintf(o->weights, sizeof o->weights, "%s", out);
            snprintf(base, sizeof o->png_base, "%.*s_epoch_", (int)(n - en), out);
        } else {
            snprintf(o->weights, sizeof o->weights, "%s%s", out, ext);
            snprintf(base, sizeof o->png_base, "%s_epoch_", out);
        }
        snprintf(o->shown, sizeof o->shown, "%s", o->weights);
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == dir) dir[1] = '\0';
        else *slash = '\0';
        if (!is_dir(dir)) {
            fprintf(stderr, PFX ": --out %s: the directory %s does not exist\n", out, dir);
            return 0;
        }
    }
    const char *d = out[n - 1] == '/' || is_dir(out) ? o->shown : dir;
    if (access(d, W_OK) != 0) {
        fprintf(stderr, PFX ": --out %s: cannot write in %s: %s\n", out, d, strerror(errno));
        return 0;
    }
    return 1;
}

/* ---- saving ---------------------------------------------------------------------- */

static tconv_status save_generator(const dcgan *t, const char *path, int64_t epochs, int64_t steps,
                                   int64_t seed) {
    tconv_safetensors_writer *w = NULL;
    tconv_status s = tconv_safetensors_writer_create(&w);
    char b[3][32], ver[64];
    snprintf(b[0], sizeof b[0], "%lld", (long long)epochs);
    snprintf(b[1], sizeof b[1], "%lld", (long long)seed);
    snprintf(b[2], sizeof b[2], "%lld", (long long)t->batch);
    snprintf(ver, sizeof ver, "tconv train (C, libtconv %s)", tconv_version());
    const char *meta[][2] = {
        {"model", "seed003-dcgan-generator"},
        {"z_dim", "100"},
        {"img_channels", "1"},
        {"widths", "128,64"},
        {"dataset", "sklearn load_digits 8x8 -> bilinear 16x16, scaled to [-1, 1]"},
        {"epochs", b[0]},
        {"seed", b[1]},
        {"batch_size", b[2]},
        {"trainer", ver},
    };
    for (size_t i = 0; !s && i < sizeof meta / sizeof meta[0]; i++)
        s = tconv_safetensors_writer_set_metadata(w, meta[i][0], meta[i][1]);
    char st[32];
    snprintf(st, sizeof st, "%lld", (long long)steps);
    if (!s) s = tconv_safetensors_writer_set_metadata(w, "steps", st);
    if (!s) s = dcgan_generator_save(t, w, NULL);
    if (!s) s = tconv_safetensors_writer_save(w, path);
    tconv_safetensors_writer_destroy(w);
    return s;
}

/* ---- progress -------------------------------------------------------------------- */

static void progress_line(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, float ld,
                          float lg, double ips) {
    char bar[21];
    const int fill = (int)(20 * step / (steps > 0 ? steps : 1));
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    printf("\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss D %.3f G %.3f  %.0f images/s", (long long)epoch,
           (long long)epochs, bar, (long long)step, (long long)steps, ld, lg, ips);
    fflush(stdout);
}

/* ---- replay ---------------------------------------------------------------------- */

static int replay(const char *path, const char *dump, const float *images, int64_t n_images) {
    int rc = CLI_FAIL;
    tconv_safetensors *st = NULL;
    tconv_safetensors_writer *w = NULL;
    int64_t *index = NULL;
    float *z = NULL, *real = NULL, *losses = NULL;
    dcgan t;
    memset(&t, 0, sizeof t);
    FAIL_IF(tconv_safetensors_open(path, &st));
    tconv_tensor_info ii, zi;
    FAIL_IF(tconv_safetensors_find(st, "index", &ii));
    FAIL_IF(tconv_safetensors_find(st, "z", &zi));
    if (ii.dtype != TCONV_DTYPE_I64 || ii.ndim != 2 || ii.shape[0] < 1 || ii.shape[1] < 1 ||
        ii.shape[1] > n_images) {
        char b[160];
        fprintf(stderr,
                PFX ": --replay %s: \"index\" is %s of shape (%s), expected I64 of shape (S, B) "
                "with S >= 1 and 1 <= B <= %lld\n",
                path, tconv_dtype_name(ii.dtype),
                cli_shape_x(b, sizeof b, ii.shape, ii.ndim < 8 ? ii.ndim : 8), (long long)n_images);
        goto fail;
    }
    const int64_t S = ii.shape[0], B = ii.shape[1];
    const int64_t zshape[5] = {S, B, DCGAN_Z, 1, 1};
    /* the sizes are those of tensors in the file, so they fit in memory */
    index = malloc((size_t)(S * B) * sizeof(int64_t));
    z = malloc((size_t)(S * B * DCGAN_Z) * sizeof(float));
    real = malloc((size_t)(B * DCGAN_PIXELS) * sizeof(float));
    losses = malloc((size_t)(2 * S) * sizeof(float));
    if (!index || !z || !real || !losses) {
        fprintf(stderr, PFX ": out of memory\n");
        goto fail;
    }
    FAIL_IF(tconv_safetensors_read(st, "index", TCONV_DTYPE_I64, 2, ii.shape, index,
                                   (size_t)(S * B) * sizeof(int64_t)));
    FAIL_IF(tconv_safetensors_read_f32(st, "z", 5, zshape, z, S * B * DCGAN_Z));
    for (int64_t i = 0; i < S * B; i++)
        if (index[i] < 0 || index[i] >= n_images) {
            fprintf(stderr, PFX ": --replay %s: index[%lld][%lld] = %lld is not an image (0..%lld)\n",
                    path, (long long)(i / B), (long long)(i % B), (long long)index[i],
                    (long long)(n_images - 1));
            goto fail;
        }
    FAIL_IF(dcgan_init(&t, B, NULL));
    FAIL_IF(dcgan_load(&t, st, "G.", "D."));
    char msg[512];
    int warm;
    if (dcgan_optimizer_load(&t, st, "adam.", &warm, msg, sizeof msg) != TCONV_OK) {
        fprintf(stderr, PFX ": --replay %s: %s\n", path, msg);
        goto fail;
    }
    for (int64_t s = 0; s < S; s++) {
        for (int64_t k = 0; k < B; k++)
            memcpy(real + k * DCGAN_PIXELS, images + index[s * B + k] * DCGAN_PIXELS,
                   DCGAN_PIXELS * sizeof(float));
        FAIL_IF(dcgan_step(&t, real, z + s * B * DCGAN_Z, &losses[s], &losses[S + s]));
    }
    FAIL_IF(tconv_safetensors_writer_create(&w));
    FAIL_IF(dcgan_generator_save(&t, w, "G."));
    FAIL_IF(dcgan_discriminator_save(&t, w, "D."));
    FAIL_IF(dcgan_optimizer_save(&t, w, "adam."));
    const int64_t ls[1] = {S};
    FAIL_IF(tconv_safetensors_writer_add(w, "loss_d", TCONV_DTYPE_F32, 1, ls, losses));
    FAIL_IF(tconv_safetensors_writer_add(w, "loss_g", TCONV_DTYPE_F32, 1, ls, losses + S));
    const int64_t rs[4] = {B, 1, DCGAN_SIDE, DCGAN_SIDE};
    FAIL_IF(tconv_safetensors_writer_add(w, "real", TCONV_DTYPE_F32, 4, rs, real));
    FAIL_IF(tconv_safetensors_writer_save(w, dump));
    printf("replayed %lld steps of batch %lld from %s; wrote %s (loss D %.4f -> %.4f, G %.4f -> %.4f)\n",
           (long long)S, (long long)B, path, dump, losses[0], losses[S - 1], losses[S],
           losses[2 * S - 1]);
    rc = CLI_OK;
fail:
    tconv_safetensors_writer_destroy(w);
    tconv_safetensors_close(st);
    dcgan_free(&t);
    free(index);
    free(z);
    free(real);
    free(losses);
    return rc;
}

/* ---- the command ------------------------------------------------------------------ */

int cmd_train(int argc, char **argv) {
    int64_t epochs = DEFAULT_EPOCHS, batch = 64, seed = 0, threads = 0;
    const char *out = DEFAULT_OUT, *data = NULL, *replay_path = NULL, *dump = NULL;
    int batch_given = 0, seed_given = 0, epochs_given = 0, out_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
#define OPT(l, s, val) ((r = cli_opt(CMD, argc, argv, &i, l, s, val)) != 0)
        if (OPT("help", "h", NULL)) {
            help();
            return CLI_OK;
        } else if (OPT("epochs", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &epochs) || epochs < 1 || epochs > MAX_EPOCHS)
                return cli_bad_value(CMD, "--epochs", v, "an integer in 1..100000");
            epochs_given = 1;
        } else if (OPT("batch-size", "b", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &batch) || batch < 1 || batch > 1000000)
                return cli_bad_value(CMD, "--batch-size", v,
                                     "an integer from 1 to the number of images");
            batch_given = 1;
        } else if (OPT("seed", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &seed)) return cli_bad_value(CMD, "--seed", v, "an integer");
            seed_given = 1;
        } else if (OPT("out", "o", &v)) {
            if (r < 0) return CLI_USAGE;
            out = v;
            out_given = 1;
        } else if (OPT("threads", "t", &v)) {
            if (r < 0) return CLI_USAGE;
            if (!cli_parse_i64(v, &threads) || threads < 1 || threads > MAX_THREADS)
                return cli_bad_value(CMD, "--threads", v, "an integer in 1..1024");
        } else if (OPT("data", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            data = v;
        } else if (OPT("replay", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            replay_path = v;
        } else if (OPT("dump", NULL, &v)) {
            if (r < 0) return CLI_USAGE;
            dump = v;
        } else {
            fprintf(stderr, PFX ": unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return CLI_USAGE;
        }
#undef OPT
    }
    if (replay_path && (epochs_given || batch_given || seed_given || out_given)) {
        fprintf(stderr, PFX ": --replay takes the steps, batch and noise from its file: "
                        "--epochs, --batch-size, --seed and --out do not apply\n");
        return CLI_USAGE;
    }
    if (!replay_path != !dump) {
        fprintf(stderr, PFX ": --replay and --dump go together (see --help)\n");
        return CLI_USAGE;
    }
    if (!replay_path && !png_out_available()) {
        fprintf(stderr, PFX ": this tconv was built without libpng (install libpng-dev, rebuild)\n");
        return CLI_FAIL;
    }
    if (threads > 0) tconv_set_num_threads((int)threads);

    int rc = CLI_FAIL;
    float *images = NULL, *real = NULL, *zs = NULL, *z = NULL, *samples = NULL;
    int64_t *perm = NULL, n_images = 0;
    dcgan t;
    memset(&t, 0, sizeof t);
    char found[4096], tried[3 * 4096 + 64];
    if (!data) {
        data = cli_find_model_file(DATA_FILE, found, sizeof found, tried, sizeof tried);
        if (!data) {
            fprintf(stderr, PFX ": no training data found (looked for %s); give it with --data\n",
                    tried);
            return CLI_FAIL;
        }
    }
    char msg[4096 + 256];
    if (dcgan_load_digits(data, &images, &n_images, msg, sizeof msg) != TCONV_OK) {
        fprintf(stderr, PFX ": %s\n", msg);
        return CLI_FAIL;
    }
    if (replay_path) {
        rc = replay(replay_path, dump, images, n_images);
        free(images);
        return rc;
    }
    if (batch > n_images) {
        free(images);
        char b[64];
        snprintf(b, sizeof b, "an integer from 1 to the number of images (%lld)", (long long)n_images);
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)batch);
        return cli_bad_value(CMD, "--batch-size", v, b);
    }
    out_paths o;
    if (!plan_out(out, &o)) {
        free(images);
        return CLI_FAIL;
    }

    /* random streams: initial weights, shuffles, training noise, the grids' noise */
    tconv_rng master, r_init, r_data, r_noise, r_show;
    tconv_rng_init(&master, (uint64_t)seed);
    tconv_rng_init(&r_init, tconv_rng_next_u64(&master));
    tconv_rng_init(&r_data, tconv_rng_next_u64(&master));
    tconv_rng_init(&r_noise, tconv_rng_next_u64(&master));
    tconv_rng_init(&r_show, tconv_rng_next_u64(&master));

    const int64_t steps = n_images / batch;
    real = malloc((size_t)(batch * DCGAN_PIXELS) * sizeof(float));
    z = malloc((size_t)(batch * DCGAN_Z) * sizeof(float));
    zs = malloc((size_t)(SAMPLES * DCGAN_Z) * sizeof(float));
    samples = malloc((size_t)(SAMPLES * DCGAN_PIXELS) * sizeof(float));
    perm = malloc((size_t)n_images * sizeof(int64_t));
    if (!real || !z || !zs || !samples || !perm) {
        fprintf(stderr, PFX ": out of memory\n");
        goto fail;
    }
    FAIL_IF(tconv_rng_fill_normal(&r_show, zs, SAMPLES * DCGAN_Z));
    FAIL_IF(dcgan_init(&t, batch, &r_init));
    png_grid grid;
    png_grid_layout(&grid, SAMPLES, 1, DCGAN_SIDE, DCGAN_SIDE, 8, 4);
    /* the grids' epoch numbers: 3 digits, more when there are more epochs */
    const int width = epochs >= 100000 ? 6 : epochs >= 10000 ? 5 : epochs >= 1000 ? 4 : 3;

    const int tty = isatty(STDOUT_FILENO);
    printf("training the digits DCGAN: %lld images, batch %lld (%lld steps per epoch), %lld "
           "epochs, seed %lld, %d thread%s -> %s\n",
           (long long)n_images, (long long)batch, (long long)steps, (long long)epochs,
           (long long)seed, tconv_default_num_threads(), tconv_default_num_threads() == 1 ? "" : "s",
           o.shown);
    fflush(stdout);
    const double t_start = cli_now();
    double train_s = 0;
    for (int64_t e = 1; e <= epochs; e++) {
        /* timed: the epoch's shuffle, batches, noise and steps (not its files) */
        const double t0 = cli_now();
        double sum_d = 0, sum_g = 0, t_epoch = 0, last_shown = 0;
        dcgan_permutation(&r_data, perm, n_images);
        for (int64_t s = 0; s < steps; s++) {
            for (int64_t k = 0; k < batch; k++)
                memcpy(real + k * DCGAN_PIXELS, images + perm[s * batch + k] * DCGAN_PIXELS,
                       DCGAN_PIXELS * sizeof(float));
            FAIL_IF(tconv_rng_fill_normal(&r_noise, z, batch * DCGAN_Z));
            float ld, lg;
            FAIL_IF(dcgan_step(&t, real, z, &ld, &lg));
            t_epoch = cli_now() - t0;
            if (!isfinite(ld) || !isfinite(lg)) {
                if (tty) printf("\n");
                fprintf(stderr,
                        PFX ": the losses stopped being finite at epoch %lld step %lld (D %g, G "
                        "%g); the weights of epoch %lld are the last written\n",
                        (long long)e, (long long)(s + 1), ld, lg, (long long)(e - 1));
                goto fail;
            }
            sum_d += ld;
            sum_g += lg;
            if (tty && (cli_now() - last_shown > 0.1 || s + 1 == steps)) {
                progress_line(e, epochs, s + 1, steps, ld, lg, (double)((s + 1) * batch) / t_epoch);
                last_shown = cli_now();
            }
        }
        train_s += t_epoch;
        /* the epoch's files: weights (replaced), grid */
        char png[sizeof o.png_base + 32];
        snprintf(png, sizeof png, "%s%0*d.png", o.png_base, width, (int)e);
        FAIL_IF(dcgan_sample(&t, SAMPLES, zs, samples));
        FAIL_IF(save_generator(&t, o.weights, e, e * steps, seed));
        if (!png_grid_write(PFX, png, &grid, samples)) goto fail;
        if (tty) printf("\r\033[K");
        printf("epoch %lld/%lld  %lld steps  loss D %.3f G %.3f  %.0f images/s  -> %s\n",
               (long long)e, (long long)epochs, (long long)steps, sum_d / (double)steps,
               sum_g / (double)steps, (double)(steps * batch) / t_epoch, png);
        fflush(stdout);
    }
    printf("done: %lld epoch%s, %lld step%s in %.1f s (training %.1f s, %.0f images/s); "
           "weights %s (tconv generate --weights %s)\n",
           (long long)epochs, epochs == 1 ? "" : "s", (long long)(epochs * steps),
           epochs * steps == 1 ? "" : "s", cli_now() - t_start, train_s,
           (double)(epochs * steps * batch) / train_s, o.weights, o.weights);
    rc = CLI_OK;
fail:
    dcgan_free(&t);
    free(images);
    free(real);
    free(z);
    free(zs);
    free(samples);
    free(perm);
    return rc;
}
