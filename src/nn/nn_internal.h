/* nn_internal.h -- helpers shared by the files of src/nn and src/io only. */
#ifndef TCONV_NN_INTERNAL_H
#define TCONV_NN_INTERNAL_H

#include "../core/core.h"

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

#endif
