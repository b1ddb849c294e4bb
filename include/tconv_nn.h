/*
 * tconv_nn.h -- the layers, modules and weight files of libtconv, for
 * networks built around its convolutions (included by tconv.h; see there
 * for the conventions and the concurrency contract).  Losses and
 * optimizers are in tconv_train.h, which this header includes at its end.
 *
 * The layers that PyTorch's DCGAN generators and U-Net decoders need,
 * forward and backward, with PyTorch's semantics and refusals: dense
 * float32 NCHW tensors, int64 shapes, every size checked for overflow, a
 * tconv_status from every call that can fail (message in
 * tconv_last_error()), nothing written on failure.  Unless said otherwise
 * an output may alias its input exactly (in place) but must not overlap it
 * partially.
 *
 * Training, the llm.c way: each layer's x_forward has an x_backward beside
 * it taking dy (grad_output) and giving dx (grad_input, OVERWRITTEN);
 * modules' parameter gradients ACCUMULATE into their .grad arrays
 * (weight_grad, bias_grad), as PyTorch's .grad; the caller chains the
 * calls in reverse and steps an optimizer.  Stateless functions (the
 * activations, pooling, cat, losses) may be called from any thread at once;
 * a module, an optimizer or a safetensors writer must not be used from two
 * threads at once (distinct ones may).  Element-wise layers, BatchNorm2d
 * and MaxPool2d split large tensors over the process-wide thread count
 * (tconv_set_num_threads); their results never depend on it.
 */
#ifndef TCONV_NN_H
#define TCONV_NN_H

#include "tconv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Seedable random numbers (for default initialisation and noise)           */
/* ------------------------------------------------------------------------ */

/* SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter passed through a
 * bijective mixer.  Small, fast, good enough for initialisation and noise,
 * identical on every platform.  Not cryptographic, and not PyTorch's stream
 * (so tconv-initialised weights equal PyTorch's in distribution, not value). */
typedef struct tconv_rng {
    uint64_t state;
} tconv_rng;

/* Starts the stream for a seed (any value); rng NULL does nothing. */
TCONV_API void tconv_rng_init(tconv_rng *rng, uint64_t seed);
/* The next 64 random bits. */
TCONV_API uint64_t tconv_rng_next_u64(tconv_rng *rng);
/* Uniform in [0, 1), 53 random bits. */
TCONV_API double tconv_rng_uniform(tconv_rng *rng);
/* Standard normal N(0, 1) (Box-Muller, two uniforms per value). */
TCONV_API double tconv_rng_normal(tconv_rng *rng);
/* Fills x[0..n) with N(0, 1) samples (as torch.randn); n >= 0. */
TCONV_API tconv_status tconv_rng_fill_normal(tconv_rng *rng, float *x, int64_t n);
/* Fills x[0..n) with U(lo, hi) samples (as torch.nn.init.uniform_). */
TCONV_API tconv_status tconv_rng_fill_uniform(tconv_rng *rng, float *x, int64_t n, double lo,
                                              double hi);

/* ------------------------------------------------------------------------ */
/* Shapes: view/reshape and concatenation                                    */
/* ------------------------------------------------------------------------ */

/* Tensors here are contiguous, so Tensor.view / reshape only change the
 * shape: this computes it.  new_shape has new_ndim entries (1..TCONV_MAX_DIMS
 * ... 0 for a scalar), at most one of them -1 (inferred), the others >= 0.
 * Fails as PyTorch does: "only one dimension can be inferred", "invalid shape
 * dimension -2", "shape '[4, -1]' is invalid for input of size 6", and the
 * ambiguous -1 with 0 elements.  out_shape receives new_ndim entries. */
#define TCONV_MAX_DIMS 16
TCONV_API tconv_status tconv_view_shape(int ndim, const int64_t *shape, int new_ndim,
                                        const int64_t *new_shape, int64_t *out_shape);

/* torch.cat(tensors, dim): count >= 1 contiguous tensors, all of rank ndim
 * (1..TCONV_MAX_DIMS), equal in every dimension except dim (negative dim
 * counts from the end, as PyTorch).  shapes[i] has ndim entries, xs[i] the
 * data.  output (capacity output_capacity floats) receives the result and
 * output_shape its shape.  The seeds' skip connection is dim = 1 (channels). */
TCONV_API tconv_status tconv_cat(int count, const float *const *xs,
                                 const int64_t *const *shapes, int ndim, int dim,
                                 float *output, int64_t output_capacity,
                                 int64_t *output_shape);

/* torch.cat's backward: grad_output has the concatenation's shape; each
 * grad_inputs[i] (shapes[i]; NULL: not needed) is overwritten with the
 * slice of grad_output that tensor i filled.  The same checks and messages
 * as tconv_cat.  (A view's backward needs no call: its gradient is
 * grad_output itself, read with the input's shape.) */
