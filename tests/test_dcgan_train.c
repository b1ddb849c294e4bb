/* test_dcgan_train.c -- the training step of `tconv train` (tools/dcgan.c):
 *  - after the first step a step allocates nothing (malloc counted through
 *    glibc's __libc_* entry points, interposed in this program; skipped
 *    under sanitizers, which interpose malloc themselves);
 *  - the same start gives the same weights on 1 and 2 threads (bit for bit),
 *    and sampling between steps changes nothing;
 *  - the losses are finite and move; the generator's state_dict has
 *    PyTorch's names and reads back;
 *  - the bilinear upscale equals its definition computed in double, and on
 *    the digits (values k/16, weights 1/4, 3/4) exactly;
 *  - the shuffle is a permutation.
 * (Agreement with PyTorch: tests/python/test_dcgan_parity.py.) */
#include "check.h"
#include "dcgan.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(SANITIZED)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static atomic_long n_allocs;
static atomic_int counting;
void *malloc(size_t n) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(&n_allocs, 1);
    return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }
static void count_start(void) {
    atomic_store(&n_allocs, 0);
    atomic_store(&counting, 1);
}
static long count_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&n_allocs);
}
#else
static void count_start(void) {}
static long count_stop(void) { return 0; }
#endif

#define OK(call) CHECK_MSG((call) == TCONV_OK, "%s", tconv_last_error())

enum { B = 16 };

static float *g_images;
static int64_t g_n;

/* a batch and its noise for step s (fixed, from the data and a seeded rng) */
static void batch_for(int64_t s, float *real, float *z) {
    tconv_rng r;
    tconv_rng_init(&r, 1000 + (uint64_t)s);
    for (int k = 0; k < B; k++) {
        const int64_t i = (int64_t)(tconv_rng_next_u64(&r) % (uint64_t)g_n);
        memcpy(real + k * DCGAN_PIXELS, g_images + i * DCGAN_PIXELS, DCGAN_PIXELS * sizeof(float));
    }
    tconv_rng_fill_normal(&r, z, B * DCGAN_Z);
}

/* all of a trainer's parameters and running statistics, for comparisons */
static int same_state(const dcgan *a, const dcgan *b) {
    for (int i = 0; i < DCGAN_G_PARAMS; i++)
        if (memcmp(a->g_params[i].data, b->g_params[i].data,
                   (size_t)a->g_params[i].numel * sizeof(float)))
            return 0;
    for (int i = 0; i < DCGAN_D_PARAMS; i++)
        if (memcmp(a->d_params[i].data, b->d_params[i].data,
                   (size_t)a->d_params[i].numel * sizeof(float)))
            return 0;
    for (int l = 0; l < 2; l++)
        if (memcmp(a->g.bn[l].running_var, b->g.bn[l].running_var,
                   (size_t)a->g.bn[l].num_features * sizeof(float)) ||
            a->g.bn[l].num_batches_tracked != b->g.bn[l].num_batches_tracked)
            return 0;
    return memcmp(a->d.bn.running_mean, b->d.bn.running_mean, 128 * sizeof(float)) == 0;
}

