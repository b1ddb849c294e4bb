/* internal.h -- what the library's own files share; never installed. */
#ifndef TCONV_INTERNAL_H
#define TCONV_INTERNAL_H

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
/* Product of n non-negative dims; false on overflow. */
bool tc_numel(const int64_t *dims, int n, int64_t *out);
/* numel * sizeof(float) as size_t; false if it does not fit. */
bool tc_float_bytes(int64_t numel, size_t *out);

/* ---- validation (validate.c) --------------------------------------------- */

tconv_status tc_check_ct2d_params(const tconv_conv_transpose2d_params *p);
tconv_status tc_check_conv2d_params(const tconv_conv2d_params *p);

/* Resolved geometry of one call: both operators describe themselves so. */
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

tconv_status tc_ct2d_geometry(const tconv_conv_transpose2d_params *p, int ndim,
                              const int64_t *input_shape, const int64_t *output_size,
                              int output_size_len, tc_geom *g);
tconv_status tc_conv2d_geometry(const tconv_conv2d_params *p, int ndim,
                                const int64_t *input_shape, tc_geom *g);

/* ---- reference kernels (kernels/reference.c) ----------------------------- */

/* Element strides of a 4-D tensor (n, c, h, w) for a layout. */
typedef struct tc_strides {
    int64_t n, c, h, w;
} tc_strides;
tc_strides tc_strides_for(tconv_layout layout, int64_t c, int64_t h, int64_t w);

/* x: (N, Cin, Hin, Win), w: (Cin, Cout/g, kH, kW), y: (N, Cout, Hout, Wout),
 * in the layouts given by the strides. */
void tc_ref_conv_transpose2d(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                             const float *bias, float *y, tc_strides ys);
/* x: (N, Cin, Hin, Win), w: (Cout, Cin/g, kH, kW), y: (N, Cout, Hout, Wout). */
void tc_ref_conv2d(const tc_geom *g, const float *x, tc_strides xs, const float *w,
                   const float *bias, float *y, tc_strides ys);

/* ---- operator object (operator.c) ---------------------------------------- */

typedef enum tc_op_kind { TC_OP_CONV_TRANSPOSE2D = 1, TC_OP_CONV2D = 2 } tc_op_kind;

typedef struct tconv_op tconv_op;
/* Runs one reshaped op: the path chosen at reshape. */
typedef tconv_status (*tc_run_fn)(tconv_op *op, const float *x, float *y, void *ws);

struct tconv_op {
    tc_op_kind kind;
    tconv_conv_transpose2d_params ct; /* valid when kind == CONV_TRANSPOSE2D */
    tconv_conv2d_params cv;           /* valid when kind == CONV2D */
    tconv_options opt;
    tconv_impl impl; /* resolved, never AUTO */
    float *weight;   /* owned copy, PyTorch layout */
    float *bias;     /* owned copy or NULL */
    int64_t weight_numel;

    /* Set by reshape. */
    bool reshaped;
    tc_geom geom;
    size_t workspace_bytes;
    const char *path;
    tc_run_fn run;

    /* Owned by the fast path (packed weights, plans); NULL for reference. */
    void *fast;
    void (*fast_free)(void *fast);
};

#endif /* TCONV_INTERNAL_H */
