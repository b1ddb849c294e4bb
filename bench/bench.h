/* bench.h -- what the benchmark's files share (not part of the library). */
#ifndef TCONV_BENCH_H
#define TCONV_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* One line of seed-shapes.txt (PyTorch ConvTranspose2d arguments and input)
 * or, with conv2d set, of conv2d-shapes.txt (PyTorch Conv2d, zero padding,
 * dilation 1; oph/opw are 0).  Weights are PyTorch's: (Cin, Cout/g, kh, kw)
 * for ConvTranspose2d, (Cout, Cin/g, kh, kw) for Conv2d. */
typedef struct bench_shape {
    char name[32];
    int64_t n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, oph, opw, groups;
    int64_t hout, wout;
    int conv2d;
} bench_shape;

/* Median / min of one measurement, and how many runs it took. */
typedef struct bench_timing {
    double median_ms, min_ms;
    int reps;
    int ok; /* 0: not measured (skipped or failed) */
    double cpu_per_wall; /* process CPU time / wall time over the timed runs:
                            ~T when T threads all worked, ~1 when a second
                            thread idled (spinning pools count as working) */
} bench_timing;

typedef struct bench_clock_cfg {
    double min_time_s;  /* keep repeating until this much time ... */
    int min_reps;       /* ... and at least this many runs */
    int max_reps;
    double warmup_s;    /* warm-up runs until this long (at least one run) */
    double slow_run_s;  /* a single run longer than this: time a few runs only */
} bench_clock_cfg;

typedef void (*bench_fn)(void *ctx);

double bench_now_s(void);
double bench_cpu_s(void); /* this process's CPU time, all threads */

/* One thing to time: out receives its median/min. */
typedef struct bench_item {
    bench_fn fn;
    void *ctx;
    bench_timing *out;
} bench_item;

/* Times k items interleaved, so that all of them see the same load on a
 * shared machine: each is warmed up, then rounds run every unfinished item
 * for a block (one untimed run to re-warm caches, then timed runs for
 * >= 10 ms or 3 runs) until each has >= min_reps runs and >= min_time_s of
 * timed runs.  An item whose single run exceeds slow_run_s gets 3 runs. */
void bench_time_multi(const bench_clock_cfg *cfg, bench_item *items, int k);

/* Compares y (full output of shape s, NCHW or NHWC) with ref, the NCHW
 * reference of its first check_n images and output channels 0, k, 2k, ...
 * (k = oc_stride).  Returns max|y - ref| / max|ref|; +inf if y holds a NaN
 * or Inf where ref is finite (an unwritten, poisoned element). */
double bench_check(const bench_shape *s, const float *y, int nhwc, const float *ref,
                   int64_t check_n, int64_t oc_stride);

/* ---- bench_common.c: shapes files, FLOPs, helpers ---- */
/* Lines of seed-shapes.txt (ConvTranspose2d, 14 numbers) or, with conv2d, of
 * conv2d-shapes.txt (12 numbers); returns how many (<= cap), -1 on error. */
int bench_read_shapes(const char *path, int conv2d, bench_shape *out, int cap);
/* Nominal FLOPs (every product, cropped or padding taps included). */
double bench_flops_total(const bench_shape *s);
/* Useful FLOPs: products that reach the cropped output (ConvTranspose2d) or
 * read a real input element (Conv2d). */
double bench_flops_useful(const bench_shape *s);
/* 64-byte aligned, at least one float; NULL if out of memory. */
float *bench_alloc_floats(int64_t n);
/* 1 if name is in the comma-separated list (NULL list: everything). */
int bench_in_list(const char *list, const char *name);

/* ---- measured FMA peak (fma_peak.c) ---- */
/* GFLOP/s of a register-resident FMA loop on `threads` threads; isa 512 or 256.
 * Returns 0 if the CPU lacks that ISA. */
double bench_fma_peak(int isa_bits, int threads, double seconds);
/* ns for a cache line to go from one CPU to another and back, between the
 * first two CPUs this process may run on (set in *cpu_a, *cpu_b); -1 with
 * fewer than two. */
double bench_core_round_trip_ns(int *cpu_a, int *cpu_b);
/* Prints it as a "# core-to-core round trip<when>, ..." line (nothing with
 * one CPU): two-thread runs on a VM change speed with the cores' distance. */
