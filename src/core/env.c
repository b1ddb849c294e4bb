/* env.c -- process-wide knobs: the default thread count (set by
 * tconv_set_num_threads, else TCONV_NUM_THREADS, else the cores this
 * process may use) and TCONV_VERBOSE. */
#define _GNU_SOURCE
#include "core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_int set_threads;      /* 0: not set */
static atomic_int env_threads = -1; /* -1: not read yet, 0: unset or invalid */
static atomic_int cores;            /* 0: not read yet */
static atomic_int verbose = -1;

static int machine_cores(void) {
    int c = atomic_load_explicit(&cores, memory_order_relaxed);
    if (c <= 0) {
        c = tc_cpu_count();
        if (c > TC_MAX_THREADS) c = TC_MAX_THREADS;
        atomic_store_explicit(&cores, c, memory_order_relaxed);
    }
    return c;
}

/* A positive decimal integer, else 0 (TCONV_NUM_THREADS=abc is ignored). */
static int parse_count(const char *s) {
    if (!s || !*s) return 0;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (*s - '0');
        if (v > 1 << 20) return 1 << 20;
    }
    return (int)v;
}

static int from_env(void) {
    int e = atomic_load_explicit(&env_threads, memory_order_relaxed);
    if (e < 0) {
        e = parse_count(getenv("TCONV_NUM_THREADS"));
        atomic_store_explicit(&env_threads, e, memory_order_relaxed);
    }
    return e;
}

int tc_resolve_threads(int requested) {
    const int cap = machine_cores();
    int n = requested > 0 ? requested : tc_default_threads();
    return n > cap ? cap : n < 1 ? 1 : n;
}

/* The configured default, before the cap: as torch.get_num_threads. */
static int configured(void) {
    int n = atomic_load_explicit(&set_threads, memory_order_relaxed);
    if (n <= 0) n = from_env();
    return n > 0 ? n : machine_cores();
}

int tc_default_threads(void) {
    const int cap = machine_cores(), n = configured();
    return n > cap ? cap : n;
}

tconv_status tconv_set_num_threads(int num_threads) {
    tc_clear_error();
    if (num_threads < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "num_threads must be >= 0 (0 = default), but got %d", num_threads);
    atomic_store_explicit(&set_threads, num_threads, memory_order_relaxed);
    return TCONV_OK;
}

int tconv_get_num_threads(void) { return configured(); }

int tconv_default_num_threads(void) { return tc_default_threads(); }

int tconv_max_num_threads(void) { return machine_cores(); }

int tc_verbose(void) {
    int v = atomic_load_explicit(&verbose, memory_order_relaxed);
    if (v < 0) {
        const char *s = getenv("TCONV_VERBOSE");
        v = s && *s && !(s[0] == '0' && !s[1]);
        atomic_store_explicit(&verbose, v, memory_order_relaxed);
    }
    return v;
}

double tc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