static void test_steps(void) {
    float *real = malloc(B * DCGAN_PIXELS * sizeof(float)), *z = malloc(B * DCGAN_Z * sizeof(float));
    dcgan a, b;
    tconv_rng ra, rb;
    tconv_rng_init(&ra, 5);
    tconv_rng_init(&rb, 5);
    OK(dcgan_init(&a, B, &ra));
    OK(dcgan_init(&b, B, &rb));
    CHECK(same_state(&a, &b));
    /* DCGAN initialisation: N(0, 0.02) weights, N(1, 0.02) BatchNorm scale */
    double s = 0, ss = 0;
    const int64_t n = a.g_params[3].numel;
    for (int64_t i = 0; i < n; i++) s += a.g_params[3].data[i], ss += (double)a.g_params[3].data[i] * a.g_params[3].data[i];
    CHECK_MSG(fabs(s / n) < 1e-3 && fabs(sqrt(ss / n) - 0.02) < 1e-3, "mean %g std %g", s / n, sqrt(ss / n));
    CHECK(fabsf(a.g.bn[0].weight[0] - 1.0f) < 0.1f && a.g.bn[0].weight[0] != 1.0f && a.g.bn[0].bias[0] == 0.0f);

    /* a on 1 thread, b on 2, with a sample between b's steps: the same bits */
    float first_d = 0, first_g = 0, ld = 0, lg = 0, samples[3 * DCGAN_PIXELS];
    long allocs[8] = {0};
    for (int64_t step = 0; step < 8; step++) {
        batch_for(step, real, z);
        tconv_set_num_threads(1);
        count_start();
        OK(dcgan_step(&a, real, z, &ld, &lg));
        allocs[step] = count_stop();
        if (step == 0) first_d = ld, first_g = lg;
        CHECK(isfinite(ld) && isfinite(lg) && ld > 0 && lg > 0);
        tconv_set_num_threads(2);
        float ld2, lg2;
        OK(dcgan_step(&b, real, z, &ld2, &lg2));
        CHECK(ld2 == ld && lg2 == lg);
        OK(dcgan_sample(&b, 3, z, samples));
    }
    tconv_set_num_threads(0);
    for (int step = 1; step < 8; step++)
        CHECK_MSG(allocs[step] == 0, "training step %d allocated %ld times", step, allocs[step]);
    CHECK(same_state(&a, &b));
    CHECK(a.g.bn[0].num_batches_tracked == 8 && a.d.bn.num_batches_tracked == 24);
    CHECK(a.g.bn[0].training == 1 && b.g.bn[1].training == 1);
    CHECK(ld != first_d && lg != first_g);
    for (int i = 0; i < 3 * DCGAN_PIXELS; i++) CHECK(samples[i] >= -1.0f && samples[i] <= 1.0f);
    printf("8 steps of batch %d: loss D %.4f -> %.4f, G %.4f -> %.4f; allocations per step after "
           "the first: %ld%s\n",
           B, first_d, ld, first_g, lg, allocs[7],
#if defined(COUNT_ALLOCS)
           ""
#else
           " [not counted in this build]"
#endif
    );

    /* eval-mode samples: per sample, independent of the chunking */
    float zz[20 * DCGAN_Z], one[20 * DCGAN_PIXELS], each[DCGAN_PIXELS];
    tconv_rng r;
    tconv_rng_init(&r, 9);
    tconv_rng_fill_normal(&r, zz, 20 * DCGAN_Z);
    OK(dcgan_sample(&a, 20, zz, one));
    OK(dcgan_sample(&a, 1, zz + 17 * DCGAN_Z, each));
    CHECK(memcmp(each, one + 17 * DCGAN_PIXELS, sizeof each) == 0);

    /* the generator's state_dict: PyTorch's names, reads back */
    tconv_safetensors_writer *w;
    OK(tconv_safetensors_writer_create(&w));
    OK(dcgan_generator_save(&a, w, "G."));
    OK(dcgan_discriminator_save(&a, w, "D."));
    OK(dcgan_optimizer_save(&a, w, "adam."));
    const char *path = "test_dcgan_train.tmp.safetensors";
    OK(tconv_safetensors_writer_save(w, path));
    tconv_safetensors_writer_destroy(w);
    tconv_safetensors *st;
    OK(tconv_safetensors_open(path, &st));
    remove(path);
    CHECK(tconv_safetensors_count(st) == 13 + 8 + 3 * (DCGAN_G_PARAMS + DCGAN_D_PARAMS));
    static const char *const names[] = {"G.net.0.weight", "G.net.1.num_batches_tracked",
                                        "G.net.4.running_var", "G.net.6.weight", "D.net.5.weight",
                                        "D.net.3.running_mean", "adam.g.net.6.weight.exp_avg_sq",
                                        "adam.d.net.3.bias.step"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK_MSG(tconv_safetensors_find(st, names[i], NULL) == TCONV_OK, "%s", names[i]);
    dcgan c;
    OK(dcgan_init(&c, B, NULL));
    OK(dcgan_load(&c, st, "G.", "D."));
    int loaded = 0;
    char why[256];
    OK(dcgan_optimizer_load(&c, st, "adam.", &loaded, why, sizeof why));
    CHECK(loaded == 1);
    CHECK(same_state(&a, &c));
    /* the loaded copy continues exactly as the original */
    batch_for(100, real, z);
    float l1, l2, l3, l4;
    OK(dcgan_step(&a, real, z, &l1, &l2));
    OK(dcgan_step(&c, real, z, &l3, &l4));
    CHECK(l1 == l3 && l2 == l4 && same_state(&a, &c));
    tconv_safetensors_close(st);

    /* a partial optimizer state is refused */
    OK(tconv_safetensors_writer_create(&w));
    float one_f = 1.0f;
    OK(tconv_safetensors_writer_add(w, "adam.g.net.0.weight.step", TCONV_DTYPE_F32, 0, NULL, &one_f));
    OK(tconv_safetensors_writer_save(w, path));
    tconv_safetensors_writer_destroy(w);
    OK(tconv_safetensors_open(path, &st));
    remove(path);
    CHECK(dcgan_optimizer_load(&c, st, "adam.", &loaded, why, sizeof why) == TCONV_ERROR_NOT_FOUND &&
          loaded == 0 && strstr(why, "lacks adam.g.net.0.weight.exp_avg"));
    tconv_safetensors_close(st);

    dcgan_free(&a);
    dcgan_free(&b);
    dcgan_free(&c);
    dcgan_free(&c); /* twice: a no-op */
    CHECK(dcgan_init(&a, 0, NULL) == TCONV_ERROR_INVALID_ARGUMENT);
    free(real);
    free(z);
}

/* F.interpolate(bilinear, align_corners=False) by its definition, in double */
static double bilinear_ref(const float *x, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                           int64_t r, int64_t c) {
    double sh = (double)ih / (double)oh, sw = (double)iw / (double)ow;
    double fy = fmax(sh * (r + 0.5) - 0.5, 0.0), fx = fmax(sw * (c + 0.5) - 0.5, 0.0);
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    if (y0 > ih - 1) y0 = ih - 1;
    if (x0 > iw - 1) x0 = iw - 1;
    const int64_t y1 = y0 < ih - 1 ? y0 + 1 : y0, x1 = x0 < iw - 1 ? x0 + 1 : x0;
    const double ly = fy - y0, lx = fx - x0;
    return (1 - ly) * ((1 - lx) * x[y0 * iw + x0] + lx * x[y0 * iw + x1]) +
           ly * ((1 - lx) * x[y1 * iw + x0] + lx * x[y1 * iw + x1]);
}

static void test_bilinear(void) {
    static const int64_t sizes[][4] = {{8, 8, 16, 16}, {5, 7, 11, 3}, {3, 3, 3, 3},
                                       {16, 12, 8, 5}, {1, 4, 6, 9},  {6, 1, 13, 2}};
    tconv_rng r;
    tconv_rng_init(&r, 3);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int64_t ih = sizes[k][0], iw = sizes[k][1], oh = sizes[k][2], ow = sizes[k][3];
        float x[2 * 16 * 12], y[2 * 16 * 16];
        tconv_rng_fill_normal(&r, x, 2 * ih * iw);
        dcgan_bilinear(x, 2, ih, iw, y, oh, ow);
        double worst = 0;
        for (int p = 0; p < 2; p++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++)
                    worst = fmax(worst, fabs(y[(p * oh + i) * ow + j] -
                                             bilinear_ref(x + p * ih * iw, ih, iw, oh, ow, i, j)));
        CHECK_MSG(worst < 1e-5, "%lldx%lld -> %lldx%lld: error %g", (long long)ih, (long long)iw,
                  (long long)oh, (long long)ow, worst);
    }
    /* the digits: exactly the definition (every value is a multiple of
     * 1/128, so float32 holds them all) */
    tconv_safetensors *st;
    OK(tconv_safetensors_open("models/digits8x8.safetensors", &st));
    const int64_t shape[3] = {1797, 8, 8};
    unsigned char *u8 = malloc(1797 * 64);
    OK(tconv_safetensors_read(st, "images", TCONV_DTYPE_U8, 3, shape, u8, 1797 * 64));
    tconv_safetensors_close(st);
    long exact = 0, total = 0;
    for (int64_t img = 0; img < g_n; img += 7) {
        float x8[64];
        for (int i = 0; i < 64; i++) x8[i] = (float)u8[img * 64 + i] / 16.0f;
        for (int64_t i = 0; i < DCGAN_SIDE; i++)
            for (int64_t j = 0; j < DCGAN_SIDE; j++) {
                const double want = 2.0 * bilinear_ref(x8, 8, 8, 16, 16, i, j) - 1.0;
                exact += (double)g_images[img * DCGAN_PIXELS + i * DCGAN_SIDE + j] == want;
                total++;
            }
    }
    CHECK_MSG(exact == total, "%ld of %ld upscaled pixels exact", exact, total);
    free(u8);
}