TCONV_API tconv_status tconv_cat_backward(int count, const int64_t *const *shapes, int ndim,
                                          int dim, const float *grad_output,
                                          float *const *grad_inputs);

/* ------------------------------------------------------------------------ */
/* Element-wise activations (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)     */
/* ------------------------------------------------------------------------ */
/*
 * Forward: y[i] = f(x[i]) for i in [0, n); y may equal x (inplace=True) but
 * must not overlap it otherwise.  Backward: dx[i] = dy[i] * f'(...) from the
 * tensor the forward saved (its output y, or for LeakyReLU its input x);
 * dx overwrites (an input gradient) and may equal dy.  Fail only for n < 0,
 * a NULL pointer with n > 0, or partial overlap.
 *
 * All run on vector kernels for the CPU's ISA (AVX-512, AVX2, portable; the
 * same bits on each) and on several threads for large n (the process-wide
 * count, tconv_set_num_threads); every result is the same for every thread
 * count.  NaN in gives NaN out, as PyTorch.  Accuracy in float32 ulps
 * against the exact function, measured over all 2^32 float32 inputs
 * (tests/test_nn_math.c): tanh <= 1.5 ulp (max seen 1.33), sigmoid
 * <= 2.5 ulp (max seen 2.40; subnormal results down to x = -103.9), the exp
 * inside them <= 1.0 ulp (0.99).  ReLU and LeakyReLU are exact.
 */

/* nn.ReLU: x < 0 ? 0 : x (NaN passes). */
TCONV_API tconv_status tconv_relu(const float *x, float *y, int64_t n);
/* ReLU's gradient from its output y (or input x: same sign): dx = y <= 0 ? 0
 * : dy, as PyTorch's threshold_backward (a NaN y passes dy). */
TCONV_API tconv_status tconv_relu_backward(const float *y, const float *dy, float *dx, int64_t n);

/* nn.LeakyReLU: x > 0 ? x : negative_slope * x (default slope 0.01). */
TCONV_API tconv_status tconv_leaky_relu(const float *x, float *y, int64_t n,
                                        float negative_slope);
/* From the forward's INPUT x: dx = x > 0 ? dy : dy * negative_slope. */
TCONV_API tconv_status tconv_leaky_relu_backward(const float *x, const float *dy, float *dx,
                                                 int64_t n, float negative_slope);

/* nn.Tanh. */
TCONV_API tconv_status tconv_tanh(const float *x, float *y, int64_t n);
/* From the forward's output y: dx = dy * (1 - y*y). */
TCONV_API tconv_status tconv_tanh_backward(const float *y, const float *dy, float *dx, int64_t n);

/* nn.Sigmoid: 1 / (1 + exp(-x)). */
TCONV_API tconv_status tconv_sigmoid(const float *x, float *y, int64_t n);
/* From the forward's output y: dx = dy * (1 - y) * y (in that order). */
TCONV_API tconv_status tconv_sigmoid_backward(const float *y, const float *dy, float *dx,
                                              int64_t n);

/* ------------------------------------------------------------------------ */
/* nn.MaxPool2d                                                              */
/* ------------------------------------------------------------------------ */

typedef struct tconv_maxpool2d_params {
    int64_t kernel_size[2];
    int64_t stride[2]; /* PyTorch's default stride is the kernel size */
    int64_t padding[2];
    int64_t dilation[2];
    int ceil_mode; /* 0 = floor (default), 1 = ceil */
} tconv_maxpool2d_params;

/* kernel (kh, kw), stride = kernel, padding 0, dilation 1, floor mode.
 * p NULL does nothing. */
TCONV_API void tconv_maxpool2d_params_init(tconv_maxpool2d_params *p, int64_t kernel_h,
                                           int64_t kernel_w);

/* Output shape for an input (C, H, W) or (N, C, H, W), PyTorch's rule per dim:
 *   out = floor((in + 2*pad - dilation*(k-1) - 1 + (ceil_mode ? stride-1 : 0)) / stride) + 1
 * and, in ceil mode, one less if the last window would start in the right
 * padding ((out-1)*stride >= in + pad).  PyTorch's refusals: non-positive
 * kernel/stride/dilation, negative padding, padding > kernel/2, an empty
 * C/H/W (zero batch is allowed), rank other than 3/4, output size < 1. */
TCONV_API tconv_status tconv_maxpool2d_output_shape(const tconv_maxpool2d_params *p, int ndim,
                                                    const int64_t *input_shape,
                                                    int64_t *output_shape);

