/* reference/conv2d.c -- Conv2d by its definition (padding modes included):
 * forward, backward data and backward weight side by side.
 *
 *   y[n, oc, oy, ox] = b[oc] + sum over ic in oc's group, ky, kx of
 *     xpad[n, ic, oy*sh - pad_t + ky*dh, ox*sw - pad_l + kx*dw] * w[oc, ic % cig, ky, kx]
 *
 * where xpad extends x by the padding mode (zeros: absent terms).  Each
 * pass gathers the terms of the elements it writes, in double, and stores
 * each once.  The oracles of the fast paths. */
#include "../kernels.h"

/* forward.  x: (N, Cin, Hin, Win), w: (Cout, Cin/g, kH, kW),
 * y: (N, Cout, Hout, Wout). */
void tc_ref_conv2d_forward(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                           const float *b, float *y, tc_strides ys) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->c_out; oc++) {
            const int64_t grp = oc / cog;
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double acc = b ? (double)b[oc] : 0.0;
                    for (int64_t icg = 0; icg < cig; icg++) {
                        const int64_t ic = grp * cig + icg;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            const int64_t iy = tc_pad_index(
                                g->padding_mode, oy * g->sh - g->pad_t + ky * g->dh, g->h_in);
                            if (iy < 0) continue;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                const int64_t ix = tc_pad_index(
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

/* The output positions o in [0, len_out) whose padded input coordinate
 * P = o*s - p + k*d maps to input position i (of len_in) under the padding
 * mode, as ranges [lo, hi): P = i and its reflections or wraps (one
 * position each) and, for replicate padding at an edge, every o whose P
 * lies before (i == 0) or after (i == len_in - 1) the input. */
typedef struct preimage {
    int n;
    int64_t lo[5], hi[5];
} preimage;

static void add_range(preimage *pi, int64_t lo, int64_t hi) {
    if (lo < hi) {
        pi->lo[pi->n] = lo;
        pi->hi[pi->n++] = hi;
    }
}

static void add_coord(preimage *pi, int64_t P, int64_t s, int64_t p, int64_t kd, int64_t len_out) {
    int64_t t; /* = o*s */
    if (tc_sub_overflow(P, kd, &t) || tc_add_overflow(t, p, &t) || t < 0 || t % s) return;
    if (t / s < len_out) add_range(pi, t / s, t / s + 1);
}

/* smallest o >= 0 with o*s - p + kd >= v, clamped to [0, len_out] */
static int64_t first_at_least(int64_t v, int64_t s, int64_t p, int64_t kd, int64_t len_out) {
    int64_t t;
    if (tc_add_overflow(v, p, &t) || tc_sub_overflow(t, kd, &t)) return len_out;
    const int64_t o = -tc_floor_div(-t, s);
    return o < 0 ? 0 : o > len_out ? len_out : o;
}

static preimage preimages(tconv_padding_mode mode, int64_t i, int64_t len_in, int64_t s,
                          int64_t p, int64_t kd, int64_t len_out) {
    preimage pi = {0, {0}, {0}};
    add_coord(&pi, i, s, p, kd, len_out);
    switch (mode) {
    case TCONV_PADDING_MODE_REFLECT:
        if (i > 0) add_coord(&pi, -i, s, p, kd, len_out);
        if (i < len_in - 1) add_coord(&pi, 2 * (len_in - 1) - i, s, p, kd, len_out);
        break;
    case TCONV_PADDING_MODE_CIRCULAR:
        add_coord(&pi, i - len_in, s, p, kd, len_out);
        add_coord(&pi, i + len_in, s, p, kd, len_out);
        break;
    case TCONV_PADDING_MODE_REPLICATE:
        if (i == 0) add_range(&pi, 0, first_at_least(0, s, p, kd, len_out));
        if (i == len_in - 1) add_range(&pi, first_at_least(len_in, s, p, kd, len_out), len_out);
        break;
    default: break;
    }
    return pi;
}

/* backward data: dx[n, ic, iy, ix] = sum of dy[n, oc, oy, ox] * w[oc, icg, ky, kx]
 * over the (oc, ky, kx, oy, ox) whose padded coordinate maps to (iy, ix). */
void tc_ref_conv2d_backward_data(const tc_geom *g, const float *dy, tc_strides ys,
                                 const float *w, float *dx, tc_strides xs, int accumulate) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    const tconv_padding_mode mode = g->padding_mode;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t ic = 0; ic < g->c_in; ic++) {
            const int64_t grp = ic / cig, icg = ic % cig;
            for (int64_t iy = 0; iy < g->h_in; iy++)
                for (int64_t ix = 0; ix < g->w_in; ix++) {
                    double acc = 0.0;
                    for (int64_t ky = 0; ky < g->kh; ky++) {
                        const preimage py =
                            preimages(mode, iy, g->h_in, g->sh, g->pad_t, ky * g->dh, g->h_out);
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            const preimage px = preimages(mode, ix, g->w_in, g->sw, g->pad_l,
                                                          kx * g->dw, g->w_out);
                            for (int64_t ocg = 0; ocg < cog; ocg++) {
                                const int64_t oc = grp * cog + ocg;
                                const double wv = w[((oc * cig + icg) * g->kh + ky) * g->kw + kx];
                                const float *dyc = dy + n * ys.n + oc * ys.c;
                                for (int a = 0; a < py.n; a++)
                                    for (int64_t oy = py.lo[a]; oy < py.hi[a]; oy++)
                                        for (int c = 0; c < px.n; c++)
                                            for (int64_t ox = px.lo[c]; ox < px.hi[c]; ox++)
                                                acc += (double)dyc[oy * ys.h + ox * ys.w] * wv;
                            }
                        }
                    }
                    float *d = &dx[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w];
                    *d = accumulate ? (float)((double)*d + acc) : (float)acc;
                }
        }
}

