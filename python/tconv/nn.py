"""tconv.nn: the layers of torch.nn that tconv computes, shaped like torch.nn.

    import numpy as np, tconv
    from tconv import nn

    class Generator(nn.Module):                   # seed 003's DCGAN generator
        def __init__(self, z_dim=100, img_channels=3):
            super().__init__()
            self.net = nn.Sequential(
                nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
                nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
                nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False), nn.Tanh())

        def forward(self, x):
            return self.net(x)

    gen = Generator()
    gen.load_state_dict(tconv.load_safetensors("generator.safetensors"))  # PyTorch's names
    img = gen.eval()(np.random.randn(16, 100, 1, 1).astype(np.float32))  # (16, 3, 16, 16)

Class names, constructor signatures and defaults are torch.nn's (device and
dtype accept only the CPU and float32).  Module has parameters(),
named_parameters(), buffers(), children(), modules(), state_dict(),
load_state_dict(strict=...) with PyTorch's key checks and messages, train(),
eval(), apply() and torch's repr.

Arrays.  Inputs are NumPy arrays or CPU torch tensors (through DLPack);
outputs are NumPy float32 arrays.  As in PyTorch, a layer refuses an input
of another dtype (float64, integers) instead of converting it: convert with
x.astype(np.float32) or x.float().

Parameters are read-only.  A module's parameters are Parameter arrays
(float32, read-only, storage no one can write): ConvTranspose2d and Conv2d
pack their weights into a C operator once and reuse it for every call, so
an in-place write (m.weight[0] = 1, m.weight += 1) raises tconv.Error.
Change a parameter by assigning a new array (m.weight = new_values, converted
to float32 as load_state_dict's copy converts) or with load_state_dict;
either repacks the operator at the next call.  Buffers (BatchNorm2d's
running statistics) are ordinary writable arrays.

Threads.  A module may be called from several Python threads at once; each
layer with state (packed operator, running statistics) takes its own lock.
"""
import collections
import collections.abc
import math

import numpy as np

from . import _args as _A
from . import _lib
from . import functional
from . import functional as _F
from ._convert import INT64_MAX as _INT64_MAX, as_layer_input, int_arg, int_seq
from ._lib import Error
from ._module import Module, Parameter, Sequential, _check_factory, _generator, manual_seed

__all__ = ["Parameter", "Module", "Sequential", "Linear", "BatchNorm2d", "ReLU", "LeakyReLU",
           "Tanh", "Sigmoid", "MaxPool2d", "ConvTranspose2d", "Conv2d", "manual_seed",
           "functional"]


# ---- Linear ---------------------------------------------------------------------

def _check_dims(shape):
    for d in shape:
        if d < 0:
            raise Error("Trying to create tensor with negative dimension %d: %s"
                        % (d, _A._dims(shape)))


def _uniform(g, bound, shape):
    return g.uniform(-bound, bound, shape).astype(np.float32) if bound else \
        np.zeros(shape, np.float32)


