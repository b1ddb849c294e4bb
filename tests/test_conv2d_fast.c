/* test_conv2d_fast.c -- conv2d on the transposed-convolution kernels
 * against the reference kernel: random channels, groups, kernel
 * sizes, dilation, explicit / "same" / "valid" padding (asymmetric "same"
 * included), padding beyond the kernel's reach, padding modes, strides 1 to
 * 4 (asymmetric too: read as phase images), 1x1 inputs, batches; every ISA
 * this machine has, threads 1..4, NCHW and NHWC, outputs poisoned with NaN,
 * results bit-identical across thread counts.  It also checks which path
 * ran: only zero padding beyond the kernel's reach takes the reference. */
#include "check.h"
#include "tutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

#define TOL 1e-5

static int64_t ncases, nruns, nfast;
static double worst;

static void random_case(tu_rng *r, tconv_conv2d_params *p, int64_t in[4]) {
    for (;;) {
        const int64_t G = tu_rng_int(r, 0, 4) == 0 ? tu_rng_int(r, 2, 3) : 1;
        static const int64_t ch[] = {1, 2, 3, 4, 5, 8, 12, 16, 17, 24, 33};
        const int64_t cig = ch[tu_rng_int(r, 0, 10)], cog = ch[tu_rng_int(r, 0, 10)];
        const int64_t kh = tu_rng_int(r, 1, 5), kw = tu_rng_int(r, 1, 5);
        tconv_conv2d_params_init(p, cig * G, cog * G, kh, kw);
        p->groups = G;
        /* stride 1 or 2 mostly, up to 4 and asymmetric sometimes */
        const int64_t s = tu_rng_int(r, 0, 2) == 0 ? 2 : tu_rng_int(r, 0, 3) ? 1 : tu_rng_int(r, 3, 4);
        p->stride[0] = s;
        p->stride[1] = tu_rng_int(r, 0, 4) ? s : tu_rng_int(r, 1, 3);
        for (int d = 0; d < 2; d++) {
            p->dilation[d] = tu_rng_int(r, 0, 3) ? 1 : tu_rng_int(r, 2, 3);
            const int64_t reach = p->dilation[d] * (p->kernel_size[d] - 1);
            /* mostly within the kernel's reach, sometimes beyond it */
            p->padding[d] = tu_rng_int(r, 0, 5) ? tu_rng_int(r, 0, reach) : reach + tu_rng_int(r, 1, 3);
        }
        const int kind = (int)tu_rng_int(r, 0, 5);
        p->padding_kind = kind == 4 && s == 1 ? TCONV_PADDING_SAME
                          : kind == 5       ? TCONV_PADDING_VALID
                                            : TCONV_PADDING_EXPLICIT;
        const int mode = (int)tu_rng_int(r, 0, 7);
        p->padding_mode = mode < 4 ? TCONV_PADDING_MODE_ZEROS : (tconv_padding_mode)(mode - 4);
        in[0] = tu_rng_int(r, 1, 3);
        in[1] = p->in_channels;
        static const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 40};
        if (tu_rng_int(r, 0, 9) == 0) {
            in[2] = in[3] = 1;
        } else {
            in[2] = sizes[tu_rng_int(r, 0, 11)];
            in[3] = sizes[tu_rng_int(r, 0, 11)];
        }
        int64_t out[4];
        if (tconv_conv2d_params_check(p) == TCONV_OK &&
            tconv_conv2d_output_shape(p, 4, in, out) == TCONV_OK)
            return;
    }
}

/* The top (d = 0) or left padding; "same" puts any odd extra at the end. */
static int64_t pt_of(const tconv_conv2d_params *p, int d) {
    const int64_t reach = p->dilation[d] * (p->kernel_size[d] - 1);
    return p->padding_kind == TCONV_PADDING_EXPLICIT ? p->padding[d]
           : p->padding_kind == TCONV_PADDING_SAME    ? reach / 2
                                                      : 0;
}

