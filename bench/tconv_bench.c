/* tconv_bench.c -- times tconv's ConvTranspose2d operator (public API only)
 * against oneDNN on the shapes of seed-shapes.txt, or with --conv2d its
 * Conv2d operator on conv2d-shapes.txt, at each thread count; checks every
 * output against the reference kernel; prints a table and, with --tsv,
 * machine-readable rows that bench/run.py merges with the Python peers
 * (PyTorch, ONNX Runtime).
 *
 *   tconv_bench [--conv2d] [--shapes FILE] [--only a1,b_z] [--threads 1,2]
 *               [--quick] [--min-time S] [--min-reps N] [--check-gflop G]
 *               [--tconv-max-gflop G] [--no-dnnl] [--no-nhwc] [--no-tconv] [--no-plain]
 *               [--tsv FILE]
 *
 * Built twice: tconv_bench (with Debian's oneDNN 2.x, onednn_peer.c) and,
 * where the peers' virtualenv has the oneDNN 3.x wheel, tconv_bench_dnnl3
 * (onednn3_peer.c), which bench/run.py runs with --no-tconv, one process per
 * thread count, for the oneDNN 3.x columns.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tconv.h"

#ifndef TCONV_BENCH_SHAPES_DEFAULT
#define TCONV_BENCH_SHAPES_DEFAULT "bench/seed-shapes.txt"
#endif
#ifndef TCONV_BENCH_CONV2D_SHAPES_DEFAULT
#define TCONV_BENCH_CONV2D_SHAPES_DEFAULT "bench/conv2d-shapes.txt"
#endif


/* ---- data ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}


/* ---- tconv under test ---------------------------------------------------------- */

typedef struct tconv_run_ctx {
    tconv_op *op;
    const float *x;
    float *y;
    void *ws;
} tconv_run_ctx;

static void fn_tconv(void *ctx) {
    tconv_run_ctx *c = ctx;
    tconv_op_run(c->op, c->x, c->y, c->ws);
}

typedef struct tconv_result {
    bench_timing t;
    double err;
    char impl[16], path[48];
    size_t ws_bytes;
    int skipped;
} tconv_result;

static void params_for(const bench_shape *s, tconv_conv_transpose2d_params *p, int64_t cout) {
    tconv_conv_transpose2d_params_init(p, s->cin, cout, s->kh, s->kw);
    p->stride[0] = s->sh; p->stride[1] = s->sw;
    p->padding[0] = s->ph; p->padding[1] = s->pw;
    p->output_padding[0] = s->oph; p->output_padding[1] = s->opw;
    p->groups = s->groups;
}

/* F.conv2d's arguments: explicit zero padding, dilation 1. */
static void conv2d_params_for(const bench_shape *s, tconv_conv2d_params *p, int64_t cout) {
    tconv_conv2d_params_init(p, s->cin, cout, s->kh, s->kw);
    p->stride[0] = s->sh; p->stride[1] = s->sw;
    p->padding[0] = s->ph; p->padding[1] = s->pw;
    p->groups = s->groups;
}

/* Creates one tconv operator (layout NCHW or NHWC; ConvTranspose2d, or
 * Conv2d for a conv2d shape), runs it once into a NaN-poisoned output and
 * checks it; c is left ready for timing (c->op NULL on failure or skip).
 * ref_max_gflop >= 0: an operator that runs the reference kernel on a shape
 * above this many GFLOP is not run (r->skipped). */
