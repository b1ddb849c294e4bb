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

/* ---- copies of cat and its backward, over threads when large ---------------
 * The concatenation viewed as (outer, total) rows: part i fills the block
 * [at_i, at_i + blk_i) of every row.  A unit of work is a chunk of at most
 * CAT_CHUNK floats of one part's block in one row. */
#define CAT_CHUNK ((int64_t)1 << 15)

typedef struct cat_ctx {
    int count, back;        /* back: copy from the concatenation into the parts */
    const float *const *src;
    float *const *dst;
    const int64_t *const *shapes;
    int dim;
    int64_t inner, row, units_per_row;
    float *out;             /* the concatenation (forward: written; backward: read) */
    const float *in;
} cat_ctx;

static void cat_worker(void *vctx, int64_t b, int64_t e) {
    const cat_ctx *c = vctx;
    for (int64_t u = b; u < e; u++) {
        const int64_t o = u / c->units_per_row;
        int64_t r = u % c->units_per_row, at = 0;
        for (int i = 0; i < c->count; i++) { /* find the part and chunk of unit r */
            const int64_t blk = c->shapes[i][c->dim] * c->inner;
            const int64_t nc = (blk + CAT_CHUNK - 1) / CAT_CHUNK;
            if (r < nc) {
                const int64_t off = r * CAT_CHUNK, n = tc_imin(CAT_CHUNK, blk - off);
                if (c->back) {
                    if (c->dst[i])
                        memcpy(c->dst[i] + o * blk + off, c->in + o * c->row + at + off,
                               (size_t)n * sizeof(float));
                } else {
                    memcpy(c->out + o * c->row + at + off, c->src[i] + o * blk + off,
                           (size_t)n * sizeof(float));
                }
                break;
            }
            r -= nc;
            at += blk;
        }
    }
}

static void cat_copy(cat_ctx *c, int64_t outer, int64_t total) {
    c->units_per_row = 0;
    for (int i = 0; i < c->count; i++)
        c->units_per_row += (c->shapes[i][c->dim] * c->inner + CAT_CHUNK - 1) / CAT_CHUNK;
    const int64_t units = outer * c->units_per_row;
    /* threads for large copies of few parts (finding a unit's part is a
     * walk over the parts) */
    const int nt = c->count <= 64 ? tc_nn_threads_for(total, 1) : 1;
    if (nt <= 1 || units < 2) {
        int64_t at = 0;
        for (int i = 0; i < c->count; i++) {
            const int64_t blk = c->shapes[i][c->dim] * c->inner;
            for (int64_t o = 0; o < outer && blk > 0; o++) {
                if (c->back) {
                    if (c->dst[i])
                        memcpy(c->dst[i] + o * blk, c->in + o * c->row + at, (size_t)blk * sizeof(float));
                } else {
                    memcpy(c->out + o * c->row + at, c->src[i] + o * blk, (size_t)blk * sizeof(float));
                }
            }
            at += blk;
        }
        return;
    }
    tc_parallel_for(nt, units, cat_worker, c);
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
    for (int i = 0; i < count; i++) {
        int64_t n;
        tc_numel(shapes[i], ndim, &n);
        if (tc_nn_overlap(xs[i], n, output, total))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "cat: tensor %d overlaps the output", i);
    }
    cat_ctx c = {count, 0, xs, NULL, shapes, dim, inner, out[dim] * inner, 0, output, NULL};
    cat_copy(&c, outer, total);
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
    cat_ctx c = {count, 1, NULL, grad_inputs, shapes, dim, inner, out[dim] * inner, 0, NULL,
                 grad_output};
    cat_copy(&c, outer, total);
    return TCONV_OK;
}
