/*
 * tconv.h -- the whole public API of libtconv.
 *
 * tconv computes PyTorch's nn.ConvTranspose2d and nn.Conv2d forward in float32,
 * with PyTorch's numbers, PyTorch's shape rules and PyTorch's refusals.
 *
 * Conventions
 *  - Tensors are dense float32 arrays.  Logical shapes are always given in
 *    PyTorch order: batched (N, C, H, W) or unbatched (C, H, W).  The memory
 *    layout is NCHW (PyTorch's contiguous default) unless an operator was
 *    created with TCONV_LAYOUT_NHWC (channels-last).
 *  - ConvTranspose2d weight: (in_channels, out_channels/groups, kH, kW).
 *    Conv2d weight:          (out_channels, in_channels/groups, kH, kW).
 *    Bias (optional, may be NULL): (out_channels).
 *  - Every size is int64_t; every size computation is checked for overflow.
 *  - Every function that can fail returns a tconv_status.  On failure the
 *    calling thread's message (tconv_last_error) names the parameter and the
 *    values, in PyTorch's words where PyTorch has words for it, and no output
 *    argument has been written.
 *
 * Life of an operator (the fast way, weights packed once):
 *     tconv_options opt; tconv_options_init(&opt);
 *     tconv_conv_transpose2d_params p;
 *     tconv_conv_transpose2d_params_init(&p, 512, 256, 4, 4);
 *     p.stride[0] = p.stride[1] = 2; p.padding[0] = p.padding[1] = 1;
 *     tconv_op *op;
 *     tconv_conv_transpose2d_create(&p, weight, bias, &opt, &op);
 *     int64_t in_shape[4] = {1, 512, 4, 4}, out_shape[4];
 *     size_t ws_bytes;
 *     tconv_op_reshape(op, 4, in_shape, NULL, 0, out_shape, &ws_bytes);
 *     tconv_op_run(op, x, y, workspace);   // any number of times
 *     tconv_op_destroy(op);
 * or the one-call convenience: tconv_conv_transpose2d(...).
 */
#ifndef TCONV_H
#define TCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TCONV_BUILDING_SHARED)
#define TCONV_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TCONV_API __attribute__((visibility("default")))
#else
#define TCONV_API
#endif

#define TCONV_VERSION_MAJOR 0
#define TCONV_VERSION_MINOR 1
#define TCONV_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum tconv_status {
    TCONV_OK = 0,
    /* An argument PyTorch would refuse (bad parameter, shape, size). */
    TCONV_ERROR_INVALID_ARGUMENT = 1,
    /* A size does not fit int64_t / size_t, or an allocation that large. */
    TCONV_ERROR_OVERFLOW = 2,
    /* malloc failed. */
    TCONV_ERROR_OUT_OF_MEMORY = 3,
    /* The call came in the wrong order (e.g. run before reshape). */
    TCONV_ERROR_INVALID_STATE = 4,
    /* A requested implementation (ISA) is not available on this CPU/build. */
    TCONV_ERROR_UNSUPPORTED = 5,
    /* A file could not be opened or read. */
    TCONV_ERROR_IO = 6,
    /* A file's contents are malformed, truncated or inconsistent. */
    TCONV_ERROR_FORMAT = 7,
    /* A name looked up (e.g. a tensor in a weights file) does not exist. */
    TCONV_ERROR_NOT_FOUND = 8
} tconv_status;

/* The message of the last failed call made by this thread ("" if none).
 * The pointer stays valid until this thread's next tconv call. */
TCONV_API const char *tconv_last_error(void);

/* A short constant name for a status code, e.g. "invalid argument". */
TCONV_API const char *tconv_status_string(tconv_status status);

/* "MAJOR.MINOR.PATCH". */
TCONV_API const char *tconv_version(void);

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

/* nn.ConvTranspose2d's constructor arguments (padding_mode is always zeros,
 * the only mode PyTorch supports for it).  Pairs are (height, width). */
