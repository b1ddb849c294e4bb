/* nn_internal.h -- helpers shared by the files of src/nn and src/io only. */
#ifndef TCONV_NN_INTERNAL_H
#define TCONV_NN_INTERNAL_H

#include "../core/core.h"
#include "../kernels/kernels.h"

/* Allocates n floats (n >= 0; at least one byte so NULL means failure),
 * fills them with value and stores the pointer in *out; on failure records
 * the error (OVERFLOW or OUT_OF_MEMORY) and leaves *out NULL. */
tconv_status tc_nn_alloc_fill(int64_t n, float value, const char *what, float **out);

/* PyTorch's default init for Linear/Conv2d/ConvTranspose2d: weight and bias
 * ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight drawn first; rng NULL keeps
 * the arrays as they are (zeros). */
tconv_status tc_nn_default_init(tconv_rng *rng, float *w, int64_t wn, float *b, int64_t bn,
                                int64_t fan_in);

/* Checks an element-wise call's pointers and count. */
tconv_status tc_nn_check_elementwise(const char *fn, const float *x, const float *y, int64_t n);

/* True if [a, a + an) and [b, b + bn) (in floats) overlap; NULL or empty never does. */
bool tc_nn_overlap(const void *a, int64_t an, const void *b, int64_t bn);



/* Threads for a pass over n elements costing about `cost` (1 = a copy) per
 * element: the process default, fewer for small tensors (a worker must get
 * enough work to repay waking it). */
int tc_nn_threads_for(int64_t n, int64_t cost);
/* Chunk length of an element-wise pass of n values over nt threads: about
 * two chunks per thread, whole cache lines, at most 16K floats (n when nt
 * is 1). */
int64_t tc_nn_chunk(int64_t n, int nt);

/* ---- module caches -------------------------------------------------------- */

/* An operator of a module's cache and the forward input shape it was last
 * reshaped for (ndim 0: not reshaped). */
typedef struct tc_op_slot {
    tconv_op *op;
    int ndim;
    int64_t in[4];
    int has_osz, osz_len; /* output_size given, its length and values */
    int64_t osz[4];
    int64_t out[4]; /* the forward output's shape for that input */
} tc_op_slot;

/* The private state behind a module's `cache` pointer. */
struct tconv_nn_cache {
    /* conv modules and Linear: the packed operators, what they were made
     * from and the one workspace they share (a module runs one pass at a time) */
    int stale;                   /* set by *_weights_changed */
    const float *weight, *bias;  /* the arrays the packed operators copied */
    unsigned char params[128];   /* the module's parameters then (memcmp) */
    uint64_t checksum;           /* of the weights then, when TCONV_CHECK_WEIGHTS=1 */
    tc_op_slot fwd, bwd_data, bwd_weight;
    void *ws;
    size_t ws_cap;
    /* BatchNorm2d: what the last forward saved for the backward */
    int saved;          /* 0: no forward yet; 1: training (batch stats); 2: eval */
    int64_t saved_shape[4];
    double *save_mean;  /* (C) */
    double *save_invstd;
};
typedef struct tconv_nn_cache tconv_nn_cache;

/* A new, empty cache (calloc); NULL with the error recorded on failure. */
tconv_nn_cache *tc_nn_cache_new(const char *what);
/* Destroys the operators and frees everything. */
void tc_nn_cache_free(tconv_nn_cache *c);
/* Drops the operators that hold packed weights (forward, backward data):
 * they are made again from the module's weights at their next use. */
void tc_nn_cache_drop_weights(tconv_nn_cache *c);
/* Makes c consistent with the module's weight/bias arrays and parameters
 * (params_size bytes, <= sizeof c->params): drops the packed operators if
 * weights_changed was called, if the arrays were replaced or if the
 * parameters were edited (then also the weight-gradient operator).  With
 * TCONV_CHECK_WEIGHTS=1 in the environment, weights edited in place
 * without weights_changed fail with TCONV_ERROR_INVALID_STATE. */
tconv_status tc_nn_cache_sync(tconv_nn_cache *c, const char *what, const float *weight,
                              int64_t weight_numel, const float *bias, int64_t bias_numel,
                              const void *params, size_t params_size);
/* Reshapes slot s for this forward input shape unless it already is
 * (checks the shape as the operator does), growing the shared workspace. */
tconv_status tc_nn_slot_reshape(tconv_nn_cache *c, tc_op_slot *s, int ndim,
                                const int64_t *input_shape, const int64_t *output_size,
                                int output_size_len);

/* Creates the operator of slot s if it has none: conv_transpose2d
 * (params a tconv_conv_transpose2d_params) or conv2d (tconv_conv2d_params)
 * for a pass, with the weight and bias given (packed now), default
 * threads, NCHW, and for the weight pass accumulate = 1 (into .grad). */
typedef enum tc_nn_op_kind { TC_NN_CT2D = 0, TC_NN_CONV2D = 1 } tc_nn_op_kind;
tconv_status tc_nn_ensure_op(tc_op_slot *s, tc_nn_op_kind kind, tconv_pass pass,
                             const void *params, const float *weight, const float *bias);

/* Allocates a zeroed .grad array of n floats if *g is NULL. */
tconv_status tc_nn_ensure_grad(float **g, int64_t n, const char *what);

#endif
