/* tconv_net_bench.c -- the seed networks, whole, through tconv's public API,
 * on the weights and inputs that bench/net_peers.py --prepare wrote (the
 * same as every peer's), in eval mode.  Two ways, timed interleaved:
 *   nn   the nn API as the examples use it (examples/seed*.c): module
 *        forwards (tconv_conv_transpose2d_module_forward, ..._conv2d_...,
 *        tconv_linear_forward, tconv_batchnorm2d_forward, tconv_relu /
 *        tconv_tanh), each layer allocating its output and freeing its input
 *   ops  the same layers with each convolution an operator created and
 *        reshaped once (tconv_*_create + tconv_op_reshape, then tconv_op_run),
 *        buffers allocated once
 *   seq  the modules in a tconv_sequential, fused (eval-mode BatchNorm2d
 *        folded into the preceding convolution, ReLU / Tanh in its store)
 * Threads: the library's default (the CPUs of this process's affinity, which
 * bench/run_networks.py sets to T).  Each output is checked against the
 * float64 reference (DIR/CASE.ref.f64).  Prints JSON lines as the Python
 * peers do.
 *
 *   tconv_net_bench --dir DIR [--cases dcgan000_b1,...] [--threads T] [--quick]
 *                   [--out FILE]
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

#define NET_CHECK(call)                                                                 \
    do {                                                                                \
        tconv_status s_ = (call);                                                       \
        if (s_ != TCONV_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,               \
                    tconv_last_error());                                                \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* ---- the networks -------------------------------------------------------------------- */

typedef enum lkind { L_LINEAR, L_VIEW, L_CT, L_CONV, L_BN, L_RELU, L_TANH } lkind;

/* One layer: kind, state_dict prefix, (in, out, kernel, stride, padding, bias). */
typedef struct lspec {
    lkind kind;
    const char *prefix;
    int64_t cin, cout, k, s, p, bias;
} lspec;

static const lspec DCGAN000[] = {
    {L_LINEAR, "fc", 100, 512 * 4 * 4, 0, 0, 0, 1}, {L_VIEW, "", 512, 4, 4, 0, 0, 0},
    {L_CT, "deconv.0", 512, 256, 4, 2, 1, 1},  {L_BN, "deconv.1", 256, 0, 0, 0, 0, 0},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "deconv.3", 256, 128, 4, 2, 1, 1},  {L_BN, "deconv.4", 128, 0, 0, 0, 0, 0},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "deconv.6", 128, 64, 4, 2, 1, 1},   {L_BN, "deconv.7", 64, 0, 0, 0, 0, 0},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "deconv.9", 64, 3, 4, 2, 1, 1},     {L_TANH, "", 0, 0, 0, 0, 0, 0}};
static const lspec DCGAN003[] = {
    {L_CT, "net.0", 100, 128, 4, 1, 0, 0}, {L_BN, "net.1", 128, 0, 0, 0, 0, 0},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "net.3", 128, 64, 4, 2, 1, 0},  {L_BN, "net.4", 64, 0, 0, 0, 0, 0},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "net.6", 64, 3, 4, 2, 1, 0},    {L_TANH, "", 0, 0, 0, 0, 0, 0}};
static const lspec UNET000[] = {
    {L_CT, "0", 256, 128, 2, 2, 0, 1}, {L_CONV, "1", 128, 128, 3, 1, 1, 1},
    {L_RELU, "", 0, 0, 0, 0, 0, 0},
    {L_CT, "3", 128, 64, 2, 2, 0, 1},  {L_CONV, "4", 64, 64, 3, 1, 1, 1},
    {L_RELU, "", 0, 0, 0, 0, 0, 0}};

typedef struct layer {
    lspec sp;
    tconv_linear lin;
    tconv_batchnorm2d bn;
    tconv_conv_transpose2d_module ct;
    tconv_conv2d_module cv;
    /* ops way */
    tconv_op *op;
    size_t ws_bytes;
    int ndim_out;
    int64_t out_shape[4];
} layer;

typedef struct net {
    char name[32];
    layer *L;
    int n;
    int in_ndim;
    int64_t in_shape[4];
    const float *x;
    float *bufs[2], *ws; /* ops way: ping-pong activations, one workspace */
    int64_t out_numel;
    const float *ops_out;
    float *nn_out; /* last nn-way output (freed by the next run) */
    int64_t out_shape[4];
    tconv_sequential *seq; /* seq way */
    float *seq_out;
} net;

