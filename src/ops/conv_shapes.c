/* conv_shapes.c -- output-size rules, output_size -> output_padding, and the
 * per-input checks PyTorch's forward makes (tc_*_geometry). */
#include "ops.h"

#include <stdio.h>
#include <string.h>

tconv_status tconv_conv_transpose2d_output_dim(int64_t in, int64_t kernel, int64_t stride,
                                               int64_t padding, int64_t dilation,
                                               int64_t output_padding, int64_t *out) {
    /* (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1 */
    int64_t a, b, c, r;
    if (!out) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "out is NULL");
    if (tc_sub_overflow(in, 1, &a) || tc_mul_overflow(a, stride, &a) ||
        tc_mul_overflow(padding, 2, &b) || tc_sub_overflow(a, b, &r) ||
        tc_sub_overflow(kernel, 1, &c) || tc_mul_overflow(c, dilation, &c) ||
        tc_add_overflow(r, c, &r) || tc_add_overflow(r, output_padding, &r) ||
        tc_add_overflow(r, 1, &r))
        return tc_fail(TCONV_ERROR_OVERFLOW,
                       "output size overflows int64 for input %lld, kernel %lld, stride %lld, "
                       "padding %lld, dilation %lld, output_padding %lld",
                       (long long)in, (long long)kernel, (long long)stride, (long long)padding,
                       (long long)dilation, (long long)output_padding);
    *out = r;
    return TCONV_OK;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

tconv_status tconv_conv2d_output_dim(int64_t in, int64_t kernel, int64_t stride,
                                     int64_t pad_before, int64_t pad_after, int64_t dilation,
                                     int64_t *out) {
    /* (in + pad_before + pad_after - dilation*(kernel - 1) - 1) / stride + 1 */
    int64_t r, c;
    if (!out) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "out is NULL");
    if (stride <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported");
    if (tc_add_overflow(in, pad_before, &r) || tc_add_overflow(r, pad_after, &r) ||
        tc_sub_overflow(kernel, 1, &c) || tc_mul_overflow(c, dilation, &c) ||
        tc_sub_overflow(r, c, &r) || tc_sub_overflow(r, 1, &r))
        return tc_fail(TCONV_ERROR_OVERFLOW,
                       "output size overflows int64 for input %lld, kernel %lld, stride %lld, "
                       "padding (%lld, %lld), dilation %lld",
                       (long long)in, (long long)kernel, (long long)stride,
                       (long long)pad_before, (long long)pad_after, (long long)dilation);
    *out = floor_div(r, stride) + 1;
    return TCONV_OK;
}

static tconv_status check_ndim(const char *op_name, int ndim, const int64_t *shape) {
    if (ndim == 3 || ndim == 4) {
        if (!shape) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "input_shape is NULL");
        for (int i = 0; i < ndim; i++)
            if (shape[i] < 0) {
                char buf[160];
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "input shape %s has a negative dimension",
                               tc_fmt_dims(buf, sizeof buf, shape, ndim));
            }
        return TCONV_OK;
    }
    char buf[400];
    if (shape && ndim >= 0 && ndim <= 16)
        tc_fmt_dims(buf, sizeof buf, shape, ndim);
    else
        snprintf(buf, sizeof buf, "(%d dimensions)", ndim);
    return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                   "Expected 3D (unbatched) or 4D (batched) input to %s, but got input of size: %s",
                   op_name, buf);
}

/* Batched view (N, C, H, W) of a 3- or 4-D shape (unbatched -> N = 1). */
static void batched(int ndim, const int64_t *shape, int64_t out[4]) {
    if (ndim == 4) {
        memcpy(out, shape, 4 * sizeof *out);
    } else {
        out[0] = 1;
        memcpy(out + 1, shape, 3 * sizeof *out);
    }
}