/* F.max_pool2d: padded positions never win (implicit -inf); NaN propagates.
 * output (capacity output_capacity floats) must not overlap input;
 * output_shape (ndim entries, may be NULL) receives the shape.  The work is
 * bounded by the input: window parts that never touch it cost nothing.
 * Threads split the output rows of large tensors. */
TCONV_API tconv_status tconv_maxpool2d(const tconv_maxpool2d_params *p, int ndim,
                                       const int64_t *input_shape, const float *input,
                                       float *output, int64_t output_capacity,
                                       int64_t *output_shape);

/* F.max_pool2d(..., return_indices=True): as tconv_maxpool2d, and indices
 * (the output's shape, int64; may be NULL) receives for each output the
 * flat index of its maximum in the input's H*W plane, with PyTorch's rules:
 * the first of equal maxima in window order (rows, then columns) wins, a
 * NaN always wins (the last NaN of the window), and a window whose values
 * are all -inf gets its first in-range position. */
TCONV_API tconv_status tconv_maxpool2d_with_indices(const tconv_maxpool2d_params *p, int ndim,
                                                    const int64_t *input_shape,
                                                    const float *input, float *output,
                                                    int64_t *indices, int64_t output_capacity,
                                                    int64_t *output_shape);

/* The gradient of tconv_maxpool2d_with_indices: grad_input (input_shape,
 * capacity grad_input_capacity floats) is overwritten with zeros plus, for
 * each output element, grad_output at its index (summed where windows
 * share a maximum), as max_pool2d_with_indices_backward.  indices and
 * grad_output have the forward output's shape for p and input_shape; every
 * index must lie in [0, H*W) (checked before anything is written).
 * grad_input must not overlap the other arrays. */
TCONV_API tconv_status tconv_maxpool2d_backward(const tconv_maxpool2d_params *p, int ndim,
                                                const int64_t *input_shape,
                                                const int64_t *indices,
                                                const float *grad_output, float *grad_input,
                                                int64_t grad_input_capacity);

/* ------------------------------------------------------------------------ */
/* Modules with parameters: Linear, BatchNorm2d, ConvTranspose2d, Conv2d     */
/* ------------------------------------------------------------------------ */
/*
 * Each module is a plain struct whose parameter arrays the library allocates
 * (*_init) and frees (*_free); the arrays are the module's state_dict tensors
 * in PyTorch's shapes, and the caller may read or overwrite them at will
 * (e.g. with tconv_*_load from a safetensors file, below).  *_init fills them
 * with PyTorch's default initialisation drawn from rng; rng NULL gives zeros
 * (for weights about to be loaded).  PyTorch's default for Linear, Conv2d and
 * ConvTranspose2d is kaiming_uniform_(a=sqrt(5)), i.e.
 *     weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),  bias ~ U(same bound)
 * with fan_in = weight.size(1) * (receptive field size):
 *     Linear          in_features
 *     Conv2d          (in_channels/groups) * kH * kW
 *     ConvTranspose2d (out_channels/groups) * kH * kW   (weight is (Cin, Cout/g, kH, kW))
 * Bias bound is 0 when fan_in is 0.  *_free on a zeroed or freed struct is a
 * no-op; *_init on a live module leaks it (free it first).
 *
 * Packed operators.  Linear, ConvTranspose2d and Conv2d run on the library's
 * operators (Linear as a 1x1 Conv2d on (rows, in_features, 1, 1): the
 * threaded, register-blocked GEMM path).  A module creates each operator
 * once, at its first forward / backward, keeps it, its reshape and its
 * workspace in the private `cache`, and reshapes only when the input shape
 * changes: a forward then costs one tconv_op_run, and a forward + backward
 * of the same shapes allocates nothing after the first.  The packed
 * operators hold a COPY of the weights, so after the weights change they
 * must be packed again (at the next forward or backward; in place, without
 * allocating, when only their values changed):
 *  - every library function that writes a module's parameters does it
 *    (tconv_*_load, *_init, the optimizers' step);
 *  - after writing m->weight or m->bias IN PLACE yourself, call the
 *    module's tconv_*_weights_changed(m) before the next forward;
 *  - replacing the m->weight / m->bias pointers, or editing m->p, is seen
 *    by itself.
 * Setting TCONV_CHECK_WEIGHTS=1 in the environment makes every forward and
 * backward verify a checksum of the weights and fail with
 * TCONV_ERROR_INVALID_STATE where a weights_changed call is missing (a
 * debugging aid; it reads all the weights at each call).  A module struct
 * filled by hand (cache NULL) still works, through the one-call functions.
 *
 * Gradients (training).  Each module has `weight_grad` / `bias_grad`
 * arrays of the parameters' shapes, PyTorch's .grad: NULL until the first
 * backward (or *_parameters) allocates them zeroed; every backward ADDS the
 * parameter gradients into them (as .grad accumulates) and *_zero_grad (or
 * tconv_optimizer_zero_grad) sets them to zero.  The input gradient dx of a
 * backward is OVERWRITTEN (it may be NULL when not needed, e.g. for the
 * first layer).  Naming: x input, y output, dy = grad_output, dx =
 * grad_input; a backward takes the forward's input shape and, where the
 * gradient needs it, its input x (keep it: do not run a forward in place
 * on a tensor its backward needs).
 *
 * Concurrency: a module is like an operator that is reshaped as it runs:
 * one module must not be used from two threads at once (its forward
 * updates its cache even though the conv/Linear forward takes a const
 * pointer), but distinct modules may be used concurrently.
 */

