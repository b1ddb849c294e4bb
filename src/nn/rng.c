/* rng.c -- SplitMix64, the library's small seedable generator. */
#include "nn_internal.h"

#include <math.h>

void tconv_rng_init(tconv_rng *rng, uint64_t seed) {
    if (rng) rng->state = seed;
}

uint64_t tconv_rng_next_u64(tconv_rng *rng) {
    /* SplitMix64: Weyl step then the variant-13 mixer (Stafford). */
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tconv_rng_uniform(tconv_rng *rng) {
    return (double)(tconv_rng_next_u64(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
}

double tconv_rng_normal(tconv_rng *rng) {
    /* Box-Muller; 1 - u is in (0, 1] so log never sees 0. */
    double u1 = 1.0 - tconv_rng_uniform(rng);
    double u2 = tconv_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

tconv_status tconv_rng_fill_normal(tconv_rng *rng, float *x, int64_t n) {
    tc_clear_error();
    if (!rng || n < 0 || (n > 0 && !x))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "tconv_rng_fill_normal: need a generator, n >= 0 (got %lld) and a buffer",
                       (long long)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)tconv_rng_normal(rng);
    return TCONV_OK;
}

tconv_status tconv_rng_fill_uniform(tconv_rng *rng, float *x, int64_t n, double lo, double hi) {
    tc_clear_error();
    if (!rng || n < 0 || (n > 0 && !x))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "tconv_rng_fill_uniform: need a generator, n >= 0 (got %lld) and a buffer",
                       (long long)n);
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "uniform_ expects to return a [from, to) range, but found from=%g > to=%g",
                       lo, hi);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * tconv_rng_uniform(rng));
    return TCONV_OK;
}
