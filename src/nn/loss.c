/* loss.c -- nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss:
 * forward and backward side by side, reductions 'mean' / 'sum' / 'none'.
 * Each element is computed in double from the float inputs with PyTorch's
 * formula, the reduction summed in double in index order and rounded to
 * float once. */
#include "nn_internal.h"

#include <math.h>

/* The arguments every loss checks. */
static tconv_status check(const char *fn, const float *input, const float *target, int64_t n,
                          tconv_reduction reduction, const void *out, const char *out_name) {
    if (reduction != TCONV_REDUCTION_MEAN && reduction != TCONV_REDUCTION_SUM &&
        reduction != TCONV_REDUCTION_NONE)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%d is not a valid value for reduction",
                       (int)reduction);
    if (n < 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: n must be >= 0, got %lld", fn,
                       (long long)n);
    if (n > 0 && (!input || !target))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: input or target is NULL", fn);
    if (!out && (n > 0 || reduction != TCONV_REDUCTION_NONE))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, out_name);
    return TCONV_OK;
}

/* A forward: loss(i) for each element, then the reduction into out (1
 * value, or n for 'none'). */
static void reduce(int64_t n, tconv_reduction r, float *out, double (*f)(const void *, int64_t),
                   const void *ctx) {
    if (r == TCONV_REDUCTION_NONE) {
        for (int64_t i = 0; i < n; i++) out[i] = (float)f(ctx, i);
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += f(ctx, i);
    out[0] = (float)(r == TCONV_REDUCTION_MEAN ? s / (double)n : s); /* mean of none: NaN */
}

/* The upstream gradient of element i: grad_output[0] (divided by n for
 * 'mean') or grad_output[i] for 'none'. */
static double upstream(const float *go, int64_t i, int64_t n, tconv_reduction r) {
    if (r == TCONV_REDUCTION_NONE) return go[i];
    return r == TCONV_REDUCTION_MEAN ? (double)go[0] / (double)n : (double)go[0];
}

static tconv_status check_backward(const char *fn, const float *input, const float *target,
                                   int64_t n, tconv_reduction reduction, const float *grad_output,
                                   float *grad_input) {
    tconv_status st = check(fn, input, target, n, reduction, grad_input, "grad_input");
    if (st) return st;
    if (n > 0 && !grad_output)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT, "%s: grad_output is NULL", fn);
    if ((grad_input != input && tc_nn_overlap(grad_input, n, input, n)) ||
        (grad_input != target && tc_nn_overlap(grad_input, n, target, n)))
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s: grad_input must be input or target itself, or overlap neither", fn);
    return TCONV_OK;
}

typedef struct loss_ctx {
    const float *x, *t, *w, *pw;
    int64_t pw_len;
} loss_ctx;

/* ---- MSELoss --------------------------------------------------------------- */

static double mse_el(const void *c, int64_t i) {
    const loss_ctx *l = c;
    const double d = (double)l->x[i] - l->t[i];
    return d * d;
}

/* (x - t)^2 */
tconv_status tconv_mse_loss(const float *input, const float *target, int64_t n,
                            tconv_reduction reduction, float *output) {
    tc_clear_error();
    tconv_status st = check("mse_loss", input, target, n, reduction, output, "output");
    if (st) return st;
    const loss_ctx c = {input, target, NULL, NULL, 0};
    reduce(n, reduction, output, mse_el, &c);
    return TCONV_OK;
}

/* dx = 2 (x - t) * g */
tconv_status tconv_mse_loss_backward(const float *input, const float *target, int64_t n,
                                     tconv_reduction reduction, const float *grad_output,
                                     float *grad_input) {
    tc_clear_error();
    tconv_status st = check_backward("mse_loss_backward", input, target, n, reduction,
                                     grad_output, grad_input);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        grad_input[i] = (float)(2.0 * ((double)input[i] - target[i]) *
                                upstream(grad_output, i, n, reduction));
    return TCONV_OK;
}

/* ---- L1Loss ----------------------------------------------------------------- */

static double l1_el(const void *c, int64_t i) {
    const loss_ctx *l = c;
    return fabs((double)l->x[i] - l->t[i]);
}

/* |x - t| */
tconv_status tconv_l1_loss(const float *input, const float *target, int64_t n,
                           tconv_reduction reduction, float *output) {
    tc_clear_error();
    tconv_status st = check("l1_loss", input, target, n, reduction, output, "output");
    if (st) return st;
    const loss_ctx c = {input, target, NULL, NULL, 0};
    reduce(n, reduction, output, l1_el, &c);
    return TCONV_OK;
}

/* dx = sign(x - t) * g, sign(0) = sign(NaN) = 0 as torch.sign */
tconv_status tconv_l1_loss_backward(const float *input, const float *target, int64_t n,
                                    tconv_reduction reduction, const float *grad_output,
                                    float *grad_input) {
    tc_clear_error();
    tconv_status st = check_backward("l1_loss_backward", input, target, n, reduction,
                                     grad_output, grad_input);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)input[i] - target[i];
        grad_input[i] = (float)((double)((d > 0) - (d < 0)) * upstream(grad_output, i, n, reduction));
    }
    return TCONV_OK;
}