/* The fields both operators share, from the batched input shape s. */
static void geom_init(tc_geom *g, int ndim, const int64_t s[4], int64_t c_out, int64_t groups,
                      const int64_t kernel[2], const int64_t stride[2],
                      const int64_t dilation[2]) {
    memset(g, 0, sizeof *g);
    g->ndim = ndim;
    g->n = s[0];
    g->c_in = s[1];
    g->h_in = s[2];
    g->w_in = s[3];
    g->c_out = c_out;
    g->groups = groups;
    g->kh = kernel[0];
    g->kw = kernel[1];
    g->sh = stride[0];
    g->sw = stride[1];
    g->dh = dilation[0];
    g->dw = dilation[1];
}

tconv_status tconv_conv_transpose2d_output_padding_for_size(
    const tconv_conv_transpose2d_params *p, int input_ndim, const int64_t *input_shape,
    const int64_t *output_size, int output_size_len, int64_t output_padding[2]) {
    tc_clear_error();
    if (!p || !output_padding)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "params or output_padding is NULL");
    tconv_status st = check_ndim("conv_transpose2d", input_ndim, input_shape);
    if (st) return st;
    int lead = input_ndim - 2; /* non-spatial dims: 2 batched, 1 unbatched */
    if (!output_size || (output_size_len != 2 && output_size_len != input_ndim))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "ConvTranspose2D: for %dD input, output_size must have 2 or %d elements "
                       "(got %d)",
                       input_ndim, input_ndim, output_size ? output_size_len : 0);
    const int64_t *req = output_size + (output_size_len == 2 ? 0 : lead);
    int64_t mins[2], maxs[2];
    for (int d = 0; d < 2; d++) {
        st = tconv_conv_transpose2d_output_dim(input_shape[lead + d], p->kernel_size[d],
                                               p->stride[d], p->padding[d], p->dilation[d], 0,
                                               &mins[d]);
        if (st) return st;
        int64_t span; /* stride - 1, checked: p is not validated here */
        if (tc_sub_overflow(p->stride[d], 1, &span) || tc_add_overflow(mins[d], span, &maxs[d]))
            return tc_fail(TCONV_ERROR_OVERFLOW, "output size range overflows int64");
    }
    for (int d = 0; d < 2; d++) {
        if (req[d] < mins[d] || req[d] > maxs[d]) {
            char b1[64], b2[64], b3[64], b4[64];
            /* PyTorch prints input.size()[2:], which for an unbatched input
             * drops the height too; reproduced on purpose. */
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "requested an output size of %s, but valid sizes range from %s to %s "
                           "(for an input of torch.Size(%s))",
                           tc_fmt_dims(b1, sizeof b1, req, 2), tc_fmt_dims(b2, sizeof b2, mins, 2),
                           tc_fmt_dims(b3, sizeof b3, maxs, 2),
                           tc_fmt_dims(b4, sizeof b4, input_shape + 2, input_ndim - 2));
        }
    }
    output_padding[0] = req[0] - mins[0];
    output_padding[1] = req[1] - mins[1];
    return TCONV_OK;
}

static tconv_status check_output_numel(const tc_geom *g) {
    /* A zero batch makes the product 0 and would hide an overflowing image
     * size, yet kernels still form strides from C*H*W: check with N >= 1. */
    const int64_t n1 = g->n > 0 ? g->n : 1;
    int64_t dims[4] = {g->n, g->c_out, g->h_out, g->w_out}, n;
    int64_t dims1[4] = {n1, g->c_out, g->h_out, g->w_out};
    int64_t idims1[4] = {n1, g->c_in, g->h_in, g->w_in};
    size_t bytes;
    if (!tc_numel(dims1, 4, &n) || !tc_float_bytes(n, &bytes)) {
        char buf[160];
        return tc_fail(TCONV_ERROR_OVERFLOW, "output of size %s is too large to address",
                       tc_fmt_dims(buf, sizeof buf, dims, 4));
    }
    int64_t idims[4] = {g->n, g->c_in, g->h_in, g->w_in};
    if (!tc_numel(idims1, 4, &n) || !tc_float_bytes(n, &bytes)) {
        char buf[160];
        return tc_fail(TCONV_ERROR_OVERFLOW, "input of size %s is too large to address",
                       tc_fmt_dims(buf, sizeof buf, idims, 4));
    }
    return TCONV_OK;
}

