/* module_cache.c -- what a module keeps between calls: its packed
 * operators (forward, backward data, backward weight), the input shape each
 * was last reshaped for, one workspace they share, and what the packed
 * weights were made from, so that a forward costs one tconv_op_run and the
 * weights are packed again only after they change.
 *
 * A change is known three ways: the module's *_weights_changed (called by
 * every library function that writes parameters, and by the caller after
 * writing them in place), the weight/bias pointers being replaced, or the
 * parameters being edited.  TCONV_CHECK_WEIGHTS=1 adds a checksum of the
 * weights, verified at every use of a packed operator, to catch a missing
 * *_weights_changed (a debugging aid: it reads all the weights each time). */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

tconv_nn_cache *tc_nn_cache_new(const char *what) {
    tconv_nn_cache *c = calloc(1, sizeof *c);
    if (!c) tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "%s: out of memory allocating the module cache", what);
    return c;
}

static void slot_free(tc_op_slot *s) {
    tconv_op_destroy(s->op);
    memset(s, 0, sizeof *s);
}

void tc_nn_cache_free(tconv_nn_cache *c) {
    if (!c) return;
    slot_free(&c->fwd);
    slot_free(&c->bwd_data);
    slot_free(&c->bwd_weight);
    free(c->ws);
    free(c->save_mean);
    free(c->save_invstd);
    free(c);
}

void tc_nn_cache_drop_weights(tconv_nn_cache *c) {
    if (!c) return;
    slot_free(&c->fwd);
    slot_free(&c->bwd_data);
}

static int check_weights_env(void) {
    static int cached = -1; /* benign race: every thread reads the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("TCONV_CHECK_WEIGHTS");
        v = e && e[0] && strcmp(e, "0") != 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* FNV-1a over the bits of the weights and bias. */
static uint64_t checksum(const float *w, int64_t wn, const float *b, int64_t bn) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int pass = 0; pass < 2; pass++) {
        const float *p = pass ? b : w;
        const int64_t n = p ? (pass ? bn : wn) : 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + i, 4);
            h = (h ^ u) * 0x100000001b3ull;
        }
    }
    return h;
}

tconv_status tc_nn_cache_sync(tconv_nn_cache *c, const char *what, const float *weight,
                              int64_t weight_numel, const float *bias, int64_t bias_numel,
                              const void *params, size_t params_size) {
    if (params_size > sizeof c->params) params_size = sizeof c->params;
    const int have_packed = c->fwd.op || c->bwd_data.op;
    if (memcmp(c->params, params, params_size) != 0) { /* first use, or parameters edited */
        slot_free(&c->bwd_weight);
        tc_nn_cache_drop_weights(c);
        memcpy(c->params, params, params_size);
    } else if (c->weight != weight || c->bias != bias) {
        tc_nn_cache_drop_weights(c);
    } else if (c->stale) {
        /* new values in the same arrays (an optimizer step, a load): packed
         * again in place, no allocation; an operator that refuses is made again */
        if (c->fwd.op && tconv_op_set_weights(c->fwd.op, weight, bias) != TCONV_OK)
            slot_free(&c->fwd);
        if (c->bwd_data.op && tconv_op_set_weights(c->bwd_data.op, weight, NULL) != TCONV_OK)
            slot_free(&c->bwd_data);
        tc_clear_error();
    } else if (have_packed && check_weights_env() &&
               checksum(weight, weight_numel, bias, bias_numel) != c->checksum) {
        return tc_fail(TCONV_ERROR_INVALID_STATE,
                       "%s: the weights were changed in place without calling its "
                       "weights_changed function (TCONV_CHECK_WEIGHTS=1)", what);
    }
    if ((c->stale || (!c->fwd.op && !c->bwd_data.op)) && check_weights_env())
        c->checksum = checksum(weight, weight_numel, bias, bias_numel);
    c->stale = 0;
    c->weight = weight;
    c->bias = bias;
    return TCONV_OK;
}

tconv_status tc_nn_slot_reshape(tconv_nn_cache *c, tc_op_slot *s, int ndim,
                                const int64_t *input_shape, const int64_t *output_size,
                                int output_size_len) {
    if (s->ndim && s->ndim == ndim && input_shape &&
        memcmp(s->in, input_shape, (size_t)ndim * sizeof(int64_t)) == 0 &&
        s->has_osz == (output_size != NULL) && s->osz_len == output_size_len &&
        (!output_size ||
         memcmp(s->osz, output_size, (size_t)output_size_len * sizeof(int64_t)) == 0))
        return TCONV_OK;
    s->ndim = 0;
    int64_t out[4];
    size_t ws = 0;
    tconv_status st =
        tconv_op_reshape(s->op, ndim, input_shape, output_size, output_size_len, out, &ws);
    if (st) return st;
    if (ws > c->ws_cap) {
        free(c->ws);
        c->ws_cap = 0;
        c->ws = malloc(ws);
        if (!c->ws)
            return tc_fail(TCONV_ERROR_OUT_OF_MEMORY,
                           "out of memory allocating a %zu-byte workspace", ws);
        c->ws_cap = ws;
    }
    /* the operator accepted the shape: ndim is 3 or 4, output_size 2 or ndim entries */
    memcpy(s->in, input_shape, (size_t)ndim * sizeof(int64_t));
    memcpy(s->out, out, (size_t)ndim * sizeof(int64_t));
    s->osz_len = output_size_len;
    s->has_osz = output_size != NULL;
    if (output_size) memcpy(s->osz, output_size, (size_t)output_size_len * sizeof(int64_t));
    s->ndim = ndim;
    return TCONV_OK;
}

tconv_status tc_nn_ensure_op(tc_op_slot *s, tc_nn_op_kind kind, tconv_pass pass,
                             const void *params, const float *weight, const float *bias) {
    if (s->op) return TCONV_OK;
    tconv_options o;
    tconv_options_init(&o);
    o.accumulate = pass == TCONV_PASS_BACKWARD_WEIGHT;
    tconv_op *op = NULL;
    tconv_status st;
    if (kind == TC_NN_CT2D) {
        const tconv_conv_transpose2d_params *p = params;
        st = pass == TCONV_PASS_FORWARD ? tconv_conv_transpose2d_create(p, weight, bias, &o, &op)
             : pass == TCONV_PASS_BACKWARD_DATA
                 ? tconv_conv_transpose2d_backward_data_create(p, weight, &o, &op)
                 : tconv_conv_transpose2d_backward_weight_create(p, &o, &op);
    } else {
        const tconv_conv2d_params *p = params;
        st = pass == TCONV_PASS_FORWARD      ? tconv_conv2d_create(p, weight, bias, &o, &op)
             : pass == TCONV_PASS_BACKWARD_DATA ? tconv_conv2d_backward_data_create(p, weight, &o, &op)
                                                : tconv_conv2d_backward_weight_create(p, &o, &op);
    }
    if (st) return st;
    memset(s, 0, sizeof *s);
    s->op = op;
    return TCONV_OK;
}

tconv_status tc_nn_ensure_grad(float **g, int64_t n, const char *what) {
    if (*g) return TCONV_OK;
    size_t bytes;
    if (!tc_float_bytes(n, &bytes))
        return tc_fail(TCONV_ERROR_OVERFLOW, "%s: %lld floats do not fit in memory", what,
                       (long long)n);
    float *p = calloc(bytes ? bytes : 1, 1);
    if (!p)
        return tc_fail(TCONV_ERROR_OUT_OF_MEMORY, "%s: out of memory allocating %zu bytes", what,
                       bytes);
    *g = p;
    return TCONV_OK;
}
