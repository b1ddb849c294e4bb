/* decompose.c -- ConvTranspose2d as zero insertion + padding + flipped
 * kernel + stride-1 convolution (seed 001), for `tconv explain` and tests. */
#include "decompose.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char decomp_msg[512];

const char *decomp_error(void) { return decomp_msg; }

static tconv_status fail(tconv_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(decomp_msg, sizeof decomp_msg, fmt, ap);
    va_end(ap);
    return st;
}

/* a*b*c*d in int64 with overflow check; sizes are all >= 0 here. */
static int mul4(int64_t a, int64_t b, int64_t c, int64_t d, int64_t *r) {
    int64_t t;
    if (__builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, &t) ||
        __builtin_mul_overflow(t, d, &t))
        return 0;
    *r = t;
    return 1;
}

/* malloc of count floats (at least one, so an empty tensor is not NULL). */
static float *alloc_floats(int64_t count) {
    if (count < 0 || (uint64_t)count > SIZE_MAX / sizeof(float)) return NULL;
    return malloc(count > 0 ? (size_t)count * sizeof(float) : sizeof(float));
}

void decomp_steps_free(decomp_steps *s) {
    if (!s) return;
    free(s->zero_inserted);
    free(s->padded);
    free(s->flipped_weight);
    s->zero_inserted = s->padded = s->flipped_weight = NULL;
}

