/* f32_portable.c -- the float32 micro-kernels in portable C: 4-lane
 * (128-bit: SSE2, NEON) GCC/Clang generic vectors (plain C11 arrays with other compilers).  The
 * fallback on every CPU, and the only fast path on non-x86 builds. */
#include "kernels.h"

#define TC_IMPL TCONV_IMPL_PORTABLE
#define TC_VL 4
#define TC_ACC_CAP 12
#define TC_GEMM_NV 3
#define TC_GEMM_MR 4
#define TC_CIL_MR 4
#define TC_CIL_NRV 2
#define TC_CIL_MR_PART1 0 /* short blocks' rows, ascending (0: none) */
#define TC_CIL_MR_PART2 0
#define TC_WG_MR1 8
#define TC_WG_MR2 6
#define TC_WG_MR3 4
#define TC_DOT_MR 3 /* dot tiles: a rows x b rows */
#define TC_DOT_NC 3
#define TC_WG_MR4 3
#define TC_KSET tc_kernels_portable

#include <string.h>

#if defined(__GNUC__)
/* GCC/Clang generic vectors: lowered to whatever SIMD the target has
 * (SSE2 on baseline x86-64, NEON on AArch64), or to scalars. */
typedef float tc_v __attribute__((vector_size(TC_VL * sizeof(float))));
typedef int32_t tc_vi __attribute__((vector_size(TC_VL * sizeof(int32_t))));
typedef uint32_t tc_mk;

static inline tc_v v_load(const float *p) {
    tc_v r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void v_store(float *p, tc_v v) { memcpy(p, &v, sizeof v); }
#define v_stream v_store
static inline tc_v v_bcast(const float *p) { return (tc_v){0} + *p; }
static inline tc_v v_fma(tc_v acc, tc_v a, tc_v b) { return acc + a * b; }
static inline tc_v v_fmam(tc_v acc, tc_v a, tc_v b, tc_mk mk) {
    const tc_vi bit = {1, 2, 4, 8};
    const tc_vi on = (((tc_vi){0} + (int32_t)mk) & bit) != 0; /* -1 where enabled */
    const tc_v r = acc + a * b;
    return (tc_v)(((tc_vi)r & on) | ((tc_vi)acc & ~on));
}
#else
typedef struct {
    float f[TC_VL];
} tc_v;
typedef uint32_t tc_mk;

static inline tc_v v_load(const float *p) {
    tc_v r;
    for (int j = 0; j < TC_VL; j++) r.f[j] = p[j];
    return r;
}
static inline void v_store(float *p, tc_v v) {
    for (int j = 0; j < TC_VL; j++) p[j] = v.f[j];
}
#define v_stream v_store
static inline tc_v v_bcast(const float *p) {
    tc_v r;
    for (int j = 0; j < TC_VL; j++) r.f[j] = *p;
    return r;
}
static inline tc_v v_fma(tc_v acc, tc_v a, tc_v b) {
    for (int j = 0; j < TC_VL; j++) acc.f[j] += a.f[j] * b.f[j];
    return acc;
}
static inline tc_v v_fmam(tc_v acc, tc_v a, tc_v b, tc_mk mk) {
    for (int j = 0; j < TC_VL; j++)
        if ((mk >> j) & 1) acc.f[j] += a.f[j] * b.f[j];
    return acc;
}
#endif

/* Masked-off lanes are neither read nor addressed (they may lie outside x). */
static inline tc_v v_loadm(const float *p, tc_mk mk) {
    float t[TC_VL];
    for (int j = 0; j < TC_VL; j++) t[j] = (mk >> j) & 1 ? p[j] : 0.0f;
    return v_load(t);
}
#define v_mkmask(bits) ((tc_mk)(bits))

#include "common.inc"
#include "phase.inc"
#include "gemm.inc"
#include "cil.inc"
#include "wgrad.inc"
#include "dot.inc"
#include "wino.inc"
#include "transpose.inc"
#include "kernel_set.inc"