static void test_data_and_permutation(void) {
    char why[512];
    float *imgs;
    int64_t n;
    CHECK(dcgan_load_digits("no/such/file.safetensors", &imgs, &n, why, sizeof why) ==
              TCONV_ERROR_IO &&
          imgs == NULL && strstr(why, "cannot open"));
    CHECK(dcgan_load_digits("models/dcgan_digits.safetensors", &imgs, &n, why, sizeof why) ==
              TCONV_ERROR_NOT_FOUND &&
          strstr(why, "'images'"));
    int64_t perm[1000];
    int seen[1000] = {0};
    tconv_rng r;
    tconv_rng_init(&r, 11);
    dcgan_permutation(&r, perm, 1000);
    int ok = 1, moved = 0;
    for (int i = 0; i < 1000; i++) {
        if (perm[i] < 0 || perm[i] >= 1000 || seen[perm[i]]++) ok = 0;
        moved += perm[i] != i;
    }
    CHECK(ok && moved > 900);
}

int main(void) {
    char why[512];
    tconv_status s = dcgan_load_digits("models/digits8x8.safetensors", &g_images, &g_n, why, sizeof why);
    CHECK_MSG(s == TCONV_OK && g_n == 1797, "%s", why);
    if (s) return tc_test_summary("test_dcgan_train");
    test_bilinear();
    test_data_and_permutation();
    test_steps();
    free(g_images);
    return tc_test_summary("test_dcgan_train");
}
