/* test_nn_math.c -- the vector exp, tanh and sigmoid of the nn layers
 * (src/nn/eltwise.inc) against the double-precision libm functions, over
 * EVERY float32 input (all 2^32 bit patterns: +-0, subnormals, normals,
 * +-inf, every NaN), on the CPU's best kernel set; and the other kernel sets
 * bit-identical to it on a dense sample.
 *
 * Error of a result y for input x: |y - ref(x)| / ulp(ref(x)) with ref the
 * function in double precision and ulp(r) the spacing of float32 around
 * (float)r (2^-149 among the subnormals).  The reference is glibc's
 * vector libm (libmvec, double precision, documented within 4 double ulps,
 * i.e. within 2^-27 float ulps) where it exists (x86-64 glibc >= 2.35),
 * else the scalar libm; libmvec is checked against the scalar libm on a
 * sample first.  NaN in -> NaN out, and where the
 * float result overflows (exp above 88.72) the result must be +inf.
 * The bounds checked are the ones the header states (tconv_nn.h).
 *
 * Sanitizer builds (slow) check every 61st input and the special values;
 * TCONV_MATH_STEP=k overrides the stride (1 = all). */
#include "check.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sanitizer builds (GCC defines __SANITIZE_*, clang has __has_feature) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEFAULT_STEP 61
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define DEFAULT_STEP 61
#endif
#endif
#if !defined(DEFAULT_STEP)
#define DEFAULT_STEP 1
#endif

/* The stated bounds (ulps). */
#define EXP_MAX_ULP 1.0
#define TANH_MAX_ULP 1.5
#define SIGMOID_MAX_ULP 2.5

enum { F_EXP, F_TANH, F_SIGMOID };
#define BLOCK 65536
static const char *fname[] = {"exp", "tanh", "sigmoid"};

static double ref1(int f, double x) {
    switch (f) {
    case F_EXP: return exp(x);
    case F_TANH: return tanh(x);
    default: return 1.0 / (1.0 + exp(-x));
    }
}

#if defined(__GLIBC__) && defined(__x86_64__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#include <immintrin.h>
#define HAVE_LIBMVEC 1
/* libmvec's double functions, 2 lanes (SSE) and 8 lanes (AVX-512); glibc
 * >= 2.35 for tanh */
__m128d _ZGVbN2v_exp(__m128d);
__m128d _ZGVbN2v_tanh(__m128d);
/* declared with the target that its vector argument needs (clang refuses
 * an __m512d parameter otherwise) */
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_exp(__m512d);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_tanh(__m512d);

__attribute__((target("avx512f"))) static void refs8(int f, const float *x, double *r, int m) {
    const __m512d one = _mm512_set1_pd(1.0);
    for (int i = 0; i < m; i += 8) {
        __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        if (f == F_TANH) {
            v = _ZGVeN8v_tanh(v);
        } else if (f == F_EXP) {
            v = _ZGVeN8v_exp(v);
        } else {
            v = _ZGVeN8v_exp(_mm512_sub_pd(_mm512_setzero_pd(), v));
            v = _mm512_div_pd(one, _mm512_add_pd(one, v));
        }
        _mm512_storeu_pd(r + i, v);
    }
}

static void refs2(int f, const float *x, double *r, int m) {
    const __m128d one = _mm_set1_pd(1.0);
    for (int i = 0; i < m; i += 2) {
        __m128d v = _mm_set_pd(x[i + 1], x[i]);
        if (f == F_TANH) {
            v = _ZGVbN2v_tanh(v);
        } else if (f == F_EXP) {
            v = _ZGVbN2v_exp(v);
        } else {
            v = _ZGVbN2v_exp(_mm_sub_pd(_mm_setzero_pd(), v));
            v = _mm_div_pd(one, _mm_add_pd(one, v));
        }
        _mm_storeu_pd(r + i, v);
    }
}
#endif

