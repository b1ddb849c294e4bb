/* example_util.h -- the few lines every example needs around the library:
 * stop on an error with the library's message, allocate a layer's output
 * for the shape the library computes, read inputs / write outputs.
 * Header-only so each example stays one file plus this. */
#ifndef TCONV_EXAMPLE_UTIL_H
#define TCONV_EXAMPLE_UTIL_H

#include <tconv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every library call goes through CHECK: on failure print why and exit. */
#define CHECK(call)                                                                     \
    do {                                                                                \
        tconv_status s_ = (call);                                                       \
        if (s_ != TCONV_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,    \
                    tconv_status_string(s_), tconv_last_error());                       \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* Command line shared by the examples:
 *   --weights FILE.safetensors   a PyTorch state_dict (else: PyTorch-style random init)
 *   --input FILE.safetensors     the input tensor(s) by name (else: random normal)
 *   --output FILE.f32            write the result as raw little-endian float32
 *   --eval                       BatchNorm in eval mode (running stats); default: training
 *   --seed N                     seed for the random init and input (default 0) */
typedef struct ex_args {
    const char *weights, *input, *output;
    int eval;
    uint64_t seed;
} ex_args;

static inline void ex_parse_args(int argc, char **argv, ex_args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--eval")) {
            a->eval = 1;
        } else if (i + 1 < argc && !strcmp(o, "--weights")) {
            a->weights = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--input")) {
            a->input = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--output")) {
            a->output = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--seed")) {
            a->seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: %s [--weights W.safetensors] [--input X.safetensors] "
                    "[--output Y.f32] [--eval] [--seed N]\n",
                    argv[0]);
            exit(2);
        }
    }
}

static inline float *ex_alloc(int64_t n) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory (%lld floats)\n", (long long)n);
        exit(1);
    }
    return p;
}

static inline int64_t ex_numel(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* "torch.Size([1, 3, 64, 64])", as the seeds print shapes. */
static inline const char *ex_size(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t k = (size_t)snprintf(buf, cap, "torch.Size([");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "])");
    return buf;
}

/* Input tensor `name`: from the --input file (its batch size, dim 0, may be
 * anything; the other dims must be as the example expects), or torch.randn
 * with the example's shape.  shape[0] is updated to the batch read. */
static inline float *ex_input(const ex_args *a, tconv_rng *rng, const char *name, int ndim,
                              int64_t *shape) {
    if (a->input) {
        tconv_safetensors *st;
        tconv_tensor_info info;
        CHECK(tconv_safetensors_open(a->input, &st));
        CHECK(tconv_safetensors_find(st, name, &info));
        if (info.ndim == ndim) shape[0] = info.shape[0]; /* any batch; the rest is checked */
        float *x = ex_alloc(ex_numel(shape, ndim));
        CHECK(tconv_safetensors_read_f32(st, name, ndim, shape, x, ex_numel(shape, ndim)));
        tconv_safetensors_close(st);
        return x;
    }
    float *x = ex_alloc(ex_numel(shape, ndim));
    CHECK(tconv_rng_fill_normal(rng, x, ex_numel(shape, ndim)));
    return x;
}

static inline void ex_write(const ex_args *a, const float *y, const int64_t *shape, int ndim) {
    if (!a->output) return;
    FILE *f = fopen(a->output, "wb");
    size_t n = (size_t)ex_numel(shape, ndim);
    if (!f || fwrite(y, sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", a->output);
        exit(1);
    }
}

/* ---- one layer each: compute the output shape, allocate, run, free the input ---- */

static inline float *ex_conv_transpose2d(const tconv_conv_transpose2d_module *m, float *x,
                                         int64_t shape[4]) {
    int64_t out[4];
    CHECK(tconv_conv_transpose2d_output_shape(&m->p, 4, shape, NULL, 0, out));
    float *y = ex_alloc(ex_numel(out, 4));
    CHECK(tconv_conv_transpose2d_module_forward(m, 4, shape, x, NULL, 0, y, ex_numel(out, 4), shape));
    free(x);
    return y;
}

static inline float *ex_conv2d(const tconv_conv2d_module *m, float *x, int64_t shape[4]) {
    int64_t out[4];
    CHECK(tconv_conv2d_output_shape(&m->p, 4, shape, out));
    float *y = ex_alloc(ex_numel(out, 4));
    CHECK(tconv_conv2d_module_forward(m, 4, shape, x, y, ex_numel(out, 4), shape));
    free(x);
    return y;
}

#endif
