/*
 * tconv.h -- the whole public API of libtconv.
 *
 * tconv computes PyTorch's nn.ConvTranspose2d and nn.Conv2d in float32 --
 * the forward and both gradients (input; weight and bias) -- with PyTorch's
 * numbers, PyTorch's shape rules and PyTorch's refusals.  tconv_nn.h (also
 * included by this header) adds the layers, losses and weight files that
 * networks around the convolutions need.
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
 *  - Non-finite values (NaN, inf) in an input, weight, bias or grad_output
 *    propagate as in PyTorch's float64 result: the outputs that are NaN or
 *    inf there are NaN or inf here, on every implementation and path.  In
 *    particular conv2d (and conv_transpose2d's data gradient, a
 *    convolution of grad_output) multiplies its zero padding as PyTorch
 *    does, so a non-finite weight makes the outputs whose window reads
 *    padding NaN (0 * inf); conv_transpose2d drops what falls outside its
 *    output without a product; the weight gradients multiply the zero
 *    padding of the padded operand by the other one.
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
 *
 * Passes.  An operator computes one pass of one operator: the forward
 * (tconv_*_create, tconv_op_run), the data gradient
 * (tconv_*_backward_data_create, tconv_op_run_backward_data: grad_input
 * from grad_output and the weight) or the weight gradient
 * (tconv_*_backward_weight_create, tconv_op_run_backward_weight:
 * grad_weight and grad_bias from input and grad_output).  Every pass is
 * reshaped with the FORWARD's input shape, and reports the forward's
 * output shape (= grad_output's).  The one-call tconv_*_backward computes
 * any subset of the three gradients (PyTorch's output_mask).
 *
 * Threads and concurrency (the contract).
 *  - Every function may be called from any thread.  Error messages are per
 *    thread.  Different operators are independent: any calls on distinct
 *    operators may run at the same time.
 *  - One operator may be RUN from several threads at once (tconv_op_run,
 *    tconv_op_run_backward_*), each call with its own workspace and
 *    output: a run reads the operator and writes only its own arguments.
 *  - tconv_op_reshape must not overlap a run of the same operator; when it
 *    does (a run is in flight), it fails with TCONV_ERROR_INVALID_STATE and
 *    changes nothing, and a run that finds a reshape in progress fails the
 *    same way.  tconv_op_set_num_threads may be called at any time (it
 *    affects runs that start later).  tconv_op_destroy waits for runs in
 *    flight to finish; using an operator after destroy is undefined.
 *  - A failed reshape leaves the operator unreshaped: runs fail with
 *    TCONV_ERROR_INVALID_STATE until a reshape succeeds.
 *  - Input, output and workspace of a run must not overlap (checked:
 *    TCONV_ERROR_INVALID_ARGUMENT).
 *  - Threads: a run uses up to num_threads threads (the operator's, else
 *    tconv_get_num_threads()), never more than the cores this process may
 *    run on (tconv_max_num_threads()); the calling thread is one of them.
 *    The library's worker threads are shared by the process, created on
 *    first use and stopped by tconv_shutdown() or when the library is
 *    unloaded; after fork() the child starts a fresh pool on first use.
 *    Results are bit-identical for every thread count.
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
    int num_threads;     /* 0 = default (tconv_get_num_threads()); 1 = the calling thread only */
    tconv_layout layout; /* memory layout of input and output */
    tconv_impl impl;
    /* Backward passes: 0 = overwrite grad_input / grad_weight / grad_bias,
     * 1 = add into them (as PyTorch's .grad accumulates).  The forward
     * ignores it. */
    int accumulate;
} tconv_options;

/* Defaults: num_threads 0, NCHW, AUTO, accumulate 0. */
TCONV_API void tconv_options_init(tconv_options *opt);

/* The best implementation this CPU and build support (never AUTO). */
TCONV_API tconv_impl tconv_best_impl(void);

/* 1 if impl can run here, else 0. */
TCONV_API int tconv_impl_available(tconv_impl impl);

/* "auto", "reference", "portable", "avx2", "avx512". */
TCONV_API const char *tconv_impl_name(tconv_impl impl);

/* The process-wide thread count that num_threads == 0 means (as
 * torch.set_num_threads): n >= 1 sets it, 0 returns to the default, which
 * is the environment variable TCONV_NUM_THREADS if set (read once), else
 * the cores this process may run on.  Values above tconv_max_num_threads()
 * are capped when used.  Fails only for n < 0. */
TCONV_API tconv_status tconv_set_num_threads(int num_threads);
/* The process-wide count as set (tconv_set_num_threads, else
 * TCONV_NUM_THREADS, else the cores), as torch.get_num_threads; runs use
 * at most tconv_max_num_threads() of them. */
TCONV_API int tconv_get_num_threads(void);
/* The count a run with num_threads == 0 uses now: tconv_get_num_threads()
 * capped at tconv_max_num_threads(). */