typedef struct tconv_conv_transpose2d_params {
    int64_t in_channels;
    int64_t out_channels;
    int64_t kernel_size[2];
    int64_t stride[2];
    int64_t padding[2];
    int64_t output_padding[2];
    int64_t dilation[2];
    int64_t groups;
} tconv_conv_transpose2d_params;

/* Fills p with PyTorch's defaults for the given channels and kernel:
 * stride 1, padding 0, output_padding 0, dilation 1, groups 1. */
TCONV_API void tconv_conv_transpose2d_params_init(tconv_conv_transpose2d_params *p,
                                                  int64_t in_channels, int64_t out_channels,
                                                  int64_t kernel_h, int64_t kernel_w);

/* Conv2d's padding argument: explicit numbers, or the strings "same" / "valid". */
typedef enum tconv_padding_kind {
    TCONV_PADDING_EXPLICIT = 0, /* use tconv_conv2d_params.padding */
    TCONV_PADDING_SAME = 1,     /* output size == input size (stride must be 1) */
    TCONV_PADDING_VALID = 2     /* no padding */
} tconv_padding_kind;

/* nn.Conv2d's padding_mode. */
typedef enum tconv_padding_mode {
    TCONV_PADDING_MODE_ZEROS = 0,
    TCONV_PADDING_MODE_REFLECT = 1,
    TCONV_PADDING_MODE_REPLICATE = 2,
    TCONV_PADDING_MODE_CIRCULAR = 3
} tconv_padding_mode;

/* nn.Conv2d's constructor arguments.  With padding_mode other than zeros the
 * input is padded as the module does (F.pad with that mode) and then
 * convolved without padding.  F.conv2d is padding_mode zeros. */
typedef struct tconv_conv2d_params {
    int64_t in_channels;
    int64_t out_channels;
    int64_t kernel_size[2];
    int64_t stride[2];
    int64_t padding[2]; /* used when padding_kind == TCONV_PADDING_EXPLICIT */
    int64_t dilation[2];
    int64_t groups;
    tconv_padding_kind padding_kind;
    tconv_padding_mode padding_mode;
} tconv_conv2d_params;

/* Fills p with PyTorch's defaults: stride 1, padding 0 (explicit), dilation 1,
 * groups 1, padding_mode zeros. */
TCONV_API void tconv_conv2d_params_init(tconv_conv2d_params *p, int64_t in_channels,
                                        int64_t out_channels, int64_t kernel_h,
                                        int64_t kernel_w);

/* Checks parameters alone (no input yet) as PyTorch's constructor and
 * forward would.  Returns TCONV_OK or TCONV_ERROR_INVALID_ARGUMENT. */
TCONV_API tconv_status tconv_conv_transpose2d_params_check(const tconv_conv_transpose2d_params *p);
TCONV_API tconv_status tconv_conv2d_params_check(const tconv_conv2d_params *p);

/* ------------------------------------------------------------------------ */
/* Shape rules                                                               */
/* ------------------------------------------------------------------------ */

/* One spatial dimension of ConvTranspose2d's output:
 *   out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1
 * Computed in checked int64 arithmetic; the result may be <= 0 (PyTorch then
 * refuses the input, see tconv_conv_transpose2d_output_shape).
 * Returns TCONV_ERROR_OVERFLOW if an intermediate does not fit int64. */
TCONV_API tconv_status tconv_conv_transpose2d_output_dim(int64_t in, int64_t kernel, int64_t stride,
                                                         int64_t padding, int64_t dilation,
                                                         int64_t output_padding, int64_t *out);

/* One spatial dimension of Conv2d's output for total padding pad_before+pad_after:
 *   out = (in + pad_before + pad_after - dilation*(kernel - 1) - 1) / stride + 1
 * (floor division; the numerator may be negative, then out <= 0). */
TCONV_API tconv_status tconv_conv2d_output_dim(int64_t in, int64_t kernel, int64_t stride,
                                               int64_t pad_before, int64_t pad_after,
                                               int64_t dilation, int64_t *out);