static void setup_tconv(const bench_shape *s, int threads, tconv_layout layout, const float *x,
                        const float *w, const float *b, const float *ref, int64_t check_n,
                        int64_t oc_stride, double ref_max_gflop, tconv_run_ctx *c,
                        tconv_result *r) {
    memset(c, 0, sizeof *c);
    snprintf(r->impl, sizeof r->impl, "error");
    snprintf(r->path, sizeof r->path, "create/reshape/run failed");
    tconv_options opt;
    tconv_options_init(&opt);
    opt.num_threads = threads;
    opt.layout = layout;
    tconv_op *op = NULL;
    int64_t in_shape[4] = {s->n, s->cin, s->h, s->w}, out_shape[4];
    tconv_status st;
    if (s->conv2d) {
        tconv_conv2d_params p;
        conv2d_params_for(s, &p, s->cout);
        st = tconv_conv2d_create(&p, w, b, &opt, &op);
    } else {
        tconv_conv_transpose2d_params p;
        params_for(s, &p, s->cout);
        st = tconv_conv_transpose2d_create(&p, w, b, &opt, &op);
    }
    if (st || tconv_op_reshape(op, 4, in_shape, NULL, 0, out_shape, &r->ws_bytes)) {
        fprintf(stderr, "tconv %s: %s\n", s->name, tconv_last_error());
        tconv_op_destroy(op);
        return;
    }
    if (out_shape[1] != s->cout || out_shape[2] != s->hout || out_shape[3] != s->wout) {
        fprintf(stderr, "tconv %s: output (C, H, W) = (%lld, %lld, %lld), the bench expects "
                "(%lld, %lld, %lld)\n", s->name, (long long)out_shape[1], (long long)out_shape[2],
                (long long)out_shape[3], (long long)s->cout, (long long)s->hout, (long long)s->wout);
        tconv_op_destroy(op);
        return;
    }
    snprintf(r->impl, sizeof r->impl, "%s", tconv_impl_name(tconv_op_impl(op)));
    snprintf(r->path, sizeof r->path, "%s", tconv_op_path(op));
    if (ref_max_gflop >= 0 &&
        (tconv_op_impl(op) == TCONV_IMPL_REFERENCE || !strcmp(r->path, "reference")) &&
        bench_flops_total(s) * 1e-9 > ref_max_gflop) {
        /* Minutes per row on the reference kernel: not timed, not run. */
        r->skipped = 1;
        snprintf(r->impl, sizeof r->impl, "skipped");
        snprintf(r->path, sizeof r->path, "reference too slow");
        tconv_op_destroy(op);
        return;
    }
    int64_t yn = s->n * s->cout * s->hout * s->wout;
    float *y = bench_alloc_floats(yn);
    void *ws = r->ws_bytes ? malloc(r->ws_bytes) : NULL;
    if (!y || (r->ws_bytes && !ws)) goto fail;
    for (int64_t i = 0; i < yn; i++) y[i] = NAN; /* unwritten elements fail the check */
    if (tconv_op_run(op, x, y, ws)) {
        fprintf(stderr, "tconv %s run: %s\n", s->name, tconv_last_error());
        goto fail;
    }
    r->err = bench_check(s, y, layout == TCONV_LAYOUT_NHWC, ref, check_n, oc_stride);
    c->op = op;
    c->x = x;
    c->y = y;
    c->ws = ws;
    return;
fail:
    free(y);
    free(ws);
    tconv_op_destroy(op);
}

