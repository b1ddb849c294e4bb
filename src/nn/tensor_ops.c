/* tensor_ops.c -- Tensor.view / reshape (shape only) and torch.cat. */
#include "nn_internal.h"

#include <string.h>

tconv_status tconv_view_shape(int ndim, const int64_t *shape, int new_ndim,
                              const int64_t *new_shape, int64_t *out_shape) {
    tc_clear_error();
    char b1[400];
    if (ndim < 0 || ndim > TCONV_MAX_DIMS || new_ndim < 0 || new_ndim > TCONV_MAX_DIMS)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "view: ranks must be 0..%d, got %d and %d", TCONV_MAX_DIMS, ndim, new_ndim);
    if ((ndim && !shape) || (new_ndim && (!new_shape || !out_shape)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "view: shape pointer is NULL");
    int64_t numel;
    if (!tc_numel(shape, ndim, &numel))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "view: input shape %s is negative or overflows",
                       tc_fmt_dims(b1, sizeof b1, shape, ndim));
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < new_ndim; i++) {
        if (new_shape[i] == -1) {
            if (infer >= 0) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "only one dimension can be inferred");
            infer = i;
        } else if (new_shape[i] < 0) {
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "invalid shape dimension %lld",
                           (long long)new_shape[i]);
        } else if (tc_mul_overflow(known, new_shape[i], &known)) {
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "shape '%s' is invalid for input of size %lld",
                           tc_fmt_dims(b1, sizeof b1, new_shape, new_ndim), (long long)numel);
        }
    }
    int64_t inferred = 0;
    if (infer >= 0) {
        if (known == 0) {
            if (numel == 0)
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "cannot reshape tensor of 0 elements into shape %s because the "
                               "unspecified dimension size -1 can be any value and is ambiguous",
                               tc_fmt_dims(b1, sizeof b1, new_shape, new_ndim));
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "shape '%s' is invalid for input of size %lld",
                           tc_fmt_dims(b1, sizeof b1, new_shape, new_ndim), (long long)numel);
        }
        if (numel % known != 0)
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "shape '%s' is invalid for input of size %lld",
                           tc_fmt_dims(b1, sizeof b1, new_shape, new_ndim), (long long)numel);
        inferred = numel / known;
    } else if (known != numel) {
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "shape '%s' is invalid for input of size %lld",
                       tc_fmt_dims(b1, sizeof b1, new_shape, new_ndim), (long long)numel);
    }
    for (int i = 0; i < new_ndim; i++) out_shape[i] = i == infer ? inferred : new_shape[i];
    return TCONV_OK;
}

tconv_status tconv_cat(int count, const float *const *xs, const int64_t *const *shapes, int ndim,
                       int dim, float *output, int64_t output_capacity, int64_t *output_shape) {
    tc_clear_error();
    if (count <= 0 || !xs || !shapes)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "torch.cat(): expected a non-empty list of Tensors");
    if (ndim < 1 || ndim > TCONV_MAX_DIMS)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "cat: tensors must have 1..%d dimensions, got %d", TCONV_MAX_DIMS, ndim);
    if (dim < -ndim || dim >= ndim)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                       -ndim, ndim - 1, dim);
    if (dim < 0) dim += ndim;
    int64_t out[TCONV_MAX_DIMS];
    for (int i = 0; i < count; i++) {
        if (!shapes[i]) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: shape of tensor %d is NULL", i);
        for (int d = 0; d < ndim; d++) {
            if (shapes[i][d] < 0)
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: tensor %d has negative size %lld in dimension %d",
                               i, (long long)shapes[i][d], d);
            if (i == 0) {
                out[d] = shapes[0][d];
            } else if (d == dim) {
                if (tc_add_overflow(out[d], shapes[i][d], &out[d]))
                    return tc_fail(TCONV_ERROR_OVERFLOW, "cat: size of dimension %d overflows int64", d);
            } else if (shapes[i][d] != shapes[0][d]) {
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "Sizes of tensors must match except in dimension %d. Expected size %lld "
                               "but got size %lld for tensor number %d in the list.",
                               dim, (long long)shapes[0][d], (long long)shapes[i][d], i);
            }
        }
    }
    int64_t total, outer, inner;
    if (!tc_numel(out, ndim, &total) || !tc_numel(out, dim, &outer) ||
        !tc_numel(out + dim + 1, ndim - dim - 1, &inner))
        return tc_fail(TCONV_ERROR_OVERFLOW, "cat: the result's size overflows int64");
    if (output_capacity < total)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: output holds %lld floats but needs %lld",
                       (long long)output_capacity, (long long)total);
    if (total > 0 && !output) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: output is NULL");
    for (int i = 0; i < count; i++) {
        int64_t n;
        tc_numel(shapes[i], ndim, &n); /* <= total, checked above */
        if (n > 0 && !xs[i]) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: tensor %d is NULL", i);
    }
    /* y viewed as (outer, out[dim]*inner): each input contributes a
     * contiguous block of shapes[i][dim]*inner floats per outer index. */
    int64_t row = out[dim] * inner, at = 0;
    for (int i = 0; i < count; i++) {
        int64_t blk = shapes[i][dim] * inner;
        for (int64_t o = 0; o < outer && blk > 0; o++)
            memcpy(output + o * row + at, xs[i] + o * blk, (size_t)blk * sizeof(float));
        at += blk;
    }
    if (output_shape) memcpy(output_shape, out, (size_t)ndim * sizeof(int64_t));
    return TCONV_OK;
}