class Linear(Module):
    """torch.nn.Linear: y = x W^T + b for x (..., in_features).

    weight (out_features, in_features), bias (out_features,) or None, drawn
    from U(-1/sqrt(in_features), 1/sqrt(in_features)) as PyTorch's default
    initialisation (rng: a NumPy Generator or seed; default the generator of
    tconv.manual_seed).  Runs on a packed operator kept by the module (the
    library's 1x1 GEMM path: a Linear is a 1x1 convolution of (M,
    in_features, 1, 1)), made again after an assignment to weight or bias."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *,
                 rng=None):
        super().__init__()
        _check_factory(device, dtype, "Linear")
        self.in_features = int_arg(in_features, "in_features", "Linear")
        self.out_features = int_arg(out_features, "out_features", "Linear")
        _check_dims((self.out_features, self.in_features))
        self.weight = Parameter(np.zeros((self.out_features, self.in_features), np.float32))
        if bias:
            self.bias = Parameter(np.zeros(self.out_features, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def _init_transient(self):
        super()._init_transient()
        self.__dict__["_op"] = None

    def _changed(self, name):
        if name in ("weight", "bias"):
            with self.__dict__["_lock"]:
                self.__dict__["_op"] = None

    def reset_parameters(self, rng=None):
        """Redraws weight and bias from PyTorch's default distribution."""
        g = _generator(rng)
        fan_in = self.weight.shape[1] if self.weight.ndim == 2 else 0
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
        self.weight = _uniform(g, bound, self.weight.shape)
        if self.bias is not None:
            self.bias = _uniform(g, bound, self.bias.shape)

    def forward(self, input):
        """input (..., in_features) -> (..., out_features)."""
        x = as_layer_input(input, "Linear")
        w, b = self.weight, self.bias
        if w.ndim != 2:
            raise Error("Linear: weight must be 2-dimensional, but has shape %s"
                        % _A._dims(w.shape))
        if b is not None and b.shape != (w.shape[0],):
            raise Error("Linear: bias must have shape [%d] to match weight %s, but has shape %s"
                        % (w.shape[0], _A._dims(w.shape), _A._dims(b.shape)))
        if x.ndim >= 1 and x.shape[-1] == w.shape[1] and w.shape[0] > 0 and w.shape[1] > 0:
            return self._forward_op(x, w, b)
        # empty weights and refusals: the library's own Linear
        st = _lib.Linear(w.shape[1], w.shape[0], _ptr(w), None if b is None else _ptr(b))
        nd = x.ndim
        if nd >= 1:
            out_shape = x.shape[:-1] + (w.shape[0],)
            y = np.empty(out_shape, np.float32)
            cap = y.size
        else:
            y, cap = np.empty(0, np.float32), 0
        oshape = (_lib.ctypes.c_int64 * max(nd, 1))()
        _lib.check(_lib.lib.tconv_linear_forward(
            _lib.ctypes.byref(st), nd, _lib.i64_array(x.shape) if nd else None, x.ctypes.data,
            y.ctypes.data, cap, oshape))
        return y

    def _forward_op(self, x, w, b):
        """x (..., in) as (M, in, 1, 1) through the kept 1x1 conv2d operator."""
        out_f, in_f = w.shape
        m = int(np.prod(x.shape[:-1], dtype=np.int64)) if x.ndim > 1 else 1
        x4 = x.reshape((m, in_f, 1, 1) if x.ndim > 1 else (in_f, 1, 1))
        with self._lock:
            op = self._op
            if op is None or op._impl_asked != _A._defaults["impl"]:
                p = _lib.Conv2dParams()
                p.in_channels, p.out_channels, p.groups = in_f, out_f, 1
                p.kernel_size[:], p.stride[:], p.padding[:], p.dilation[:] = [1, 1], [1, 1], \
                    [0, 0], [1, 1]
                op = _F.Operator("conv2d", p, w.reshape(out_f, in_f, 1, 1), b)
                self.__dict__["_op"] = op
            if x4.shape != op._shape:
                op._reshape(tuple(x4.shape), None)
            y = op._run(x4, _A._recycled(self, "_out_kept", op._phys_out))
        return y.reshape(x.shape[:-1] + (out_f,))

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        return "in_features=%s, out_features=%s, bias=%s" % (
            self.in_features, self.out_features, self.bias is not None)


def _ptr(a):
    return _lib.ctypes.cast(a.ctypes.data, _lib._fp)


# ---- BatchNorm2d ----------------------------------------------------------------

