"""The training half of tconv.functional: element-wise activations, batch_norm
and the losses, each with its backward, on libtconv's C kernels.

Names and argument orders are torch.nn.functional's for the forwards and
ATen's for the backwards (torch.ops.aten.tanh_backward(grad_output, output),
...): a training step is the forward calls, then the backward calls in
reverse order, then a tconv.optim optimizer's step.  Arrays in are any real
array-likes (converted to float32, as the functional convolutions do);
arrays out are fresh float32 NumPy arrays.  Shapes must match exactly (no
broadcasting, except a loss's weight, which is broadcast to the input as
PyTorch does).  Refusals raise tconv.Error with the library's message.
"""
import ctypes

import numpy as np

from . import _lib
from ._convert import as_f32
from ._lib import Error

__all__ = ["relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "tanh", "tanh_backward",
           "sigmoid", "sigmoid_backward", "batch_norm", "batch_norm_backward", "mse_loss",
           "mse_loss_backward", "l1_loss", "l1_loss_backward", "binary_cross_entropy",
           "binary_cross_entropy_backward", "binary_cross_entropy_with_logits",
           "binary_cross_entropy_with_logits_backward"]


def _ptr(a):
    return None if a is None else a.ctypes.data


def _same_shape(a, b, what_a, what_b, fn):
    if a.shape != b.shape:
        raise Error("%s: %s has shape %s but %s has shape %s (tconv does not broadcast)"
                    % (fn, what_a, list(a.shape), what_b, list(b.shape)))


# ---- activations ------------------------------------------------------------------------

def _map(fn, x, *extra):
    x = as_f32(x)
    y = np.empty_like(x)
    _lib.check(fn(_ptr(x), _ptr(y), x.size, *extra))
    return y


def _grad(fn, who, saved, grad_output, *extra):
    saved, dy = as_f32(saved), as_f32(grad_output)
    _same_shape(dy, saved, "grad_output", "the saved tensor", who)
    dx = np.empty_like(dy)
    _lib.check(fn(_ptr(saved), _ptr(dy), _ptr(dx), dy.size, *extra))
    return dx


def relu(input):
    """F.relu: max(x, 0) (NaN stays NaN)."""
    return _map(_lib.lib.tconv_relu, input)


def relu_backward(grad_output, output):
    """ReLU's gradient from its output (or input: the same sign):
    grad_output where output > 0, else 0 (ATen's threshold_backward)."""
    return _grad(_lib.lib.tconv_relu_backward, "relu_backward", output, grad_output)


