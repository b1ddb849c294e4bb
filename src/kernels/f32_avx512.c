/* f32_avx512.c -- the float32 micro-kernels for AVX-512F (16 lanes,
 * 32 vector registers: tiles of up to 24 accumulators; masked loads cover
 * the input borders).  Built with -mavx512f... by CMake, called only after
 * tc_cpu_has_avx512(). */
#include "kernels.h"

#include <immintrin.h>

#define TC_IMPL TCONV_IMPL_AVX512
#define TC_VL 16
#define TC_ACC_CAP 24
#define TC_GEMM_NV 4
#define TC_GEMM_MR 6
#define TC_CIL_MR 12
#define TC_CIL_NRV 2
#define TC_CIL_MR_PART1 4 /* short blocks' rows, ascending (0: none) */
#define TC_CIL_MR_PART2 8
#define TC_CILW_MR 8 /* the wide family */
#define TC_CILW_NRV 3
#define TC_CILW_MR_PART1 4
#define TC_CILW_MR_PART2 0
#define TC_WG_MR1 12
#define TC_WG_MR2 12
#define TC_WG_MR3 8
#define TC_DOT_MR 4 /* dot tiles: a rows x b rows */
#define TC_DOT_NC 4
#define TC_WG_MR4 6
#define TC_KSET tc_kernels_avx512
typedef __m512 tc_v;
typedef __mmask16 tc_mk;
#define v_load(p) _mm512_loadu_ps(p)
#define v_loadm(p, mk) _mm512_maskz_loadu_ps((mk), (p))
#define v_mkmask(bits) ((__mmask16)(bits))
#define v_fmam(acc, a, b, mk) _mm512_mask3_fmadd_ps((a), (b), (acc), (mk))
#define v_bcast(p) _mm512_set1_ps(*(p))
#define v_fma(acc, a, b) _mm512_fmadd_ps((a), (b), (acc))
#define v_store(p, v) _mm512_storeu_ps((p), (v))
#define v_stream(p, v) _mm512_stream_ps((p), (v)) /* p aligned to the vector */

#define TC_HAVE_IL2 1
static inline void v_store_il2(float *d, const float *a, const float *b, int64_t cnt) {
    const __m512 va = _mm512_loadu_ps(a), vb = _mm512_loadu_ps(b);
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                          15, 31);
    const __m512 lo = _mm512_permutex2var_ps(va, ilo, vb);
    if (cnt >= 16) {
        _mm512_storeu_ps(d, lo);
        const __m512 hi = _mm512_permutex2var_ps(va, ihi, vb);
        _mm512_mask_storeu_ps(d + 16, (__mmask16)((1u << (cnt - 16)) - 1), hi);
    } else {
        _mm512_mask_storeu_ps(d, (__mmask16)((1u << cnt) - 1), lo);
    }
}

/* One 64-byte line (d aligned) written past the caches. */
#define TC_HAVE_STREAM 1
static inline void v_stream_line(float *d, const float *s) {
    _mm512_stream_ps(d, _mm512_loadu_ps(s));
}
static inline void v_stream_il2(float *d, const float *a, const float *b) { /* 32 floats */
    const __m512 va = _mm512_loadu_ps(a), vb = _mm512_loadu_ps(b);
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                          15, 31);
    _mm512_stream_ps(d, _mm512_permutex2var_ps(va, ilo, vb));
    _mm512_stream_ps(d + 16, _mm512_permutex2var_ps(va, ihi, vb));
}

#define v_pin(v) __asm__("" : "+v"(v))

#include "common.inc"
#include "phase.inc"
#include "gemm.inc"
#include "cil.inc"
#include "wgrad.inc"
#include "dot.inc"
#include "wino.inc"
#include "transpose.inc"
#include "kernel_set.inc"