typedef struct tconv_nn_cache tconv_nn_cache; /* private */

/* nn.Linear(in_features, out_features, bias): y = x W^T + b. */
typedef struct tconv_linear {
    int64_t in_features, out_features;
    float *weight; /* (out_features, in_features) */
    float *bias;   /* (out_features), or NULL for bias=False */
    float *weight_grad; /* .grad of weight (same shape), NULL until needed */
    float *bias_grad;   /* .grad of bias, NULL until needed (or without bias) */
    tconv_nn_cache *cache; /* private: packed operators, workspace */
} tconv_linear;

TCONV_API tconv_status tconv_linear_init(tconv_linear *m, int64_t in_features,
                                         int64_t out_features, int bias, tconv_rng *rng);
TCONV_API void tconv_linear_free(tconv_linear *m);
/* input (..., in_features), ndim >= 1 -> output (..., out_features).  A last
 * dimension other than in_features fails with PyTorch's "mat1 and mat2
 * shapes cannot be multiplied (AxB and CxD)".  float32 accumulation on the
 * GEMM kernels (sums of in_features products in a fixed order: the result
 * does not depend on the thread count).  output must not overlap input. */
TCONV_API tconv_status tconv_linear_forward(const tconv_linear *m, int ndim,
                                            const int64_t *input_shape, const float *input,
                                            float *output, int64_t output_capacity,
                                            int64_t *output_shape);
/* Backward of tconv_linear_forward for the same input shape:
 *   dx (input_shape) = dy W                (overwritten; may be NULL)
 *   weight_grad     += dy^T x              (summed over all leading dims)
 *   bias_grad       += sum of dy over rows
 * dy: (..., out_features); x may be NULL only when in_features or the rows
 * are 0.  dx must not overlap dy or x. */
TCONV_API tconv_status tconv_linear_backward(tconv_linear *m, int ndim,
                                             const int64_t *input_shape, const float *input,
                                             const float *grad_output, float *grad_input);
/* Marks the packed weights stale after m->weight / m->bias were written in
 * place (see "Packed operators").  m NULL does nothing. */
TCONV_API void tconv_linear_weights_changed(tconv_linear *m);
/* .grad arrays set to zero (those allocated). */
TCONV_API void tconv_linear_zero_grad(tconv_linear *m);

/* nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True,
 * track_running_stats=True).  A new module is in training mode, as a new
 * PyTorch module is:
 *  - training = 1: normalise with the batch's mean and biased variance over
 *    (N, H, W), then update running_mean/var with momentum:
 *      running = (1 - momentum) * running + momentum * batch_stat
 *    using the UNBIASED variance (times n/(n-1)) for running_var, and
 *    num_batches_tracked += 1.  One value per channel (N*H*W == 1) is refused
 *    ("Expected more than 1 value per channel when training"); a zero batch
 *    gives an empty output and leaves the running stats alone.
 *  - training = 0 (module.eval()): normalise with running_mean/running_var.
 * y = (x - mean) / sqrt(var + eps) * weight + bias.  weight/bias NULL means
 * affine=False.  Statistics are summed in double; channels are split over
 * threads (results independent of the thread count). */
typedef struct tconv_batchnorm2d {
    int64_t num_features;
    double eps;      /* 1e-5 */
    double momentum; /* 0.1; -1 = momentum=None: cumulative average (1/num_batches_tracked) */
    int training;    /* 1 after init (PyTorch's default); 0 = eval */
    float *weight;   /* (C) gamma, init 1 */
    float *bias;     /* (C) beta, init 0 */
    float *running_mean; /* (C) init 0 */
    float *running_var;  /* (C) init 1 */
    int64_t num_batches_tracked;
    float *weight_grad;  /* .grad of weight / bias, NULL until needed */
    float *bias_grad;
    tconv_nn_cache *cache; /* private: the statistics the backward needs */
} tconv_batchnorm2d;