/* torch.cat's backward: dx_i = the slice of dy that input i filled. */
tconv_status tconv_cat_backward(int count, const int64_t *const *shapes, int ndim, int dim,
                                const float *grad_output, float *const *grad_inputs) {
    tc_clear_error();
    if (count <= 0 || !shapes || !grad_inputs)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "torch.cat(): expected a non-empty list of Tensors");
    if (ndim < 1 || ndim > TCONV_MAX_DIMS)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "cat: tensors must have 1..%d dimensions, got %d", TCONV_MAX_DIMS, ndim);
    if (dim < -ndim || dim >= ndim)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                       -ndim, ndim - 1, dim);
    if (dim < 0) dim += ndim;
    /* the forward's checks and output shape (same rules, same messages) */
    int64_t out[TCONV_MAX_DIMS];
    for (int i = 0; i < count; i++) {
        if (!shapes[i]) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: shape of tensor %d is NULL", i);
        for (int d = 0; d < ndim; d++) {
            if (shapes[i][d] < 0)
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: tensor %d has negative size %lld in dimension %d",
                               i, (long long)shapes[i][d], d);
            if (i == 0) {
                out[d] = shapes[0][d];
            } else if (d == dim) {
                if (tc_add_overflow(out[d], shapes[i][d], &out[d]))
                    return tc_fail(TCONV_ERROR_OVERFLOW, "cat: size of dimension %d overflows int64", d);
            } else if (shapes[i][d] != shapes[0][d]) {
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "Sizes of tensors must match except in dimension %d. Expected size %lld "
                               "but got size %lld for tensor number %d in the list.",
                               dim, (long long)shapes[0][d], (long long)shapes[i][d], i);
            }
        }
    }
    int64_t total, outer, inner;
    if (!tc_numel(out, ndim, &total) || !tc_numel(out, dim, &outer) ||
        !tc_numel(out + dim + 1, ndim - dim - 1, &inner))
        return tc_fail(TCONV_ERROR_OVERFLOW, "cat: the result's size overflows int64");
    if (total > 0 && !grad_output)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat backward: grad_output is NULL");
    for (int i = 0; i < count; i++) {
        int64_t n;
        tc_numel(shapes[i], ndim, &n);
        if (grad_inputs[i] && tc_nn_overlap(grad_inputs[i], n, grad_output, total))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "cat backward: grad_input %d overlaps grad_output", i);
    }
    const int64_t row = out[dim] * inner;
    int64_t at = 0;
    for (int i = 0; i < count; i++) {
        const int64_t blk = shapes[i][dim] * inner;
        for (int64_t o = 0; grad_inputs[i] && o < outer && blk > 0; o++)
            memcpy(grad_inputs[i] + o * blk, grad_output + o * row + at, (size_t)blk * sizeof(float));
        at += blk;
    }
    return TCONV_OK;
}
