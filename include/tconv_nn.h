/*
 * tconv_nn.h -- the layers, modules and weight files of libtconv, for
 * networks built around its convolutions (included by tconv.h; see there
 * for the conventions and the concurrency contract).
 *
 * The layers and weight loading that PyTorch's DCGAN generators and U-Net
 * decoders need, with PyTorch's semantics and refusals: dense float32 NCHW
 * tensors, int64 shapes, every size checked for overflow, a tconv_status
 * from every call that can fail (message in tconv_last_error()), nothing
 * written on failure.  Unless said otherwise an output may alias its input
 * exactly (in place) but must not overlap it partially.
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

/* Starts the stream for a seed (any value). */
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

/* ------------------------------------------------------------------------ */
/* Element-wise activations (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)     */
/* ------------------------------------------------------------------------ */

/* y[i] = f(x[i]) for i in [0, n); y may equal x (inplace=True).  NaN stays
 * NaN as in PyTorch.  Fail only for n < 0 or a NULL pointer with n > 0. */
TCONV_API tconv_status tconv_relu(const float *x, float *y, int64_t n);
/* x >= 0 ? x : negative_slope * x  (nn.LeakyReLU default slope 0.01). */
TCONV_API tconv_status tconv_leaky_relu(const float *x, float *y, int64_t n,
                                        float negative_slope);
TCONV_API tconv_status tconv_tanh(const float *x, float *y, int64_t n);
/* 1 / (1 + exp(-x)). */
TCONV_API tconv_status tconv_sigmoid(const float *x, float *y, int64_t n);

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

/* kernel (kh, kw), stride = kernel, padding 0, dilation 1, floor mode. */
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

/* F.max_pool2d: padded positions never win (implicit -inf); NaN propagates. */
TCONV_API tconv_status tconv_maxpool2d(const tconv_maxpool2d_params *p, int ndim,
                                       const int64_t *input_shape, const float *input,
                                       float *output, int64_t output_capacity,
                                       int64_t *output_shape);

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
 * Bias bound is 0 when fan_in is 0.  *_free on a zeroed or freed struct is a no-op.
 */

/* nn.Linear(in_features, out_features, bias): y = x W^T + b. */
typedef struct tconv_linear {
    int64_t in_features, out_features;
    float *weight; /* (out_features, in_features) */
    float *bias;   /* (out_features), or NULL for bias=False */
} tconv_linear;

TCONV_API tconv_status tconv_linear_init(tconv_linear *m, int64_t in_features,
                                         int64_t out_features, int bias, tconv_rng *rng);
TCONV_API void tconv_linear_free(tconv_linear *m);
/* input (..., in_features), ndim >= 1 -> output (..., out_features).  A last
 * dimension other than in_features fails with PyTorch's "mat1 and mat2
 * shapes cannot be multiplied (AxB and CxD)".  Double accumulation.  output
 * must not overlap input. */
TCONV_API tconv_status tconv_linear_forward(const tconv_linear *m, int ndim,
                                            const int64_t *input_shape, const float *input,
                                            float *output, int64_t output_capacity,
                                            int64_t *output_shape);

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
 * affine=False. */
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
} tconv_batchnorm2d;

TCONV_API tconv_status tconv_batchnorm2d_init(tconv_batchnorm2d *m, int64_t num_features);
TCONV_API void tconv_batchnorm2d_free(tconv_batchnorm2d *m);
/* input (N, C, H, W) (4-D only, as PyTorch: "expected 4D input (got 3D
 * input)"); output has the same shape and may equal input. */
TCONV_API tconv_status tconv_batchnorm2d_forward(tconv_batchnorm2d *m, int ndim,
                                                 const int64_t *input_shape, const float *input,
                                                 float *output);

/* nn.ConvTranspose2d as a module: parameters + owned weight and bias.  The
 * forward reads m->weight/m->bias at every call (so they may be changed in
 * between) and runs tconv_conv_transpose2d. */
typedef struct tconv_conv_transpose2d_module {
    tconv_conv_transpose2d_params p;
    float *weight; /* (in_channels, out_channels/groups, kH, kW) */
    float *bias;   /* (out_channels) or NULL */
} tconv_conv_transpose2d_module;

/* Checks p as the constructor does, allocates and initialises. */
TCONV_API tconv_status tconv_conv_transpose2d_module_init(tconv_conv_transpose2d_module *m,
                                                          const tconv_conv_transpose2d_params *p,
                                                          int bias, tconv_rng *rng);
TCONV_API void tconv_conv_transpose2d_module_free(tconv_conv_transpose2d_module *m);
/* forward(input, output_size) as tconv_conv_transpose2d (output_size may be
 * NULL with len 0). */
TCONV_API tconv_status tconv_conv_transpose2d_module_forward(
    const tconv_conv_transpose2d_module *m, int ndim, const int64_t *input_shape,
    const float *input, const int64_t *output_size, int output_size_len, float *output,
    int64_t output_capacity, int64_t *output_shape);

/* nn.Conv2d as a module, the same way. */
typedef struct tconv_conv2d_module {
    tconv_conv2d_params p;
    float *weight; /* (out_channels, in_channels/groups, kH, kW) */
    float *bias;   /* (out_channels) or NULL */
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

/* Load a module's state_dict entries "<prefix>.weight", "<prefix>.bias" (and
 * for BatchNorm2d "<prefix>.running_mean", "<prefix>.running_var" and, if
 * present, the I64 scalar "<prefix>.num_batches_tracked"), checking each
 * shape against the module.  prefix is the module's name in the state_dict,
 * e.g. "fc", "deconv.0", "net.1".  A bias in the file that the module does not
 * have is TCONV_ERROR_FORMAT ("Unexpected key(s)"), a missing one
 * TCONV_ERROR_NOT_FOUND ("Missing key(s)"), as load_state_dict(strict=True).
 * On failure the module may be partly loaded. */
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

#endif /* TCONV_NN_H */