/* backward weight: dw[oc, icg, ky, kx] = sum over n, oy, ox of
 *   dy[n, oc, oy, ox] * xpad[n, grp*cig + icg, oy*sh - pad_t + ky*dh, ox*sw - pad_l + kx*dw];
 * db[oc] = sum of dy[n, oc, :, :].  dw or db may be NULL. */
void tc_ref_conv2d_backward_weight(const tc_geom *g, const float *x, tc_strides xs,
                                   const float *dy, tc_strides ys, float *dw, float *db,
                                   int accumulate) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    if (dw)
        for (int64_t oc = 0; oc < g->c_out; oc++) {
            const int64_t grp = oc / cog;
            for (int64_t icg = 0; icg < cig; icg++)
                for (int64_t ky = 0; ky < g->kh; ky++)
                    for (int64_t kx = 0; kx < g->kw; kx++) {
                        const int64_t ic = grp * cig + icg;
                        double acc = 0.0;
                        for (int64_t n = 0; n < g->n; n++)
                            for (int64_t oy = 0; oy < g->h_out; oy++) {
                                const int64_t iy = tc_pad_index(
                                    g->padding_mode, oy * g->sh - g->pad_t + ky * g->dh, g->h_in);
                                if (iy < 0) continue;
                                for (int64_t ox = 0; ox < g->w_out; ox++) {
                                    const int64_t ix =
                                        tc_pad_index(g->padding_mode,
                                                     ox * g->sw - g->pad_l + kx * g->dw, g->w_in);
                                    if (ix < 0) continue;
                                    acc += (double)dy[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w] *
                                           (double)x[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w];
                                }
                            }
                        float *d = &dw[((oc * cig + icg) * g->kh + ky) * g->kw + kx];
                        *d = accumulate ? (float)((double)*d + acc) : (float)acc;
                    }
        }
    if (db) tc_ref_bias_grad(g, dy, ys, db, accumulate);
}