static void free_tconv(tconv_run_ctx *c) {
    free(c->y);
    free(c->ws);
    tconv_op_destroy(c->op);
    memset(c, 0, sizeof *c);
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(void) {
    puts("usage: tconv_bench [--conv2d] [--shapes FILE] [--only a1,b_z,...] [--threads 1,2]\n"
         "       [--quick] [--min-time S] [--min-reps N] [--check-gflop G] [--tconv-max-gflop G]\n"
         "       [--no-dnnl] [--no-nhwc] [--no-tconv] [--no-plain] [--peak-seconds S]\n"
         "       [--tsv FILE]\n"
         "  --no-tconv: time the oneDNN peer only (checked against the reference kernel).\n"
         "  --no-plain: skip oneDNN's plain mode (NCHW with PyTorch's weight layout).\n"
         "  --conv2d: Conv2d (F.conv2d) instead of ConvTranspose2d; shapes default to\n"
         "      bench/conv2d-shapes.txt (name N Cin H W Cout kh kw sh sw ph pw groups).\n"
         "  --tconv-max-gflop G: skip timing tconv on shapes above G GFLOP when it runs\n"
         "      the reference kernel (default 2; -1 = never skip); it is still checked.\n"
         "  --check-gflop G: reference work per check; bigger shapes are checked on\n"
         "      their first images and, if still too big, every k-th output channel.");
}

static const char *pf(double err) { return err <= 1e-4 ? "PASS" : "FAIL"; }

int main(int argc, char **argv) {
    const char *shapes_path = NULL, *only = NULL, *tsv_path = NULL;
    int threads_list[8] = {1, 2}, nthreads = 2, quick = 0, use_dnnl = 1, use_nhwc = 1, conv2d = 0,
        use_tconv = 1;
    double min_time = -1, check_gflop = -1, tconv_max_gflop = 2.0, peak_s = -1;
    int min_reps = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--shapes") && v) shapes_path = argv[++i];
        else if (!strcmp(a, "--only") && v) only = argv[++i];
        else if (!strcmp(a, "--tsv") && v) tsv_path = argv[++i];
        else if (!strcmp(a, "--threads") && v) {
            nthreads = 0;
            for (char *t = strtok(argv[++i], ","); t && nthreads < 8; t = strtok(NULL, ","))
                threads_list[nthreads++] = atoi(t);
        } else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--conv2d")) conv2d = 1;
        else if (!strcmp(a, "--no-dnnl")) use_dnnl = 0;
        else if (!strcmp(a, "--no-nhwc")) use_nhwc = 0;
        else if (!strcmp(a, "--no-tconv")) use_tconv = 0;
        else if (!strcmp(a, "--no-plain")) bench_dnnl_plain = 0;
        else if (!strcmp(a, "--min-time") && v) min_time = atof(argv[++i]);
        else if (!strcmp(a, "--min-reps") && v) min_reps = atoi(argv[++i]);
        else if (!strcmp(a, "--check-gflop") && v) check_gflop = atof(argv[++i]);
        else if (!strcmp(a, "--tconv-max-gflop") && v) tconv_max_gflop = atof(argv[++i]);
        else if (!strcmp(a, "--peak-seconds") && v) peak_s = atof(argv[++i]);
        else {
            usage();
            return strcmp(a, "--help") && strcmp(a, "-h") ? 2 : 0;
        }
    }
    bench_clock_cfg cfg = {quick ? 0.1 : 0.3, quick ? 5 : 20, 2000, quick ? 0.05 : 0.1, 0.25};
    if (min_time >= 0) cfg.min_time_s = min_time;
    if (min_reps > 0) cfg.min_reps = min_reps;
    if (cfg.max_reps < cfg.min_reps) cfg.max_reps = cfg.min_reps;
    if (check_gflop < 0) check_gflop = quick ? 0.1 : 0.4;
    if (peak_s < 0) peak_s = quick ? 0.3 : 0.6;
#ifndef TCONV_BENCH_HAVE_DNNL
    (void)use_dnnl; /* no oneDNN compiled in: its columns stay empty */
#endif

    if (!shapes_path)
        shapes_path = conv2d ? TCONV_BENCH_CONV2D_SHAPES_DEFAULT : TCONV_BENCH_SHAPES_DEFAULT;
    bench_shape shapes[128];
    int ns = bench_read_shapes(shapes_path, conv2d, shapes, 128);
    if (ns < 0) return 1;

    FILE *tsv = NULL;
    if (tsv_path && !(tsv = fopen(tsv_path, "w"))) {
        fprintf(stderr, "cannot write %s\n", tsv_path);
        return 1;
    }

    /* Machine ceilings first, on a quiet bench. */
    double peak[8];
    printf("# tconv %s, best impl here: %s, default threads %d\n", tconv_version(),
           tconv_impl_name(tconv_best_impl()), tconv_default_num_threads());
    if (conv2d) /* only in this mode: the ConvTranspose2d report stays as it was */
        printf("# operator: Conv2d (F.conv2d, zero padding), shapes %s\n", shapes_path);
#ifdef TCONV_BENCH_HAVE_DNNL
    printf("# peer: %s\n", bench_dnnl_info());
#else
    printf("# peer: oneDNN not compiled in (dnnl.h / libdnnl not found at configure time)\n");
#endif
    for (int t = 0; t < nthreads; t++) {
        double p512 = bench_fma_peak(512, threads_list[t], peak_s);
        double p256 = bench_fma_peak(256, threads_list[t], peak_s);
        peak[t] = p512 > p256 ? p512 : p256;
        printf("# measured FP32 FMA peak, %d thread(s): AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s\n",
               threads_list[t], p512, p256);
        if (tsv) fprintf(tsv, "#peak\t%d\t%.2f\t%.2f\n", threads_list[t], p512, p256);
    }
    bench_print_round_trip("");
    if (tsv) {
        fprintf(tsv, "shape\tthreads\tgflop\tuseful_gflop\tpeak_gflops\tin_bytes\tws_bytes\t"
                     "tconv_impl\ttconv_path\ttconv_ms\ttconv_min_ms\ttconv_reps\ttconv_err\t"
                     "tconv_nhwc_ms\ttconv_nhwc_err\tdnnl_e2e_any_ms\tdnnl_e2e_nhwc_ms\t"
                     "dnnl_prim_any_ms\tdnnl_prim_nhwc_ms\tdnnl_plain_ms\tdnnl_impl_any\t"
                     "dnnl_impl_nhwc\tdnnl_impl_plain\tdnnl_err_any\tdnnl_err_nhwc\t"
                     "dnnl_err_plain\tcheck\tdnnl_e2e_any_min_ms\tdnnl_e2e_nhwc_min_ms\t"
                     "dnnl_prim_any_min_ms\tdnnl_prim_nhwc_min_ms\tdnnl_plain_min_ms\t"
                     "tconv_nhwc_min_ms\ttconv_cpu\ttconv_nhwc_cpu\tdnnl_e2e_any_cpu\t"
                     "dnnl_e2e_nhwc_cpu\tdnnl_prim_any_cpu\tdnnl_prim_nhwc_cpu\tdnnl_plain_cpu\n");
        fflush(tsv);
    }
    printf("%-7s %2s %8s %9s %6s %6s %9s %9s %9s %9s %9s %6s %-5s %-5s %s\n", "shape", "T",
           "GFLOP", "tconv_ms", "GF/s", "%pk", "nhwc_ms", "dnn_e2e", "dnn_best", "dnn_plain",
           "e2e/tc", "ws/in", "tc", "dnnl", "check subset");

    for (int si = 0; si < ns; si++) {
        bench_shape *s = &shapes[si];
        if (!bench_in_list(only, s->name)) continue;
        int64_t xn = s->n * s->cin * s->h * s->w;
        int64_t wn = s->cin * (s->cout / s->groups) * s->kh * s->kw;
        float *x = bench_alloc_floats(xn), *x_nhwc = bench_alloc_floats(xn), *w = bench_alloc_floats(wn),
              *b = bench_alloc_floats(s->cout);
        if (!x || !x_nhwc || !w || !b) {
            fprintf(stderr, "out of memory for %s\n", s->name);
            return 1;
        }
        float wscale = 1.0f / sqrtf((float)(s->cin / s->groups * s->kh * s->kw));
        for (int64_t i = 0; i < xn; i++) x[i] = frand();
        for (int64_t i = 0; i < wn; i++) w[i] = frand() * wscale;
        for (int64_t i = 0; i < s->cout; i++) b[i] = frand();
        for (int64_t n = 0; n < s->n; n++)
            for (int64_t c = 0; c < s->cin; c++)
                for (int64_t hw = 0; hw < s->h * s->w; hw++)
                    x_nhwc[(n * s->h * s->w + hw) * s->cin + c] = x[(n * s->cin + c) * s->h * s->w + hw];

        /* Reference on a slice: first check_n images, every oc_stride-th
         * output channel (groups == 1 only), within check_gflop of work. */
        double f1 = bench_flops_total(s) / s->n * 1e-9;
        int64_t check_n = (int64_t)(check_gflop / f1), oc_stride = 1;
        if (check_n < 1) check_n = 1;
        if (check_n > s->n) check_n = s->n;
        if (f1 > check_gflop && s->groups == 1) {
            oc_stride = (int64_t)ceil(f1 / check_gflop);
            if (oc_stride > s->cout) oc_stride = s->cout;
        }
        int64_t csub = (s->cout + oc_stride - 1) / oc_stride;
        float *wsub = bench_alloc_floats(s->cin * csub * s->kh * s->kw), *bsub = bench_alloc_floats(csub);
        float *ref = bench_alloc_floats(check_n * csub * s->hout * s->wout);
        int64_t kk = s->kh * s->kw, cpg = s->cout / s->groups;
        int64_t ref_in[4] = {check_n, s->cin, s->h, s->w};
        tconv_status rst;
        if (s->conv2d) {
            /* (Cout, Cin/g, kh, kw): the slice is whole rows of w (groups == 1
             * when oc_stride > 1). */
            int64_t row = (s->cin / s->groups) * kk;
            for (int64_t j = 0; j < csub; j++)
                memcpy(wsub + j * row, w + j * oc_stride * row, sizeof(float) * (size_t)row);
            for (int64_t j = 0; j < csub; j++) bsub[j] = b[j * oc_stride];
            tconv_conv2d_params rp;
            conv2d_params_for(s, &rp, csub);
            rst = tconv_reference_conv2d(&rp, ref_in, x, wsub, bsub, ref,
                                         check_n * csub * s->hout * s->wout);
        } else {
            for (int64_t ic = 0; ic < s->cin; ic++)
                for (int64_t j = 0; j < csub; j++)
                    for (int64_t t = 0; t < kk; t++)
                        wsub[(ic * (oc_stride == 1 ? cpg : csub) + j) * kk + t] =
                            oc_stride == 1 ? w[(ic * cpg + j) * kk + t]
                                           : w[(ic * cpg + j * oc_stride) * kk + t];
            for (int64_t j = 0; j < csub; j++) bsub[j] = b[j * oc_stride];
            tconv_conv_transpose2d_params rp;
            params_for(s, &rp, oc_stride == 1 ? s->cout : csub);
            rst = tconv_reference_conv_transpose2d(&rp, ref_in, x, oc_stride == 1 ? w : wsub,
                                                   bsub, ref, check_n * csub * s->hout * s->wout);
        }
        if (rst) {
            fprintf(stderr, "reference %s: %s\n", s->name, tconv_last_error());
            return 1;
        }
        char subset[64];
        if (check_n == s->n && oc_stride == 1) snprintf(subset, sizeof subset, "all");
        else snprintf(subset, sizeof subset, "n%lld/%lld oc%lld/%lld", (long long)check_n,
                      (long long)s->n, (long long)csub, (long long)s->cout);

        for (int ti = 0; ti < nthreads; ti++) {
            int T = threads_list[ti];
            tconv_result tn, th;
            /* Skip the reference kernel on huge shapes: minutes per row. */
            int time_tc = use_tconv;
            if (tconv_max_gflop >= 0 && bench_flops_total(s) * 1e-9 > tconv_max_gflop &&
                tconv_best_impl() == TCONV_IMPL_REFERENCE)
                time_tc = 0;
            memset(&tn, 0, sizeof tn);
            memset(&th, 0, sizeof th);
            tn.err = th.err = NAN;
            snprintf(tn.impl, sizeof tn.impl, "skipped");
            snprintf(tn.path, sizeof tn.path, use_tconv ? "reference too slow" : "--no-tconv");
            tconv_run_ctx cn = {0}, ch = {0};
            /* conv2d: the library is fast, but stride > 1 still runs the
             * reference kernel; the operator says so after reshape. */
            double ref_max = s->conv2d ? tconv_max_gflop : -1;
            if (time_tc) {
                setup_tconv(s, T, TCONV_LAYOUT_NCHW, x, w, b, ref, check_n, oc_stride, ref_max,
                            &cn, &tn);
                if (use_nhwc && !tn.skipped)
                    setup_tconv(s, T, TCONV_LAYOUT_NHWC, x_nhwc, w, b, ref, check_n, oc_stride,
                                ref_max, &ch, &th);
                if (tn.skipped) time_tc = 0;
            }
            bench_dnnl_result d;
            memset(&d, 0, sizeof d);
            d.err_any = d.err_nhwc = d.err_plain = NAN;
            bench_item items[8];
            int nitems = 0;
            if (cn.op) items[nitems++] = (bench_item){fn_tconv, &cn, &tn.t};
            if (ch.op) items[nitems++] = (bench_item){fn_tconv, &ch, &th.t};
#ifdef TCONV_BENCH_HAVE_DNNL
            bench_dnnl *dn = NULL;
            if (use_dnnl) {
                dn = bench_dnnl_setup(s, T, x, w, b, ref, check_n, oc_stride, &d);
                if (dn) nitems += bench_dnnl_items(dn, &d, items + nitems);
            }
#endif
            /* All of this row's measurements interleaved: the same load for each. */
            bench_time_multi(&cfg, items, nitems);
#ifdef TCONV_BENCH_HAVE_DNNL
            bench_dnnl_free(dn);
#endif
            free_tconv(&cn);
            free_tconv(&ch);
            double e2e = 0, best = 0;
            bench_timing cand[3] = {d.e2e_any, d.e2e_nhwc, d.plain},
                         bcand[3] = {d.prim_any, d.prim_nhwc, d.plain};
            for (int k = 0; k < 3; k++) {
                if (cand[k].ok && (!e2e || cand[k].median_ms < e2e)) e2e = cand[k].median_ms;
                if (bcand[k].ok && (!best || bcand[k].median_ms < best)) best = bcand[k].median_ms;
            }
            double gf = bench_flops_total(s) * 1e-9, ugf = bench_flops_useful(s) * 1e-9;
            double tms = tn.t.ok ? tn.t.median_ms : NAN;
            double dnnl_err = fmax(fmax(isnan(d.err_any) ? 0 : d.err_any,
                                        isnan(d.err_nhwc) ? 0 : d.err_nhwc),
                                   isnan(d.err_plain) ? 0 : d.err_plain);
            int have_dnnl = !isnan(d.err_any) || !isnan(d.err_nhwc) || !isnan(d.err_plain);
            double tc_err = isnan(tn.err) || (use_nhwc && isnan(th.err))
                                ? NAN : fmax(tn.err, use_nhwc ? th.err : 0);
            printf("%-7s %2d %8.4f %9.3f %6.1f %6.1f %9.3f %9.3f %9.3f %9.3f %9.2f %6.2f %-5s %-5s %s [%s/%s]\n",
                   s->name, T, gf, tms, ugf / (tms * 1e-3), 100 * ugf / (tms * 1e-3) / peak[ti],
                   th.t.ok ? th.t.median_ms : NAN, e2e ? e2e : NAN, best ? best : NAN,
                   d.plain.ok ? d.plain.median_ms : NAN, e2e / tms,
                   (double)tn.ws_bytes / (xn * 4.0), !time_tc ? "skip" : isnan(tc_err) ? "FAIL" : pf(tc_err),
                   have_dnnl ? pf(dnnl_err) : "-", subset, tn.impl, tn.path);
            fflush(stdout);
            if (tsv) {
                fprintf(tsv,
                        "%s\t%d\t%.6f\t%.6f\t%.2f\t%lld\t%zu\t%s\t%s\t%.5f\t%.5f\t%d\t%.3g\t%.5f\t%.3g\t"
                        "%.5f\t%.5f\t%.5f\t%.5f\t%.5f\t%s\t%s\t%s\t%.3g\t%.3g\t%.3g\t%s\t"
                        "%.5f\t%.5f\t%.5f\t%.5f\t%.5f\t%.5f\t"
                        "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n",
                        s->name, T, gf, ugf, peak[ti], (long long)(xn * 4), tn.ws_bytes, tn.impl,
                        tn.path, tms, tn.t.ok ? tn.t.min_ms : NAN, tn.t.reps, tn.err,
                        th.t.ok ? th.t.median_ms : NAN, th.err,
                        d.e2e_any.ok ? d.e2e_any.median_ms : NAN,
                        d.e2e_nhwc.ok ? d.e2e_nhwc.median_ms : NAN,
                        d.prim_any.ok ? d.prim_any.median_ms : NAN,
                        d.prim_nhwc.ok ? d.prim_nhwc.median_ms : NAN,
                        d.plain.ok ? d.plain.median_ms : NAN, d.impl_any[0] ? d.impl_any : "-",
                        d.impl_nhwc[0] ? d.impl_nhwc : "-", d.impl_plain[0] ? d.impl_plain : "-",
                        d.err_any, d.err_nhwc, d.err_plain, subset,
                        d.e2e_any.ok ? d.e2e_any.min_ms : NAN,
                        d.e2e_nhwc.ok ? d.e2e_nhwc.min_ms : NAN,
                        d.prim_any.ok ? d.prim_any.min_ms : NAN,
                        d.prim_nhwc.ok ? d.prim_nhwc.min_ms : NAN,
                        d.plain.ok ? d.plain.min_ms : NAN, th.t.ok ? th.t.min_ms : NAN,
                        tn.t.ok ? tn.t.cpu_per_wall : NAN, th.t.ok ? th.t.cpu_per_wall : NAN,
                        d.e2e_any.ok ? d.e2e_any.cpu_per_wall : NAN,
                        d.e2e_nhwc.ok ? d.e2e_nhwc.cpu_per_wall : NAN,
                        d.prim_any.ok ? d.prim_any.cpu_per_wall : NAN,
                        d.prim_nhwc.ok ? d.prim_nhwc.cpu_per_wall : NAN,
                        d.plain.ok ? d.plain.cpu_per_wall : NAN);
                fflush(tsv);
            }
        }
        free(x); free(x_nhwc); free(w); free(b); free(wsub); free(bsub); free(ref);
    }
    /* Again at the end: the machine is shared, the ceiling is the better of the two. */
    for (int t = 0; t < nthreads; t++) {
        double p512 = bench_fma_peak(512, threads_list[t], peak_s);
        double p256 = bench_fma_peak(256, threads_list[t], peak_s);
        printf("# measured FP32 FMA peak at the end, %d thread(s): AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s\n",
               threads_list[t], p512, p256);
        if (tsv) fprintf(tsv, "#peak\t%d\t%.2f\t%.2f\n", threads_list[t], p512, p256);
    }
    bench_print_round_trip(" at the end");
    if (tsv) fclose(tsv);
    return 0;
}