/* Whether tconv should run this case on the fast kernels. */
static int expect_fast(const tconv_conv2d_params *p, const int64_t in[4]) {
    int64_t pt[2];
    for (int d = 0; d < 2; d++) {
        const int64_t reach = p->dilation[d] * (p->kernel_size[d] - 1);
        pt[d] = p->padding_kind == TCONV_PADDING_EXPLICIT ? p->padding[d]
                : p->padding_kind == TCONV_PADDING_SAME    ? reach / 2
                                                           : 0;
        /* zero padding beyond the kernel's reach: reference (a padding
         * mode pads the input instead, any amount) */
        if (pt[d] > reach && p->padding_mode == TCONV_PADDING_MODE_ZEROS) return 0;
        /* a stride beyond the (mode-padded) input, or a mode's padding
         * beyond the input (replicate): reference */
        const int64_t pb = p->padding_kind == TCONV_PADDING_SAME ? reach - pt[d] : pt[d];
        if (p->padding_mode && (pt[d] > in[2 + d] || pb > in[2 + d])) return 0;
        if (p->stride[d] > in[2 + d] + (p->padding_mode ? pt[d] + pb : 0)) return 0;
    }
    (void)pt;
    return 1;
}

static void run_case(const tconv_conv2d_params *p, const int64_t in[4], tu_rng *r,
                     const tconv_impl *impls, int nimpl) {
    int64_t out[4];
    CHECK(tconv_conv2d_output_shape(p, 4, in, out) == TCONV_OK);
    const int64_t xn = tu_numel(in, 4), yn = tu_numel(out, 4);
    const int64_t wn = p->out_channels * (p->in_channels / p->groups) * p->kernel_size[0] *
                       p->kernel_size[1];
    float *x = tu_alloc(xn), *w = tu_alloc(wn), *b = tu_alloc(p->out_channels);
    float *ref = tu_alloc(yn), *refh = tu_alloc(yn), *xh = tu_alloc(xn);
    float *y = tu_alloc(yn), *y1 = tu_alloc(yn);
    tu_fill(r, x, xn);
    tu_fill(r, w, wn);
    tu_fill(r, b, p->out_channels);
    const int use_bias = tu_rng_int(r, 0, 3) != 0;
    tu_poison(ref, yn);
    CHECK(tconv_reference_conv2d(p, in, x, w, use_bias ? b : NULL, ref, yn) == TCONV_OK);
    tu_nchw_to_nhwc(ref, refh, out[0], out[1], out[2], out[3]);
    tu_nchw_to_nhwc(x, xh, in[0], in[1], in[2], in[3]);
    ncases++;
    for (int i = 0; i < nimpl; i++)
        for (int lay = 0; lay < 2; lay++) {
            tconv_options o;
            tconv_options_init(&o);
            o.impl = impls[i];
            o.layout = lay ? TCONV_LAYOUT_NHWC : TCONV_LAYOUT_NCHW;
            tconv_op *op = NULL;
            if (tconv_conv2d_create(p, w, use_bias ? b : NULL, &o, &op) != TCONV_OK) {
                CHECK_MSG(0, "create failed: %s", tconv_last_error());
                continue;
            }
            int64_t os[4];
            size_t wsb = 0;
            CHECK(tconv_op_reshape(op, 4, in, NULL, 0, os, &wsb) == TCONV_OK);
            CHECK(!memcmp(os, out, sizeof os));
            /* at most the input's size, or with a stride its phase images'
             * (each ceil(H/sh) x ceil(W/sw), zero-padded) */
            const int64_t sh = p->stride[0], sw = p->stride[1];
            const int64_t hp = in[2] + (p->padding_mode ? 2 * pt_of(p, 0) + 1 : 0),
                          wp = in[3] + (p->padding_mode ? 2 * pt_of(p, 1) + 1 : 0);
            const int64_t wsmax = in[0] * in[1] * ((hp + sh - 1) / sh) * sh *
                                  ((wp + sw - 1) / sw) * sw;
            CHECK_MSG(wsb <= (size_t)wsmax * sizeof(float), "workspace %zu bytes", wsb);
            const int fast = strcmp(tconv_op_path(op), "reference") != 0;
            if (impls[i] != TCONV_IMPL_REFERENCE) {
                CHECK_MSG(fast == expect_fast(p, in), "%s: path %s", tconv_impl_name(impls[i]),
                          tconv_op_path(op));
                if (expect_fast(p, in)) CHECK(tconv_op_impl(op) == impls[i]);
                nfast += fast;
            }
            void *ws = wsb ? malloc(wsb) : NULL;
            for (int t = 1; t <= 4; t++) {
                CHECK(tconv_op_set_num_threads(op, t) == TCONV_OK);
                tu_poison(y, yn);
                CHECK(tconv_op_run(op, lay ? xh : x, y, ws) == TCONV_OK);
                nruns++;
                const double e = tu_max_rel_err(y, lay ? refh : ref, yn);
                if (e > worst) worst = e;
                CHECK_MSG(e < TOL,
                          "%s %s t=%d path %s: err %g; N%lld Cin%lld H%lld W%lld Cout%lld "
                          "k%lldx%lld s%lld p%lld,%lld (kind %d, mode %d) d%lld,%lld g%lld",
                          tconv_impl_name(impls[i]), lay ? "nhwc" : "nchw", t, tconv_op_path(op),
                          e, (long long)in[0], (long long)in[1], (long long)in[2],
                          (long long)in[3], (long long)p->out_channels,
                          (long long)p->kernel_size[0], (long long)p->kernel_size[1],
                          (long long)p->stride[0], (long long)p->padding[0],
                          (long long)p->padding[1], (int)p->padding_kind, (int)p->padding_mode,
                          (long long)p->dilation[0], (long long)p->dilation[1],
                          (long long)p->groups);
                if (t == 1)
                    memcpy(y1, y, (size_t)yn * sizeof(float));
                else
                    CHECK_MSG(!memcmp(y, y1, (size_t)yn * sizeof(float)),
                              "%s: %d threads differ from 1 thread", tconv_impl_name(impls[i]), t);
            }
            free(ws);
            tconv_op_destroy(op);
        }
    free(x);
    free(w);
    free(b);
    free(ref);
    free(refh);
    free(xh);
    free(y);
    free(y1);
}

