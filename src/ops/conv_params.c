/* conv_params.c -- parameter defaults and the parameter checks PyTorch makes
 * (constructor and forward), in PyTorch's order and words. */
#include "ops.h"

void tconv_conv_transpose2d_params_init(tconv_conv_transpose2d_params *p, int64_t in_channels,
                                        int64_t out_channels, int64_t kernel_h,
                                        int64_t kernel_w) {
    if (!p) return;
    p->in_channels = in_channels;
    p->out_channels = out_channels;
    p->kernel_size[0] = kernel_h;
    p->kernel_size[1] = kernel_w;
    for (int i = 0; i < 2; i++) {
        p->stride[i] = 1;
        p->padding[i] = 0;
        p->output_padding[i] = 0;
        p->dilation[i] = 1;
    }
    p->groups = 1;
}

void tconv_conv2d_params_init(tconv_conv2d_params *p, int64_t in_channels, int64_t out_channels,
                              int64_t kernel_h, int64_t kernel_w) {
    if (!p) return;
    p->in_channels = in_channels;
    p->out_channels = out_channels;
    p->kernel_size[0] = kernel_h;
    p->kernel_size[1] = kernel_w;
    for (int i = 0; i < 2; i++) {
        p->stride[i] = 1;
        p->padding[i] = 0;
        p->dilation[i] = 1;
    }
    p->groups = 1;
    p->padding_kind = TCONV_PADDING_EXPLICIT;
    p->padding_mode = TCONV_PADDING_MODE_ZEROS;
}

/* Weight shape as PyTorch prints it; for messages only. */
static const char *weight_dims(char *buf, size_t cap, int64_t d0, int64_t d1, const int64_t k[2]) {
    int64_t dims[4] = {d0, d1, k[0], k[1]};
    return tc_fmt_dims(buf, cap, dims, 4);
}

/* Both operators' weights have `lead` (in_channels for the transposed one,
 * out_channels for conv2d) at dimension 0; PyTorch checks it against groups. */
static tconv_status check_groups_dim0(int64_t groups, int64_t lead, int64_t second,
                                      const int64_t k[2]) {
    char buf[160];
    if (lead < groups)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given groups=%lld, expected weight to be at least %lld at dimension 0, "
                       "but got weight of size %s instead",
                       (long long)groups, (long long)groups,
                       weight_dims(buf, sizeof buf, lead, second, k));
    if (lead % groups != 0)
        /* PyTorch 1.13 prints this size with doubled brackets. */
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Given groups=%lld, expected weight to be divisible by %lld at dimension "
                       "0, but got weight of size [%s] instead",
                       (long long)groups, (long long)groups,
                       weight_dims(buf, sizeof buf, lead, second, k));
    return TCONV_OK;
}

/* PyTorch cannot even build a weight with a negative size; say which. */
static tconv_status check_channels(int64_t in_channels, int64_t out_channels) {
    if (in_channels < 0 || out_channels < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "in_channels and out_channels must be non-negative, but got "
                       "in_channels=%lld out_channels=%lld",
                       (long long)in_channels, (long long)out_channels);
    return TCONV_OK;
}

/* The module's own check (PyTorch words it in nn.Conv*'s constructor). */
static tconv_status check_divisible(const char *name, int64_t channels, int64_t groups) {
    if (channels % groups != 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s must be divisible by groups, but got %s=%lld groups=%lld", name, name,
                       (long long)channels, (long long)groups);
    return TCONV_OK;
}