static void ct_params(const lspec *sp, tconv_conv_transpose2d_params *p) {
    tconv_conv_transpose2d_params_init(p, sp->cin, sp->cout, sp->k, sp->k);
    p->stride[0] = p->stride[1] = sp->s;
    p->padding[0] = p->padding[1] = sp->p;
}

static void cv_params(const lspec *sp, tconv_conv2d_params *p) {
    tconv_conv2d_params_init(p, sp->cin, sp->cout, sp->k, sp->k);
    p->stride[0] = p->stride[1] = sp->s;
    p->padding[0] = p->padding[1] = sp->p;
}

static int64_t numel(const int64_t *s, int nd) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* Builds and loads the modules, then the ops way's operators and buffers for
 * the input shape. */
static void net_init(net *N, const char *netname, const char *weights, int in_ndim,
                     const int64_t *in_shape, const float *x) {
    const lspec *spec;
    int n;
    if (!strcmp(netname, "dcgan000")) spec = DCGAN000, n = sizeof DCGAN000 / sizeof *spec;
    else if (!strcmp(netname, "dcgan003")) spec = DCGAN003, n = sizeof DCGAN003 / sizeof *spec;
    else if (!strcmp(netname, "unet000")) spec = UNET000, n = sizeof UNET000 / sizeof *spec;
    else {
        fprintf(stderr, "unknown network %s\n", netname);
        exit(2);
    }
    memset(N, 0, sizeof *N);
    snprintf(N->name, sizeof N->name, "%s", netname);
    N->L = calloc((size_t)n, sizeof *N->L);
    N->n = n;
    N->in_ndim = in_ndim;
    memcpy(N->in_shape, in_shape, sizeof(int64_t) * (size_t)in_ndim);
    N->x = x;
    tconv_safetensors *st;
    NET_CHECK(tconv_safetensors_open(weights, &st));
    for (int i = 0; i < n; i++) {
        layer *l = &N->L[i];
        l->sp = spec[i];
        if (l->sp.kind == L_LINEAR) {
            NET_CHECK(tconv_linear_init(&l->lin, l->sp.cin, l->sp.cout, (int)l->sp.bias, NULL));
            NET_CHECK(tconv_linear_load(&l->lin, st, l->sp.prefix));
        } else if (l->sp.kind == L_BN) {
            NET_CHECK(tconv_batchnorm2d_init(&l->bn, l->sp.cin));
            NET_CHECK(tconv_batchnorm2d_load(&l->bn, st, l->sp.prefix));
            l->bn.training = 0; /* eval() */
        } else if (l->sp.kind == L_CT) {
            tconv_conv_transpose2d_params p;
            ct_params(&l->sp, &p);
            NET_CHECK(tconv_conv_transpose2d_module_init(&l->ct, &p, (int)l->sp.bias, NULL));
            NET_CHECK(tconv_conv_transpose2d_module_load(&l->ct, st, l->sp.prefix));
        } else if (l->sp.kind == L_CONV) {
            tconv_conv2d_params p;
            cv_params(&l->sp, &p);
            NET_CHECK(tconv_conv2d_module_init(&l->cv, &p, (int)l->sp.bias, NULL));
            NET_CHECK(tconv_conv2d_module_load(&l->cv, st, l->sp.prefix));
        }
    }
    tconv_safetensors_close(st);

    /* ops way: shapes through the network, operators created once */
    int nd = in_ndim;
    int64_t shape[4], maxn = 0;
    size_t maxws = 0;
    memcpy(shape, in_shape, sizeof shape);
    for (int i = 0; i < n; i++) {
        layer *l = &N->L[i];
        int64_t out[4];
        int ond = nd;
        memcpy(out, shape, sizeof out);
        if (l->sp.kind == L_LINEAR) {
            out[nd - 1] = l->sp.cout;
        } else if (l->sp.kind == L_VIEW) {
            NET_CHECK(tconv_view_shape(nd, shape, 4,
                                       (const int64_t[]){-1, l->sp.cin, l->sp.cout, l->sp.k},
                                       out));
            ond = 4;
        } else if (l->sp.kind == L_CT || l->sp.kind == L_CONV) {
            tconv_options opt;
            tconv_options_init(&opt); /* default threads: this process's CPUs */
            if (l->sp.kind == L_CT)
                NET_CHECK(tconv_conv_transpose2d_create(&l->ct.p, l->ct.weight, l->ct.bias, &opt,
                                                        &l->op));
            else
                NET_CHECK(tconv_conv2d_create(&l->cv.p, l->cv.weight, l->cv.bias, &opt, &l->op));
            NET_CHECK(tconv_op_reshape(l->op, 4, shape, NULL, 0, out, &l->ws_bytes));
            if (l->ws_bytes > maxws) maxws = l->ws_bytes;
        }
        l->ndim_out = ond;
        memcpy(l->out_shape, out, sizeof out);
        if (numel(out, ond) > maxn) maxn = numel(out, ond);
        nd = ond;
        memcpy(shape, out, sizeof shape);
    }
    N->out_numel = numel(shape, nd);
    memcpy(N->out_shape, shape, sizeof shape);
    /* seq way: the same modules in a fused sequential */
    NET_CHECK(tconv_sequential_create(&N->seq));
    for (int i = 0; i < n; i++) {
        layer *l = &N->L[i];
        switch (l->sp.kind) {
        case L_LINEAR: NET_CHECK(tconv_sequential_add_linear(N->seq, &l->lin)); break;
        case L_VIEW:
            NET_CHECK(tconv_sequential_add_view(
                N->seq, 4, (const int64_t[]){-1, l->sp.cin, l->sp.cout, l->sp.k}));
            break;
        case L_CT: NET_CHECK(tconv_sequential_add_conv_transpose2d(N->seq, &l->ct)); break;
        case L_CONV: NET_CHECK(tconv_sequential_add_conv2d(N->seq, &l->cv)); break;
        case L_BN: NET_CHECK(tconv_sequential_add_batchnorm2d(N->seq, &l->bn)); break;
        case L_RELU:
            NET_CHECK(tconv_sequential_add_activation(N->seq, TCONV_ACTIVATION_RELU, 0.0f));
            break;
        case L_TANH:
            NET_CHECK(tconv_sequential_add_activation(N->seq, TCONV_ACTIVATION_TANH, 0.0f));
            break;
        }
    }
    N->seq_out = bench_alloc_floats(N->out_numel);
    N->bufs[0] = bench_alloc_floats(maxn);
    N->bufs[1] = bench_alloc_floats(maxn);
    N->ws = maxws ? bench_alloc_floats((int64_t)(maxws / sizeof(float)) + 1) : NULL;
    if (!N->bufs[0] || !N->bufs[1] || (maxws && !N->ws)) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}