TCONV_API tconv_status tconv_batchnorm2d_init(tconv_batchnorm2d *m, int64_t num_features);
TCONV_API void tconv_batchnorm2d_free(tconv_batchnorm2d *m);
/* input (N, C, H, W) (4-D only, as PyTorch: "expected 4D input (got 3D
 * input)"); output has the same shape and may equal input (but the
 * backward needs the input: see tconv_batchnorm2d_backward). */
TCONV_API tconv_status tconv_batchnorm2d_forward(tconv_batchnorm2d *m, int ndim,
                                                 const int64_t *input_shape, const float *input,
                                                 float *output);
/* Backward of the LAST forward (same input shape and the same input x),
 * in the mode that forward ran in, with PyTorch's formulas:
 *  training: with the batch mean and invstd = 1/sqrt(var + eps) that
 *    forward saved, xhat = (x - mean) * invstd, over (N, H, W) per channel:
 *      bias_grad   += sum dy
 *      weight_grad += sum dy * xhat
 *      dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
 *  eval: with the running statistics, dx = dy * weight * invstd, the
 *    parameter gradients as above.
 * dx (input shape) is overwritten, may be NULL, may equal dy, must not
 * overlap x.  Fails with TCONV_ERROR_INVALID_STATE before any forward or
 * for another shape than the last forward's. */
TCONV_API tconv_status tconv_batchnorm2d_backward(tconv_batchnorm2d *m, int ndim,
                                                  const int64_t *input_shape,
                                                  const float *input,
                                                  const float *grad_output,
                                                  float *grad_input);
TCONV_API void tconv_batchnorm2d_zero_grad(tconv_batchnorm2d *m);

/* nn.ConvTranspose2d as a module: parameters + owned weight and bias, run
 * through its packed operators (see "Packed operators"). */
typedef struct tconv_conv_transpose2d_module {
    tconv_conv_transpose2d_params p;
    float *weight; /* (in_channels, out_channels/groups, kH, kW) */
    float *bias;   /* (out_channels) or NULL */
    float *weight_grad; /* .grad of weight / bias, NULL until needed */
    float *bias_grad;
    tconv_nn_cache *cache; /* private */
} tconv_conv_transpose2d_module;

/* Checks p as the constructor does, allocates and initialises. */
TCONV_API tconv_status tconv_conv_transpose2d_module_init(tconv_conv_transpose2d_module *m,
                                                          const tconv_conv_transpose2d_params *p,
                                                          int bias, tconv_rng *rng);
TCONV_API void tconv_conv_transpose2d_module_free(tconv_conv_transpose2d_module *m);
/* forward(input, output_size) as tconv_conv_transpose2d (output_size may be
 * NULL with len 0): the same checks, messages and results. */
TCONV_API tconv_status tconv_conv_transpose2d_module_forward(
    const tconv_conv_transpose2d_module *m, int ndim, const int64_t *input_shape,
    const float *input, const int64_t *output_size, int output_size_len, float *output,
    int64_t output_capacity, int64_t *output_shape);
/* Backward of the forward with this input shape (and output_size):
 * dy has the forward output's shape;
 *   dx (input_shape, overwritten; may be NULL)   = the data gradient
 *   weight_grad += dw, bias_grad += db            (from x and dy)
 * through the library's backward-data and backward-weight operators (kept
 * in the cache like the forward's).  dx must not overlap dy or x. */
TCONV_API tconv_status tconv_conv_transpose2d_module_backward(
    tconv_conv_transpose2d_module *m, int ndim, const int64_t *input_shape, const float *input,
    const int64_t *output_size, int output_size_len, const float *grad_output,
    float *grad_input);
/* The input gradient alone: dx (input_shape, overwritten; not NULL) as the
 * backward above computes it, with .grad left alone and the weight
 * gradient not computed -- what autograd does for a module whose
 * parameters have requires_grad=False (a GAN's discriminator while its
 * generator trains).  The forward's input is not needed. */
TCONV_API tconv_status tconv_conv_transpose2d_module_backward_input(
    tconv_conv_transpose2d_module *m, int ndim, const int64_t *input_shape,
    const int64_t *output_size, int output_size_len, const float *grad_output,
    float *grad_input);
TCONV_API void tconv_conv_transpose2d_module_weights_changed(tconv_conv_transpose2d_module *m);
TCONV_API void tconv_conv_transpose2d_module_zero_grad(tconv_conv_transpose2d_module *m);

/* nn.Conv2d as a module, the same way. */
typedef struct tconv_conv2d_module {
    tconv_conv2d_params p;
    float *weight; /* (out_channels, in_channels/groups, kH, kW) */
    float *bias;   /* (out_channels) or NULL */
    float *weight_grad; /* .grad of weight / bias, NULL until needed */
    float *bias_grad;
    tconv_nn_cache *cache; /* private */
} tconv_conv2d_module;