tconv_status decomp_conv_transpose2d(const tconv_conv_transpose2d_params *p,
                                     const int64_t in_shape[4], const float *x, const float *w,
                                     const float *bias, float *y, int64_t y_capacity,
                                     int64_t out_shape[4], decomp_steps *steps) {
    decomp_steps s;
    memset(&s, 0, sizeof s);
    if (steps) memset(steps, 0, sizeof *steps);
    decomp_msg[0] = '\0';
    if (!p || !in_shape || !x || !w || !y)
        return fail(TCONV_ERROR_INVALID_ARGUMENT, "decompose: NULL argument");

    /* The library's own checks first, so a refusal carries PyTorch's words. */
    int64_t oshape[4];
    tconv_status st = tconv_conv_transpose2d_output_shape(p, 4, in_shape, NULL, 0, oshape);
    if (st != TCONV_OK) return fail(st, "%s", tconv_last_error());

    s.n = in_shape[0];
    s.c_in = in_shape[1];
    s.in_h = in_shape[2];
    s.in_w = in_shape[3];
    s.c_out = p->out_channels;
    s.groups = p->groups;
    s.kh = p->kernel_size[0];
    s.kw = p->kernel_size[1];
    const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;

    /* Sizes.  The library accepted the parameters, so every product below
     * is bounded by sizes it already checked, except the zero-inserted and
     * padded images, which can be much larger: check those. */
    int64_t zero_count = 0, padded_count = 0, w_count = 0, y_count = 0;
    int ok = 1;
    ok &= !__builtin_mul_overflow(s.in_h - 1, p->stride[0], &s.zero_h);
    ok &= !__builtin_mul_overflow(s.in_w - 1, p->stride[1], &s.zero_w);
    s.zero_h += 1;
    s.zero_w += 1;
    /* dilation*(k-1) - padding: how many zeros border the zero-inserted image. */
    s.pad_top = p->dilation[0] * (s.kh - 1) - p->padding[0];
    s.pad_left = p->dilation[1] * (s.kw - 1) - p->padding[1];
    s.pad_bottom = s.pad_top + p->output_padding[0];
    s.pad_right = s.pad_left + p->output_padding[1];
    s.padded_h = s.zero_h + s.pad_top + s.pad_bottom;
    s.padded_w = s.zero_w + s.pad_left + s.pad_right;
    ok &= mul4(s.n, s.c_in, s.zero_h, s.zero_w, &zero_count);
    ok &= mul4(s.n, s.c_in, s.padded_h, s.padded_w, &padded_count);
    ok &= mul4(s.c_out, cig, s.kh, s.kw, &w_count);
    ok &= mul4(oshape[0], oshape[1], oshape[2], oshape[3], &y_count);
    if (!ok) return fail(TCONV_ERROR_OVERFLOW, "decompose: intermediate sizes overflow int64");
    if (y_count > y_capacity)
        return fail(TCONV_ERROR_INVALID_ARGUMENT,
                    "decompose: output needs %lld floats but y_capacity is %lld",
                    (long long)y_count, (long long)y_capacity);

    s.zero_inserted = alloc_floats(zero_count);
    s.padded = alloc_floats(padded_count);
    s.flipped_weight = alloc_floats(w_count);
    if (!s.zero_inserted || !s.padded || !s.flipped_weight) {
        decomp_steps_free(&s);
        return fail(TCONV_ERROR_OUT_OF_MEMORY, "decompose: out of memory for intermediates");
    }

    /* Step 1: z[n, c, iy*sh, ix*sw] = x[n, c, iy, ix], zero elsewhere.
     * z: (N, Cin, zero_h, zero_w). */
    memset(s.zero_inserted, 0, (size_t)zero_count * sizeof(float));
    for (int64_t nc = 0; nc < s.n * s.c_in; nc++)
        for (int64_t iy = 0; iy < s.in_h; iy++)
            for (int64_t ix = 0; ix < s.in_w; ix++)
                s.zero_inserted[(nc * s.zero_h + iy * p->stride[0]) * s.zero_w +
                                ix * p->stride[1]] = x[(nc * s.in_h + iy) * s.in_w + ix];

    /* Step 2: padded[j, i] = z[j - pad_top, i - pad_left], zero outside z.
     * A negative pad_top means the first -pad_top rows of z are cropped.
     * padded: (N, Cin, padded_h, padded_w). */
    for (int64_t nc = 0; nc < s.n * s.c_in; nc++)
        for (int64_t j = 0; j < s.padded_h; j++) {
            const int64_t zy = j - s.pad_top;
            for (int64_t i = 0; i < s.padded_w; i++) {
                const int64_t zx = i - s.pad_left;
                float v = 0.0f;
                if (zy >= 0 && zy < s.zero_h && zx >= 0 && zx < s.zero_w)
                    v = s.zero_inserted[(nc * s.zero_h + zy) * s.zero_w + zx];
                s.padded[(nc * s.padded_h + j) * s.padded_w + i] = v;
            }
        }

    /* Step 3: wf[oc, icg, a, b] = w[g*cig + icg, ocg, kH-1-a, kW-1-b] with
     * oc = g*cog + ocg.  wf: (Cout, Cin/g, kH, kW), w: (Cin, Cout/g, kH, kW). */
    for (int64_t g = 0; g < s.groups; g++)
        for (int64_t ocg = 0; ocg < cog; ocg++)
            for (int64_t icg = 0; icg < cig; icg++)
                for (int64_t a = 0; a < s.kh; a++)
                    for (int64_t b = 0; b < s.kw; b++) {
                        const int64_t oc = g * cog + ocg, ic = g * cig + icg;
                        s.flipped_weight[((oc * cig + icg) * s.kh + a) * s.kw + b] =
                            w[((ic * cog + ocg) * s.kh + (s.kh - 1 - a)) * s.kw + (s.kw - 1 - b)];
                    }

    /* Step 4: a plain stride-1 convolution, through the public API. */
    tconv_conv2d_params_init(&s.conv, s.c_in, s.c_out, s.kh, s.kw);
    s.conv.dilation[0] = p->dilation[0];
    s.conv.dilation[1] = p->dilation[1];
    s.conv.groups = s.groups;
    const int64_t padded_shape[4] = {s.n, s.c_in, s.padded_h, s.padded_w};
    int64_t cshape[4];
    st = tconv_conv2d(&s.conv, 4, padded_shape, s.padded, s.flipped_weight, bias, y, y_capacity,
                      cshape);
    if (st != TCONV_OK) {
        decomp_steps_free(&s);
        return fail(st, "decompose: stride-1 conv2d refused: %s", tconv_last_error());
    }
    if (memcmp(cshape, oshape, sizeof oshape) != 0) {
        decomp_steps_free(&s);
        return fail(TCONV_ERROR_INVALID_STATE,
                    "decompose: stride-1 conv2d gave %lldx%lldx%lldx%lld, expected "
                    "%lldx%lldx%lldx%lld",
                    (long long)cshape[0], (long long)cshape[1], (long long)cshape[2],
                    (long long)cshape[3], (long long)oshape[0], (long long)oshape[1],
                    (long long)oshape[2], (long long)oshape[3]);
    }
    s.out_h = oshape[2];
    s.out_w = oshape[3];
    if (out_shape) memcpy(out_shape, oshape, sizeof oshape);
    if (steps)
        *steps = s;
    else
        decomp_steps_free(&s);
    return TCONV_OK;
}