tconv_status tc_ct2d_geometry(const tconv_conv_transpose2d_params *p, int ndim,
                              const int64_t *input_shape, const int64_t *output_size,
                              int output_size_len, tc_geom *g) {
    tconv_status st = tc_check_ct2d_params(p);
    if (st) return st;
    st = check_ndim("conv_transpose2d", ndim, input_shape);
    if (st) return st;
    if (!output_size && output_size_len != 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "output_size is NULL but output_size_len is %d", output_size_len);
    int64_t op[2] = {p->output_padding[0], p->output_padding[1]};
    if (output_size) {
        st = tconv_conv_transpose2d_output_padding_for_size(p, ndim, input_shape, output_size,
                                                            output_size_len, op);
        if (st) return st;
    }
    int64_t s[4];
    batched(ndim, input_shape, s);
    int64_t cog = p->out_channels / p->groups;
    if (s[1] != p->in_channels) {
        char b1[160], b2[160];
        int64_t wd[4] = {p->in_channels, cog, p->kernel_size[0], p->kernel_size[1]};
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given transposed=1, weight of size %s, expected input%s to have %lld "
                       "channels, but got %lld channels instead",
                       tc_fmt_dims(b1, sizeof b1, wd, 4), tc_fmt_dims(b2, sizeof b2, s, 4),
                       (long long)p->in_channels, (long long)s[1]);
    }
    if (s[2] == 0 || s[3] == 0) {
        char b[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Only zero batch or zero channel inputs are supported, but got input "
                       "shape: %s",
                       tc_fmt_dims(b, sizeof b, s, 4));
    }
    geom_init(g, ndim, s, p->out_channels, p->groups, p->kernel_size, p->stride, p->dilation);
    g->ph = p->padding[0];
    g->pw = p->padding[1];
    g->oph = op[0];
    g->opw = op[1];
    st = tconv_conv_transpose2d_output_dim(g->h_in, g->kh, g->sh, g->ph, g->dh, g->oph, &g->h_out);
    if (st) return st;
    st = tconv_conv_transpose2d_output_dim(g->w_in, g->kw, g->sw, g->pw, g->dw, g->opw, &g->w_out);
    if (st) return st;
    if (g->h_out < 1 || g->w_out < 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given input size per channel: (%lld x %lld). Calculated output size per "
                       "channel: (%lld x %lld). Output size is too small",
                       (long long)g->h_in, (long long)g->w_in, (long long)g->h_out,
                       (long long)g->w_out);
    return check_output_numel(g);
}

/* The module pads with F.pad before convolving when padding_mode != zeros;
 * these are F.pad's checks, made on the unpadded input. */
static tconv_status check_mode_padding(const tc_geom *g, int ndim, const int64_t *s) {
    if (g->padding_mode == TCONV_PADDING_MODE_REFLECT) {
        /* reflection_pad2d wants every non-batch dim non-empty (a 3-D input's
         * dim 0 is its batch there) and prints the (empty) tensor itself. */
        if ((ndim == 4 && s[1] == 0) || s[2] == 0 || s[3] == 0) {
            const int64_t *d = s + (ndim == 3);
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           ndim == 4 ? "3D or 4D (batch mode) tensor expected for input, but got: "
                                       "[ torch.FloatTensor{%lld,%lld,%lld,%lld} ]"
                                     : "3D or 4D (batch mode) tensor expected for input, but got: "
                                       "[ torch.FloatTensor{%lld,%lld,%lld} ]",
                           (long long)d[0], (long long)d[1], (long long)d[2],
                           ndim == 4 ? (long long)d[3] : 0LL);
        }
        if (g->pad_l >= s[3] || g->pad_r >= s[3])
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Argument #4: Padding size should be less than the corresponding input "
                           "dimension, but got: padding (%lld, %lld) at dimension %d of input %d",
                           (long long)g->pad_l, (long long)g->pad_r, ndim - 1, ndim);
        if (g->pad_t >= s[2] || g->pad_b >= s[2])
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Argument #6: Padding size should be less than the corresponding input "
                           "dimension, but got: padding (%lld, %lld) at dimension %d of input %d",
                           (long long)g->pad_t, (long long)g->pad_b, ndim - 2, ndim);
    } else if (g->padding_mode == TCONV_PADDING_MODE_REPLICATE) {
        if (s[1] == 0 || s[2] == 0 || s[3] == 0) {
            char b[160];
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           "other non-zero dimensions for input, but got: %s",
                           tc_fmt_dims(b, sizeof b, s + (ndim == 3), ndim));
        }
    } else if (g->padding_mode == TCONV_PADDING_MODE_CIRCULAR) {
        if (g->pad_t > s[2] || g->pad_b > s[2] || g->pad_l > s[3] || g->pad_r > s[3])
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "Padding value causes wrapping around more than once.");
    }
    return TCONV_OK;
}