/* r[i] = ref(x[i]) for m inputs (m a multiple of 8; x readable that far).
 * The vector functions take slow scalar paths for NaN and for results that
 * overflow or underflow double, so those lanes are given inputs with the
 * same float verdict: NaN -> 0 (and NaN written back), and x clamped where
 * the reference no longer changes at float resolution: tanh at +-30 (= +-1
 * in double), exp at -200 (e^-200 and anything below it round to 0 in
 * float, with errors under 1e-40 ulp) and +100 (overflows float either
 * way), sigmoid at +-200 (1 in double; below e^-200, 0 likewise). */
static void refs(int f, const float *x, double *r, int m, float *xc) {
#if defined(HAVE_LIBMVEC)
    if (xc) {
        const float lo = f == F_TANH ? -30.0f : -200.0f;
        const float hi = f == F_TANH ? 30.0f : f == F_EXP ? 100.0f : 200.0f;
        for (int i = 0; i < m; i++)
            xc[i] = isnan(x[i]) ? 0.0f : x[i] < lo ? lo : x[i] > hi ? hi : x[i];
        if (tc_cpu_has_avx512()) refs8(f, xc, r, m);
        else refs2(f, xc, r, m);
        for (int i = 0; i < m; i++)
            if (isnan(x[i])) r[i] = x[i];
        return;
    }
#endif
    (void)xc;
    for (int i = 0; i < m; i++) r[i] = ref1(f, x[i]);
}

/* the spacing of float32 at (float)r, from its exponent bits */
static double ulp_of(double r) {
    float f = (float)fabs(r);
    uint32_t b;
    memcpy(&b, &f, 4);
    int e = (int)(b >> 23) & 0xff; /* 255 (overflow) is excluded by the caller */
    if (e == 0) e = 1;             /* subnormals: 2^-149 */
    uint64_t d = (uint64_t)(e - 127 - 23 + 1023) << 52;
    double u;
    memcpy(&u, &d, 8);
    return u;
}


typedef struct sweep {
    const tc_eltwise_kernels *k;
    int f;
    uint64_t step;
    int64_t nblocks;
    /* per task: worst error and its input, failures */
    double *worst;
    uint32_t *worst_bits;
    int64_t *bad;
    uint32_t *bad_bits;
} sweep;

static void sweep_worker(void *vctx, int64_t b, int64_t e) {
    sweep *s = vctx;
    float *xs = malloc((BLOCK + 8) * sizeof(float)), *ys = malloc(BLOCK * sizeof(float));
    double *rs = malloc((BLOCK + 8) * sizeof(double));
    float *xc = malloc((BLOCK + 8) * sizeof(float));
    if (!xs || !ys || !rs || !xc) abort();
    for (int64_t t = b; t < e; t++) {
        const uint64_t first = (uint64_t)t * BLOCK * s->step;
        int m = 0;
        for (uint64_t u = first; m < BLOCK && u < ((uint64_t)1 << 32); u += s->step) {
            const uint32_t bits = (uint32_t)u;
            memcpy(&xs[m++], &bits, 4);
        }
        if (s->f == F_EXP) s->k->exp(xs, ys, m);
        else if (s->f == F_TANH) s->k->tanh(xs, ys, m);
        else s->k->sigmoid(xs, ys, m);
        for (int i = m; i < ((m + 7) & ~7); i++) xs[i] = 0.0f; /* refs works in eights */
        refs(s->f, xs, rs, (m + 7) & ~7, xc);
        double worst = 0;
        uint32_t wb = 0;
        for (int i = 0; i < m; i++) {
            const double r = rs[i], y = ys[i];
            int ok;
            double err = 0;
            if (isnan(r)) {
                ok = isnan(y);
            } else if (fabs(r) > 3.4028234663852886e38) { /* the float result overflows */
                ok = isinf(y) && y > 0;
            } else {
                err = fabs(y - r) / ulp_of(r);
                ok = !isnan(y);
            }
            if (!ok) {
                if (s->bad[t]++ == 0) memcpy(&s->bad_bits[t], &xs[i], 4);
                continue;
            }
            if (err > worst) {
                worst = err;
                memcpy(&wb, &xs[i], 4);
            }
        }
        s->worst[t] = worst;
        s->worst_bits[t] = wb;
    }
    free(xs);
    free(ys);
    free(rs);
    free(xc);
}