/* ConvTranspose2d.forward(input, output_size=...): the output_padding that
 * gives the requested spatial size, exactly as PyTorch's _output_padding.
 * input_ndim is 3 or 4; input_shape has input_ndim entries; output_size has
 * 2 entries (H, W) or input_ndim entries (leading ones ignored, as PyTorch).
 * The valid range per dim is [min, min + stride - 1] with
 * min = (in-1)*stride - 2*padding + dilation*(kernel-1) + 1; outside it the
 * call fails with PyTorch's "requested an output size of ..." message.
 * p->output_padding is ignored (as PyTorch ignores it when output_size is given). */
TCONV_API tconv_status tconv_conv_transpose2d_output_padding_for_size(
    const tconv_conv_transpose2d_params *p, int input_ndim, const int64_t *input_shape,
    const int64_t *output_size, int output_size_len, int64_t output_padding[2]);

/* The full output shape (input_ndim entries) for an input shape, with every
 * check PyTorch's forward makes (dimensions, channels, empty sizes, output
 * too small).  output_size may be NULL (then output_size_len must be 0). */
TCONV_API tconv_status tconv_conv_transpose2d_output_shape(
    const tconv_conv_transpose2d_params *p, int input_ndim, const int64_t *input_shape,
    const int64_t *output_size, int output_size_len, int64_t *output_shape);

TCONV_API tconv_status tconv_conv2d_output_shape(const tconv_conv2d_params *p, int input_ndim,
                                                 const int64_t *input_shape,
                                                 int64_t *output_shape);

/* ------------------------------------------------------------------------ */
/* Operator objects                                                          */
/* ------------------------------------------------------------------------ */

typedef enum tconv_layout {
    TCONV_LAYOUT_NCHW = 0, /* PyTorch's default contiguous layout */
    TCONV_LAYOUT_NHWC = 1  /* channels-last: (N, H, W, C) in memory */
} tconv_layout;

/* Which implementation runs.  AUTO picks the fastest this CPU supports;
 * the others force one (for testing and comparison) and fail with
 * TCONV_ERROR_UNSUPPORTED at create if this CPU or build lacks it. */
typedef enum tconv_impl {
    TCONV_IMPL_AUTO = 0,
    TCONV_IMPL_REFERENCE = 1, /* the direct definition, double accumulation */
    TCONV_IMPL_PORTABLE = 2,  /* fast path, portable C micro-kernels */
    TCONV_IMPL_AVX2 = 3,      /* fast path, AVX2 + FMA micro-kernels */
    TCONV_IMPL_AVX512 = 4     /* fast path, AVX-512F micro-kernels */
} tconv_impl;

typedef struct tconv_options {
    int num_threads;     /* 0 = default (available cores); 1 = run on the calling thread */
    tconv_layout layout; /* memory layout of input and output */
    tconv_impl impl;
} tconv_options;

/* Defaults: num_threads 0, NCHW, AUTO. */
TCONV_API void tconv_options_init(tconv_options *opt);

/* The best implementation this CPU and build support (never AUTO). */
TCONV_API tconv_impl tconv_best_impl(void);

/* 1 if impl can run here, else 0. */
TCONV_API int tconv_impl_available(tconv_impl impl);

/* "auto", "reference", "portable", "avx2", "avx512". */
TCONV_API const char *tconv_impl_name(tconv_impl impl);

/* Number of threads num_threads == 0 resolves to. */
TCONV_API int tconv_default_num_threads(void);

typedef struct tconv_op tconv_op;

/* Validates p (as PyTorch's constructor and forward), copies and packs the
 * weight (and bias, which may be NULL) so the caller's arrays may be freed
 * afterwards.  opt may be NULL for defaults.  On success *op is a new
 * operator; on failure *op is untouched. */
TCONV_API tconv_status tconv_conv_transpose2d_create(const tconv_conv_transpose2d_params *p,
                                                     const float *weight, const float *bias,
                                                     const tconv_options *opt, tconv_op **op);

TCONV_API tconv_status tconv_conv2d_create(const tconv_conv2d_params *p, const float *weight,
                                           const float *bias, const tconv_options *opt,
                                           tconv_op **op);