TCONV_API int tconv_default_num_threads(void);
/* The most threads a run uses: the cores this process may run on (its CPU
 * affinity when first asked), at most 256. */
TCONV_API int tconv_max_num_threads(void);

/* Stops and joins the library's worker threads (they restart on the next
 * multi-threaded run).  Call it with no run in flight, e.g. before
 * unloading the library by hand; it is also done when the library is
 * unloaded or the process exits. */
TCONV_API void tconv_shutdown(void);

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

/* Which computation an operator performs. */
typedef enum tconv_pass {
    TCONV_PASS_FORWARD = 0,         /* output from input (and weight, bias) */
    TCONV_PASS_BACKWARD_DATA = 1,   /* grad_input from grad_output (and weight) */
    TCONV_PASS_BACKWARD_WEIGHT = 2  /* grad_weight, grad_bias from input and grad_output */
} tconv_pass;

/* The data gradient of conv_transpose2d / conv2d with these parameters:
 * grad_input = d(output)/d(input)^T grad_output, for the weight given
 * (copied and packed, as at forward create).  For conv_transpose2d this is
 * conv2d's forward with the same weight; for conv2d, conv_transpose2d's
 * (and a padding mode's gradient folded back onto the input). */
TCONV_API tconv_status tconv_conv_transpose2d_backward_data_create(
    const tconv_conv_transpose2d_params *p, const float *weight, const tconv_options *opt,
    tconv_op **op);
TCONV_API tconv_status tconv_conv2d_backward_data_create(const tconv_conv2d_params *p,
                                                         const float *weight,
                                                         const tconv_options *opt,
                                                         tconv_op **op);

/* The weight gradient: grad_weight (the weight's shape) and grad_bias
 * (out_channels) from input and grad_output; needs no weight. */
TCONV_API tconv_status tconv_conv_transpose2d_backward_weight_create(
    const tconv_conv_transpose2d_params *p, const tconv_options *opt, tconv_op **op);
TCONV_API tconv_status tconv_conv2d_backward_weight_create(const tconv_conv2d_params *p,
                                                           const tconv_options *opt,
                                                           tconv_op **op);

/* Prepares op for forward inputs of the given logical shape (ndim 3 =
 * unbatched (C,H,W), 4 = (N,C,H,W)), whatever its pass.  Writes the
 * forward output's logical shape (ndim entries; for the backward passes,
 * grad_output's shape) and the bytes of workspace a run needs (may be 0).
 * output_size (ConvTranspose2d only; NULL with len 0 otherwise) requests an
 * output size as forward(input, output_size) does.  May be called again
 * with another shape (not while a run of op is in flight). */
TCONV_API tconv_status tconv_op_reshape(tconv_op *op, int ndim, const int64_t *input_shape,
                                        const int64_t *output_size, int output_size_len,
                                        int64_t *output_shape, size_t *workspace_bytes);

/* Forward operators: computes output from input for the shape of the last
 * reshape.  Does not allocate.  workspace must hold the bytes reshape
 * reported (NULL if 0).  Every output element is written.  input, output
 * and workspace must not overlap. */
TCONV_API tconv_status tconv_op_run(tconv_op *op, const float *input, float *output,
                                    void *workspace);

/* Backward-data operators: grad_input (the input's shape) from grad_output
 * (the forward output's shape), overwritten, or added to with
 * opt.accumulate.  Every element of grad_input is written. */
TCONV_API tconv_status tconv_op_run_backward_data(tconv_op *op, const float *grad_output,
                                                  float *grad_input, void *workspace);

/* Backward-weight operators: grad_weight (the weight's shape, PyTorch's
 * layout) and grad_bias (out_channels) from input and grad_output,
 * overwritten or, with opt.accumulate, added to.  Either may be NULL (not
 * computed: PyTorch's output_mask); both NULL is allowed and does nothing.
 * With a zero batch the gradients are zeros.  The result is bit-identical
 * for every thread count. */
TCONV_API tconv_status tconv_op_run_backward_weight(tconv_op *op, const float *input,
                                                    const float *grad_output,
                                                    float *grad_weight, float *grad_bias,
                                                    void *workspace);

/* The pass an operator computes. */
TCONV_API tconv_pass tconv_op_pass(const tconv_op *op);

/* Threads used by later runs (0 = default).  Results are bit-identical for
 * every thread count. */
TCONV_API tconv_status tconv_op_set_num_threads(tconv_op *op, int num_threads);

/* An activation applied to a forward operator's output as it is stored:
 * y = f(conv(x) + bias), the layers nn.ReLU, nn.LeakyReLU(alpha), nn.Tanh
 * and nn.Sigmoid fused into the convolution (no second pass over y).  The
 * values are those of tconv_relu / tconv_leaky_relu / tconv_tanh /
 * tconv_sigmoid applied afterwards. */