tconv_status tc_conv2d_geometry(const tconv_conv2d_params *p, int ndim, const int64_t *input_shape,
                                tc_geom *g) {
    tconv_status st = tc_check_conv2d_params(p);
    if (st) return st;
    /* With a padding mode the module calls F.pad first, which refuses
     * other ranks in its own words. */
    if (p->padding_mode != TCONV_PADDING_MODE_ZEROS && ndim != 3 && ndim != 4)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       ndim < 2 ? "Padding length too large"
                                : "Only 2D, 3D, 4D, 5D padding with non-constant padding are "
                                  "supported for now");
    st = check_ndim("conv2d", ndim, input_shape);
    if (st) return st;
    int64_t s[4];
    batched(ndim, input_shape, s);
    geom_init(g, ndim, s, p->out_channels, p->groups, p->kernel_size, p->stride, p->dilation);
    g->padding_mode = p->padding_mode;
    if (p->padding_kind == TCONV_PADDING_EXPLICIT) {
        g->pad_t = g->pad_b = p->padding[0];
        g->pad_l = g->pad_r = p->padding[1];
    } else if (p->padding_kind == TCONV_PADDING_SAME) {
        int64_t th, tw;
        if (tc_mul_overflow(g->dh, g->kh - 1, &th) || tc_mul_overflow(g->dw, g->kw - 1, &tw))
            return tc_fail(TCONV_ERROR_OVERFLOW, "padding='same' overflows int64");
        g->pad_t = th / 2;
        g->pad_b = th - g->pad_t;
        g->pad_l = tw / 2;
        g->pad_r = tw - g->pad_l;
    }
    /* F.conv2d(padding='same') needing an extra bottom row / right column
     * pads it with constant_pad_nd first, which refuses an empty result. */
    if (p->padding_mode == TCONV_PADDING_MODE_ZEROS && p->padding_kind == TCONV_PADDING_SAME &&
        (g->pad_b != g->pad_t || g->pad_r != g->pad_l)) {
        int64_t extra[2] = {g->pad_b - g->pad_t, g->pad_r - g->pad_l};
        for (int d = 0; d < 2; d++)
            if (s[2 + d] <= -extra[d]) /* s + extra <= 0 without overflowing */
                return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                               "The input size %lld, plus negative padding 0 and %lld resulted "
                               "in a negative output size, which is invalid. Check dimension %d "
                               "of your input.",
                               (long long)s[2 + d], (long long)extra[d], 2 + d);
    }
    st = check_mode_padding(g, ndim, s);
    if (st) return st;
    int64_t cig = p->in_channels / p->groups;
    if (s[1] != p->in_channels) {
        /* With a padding mode the module pads first, so PyTorch names the
         * padded size here. */
        int64_t shown[4] = {s[0], s[1], s[2], s[3]};
        if (p->padding_mode != TCONV_PADDING_MODE_ZEROS &&
            (tc_add_overflow(shown[2], g->pad_t, &shown[2]) ||
             tc_add_overflow(shown[2], g->pad_b, &shown[2]) ||
             tc_add_overflow(shown[3], g->pad_l, &shown[3]) ||
             tc_add_overflow(shown[3], g->pad_r, &shown[3])))
            return tc_fail(TCONV_ERROR_OVERFLOW, "padded input size overflows int64");
        /* F.conv2d(padding='same') with an odd total pads the extra bottom
         * row / right column first (only when some dim needs it), so that
         * size is named. */
        if (p->padding_mode == TCONV_PADDING_MODE_ZEROS &&
            p->padding_kind == TCONV_PADDING_SAME &&
            (g->pad_b != g->pad_t || g->pad_r != g->pad_l)) {
            if (tc_add_overflow(shown[2], g->pad_b - g->pad_t, &shown[2]) ||
                tc_add_overflow(shown[3], g->pad_r - g->pad_l, &shown[3]))
                return tc_fail(TCONV_ERROR_OVERFLOW, "padded input size overflows int64");
        }
        char b1[160], b2[160];
        int64_t wd[4] = {p->out_channels, cig, p->kernel_size[0], p->kernel_size[1]};
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given groups=%lld, weight of size %s, expected input%s to have %lld "
                       "channels, but got %lld channels instead",
                       (long long)p->groups, tc_fmt_dims(b1, sizeof b1, wd, 4),
                       tc_fmt_dims(b2, sizeof b2, shown, 4), (long long)p->in_channels,
                       (long long)s[1]);
    }
    int64_t hp, wp, ekh, ekw;
    if (tc_add_overflow(g->h_in, g->pad_t, &hp) || tc_add_overflow(hp, g->pad_b, &hp) ||
        tc_add_overflow(g->w_in, g->pad_l, &wp) || tc_add_overflow(wp, g->pad_r, &wp) ||
        tc_mul_overflow(g->dh, g->kh - 1, &ekh) || tc_mul_overflow(g->dw, g->kw - 1, &ekw) ||
        ekh == INT64_MAX || ekw == INT64_MAX) /* the message prints ekh + 1 */
        return tc_fail(TCONV_ERROR_OVERFLOW, "padded input size overflows int64");
    if (hp < ekh + 1 || wp < ekw + 1)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Calculated padded input size per channel: (%lld x %lld). Kernel size: "
                       "(%lld x %lld). Kernel size can't be greater than actual input size",
                       (long long)hp, (long long)wp, (long long)(ekh + 1), (long long)(ekw + 1));
    if (s[2] == 0 || s[3] == 0) {
        char b[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Only zero batch or zero channel inputs are supported, but got input "
                       "shape: %s",
                       tc_fmt_dims(b, sizeof b, s, 4));
    }
    st = tconv_conv2d_output_dim(g->h_in, g->kh, g->sh, g->pad_t, g->pad_b, g->dh, &g->h_out);
    if (st) return st;
    st = tconv_conv2d_output_dim(g->w_in, g->kw, g->sw, g->pad_l, g->pad_r, g->dw, &g->w_out);
    if (st) return st;
    return check_output_numel(g);
}

