/* fma_peak.c -- this machine's measured FP32 FMA peak: independent FMA chains
 * held in registers (no memory traffic), AVX-512 or AVX2, on 1..T threads.
 * Enough chains (14) to cover the FMA latency times the number of FMA pipes.
 * Also the round trip of a cache line between two of the CPUs. */
#define _GNU_SOURCE /* CPU affinity */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CHAINS 14

/* The loops are written in assembly: compilers keep arrays of vector
 * accumulators in memory, which measures loads, not FMAs.  Accumulators
 * r2..r15 start at 0 and add r0*r1 = 0, so no value ever grows or denormals. */
#define FMA1(r, i) "vfmadd231ps %%" #r "0, %%" #r "1, %%" #r #i "\n"
#define FMA_BODY(r)                                                                   \
    FMA1(r, 2) FMA1(r, 3) FMA1(r, 4) FMA1(r, 5) FMA1(r, 6) FMA1(r, 7) FMA1(r, 8)      \
        FMA1(r, 9) FMA1(r, 10) FMA1(r, 11) FMA1(r, 12) FMA1(r, 13) FMA1(r, 14) FMA1(r, 15)
#define ZERO1(i) "vxorps %%xmm" #i ", %%xmm" #i ", %%xmm" #i "\n"
#define ZERO_ALL                                                                      \
    ZERO1(0) ZERO1(1) ZERO1(2) ZERO1(3) ZERO1(4) ZERO1(5) ZERO1(6) ZERO1(7) ZERO1(8)  \
        ZERO1(9) ZERO1(10) ZERO1(11) ZERO1(12) ZERO1(13) ZERO1(14) ZERO1(15)
#define CLOBBERS                                                                        \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",     \
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc"

__attribute__((target("avx512f"))) static float fma_loop512(long iters) {
    __asm__ volatile(ZERO_ALL "1:\n" FMA_BODY(zmm) "dec %0\n jnz 1b\n"
                     : "+r"(iters)::CLOBBERS);
    return 0;
}

__attribute__((target("avx2,fma"))) static float fma_loop256(long iters) {
    __asm__ volatile(ZERO_ALL "1:\n" FMA_BODY(ymm) "dec %0\n jnz 1b\n"
                     : "+r"(iters)::CLOBBERS);
    return 0;
}

typedef struct {
    int bits;
    long iters;
    float sink;
} fma_job;

static void *fma_thread(void *arg) {
    fma_job *j = arg;
    j->sink = j->bits == 512 ? fma_loop512(j->iters) : fma_loop256(j->iters);
    return NULL;
}

/* Wall time of `threads` threads each running iters iterations. */
static double run_threads(int bits, int threads, long iters) {
    pthread_t tid[64];
    fma_job jobs[64];
    if (threads > 64) threads = 64;
    double t0 = bench_now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i].bits = bits;
        jobs[i].iters = iters;
        if (i > 0) pthread_create(&tid[i], NULL, fma_thread, &jobs[i]);
    }
    fma_thread(&jobs[0]);
    for (int i = 1; i < threads; i++) pthread_join(tid[i], NULL);
    return bench_now_s() - t0;
}

double bench_fma_peak(int isa_bits, int threads, double seconds) {
    __builtin_cpu_init();
    if (isa_bits == 512 && !__builtin_cpu_supports("avx512f")) return 0;
    if (isa_bits == 256 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    double flop_per_iter = 2.0 * CHAINS * (isa_bits / 32);
    /* Calibrate on one thread, then take the best of three timed runs. */
    long iters = 1 << 16;
    double t;
    while ((t = run_threads(isa_bits, 1, iters)) < 0.02) iters *= 2;
    iters = (long)(iters * (seconds / 3) / t) + 1;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        t = run_threads(isa_bits, threads, iters);
        double g = flop_per_iter * iters * threads / t * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
#else
double bench_fma_peak(int isa_bits, int threads, double seconds) {
    (void)isa_bits; (void)threads; (void)seconds;
    return 0;
}
#endif

/* ---- core-to-core round trip ---------------------------------------------- */

/* Two threads pinned to the first two CPUs this process may use bounce one
 * cache line: the time of a round trip says how far apart the cores are (a
 * VM's vCPUs may sit in one core complex, sharing its L3, or in two, and
 * move between the two placements: on the Zen 4 VM of BENCHMARKS.md 61 ns
 * against 360).  What one thread writes and another reads within a run
 * costs that much more per line. */
typedef struct rtt_job {
    _Alignas(64) atomic_long flag;
    long rounds;
    int cpu;
} rtt_job;

static int pin_to(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *rtt_partner(void *arg) {
    rtt_job *j = arg;
    pin_to(j->cpu); /* unpinned, it still answers */
    for (long i = 0; i < j->rounds; i++) {
        while (atomic_load_explicit(&j->flag, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&j->flag, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

double bench_core_round_trip_ns(int *cpu_a, int *cpu_b) {
    cpu_set_t mask;
    *cpu_a = *cpu_b = -1;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return -1;
    for (int c = 0; c < CPU_SETSIZE && *cpu_b < 0; c++)
        if (CPU_ISSET(c, &mask)) {
            if (*cpu_a < 0) *cpu_a = c;
            else *cpu_b = c;
        }
    if (*cpu_b < 0) return -1; /* one CPU: nothing to bounce between */
    rtt_job *j = aligned_alloc(64, sizeof *j);
    if (!j) return -1;
    atomic_init(&j->flag, 0);
    j->rounds = 100000;
    j->cpu = *cpu_b;
    pthread_t t;
    if (pthread_create(&t, NULL, rtt_partner, j) != 0) {
        free(j);
        return -1;
    }
    pin_to(*cpu_a);
    const double t0 = bench_now_s();
    for (long i = 0; i < j->rounds; i++) {
        atomic_store_explicit(&j->flag, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&j->flag, memory_order_acquire) != 2 * i + 2) {
        }
    }
    const double ns = (bench_now_s() - t0) / (double)j->rounds * 1e9;
    pthread_join(t, NULL);
    sched_setaffinity(0, sizeof mask, &mask); /* this thread may run anywhere again */
    free(j);
    return ns;
}

void bench_print_round_trip(const char *when) {
    int a, b;
    const double ns = bench_core_round_trip_ns(&a, &b);
    if (ns >= 0) printf("# core-to-core round trip%s, CPUs %d and %d: %.0f ns\n", when, a, b, ns);
}
