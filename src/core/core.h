/* core.h -- what every layer of the library shares: errors, checked int64
 * arithmetic, tensor strides, the geometry of a convolution call, CPU
 * features, threads and environment knobs.  Never installed. */
#ifndef TCONV_CORE_H
#define TCONV_CORE_H

#include "tconv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors (error.c) ---------------------------------------------------- */

/* Records a printf-style message for this thread and returns status. */
tconv_status tc_fail(tconv_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Clears this thread's message (called on entry of public functions). */
void tc_clear_error(void);

/* Writes "[a, b, c]" into buf (always NUL-terminated). */
const char *tc_fmt_dims(char *buf, size_t cap, const int64_t *dims, int n);

/* ---- checked int64 arithmetic (true = overflow) -------------------------- */

static inline bool tc_mul_overflow(int64_t a, int64_t b, int64_t *r) {
    return __builtin_mul_overflow(a, b, r);
}
static inline bool tc_add_overflow(int64_t a, int64_t b, int64_t *r) {
    return __builtin_add_overflow(a, b, r);
}
static inline bool tc_sub_overflow(int64_t a, int64_t b, int64_t *r) {
    return __builtin_sub_overflow(a, b, r);
}
/* Whether any of the n floats at p is NaN or inf (all exponent bits set):
 * branch-free within blocks so the compiler vectorises it, stopping at
 * the first block with one. */
bool tc_any_nonfinite(const float *p, int64_t n);
/* Product of n non-negative dims; false on overflow. */
bool tc_numel(const int64_t *dims, int n, int64_t *out);
/* numel * sizeof(float) as size_t; false if it does not fit. */
bool tc_float_bytes(int64_t numel, size_t *out);

static inline int64_t tc_imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t tc_imax(int64_t a, int64_t b) { return a > b ? a : b; }
/* floor(a / b) for b > 0 */
static inline int64_t tc_floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

/* ---- tensors and geometry ------------------------------------------------ */

/* Element strides of a 4-D tensor (n, c, h, w) for a layout. */
typedef struct tc_strides {
    int64_t n, c, h, w;
} tc_strides;
tc_strides tc_strides_for(tconv_layout layout, int64_t c, int64_t h, int64_t w);

/* Resolved geometry of one forward call, in the operator's own terms
 * (input x, output y).  Both operators describe themselves so, and so do
 * the problems they lower to. */
typedef struct tc_geom {
    int ndim;                      /* 3 or 4, as given by the caller */
    int64_t n, c_in, h_in, w_in;   /* n = 1 for unbatched */
    int64_t c_out, h_out, w_out;
    int64_t groups;
    int64_t kh, kw, sh, sw, dh, dw;
    /* conv_transpose2d: padding ph/pw and effective output padding;
     * conv2d: pad_t/pad_b/pad_l/pad_r (possibly asymmetric for "same"). */
    int64_t ph, pw, oph, opw;
    int64_t pad_t, pad_b, pad_l, pad_r;
    tconv_padding_mode padding_mode;
} tc_geom;

/* Index into a dimension of length len for coordinate i of the padded
 * dimension (i < 0: the leading padding), as F.pad's modes do; -1 for a
 * zero.  Valid for pads PyTorch accepts with the mode (reflect pads < len,
 * circular pads <= len: one reflection or wrap); replicate has no limit. */
static inline int64_t tc_pad_index(tconv_padding_mode mode, int64_t i, int64_t len) {
    if (i >= 0 && i < len) return i;
    switch (mode) {
    case TCONV_PADDING_MODE_REFLECT: return i < 0 ? -i : 2 * (len - 1) - i;
    case TCONV_PADDING_MODE_REPLICATE: return i < 0 ? 0 : len - 1;
    case TCONV_PADDING_MODE_CIRCULAR: return i < 0 ? i + len : i - len;
    case TCONV_PADDING_MODE_ZEROS:
    default: return -1;
    }
}

/* ---- CPU features (cpu.c) ------------------------------------------------ */

/* 1 if the CPU and the OS (XGETBV state) support the ISA and this build
 * compiled its kernels. */
int tc_cpu_has_avx2_fma(void);
int tc_cpu_has_avx512(void);
/* Cores this process may run on (sched_getaffinity, else sysconf), >= 1. */
int tc_cpu_count(void);

/* ---- threads (threadpool.c, env.c) --------------------------------------- */

/* Calls fn(ctx, b, e) over disjoint ranges covering [0, ntasks), on up to
 * nthreads threads (the caller and reusable pool workers), tasks taken from
 * a shared counter.  Returns when all are done.  If the pool is busy with
 * another caller's run, everything runs on the caller.  Callers make each
 * task's result independent of the thread that runs it. */
void tc_parallel_for(int nthreads, int64_t ntasks, void (*fn)(void *ctx, int64_t b, int64_t e),
                     void *ctx);

/* The thread count an operator with num_threads == 0 uses: the process-wide
 * setting (tconv_set_num_threads), else TCONV_NUM_THREADS, else the cores
 * this process may use; capped at TC_MAX_THREADS. */
int tc_default_threads(void);
/* An operator's requested count (0 = default) resolved and capped. */
int tc_resolve_threads(int requested);
#define TC_MAX_THREADS 256

/* TCONV_VERBOSE=1: one line per operator create / reshape / run on stderr. */
int tc_verbose(void);
/* Monotonic seconds, for verbose timings. */
double tc_now(void);

#endif /* TCONV_CORE_H */