/* The nn way, as the examples: each layer allocates its output and frees its input. */
static void run_nn(void *ctx) {
    net *N = ctx;
    free(N->nn_out);
    int nd = N->in_ndim;
    int64_t shape[4];
    memcpy(shape, N->in_shape, sizeof shape);
    const float *x = N->x;
    float *cur = NULL; /* owned activation (NULL while x is the caller's input) */
    for (int i = 0; i < N->n; i++) {
        layer *l = &N->L[i];
        int64_t out[4];
        float *y = NULL;
        switch (l->sp.kind) {
        case L_LINEAR: {
            int64_t cap = numel(shape, nd) / l->sp.cin * l->sp.cout;
            y = malloc(sizeof(float) * (size_t)cap);
            NET_CHECK(tconv_linear_forward(&l->lin, nd, shape, x, y, cap, out));
            break;
        }
        case L_VIEW:
            NET_CHECK(tconv_view_shape(nd, shape, 4,
                                       (const int64_t[]){-1, l->sp.cin, l->sp.cout, l->sp.k},
                                       out));
            nd = 4;
            memcpy(shape, out, sizeof out);
            continue;
        case L_CT:
            NET_CHECK(tconv_conv_transpose2d_output_shape(&l->ct.p, 4, shape, NULL, 0, out));
            y = malloc(sizeof(float) * (size_t)numel(out, 4));
            NET_CHECK(tconv_conv_transpose2d_module_forward(&l->ct, 4, shape, x, NULL, 0, y,
                                                            numel(out, 4), out));
            break;
        case L_CONV:
            NET_CHECK(tconv_conv2d_output_shape(&l->cv.p, 4, shape, out));
            y = malloc(sizeof(float) * (size_t)numel(out, 4));
            NET_CHECK(tconv_conv2d_module_forward(&l->cv, 4, shape, x, y, numel(out, 4), out));
            break;
        case L_BN:
            NET_CHECK(tconv_batchnorm2d_forward(&l->bn, 4, shape, cur, cur));
            continue;
        case L_RELU:
            NET_CHECK(tconv_relu(cur, cur, numel(shape, nd)));
            continue;
        case L_TANH:
            NET_CHECK(tconv_tanh(cur, cur, numel(shape, nd)));
            continue;
        }
        free(cur);
        cur = y;
        x = y;
        memcpy(shape, out, sizeof out);
    }
    N->nn_out = cur;
}

