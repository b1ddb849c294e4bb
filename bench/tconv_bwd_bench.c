/* tconv_bwd_bench.c -- the backward benchmark's C side: per shape, tconv's
 * forward operator, tconv's backward (grad_input + grad_weight + grad_bias,
 * once the library has it) and oneDNN 3.x's backward_data +
 * backward_weights primitives, on the data and float64 references that
 * bench/bwd_reference.py wrote (the same float32 values for every peer).
 * One thread count per process: oneDNN 3.x's SYCL runtime takes its thread
 * count from the process's CPU affinity, which bench/run_backward.py sets.
 *
 *   tconv_bwd_bench --data DIR [--conv2d] [--shapes FILE] [--only a1_b16,d2]
 *                   [--threads T] [--quick] [--tsv FILE]
 *
 * Every timed output is checked first (outputs NaN-poisoned): PASS if each of
 * gx, gw, gb has max|v - ref| / max|ref| <= 1e-4.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

#ifndef TCONV_BENCH_SHAPES_DEFAULT
#define TCONV_BENCH_SHAPES_DEFAULT "bench/seed-shapes.txt"
#endif
#ifndef TCONV_BENCH_CONV2D_SHAPES_DEFAULT
#define TCONV_BENCH_CONV2D_SHAPES_DEFAULT "bench/conv2d-shapes.txt"
#endif

static const double TOL = 1e-4;

/* ---- data files ------------------------------------------------------------------ */