void bench_print_round_trip(const char *when);

/* ---- oneDNN peer (onednn_peer.c, only with TCONV_BENCH_HAVE_DNNL) ----
 * The deconvolution primitive for ConvTranspose2d shapes, the convolution
 * primitive (direct algorithm) for conv2d shapes. */
typedef struct bench_dnnl_result {
    bench_timing e2e_any;    /* reorder NCHW->any + primitive(any) + reorder back */
    bench_timing e2e_nhwc;   /* reorder NCHW->NHWC + primitive(nhwc, weights any) + back */
    bench_timing prim_any;   /* primitive alone, src/dst/weights format_any */
    bench_timing prim_nhwc;  /* primitive alone, src/dst NHWC, weights any */
    bench_timing plain;      /* primitive alone on NCHW src/dst, PyTorch weights (IOHW / OIHW) */
    char impl_any[64], impl_nhwc[64], impl_plain[64];
    double err_any, err_nhwc, err_plain; /* vs reference, over the checked slice */
} bench_dnnl_result;

/* 0: skip the `plain` mode (--no-plain; oneDNN 3.x runs a reference kernel
 * for plain NCHW with PyTorch's weights, seconds per call on big shapes). */
extern int bench_dnnl_plain;
/* Describes the library build: version, CPU runtime (omp/tbb/...). */
const char *bench_dnnl_info(void);
typedef struct bench_dnnl bench_dnnl;
/* Sets up every oneDNN mode on shape s with `threads` threads and checks
 * each once.  x: NCHW input, w: PyTorch weights (see bench_shape),
 * b: bias.  ref: NCHW reference output of the first check_n images (every
 * check_oc_stride-th output channel).  Fills r's names and errors; NULL if
 * oneDNN could not be set up at all. */
bench_dnnl *bench_dnnl_setup(const bench_shape *s, int threads, const float *x, const float *w,
                             const float *b, const float *ref, int64_t check_n,
                             int64_t check_oc_stride, bench_dnnl_result *r);
/* Appends the timing items of d (up to 5) writing into r; returns how many. */
int bench_dnnl_items(bench_dnnl *d, bench_dnnl_result *r, bench_item *items);
void bench_dnnl_free(bench_dnnl *d);

/* ---- backward (tconv_bwd_bench.c, onednn3_bwd.c) ----
 * One shape's data as bench/bwd_reference.py writes it: float32 x, w, b and
 * grad_output gy (PyTorch layouts, NCHW), and float64 references y (forward
 * output), gx, gw, gb (autograd of y w.r.t. x, w, b given gy). */
typedef struct bench_bwd_data {
    float *x, *w, *b, *gy;
    double *y, *gx, *gw, *gb;
    int64_t nx, nw, nb, ny; /* element counts: x, w, b (= Cout), y / gy */
} bench_bwd_data;

/* max|v - ref| / max|ref| over n elements (+inf on a non-finite v). */
double bench_rel_err(const float *v, const double *ref, int64_t n);
/* The backward's error: the worst of gx, gw and gb (gb may be NULL: skipped). */
double bench_bwd_err(const bench_bwd_data *d, const float *gx, const float *gw, const float *gb);

/* oneDNN 3.x backward_data + backward_weights (with bias), groups == 1.
 * e2e: NCHW grad_output and input reordered in, grad_input and grad_weight
 * reordered out to PyTorch's layouts; prim: the two primitives alone. */
typedef struct bench_dnnl_bwd_result {
    bench_timing e2e_any, e2e_nhwc, prim_any, prim_nhwc;
    char impl_any[160], impl_nhwc[160];
    double err_any, err_nhwc;
} bench_dnnl_bwd_result;
typedef struct bench_dnnl_bwd bench_dnnl_bwd;
bench_dnnl_bwd *bench_dnnl_bwd_setup(const bench_shape *s, const bench_bwd_data *d,
                                     bench_dnnl_bwd_result *r);
int bench_dnnl_bwd_items(bench_dnnl_bwd *b, bench_dnnl_bwd_result *r, bench_item *items);
void bench_dnnl_bwd_free(bench_dnnl_bwd *b);

#endif
