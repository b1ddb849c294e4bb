/*
 * tconv_train.h -- losses and optimizers for training networks of
 * tconv_nn.h's layers (included by tconv_nn.h, hence by tconv.h; the
 * conventions are tconv_nn.h's: dx overwritten, module .grad arrays
 * accumulated, nothing written on failure).
 */
#ifndef TCONV_TRAIN_H
#define TCONV_TRAIN_H

#include "tconv_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Losses (nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss)          */
/* ------------------------------------------------------------------------ */
/*
 * input and target hold n elements each (the same shape; PyTorch's
 * broadcasting is not offered), weight (PyTorch's per-element rescaling)
 * n elements or NULL.  The forward writes one value for 'mean' / 'sum' or
 * n values for 'none' to output; the backward takes grad_output (1 value,
 * or n for 'none'; 1.0 for a loss that is the end of the graph) and
 * OVERWRITES grad_input (n values; it may be input or target itself).
 * Elements are computed in double from the float inputs with PyTorch's
 * formulas and the reduction summed in double in index order, then rounded
 * to float once.  'mean' of zero elements is NaN, as PyTorch.
 */
typedef enum tconv_reduction {
    TCONV_REDUCTION_MEAN = 0, /* PyTorch's default */
    TCONV_REDUCTION_SUM = 1,
    TCONV_REDUCTION_NONE = 2
} tconv_reduction;

/* (x - t)^2;  dx = 2 (x - t) g */
TCONV_API tconv_status tconv_mse_loss(const float *input, const float *target, int64_t n,
                                      tconv_reduction reduction, float *output);
TCONV_API tconv_status tconv_mse_loss_backward(const float *input, const float *target,
                                               int64_t n, tconv_reduction reduction,
                                               const float *grad_output, float *grad_input);
/* |x - t|;  dx = sign(x - t) g  (sign(0) = sign(NaN) = 0, as torch.sign) */
TCONV_API tconv_status tconv_l1_loss(const float *input, const float *target, int64_t n,
                                     tconv_reduction reduction, float *output);
TCONV_API tconv_status tconv_l1_loss_backward(const float *input, const float *target,
                                              int64_t n, tconv_reduction reduction,
                                              const float *grad_output, float *grad_input);
/* -w (t log(x) + (1 - t) log(1 - x)) with each log clamped at -100 (so a
 * probability of exactly 0 or 1 costs at most 100);
 * dx = w (x - t) / max((1 - x) x, 1e-12) g.  Every input must be in [0, 1]
 * ("all elements of input should be between 0 and 1"; NaN fails too). */
TCONV_API tconv_status tconv_bce_loss(const float *input, const float *target,
                                      const float *weight, int64_t n,
                                      tconv_reduction reduction, float *output);
TCONV_API tconv_status tconv_bce_loss_backward(const float *input, const float *target,
                                               const float *weight, int64_t n,
                                               tconv_reduction reduction,
                                               const float *grad_output, float *grad_input);
/* BCE of sigmoid(x), in PyTorch's stable form, m = max(-x, 0):
 *   w ((1 - t) x + lw (log(e^-m + e^(-x-m)) + m)),  lw = (pos_weight - 1) t + 1
 *   dx = w ((pos_weight t + 1 - t) sigmoid(x) - pos_weight t) g
 * pos_weight (NULL: 1) has pos_weight_len values, one per class along the
 * input's last dimension: element i uses pos_weight[i % pos_weight_len]
 * (pos_weight_len must divide n; 1 is a scalar). */
TCONV_API tconv_status tconv_bce_with_logits_loss(const float *input, const float *target,
                                                  const float *weight, const float *pos_weight,
                                                  int64_t pos_weight_len, int64_t n,
                                                  tconv_reduction reduction, float *output);
TCONV_API tconv_status tconv_bce_with_logits_loss_backward(
    const float *input, const float *target, const float *weight, const float *pos_weight,
    int64_t pos_weight_len, int64_t n, tconv_reduction reduction, const float *grad_output,
    float *grad_input);

/* ------------------------------------------------------------------------ */
/* Optimizers (torch.optim.SGD, Adam, AdamW)                                 */
/* ------------------------------------------------------------------------ */
/*
 * An optimizer updates a list of parameters, each a float array with its
 * gradient, in place, exactly as torch.optim's single-tensor implementation
 * (foreach=False) of PyTorch 1.13 does: the same formulas in the same order
 * in float32 (scalars such as lr and betas rounded to float where PyTorch
 * multiplies a float tensor by them; bias corrections in double, as
 * PyTorch's Python floats), state in float32.  Parameters come in groups
 * with their own options (PyTorch's param_groups); the state of parameter i
 * (numbered across the groups in order, as in state_dict()) is reachable by
 * PyTorch's names: "step" (1 float, as PyTorch 1.13's float32 tensor),
 * "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq".
 *
 * The optimizer allocates all its state when it is created (or a group is
 * added): a step never allocates.  An optimizer must not be used from two
 * threads at once.
 */

/* One parameter: data and grad hold numel floats.  grad NULL: step skips
 * it (PyTorch skips a parameter whose .grad is None).  changed(owner), if
 * set, is called after step has written data: the tconv_*_parameters
 * functions set it to the module's weights_changed, so its packed
 * operators are re-packed before the next forward. */
typedef struct tconv_param {
    float *data;
    float *grad;
    int64_t numel;
    void (*changed)(void *owner);
    void *owner;
} tconv_param;

/* A module's parameters in PyTorch's order (weight, then bias if any), with
 * their .grad arrays (allocated zeroed if still NULL) and changed set as
 * above.  Writes *count entries (at most capacity; 2 always suffices). */
