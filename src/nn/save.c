/* save.c -- writing modules' state_dict entries into a safetensors writer,
 * under the names load.c reads and PyTorch's load_state_dict expects. */
#include "nn_internal.h"

#include <stdio.h>

static const char *key(char *buf, size_t cap, const char *prefix, const char *leaf) {
    if (prefix && prefix[0]) snprintf(buf, cap, "%s.%s", prefix, leaf);
    else snprintf(buf, cap, "%s", leaf);
    return buf;
}

static tconv_status put_f32(tconv_safetensors_writer *w, const char *prefix, const char *leaf,
                            const float *data, int ndim, const int64_t *shape) {
    char k[512];
    if (!data) return TCONV_OK; /* a parameter the module does not have */
    return tconv_safetensors_writer_add(w, key(k, sizeof k, prefix, leaf), TCONV_DTYPE_F32, ndim,
                                        shape, data);
}

static tconv_status check_args(const void *m, const tconv_safetensors_writer *w, const void *p) {
    tc_clear_error();
    if (!m || !w) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "save: NULL module or writer");
    if (!p) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "save: module is not initialised");
    return TCONV_OK;
}

tconv_status tconv_linear_save(const tconv_linear *m, tconv_safetensors_writer *w,
                               const char *prefix) {
    tconv_status s = check_args(m, w, m ? m->weight : NULL);
    if (s) return s;
    const int64_t ws[2] = {m->out_features, m->in_features};
    if ((s = put_f32(w, prefix, "weight", m->weight, 2, ws))) return s;
    return put_f32(w, prefix, "bias", m->bias, 1, &m->out_features);
}

tconv_status tconv_batchnorm2d_save(const tconv_batchnorm2d *m, tconv_safetensors_writer *w,
                                    const char *prefix) {
    tconv_status s = check_args(m, w, m ? m->running_mean : NULL);
    if (s) return s;
    const int64_t *c = &m->num_features;
    if ((s = put_f32(w, prefix, "weight", m->weight, 1, c)) ||
        (s = put_f32(w, prefix, "bias", m->bias, 1, c)) ||
        (s = put_f32(w, prefix, "running_mean", m->running_mean, 1, c)) ||
        (s = put_f32(w, prefix, "running_var", m->running_var, 1, c)))
        return s;
    char k[512];
    return tconv_safetensors_writer_add(w, key(k, sizeof k, prefix, "num_batches_tracked"),
                                        TCONV_DTYPE_I64, 0, NULL, &m->num_batches_tracked);
}

tconv_status tconv_conv_transpose2d_module_save(const tconv_conv_transpose2d_module *m,
                                                tconv_safetensors_writer *w, const char *prefix) {
    tconv_status s = check_args(m, w, m ? m->weight : NULL);
    if (s) return s;
    const tconv_conv_transpose2d_params *p = &m->p;
    if (p->groups <= 0) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "save: groups must be positive");
    const int64_t ws[4] = {p->in_channels, p->out_channels / p->groups, p->kernel_size[0],
                           p->kernel_size[1]};
    if ((s = put_f32(w, prefix, "weight", m->weight, 4, ws))) return s;
    return put_f32(w, prefix, "bias", m->bias, 1, &p->out_channels);
}

tconv_status tconv_conv2d_module_save(const tconv_conv2d_module *m, tconv_safetensors_writer *w,
                                      const char *prefix) {
    tconv_status s = check_args(m, w, m ? m->weight : NULL);
    if (s) return s;
    const tconv_conv2d_params *p = &m->p;
    if (p->groups <= 0) return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "save: groups must be positive");
    const int64_t ws[4] = {p->out_channels, p->in_channels / p->groups, p->kernel_size[0],
                           p->kernel_size[1]};
    if ((s = put_f32(w, prefix, "weight", m->weight, 4, ws))) return s;
    return put_f32(w, prefix, "bias", m->bias, 1, &p->out_channels);
}
