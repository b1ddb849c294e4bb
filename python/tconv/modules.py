"""torch.nn.ConvTranspose2d and torch.nn.Conv2d over libtconv.

The constructors make the checks PyTorch's constructors make (in PyTorch's
words) and nothing more; everything else is checked at forward, as PyTorch
does.  .weight and .bias are plain writable float32 NumPy arrays of
PyTorch's shapes, initialised from PyTorch's default distribution
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * kH * kW
(kaiming_uniform with a=sqrt(5)), drawn from tconv's generator (see
tconv.manual_seed) or from the rng= argument.  Forward reads the current
arrays each call, so they may be replaced or edited between calls.
"""
import collections.abc
import math

import numpy as np

from . import functional as _F
from ._lib import Error

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seeds the generator the modules' default initialisation draws from."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def _generator(rng):
    if rng is None:
        return _rng
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _pair(x):
    # torch.nn.modules.utils._pair: an iterable becomes a tuple, else (x, x).
    if isinstance(x, collections.abc.Iterable):
        return tuple(x)
    return (x, x)


class _ConvNd:
    """Shared constructor of the two modules (PyTorch's _ConvNd)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, rng):
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
            shape = (in_channels, out_channels // groups) + tuple(kernel_size)
        else:
            shape = (out_channels, in_channels // groups) + tuple(kernel_size)
        for d in shape:
            if d < 0:
                raise Error("Trying to create tensor with negative dimension %d: %s"
                            % (d, _F._dims(shape)))
        self.weight = np.zeros(shape, np.float32)
        self.bias = np.zeros(out_channels, np.float32) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Redraws weight and bias from PyTorch's default distribution.  A
        zero-element weight is left as is (PyTorch: a no-op); with
        fan_in == 0 the bias is zero (PyTorch leaves it uninitialised)."""
        g = _generator(rng)
        w = self.weight
        fan_in = w.shape[1] * int(np.prod(w.shape[2:])) if w.ndim >= 2 else 0
        if w.size:
            bound = 1.0 / math.sqrt(fan_in)
            w[...] = g.uniform(-bound, bound, w.shape)
        if self.bias is not None:
            if fan_in != 0:
                bound = 1.0 / math.sqrt(fan_in)
                self.bias[...] = g.uniform(-bound, bound, self.bias.shape)
            else:
                self.bias[...] = 0

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
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

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, self.extra_repr())


class ConvTranspose2d(_ConvNd):
    """torch.nn.ConvTranspose2d: y = conv_transpose2d(x, weight, bias, ...).

    weight: (in_channels, out_channels/groups, kH, kW); bias: (out_channels,)
    or None.  m(x) / m.forward(x, output_size=None): output_size (2 entries
    (H, W), or as many as x has dimensions; list, tuple or array) picks
    output_padding so the output has that size, as PyTorch does.
    rng: a numpy Generator or a seed for the initial weights (default: the
    generator seeded by tconv.manual_seed).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros',
                 *, rng=None):
        if padding_mode != 'zeros':
            raise Error('Only "zeros" padding mode is supported for ConvTranspose2d')
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride),
                         _pair(padding), _pair(dilation), True, _pair(output_padding), groups,
                         bias, padding_mode, rng)

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        pairs = (self.kernel_size, self.stride, self.padding, self.dilation)
        if any(len(v) != 2 for v in pairs):
            return self.output_padding  # the functional refuses these lists
        return _F.output_padding_for_size(np.shape(x), list(output_size), *pairs)

    def forward(self, input, output_size=None):
        """The layer's output for input (N, C, H, W) or (C, H, W)."""
        if self.padding_mode != 'zeros':
            raise Error('Only `zeros` padding mode is supported for ConvTranspose2d')
        x = _F._as_f32(input)
        output_padding = self._output_padding(x, output_size)
        return _F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                   output_padding, self.groups, self.dilation)


class Conv2d(_ConvNd):
    """torch.nn.Conv2d: y = conv2d(pad(x, padding_mode), weight, bias, ...).

    weight: (out_channels, in_channels/groups, kH, kW); bias: (out_channels,)
    or None.  padding: int, (h, w), 'valid' or 'same'; padding_mode 'zeros',
    'reflect', 'replicate' or 'circular' (applied as nn.Conv2d applies F.pad).
    rng as ConvTranspose2d's.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode='zeros', *, rng=None):
        padding_ = padding if isinstance(padding, str) else _pair(padding)
        super().__init__(in_channels, out_channels, _pair(kernel_size), _pair(stride), padding_,
                         _pair(dilation), False, _pair(0), groups, bias, padding_mode, rng)

    def forward(self, input):
        """The layer's output for input (N, C, H, W) or (C, H, W)."""
        return _F._conv2d(input, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups, self.padding_mode)
