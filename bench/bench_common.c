/* bench_common.c -- what the benchmark programs share: timing (interleaved
 * blocks, median / min, CPU time per wall time), the shapes files, FLOP
 * counts, output checks.  Not part of the library. */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_dnnl_plain = 1;

/* ---- timing ---------------------------------------------------------------- */

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double bench_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct item_state {
    double *ts;
    int n, min_reps, max_reps;
    double sum, first, cpu;
} item_state;

static int item_done(const bench_clock_cfg *cfg, const item_state *st) {
    return st->n >= st->max_reps || (st->n >= st->min_reps && st->sum >= cfg->min_time_s);
}

void bench_time_multi(const bench_clock_cfg *cfg, bench_item *items, int k) {
    item_state *st = calloc((size_t)k, sizeof *st);
    if (!st) return;
    for (int i = 0; i < k; i++) {
        /* Warm-up: caches, page faults, thread pools, JIT. */
        double t0 = bench_now_s();
        st[i].first = -1;
        do {
            double a = bench_now_s();
            items[i].fn(items[i].ctx);
            if (st[i].first < 0) st[i].first = bench_now_s() - a;
        } while (bench_now_s() - t0 < cfg->warmup_s && st[i].first < cfg->slow_run_s);
        st[i].min_reps = cfg->min_reps;
        st[i].max_reps = cfg->max_reps;
        if (st[i].first >= cfg->slow_run_s) st[i].min_reps = st[i].max_reps = 3;
        st[i].ts = malloc(sizeof(double) * (size_t)st[i].max_reps);
        if (!st[i].ts) st[i].max_reps = 0;
    }
    for (int busy = 1; busy;) {
        busy = 0;
        for (int i = 0; i < k; i++) {
            item_state *q = &st[i];
            if (item_done(cfg, q)) continue;
            busy = 1;
            int slow = q->first >= cfg->slow_run_s;
            if (k > 1) {
                /* Let the previous item's spinning workers (OpenMP, thread pools)
                 * go to sleep, then re-warm caches: neither is timed. */
                struct timespec nap = {0, 5 * 1000 * 1000};
                nanosleep(&nap, NULL);
                if (!slow) items[i].fn(items[i].ctx);
            }
            double block = 0, c0 = bench_cpu_s();
            int runs = 0;
            do {
                double a = bench_now_s();
                items[i].fn(items[i].ctx);
                double t = bench_now_s() - a;
                q->ts[q->n++] = t;
                q->sum += t;
                block += t;
                runs++;
            } while (!slow && !item_done(cfg, q) && (block < 0.01 || runs < 3));
            q->cpu += bench_cpu_s() - c0;
        }
    }
    for (int i = 0; i < k; i++) {
        item_state *q = &st[i];
        bench_timing r = {0};
        if (q->n > 0) {
            qsort(q->ts, (size_t)q->n, sizeof *q->ts, cmp_double);
            int n = q->n;
            r.min_ms = q->ts[0] * 1e3;
            r.median_ms = (n % 2 ? q->ts[n / 2] : 0.5 * (q->ts[n / 2 - 1] + q->ts[n / 2])) * 1e3;
            r.reps = n;
            r.ok = 1;
            r.cpu_per_wall = q->sum > 0 ? q->cpu / q->sum : NAN;
        }
        *items[i].out = r;
        free(q->ts);
    }
    free(st);
}

/* ---- shapes, FLOPs, data ------------------------------------------------------ */

static int out_dim(int64_t in, int64_t k, int64_t s, int64_t p, int64_t op) {
    return (int)((in - 1) * s - 2 * p + (k - 1) + op + 1);
}

/* Conv2d, symmetric zero padding, dilation 1 (PyTorch's floor division). */
static int64_t conv_out_dim(int64_t in, int64_t k, int64_t s, int64_t p) {
    return (in + 2 * p - k) / s + 1;
}

/* Lines of seed-shapes.txt (ConvTranspose2d, 14 numbers) or, with conv2d,
 * of conv2d-shapes.txt (`name N Cin H W Cout kh kw sh sw ph pw groups`). */
