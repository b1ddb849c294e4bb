/* f32_avx2.c -- the float32 micro-kernels for AVX2 + FMA (8 lanes,
 * 16 vector registers: tiles of up to 12 accumulators; vmaskmovps covers
 * the input borders).  Built with -mavx2 -mfma by CMake, called only after
 * tc_cpu_has_avx2_fma(). */
#include "kernels.h"

#include <immintrin.h>

#define TC_IMPL TCONV_IMPL_AVX2
#define TC_VL 8
#define TC_ACC_CAP 12
#define TC_GEMM_NV 2
#define TC_GEMM_MR 6
#define TC_CIL_MR 4
#define TC_CIL_NRV 3
#define TC_CIL_MR_PART1 0 /* short blocks' rows, ascending (0: none) */
#define TC_CIL_MR_PART2 0
#define TC_WG_MR1 8
#define TC_WG_MR2 6
#define TC_WG_MR3 4
#define TC_DOT_MR 3 /* dot tiles: a rows x b rows */
#define TC_DOT_NC 3
#define TC_WG_MR4 3
#define TC_KSET tc_kernels_avx2
typedef __m256 tc_v;
typedef __m256i tc_mk;
#define v_load(p) _mm256_loadu_ps(p)
#define v_loadm(p, mk) _mm256_maskload_ps((p), (mk))
/* lane j enabled when bit j is set: move bit j to the sign bit of lane j */
#define v_mkmask(bits)                                                                   \
    _mm256_sllv_epi32(_mm256_set1_epi32((int)(bits)),                                   \
                      _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24))
#define v_fmam(acc, a, b, mk)                                                               \
    _mm256_blendv_ps((acc), _mm256_fmadd_ps((a), (b), (acc)), _mm256_castsi256_ps(mk))
#define v_bcast(p) _mm256_broadcast_ss(p)
#define v_fma(acc, a, b) _mm256_fmadd_ps((a), (b), (acc))
#define v_store(p, v) _mm256_storeu_ps((p), (v))
#define v_stream(p, v) _mm256_stream_ps((p), (v)) /* p aligned to the vector */

#define TC_HAVE_IL2 1
static inline __m256i v_first(int64_t n) { /* lanes < n (0..8) enabled */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline void v_store_il2(float *d, const float *a, const float *b, int64_t cnt) {
    const __m256 va = _mm256_loadu_ps(a), vb = _mm256_loadu_ps(b);
    const __m256 lo = _mm256_unpacklo_ps(va, vb), hi = _mm256_unpackhi_ps(va, vb);
    const __m256 o0 = _mm256_permute2f128_ps(lo, hi, 0x20), o1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    if (cnt >= 8) {
        _mm256_storeu_ps(d, o0);
        _mm256_maskstore_ps(d + 8, v_first(cnt - 8), o1);
    } else {
        _mm256_maskstore_ps(d, v_first(cnt), o0);
    }
}

/* One 64-byte line (d aligned) written past the caches. */
#define TC_HAVE_STREAM 1
static inline void v_stream_line(float *d, const float *s) {
    _mm256_stream_ps(d, _mm256_loadu_ps(s));
    _mm256_stream_ps(d + 8, _mm256_loadu_ps(s + 8));
}
static inline void v_stream_il2(float *d, const float *a, const float *b) { /* 16 floats */
    const __m256 va = _mm256_loadu_ps(a), vb = _mm256_loadu_ps(b);
    const __m256 lo = _mm256_unpacklo_ps(va, vb), hi = _mm256_unpackhi_ps(va, vb);
    _mm256_stream_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_stream_ps(d + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
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
