/*
 * decompose.h -- ConvTranspose2d computed the way the seeds explain it (001):
 *
 *   1. zero insertion: stride-1 zeros between neighbouring input pixels,
 *   2. border padding: dilation*(kernel-1) - padding zeros on every edge
 *      (a crop where that is negative), output_padding more at bottom/right,
 *   3. kernel flip (top-bottom, left-right) and in/out channel swap per group,
 *   4. a stride-1 (dilated, grouped) convolution -- tconv_conv2d, public API.
 *
 * Slow on purpose (it multiplies by the inserted zeros); it exists to explain
 * and to cross-check the library's direct kernels.  Uses only tconv.h.
 */
#ifndef TCONV_TOOLS_DECOMPOSE_H
#define TCONV_TOOLS_DECOMPOSE_H

#include <tconv.h>

/* The intermediates of one decomposition, all NCHW, owned by the struct. */
typedef struct decomp_steps {
    int64_t n, c_in, c_out, groups;
    int64_t in_h, in_w;
    /* Step 1: z: (N, Cin, zero_h, zero_w), zero_h = (in_h-1)*stride_h + 1. */
    int64_t zero_h, zero_w;
    float *zero_inserted;
    /* Step 2: zeros added before/after (negative = rows/cols cropped away):
     * pad_top = dilation*(k-1) - padding, pad_bottom = pad_top + output_padding.
     * padded: (N, Cin, padded_h, padded_w). */
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int64_t padded_h, padded_w;
    float *padded;
    /* Step 3: conv2d weight (Cout, Cin/g, kH, kW): flipped and in/out swapped. */
    int64_t kh, kw;
    float *flipped_weight;
    /* Step 4: the stride-1 convolution that was run, and its output size. */
    tconv_conv2d_params conv;
    int64_t out_h, out_w;
} decomp_steps;

/* y = conv_transpose2d(x, w, bias) with p (its output_padding is used),
 * computed by the four steps above.  in_shape is (N, Cin, H, W); w is
 * (Cin, Cout/g, kH, kW); bias (Cout) may be NULL.  y must hold y_capacity
 * floats; out_shape (may be NULL) receives (N, Cout, Hout, Wout).  If steps is
 * not NULL it receives the intermediates (free with decomp_steps_free, also
 * after a failure).  On failure decomp_error() says why. */
tconv_status decomp_conv_transpose2d(const tconv_conv_transpose2d_params *p,
                                     const int64_t in_shape[4], const float *x, const float *w,
                                     const float *bias, float *y, int64_t y_capacity,
                                     int64_t out_shape[4], decomp_steps *steps);

void decomp_steps_free(decomp_steps *steps);

/* The message of the last failed decomp_conv_transpose2d (the library's
 * message when the library refused the parameters). */
const char *decomp_error(void);

#endif