class BatchNorm2d(Module):
    """torch.nn.BatchNorm2d over (N, C, H, W) inputs.

    Training mode (a new module): normalise with the batch's mean and biased
    variance, update running_mean / running_var (unbiased variance) with
    momentum (None: cumulative average) and num_batches_tracked.  eval():
    normalise with the running statistics.  affine=False: no weight/bias;
    track_running_stats=False: no running statistics, batch statistics in
    both modes.  state_dict keys: weight, bias, running_mean, running_var,
    num_batches_tracked (a 0-d int64 array)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        _check_factory(device, dtype, "BatchNorm2d")
        self.num_features = int_arg(num_features, "num_features", "BatchNorm2d")
        _check_dims((self.num_features,))
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        c = self.num_features
        if affine:
            self.weight = Parameter(np.ones(c, np.float32))
            self.bias = Parameter(np.zeros(c, np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, np.float32))
            self.register_buffer("running_var", np.ones(c, np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """running_mean 0, running_var 1, num_batches_tracked 0."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        """Running statistics reset, weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            self.weight = np.ones(self.num_features, np.float32)
            self.bias = np.zeros(self.num_features, np.float32)

    def _state_dict_defaults(self, prefix):
        if self.track_running_stats and self.num_batches_tracked is not None:
            return {prefix + "num_batches_tracked": np.array(0, np.int64)}
        return {}

    def _vector(self, a, name, c):
        """a as the C-contiguous float32 (c,) array C reads (and writes, for
        running statistics)."""
        if a.shape != (c,):
            raise Error("%s should contain %d elements not %d" % (name, c, a.size)
                        if a.ndim == 1 else "%s must have shape [%d], but has shape %s"
                        % (name, c, _A._dims(a.shape)))
        if a.dtype != np.float32 or not a.flags.c_contiguous:
            raise Error("%s must be a C-contiguous float32 array" % name)
        return a

    def forward(self, input):
        """input (N, C, H, W) -> normalised, same shape."""
        x = as_layer_input(input, "BatchNorm2d")
        if x.ndim != 4:
            raise Error("expected 4D input (got %dD input)" % x.ndim)
        c = self.num_features
        momentum = -1.0 if self.momentum is None else float(self.momentum)
        w, b = self.weight, self.bias
        with self._lock:
            rm, rv, nbt = self.running_mean, self.running_var, self.num_batches_tracked
            count = 0
            if self.training and self.track_running_stats and nbt is not None:
                # PyTorch counts the batch first, before any other check
                nbt[...] += 1
                count = int(nbt) - 1  # the C layer counts it again for momentum=None
            # PyTorch's choice: batch statistics in training mode or without
            # running statistics; running statistics updated in training mode
            # when tracked.
            have_stats = rm is not None and rv is not None
            use_batch = self.training or not have_stats
            update = self.training and self.track_running_stats and have_stats
            if have_stats:
                rm = self._vector(rm, "running_mean", c)
                rv = self._vector(rv, "running_var", c)
                if update and not (rm.flags.writeable and rv.flags.writeable):
                    raise Error("running_mean / running_var must be writable in training mode")
            if w is not None:
                self._vector(w, "weight", c)
            if b is not None:
                self._vector(b, "bias", c)
            if use_batch and not update:
                # the C layer updates the statistics it is given in training
                # mode: give it scratch copies
                rm = np.zeros(c, np.float32) if rm is None else rm.copy()
                rv = np.ones(c, np.float32) if rv is None else rv.copy()
            st = _lib.BatchNorm2d(c, float(self.eps), momentum, 1 if use_batch else 0,
                                  None if w is None else _ptr(w), None if b is None else _ptr(b),
                                  _ptr(rm), _ptr(rv), count)
            y = _A._recycled(self, "_out_kept", x.shape)
            _lib.check(_lib.lib.tconv_batchnorm2d_forward(
                _lib.ctypes.byref(st), 4, _lib.i64_array(x.shape), x.ctypes.data,
                y.ctypes.data))
        return y

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        return "%s, eps=%s, momentum=%s, affine=%s, track_running_stats=%s" % (
            self.num_features, self.eps, self.momentum, self.affine, self.track_running_stats)


# ---- activations ------------------------------------------------------------------

def _elementwise(module, input, fn, *extra):
    x = as_layer_input(input, type(module).__name__)
    out = None
    if getattr(module, "inplace", False):
        if x.flags.writeable and (x is input or not isinstance(input, np.ndarray)):
            out = x
        elif not isinstance(input, np.ndarray) and hasattr(input, "__array__"):
            shared = np.asarray(input)  # a torch tensor's own memory (DLPack gives it read-only)
            if shared.dtype == np.float32 and shared.flags.c_contiguous \
                    and shared.flags.writeable:
                x = out = shared
    if out is None:
        out = _A._recycled(module, "_out_kept", x.shape)
    _lib.check(fn(x.ctypes.data, out.ctypes.data, x.size, *extra))
    return out