int bench_read_shapes(const char *path, int conv2d, bench_shape *out, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open shapes file %s\n", path);
        return -1;
    }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *c = line;
        while (*c == ' ' || *c == '\t') c++;
        if (*c == '#' || *c == '\n' || *c == 0) continue;
        bench_shape s;
        memset(&s, 0, sizeof s);
        long long v[14] = {0};
        /* 12 numbers (conv2d; a trailing "# ..." stops the scan) or 14: a
         * file of the other kind is refused, not misread. */
        int got = sscanf(c, "%31s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
                         s.name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                         &v[9], &v[10], &v[11], &v[12], &v[13]);
        if (conv2d ? got != 13 : got != 15) {
            fprintf(stderr, "%s: bad line (%s expects %d numbers): %s", path,
                    conv2d ? "--conv2d" : "ConvTranspose2d", conv2d ? 12 : 14, line);
            fclose(f);
            return -1;
        }
        s.n = v[0]; s.cin = v[1]; s.h = v[2]; s.w = v[3]; s.cout = v[4]; s.kh = v[5];
        s.kw = v[6]; s.sh = v[7]; s.sw = v[8]; s.ph = v[9]; s.pw = v[10];
        if (conv2d) {
            s.groups = v[11];
            s.conv2d = 1;
            s.hout = conv_out_dim(s.h, s.kh, s.sh, s.ph);
            s.wout = conv_out_dim(s.w, s.kw, s.sw, s.pw);
        } else {
            s.oph = v[11]; s.opw = v[12]; s.groups = v[13];
            s.hout = out_dim(s.h, s.kh, s.sh, s.ph, s.oph);
            s.wout = out_dim(s.w, s.kw, s.sw, s.pw, s.opw);
        }
        if (n < cap) out[n++] = s;
    }
    fclose(f);
    return n;
}

/* Nominal FLOPs: every product of the scatter form, cropped or not; for
 * conv2d every product of every output's window, padding included. */
double bench_flops_total(const bench_shape *s) {
    if (s->conv2d)
        return 2.0 * s->n * s->cout * s->hout * s->wout * s->cin * s->kh * s->kw / s->groups;
    return 2.0 * s->n * s->cin * s->h * s->w * s->cout * s->kh * s->kw / s->groups;
}

/* Input/tap pairs (i, k) of one dim whose product lands inside the output. */
static int64_t useful_pairs(int64_t in, int64_t k, int64_t st, int64_t p, int64_t out) {
    int64_t c = 0;
    for (int64_t i = 0; i < in; i++)
        for (int64_t t = 0; t < k; t++) {
            int64_t o = i * st - p + t;
            c += o >= 0 && o < out;
        }
    return c;
}

/* Output/tap pairs (o, k) of one conv2d dim that read a real input element
 * (not the zero padding). */
static int64_t conv_useful_pairs(int64_t in, int64_t k, int64_t st, int64_t p, int64_t out) {
    int64_t c = 0;
    for (int64_t o = 0; o < out; o++)
        for (int64_t t = 0; t < k; t++) {
            int64_t i = o * st - p + t;
            c += i >= 0 && i < in;
        }
    return c;
}

/* Useful FLOPs: products that reach the (cropped) output, counted exactly;
 * for conv2d, products whose input is not padding. */
double bench_flops_useful(const bench_shape *s) {
    if (s->conv2d)
        return 2.0 * s->n * s->cout * (double)(s->cin / s->groups) *
               conv_useful_pairs(s->h, s->kh, s->sh, s->ph, s->hout) *
               conv_useful_pairs(s->w, s->kw, s->sw, s->pw, s->wout);
    return 2.0 * s->n * s->cin * (double)(s->cout / s->groups) *
           useful_pairs(s->h, s->kh, s->sh, s->ph, s->hout) *
           useful_pairs(s->w, s->kw, s->sw, s->pw, s->wout);
}

float *bench_alloc_floats(int64_t n) {
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, sizeof(float) * (size_t)(n > 0 ? n : 1))) return NULL;
    return p;
}

double bench_check(const bench_shape *s, const float *y, int nhwc, const float *ref,
                   int64_t check_n, int64_t oc_stride) {
    int64_t C = s->cout, H = s->hout, W = s->wout;
    int64_t csub = (C + oc_stride - 1) / oc_stride;
    double maxerr = 0, maxref = 0;
    for (int64_t n = 0; n < check_n; n++)
        for (int64_t j = 0; j < csub; j++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    int64_t c = j * oc_stride;
                    double r = ref[((n * csub + j) * H + h) * W + w];
                    double v = nhwc ? y[((n * H + h) * W + w) * C + c] : y[((n * C + c) * H + h) * W + w];
                    if (!isfinite(v)) return INFINITY;
                    double e = fabs(v - r);
                    if (e > maxerr) maxerr = e;
                    if (fabs(r) > maxref) maxref = fabs(r);
                }
    return maxerr / (maxref > 0 ? maxref : 1e-30);
}

int bench_in_list(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}


double bench_rel_err(const float *v, const double *ref, int64_t n) {
    double maxerr = 0, maxref = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) return INFINITY;
        double e = fabs(v[i] - ref[i]);
        if (e > maxerr) maxerr = e;
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    return maxerr / (maxref > 0 ? maxref : 1e-30);
}

double bench_bwd_err(const bench_bwd_data *d, const float *gx, const float *gw, const float *gb) {
    double e = fmax(bench_rel_err(gx, d->gx, d->nx), bench_rel_err(gw, d->gw, d->nw));
    return gb ? fmax(e, bench_rel_err(gb, d->gb, d->nb)) : e;
}
