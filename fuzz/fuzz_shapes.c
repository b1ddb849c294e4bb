/* libFuzzer target: bytes -> parameters (extreme int64 values included),
 * an input shape and an output_size -> every shape function, the parameter
 * checks, create + reshape, and a tiny run when the sizes are small.
 *
 * Beyond "no crash, no ASan/UBSan report" it traps on broken promises:
 * functions that must agree (output_shape vs reshape vs output_dim) and a
 * run that must match the public reference kernel. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tconv.h>

typedef struct src {
    const uint8_t *p;
    size_t n;
} src;

static uint8_t byte(src *s) {
    if (!s->n) return 0;
    s->n--;
    return *s->p++;
}

/* Mostly small values, often the edges of int64, sometimes raw bits. */
static int64_t i64(src *s) {
    static const int64_t edge[] = {INT64_MAX,      INT64_MIN,      INT64_MAX / 2,
                                   INT64_MAX / 3,  (int64_t)1 << 62, (int64_t)1 << 32,
                                   (int64_t)1 << 31, INT32_MAX,    -((int64_t)1 << 62),
                                   INT64_MIN + 1,  INT64_MAX - 1,  (int64_t)3037000500};
    uint8_t t = byte(s);
    if (t < 200) return (int64_t)(t % 12) - 2; /* -2 .. 9 */
    if (t < 240) return edge[t % (sizeof edge / sizeof edge[0])];
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | byte(s);
    return (int64_t)v;
}

static void must(int cond) {
    if (!cond) __builtin_trap();
}

static int64_t numel(const int64_t *d, int n) {
    int64_t r = 1;
    for (int i = 0; i < n; i++)
        if (d[i] < 0 || __builtin_mul_overflow(r, d[i], &r)) return -1;
    return r;
}

#define SMALL 4096      /* elements a buffer may have for a run */
#define WORK 200000     /* multiply-adds a run may cost */
/* reshape may allocate plans in proportion to the tensors; beyond this many
 * elements only the allocation-free shape functions are exercised */
#define RESHAPE_LIMIT ((int64_t)1 << 26)

static int too_big(tconv_status sh, int ndim, const int64_t *in, const int64_t *out) {
    if (sh != TCONV_OK) return 0; /* refusals happen before any allocation */
    int64_t a = numel(in, ndim), b = numel(out, ndim);
    return a < 0 || b < 0 || a > RESHAPE_LIMIT || b > RESHAPE_LIMIT;
}

static void fill(float *a, int64_t n, uint8_t seed) {
    for (int64_t i = 0; i < n; i++) a[i] = (float)((int)((i * 37 + seed) % 17) - 8) / 8.0f;
}

/* (n, c, h, w) NCHW <-> NHWC */
static void to_nhwc(const float *a, float *o, const int64_t d[4]) {
    for (int64_t n = 0; n < d[0]; n++)
        for (int64_t c = 0; c < d[1]; c++)
            for (int64_t h = 0; h < d[2]; h++)
                for (int64_t w = 0; w < d[3]; w++)
                    o[((n * d[2] + h) * d[3] + w) * d[1] + c] = a[((n * d[1] + c) * d[2] + h) * d[3] + w];
}

/* Runs a reshaped op on a deterministic input and compares every element
 * with the public reference entry point (NCHW, batched): unbatched inputs
 * are a batch of one, NHWC data is transposed, output_size is resolved into
 * the reference's output_padding by the caller (params). */