class ReLU(Module):
    """torch.nn.ReLU: max(x, 0).  inplace=True writes the result into the
    input (a writable float32 NumPy array or CPU torch tensor) and returns it."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        """Element-wise max(x, 0) (NaN stays NaN)."""
        return _elementwise(self, input, _lib.lib.tconv_relu)

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """torch.nn.LeakyReLU: x if x >= 0 else negative_slope * x."""

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        """Element-wise leaky ReLU."""
        return _elementwise(self, input, _lib.lib.tconv_leaky_relu, float(self.negative_slope))

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        return "negative_slope=%s%s" % (self.negative_slope, ", inplace=True" if self.inplace else "")


class Tanh(Module):
    """torch.nn.Tanh."""

    def forward(self, input):
        """Element-wise tanh."""
        return _elementwise(self, input, _lib.lib.tconv_tanh)


class Sigmoid(Module):
    """torch.nn.Sigmoid: 1 / (1 + exp(-x))."""

    def forward(self, input):
        """Element-wise logistic sigmoid."""
        return _elementwise(self, input, _lib.lib.tconv_sigmoid)


# ---- MaxPool2d ----------------------------------------------------------------------

_POOL_WORDS = {"kernel_size": "must either be a single int, or a tuple of two ints",
               "stride": "must either be omitted, a single int, or a tuple of two ints",
               "padding": "must be either be a single int, or a tuple of two ints",
               "dilation": "must be either a single int, or a tuple of two ints"}


def _pool_pair(value, name):
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = int_arg(value, name, "max_pool2d")
        return [v, v]
    vals = int_seq(value, name, "max_pool2d")
    if len(vals) == 1:
        return vals * 2
    if len(vals) != 2:
        raise Error("max_pool2d: %s %s" % (name, _POOL_WORDS[name]))
    return vals


class MaxPool2d(Module):
    """torch.nn.MaxPool2d over (N, C, H, W) or (C, H, W) inputs; padded
    positions never win, NaN propagates.  return_indices=True is not
    supported."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        if return_indices:
            raise Error("MaxPool2d: return_indices=True is not supported by tconv")
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        """The pooled input, shape from PyTorch's rule."""
        x = as_layer_input(input, "MaxPool2d")
        p = _lib.MaxPool2dParams()
        p.kernel_size[:] = _pool_pair(self.kernel_size, "kernel_size")
        stride = self.stride
        if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0):
            stride = self.kernel_size
        p.stride[:] = _pool_pair(stride, "stride")
        p.padding[:] = _pool_pair(self.padding, "padding")
        p.dilation[:] = _pool_pair(self.dilation, "dilation")
        p.ceil_mode = 1 if self.ceil_mode else 0
        nd = x.ndim
        shape = _lib.i64_array(x.shape) if nd else None
        oshape = (_lib.ctypes.c_int64 * max(nd, 1))()
        _lib.check(_lib.lib.tconv_maxpool2d_output_shape(_lib.ctypes.byref(p), nd, shape, oshape))
        y = np.empty(tuple(oshape[i] for i in range(nd)), np.float32)
        _lib.check(_lib.lib.tconv_maxpool2d(_lib.ctypes.byref(p), nd, shape, x.ctypes.data,
                                            y.ctypes.data, y.size, oshape))
        return y

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        return ("kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                "dilation={dilation}, ceil_mode={ceil_mode}").format(**self.__dict__)


# ---- ConvTranspose2d and Conv2d ------------------------------------------------------

def _pair(x):
    # torch.nn.modules.utils._pair: an iterable becomes a tuple, else (x, x).
    if isinstance(x, collections.abc.Iterable):
        return tuple(x)
    return (x, x)


# Assigning any of these drops the packed operator (the next call makes a new one).
_OPERATOR_ATTRS = frozenset(["weight", "bias", "in_channels", "out_channels", "kernel_size",
                             "stride", "padding", "dilation", "output_padding", "groups",
                             "padding_mode", "transposed"])


class _ConvNd(Module):
    """Shared constructor and operator handling of ConvTranspose2d and Conv2d
    (PyTorch's _ConvNd)."""

    _TRANSIENT = ("_lock", "_op", "_op_opad", "_osz_cache")

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype, rng):
        super().__init__()
        self._init_transient()
        who = "ConvTranspose2d" if transposed else "Conv2d"
        _check_factory(device, dtype, who)
        in_channels = int_arg(in_channels, "in_channels", who)
        out_channels = int_arg(out_channels, "out_channels", who)
        groups = int_arg(groups, "groups", who)
        if groups <= 0:
            raise Error('groups must be a positive integer')
        if in_channels % groups != 0:
            raise Error('in_channels must be divisible by groups')
        if out_channels % groups != 0:
            raise Error('out_channels must be divisible by groups')
        valid_padding_strings = {'same', 'valid'}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise Error("Invalid padding string {!r}, should be one of {}".format(
                    padding, valid_padding_strings))
            if padding == 'same' and any(s != 1 for s in stride):
                raise Error("padding='same' is not supported for strided convolutions")
        valid_padding_modes = {'zeros', 'reflect', 'replicate', 'circular'}
        if padding_mode not in valid_padding_modes:
            raise Error("padding_mode must be one of {}, but got padding_mode='{}'".format(
                valid_padding_modes, padding_mode))
        kernel_size = tuple(int_arg(k, "kernel_size", who) for k in kernel_size)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups) + kernel_size
        else:
            shape = (out_channels, in_channels // groups) + kernel_size
        _check_dims(shape)
        if _INT64_MAX < int(np.prod([float(d) for d in shape])):
            raise Error("weight of shape %s does not fit in int64" % _A._dims(shape))
        self.weight = Parameter(np.zeros(shape, np.float32))
        if bias:
            self.bias = Parameter(np.zeros(out_channels, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(rng)

    def _init_transient(self):
        super()._init_transient()
        d = self.__dict__
        d["_op"] = None
        d["_op_opad"] = None
        d["_osz_cache"] = None

    def _changed(self, name):
        if name in _OPERATOR_ATTRS:
            d = self.__dict__
            # Under the lock, so that a call making an operator from the old
            # values cannot store it after this.  The old operator is never
            # closed here (another thread may be running it): it is freed
            # when its last reference goes.
            with d["_lock"]:
                d["_op"] = None
                d["_osz_cache"] = None

    def reset_parameters(self, rng=None):
        """Redraws weight and bias from PyTorch's default distribution
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * kH * kW
        (kaiming_uniform with a=sqrt(5)).  A zero-element weight stays as it
        is; with fan_in == 0 the bias is zero."""
        g = _generator(rng)
        w = self.weight
        fan_in = w.shape[1] * int(np.prod(w.shape[2:])) if w.ndim >= 2 else 0
        if w.size:
            self.weight = _uniform(g, 1.0 / math.sqrt(fan_in), w.shape)
        if self.bias is not None:
            self.bias = _uniform(g, 1.0 / math.sqrt(fan_in) if fan_in else 0.0,
                                 self.bias.shape)

    def _params(self, w, b, x, output_padding):
        raise NotImplementedError

    def _output_padding(self, x, output_size):
        return None

    def _forward(self, x, output_size=None):
        """The packed operator's output for x (float32, C-contiguous): made
        once, reshaped when the input shape changes, made again after a
        parameter or attribute assignment or a change of tconv's default impl."""
        shape = x.shape
        impl = _A._defaults["impl"]
        with self._lock:
            output_padding = self._output_padding(x, output_size)
            op = self._op
            if op is not None and op._impl_asked == impl and self._op_opad == output_padding:
                if shape == op._shape:
                    return op._run(x, _A._recycled(self, "_out_kept", op._phys_out))
            else:
                op = None
            # First call, new shape or new operator: PyTorch's checks in its order.
            w, b = self.weight, self.bias
            params = self._params(w, b, x, output_padding)
            if op is None:
                op = _F.Operator("conv_transpose2d" if self.transposed else "conv2d", params,
                                 w, b)
                d = self.__dict__
                d["_op"], d["_op_opad"] = op, output_padding
            op._reshape(tuple(shape), None)
            return op._run(x, _A._recycled(self, "_out_kept", op._phys_out))

    def extra_repr(self):
        """The constructor arguments repr shows, as PyTorch's."""
        s = '{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}'
        if self.padding != (0,) * len(self.padding):
            s += ', padding={padding}'
        if self.dilation != (1,) * len(self.dilation):
            s += ', dilation={dilation}'
        if self.output_padding != (0,) * len(self.output_padding):
            s += ', output_padding={output_padding}'
        if self.groups != 1:
            s += ', groups={groups}'
        if self.bias is None:
            s += ', bias=False'
        if self.padding_mode != 'zeros':
            s += ', padding_mode={padding_mode}'
        return s.format(**self.__dict__)


class ConvTranspose2d(_ConvNd):
    """torch.nn.ConvTranspose2d: y = conv_transpose2d(x, weight, bias, ...).

    weight: (in_channels, out_channels/groups, kH, kW); bias: (out_channels,)
    or None.  m(x) / m.forward(x, output_size=None): output_size (2 entries
    (H, W), or as many as x has dimensions; list, tuple or array) picks
    output_padding so the output has that size, as PyTorch does.
    rng: a numpy Generator or a seed for the initial weights (default: the
    generator seeded by tconv.manual_seed).  The weights are packed into a
    C operator at the first call and reused until a parameter or attribute
    is assigned.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros',
                 device=None, dtype=None, *, rng=None):
        if padding_mode != 'zeros':
            raise Error('Only "zeros" padding mode is supported for ConvTranspose2d')
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                         _pair(padding), _pair(dilation), True, _pair(output_padding), groups,
                         bias, padding_mode, device, dtype, rng)

    def _params(self, w, b, x, output_padding):
        return _A._ct_params(w, b, x, self.stride, self.padding, output_padding, self.groups,
                             self.dilation)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        sizes = tuple(int_seq(output_size, "output_size", "forward"))
        cached = self._osz_cache
        if cached is not None and cached[0] == x.shape and cached[1] == sizes:
            return cached[2]
        pairs = (self.kernel_size, self.stride, self.padding, self.dilation)
        if any(len(v) != 2 for v in pairs):
            return self.output_padding  # the functional checks refuse these lists
        opad = tuple(_F.output_padding_for_size(x.shape, list(sizes), *pairs))
        self.__dict__["_osz_cache"] = (x.shape, sizes, opad)
        return opad

    def forward(self, input, output_size=None):
        """The layer's output for input (N, C, H, W) or (C, H, W)."""
        if self.padding_mode != 'zeros':
            raise Error('Only `zeros` padding mode is supported for ConvTranspose2d')
        x = as_layer_input(input, "ConvTranspose2d")
        return self._forward(x, output_size)


class Conv2d(_ConvNd):
    """torch.nn.Conv2d: y = conv2d(pad(x, padding_mode), weight, bias, ...).

    weight: (out_channels, in_channels/groups, kH, kW); bias: (out_channels,)
    or None.  padding: int, (h, w), 'valid' or 'same'; padding_mode 'zeros',
    'reflect', 'replicate' or 'circular' (applied as nn.Conv2d applies F.pad).
    rng as ConvTranspose2d's; the operator is kept as ConvTranspose2d's.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode='zeros', device=None, dtype=None, *,
                 rng=None):
        padding_ = padding if isinstance(padding, str) else _pair(padding)
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride), padding_,
                         _pair(dilation), False, _pair(0), groups, bias, padding_mode, device,
                         dtype, rng)

    def _params(self, w, b, x, output_padding):
        return _A._conv2d_params(w, b, x, self.stride, self.padding, self.dilation, self.groups,
                                 self.padding_mode)

    def forward(self, input):
        """The layer's output for input (N, C, H, W) or (C, H, W)."""
        x = as_layer_input(input, "Conv2d")
        return self._forward(x)