TCONV_API tconv_status tconv_conv2d_module_init(tconv_conv2d_module *m,
                                                const tconv_conv2d_params *p, int bias,
                                                tconv_rng *rng);
TCONV_API void tconv_conv2d_module_free(tconv_conv2d_module *m);
TCONV_API tconv_status tconv_conv2d_module_forward(const tconv_conv2d_module *m, int ndim,
                                                   const int64_t *input_shape,
                                                   const float *input, float *output,
                                                   int64_t output_capacity,
                                                   int64_t *output_shape);
TCONV_API tconv_status tconv_conv2d_module_backward(tconv_conv2d_module *m, int ndim,
                                                    const int64_t *input_shape,
                                                    const float *input,
                                                    const float *grad_output,
                                                    float *grad_input);
/* dx alone, as tconv_conv_transpose2d_module_backward_input. */
TCONV_API tconv_status tconv_conv2d_module_backward_input(tconv_conv2d_module *m, int ndim,
                                                          const int64_t *input_shape,
                                                          const float *grad_output,
                                                          float *grad_input);
TCONV_API void tconv_conv2d_module_weights_changed(tconv_conv2d_module *m);
TCONV_API void tconv_conv2d_module_zero_grad(tconv_conv2d_module *m);

/* ------------------------------------------------------------------------ */
/* Sequential networks, fused for inference                                  */
/* ------------------------------------------------------------------------ */
/*
 * nn.Sequential for a forward pass: layers run in order with two activation
 * buffers and one workspace allocated once per input shape.  With fusion on
 * (the default) it does what the peers do: an eval-mode BatchNorm2d
 * (training == 0, running statistics present) right after a
 * ConvTranspose2d / Conv2d is folded into its weights and bias, and an
 * activation right after the convolution (or the folded BatchNorm) runs in
 * the convolution's store; the fused result agrees with the layers run one
 * by one within float rounding of the folded weights.  Modules are
 * borrowed: the caller keeps and frees them, and after changing any
 * module's weights or BatchNorm statistics calls
 * tconv_sequential_weights_changed (the folded weights are made again, in
 * place).  A BatchNorm2d in training mode is run as a layer (batch
 * statistics, running statistics updated).  One sequential must not be used
 * from two threads at once.
 */
typedef struct tconv_sequential tconv_sequential;

TCONV_API tconv_status tconv_sequential_create(tconv_sequential **seq);
/* NULL is allowed. */
TCONV_API void tconv_sequential_destroy(tconv_sequential *seq);
/* Appends a layer; the modules must outlive the sequential. */
TCONV_API tconv_status tconv_sequential_add_linear(tconv_sequential *seq, tconv_linear *m);
TCONV_API tconv_status tconv_sequential_add_conv_transpose2d(tconv_sequential *seq,
                                                             tconv_conv_transpose2d_module *m);
TCONV_API tconv_status tconv_sequential_add_conv2d(tconv_sequential *seq, tconv_conv2d_module *m);
TCONV_API tconv_status tconv_sequential_add_batchnorm2d(tconv_sequential *seq,
                                                        tconv_batchnorm2d *m);
/* nn.ReLU, nn.LeakyReLU(alpha), nn.Tanh, nn.Sigmoid (tconv_activation of tconv.h). */
TCONV_API tconv_status tconv_sequential_add_activation(tconv_sequential *seq,
                                                       tconv_activation activation, float alpha);
TCONV_API tconv_status tconv_sequential_add_maxpool2d(tconv_sequential *seq,
                                                      const tconv_maxpool2d_params *p);
/* Tensor.view(shape): ndim entries, one may be -1 (tconv_view_shape). */
TCONV_API tconv_status tconv_sequential_add_view(tconv_sequential *seq, int ndim,
                                                 const int64_t *shape);
/* fuse 1 (default) or 0 (every layer on its own, through its module). */
TCONV_API tconv_status tconv_sequential_set_fusion(tconv_sequential *seq, int fuse);
TCONV_API tconv_status tconv_sequential_weights_changed(tconv_sequential *seq);
/* Runs the layers on input (input_shape, ndim entries) into output
 * (capacity floats); *output_ndim and output_shape (up to TCONV_MAX_DIMS
 * entries) receive the result's shape.  input and output must not overlap. */
TCONV_API tconv_status tconv_sequential_forward(tconv_sequential *seq, int ndim,
                                                const int64_t *input_shape, const float *input,
                                                float *output, int64_t output_capacity,
                                                int *output_ndim, int64_t *output_shape);