static void check_function(const tc_eltwise_kernels *k, int f, uint64_t step, double bound) {
    sweep s = {k, f, step, 0, NULL, NULL, NULL, NULL};
    const uint64_t count = (((uint64_t)1 << 32) + step - 1) / step;
    s.nblocks = (int64_t)((count + BLOCK - 1) / BLOCK);
    s.worst = calloc((size_t)s.nblocks, sizeof(double));
    s.worst_bits = calloc((size_t)s.nblocks, sizeof(uint32_t));
    s.bad = calloc((size_t)s.nblocks, sizeof(int64_t));
    s.bad_bits = calloc((size_t)s.nblocks, sizeof(uint32_t));
    if (!s.worst || !s.worst_bits || !s.bad || !s.bad_bits) abort();
    const double t0 = tc_now();
    tc_parallel_for(tc_default_threads(), s.nblocks, sweep_worker, &s);
    double worst = 0;
    uint32_t wb = 0;
    int64_t bad = 0;
    uint32_t first_bad = 0;
    for (int64_t t = 0; t < s.nblocks; t++) {
        if (s.worst[t] > worst) {
            worst = s.worst[t];
            wb = s.worst_bits[t];
        }
        if (s.bad[t] && !bad) first_bad = s.bad_bits[t];
        bad += s.bad[t];
    }
    float wx, bx;
    memcpy(&wx, &wb, 4);
    memcpy(&bx, &first_bad, 4);
    printf("%-7s [%s] %llu inputs (every %llu): max error %.4f ulp at x = %a (%.9g); %.1f s\n",
           fname[f], k->name, (unsigned long long)count, (unsigned long long)step, worst, wx,
           wx, tc_now() - t0);
    CHECK_MSG(bad == 0, "%s: %lld inputs with a wrong NaN/inf (first x = %a)", fname[f],
              (long long)bad, bx);
    CHECK_MSG(worst <= bound, "%s: %.4f ulp exceeds the stated %.1f", fname[f], worst, bound);
    free(s.worst);
    free(s.worst_bits);
    free(s.bad);
    free(s.bad_bits);
}

/* Special values, exactly. */
static void check_specials(const tc_eltwise_kernels *k) {
    const float in[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-45f, -1e-45f,
                        1e-40f, 100.0f, -100.0f, 88.7228394f, 88.7228470f, -103.972084f,
                        -104.0f};
    const int n = (int)(sizeof in / sizeof in[0]);
    float e[32], t[32], s[32];
    k->exp(in, e, n);
    k->tanh(in, t, n);
    k->sigmoid(in, s, n);
    CHECK(e[0] == 1.0f && e[1] == 1.0f && e[2] == INFINITY && e[3] == 0.0f && isnan(e[4]) &&
          isnan(e[5]) && e[6] == 1.0f && e[12] == INFINITY && e[14] == 0.0f);
    CHECK(e[11] == INFINITY); /* e^88.7228394 is above FLT_MAX + half an ulp */
    CHECK(t[0] == 0.0f && !signbit(t[0]) && t[1] == 0.0f && signbit(t[1]));
    CHECK(t[2] == 1.0f && t[3] == -1.0f && isnan(t[4]) && isnan(t[5]));
    CHECK(t[6] == 1e-45f && t[7] == -1e-45f && t[8] == 1e-40f && t[9] == 1.0f && t[10] == -1.0f);
    CHECK(s[0] == 0.5f && s[1] == 0.5f && s[2] == 1.0f && s[3] == 0.0f && isnan(s[4]) &&
          isnan(s[5]) && s[9] == 1.0f && s[14] == 0.0f);
    CHECK(s[10] > 0.0f && s[10] < 1e-43f); /* sigmoid(-100) = 3.7e-44, a subnormal */
    /* odd symmetry of tanh, bit for bit, on a sample */
    float xs[4096], ys[4096], zs[4096];
    for (int i = 0; i < 4096; i++) {
        const uint32_t b = 0x00400000u + (uint32_t)i * 0x3f11du;
        memcpy(&xs[i], &b, 4);
    }
    k->tanh(xs, ys, 4096);
    for (int i = 0; i < 4096; i++) xs[i] = -xs[i];
    k->tanh(xs, zs, 4096);
    int odd = 1;
    for (int i = 0; i < 4096; i++) odd &= ys[i] == -zs[i] || (isnan(ys[i]) && isnan(zs[i]));
    CHECK(odd);
}

