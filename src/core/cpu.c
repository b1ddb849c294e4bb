/* cpu.c -- which ISA the running CPU (and OS) supports, and how many cores
 * this process may use.  x86: CPUID feature bits plus XGETBV, since an OS
 * that does not save the AVX / AVX-512 register state makes them unusable
 * even when CPUID reports them.  Elsewhere only the portable kernels exist. */
#define _GNU_SOURCE
#include "core.h"

#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#if defined(TCONV_X86) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* bit 0: AVX2+FMA usable, bit 1: AVX-512 F/BW/VL/DQ usable. */
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* XMM and YMM state */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int r = 0;
    if (fma && ((b >> 5) & 1)) r |= 1;
    const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if ((r & 1) && f && dq && bw && vl && (xcr0 & 0xE0) == 0xE0) r |= 2; /* opmask, ZMM state */
    return r;
}

static int features(void) {
    static int cached = -1; /* benign race: every thread computes the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect();
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}
int tc_cpu_has_avx2_fma(void) { return features() & 1; }
int tc_cpu_has_avx512(void) { return (features() >> 1) & 1; }
#else
int tc_cpu_has_avx2_fma(void) { return 0; }
int tc_cpu_has_avx512(void) { return 0; }
#endif

int tc_cpu_count(void) {
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
#if defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0) return n > 1024 ? 1024 : (int)n;
#endif
    return 1;
}