/* ------------------------------------------------------------------------ */
/* Safetensors: weights as safetensors.torch.save_file writes them           */
/* ------------------------------------------------------------------------ */
/*
 * File layout: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]},
 *    ..., "__metadata__": {"key": "value", ...}}   (metadata optional)
 * (possibly padded with trailing spaces), then the data: each tensor's raw
 * little-endian bytes at [begin, end) relative to the data start.  The
 * tensors must tile the data exactly (sorted by offset: no gap, no overlap,
 * last end == data size) and end - begin must equal numel * dtype size.
 * The whole file is read and checked at open; any violation fails with
 * TCONV_ERROR_FORMAT and a message naming the tensor and the numbers; an
 * unreadable file is TCONV_ERROR_IO.  The JSON parser is strict (no
 * duplicate keys, no unknown fields in a tensor entry, integers only where
 * integers belong, nesting exactly as above, strings valid UTF-8).  Names
 * in messages are escaped (control characters and bytes that are not
 * UTF-8 as \xNN).  Opening costs time linear (or n log n) in the header's
 * size and memory about the file's size.
 */
typedef struct tconv_safetensors tconv_safetensors;

/* Element types known to the format; only F32 can be read into floats. */
typedef enum tconv_dtype {
    TCONV_DTYPE_BOOL, TCONV_DTYPE_U8, TCONV_DTYPE_I8, TCONV_DTYPE_I16, TCONV_DTYPE_U16,
    TCONV_DTYPE_F16, TCONV_DTYPE_BF16, TCONV_DTYPE_I32, TCONV_DTYPE_U32, TCONV_DTYPE_F32,
    TCONV_DTYPE_F64, TCONV_DTYPE_I64, TCONV_DTYPE_U64, TCONV_DTYPE_F8_E4M3,
    TCONV_DTYPE_F8_E5M2
} tconv_dtype;

/* The format's name of a dtype ("F32", "I64", ...). */
TCONV_API const char *tconv_dtype_name(tconv_dtype dtype);

/* What the header says about one tensor.  Pointers stay valid until close. */
typedef struct tconv_tensor_info {
    const char *name;
    tconv_dtype dtype;
    int ndim;             /* 0 for a scalar */
    const int64_t *shape; /* ndim entries */
    int64_t numel;
    int64_t nbytes;
} tconv_tensor_info;

/* Reads and validates a whole file.  Only regular files are read (a
 * directory, device, pipe or socket is TCONV_ERROR_IO); the header is read
 * first and checked against the file's size before the data is read.
 * Files larger than the host can address or whose header is over 100 MB
 * (the reference implementation's limit) are refused. */
TCONV_API tconv_status tconv_safetensors_open(const char *path, tconv_safetensors **st);
/* The same from bytes in memory (copied; the caller keeps its buffer). */
TCONV_API tconv_status tconv_safetensors_open_memory(const void *data, size_t size,
                                                     tconv_safetensors **st);
/* NULL is allowed. */
TCONV_API void tconv_safetensors_close(tconv_safetensors *st);

/* Number of tensors, and the i-th in file-header order (0 <= i < count). */
TCONV_API int64_t tconv_safetensors_count(const tconv_safetensors *st);
TCONV_API tconv_status tconv_safetensors_info(const tconv_safetensors *st, int64_t index,
                                              tconv_tensor_info *info);
/* Looks a tensor up by its state_dict name (e.g. "deconv.0.weight");
 * TCONV_ERROR_NOT_FOUND if absent. */
TCONV_API tconv_status tconv_safetensors_find(const tconv_safetensors *st, const char *name,
                                              tconv_tensor_info *info);
/* A "__metadata__" value, or NULL if the file has no such key. */
TCONV_API const char *tconv_safetensors_metadata(const tconv_safetensors *st, const char *key);

/* Copies tensor `name` into dst after checking that it exists (else
 * TCONV_ERROR_NOT_FOUND), is F32 (else TCONV_ERROR_FORMAT naming the dtype
 * found) and has exactly the expected shape (ndim entries; else
 * TCONV_ERROR_FORMAT showing both shapes, as load_state_dict's "size
 * mismatch").  dst must hold dst_capacity >= numel floats. */
TCONV_API tconv_status tconv_safetensors_read_f32(const tconv_safetensors *st, const char *name,
                                                  int ndim, const int64_t *expected_shape,
                                                  float *dst, int64_t dst_capacity);

/* Any dtype: copies tensor `name` into dst (dst_bytes >= its nbytes), each
 * value converted from little-endian to the host's byte order, after the
 * checks of tconv_safetensors_read_f32 with `dtype` for F32 (another dtype
 * in the file is TCONV_ERROR_FORMAT naming both).  For data such as U8
 * images or I64 indices.  Nothing is written on failure. */
TCONV_API tconv_status tconv_safetensors_read(const tconv_safetensors *st, const char *name,
                                              tconv_dtype dtype, int ndim,
                                              const int64_t *expected_shape, void *dst,
                                              size_t dst_bytes);