/* The ops way: operators created once, buffers reused. */
static void run_ops(void *ctx) {
    net *N = ctx;
    const float *x = N->x;
    float *cur = NULL;
    int nd = N->in_ndim, which = 0;
    int64_t shape[4];
    memcpy(shape, N->in_shape, sizeof shape);
    for (int i = 0; i < N->n; i++) {
        layer *l = &N->L[i];
        int64_t out[4];
        float *y = N->bufs[which];
        switch (l->sp.kind) {
        case L_LINEAR:
            NET_CHECK(tconv_linear_forward(&l->lin, nd, shape, x, y, numel(l->out_shape, nd),
                                           out));
            break;
        case L_VIEW:
            nd = 4;
            memcpy(shape, l->out_shape, sizeof shape);
            continue;
        case L_CT:
        case L_CONV:
            NET_CHECK(tconv_op_run(l->op, x, y, N->ws));
            memcpy(out, l->out_shape, sizeof out);
            break;
        case L_BN:
            NET_CHECK(tconv_batchnorm2d_forward(&l->bn, 4, shape, cur, cur));
            continue;
        case L_RELU:
            NET_CHECK(tconv_relu(cur, cur, numel(shape, nd)));
            continue;
        case L_TANH:
            NET_CHECK(tconv_tanh(cur, cur, numel(shape, nd)));
            continue;
        }
        cur = y;
        x = y;
        which ^= 1;
        memcpy(shape, out, sizeof out);
    }
    N->ops_out = cur;
}

/* The seq way: one call. */
static void run_seq(void *ctx) {
    net *N = ctx;
    int ndo;
    int64_t os[TCONV_MAX_DIMS];
    NET_CHECK(tconv_sequential_forward(N->seq, N->in_ndim, N->in_shape, N->x, N->seq_out,
                                       N->out_numel, &ndo, os));
}

static void net_free(net *N) {
    for (int i = 0; i < N->n; i++) {
        layer *l = &N->L[i];
        tconv_linear_free(&l->lin);
        tconv_batchnorm2d_free(&l->bn);
        tconv_conv_transpose2d_module_free(&l->ct);
        tconv_conv2d_module_free(&l->cv);
        tconv_op_destroy(l->op);
    }
    free(N->L);
    free(N->bufs[0]);
    free(N->bufs[1]);
    free(N->ws);
    free(N->nn_out);
    tconv_sequential_destroy(N->seq);
    free(N->seq_out);
    memset(N, 0, sizeof *N);
}

/* ---- main -------------------------------------------------------------------------------- */

static double *read_f64(const char *path, int64_t n) {
    FILE *f = fopen(path, "rb");
    double *p = f ? malloc(sizeof(double) * (size_t)n) : NULL;
    if (!p || fread(p, sizeof(double), (size_t)n, f) != (size_t)n || fgetc(f) != EOF) {
        fprintf(stderr, "%s: cannot read %lld float64 values\n", path, (long long)n);
        exit(1);
    }
    fclose(f);
    return p;
}

static void emit(FILE *out, const char *variant, const char *cs, int threads,
                 const bench_timing *t, double err) {
    char line[512];
    snprintf(line, sizeof line,
             "{\"peer\": \"tconv\", \"variant\": \"%s\", \"shape\": \"%s\", \"threads\": %d, "
             "\"median_ms\": %.6f, \"min_ms\": %.6f, \"reps\": %d, \"cpu_per_wall\": %.4f, "
             "\"err\": %.6g}",
             variant, cs, threads, t->median_ms, t->min_ms, t->reps,
             isnan(t->cpu_per_wall) ? -1.0 : t->cpu_per_wall, isfinite(err) ? err : 1e30);
    puts(line);
    if (out) {
        fprintf(out, "%s\n", line);
        fflush(out);
    }
}