typedef enum tconv_activation {
    TCONV_ACTIVATION_NONE = 0,
    TCONV_ACTIVATION_RELU = 1,
    TCONV_ACTIVATION_LEAKY_RELU = 2, /* negative slope alpha */
    TCONV_ACTIVATION_TANH = 3,
    TCONV_ACTIVATION_SIGMOID = 4
} tconv_activation;

/* Sets the activation of later runs of a forward operator (like
 * set_num_threads, not while a run is in flight: then
 * TCONV_ERROR_INVALID_STATE).  alpha is used by LEAKY_RELU only and must
 * be finite.  Backward operators refuse it. */
TCONV_API tconv_status tconv_op_set_activation(tconv_op *op, tconv_activation activation,
                                               float alpha);

/* The implementation op runs (never AUTO): the one asked for, or for AUTO
 * the best available.  Every pass runs on the same fast kernels: conv2d as
 * the equivalent stride-1 transposed convolution (kernel flipped, channels
 * swapped; a strided or reflect / replicate / circular-padded input read as
 * the phase images of the padded input, made in the workspace), each data
 * gradient as the other operator's forward, the weight gradients on their
 * own kernels.  tconv_op_path names the routine the last reshape chose
 * ("phase", "phase-sw2", "phase-cil" (channels in lanes: small phases
 * with many channels, one NHWC image whose phases of up to 256 pixels
 * lose taps to the padding, and NHWC layers with one tap per phase, as a
 * kernel equal to the stride or 1x1), or "phase-cil-wide" for its tiles of
 * more channels and fewer pixels, taken by batches and by one image whose
 * phases of 32 to 64 pixels lose taps to the padding; "winograd" for a
 * 3x3 stride-1 layer
 * (Winograd's F(2x2, 3x3): NCHW, one group, 16 or more channels each
 * side, zero padding of at most 2, finite weights; an image holding an
 * inf or NaN is computed directly); "gemm-1x1" for a 1x1 input and
 * "gemm-window" for a layer whose one output pixel reads its whole input,
 * as a k x k convolution of a k x k image; "wgrad", or "wgrad-dot" for the
 * weight gradient of a thin NCHW layer: at most four input channels per
 * group (conv2d) or output channels per group (conv_transpose2d); and
 * "reference" where a geometry falls back to it: an empty output, a stride
 * beyond the output, a padding mode's pad beyond the input), or "none"
 * before the first reshape. */
TCONV_API tconv_impl tconv_op_impl(const tconv_op *op);
TCONV_API const char *tconv_op_path(const tconv_op *op);

/* New values for a forward or backward-data operator's weight (and a
 * forward operator's bias): the same shapes as at create; bias must be
 * given exactly when the operator was created with one (backward-data
 * operators: NULL).  The packed weights are rewritten in place: no
 * allocation (except a list of the taps holding non-finite values when
 * the weights have some), the last reshape stays valid.  Like reshape, not
 * while a run is in flight (TCONV_ERROR_INVALID_STATE).  Backward-weight
 * operators have no weights: TCONV_ERROR_INVALID_ARGUMENT. */
TCONV_API tconv_status tconv_op_set_weights(tconv_op *op, const float *weight, const float *bias);

/* Frees op (after any run in flight has finished); NULL is allowed. */
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

/* The gradients of F.conv_transpose2d (PyTorch's convolution_backward):
 * given the forward's input (input_shape, ndim 3 or 4, NCHW), weight and
 * grad_output (grad_output_shape, ndim entries, which must equal the
 * forward's output shape for these parameters and output_size: a mismatch
 * fails naming both shapes), computes those of grad_input (input_shape),
 * grad_weight (the weight's shape) and grad_bias (out_channels) whose
 * output_mask entry is non-zero (output_mask NULL: all three); the others
 * may be NULL and are not touched.  The results overwrite their buffers.
 * input is needed only for grad_weight, weight only for grad_input. */
TCONV_API tconv_status tconv_conv_transpose2d_backward(
    const tconv_conv_transpose2d_params *p, int ndim, const int64_t *input_shape,
    const float *input, const float *weight, const int64_t *output_size, int output_size_len,
    const int64_t *grad_output_shape, const float *grad_output, const int output_mask[3],
    float *grad_input, float *grad_weight, float *grad_bias);

/* The gradients of F.conv2d / Conv2d.forward (padding modes included), as above. */
TCONV_API tconv_status tconv_conv2d_backward(const tconv_conv2d_params *p, int ndim,
                                             const int64_t *input_shape, const float *input,
                                             const float *weight,
                                             const int64_t *grad_output_shape,
                                             const float *grad_output, const int output_mask[3],
                                             float *grad_input, float *grad_weight,
                                             float *grad_bias);

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

#ifdef __cplusplus
}
#endif

/* The layers, modules and weight files (tconv_nn.h) come with this header. */
#include "tconv_nn.h"

#endif /* TCONV_H */