static tconv_status check_weight_numel(int64_t d0, int64_t d1, const int64_t k[2]) {
    int64_t dims[4] = {d0, d1, k[0], k[1]}, n;
    char buf[160];
    if (!tc_numel(dims, 4, &n))
        return tc_fail(TCONV_ERROR_OVERFLOW, "weight of size %s has more elements than int64 holds",
                       tc_fmt_dims(buf, sizeof buf, dims, 4));
    size_t bytes;
    if (!tc_float_bytes(n, &bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "weight of size %s does not fit in memory",
                       tc_fmt_dims(buf, sizeof buf, dims, 4));
    return TCONV_OK;
}

tconv_status tc_check_ct2d_params(const tconv_conv_transpose2d_params *p) {
    tconv_status st;
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "params is NULL");
    if (p->groups <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "non-positive groups is not supported");
    if (p->padding[0] < 0 || p->padding[1] < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "negative padding is not supported");
    if (p->output_padding[0] < 0 || p->output_padding[1] < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "negative output_padding is not supported");
    if (p->stride[0] <= 0 || p->stride[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported");
    st = check_channels(p->in_channels, p->out_channels);
    if (st) return st;
    st = check_divisible("out_channels", p->out_channels, p->groups);
    if (st) return st;
    int64_t cog = p->out_channels / p->groups;
    st = check_groups_dim0(p->groups, p->in_channels, cog, p->kernel_size);
    if (st) return st;
    if (p->kernel_size[0] <= 0 || p->kernel_size[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "kernel size should be greater than zero, but got kernel_height: %lld "
                       "kernel_width: %lld",
                       (long long)p->kernel_size[0], (long long)p->kernel_size[1]);
    if (p->dilation[0] <= 0 || p->dilation[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "dilation should be greater than zero, but got dilation_height: %lld, "
                       "dilation_width: %lld",
                       (long long)p->dilation[0], (long long)p->dilation[1]);
    if (!((p->output_padding[1] < p->stride[1] || p->output_padding[1] < p->dilation[1]) &&
          (p->output_padding[0] < p->stride[0] || p->output_padding[0] < p->dilation[0])))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "output padding must be smaller than either stride or dilation, but got "
                       "output_padding_height: %lld output_padding_width: %lld stride_height: "
                       "%lld stride_width: %lld dilation_height: %lld dilation_width: %lld",
                       (long long)p->output_padding[0], (long long)p->output_padding[1],
                       (long long)p->stride[0], (long long)p->stride[1],
                       (long long)p->dilation[0], (long long)p->dilation[1]);
    if (cog == 0) {
        /* PyTorch's kernel runs group by group, so it names one group's weight. */
        char buf[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "non-empty 2D or 4D weight tensor expected, but got: %s",
                       weight_dims(buf, sizeof buf, p->in_channels / p->groups, cog,
                                   p->kernel_size));
    }
    return check_weight_numel(p->in_channels, cog, p->kernel_size);
}

tconv_status tc_check_conv2d_params(const tconv_conv2d_params *p) {
    tconv_status st;
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "params is NULL");
    if (p->padding_mode < TCONV_PADDING_MODE_ZEROS || p->padding_mode > TCONV_PADDING_MODE_CIRCULAR)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "padding_mode must be one of {'reflect', 'replicate', 'circular', "
                       "'zeros'}, but got padding_mode=%d",
                       (int)p->padding_mode);
    if (p->padding_kind < TCONV_PADDING_EXPLICIT || p->padding_kind > TCONV_PADDING_VALID)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "Invalid padding_kind %d, should be explicit, 'valid' or 'same'",
                       (int)p->padding_kind);
    if (p->groups <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "non-positive groups is not supported");
    if (p->padding_kind == TCONV_PADDING_SAME && (p->stride[0] != 1 || p->stride[1] != 1))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "padding='same' is not supported for strided convolutions");
    /* F.conv2d's 'same' pads dilation*(kernel-1) in total: an empty kernel
     * makes that negative, refused before the kernel is looked at (with a
     * padding mode, F.pad crops instead and the kernel check speaks). */
    if (p->padding_kind == TCONV_PADDING_SAME && p->padding_mode == TCONV_PADDING_MODE_ZEROS &&
        ((p->kernel_size[0] <= 0 && p->dilation[0] > 0) ||
         (p->kernel_size[1] <= 0 && p->dilation[1] > 0)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "negative padding is not supported");
    if (p->padding_kind == TCONV_PADDING_EXPLICIT && (p->padding[0] < 0 || p->padding[1] < 0))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "negative padding is not supported");
    if (p->stride[0] <= 0 || p->stride[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "non-positive stride is not supported");
    /* PyTorch's native CPU path (slow_conv_dilated2d) words; its oneDNN path,
     * taken for some float32 shapes, says "non-positive dilation is not
     * supported" instead. */
    if (p->dilation[0] <= 0 || p->dilation[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "dilation should be greater than zero, but got [%lld, %lld]",
                       (long long)p->dilation[0], (long long)p->dilation[1]);
    st = check_channels(p->in_channels, p->out_channels);
    if (st) return st;
    st = check_divisible("in_channels", p->in_channels, p->groups);
    if (st) return st;
    int64_t cig = p->in_channels / p->groups;
    st = check_groups_dim0(p->groups, p->out_channels, cig, p->kernel_size);
    if (st) return st;
    /* PyTorch's dilated kernel (any dilation != 1) prints the sizes as a list. */
    if ((p->kernel_size[0] <= 0 || p->kernel_size[1] <= 0) &&
        (p->dilation[0] != 1 || p->dilation[1] != 1))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "kernel size should be greater than zero, but got [%lld, %lld]",
                       (long long)p->kernel_size[0], (long long)p->kernel_size[1]);
    if (p->kernel_size[0] <= 0 || p->kernel_size[1] <= 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "kernel size should be greater than zero, but got kernel_height: %lld "
                       "kernel_width: %lld",
                       (long long)p->kernel_size[0], (long long)p->kernel_size[1]);
    if (cig == 0) {
        char buf[160];
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "non-empty 4D weight tensor expected, but got: %s",
                       weight_dims(buf, sizeof buf, p->out_channels, cig, p->kernel_size));
    }
    return check_weight_numel(p->out_channels, cig, p->kernel_size);
}

tconv_status tconv_conv_transpose2d_params_check(const tconv_conv_transpose2d_params *p) {
    tc_clear_error();
    return tc_check_ct2d_params(p);
}

tconv_status tconv_conv2d_params_check(const tconv_conv2d_params *p) {
    tc_clear_error();
    return tc_check_conv2d_params(p);
}