/* Another kernel set gives the same bits as the best one (dense sample,
 * every length 0..40 for the tails). */
static void check_same_bits(const tc_eltwise_kernels *a, const tc_eltwise_kernels *b) {
    enum { N = 1 << 16 };
    static float xs[N], ya[N], yb[N];
    int diff = 0;
    for (uint64_t base = 0; base < ((uint64_t)1 << 32); base += (uint64_t)N * 4099) {
        for (int i = 0; i < N; i++) {
            const uint32_t bits = (uint32_t)(base + (uint64_t)i * 4099);
            memcpy(&xs[i], &bits, 4);
        }
        for (int f = 0; f < 3; f++) {
            void (*fa)(const float *, float *, int64_t) = f == 0 ? a->exp : f == 1 ? a->tanh : a->sigmoid;
            void (*fb)(const float *, float *, int64_t) = f == 0 ? b->exp : f == 1 ? b->tanh : b->sigmoid;
            fa(xs, ya, N);
            fb(xs, yb, N);
            diff += memcmp(ya, yb, sizeof ya) != 0;
            for (int len = 0; len <= 40; len++) { /* tails */
                memset(yb, 0, 41 * sizeof(float));
                fb(xs + 3, yb, len);
                fa(xs + 3, ya, 41);
                diff += memcmp(ya, yb, (size_t)len * sizeof(float)) != 0;
            }
        }
    }
    CHECK_MSG(diff == 0, "kernel sets %s and %s differ", a->name, b->name);
}

/* The vector reference against the scalar libm on a sample: the largest
 * relative difference must be far below a float ulp. */
static void check_reference(void) {
    enum { N = 4096 };
    static float xs[N], xc[N];
    static double a[N], b[N];
    double worst = 0;
    for (uint64_t base = 0; base < ((uint64_t)1 << 32); base += (uint64_t)N * 1031) {
        for (int i = 0; i < N; i++) {
            const uint32_t bits = (uint32_t)(base + (uint64_t)i * 1031);
            memcpy(&xs[i], &bits, 4);
        }
        for (int f = 0; f < 3; f++) {
            refs(f, xs, a, N, xc);
            refs(f, xs, b, N, NULL);
            for (int i = 0; i < N; i++) {
                if (fabsf(xs[i]) > 30.0f) continue; /* clamped: see refs */
                if (isnan(a[i]) || isnan(b[i])) {
                    CHECK(isnan(a[i]) && isnan(b[i]));
                    continue;
                }
                if (a[i] == b[i]) continue;
                const double d = fabs(a[i] - b[i]) / fabs(b[i]);
                if (d > worst) worst = d;
            }
        }
    }
    printf("reference: vector libm vs scalar libm, max relative difference %.3g\n", worst);
    CHECK(worst < 1e-14);
}

int main(void) {
    check_reference();
    uint64_t step = DEFAULT_STEP;
    const char *env = getenv("TCONV_MATH_STEP");
    if (env && atoll(env) > 0) step = (uint64_t)atoll(env);
    const tc_eltwise_kernels *best = tc_eltwise_for(TCONV_IMPL_AUTO);
    const tconv_impl impls[3] = {TCONV_IMPL_PORTABLE, TCONV_IMPL_AVX2, TCONV_IMPL_AVX512};
    for (int i = 0; i < 3; i++) {
        const tc_eltwise_kernels *k = tc_eltwise_for(impls[i]);
        if (!k) continue;
        check_specials(k);
        if (k != best) check_same_bits(best, k);
    }
    check_function(best, F_TANH, step, TANH_MAX_ULP);
    check_function(best, F_SIGMOID, step, SIGMOID_MAX_ULP);
    check_function(best, F_EXP, step, EXP_MAX_ULP);
    return tc_test_summary("test_nn_math");
}
