/* load.c -- filling modules from a safetensors state_dict by name. */
#include "nn_internal.h"

#include <stdio.h>

tconv_status tc_st_read_i64_scalar(const tconv_safetensors *f, const char *name, int64_t *out);

static const char *key(char *buf, size_t cap, const char *prefix, const char *leaf) {
    if (prefix && prefix[0]) snprintf(buf, cap, "%s.%s", prefix, leaf);
    else snprintf(buf, cap, "%s", leaf);
    return buf;
}

/* One parameter: present in the file iff the module has it (as
 * load_state_dict(strict=True)). */
static tconv_status load_param(const tconv_safetensors *st, const char *prefix, const char *leaf,
                               float *dst, int ndim, const int64_t *shape) {
    char k[512];
    key(k, sizeof k, prefix, leaf);
    if (!dst) {
        if (tconv_safetensors_find(st, k, NULL) == TCONV_OK)
            return tc_fail(TCONV_ERROR_FORMAT,
                           "Unexpected key(s) in state_dict: \"%s\" (the module has no %s)", k, leaf);
        tc_clear_error();
        return TCONV_OK;
    }
    int64_t n;
    tc_numel(shape, ndim, &n);
    tconv_status s = tconv_safetensors_read_f32(st, k, ndim, shape, dst, n);
    if (s == TCONV_ERROR_NOT_FOUND)
        return tc_fail(TCONV_ERROR_NOT_FOUND, "Missing key(s) in state_dict: \"%s\"", k);
    return s;
}

static tconv_status check_args(const void *m, const tconv_safetensors *st, const void *w) {
    if (!m || !st) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "load: NULL module or file");
    if (!w) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "load: module is not initialised");
    return TCONV_OK;
}

tconv_status tconv_linear_load(tconv_linear *m, const tconv_safetensors *st, const char *prefix) {
    tc_clear_error();
    tconv_status s = check_args(m, st, m ? m->weight : NULL);
    if (s) return s;
    int64_t ws[2] = {m->out_features, m->in_features};
    tconv_linear_weights_changed(m); /* also on failure: it may be partly loaded */
    if ((s = load_param(st, prefix, "weight", m->weight, 2, ws))) return s;
    return load_param(st, prefix, "bias", m->bias, 1, &m->out_features);
}

tconv_status tconv_batchnorm2d_load(tconv_batchnorm2d *m, const tconv_safetensors *st,
                                    const char *prefix) {
    tc_clear_error();
    tconv_status s = check_args(m, st, m ? m->running_mean : NULL);
    if (s) return s;
    const int64_t *c = &m->num_features;
    if ((s = load_param(st, prefix, "weight", m->weight, 1, c)) ||
        (s = load_param(st, prefix, "bias", m->bias, 1, c)) ||
        (s = load_param(st, prefix, "running_mean", m->running_mean, 1, c)) ||
        (s = load_param(st, prefix, "running_var", m->running_var, 1, c)))
        return s;
    char k[512];
    key(k, sizeof k, prefix, "num_batches_tracked");
    if (tconv_safetensors_find(st, k, NULL) == TCONV_OK)
        return tc_st_read_i64_scalar(st, k, &m->num_batches_tracked);
    tc_clear_error();
    return TCONV_OK;
}

tconv_status tconv_conv_transpose2d_module_load(tconv_conv_transpose2d_module *m,
                                                const tconv_safetensors *st, const char *prefix) {
    tc_clear_error();
    tconv_status s = check_args(m, st, m ? m->weight : NULL);
    if (s) return s;
    const tconv_conv_transpose2d_params *p = &m->p;
    int64_t ws[4] = {p->in_channels, p->out_channels / p->groups, p->kernel_size[0],
                     p->kernel_size[1]};
    tconv_conv_transpose2d_module_weights_changed(m);
    if ((s = load_param(st, prefix, "weight", m->weight, 4, ws))) return s;
    return load_param(st, prefix, "bias", m->bias, 1, &p->out_channels);
}

tconv_status tconv_conv2d_module_load(tconv_conv2d_module *m, const tconv_safetensors *st,
                                      const char *prefix) {
    tc_clear_error();
    tconv_status s = check_args(m, st, m ? m->weight : NULL);
    if (s) return s;
    const tconv_conv2d_params *p = &m->p;
    int64_t ws[4] = {p->out_channels, p->in_channels / p->groups, p->kernel_size[0],
                     p->kernel_size[1]};
    tconv_conv2d_module_weights_changed(m);
    if ((s = load_param(st, prefix, "weight", m->weight, 4, ws))) return s;
    return load_param(st, prefix, "bias", m->bias, 1, &p->out_channels);
}