static void tiny_run(tconv_op *op, int is_ct, const void *params, int ndim, const int64_t *in,
                     const int64_t *out, const float *w, const float *b, int64_t taps,
                     size_t ws, int nhwc) {
    int64_t xn = numel(in, ndim), yn = numel(out, ndim), work;
    if (xn < 0 || yn < 0 || xn > SMALL || yn > SMALL) return;
    if (__builtin_mul_overflow(yn, taps, &work) || work > WORK) return;
    if (ws > ((size_t)1 << 24)) return;
    int64_t in4[4], out4[4];
    for (int i = 0; i < 4; i++) {
        in4[i] = ndim == 4 ? in[i] : (i ? in[i - 1] : 1);
        out4[i] = ndim == 4 ? out[i] : (i ? out[i - 1] : 1);
    }
    const size_t xb = (size_t)(xn ? xn : 1) * sizeof(float), yb = (size_t)(yn ? yn : 1) * sizeof(float);
    float *x = malloc(xb), *xl = malloc(xb), *y = malloc(yb), *r = malloc(yb), *rl = malloc(yb);
    void *wsp = ws ? malloc(ws) : NULL;
    fill(x, xn, 3);
    if (nhwc)
        to_nhwc(x, xl, in4);
    else
        memcpy(xl, x, (size_t)xn * sizeof(float));
    for (int64_t i = 0; i < yn; i++) y[i] = NAN;
    must(tconv_op_run(op, xl, y, wsp) == TCONV_OK);
    for (int64_t i = 0; i < yn; i++) must(!isnan(y[i])); /* every element written */
    tconv_status st = is_ct ? tconv_reference_conv_transpose2d(params, in4, x, w, b, r, yn)
                            : tconv_reference_conv2d(params, in4, x, w, b, r, yn);
    must(st == TCONV_OK);
    if (nhwc)
        to_nhwc(r, rl, out4);
    else
        memcpy(rl, r, (size_t)yn * sizeof(float));
    for (int64_t i = 0; i < yn; i++) must(fabsf(y[i] - rl[i]) <= 1e-3f * (1.0f + fabsf(rl[i])));
    free(x);
    free(xl);
    free(y);
    free(r);
    free(rl);
    free(wsp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    src s = {data, size};
    const uint8_t mode = byte(&s);
    const int is_ct = mode & 1;
    const int layout = (mode >> 1) & 1;
    const int threads = (mode >> 2) & 3;
    int64_t v[16];
    for (int i = 0; i < 16; i++) v[i] = i64(&s);
    /* input shape: up to 17 dims so that odd ndims are formatted, not read past */
    int ndim = (int)(byte(&s) % 20) - 2;
    int64_t in[17];
    for (int i = 0; i < 17; i++) in[i] = i64(&s);
    int osz_len = (int)(byte(&s) % 7) - 1;
    int64_t osz[6];
    for (int i = 0; i < 6; i++) osz[i] = i64(&s);
    const int64_t *oszp = (byte(&s) & 1) ? osz : NULL;
    if (!oszp && (byte(&s) & 1)) osz_len = 0;

    /* The one-dimensional rules never crash, whatever the values. */
    int64_t o1, o2;
    tconv_conv_transpose2d_output_dim(v[0], v[1], v[2], v[3], v[4], v[5], &o1);
    tconv_conv2d_output_dim(v[6], v[7], v[8], v[9], v[10], v[11], &o2);

    tconv_options opt;
    tconv_options_init(&opt);
    opt.layout = layout ? TCONV_LAYOUT_NHWC : TCONV_LAYOUT_NCHW;
    opt.num_threads = threads;

    int64_t out[17], out2[17];
    memset(out, 0, sizeof out);
    tconv_op *op = NULL;
    float *w = NULL, *b = NULL;
    int64_t taps = 0;
    if (is_ct) {
        tconv_conv_transpose2d_params p;
        tconv_conv_transpose2d_params_init(&p, v[0], v[1], v[2], v[3]);
        p.stride[0] = v[4], p.stride[1] = v[5];
        p.padding[0] = v[6], p.padding[1] = v[7];
        p.output_padding[0] = v[8], p.output_padding[1] = v[9];
        p.dilation[0] = v[10], p.dilation[1] = v[11];
        p.groups = v[12];
        tconv_status pc = tconv_conv_transpose2d_params_check(&p);
        int64_t opd[2];
        tconv_conv_transpose2d_output_padding_for_size(&p, ndim, in, oszp, osz_len, opd);
        tconv_status sh = tconv_conv_transpose2d_output_shape(&p, ndim, in, oszp, osz_len, out);
        if (sh == TCONV_OK) {
            must(pc == TCONV_OK);
            for (int i = 0; i < ndim; i++) must(out[i] >= 0);
            must(out[ndim - 3 + 1] >= 1 && out[ndim - 3 + 2] >= 1);
            if (!oszp) { /* the per-dim rule agrees with the full shape */
                int64_t h;
                must(tconv_conv_transpose2d_output_dim(in[ndim - 2], p.kernel_size[0],
                                                       p.stride[0], p.padding[0],
                                                       p.dilation[0], p.output_padding[0],
                                                       &h) == TCONV_OK &&
                     h == out[ndim - 2]);
            }
        }
        int64_t wdims[4] = {p.in_channels, pc == TCONV_OK ? p.out_channels / p.groups : 0,
                            p.kernel_size[0], p.kernel_size[1]};
        int64_t wn = numel(wdims, 4);
        if (pc != TCONV_OK) {
            float dummy = 0;
            must(tconv_conv_transpose2d_create(&p, &dummy, NULL, &opt, &op) == pc && !op);
        } else if (wn >= 0 && wn <= SMALL && p.out_channels <= SMALL &&
                   !too_big(sh, ndim, in, out)) {
            w = malloc((size_t)(wn ? wn : 1) * sizeof(float));
            b = malloc((size_t)(p.out_channels ? p.out_channels : 1) * sizeof(float));
            fill(w, wn, 5);
            fill(b, p.out_channels, 7);
            if (tconv_conv_transpose2d_create(&p, w, (mode & 16) ? b : NULL, &opt, &op) ==
                TCONV_OK) {
                size_t ws = 0;
                tconv_status rs = tconv_op_reshape(op, ndim, in, oszp, osz_len, out2, &ws);
                must(rs == sh); /* reshape and output_shape make the same checks */
                if (rs == TCONV_OK) {
                    must(!memcmp(out, out2, (size_t)ndim * sizeof *out));
                    taps = (p.in_channels / p.groups) * p.kernel_size[0] * p.kernel_size[1];
                    /* the reference takes output_padding: resolve output_size */
                    tconv_conv_transpose2d_params pr = p;
                    if (oszp)
                        must(tconv_conv_transpose2d_output_padding_for_size(
                                 &p, ndim, in, oszp, osz_len, pr.output_padding) == TCONV_OK);
                    tiny_run(op, 1, &pr, ndim, in, out, w, (mode & 16) ? b : NULL, taps, ws,
                             layout);
                    /* reshape the same op again, H and W swapped */
                    int64_t in2[17];
                    memcpy(in2, in, sizeof in2);
                    in2[ndim - 2] = in[ndim - 1];
                    in2[ndim - 1] = in[ndim - 2];
                    tconv_status sh2 =
                        tconv_conv_transpose2d_output_shape(&p, ndim, in2, oszp, osz_len, out);
                    if (!too_big(sh2, ndim, in2, out)) {
                        must(tconv_op_reshape(op, ndim, in2, oszp, osz_len, out2, &ws) == sh2);
                        if (sh2 == TCONV_OK) {
                            must(!memcmp(out, out2, (size_t)ndim * sizeof *out));
                            if (oszp)
                                must(tconv_conv_transpose2d_output_padding_for_size(
                                         &p, ndim, in2, oszp, osz_len, pr.output_padding) == 0);
                            tiny_run(op, 1, &pr, ndim, in2, out, w, (mode & 16) ? b : NULL, taps,
                                     ws, layout);
                        }
                    }
                }
            }
        }
    } else {
        tconv_conv2d_params p;
        tconv_conv2d_params_init(&p, v[0], v[1], v[2], v[3]);
        p.stride[0] = v[4], p.stride[1] = v[5];
        p.padding[0] = v[6], p.padding[1] = v[7];
        p.dilation[0] = v[10], p.dilation[1] = v[11];
        p.groups = v[12];
        p.padding_kind = (tconv_padding_kind)((int)((uint64_t)v[13] % 5) - 1); /* -1 .. 3 */
        p.padding_mode = (tconv_padding_mode)((int)((uint64_t)v[14] % 6) - 1); /* -1 .. 4 */
        tconv_status pc = tconv_conv2d_params_check(&p);
        tconv_status sh = tconv_conv2d_output_shape(&p, ndim, in, out);
        if (sh == TCONV_OK) {
            must(pc == TCONV_OK);
            for (int i = 0; i < ndim; i++) must(out[i] >= 0);
            must(out[ndim - 2] >= 1 && out[ndim - 1] >= 1);
        }
        int64_t wdims[4] = {p.out_channels, pc == TCONV_OK ? p.in_channels / p.groups : 0,
                            p.kernel_size[0], p.kernel_size[1]};
        int64_t wn = numel(wdims, 4);
        if (pc != TCONV_OK) {
            float dummy = 0;
            must(tconv_conv2d_create(&p, &dummy, NULL, &opt, &op) == pc && !op);
        } else if (wn >= 0 && wn <= SMALL && p.out_channels <= SMALL &&
                   !too_big(sh, ndim, in, out)) {
            w = malloc((size_t)(wn ? wn : 1) * sizeof(float));
            b = malloc((size_t)(p.out_channels ? p.out_channels : 1) * sizeof(float));
            fill(w, wn, 5);
            fill(b, p.out_channels, 7);
            if (tconv_conv2d_create(&p, w, (mode & 16) ? b : NULL, &opt, &op) == TCONV_OK) {
                size_t ws = 0;
                tconv_status rs = tconv_op_reshape(op, ndim, in, NULL, 0, out2, &ws);
                must(rs == sh);
                if (rs == TCONV_OK) {
                    must(!memcmp(out, out2, (size_t)ndim * sizeof *out));
                    taps = (p.in_channels / p.groups) * p.kernel_size[0] * p.kernel_size[1];
                    tiny_run(op, 0, &p, ndim, in, out, w, (mode & 16) ? b : NULL, taps, ws,
                             layout);
                    int64_t in2[17]; /* reshape the same op again, H and W swapped */
                    memcpy(in2, in, sizeof in2);
                    in2[ndim - 2] = in[ndim - 1];
                    in2[ndim - 1] = in[ndim - 2];
                    tconv_status sh2 = tconv_conv2d_output_shape(&p, ndim, in2, out);
                    if (!too_big(sh2, ndim, in2, out)) {
                        must(tconv_op_reshape(op, ndim, in2, NULL, 0, out2, &ws) == sh2);
                        if (sh2 == TCONV_OK) {
                            must(!memcmp(out, out2, (size_t)ndim * sizeof *out));
                            tiny_run(op, 0, &p, ndim, in2, out, w, (mode & 16) ? b : NULL, taps,
                                     ws, layout);
                        }
                    }
                }
            }
        }
    }
    tconv_op_destroy(op);
    free(w);
    free(b);
    return 0;
}