int main(void) {
    tconv_impl impls[8];
    const int nimpl = tu_impls(impls);
    tu_rng r;
    tu_rng_seed(&r, 2026);
    for (int i = 0; i < 200; i++) {
        tconv_conv2d_params p;
        int64_t in[4];
        random_case(&r, &p, in);
        run_case(&p, in, &r, impls, nimpl);
    }
    /* the U-Net decoder's and the seeds' convolutions: 3x3 "same", 1x1 */
    static const int64_t fixed[][6] = {/* N Cin H W Cout k */
                                       {1, 64, 16, 16, 32, 3},
                                       {2, 32, 9, 13, 16, 3},
                                       {1, 48, 8, 8, 48, 1},
                                       {1, 3, 32, 32, 8, 5},
                                       /* a batch run image at a time */
                                       {9, 8, 12, 10, 6, 3}};
    for (int i = 0; i < 5; i++) {
        tconv_conv2d_params p;
        tconv_conv2d_params_init(&p, fixed[i][1], fixed[i][4], fixed[i][5], fixed[i][5]);
        p.padding[0] = p.padding[1] = fixed[i][5] / 2;
        const int64_t in[4] = {fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3]};
        run_case(&p, in, &r, impls, nimpl);
    }
    printf("conv2d fast: %lld cases, %lld runs, %lld fast-path ops, worst rel err %.3g\n",
           (long long)ncases, (long long)nruns, (long long)nfast, worst);
    CHECK(nfast > 0);
    return tc_test_summary("test_conv2d_fast");
}