/* ---- BCELoss ------------------------------------------------------------------ */

static tconv_status check_probabilities(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f))
            return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                           "all elements of input should be between 0 and 1");
    return TCONV_OK;
}

/* -w (t log(x) + (1 - t) log(1 - x)), each log clamped to >= -100 */
static double bce_el(const void *c, int64_t i) {
    const loss_ctx *l = c;
    const double x = l->x[i], t = l->t[i];
    const double lx = fmax(log(x), -100.0), l1x = fmax(log1p(-x), -100.0);
    const double v = (t - 1.0) * l1x - t * lx;
    return l->w ? v * l->w[i] : v;
}

tconv_status tconv_bce_loss(const float *input, const float *target, const float *weight,
                            int64_t n, tconv_reduction reduction, float *output) {
    tc_clear_error();
    tconv_status st = check("binary_cross_entropy", input, target, n, reduction, output, "output");
    if (!st) st = check_probabilities(input, n);
    if (st) return st;
    const loss_ctx c = {input, target, weight, NULL, 0};
    reduce(n, reduction, output, bce_el, &c);
    return TCONV_OK;
}

/* dx = w (x - t) / max((1 - x) x, 1e-12) * g */
tconv_status tconv_bce_loss_backward(const float *input, const float *target, const float *weight,
                                     int64_t n, tconv_reduction reduction,
                                     const float *grad_output, float *grad_input) {
    tc_clear_error();
    tconv_status st = check_backward("binary_cross_entropy_backward", input, target, n, reduction,
                                     grad_output, grad_input);
    if (!st) st = check_probabilities(input, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        const double x = input[i], t = target[i];
        double g = upstream(grad_output, i, n, reduction) * (x - t) / fmax((1.0 - x) * x, 1e-12);
        if (weight) g *= weight[i];
        grad_input[i] = (float)g;
    }
    return TCONV_OK;
}

/* ---- BCEWithLogitsLoss ------------------------------------------------------------ */

/* PyTorch's stable form, m = max(-x, 0):
 *   (1 - t) x + lw (log(e^-m + e^(-x-m)) + m),  lw = (pos_weight - 1) t + 1
 * (lw = 1 without pos_weight), times weight. */
static double bcel_el(const void *c, int64_t i) {
    const loss_ctx *l = c;
    const double x = l->x[i], t = l->t[i];
    const double m = fmax(-x, 0.0);
    const double lw = l->pw ? ((double)l->pw[i % l->pw_len] - 1.0) * t + 1.0 : 1.0;
    const double v = (1.0 - t) * x + lw * (log(exp(-m) + exp(-x - m)) + m);
    return l->w ? v * l->w[i] : v;
}

static tconv_status check_pos_weight(const char *fn, const float *pos_weight,
                                     int64_t pos_weight_len, int64_t n) {
    if (!pos_weight) return TCONV_OK;
    if (pos_weight_len < 1 || n % pos_weight_len != 0)
        return tc_fail(TCONV_ERROR_INVALID_ARGUMENT,
                       "%s: pos_weight has %lld values, which must be >= 1 and divide the %lld "
                       "elements (one per class of the last dimension)", fn,
                       (long long)pos_weight_len, (long long)n);
    return TCONV_OK;
}

tconv_status tconv_bce_with_logits_loss(const float *input, const float *target,
                                        const float *weight, const float *pos_weight,
                                        int64_t pos_weight_len, int64_t n,
                                        tconv_reduction reduction, float *output) {
    tc_clear_error();
    tconv_status st = check("binary_cross_entropy_with_logits", input, target, n, reduction,
                            output, "output");
    if (!st) st = check_pos_weight("binary_cross_entropy_with_logits", pos_weight, pos_weight_len, n);
    if (st) return st;
    const loss_ctx c = {input, target, weight, pos_weight, pos_weight_len};
    reduce(n, reduction, output, bcel_el, &c);
    return TCONV_OK;
}

/* dx = ((pw t + 1 - t) sigmoid(x) - pw t) * g, or (sigmoid(x) - t) * g,
 * times weight */
tconv_status tconv_bce_with_logits_loss_backward(const float *input, const float *target,
                                                 const float *weight, const float *pos_weight,
                                                 int64_t pos_weight_len, int64_t n,
                                                 tconv_reduction reduction,
                                                 const float *grad_output, float *grad_input) {
    tc_clear_error();
    const char *fn = "binary_cross_entropy_with_logits_backward";
    tconv_status st = check_backward(fn, input, target, n, reduction, grad_output, grad_input);
    if (!st) st = check_pos_weight(fn, pos_weight, pos_weight_len, n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        const double x = input[i], t = target[i], s = 1.0 / (1.0 + exp(-x));
        const double go = upstream(grad_output, i, n, reduction);
        double g;
        if (pos_weight) {
            const double pt = (double)pos_weight[i % pos_weight_len] * t;
            g = ((pt + 1.0 - t) * s - pt) * go;
        } else {
            g = (s - t) * go;
        }
        if (weight) g *= weight[i];
        grad_input[i] = (float)g;
    }
    return TCONV_OK;
}
