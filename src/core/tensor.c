/* tensor.c -- sizes and strides of dense tensors, checked. */
#include "core.h"

#include <stdint.h>
#include <string.h>

bool tc_numel(const int64_t *dims, int n, int64_t *out) {
    int64_t r = 1;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0 || tc_mul_overflow(r, dims[i], &r)) return false;
    *out = r;
    return true;
}

bool tc_any_nonfinite(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; i += 4096) {
        const int64_t e = tc_imin(n, i + 4096);
        uint32_t hit = 0;
        for (int64_t j = i; j < e; j++) {
            uint32_t b;
            memcpy(&b, p + j, sizeof b);
            hit |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
        }
        if (hit) return true;
    }
    return false;
}

bool tc_float_bytes(int64_t numel, size_t *out) {
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / sizeof(float)) return false;
    *out = (size_t)numel * sizeof(float);
    return true;
}

tc_strides tc_strides_for(tconv_layout layout, int64_t c, int64_t h, int64_t w) {
    tc_strides s;
    if (layout == TCONV_LAYOUT_NHWC) {
        s.c = 1;
        s.w = c;
        s.h = w * c;
        s.n = h * w * c;
    } else {
        s.w = 1;
        s.h = w;
        s.c = h * w;
        s.n = c * h * w;
    }
    return s;
}