int main(int argc, char **argv) {
    const char *dir = NULL, *cases = "dcgan000_b1,dcgan000_b64,dcgan003_b16,dcgan003_b256,"
                                     "unet000_b1,unet000_b16",
               *out_path = NULL;
    int threads = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--dir") && v) dir = argv[++i];
        else if (!strcmp(a, "--cases") && v) cases = argv[++i];
        else if (!strcmp(a, "--out") && v) out_path = argv[++i];
        else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--quick")) quick = 1;
        else {
            puts("usage: tconv_net_bench --dir DIR [--cases dcgan000_b1,...] [--threads T] "
                 "[--quick] [--out FILE]\n  DIR: what bench/net_peers.py --prepare wrote.");
            return strcmp(a, "--help") && strcmp(a, "-h") ? 2 : 0;
        }
    }
    if (!dir) {
        fprintf(stderr, "--dir is required\n");
        return 2;
    }
    int nt = tconv_default_num_threads();
    if (threads && threads != nt)
        fprintf(stderr, "warning: --threads %d but tconv's default is %d (set the CPU affinity)\n",
                threads, nt);
    FILE *out = out_path ? fopen(out_path, "a") : NULL;
    printf("{\"info\": {\"peer\": \"tconv\", \"version\": \"%s\", \"threads\": %d, "
           "\"impl\": \"%s\"}}\n", tconv_version(), nt, tconv_impl_name(tconv_best_impl()));
    if (out) fprintf(out, "{\"info\": {\"peer\": \"tconv\", \"version\": \"%s\", \"threads\": %d}}\n",
                     tconv_version(), nt);
    bench_clock_cfg cfg = {quick ? 0.1 : 0.3, quick ? 5 : 20, 2000, quick ? 0.05 : 0.1, 0.25};
    char *list = strdup(cases);
    for (char *cs = strtok(list, ","); cs; cs = strtok(NULL, ",")) {
        char netname[32], path[1024];
        const char *b = strstr(cs, "_b");
        if (!b || (size_t)(b - cs) >= sizeof netname) {
            fprintf(stderr, "case %s: expected NET_bBATCH\n", cs);
            return 2;
        }
        memcpy(netname, cs, (size_t)(b - cs));
        netname[b - cs] = 0;
        /* input */
        tconv_safetensors *st;
        tconv_tensor_info info;
        snprintf(path, sizeof path, "%s/%s.input.safetensors", dir, cs);
        NET_CHECK(tconv_safetensors_open(path, &st));
        NET_CHECK(tconv_safetensors_find(st, "input", &info));
        int nd = info.ndim;
        int64_t shape[4];
        if (nd < 2 || nd > 4) {
            fprintf(stderr, "%s: input has %d dims\n", path, nd);
            return 1;
        }
        memcpy(shape, info.shape, sizeof(int64_t) * (size_t)nd);
        float *x = bench_alloc_floats(info.numel);
        NET_CHECK(tconv_safetensors_read_f32(st, "input", nd, shape, x, info.numel));
        tconv_safetensors_close(st);
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, netname);
        net N;
        net_init(&N, netname, path, nd, shape, x);
        snprintf(path, sizeof path, "%s/%s.ref.f64", dir, cs);
        double *ref = read_f64(path, N.out_numel);
        run_nn(&N);
        run_ops(&N);
        run_seq(&N);
        double e_nn = bench_rel_err(N.nn_out, ref, N.out_numel);
        double e_ops = bench_rel_err(N.ops_out, ref, N.out_numel);
        double e_seq = bench_rel_err(N.seq_out, ref, N.out_numel);
        bench_timing t_nn = {0}, t_ops = {0}, t_seq = {0};
        bench_item items[3] = {{run_nn, &N, &t_nn}, {run_ops, &N, &t_ops}, {run_seq, &N, &t_seq}};
        bench_time_multi(&cfg, items, 3);
        emit(out, "nn", cs, nt, &t_nn, e_nn);
        emit(out, "ops", cs, nt, &t_ops, e_ops);
        emit(out, "seq", cs, nt, &t_seq, e_seq);
        net_free(&N);
        free(ref);
        free(x);
    }
    free(list);
    if (out) fclose(out);
    return 0;
}
