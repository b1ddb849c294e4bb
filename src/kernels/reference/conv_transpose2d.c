/* reference/conv_transpose2d.c -- ConvTranspose2d by its definition:
 * forward, backward data and backward weight side by side.
 *
 *   y[n, oc, oy, ox] = b[oc] + sum over ic in oc's group, ky, kx with
 *       oy = iy*sh - ph + ky*dh,  ox = ix*sw - pw + kx*dw
 *     of x[n, ic, iy, ix] * w[ic, oc % cog, ky, kx]
 *
 * Each pass is the gather form of its own sum (every element it writes
 * asks which terms reach it), accumulated in double and stored once.  Slow
 * on purpose: simple enough to be obviously right, these are the oracles
 * every fast path is tested against. */
#include "../kernels.h"

/* forward.  x: (N, Cin, Hin, Win), w: (Cin, Cout/g, kH, kW),
 * y: (N, Cout, Hout, Wout). */
void tc_ref_conv_transpose2d_forward(const tc_geom *g, const float *x, tc_strides xs,
                                     const float *w, const float *b, float *y, tc_strides ys) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->c_out; oc++) {
            const int64_t grp = oc / cog, ocg = oc % cog;
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++) {
                    double acc = b ? (double)b[oc] : 0.0;
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

/* Output coordinate a tap reaches from input coordinate i, or -1 outside
 * [0, len).  i*s - p + k*d; the operands are bounded by a valid geometry,
 * the product checked anyway (a reference must not overflow either). */
static int64_t reach(int64_t i, int64_t s, int64_t p, int64_t k, int64_t d, int64_t len) {
    int64_t a, c, r;
    if (tc_mul_overflow(i, s, &a) || tc_mul_overflow(k, d, &c) || tc_sub_overflow(a, p, &r) ||
        tc_add_overflow(r, c, &r) || r < 0 || r >= len)
        return -1;
    return r;
}

/* backward data: dx[n, ic, iy, ix] = sum over oc in ic's group, ky, kx of
 *   dy[n, oc, iy*sh - ph + ky*dh, ix*sw - pw + kx*dw] * w[ic, oc % cog, ky, kx]
 * (terms whose output position lies outside y are absent). */
void tc_ref_conv_transpose2d_backward_data(const tc_geom *g, const float *dy, tc_strides ys,
                                           const float *w, float *dx, tc_strides xs,
                                           int accumulate) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t ic = 0; ic < g->c_in; ic++) {
            const int64_t grp = ic / cig;
            for (int64_t iy = 0; iy < g->h_in; iy++)
                for (int64_t ix = 0; ix < g->w_in; ix++) {
                    double acc = 0.0;
                    for (int64_t ocg = 0; ocg < cog; ocg++) {
                        const int64_t oc = grp * cog + ocg;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            const int64_t oy = reach(iy, g->sh, g->ph, ky, g->dh, g->h_out);
                            if (oy < 0) continue;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                const int64_t ox = reach(ix, g->sw, g->pw, kx, g->dw, g->w_out);
                                if (ox < 0) continue;
                                const float gv = dy[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w];
                                const float wv = w[((ic * cog + ocg) * g->kh + ky) * g->kw + kx];
                                acc += (double)gv * (double)wv;
                            }
                        }
                    }
                    float *d = &dx[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w];
                    *d = accumulate ? (float)((double)*d + acc) : (float)acc;
                }
        }
}

/* backward weight: dw[ic, ocg, ky, kx] = sum over n, iy, ix of
 *   x[n, ic, iy, ix] * dy[n, grp*cog + ocg, iy*sh - ph + ky*dh, ix*sw - pw + kx*dw];
 * db[oc] = sum of dy[n, oc, :, :].  dw or db may be NULL (not computed). */
void tc_ref_conv_transpose2d_backward_weight(const tc_geom *g, const float *x, tc_strides xs,
                                             const float *dy, tc_strides ys, float *dw,
                                             float *db, int accumulate) {
    const int64_t cig = g->c_in / g->groups, cog = g->c_out / g->groups;
    if (dw)
        for (int64_t ic = 0; ic < g->c_in; ic++) {
            const int64_t grp = ic / cig;
            for (int64_t ocg = 0; ocg < cog; ocg++)
                for (int64_t ky = 0; ky < g->kh; ky++)
                    for (int64_t kx = 0; kx < g->kw; kx++) {
                        const int64_t oc = grp * cog + ocg;
                        double acc = 0.0;
                        for (int64_t n = 0; n < g->n; n++)
                            for (int64_t iy = 0; iy < g->h_in; iy++) {
                                const int64_t oy = reach(iy, g->sh, g->ph, ky, g->dh, g->h_out);
                                if (oy < 0) continue;
                                for (int64_t ix = 0; ix < g->w_in; ix++) {
                                    const int64_t ox =
                                        reach(ix, g->sw, g->pw, kx, g->dw, g->w_out);
                                    if (ox < 0) continue;
                                    acc += (double)x[n * xs.n + ic * xs.c + iy * xs.h + ix * xs.w] *
                                           (double)dy[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w];
                                }
                            }
                        float *d = &dw[((ic * cog + ocg) * g->kh + ky) * g->kw + kx];
                        *d = accumulate ? (float)((double)*d + acc) : (float)acc;
                    }
        }
    if (db) tc_ref_bias_grad(g, dy, ys, db, accumulate);
}

void tc_ref_bias_grad(const tc_geom *g, const float *dy, tc_strides ys, float *db,
                      int accumulate) {
    for (int64_t oc = 0; oc < g->c_out; oc++) {
        double acc = 0.0;
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t oy = 0; oy < g->h_out; oy++)
                for (int64_t ox = 0; ox < g->w_out; ox++)
                    acc += dy[n * ys.n + oc * ys.c + oy * ys.h + ox * ys.w];
        db[oc] = accumulate ? (float)((double)db[oc] + acc) : (float)acc;
    }
}