def leaky_relu(input, negative_slope=0.01):
    """F.leaky_relu: x if x > 0 else negative_slope * x."""
    return _map(_lib.lib.tconv_leaky_relu, input, float(negative_slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """grad_output where input > 0, else grad_output * negative_slope.  For
    negative_slope > 0 the forward's output has the input's sign and may be
    given instead (an in-place LeakyReLU keeps only that)."""
    return _grad(_lib.lib.tconv_leaky_relu_backward, "leaky_relu_backward", input, grad_output,
                 float(negative_slope))


def tanh(input):
    """torch.tanh (within 1.5 ulp of the exact function)."""
    return _map(_lib.lib.tconv_tanh, input)


def tanh_backward(grad_output, output):
    """From tanh's output y: grad_output * (1 - y * y)."""
    return _grad(_lib.lib.tconv_tanh_backward, "tanh_backward", output, grad_output)


def sigmoid(input):
    """torch.sigmoid: 1 / (1 + exp(-x)) (within 2.5 ulp)."""
    return _map(_lib.lib.tconv_sigmoid, input)


def sigmoid_backward(grad_output, output):
    """From sigmoid's output y: grad_output * (1 - y) * y."""
    return _grad(_lib.lib.tconv_sigmoid_backward, "sigmoid_backward", output, grad_output)


# ---- batch_norm -------------------------------------------------------------------------

def _bn_vector(a, name, c, fn):
    if a is None:
        return None
    a = as_f32(a)
    if a.shape != (c,):
        raise Error("%s: %s must have shape [%d], but has shape %s" % (fn, name, c, list(a.shape)))
    return a


def _bn_module(c, weight, running_mean, running_var, training, eps):
    """A C BatchNorm2d (with the cache its backward needs) holding copies of
    the given values (weight None: affine=False), and the pointers its init
    allocated (restored before tconv_batchnorm2d_free frees them)."""
    m = _lib.BatchNorm2d()
    _lib.check(_lib.lib.tconv_batchnorm2d_init(ctypes.byref(m), c))
    own = (m.weight, m.bias)
    m.eps, m.momentum, m.training = float(eps), 0.1, int(bool(training))
    for field, value in (("weight", weight), ("running_mean", running_mean),
                         ("running_var", running_var)):
        if value is not None and c:
            ctypes.memmove(getattr(m, field), value.ctypes.data, 4 * c)
    if weight is None:
        m.weight = m.bias = None
    return m, own


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """F.batch_norm over (N, C, H, W): training=True normalises with the
    batch's mean and biased variance and updates running_mean / running_var
    IN PLACE (writable float32 arrays, or None) with momentum, using the
    unbiased variance; training=False normalises with the running
    statistics.  weight / bias None: no affine transform.  Returns the
    output."""
    fn = "batch_norm"
    x = as_f32(input)
    if x.ndim != 4:
        raise Error("expected 4D input (got %dD input)" % x.ndim)
    c = x.shape[1]
    w, b = _bn_vector(weight, "weight", c, fn), _bn_vector(bias, "bias", c, fn)
    if (w is None) != (b is None):
        raise Error("%s: give both weight and bias, or neither" % fn)
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is None:
            continue
        if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != (c,) or \
                not a.flags.c_contiguous or (training and not a.flags.writeable):
            raise Error("%s: %s must be a C-contiguous float32 array of shape [%d]%s"
                        % (fn, name, c, " that can be written (training=True updates it)"
                           if training else ""))
    if not training and (running_mean is None or running_var is None):
        raise Error("%s: training=False normalises with running_mean and running_var: give "
                    "both" % fn)
    rm = running_mean if running_mean is not None else np.zeros(c, np.float32)
    rv = running_var if running_var is not None else np.ones(c, np.float32)
    if momentum is None or not 0 <= float(momentum) <= 1:
        raise Error("%s: momentum must be a number in [0, 1], got %r" % (fn, momentum))
    st = _lib.BatchNorm2d(c, float(eps), float(momentum),
                          int(bool(training)), None if w is None else _cptr(w),
                          None if b is None else _cptr(b), _cptr(rm), _cptr(rv), 0)
    y = np.empty_like(x)
    _lib.check(_lib.lib.tconv_batchnorm2d_forward(ctypes.byref(st), 4, _lib.i64_array(x.shape),
                                                  _ptr(x), _ptr(y)))
    return y


def _cptr(a):
    return ctypes.cast(a.ctypes.data, _lib._fp)


def batch_norm_backward(grad_output, input, weight=None, running_mean=None, running_var=None,
                        training=True, eps=1e-5):
    """The gradients of batch_norm(input, ..., training, eps) for
    grad_output: (grad_input, grad_weight, grad_bias), the last two None
    without weight.  training=True: through the batch statistics of input
    (recomputed here, in double, as the forward computed them):
        grad_input = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
    training=False: through the running statistics, grad_input = dy * weight
    * invstd.  grad_weight = sum(dy * xhat), grad_bias = sum(dy) over (N, H,
    W).  The running statistics given are not changed."""
    fn = "batch_norm_backward"
    x, dy = as_f32(input), as_f32(grad_output)
    if x.ndim != 4:
        raise Error("expected 4D input (got %dD input)" % x.ndim)
    _same_shape(dy, x, "grad_output", "input", fn)
    c = x.shape[1]
    w = _bn_vector(weight, "weight", c, fn)
    rm = _bn_vector(running_mean, "running_mean", c, fn)
    rv = _bn_vector(running_var, "running_var", c, fn)
    if not training and (rm is None or rv is None):
        raise Error("%s: training=False needs running_mean and running_var" % fn)
    m, own = _bn_module(c, w, rm, rv, training, eps)
    try:
        shape = _lib.i64_array(x.shape)
        scratch = np.empty_like(x)
        # the forward saves the statistics the backward uses (its running
        # statistics are the module's copies)
        _lib.check(_lib.lib.tconv_batchnorm2d_forward(ctypes.byref(m), 4, shape, _ptr(x),
                                                      _ptr(scratch)))
        dx = np.empty_like(x)
        _lib.check(_lib.lib.tconv_batchnorm2d_backward(ctypes.byref(m), 4, shape, _ptr(x),
                                                       _ptr(dy), _ptr(dx)))
        gw = gb = None
        if w is not None and c:
            gw = np.ctypeslib.as_array(m.weight_grad, shape=(c,)).copy()
            gb = np.ctypeslib.as_array(m.bias_grad, shape=(c,)).copy()
        elif w is not None:
            gw, gb = np.zeros(0, np.float32), np.zeros(0, np.float32)
        return dx, gw, gb
    finally:
        m.weight, m.bias = own
        _lib.lib.tconv_batchnorm2d_free(ctypes.byref(m))


# ---- losses -----------------------------------------------------------------------------

def _reduction(reduction):
    if reduction not in _lib.REDUCTIONS:
        raise Error("%s is not a valid value for reduction" % (reduction,))
    return _lib.REDUCTIONS[reduction]


def _loss_args(fn, input, target, weight=None):
    x, t = as_f32(input), as_f32(target)
    _same_shape(t, x, "target", "input", fn)
    w = None
    if weight is not None:
        w = np.ascontiguousarray(np.broadcast_to(as_f32(weight), x.shape))
    return x, t, w


def _out(x, reduction):
    return np.empty(x.shape if reduction == "none" else (), np.float32)


def _upstream(grad_output, x, reduction, fn):
    go = as_f32(grad_output)
    if reduction == "none":
        _same_shape(go, x, "grad_output", "input", fn)
    elif go.size != 1:
        raise Error("%s: grad_output of a '%s' loss is one value, got shape %s"
                    % (fn, reduction, list(go.shape)))
    return np.ascontiguousarray(go.reshape(x.shape if reduction == "none" else (1,)))


def _pos_weight(pos_weight, x, fn):
    if pos_weight is None:
        return None, 0
    pw = as_f32(pos_weight).reshape(-1)
    last = x.shape[-1] if x.ndim else 1
    if pw.size not in (1, last):
        raise Error("%s: pos_weight has %d values; it needs 1 or one per class of the input's "
                    "last dimension (%d)" % (fn, pw.size, last))
    return pw, pw.size


def mse_loss(input, target, reduction="mean"):
    """F.mse_loss: (x - t)^2, reduced ('mean', 'sum', 'none')."""
    r = _reduction(reduction)
    x, t, _ = _loss_args("mse_loss", input, target)
    y = _out(x, reduction)
    _lib.check(_lib.lib.tconv_mse_loss(_ptr(x), _ptr(t), x.size, r, _ptr(y)))
    return y


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """2 (x - t) * grad_output (/ n for 'mean')."""
    r = _reduction(reduction)
    x, t, _ = _loss_args("mse_loss_backward", input, target)
    go = _upstream(grad_output, x, reduction, "mse_loss_backward")
    dx = np.empty_like(x)
    _lib.check(_lib.lib.tconv_mse_loss_backward(_ptr(x), _ptr(t), x.size, r, _ptr(go), _ptr(dx)))
    return dx


def l1_loss(input, target, reduction="mean"):
    """F.l1_loss: |x - t|, reduced."""
    r = _reduction(reduction)
    x, t, _ = _loss_args("l1_loss", input, target)
    y = _out(x, reduction)
    _lib.check(_lib.lib.tconv_l1_loss(_ptr(x), _ptr(t), x.size, r, _ptr(y)))
    return y


def l1_loss_backward(grad_output, input, target, reduction="mean"):
    """sign(x - t) * grad_output (/ n for 'mean'); sign(0) = 0."""
    r = _reduction(reduction)
    x, t, _ = _loss_args("l1_loss_backward", input, target)
    go = _upstream(grad_output, x, reduction, "l1_loss_backward")
    dx = np.empty_like(x)
    _lib.check(_lib.lib.tconv_l1_loss_backward(_ptr(x), _ptr(t), x.size, r, _ptr(go), _ptr(dx)))
    return dx


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """F.binary_cross_entropy of probabilities in [0, 1] (logs clamped at
    -100); weight is broadcast to the input."""
    r = _reduction(reduction)
    x, t, w = _loss_args("binary_cross_entropy", input, target, weight)
    y = _out(x, reduction)
    _lib.check(_lib.lib.tconv_bce_loss(_ptr(x), _ptr(t), _ptr(w), x.size, r, _ptr(y)))
    return y


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction="mean"):
    """w (x - t) / max((1 - x) x, 1e-12) * grad_output (/ n for 'mean')."""
    r = _reduction(reduction)
    x, t, w = _loss_args("binary_cross_entropy_backward", input, target, weight)
    go = _upstream(grad_output, x, reduction, "binary_cross_entropy_backward")
    dx = np.empty_like(x)
    _lib.check(_lib.lib.tconv_bce_loss_backward(_ptr(x), _ptr(t), _ptr(w), x.size, r, _ptr(go),
                                                _ptr(dx)))
    return dx


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """F.binary_cross_entropy_with_logits (nn.BCEWithLogitsLoss) in PyTorch's
    stable form; pos_weight: 1 value or one per class of the last
    dimension."""
    fn = "binary_cross_entropy_with_logits"
    r = _reduction(reduction)
    x, t, w = _loss_args(fn, input, target, weight)
    pw, npw = _pos_weight(pos_weight, x, fn)
    y = _out(x, reduction)
    _lib.check(_lib.lib.tconv_bce_with_logits_loss(_ptr(x), _ptr(t), _ptr(w), _ptr(pw), npw,
                                                   x.size, r, _ptr(y)))
    return y


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None,
                                              reduction="mean", pos_weight=None):
    """w ((pos_weight t + 1 - t) sigmoid(x) - pos_weight t) * grad_output
    (/ n for 'mean')."""
    fn = "binary_cross_entropy_with_logits_backward"
    r = _reduction(reduction)
    x, t, w = _loss_args(fn, input, target, weight)
    pw, npw = _pos_weight(pos_weight, x, fn)
    go = _upstream(grad_output, x, reduction, fn)
    dx = np.empty_like(x)
    _lib.check(_lib.lib.tconv_bce_with_logits_loss_backward(
        _ptr(x), _ptr(t), _ptr(w), _ptr(pw), npw, x.size, r, _ptr(go), _ptr(dx)))
    return dx
