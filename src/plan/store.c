/* store.c -- finished tiles into the output, through the epilogue: the
 * activation of a fused layer, and accumulation for gradients that add
 * into their destination.  The bias is already in the sums. */
#include "plan_internal.h"

#include <math.h>
#include <string.h>

static inline float act(const tc_epilogue *ep, float v) {
    switch (ep->act) {
    case TC_ACT_RELU: return v > 0.0f ? v : (v != v ? v : 0.0f);
    case TC_ACT_LEAKY_RELU: return v >= 0.0f ? v : v * ep->alpha;
    case TC_ACT_TANH: return tanhf(v);
    case TC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case TC_ACT_NONE:
    default: return v;
    }
}

void tc_store_row(float *d, int64_t ds, const float *src, int64_t n, const tc_epilogue *ep) {
    if (!ep->accumulate && ep->act == TC_ACT_NONE) {
        if (ds == 1) {
            memcpy(d, src, (size_t)n * sizeof(float));
        } else {
            for (int64_t j = 0; j < n; j++) d[j * ds] = src[j];
        }
    } else if (ep->accumulate) {
        for (int64_t j = 0; j < n; j++) d[j * ds] += act(ep, src[j]);
    } else {
        for (int64_t j = 0; j < n; j++) d[j * ds] = act(ep, src[j]);
    }
}

void tc_store_row_il2(const tc_kernel_set *ks, float *d, const float *a, const float *b,
                      int64_t cnt, const tc_epilogue *ep) {
    if (!ep->accumulate && ep->act == TC_ACT_NONE) {
        ks->store_il2(d, a, b, cnt);
        return;
    }
    for (int64_t j = 0; j < cnt; j++) {
        const float v = act(ep, (j & 1) ? b[j >> 1] : a[j >> 1]);
        d[j] = ep->accumulate ? d[j] + v : v;
    }
}