TCONV_API tconv_status tconv_linear_parameters(tconv_linear *m, tconv_param *params,
                                               int capacity, int *count);
TCONV_API tconv_status tconv_batchnorm2d_parameters(tconv_batchnorm2d *m, tconv_param *params,
                                                    int capacity, int *count);
TCONV_API tconv_status tconv_conv_transpose2d_module_parameters(
    tconv_conv_transpose2d_module *m, tconv_param *params, int capacity, int *count);
TCONV_API tconv_status tconv_conv2d_module_parameters(tconv_conv2d_module *m,
                                                      tconv_param *params, int capacity,
                                                      int *count);

typedef enum tconv_optimizer_kind {
    TCONV_OPTIMIZER_SGD = 0,
    TCONV_OPTIMIZER_ADAM = 1,
    TCONV_OPTIMIZER_ADAMW = 2
} tconv_optimizer_kind;

/* The options of a param group; each kind reads its own. */
typedef struct tconv_optimizer_options {
    double lr;
    double momentum, dampening; /* SGD */
    int nesterov;               /* SGD */
    double beta1, beta2, eps;   /* Adam, AdamW: betas=(beta1, beta2) */
    int amsgrad;                /* Adam, AdamW */
    double weight_decay;        /* SGD, Adam: L2 added to the gradient; AdamW: decoupled */
    int maximize;
} tconv_optimizer_options;

/* PyTorch's defaults for kind with learning rate lr: SGD momentum 0,
 * dampening 0, nesterov 0, weight_decay 0 (SGD has no default lr: give
 * one); Adam lr 1e-3 (when you pass it), betas (0.9, 0.999), eps 1e-8,
 * weight_decay 0, amsgrad 0; AdamW the same with weight_decay 1e-2;
 * maximize 0.  o NULL does nothing. */
TCONV_API void tconv_optimizer_options_init(tconv_optimizer_options *o, tconv_optimizer_kind kind,
                                            double lr);

typedef struct tconv_optimizer tconv_optimizer;

/*
 * SGD (torch.optim.SGD), per parameter p with gradient g:
 *   d = maximize ? -g : g;  if weight_decay: d = d + weight_decay * p
 *   if momentum: buf = first step ? d : buf * momentum + (1 - dampening) * d
 *                d = nesterov ? d + momentum * buf : buf
 *   p = p + (-lr) * d
 * Adam (torch.optim.Adam):
 *   step += 1;  d = maximize ? -g : g;  if weight_decay: d = d + weight_decay * p
 *   exp_avg = exp_avg * beta1 + (1 - beta1) * d
 *   exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * d * d
 *   bc1 = 1 - beta1^step, bc2 = 1 - beta2^step  (double)
 *   v = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
 *   denom = sqrt(v) / sqrt(bc2) + eps
 *   p = p + (-lr / bc1) * (exp_avg / denom)
 * AdamW (torch.optim.AdamW): p = p * (1 - lr * weight_decay) first, then
 *   Adam's update without the weight decay on d.
 * Options are checked with PyTorch's messages ("Invalid learning rate: -1.0",
 * "Nesterov momentum requires a momentum and zero dampening", ...).
 */
TCONV_API tconv_status tconv_optimizer_create(tconv_optimizer_kind kind,
                                              const tconv_param *params, int64_t count,
                                              const tconv_optimizer_options *options,
                                              tconv_optimizer **out);
/* optimizer.add_param_group: another group with its own options (NULL: the
 * first group's).  On failure the optimizer is unchanged. */
TCONV_API tconv_status tconv_optimizer_add_param_group(tconv_optimizer *opt,
                                                       const tconv_param *params, int64_t count,
                                                       const tconv_optimizer_options *options);
/* The live options of group g (0-based), e.g. to change lr between steps
 * (as param_groups[g]['lr'] = ...); NULL if there is no such group.  The
 * next step checks them again. */
TCONV_API tconv_optimizer_options *tconv_optimizer_group_options(tconv_optimizer *opt,
                                                                 int64_t group);
/* optimizer.step(): updates every parameter whose grad is not NULL, then
 * calls its changed hook.  Allocates nothing. */
TCONV_API tconv_status tconv_optimizer_step(tconv_optimizer *opt);
/* optimizer.zero_grad(): sets every parameter's grad array to zero.
 * (PyTorch 1.13's default set_to_none=False; PyTorch 2.x's default
 * set_to_none=True frees .grad instead, which has no C analogue here: a
 * zero gradient gives the same next step.) */
TCONV_API void tconv_optimizer_zero_grad(tconv_optimizer *opt);
/* Parameter index's state tensor `name` (see above): *data points at its
 * numel floats, valid until destroy, and may be written (to load a state
 * dict).  TCONV_ERROR_NOT_FOUND where PyTorch has no such entry: before
 * the parameter's first step, a name the kind does not keep (or
 * momentum_buffer with momentum 0, max_exp_avg_sq without amsgrad). */
TCONV_API tconv_status tconv_optimizer_state(tconv_optimizer *opt, int64_t index,
                                             const char *name, float **data, int64_t *numel);
/* load_state_dict for one entry: copies numel floats (the parameter's numel,
 * 1 for "step") into the state `name` of parameter index, which then exists
 * (so a following step continues from it, as after PyTorch's
 * load_state_dict).  NOT_FOUND for a name the kind and options do not keep. */
TCONV_API tconv_status tconv_optimizer_load_state(tconv_optimizer *opt, int64_t index,
                                                  const char *name, const float *data,
                                                  int64_t numel);
TCONV_API void tconv_optimizer_destroy(tconv_optimizer *opt);

#ifdef __cplusplus
}
#endif

#endif /* TCONV_TRAIN_H */
