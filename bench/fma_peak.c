/* fma_peak.c -- this machine's measured FP32 FMA peak: independent FMA chains
 * held in registers (no memory traffic), AVX-512 or AVX2, on 1..T threads.
 * Enough chains (14) to cover the FMA latency times the number of FMA pipes. */
#include "bench.h"

#include <pthread.h>
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
