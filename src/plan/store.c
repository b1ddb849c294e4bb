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

void tc_stream_run(const tc_kernel_set *ks, float *d, const float *s, int64_t n) {
    const int64_t head = tc_imin(n, (int64_t)((64 - ((uintptr_t)d & 63)) & 63) / 4);
    memcpy(d, s, (size_t)head * sizeof(float));
    int64_t i = head;
    for (; i + 16 <= n; i += 16) ks->store_line_nt(d + i, s + i);
    memcpy(d + i, s + i, (size_t)(n - i) * sizeof(float));
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

/* Channels-last tiles into NCHW planes, through the epilogue: the stage
 * holds rows of w pixels (row r at st + r*srs, pixel j at + j*C, its
 * channels contiguous); channels [0, cn) go to the planes y + ch*ycs, row r
 * at + r*w.  8x8 register transposes, 256 pixels of a row at a time. */
void tc_unstage(const tc_kernel_set *ks, float *y, int64_t ycs, const float *st, int64_t C,
                int64_t cn, int64_t rows, int64_t w, int64_t srs, const tc_epilogue *ep) {
    enum { PX = 256 };
    if (ep->act == TC_ACT_NONE && !ep->accumulate) { /* straight into the planes */
        for (int64_t r = 0; r < rows; r++) ks->pack_cols(y + r * w, ycs, st + r * srs, C, 1, cn, w);
        return;
    }
    float t[TC_UNSTAGE_CB * PX];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t p0 = 0; p0 < w; p0 += PX) {
            const int64_t np = tc_imin(PX, w - p0);
            /* t[ch*np + p] = st[r*srs + (p0 + p)*C + ch] */
            ks->pack_cols(t, np, st + r * srs + p0 * C, C, 1, cn, np);
            for (int64_t ch = 0; ch < cn; ch++)
                tc_store_row(y + ch * ycs + r * w + p0, 1, t + ch * np, np, ep);
        }
}
