/* kernel_select.c -- which compiled kernel set runs: the fast
 * implementation asked for, or for AUTO the best this CPU supports
 * (CPUID, core/cpu.c). */
#include "kernels.h"

const tc_kernel_set *tc_kernels_for(tconv_impl impl) {
#if defined(TCONV_X86)
    if (impl == TCONV_IMPL_AVX512) return &tc_kernels_avx512;
    if (impl == TCONV_IMPL_AVX2) return &tc_kernels_avx2;
#endif
    (void)impl;
    return &tc_kernels_portable;
}

const tc_eltwise_kernels *tc_eltwise_for(tconv_impl impl) {
#if defined(TCONV_X86)
    if (impl == TCONV_IMPL_AUTO)
        impl = tc_cpu_has_avx512()     ? TCONV_IMPL_AVX512
               : tc_cpu_has_avx2_fma() ? TCONV_IMPL_AVX2
                                       : TCONV_IMPL_PORTABLE;
    if (impl == TCONV_IMPL_AVX512) return tc_cpu_has_avx512() ? &tc_eltwise_kernels_avx512 : NULL;
    if (impl == TCONV_IMPL_AVX2) return tc_cpu_has_avx2_fma() ? &tc_eltwise_kernels_avx2 : NULL;
#else
    if (impl == TCONV_IMPL_AVX512 || impl == TCONV_IMPL_AVX2) return NULL;
#endif
    return &tc_eltwise_kernels_portable;
}

const tc_eltwise_kernels *tc_eltwise(void) {
    static const tc_eltwise_kernels *cached; /* benign race: every thread finds the same set */
    const tc_eltwise_kernels *k = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!k) {
        k = tc_eltwise_for(TCONV_IMPL_AUTO);
        __atomic_store_n(&cached, k, __ATOMIC_RELEASE);
    }
    return k;
}
