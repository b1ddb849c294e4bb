/* reference.c -- the direct definitions of ConvTranspose2d and Conv2d.
 *
 * Gather form: each output element asks which input taps reach it, sums
 * them in double and is stored once.  Slow on purpose: simple enough to be
 * obviously right, it is the oracle every fast path is tested against.
 * Strides make one kernel serve NCHW and NHWC. */
#include "../internal.h"

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

/* y[n, oc, oy, ox] = b[oc] + sum over ic in oc's group, ky, kx with
 *   oy = iy*sh - ph + ky*dh,  ox = ix*sw - pw + kx*dw
 * of x[n, ic, iy, ix] * w[ic, oc % cog, ky, kx].
 * x: (N, Cin, Hin, Win), w: (Cin, Cout/g, kH, kW), y: (N, Cout, Hout, Wout). */
void tc_ref_conv_transpose2d(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                             const float *bias, float *y, tc_strides ys) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->c_out; oc++) {
            const int64_t grp = oc / cog, ocg = oc % cog;
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double acc = bias ? (double)bias[oc] : 0.0;
                    for (int64_t icg = 0; icg < cig; icg++) {
                        const int64_t ic = grp * cig + icg;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            const int64_t ty = oy + g->ph - ky * g->dh;
                            if (ty < 0 || ty % g->sh != 0) continue;
                            const int64_t iy = ty / g->sh;
                            if (iy >= g->h_in) continue;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                const int64_t tx = ox + g->pw - kx * g->dw;
                                if (tx < 0 || tx % g->sw != 0) continue;
                                const int64_t ix = tx / g->sw;
                                if (ix >= g->w_in) continue;
                                const float xv = x[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w];
                                const float wv = w[((ic * cog + ocg) * g->kh + ky) * g->kw + kx];
                                acc += (double)xv * (double)wv;
                            }
                        }
                    }
                    y[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w] = (float)acc;
                }
        }
}

/* Index into an input dimension of size len for padded coordinate i, or -1
 * for a zero.  i ranges over [-pad_before, len + pad_after). */
static int64_t pad_index(tconv_padding_mode mode, int64_t i, int64_t len) {
    if (i >= 0 && i < len) return i;
    switch (mode) {
    case TCONV_PADDING_MODE_REFLECT: /* mirror without repeating the edge */
        return i < 0 ? -i : 2 * (len - 1) - i;
    case TCONV_PADDING_MODE_REPLICATE:
        return i < 0 ? 0 : len - 1;
    case TCONV_PADDING_MODE_CIRCULAR:
        return ((i % len) + len) % len;
    case TCONV_PADDING_MODE_ZEROS:
    default:
        return -1;
    }
}

/* y[n, oc, oy, ox] = b[oc] + sum over ic in oc's group, ky, kx of
 *   xpad[n, ic, oy*sh - pad_t + ky*dh, ox*sw - pad_l + kx*dw] * w[oc, ic % cig, ky, kx]
 * where xpad extends x by the padding mode.
 * x: (N, Cin, Hin, Win), w: (Cout, Cin/g, kH, kW), y: (N, Cout, Hout, Wout). */
void tc_ref_conv2d(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                   const float *bias, float *y, tc_strides ys) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->c_out; oc++) {
            const int64_t grp = oc / cog;
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double acc = bias ? (double)bias[oc] : 0.0;
                    for (int64_t icg = 0; icg < cig; icg++) {
                        const int64_t ic = grp * cig + icg;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            const int64_t iy =
                                pad_index(g->padding_mode, oy * g->sh - g->pad_t + ky * g->dh, g->h_in);
                            if (iy < 0) continue;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                const int64_t ix = pad_index(
                                    g->padding_mode, ox * g->sw - g->pad_l + kx * g->dw, g->w_in);
                                if (ix < 0) continue;
                                const float xv = x[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w];
                                const float wv = w[((oc * cig + icg) * g->kh + ky) * g->kw + kx];
                                acc += (double)xv * (double)wv;
                            }
                        }
                    }
                    y[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w] = (float)acc;
                }
        }
}
