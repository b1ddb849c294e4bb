/* The adjoint identity <conv2d(x, W), y> == <x, conv_transpose2d(y, W)>
 * over random stride, padding, dilation, groups and asymmetric (h != w)
 * parameters, with output_padding (or output_size, alternately) chosen so
 * conv_transpose2d returns x's spatial size.  Run for every implementation,
 * outputs poisoned. */
#include "check.h"
#include "tutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

static float *run_op(tconv_op *op, const int64_t in[4], const float *x, const int64_t *osz,
                     int osz_len, int64_t out[4]) {
    size_t ws = 0;
    tconv_status st = tconv_op_reshape(op, 4, in, osz, osz_len, out, &ws);
    CHECK_MSG(st == TCONV_OK, "reshape: %s", tconv_last_error());
    if (st) return NULL;
    int64_t n = tu_numel(out, 4);
    float *y = tu_alloc(n);
    tu_poison(y, n);
    void *w = ws ? malloc(ws) : NULL;
    st = tconv_op_run(op, x, y, w);
    free(w);
    CHECK_MSG(st == TCONV_OK, "run: %s", tconv_last_error());
    return y;
}

int main(void) {
    tconv_impl impls[8];
    int nimpl = tu_impls(impls);
    tu_rng r;
    tu_rng_seed(&r, 2024);
    int cases = 0;
    double worst = 0.0;
    for (int t = 0; t < 200; t++) {
        /* conv2d: x (N, Cin, H, W) -> (N, Cout, Ho, Wo), weight (Cout, Cin/g, kh, kw) */
        tconv_conv2d_params cp;
        int64_t g = tu_rng_int(&r, 1, 3);
        tconv_conv2d_params_init(&cp, g * tu_rng_int(&r, 1, 3), g * tu_rng_int(&r, 1, 3),
                                 tu_rng_int(&r, 1, 4), tu_rng_int(&r, 1, 4));
        cp.groups = g;
        for (int d = 0; d < 2; d++) {
            cp.stride[d] = tu_rng_int(&r, 1, 3);
            cp.dilation[d] = tu_rng_int(&r, 1, 3);
            /* ConvTranspose2d needs padding <= d*(k-1) to give a positive size
             * in general; stay within it. */
            cp.padding[d] = tu_rng_int(&r, 0, cp.dilation[d] * (cp.kernel_size[d] - 1));
        }
        int64_t xin[4] = {tu_rng_int(&r, 1, 2), cp.in_channels, tu_rng_int(&r, 1, 9),
                          tu_rng_int(&r, 1, 9)};
        int64_t yshape[4];
        if (tconv_conv2d_output_shape(&cp, 4, xin, yshape) != TCONV_OK) continue;
        /* the matching transposed convolution: in = conv's out, out = conv's in */
        tconv_conv_transpose2d_params tp;
        tconv_conv_transpose2d_params_init(&tp, cp.out_channels, cp.in_channels,
                                           cp.kernel_size[0], cp.kernel_size[1]);
        tp.groups = g;
        int64_t opad[2];
        for (int d = 0; d < 2; d++) {
            tp.stride[d] = cp.stride[d];
            tp.padding[d] = cp.padding[d];
            tp.dilation[d] = cp.dilation[d];
            int64_t base;
            CHECK(tconv_conv_transpose2d_output_dim(yshape[2 + d], cp.kernel_size[d],
                                                    cp.stride[d], cp.padding[d], cp.dilation[d],
                                                    0, &base) == TCONV_OK);
            opad[d] = xin[2 + d] - base; /* the rows conv2d's floor division dropped */
            CHECK_MSG(opad[d] >= 0 && opad[d] < cp.stride[d], "opad %lld", (long long)opad[d]);
        }
        const int use_size = t % 2;
        if (!use_size) {
            tp.output_padding[0] = opad[0];
            tp.output_padding[1] = opad[1];
        }
        const int64_t osz[2] = {xin[2], xin[3]};
        int64_t wn = tu_cv_weight_numel(&cp), xn = tu_numel(xin, 4), yn = tu_numel(yshape, 4);
        float *w = tu_alloc(wn), *x = tu_alloc(xn), *y = tu_alloc(yn);
        tu_fill(&r, w, wn);
        tu_fill(&r, x, xn);
        tu_fill(&r, y, yn);
        for (int i = 0; i < nimpl; i++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.num_threads = 1 + t % 3;
            tconv_op *cop = NULL, *top = NULL;
            CHECK(tconv_conv2d_create(&cp, w, NULL, &o, &cop) == TCONV_OK);
            CHECK_MSG(tconv_conv_transpose2d_create(&tp, w, NULL, &o, &top) == TCONV_OK, "%s",
                      tconv_last_error());
            if (cop && top) {
                int64_t s1[4], s2[4];
                float *cx = run_op(cop, xin, x, NULL, 0, s1);
                float *ty = run_op(top, yshape, y, use_size ? osz : NULL, use_size ? 2 : 0, s2);
                CHECK(!memcmp(s1, yshape, sizeof s1));
                CHECK_MSG(!memcmp(s2, xin, sizeof s2), "ct gave %lldx%lld, want %lldx%lld",
                          (long long)s2[2], (long long)s2[3], (long long)xin[2],
                          (long long)xin[3]);
                if (cx && ty && !memcmp(s2, xin, sizeof s2)) {
                    double lhs = tu_dot(cx, y, yn), rhs = tu_dot(x, ty, xn);
                    double scale = 0.0;
                    for (int64_t k = 0; k < yn; k++) scale += fabs((double)cx[k] * y[k]);
                    double e = fabs(lhs - rhs) / (scale > 1.0 ? scale : 1.0);
                    if (!(e <= worst)) worst = e;
                    CHECK_MSG(e < 1e-5, "impl %s case %d: <conv(x),y>=%.9g <x,ct(y)>=%.9g",
                              tconv_impl_name(impls[i]), t, lhs, rhs);
                    cases++;
                }
                free(cx);
                free(ty);
            }
            tconv_op_destroy(cop);
            tconv_op_destroy(top);
        }
        free(w);
        free(x);
        free(y);
    }
    printf("adjoint: %d cases (over %d impls), worst relative gap %.3g\n", cases, nimpl, worst);
    CHECK(cases >= 150);
    return tc_test_summary("test_adjoint");
}