/* Prepares op for inputs of the given logical shape (ndim 3 = unbatched
 * (C,H,W), 4 = (N,C,H,W)).  Writes the output's logical shape (ndim entries)
 * and the bytes of workspace tconv_op_run needs (may be 0).  output_size
 * (ConvTranspose2d only; NULL with len 0 otherwise) requests an output size
 * as forward(input, output_size) does.  May be called again with another
 * shape at any time. */
TCONV_API tconv_status tconv_op_reshape(tconv_op *op, int ndim, const int64_t *input_shape,
                                        const int64_t *output_size, int output_size_len,
                                        int64_t *output_shape, size_t *workspace_bytes);

/* Computes output from input for the shape of the last reshape.  Does not
 * allocate.  workspace must hold the bytes reshape reported (NULL if 0).
 * Every output element is written.  input and output must not overlap. */
TCONV_API tconv_status tconv_op_run(tconv_op *op, const float *input, float *output,
                                    void *workspace);

/* Threads used by later runs (0 = default).  Results are bit-identical for
 * every thread count. */
TCONV_API tconv_status tconv_op_set_num_threads(tconv_op *op, int num_threads);

/* The implementation op actually runs (never AUTO), and a short name of the
 * path chosen at the last reshape (e.g. "reference", "phase-gemm"). */
TCONV_API tconv_impl tconv_op_impl(const tconv_op *op);
TCONV_API const char *tconv_op_path(const tconv_op *op);

/* Frees op; NULL is allowed. */
TCONV_API void tconv_op_destroy(tconv_op *op);

/* ------------------------------------------------------------------------ */
/* One-call convenience (create + reshape + run + destroy)                   */
/* ------------------------------------------------------------------------ */

/* F.conv_transpose2d / ConvTranspose2d.forward.  input has logical shape
 * input_shape (ndim 3 or 4) in NCHW; output receives the result and must hold
 * output_capacity floats (the call fails, writing nothing, if the result is
 * larger; use tconv_conv_transpose2d_output_shape to size it).  output_shape
 * (ndim entries) receives the shape.  output_size as in tconv_op_reshape. */
TCONV_API tconv_status tconv_conv_transpose2d(const tconv_conv_transpose2d_params *p, int ndim,
                                              const int64_t *input_shape, const float *input,
                                              const float *weight, const float *bias,
                                              const int64_t *output_size, int output_size_len,
                                              float *output, int64_t output_capacity,
                                              int64_t *output_shape);

/* F.conv2d / Conv2d.forward, as above. */
TCONV_API tconv_status tconv_conv2d(const tconv_conv2d_params *p, int ndim,
                                    const int64_t *input_shape, const float *input,
                                    const float *weight, const float *bias, float *output,
                                    int64_t output_capacity, int64_t *output_shape);

/* ------------------------------------------------------------------------ */
/* Reference kernels (the oracle every fast path is tested against)          */
/* ------------------------------------------------------------------------ */

/* The direct definition of ConvTranspose2d (gather form, double
 * accumulation, bias added once, every output written once).  NCHW, batched
 * (N, C, H, W) shapes only; output_padding from p.  The same checks as
 * tconv_conv_transpose2d_output_shape; output must hold the product of
 * output_shape. */
TCONV_API tconv_status tconv_reference_conv_transpose2d(const tconv_conv_transpose2d_params *p,
                                                        const int64_t input_shape[4],
                                                        const float *input, const float *weight,
                                                        const float *bias, float *output,
                                                        int64_t output_capacity);

/* The direct definition of Conv2d, every padding kind and mode. */
TCONV_API tconv_status tconv_reference_conv2d(const tconv_conv2d_params *p,
                                              const int64_t input_shape[4], const float *input,
                                              const float *weight, const float *bias,
                                              float *output, int64_t output_capacity);

/* TCONV_NN_SECTION: layers for the seed programs (issue 4) go below. */

#ifdef __cplusplus
}
#endif

#endif /* TCONV_H */
