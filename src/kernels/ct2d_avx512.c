/* ct2d_avx512.c -- conv_transpose2d micro-kernels for AVX-512F (16 lanes,
 * 32 vector registers: tiles of up to 24 accumulators; masked loads cover
 * the input borders).  Built with -mavx512f... by CMake, called only after
 * tc_cpu_has_avx512(). */
#include "../fast/fast.h"

#include <immintrin.h>

#define TC_IMPL TCONV_IMPL_AVX512
#define TC_VL 16
#define TC_ACC_CAP 24
#define TC_GEMM_NV 4
#define TC_GEMM_MR 6
#define TC_KSET tc_kernels_avx512
typedef __m512 tc_v;
typedef __mmask16 tc_mk;
#define v_load(p) _mm512_loadu_ps(p)
#define v_loadm(p, mk) _mm512_maskz_loadu_ps((mk), (p))
#define v_mkmask(bits) ((__mmask16)(bits))
#define v_bcast(p) _mm512_set1_ps(*(p))
#define v_fma(acc, a, b) _mm512_fmadd_ps((a), (b), (acc))
#define v_store(p, v) _mm512_storeu_ps((p), (v))

#include "ct2d_template.inc"
