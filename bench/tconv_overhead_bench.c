/* tconv_overhead_bench.c -- what the convenient ways of running a layer
 * cost on top of a bare operator run, per shape of seed-shapes.txt (or
 * conv2d-shapes.txt): timed interleaved, medians,
 *   op        tconv_op_run on an operator created and reshaped once
 *   module    tconv_conv_transpose2d_module_forward (..._conv2d_...): the
 *             module keeps its operator and packed weights between calls
 *   one-call  tconv_conv_transpose2d (tconv_conv2d): create, plan, pack,
 *             run and free in every call
 * and prints module / op and one-call / op.  The module's and the
 * one-call's outputs are compared with the operator's (the same plan: the
 * same bits).
 *
 *   tconv_overhead_bench [--conv2d] [--shapes FILE] [--only a1,...] [--threads 1,2]
 *                        [--quick]
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

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

#define OB_CHECK(call)                                                                  \
    do {                                                                                \
        if ((call) != TCONV_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,               \
                    tconv_last_error());                                                \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

typedef struct ob_ctx {
    const bench_shape *s;
    tconv_conv_transpose2d_params ct;
    tconv_conv2d_params cv;
    tconv_conv_transpose2d_module ctm;
    tconv_conv2d_module cvm;
    tconv_op *op;
    void *ws;
    int64_t in[4], ny;
    const float *x;
    float *y_op, *y_mod, *y_one;
} ob_ctx;

static void run_op(void *p) {
    ob_ctx *c = p;
    OB_CHECK(tconv_op_run(c->op, c->x, c->y_op, c->ws));
}

static void run_module(void *p) {
    ob_ctx *c = p;
    int64_t os[4];
    if (c->s->conv2d)
        OB_CHECK(tconv_conv2d_module_forward(&c->cvm, 4, c->in, c->x, c->y_mod, c->ny, os));
    else
        OB_CHECK(tconv_conv_transpose2d_module_forward(&c->ctm, 4, c->in, c->x, NULL, 0,
                                                       c->y_mod, c->ny, os));
}

static void run_one_call(void *p) {
    ob_ctx *c = p;
    int64_t os[4];
    if (c->s->conv2d)
        OB_CHECK(tconv_conv2d(&c->cv, 4, c->in, c->x, c->cvm.weight, c->cvm.bias, c->y_one,
                              c->ny, os));
    else
        OB_CHECK(tconv_conv_transpose2d(&c->ct, 4, c->in, c->x, c->ctm.weight, c->ctm.bias,
                                        NULL, 0, c->y_one, c->ny, os));
}

static int same_bits(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

int main(int argc, char **argv) {
    int conv2d = 0, quick = 0;
    const char *shapes_path = NULL, *only = NULL, *threads = "1,2";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int v = i + 1 < argc;
        if (!strcmp(a, "--overhead")) continue; /* bench/run.sh's mode word */
        else if (!strcmp(a, "--conv2d")) conv2d = 1;
        else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--shapes") && v) shapes_path = argv[++i];
        else if (!strcmp(a, "--only") && v) only = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = argv[++i];
        else {
            puts("usage: tconv_overhead_bench [--conv2d] [--shapes FILE] [--only a1,...] "
                 "[--threads 1,2] [--quick]");
            return strcmp(a, "--help") && strcmp(a, "-h") ? 2 : 0;
        }
    }
    if (!shapes_path)
        shapes_path = conv2d ? TCONV_BENCH_CONV2D_SHAPES_DEFAULT : TCONV_BENCH_SHAPES_DEFAULT;
    bench_shape shapes[128];
    const int ns = bench_read_shapes(shapes_path, conv2d, shapes, 128);
    if (ns < 0) return 1;
    const bench_clock_cfg cfg = {quick ? 0.1 : 0.3, quick ? 5 : 10, 100000, 0.05, 1.0};
    printf("# tconv %s, %s, medians (ms); module/op and one-call/op: time ratios\n",
           tconv_version(), conv2d ? "Conv2d" : "ConvTranspose2d");
    printf("%-8s %2s %10s %10s %10s %9s %11s  %s\n", "shape", "T", "op_ms", "module_ms",
           "onecall_ms", "module/op", "onecall/op", "same bits");
    char tl[64];
    snprintf(tl, sizeof tl, "%s", threads);
    for (char *tok = strtok(tl, ","); tok; tok = strtok(NULL, ",")) {
        const int T = atoi(tok);
        OB_CHECK(tconv_set_num_threads(T));
        for (int si = 0; si < ns; si++) {
            const bench_shape *s = &shapes[si];
            if (!bench_in_list(only, s->name)) continue;
            ob_ctx c;
            memset(&c, 0, sizeof c);
            c.s = s;
            c.in[0] = s->n;
            c.in[1] = s->cin;
            c.in[2] = s->h;
            c.in[3] = s->w;
            tconv_rng rng;
            tconv_rng_init(&rng, 2026);
            tconv_options o;
            tconv_options_init(&o);
            o.num_threads = T;
            if (conv2d) {
                tconv_conv2d_params_init(&c.cv, s->cin, s->cout, s->kh, s->kw);
                c.cv.stride[0] = s->sh;
                c.cv.stride[1] = s->sw;
                c.cv.padding[0] = s->ph;
                c.cv.padding[1] = s->pw;
                c.cv.groups = s->groups;
                OB_CHECK(tconv_conv2d_module_init(&c.cvm, &c.cv, 1, &rng));
                OB_CHECK(tconv_conv2d_create(&c.cv, c.cvm.weight, c.cvm.bias, &o, &c.op));
            } else {
                tconv_conv_transpose2d_params_init(&c.ct, s->cin, s->cout, s->kh, s->kw);
                c.ct.stride[0] = s->sh;
                c.ct.stride[1] = s->sw;
                c.ct.padding[0] = s->ph;
                c.ct.padding[1] = s->pw;
                c.ct.output_padding[0] = s->oph;
                c.ct.output_padding[1] = s->opw;
                c.ct.groups = s->groups;
                OB_CHECK(tconv_conv_transpose2d_module_init(&c.ctm, &c.ct, 1, &rng));
                OB_CHECK(tconv_conv_transpose2d_create(&c.ct, c.ctm.weight, c.ctm.bias, &o,
                                                       &c.op));
            }
            int64_t os[4];
            size_t wsb = 0;
            OB_CHECK(tconv_op_reshape(c.op, 4, c.in, NULL, 0, os, &wsb));
            c.ny = os[0] * os[1] * os[2] * os[3];
            const int64_t nx = s->n * s->cin * s->h * s->w;
            float *x = bench_alloc_floats(nx);
            c.y_op = bench_alloc_floats(c.ny);
            c.y_mod = bench_alloc_floats(c.ny);
            c.y_one = bench_alloc_floats(c.ny);
            c.ws = wsb ? malloc(wsb) : NULL;
            if (!x || !c.y_op || !c.y_mod || !c.y_one || (wsb && !c.ws)) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            for (int64_t i = 0; i < nx; i++) x[i] = (float)(tconv_rng_uniform(&rng) - 0.5);
            c.x = x;
            bench_timing t_op, t_mod, t_one;
            bench_item items[3] = {{run_op, &c, &t_op}, {run_module, &c, &t_mod},
                                   {run_one_call, &c, &t_one}};
            bench_time_multi(&cfg, items, 3);
            const int same =
                same_bits(c.y_op, c.y_mod, c.ny) && same_bits(c.y_op, c.y_one, c.ny);
            printf("%-8s %2d %10.3f %10.3f %10.3f %9.3f %11.3f  %s\n", s->name, T,
                   t_op.median_ms, t_mod.median_ms, t_one.median_ms,
                   t_mod.median_ms / t_op.median_ms, t_one.median_ms / t_op.median_ms,
                   same ? "yes" : "NO");
            fflush(stdout);
            free(x);
            free(c.y_op);
            free(c.y_mod);
            free(c.y_one);
            free(c.ws);
            tconv_op_destroy(c.op);
            if (conv2d) tconv_conv2d_module_free(&c.cvm);
            else tconv_conv_transpose2d_module_free(&c.ctm);
        }
    }
    return 0;
}