static void *read_file(const char *dir, const char *name, const char *what, size_t elem,
                       int64_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, what);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run bench/bwd_reference.py)\n", path);
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, elem * (size_t)(n > 0 ? n : 1))) p = NULL;
    if (!p || fread(p, elem, (size_t)n, f) != (size_t)n || fgetc(f) != EOF) {
        fprintf(stderr, "%s: expected exactly %lld values\n", path, (long long)n);
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void free_data(bench_bwd_data *d) {
    free(d->x); free(d->w); free(d->b); free(d->gy);
    free(d->y); free(d->gx); free(d->gw); free(d->gb);
    memset(d, 0, sizeof *d);
}

static int load_data(const char *dir, const bench_shape *s, bench_bwd_data *d) {
    memset(d, 0, sizeof *d);
    d->nx = s->n * s->cin * s->h * s->w;
    d->nw = s->cin * (s->cout / s->groups) * s->kh * s->kw;
    d->nb = s->cout;
    d->ny = s->n * s->cout * s->hout * s->wout;
    d->x = read_file(dir, s->name, "x.f32", 4, d->nx);
    d->w = read_file(dir, s->name, "w.f32", 4, d->nw);
    d->b = read_file(dir, s->name, "b.f32", 4, d->nb);
    d->gy = read_file(dir, s->name, "gy.f32", 4, d->ny);
    d->y = read_file(dir, s->name, "y.f64", 8, d->ny);
    d->gx = read_file(dir, s->name, "gx.f64", 8, d->nx);
    d->gw = read_file(dir, s->name, "gw.f64", 8, d->nw);
    d->gb = read_file(dir, s->name, "gb.f64", 8, d->nb);
    if (!d->x || !d->w || !d->b || !d->gy || !d->y || !d->gx || !d->gw || !d->gb) {
        free_data(d);
        return -1;
    }
    return 0;
}

/* ---- tconv: forward (available) ------------------------------------------------- */

typedef struct fwd_ctx {
    tconv_op *op;
    const float *x;
    float *y;
    void *ws;
} fwd_ctx;

static void fn_fwd(void *ctx) {
    fwd_ctx *c = ctx;
    tconv_op_run(c->op, c->x, c->y, c->ws);
}

static void ct_params(const bench_shape *s, tconv_conv_transpose2d_params *p) {
    tconv_conv_transpose2d_params_init(p, s->cin, s->cout, s->kh, s->kw);
    p->stride[0] = s->sh; p->stride[1] = s->sw;
    p->padding[0] = s->ph; p->padding[1] = s->pw;
    p->output_padding[0] = s->oph; p->output_padding[1] = s->opw;
    p->groups = s->groups;
}

static void c2_params(const bench_shape *s, tconv_conv2d_params *p) {
    tconv_conv2d_params_init(p, s->cin, s->cout, s->kh, s->kw);
    p->stride[0] = s->sh; p->stride[1] = s->sw;
    p->padding[0] = s->ph; p->padding[1] = s->pw;
    p->groups = s->groups;
}

/* Creates and checks the forward operator; returns its error (NAN on failure). */
static double fwd_setup(const bench_shape *s, int threads, const bench_bwd_data *d, fwd_ctx *c,
                        char *path, size_t cap) {
    memset(c, 0, sizeof *c);
    tconv_options opt;
    tconv_options_init(&opt);
    opt.num_threads = threads;
    tconv_status st;
    if (s->conv2d) {
        tconv_conv2d_params p;
        c2_params(s, &p);
        st = tconv_conv2d_create(&p, d->w, d->b, &opt, &c->op);
    } else {
        tconv_conv_transpose2d_params p;
        ct_params(s, &p);
        st = tconv_conv_transpose2d_create(&p, d->w, d->b, &opt, &c->op);
    }
    int64_t in[4] = {s->n, s->cin, s->h, s->w}, out[4];
    size_t ws = 0;
    if (st || tconv_op_reshape(c->op, 4, in, NULL, 0, out, &ws)) goto fail;
    snprintf(path, cap, "%s/%s", tconv_impl_name(tconv_op_impl(c->op)), tconv_op_path(c->op));
    c->y = bench_alloc_floats(d->ny);
    c->ws = ws ? malloc(ws) : NULL;
    if (!c->y || (ws && !c->ws)) goto fail;
    for (int64_t i = 0; i < d->ny; i++) c->y[i] = NAN;
    c->x = d->x;
    if (tconv_op_run(c->op, c->x, c->y, c->ws)) goto fail;
    return bench_rel_err(c->y, d->y, d->ny);
fail:
    fprintf(stderr, "tconv forward %s: %s\n", s->name, tconv_last_error());
    tconv_op_destroy(c->op);
    free(c->y);
    free(c->ws);
    memset(c, 0, sizeof *c);
    return NAN;
}

static void fwd_free(fwd_ctx *c) {
    tconv_op_destroy(c->op);
    free(c->y);
    free(c->ws);
    memset(c, 0, sizeof *c);
}

/* =====================================================================================
 * tconv backward -- THE PART TO WIRE IN.  Written against the backward API
 * announced for tconv.h; compiled when bench/CMakeLists.txt finds
 * tconv_op_run_backward_data in include/tconv.h (it then defines
 * TCONV_HAS_BACKWARD).  bwd_setup creates and reshapes the two operators (the
 * FORWARD's input shape), runs them once into NaN-poisoned outputs and
 * returns the error against the float64 references; fn_bwd* are timed.
 * Without the API, bwd_setup says so and the backward columns stay empty.
 * ===================================================================================== */

typedef struct bwd_ctx {
    tconv_op *bd, *bw;   /* backward-data and backward-weight operators */
    void *ws_d, *ws_w;   /* their workspaces */
    const float *x, *gy; /* forward input, grad_output (NCHW) */
    float *gx, *gw, *gb; /* grad_input (NCHW), grad_weight (PyTorch layout), grad_bias */
} bwd_ctx;

static void bwd_free(bwd_ctx *c) {
#ifdef TCONV_HAS_BACKWARD
    tconv_op_destroy(c->bd);
    tconv_op_destroy(c->bw);
#endif
    free(c->ws_d); free(c->ws_w); free(c->gx); free(c->gw); free(c->gb);
    memset(c, 0, sizeof *c);
}

#ifdef TCONV_HAS_BACKWARD
static void fn_bwd_data(void *ctx) {
    bwd_ctx *c = ctx;
    tconv_op_run_backward_data(c->bd, c->gy, c->gx, c->ws_d);
}

static void fn_bwd_weight(void *ctx) {
    bwd_ctx *c = ctx;
    tconv_op_run_backward_weight(c->bw, c->x, c->gy, c->gw, c->gb, c->ws_w);
}

/* The whole backward: grad_input + grad_weight + grad_bias. */
static void fn_bwd(void *ctx) {
    fn_bwd_data(ctx);
    fn_bwd_weight(ctx);
}
#endif

static double bwd_setup(const bench_shape *s, int threads, const bench_bwd_data *d, bwd_ctx *c,
                        char *note, size_t cap) {
    memset(c, 0, sizeof *c);
#ifdef TCONV_HAS_BACKWARD
    tconv_options opt;
    tconv_options_init(&opt);
    opt.num_threads = threads;
    tconv_status st;
    if (s->conv2d) {
        tconv_conv2d_params p;
        c2_params(s, &p);
        st = tconv_conv2d_backward_data_create(&p, d->w, &opt, &c->bd);
        if (!st) st = tconv_conv2d_backward_weight_create(&p, &opt, &c->bw);
    } else {
        tconv_conv_transpose2d_params p;
        ct_params(s, &p);
        st = tconv_conv_transpose2d_backward_data_create(&p, d->w, &opt, &c->bd);
        if (!st) st = tconv_conv_transpose2d_backward_weight_create(&p, &opt, &c->bw);
    }
    int64_t in[4] = {s->n, s->cin, s->h, s->w}, out[4];
    size_t wd = 0, ww = 0;
    if (st || tconv_op_reshape(c->bd, 4, in, NULL, 0, out, &wd) ||
        tconv_op_reshape(c->bw, 4, in, NULL, 0, out, &ww))
        goto fail;
    if (out[0] != s->n || out[1] != s->cout || out[2] != s->hout || out[3] != s->wout) {
        snprintf(note, cap, "reshape gave output %lldx%lldx%lldx%lld", (long long)out[0],
                 (long long)out[1], (long long)out[2], (long long)out[3]);
        bwd_free(c);
        return NAN;
    }
    c->x = d->x;
    c->gy = d->gy;
    c->gx = bench_alloc_floats(d->nx);
    c->gw = bench_alloc_floats(d->nw);
    c->gb = bench_alloc_floats(d->nb);
    c->ws_d = wd ? malloc(wd) : NULL;
    c->ws_w = ww ? malloc(ww) : NULL;
    if (!c->gx || !c->gw || !c->gb || (wd && !c->ws_d) || (ww && !c->ws_w)) goto fail;
    for (int64_t i = 0; i < d->nx; i++) c->gx[i] = NAN;
    for (int64_t i = 0; i < d->nw; i++) c->gw[i] = NAN;
    for (int64_t i = 0; i < d->nb; i++) c->gb[i] = NAN;
    if (tconv_op_run_backward_data(c->bd, c->gy, c->gx, c->ws_d) ||
        tconv_op_run_backward_weight(c->bw, c->x, c->gy, c->gw, c->gb, c->ws_w))
        goto fail;
    snprintf(note, cap, "%s/%s + %s/%s", tconv_impl_name(tconv_op_impl(c->bd)),
             tconv_op_path(c->bd), tconv_impl_name(tconv_op_impl(c->bw)), tconv_op_path(c->bw));
    return bench_bwd_err(d, c->gx, c->gw, c->gb);
fail:
    snprintf(note, cap, "error: %s", tconv_last_error());
    bwd_free(c);
    return NAN;
#else
    (void)s; (void)threads; (void)d;
    snprintf(note, cap, "not in this build (no tconv backward API in tconv.h)");
    return NAN;
#endif
}

/* ================================================================================== */

static void usage(void) {
    puts("usage: tconv_bwd_bench --data DIR [--conv2d] [--shapes FILE] [--only a1_b16,...]\n"
         "       [--threads T] [--quick] [--min-time S] [--min-reps N] [--no-dnnl] [--tsv FILE]\n"
         "  DIR: what bench/bwd_reference.py wrote for these shapes.");
}

static const char *pf(double e) { return isnan(e) ? "-" : e <= TOL ? "PASS" : "FAIL"; }
static double ms(const bench_timing *t) { return t->ok ? t->median_ms : NAN; }
static double cpu(const bench_timing *t) { return t->ok ? t->cpu_per_wall : NAN; }

int main(int argc, char **argv) {
    const char *shapes_path = NULL, *only = NULL, *tsv_path = NULL, *dir = NULL;
    int threads = 1, quick = 0, conv2d = 0, use_dnnl = 1, min_reps = -1;
    double min_time = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--shapes") && v) shapes_path = argv[++i];
        else if (!strcmp(a, "--only") && v) only = argv[++i];
        else if (!strcmp(a, "--tsv") && v) tsv_path = argv[++i];
        else if (!strcmp(a, "--data") && v) dir = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--min-time") && v) min_time = atof(argv[++i]);
        else if (!strcmp(a, "--min-reps") && v) min_reps = atoi(argv[++i]);
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--conv2d")) conv2d = 1;
        else if (!strcmp(a, "--no-dnnl")) use_dnnl = 0;
        else {
            usage();
            return strcmp(a, "--help") && strcmp(a, "-h") ? 2 : 0;
        }
    }
    if (!dir || threads < 1) {
        usage();
        return 2;
    }
#ifndef TCONV_BENCH_HAVE_DNNL
    (void)use_dnnl;
#endif
    bench_clock_cfg cfg = {quick ? 0.1 : 0.3, quick ? 5 : 20, 2000, quick ? 0.05 : 0.1, 0.25};
    if (min_time >= 0) cfg.min_time_s = min_time;
    if (min_reps > 0) cfg.min_reps = min_reps;
    if (cfg.max_reps < cfg.min_reps) cfg.max_reps = cfg.min_reps;
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
    printf("# tconv %s, %s, threads %d\n", tconv_version(),
#ifdef TCONV_HAS_BACKWARD
           "backward API compiled in",
#else
           "no backward API in this tconv.h",
#endif
           threads);
#ifdef TCONV_BENCH_HAVE_DNNL
    printf("# peer: %s\n", bench_dnnl_info());
#endif
    bench_print_round_trip("");
    if (tsv)
        fprintf(tsv, "shape\tthreads\tgflop\tfwd_ms\tfwd_min_ms\tfwd_cpu\tfwd_err\tfwd_path\t"
                     "bwd_ms\tbwd_min_ms\tbwd_cpu\tbwd_err\tbwd_data_ms\tbwd_weight_ms\tbwd_note\t"
                     "dnnl_e2e_any_ms\tdnnl_e2e_nhwc_ms\tdnnl_prim_any_ms\tdnnl_prim_nhwc_ms\t"
                     "dnnl_e2e_any_cpu\tdnnl_e2e_nhwc_cpu\tdnnl_prim_any_cpu\tdnnl_prim_nhwc_cpu\t"
                     "dnnl_err_any\tdnnl_err_nhwc\tdnnl_impl_any\tdnnl_impl_nhwc\n");
    printf("%-7s %2s %8s %9s %9s %9s %9s %9s %-5s %-5s %-5s %s\n", "shape", "T", "GFLOP", "fwd_ms",
           "bwd_ms", "bwd/fwd", "dnn_e2e", "dnn_best", "fwd", "bwd", "dnnl", "tconv backward");
    for (int si = 0; si < ns; si++) {
        bench_shape *s = &shapes[si];
        if (!bench_in_list(only, s->name)) continue;
        bench_bwd_data d;
        if (load_data(dir, s, &d)) return 1;
        fwd_ctx fc;
        bwd_ctx bc;
        char fpath[96] = "-", note[256] = "-";
        double ferr = fwd_setup(s, threads, &d, &fc, fpath, sizeof fpath);
        double berr = bwd_setup(s, threads, &d, &bc, note, sizeof note);
        bench_timing tf = {0}, tb = {0}, tbd = {0}, tbw = {0};
        bench_item items[12];
        int k = 0;
        if (fc.op) items[k++] = (bench_item){fn_fwd, &fc, &tf};
#ifdef TCONV_HAS_BACKWARD
        if (bc.bd) {
            items[k++] = (bench_item){fn_bwd, &bc, &tb};
            items[k++] = (bench_item){fn_bwd_data, &bc, &tbd};
            items[k++] = (bench_item){fn_bwd_weight, &bc, &tbw};
        }
#endif
        bench_dnnl_bwd_result dr;
        memset(&dr, 0, sizeof dr);
        dr.err_any = dr.err_nhwc = NAN;
#ifdef TCONV_BENCH_HAVE_DNNL
        bench_dnnl_bwd *db = use_dnnl ? bench_dnnl_bwd_setup(s, &d, &dr) : NULL;
        if (db) k += bench_dnnl_bwd_items(db, &dr, items + k);
#endif
        bench_time_multi(&cfg, items, k);
#ifdef TCONV_BENCH_HAVE_DNNL
        bench_dnnl_bwd_free(db);
#endif
        fwd_free(&fc);
        bwd_free(&bc);
        double e2e = fmin(ms(&dr.e2e_any), ms(&dr.e2e_nhwc)),
               best = fmin(ms(&dr.prim_any), ms(&dr.prim_nhwc));
        double derr = fmax(isnan(dr.err_any) ? -1 : dr.err_any, isnan(dr.err_nhwc) ? -1 : dr.err_nhwc);
        double gf = 3 * bench_flops_total(s) * 1e-9; /* forward + dx + dw */
        printf("%-7s %2d %8.4f %9.3f %9.3f %9.2f %9.3f %9.3f %-5s %-5s %-5s %s\n", s->name, threads,
               gf, ms(&tf), ms(&tb), ms(&tb) / ms(&tf), e2e, best, pf(ferr), pf(berr),
               derr < 0 ? "-" : pf(derr), note);
        fflush(stdout);
        if (tsv) {
            fprintf(tsv, "%s\t%d\t%.6f\t%.5f\t%.5f\t%.3f\t%.3g\t%s\t%.5f\t%.5f\t%.3f\t%.3g\t%.5f\t"
                         "%.5f\t%s\t%.5f\t%.5f\t%.5f\t%.5f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3g\t%.3g\t"
                         "%s\t%s\n",
                    s->name, threads, bench_flops_total(s) * 1e-9, ms(&tf),
                    tf.ok ? tf.min_ms : NAN, cpu(&tf), ferr, fpath, ms(&tb),
                    tb.ok ? tb.min_ms : NAN, cpu(&tb), berr, ms(&tbd), ms(&tbw), note,
                    ms(&dr.e2e_any), ms(&dr.e2e_nhwc), ms(&dr.prim_any), ms(&dr.prim_nhwc),
                    cpu(&dr.e2e_any), cpu(&dr.e2e_nhwc), cpu(&dr.prim_any), cpu(&dr.prim_nhwc),
                    dr.err_any, dr.err_nhwc, dr.impl_any[0] ? dr.impl_any : "-",
                    dr.impl_nhwc[0] ? dr.impl_nhwc : "-");
            fflush(tsv);
        }
        free_data(&d);
    }
    bench_print_round_trip(" at the end");
    if (tsv) fclose(tsv);
    return 0;
}