/* ---- writing -------------------------------------------------------------- */
/*
 * A writer collects tensors (copied when added) and metadata, then saves
 * them as one file that safetensors.torch.load_file (and tconv's reader)
 * reads: tensors in the order added, contiguous, the header space-padded to
 * a multiple of 8 bytes.  The file is written under a temporary name beside
 * `path` and renamed over it when complete (a failed save leaves no partial
 * file; TCONV_ERROR_IO).  A writer must not be used from two threads at once.
 */
typedef struct tconv_safetensors_writer tconv_safetensors_writer;

TCONV_API tconv_status tconv_safetensors_writer_create(tconv_safetensors_writer **w);
/* Adds tensor `name` (non-empty UTF-8, unique, not "__metadata__") of any
 * dtype with ndim (0..TCONV_MAX_DIMS; 0 = a scalar) dims: data holds
 * numel * (dtype size) bytes in the host's byte order (written
 * little-endian), copied now. */
TCONV_API tconv_status tconv_safetensors_writer_add(tconv_safetensors_writer *w,
                                                    const char *name, tconv_dtype dtype,
                                                    int ndim, const int64_t *shape,
                                                    const void *data);
/* A "__metadata__" entry (UTF-8 strings); setting a key again replaces it. */
TCONV_API tconv_status tconv_safetensors_writer_set_metadata(tconv_safetensors_writer *w,
                                                             const char *key,
                                                             const char *value);
TCONV_API tconv_status tconv_safetensors_writer_save(const tconv_safetensors_writer *w,
                                                     const char *path);
TCONV_API void tconv_safetensors_writer_destroy(tconv_safetensors_writer *w);
/* All at once: count tensors names[i], dtypes[i], ndims[i], shapes[i], data[i]. */
TCONV_API tconv_status tconv_safetensors_save(const char *path, int64_t count,
                                              const char *const *names,
                                              const tconv_dtype *dtypes, const int *ndims,
                                              const int64_t *const *shapes,
                                              const void *const *data);

/* A module's state_dict entries, as its *_load reads them and PyTorch's
 * load_state_dict(strict=True) expects: "<prefix>.weight", "<prefix>.bias"
 * (if the module has one) as F32; BatchNorm2d also "<prefix>.running_mean",
 * "<prefix>.running_var" and "<prefix>.num_batches_tracked" (an I64
 * scalar).  prefix "" or NULL: the bare names. */
TCONV_API tconv_status tconv_linear_save(const tconv_linear *m, tconv_safetensors_writer *w,
                                         const char *prefix);
TCONV_API tconv_status tconv_batchnorm2d_save(const tconv_batchnorm2d *m,
                                              tconv_safetensors_writer *w, const char *prefix);
TCONV_API tconv_status tconv_conv_transpose2d_module_save(const tconv_conv_transpose2d_module *m,
                                                          tconv_safetensors_writer *w,
                                                          const char *prefix);
TCONV_API tconv_status tconv_conv2d_module_save(const tconv_conv2d_module *m,
                                                tconv_safetensors_writer *w, const char *prefix);

/* ---- reading into modules ------------------------------------------------------ */

/* Load a module's state_dict entries "<prefix>.weight", "<prefix>.bias" (and
 * for BatchNorm2d "<prefix>.running_mean", "<prefix>.running_var" and, if
 * present, the I64 scalar "<prefix>.num_batches_tracked"), checking each
 * shape against the module.  prefix is the module's name in the state_dict,
 * e.g. "fc", "deconv.0", "net.1".  A bias in the file that the module does not
 * have is TCONV_ERROR_FORMAT ("Unexpected key(s)"), a missing one
 * TCONV_ERROR_NOT_FOUND ("Missing key(s)"), as load_state_dict(strict=True).
 * On failure the module may be partly loaded.  Loading marks the module's
 * packed weights stale (its weights_changed), as every write of the
 * library does. */
TCONV_API tconv_status tconv_linear_load(tconv_linear *m, const tconv_safetensors *st,
                                         const char *prefix);
TCONV_API tconv_status tconv_batchnorm2d_load(tconv_batchnorm2d *m, const tconv_safetensors *st,
                                              const char *prefix);
TCONV_API tconv_status tconv_conv_transpose2d_module_load(tconv_conv_transpose2d_module *m,
                                                          const tconv_safetensors *st,
                                                          const char *prefix);
TCONV_API tconv_status tconv_conv2d_module_load(tconv_conv2d_module *m,
                                                const tconv_safetensors *st, const char *prefix);

#ifdef __cplusplus
}
#endif

/* Losses and optimizers (tconv_train.h) come with this header. */
#include "tconv_train.h"

#endif /* TCONV_NN_H */