static void unbatch(int ndim, const int64_t s[4], int64_t *out) {
    if (ndim == 4)
        memcpy(out, s, 4 * sizeof *out);
    else
        memcpy(out, s + 1, 3 * sizeof *out);
}

tconv_status tconv_conv_transpose2d_output_shape(const tconv_conv_transpose2d_params *p,
                                                 int input_ndim, const int64_t *input_shape,
                                                 const int64_t *output_size, int output_size_len,
                                                 int64_t *output_shape) {
    tc_clear_error();
    if (!output_shape) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output_shape is NULL");
    tc_geom g;
    tconv_status st =
        tc_ct2d_geometry(p, input_ndim, input_shape, output_size, output_size_len, &g);
    if (st) return st;
    int64_t s[4] = {g.n, g.c_out, g.h_out, g.w_out};
    unbatch(input_ndim, s, output_shape);
    return TCONV_OK;
}

tconv_status tconv_conv2d_output_shape(const tconv_conv2d_params *p, int input_ndim,
                                       const int64_t *input_shape, int64_t *output_shape) {
    tc_clear_error();
    if (!output_shape) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "output_shape is NULL");
    tc_geom g;
    tconv_status st = tc_conv2d_geometry(p, input_ndim, input_shape, &g);
    if (st) return st;
    int64_t s[4] = {g.n, g.c_out, g.h_out, g.w_out};
    unbatch(input_ndim, s, output_shape);
    return TCONV_OK;
}
