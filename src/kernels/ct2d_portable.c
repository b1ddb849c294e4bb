/* ct2d_portable.c -- conv_transpose2d micro-kernels in plain C11 (8-lane
 * arrays the compiler may vectorise for whatever the target has).  The
 * fallback on every CPU, and the only fast path on non-x86 builds. */
#include "../fast/fast.h"

#define TC_IMPL TCONV_IMPL_PORTABLE
#define TC_VL 8
#define TC_ACC_CAP 8
#define TC_GEMM_NV 2
#define TC_GEMM_MR 4
#define TC_KSET tc_kernels_portable

typedef struct {
    float f[TC_VL];
} tc_v;
typedef uint32_t tc_mk;

static inline tc_v v_load(const float *p) {
    tc_v r;
    for (int j = 0; j < TC_VL; j++) r.f[j] = p[j];
    return r;
}
/* Masked-off lanes are neither read nor addressed (they may lie outside x). */
static inline tc_v v_loadm(const float *p, tc_mk mk) {
    tc_v r;
    for (int j = 0; j < TC_VL; j++) r.f[j] = (mk >> j) & 1 ? p[j] : 0.0f;
    return r;
}
#define v_mkmask(bits) ((tc_mk)(bits))
static inline tc_v v_zmask(tc_v v, tc_mk mk) {
    for (int j = 0; j < TC_VL; j++)
        if (!((mk >> j) & 1)) v.f[j] = 0.0f;
    return v;
}
static inline tc_v v_bcast(const float *p) {
    tc_v r;
    for (int j = 0; j < TC_VL; j++) r.f[j] = *p;
    return r;
}
static inline tc_v v_fma(tc_v acc, tc_v a, tc_v b) {
    for (int j = 0; j < TC_VL; j++) acc.f[j] += a.f[j] * b.f[j];
    return acc;
}
static inline void v_store(float *p, tc_v v) {
    for (int j = 0; j < TC_VL; j++) p[j] = v.f[j];
}

#include "ct2d_template.inc"
