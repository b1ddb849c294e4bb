/* store.c -- finished tiles into the output, through the epilogue: the
 * activation of a fused layer, and accumulation for gradients that add
 * into their destination.  The bias is already in the sums. */
#include "plan_internal.h"

#include <string.h>

void tc_epilogue_apply(const tc_epilogue *ep, const float *x, float *y, int64_t n) {
    switch (ep->act) {
    case TC_ACT_RELU: ep->ek->relu(x, y, n); break;
    case TC_ACT_LEAKY_RELU: ep->ek->leaky_relu(x, y, n, ep->alpha); break;
    case TC_ACT_TANH: ep->ek->tanh(x, y, n); break;
    case TC_ACT_SIGMOID: ep->ek->sigmoid(x, y, n); break;
    case TC_ACT_NONE:
    default:
        if (x != y) memmove(y, x, (size_t)n * sizeof(float));
    }
}

#define ROW_CHUNK 256 /* floats activated at a time on the stack */

void tc_store_row(float *d, int64_t ds, const float *src, int64_t n, const tc_epilogue *ep) {
    if (ep->act == TC_ACT_NONE) {
        if (ep->accumulate)
            for (int64_t j = 0; j < n; j++) d[j * ds] += src[j];
        else if (ds == 1)
            memcpy(d, src, (size_t)n * sizeof(float));
        else
            for (int64_t j = 0; j < n; j++) d[j * ds] = src[j];
        return;
    }
    float t[ROW_CHUNK];
    for (int64_t j0 = 0; j0 < n; j0 += ROW_CHUNK) {
        const int64_t m = n - j0 < ROW_CHUNK ? n - j0 : ROW_CHUNK;
        tc_epilogue_apply(ep, src + j0, t, m);
        float *dd = d + j0 * ds;
        if (ep->accumulate)
            for (int64_t j = 0; j < m; j++) dd[j * ds] += t[j];
        else
            for (int64_t j = 0; j < m; j++) dd[j * ds] = t[j];
    }
}

void tc_store_row_il2(const tc_kernel_set *ks, float *d, const float *a, const float *b,
                      int64_t cnt, const tc_epilogue *ep) {
    if (!ep->accumulate && ep->act == TC_ACT_NONE) {
        ks->store_il2(d, a, b, cnt);
        return;
    }
    /* interleave into a row, then through the plain store */
    float t[2 * TC_VL_MAX];
    ks->store_il2(t, a, b, cnt);
    tc_store_row(d, 1, t, cnt, ep);
}
