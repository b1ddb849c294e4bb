"""torch.nn.functional's conv_transpose2d and conv2d over libtconv, and the
operator object they run on.

Arrays are NumPy; inputs are converted to C-contiguous float32 (a copy only
when needed).  Argument handling follows PyTorch 1.13: an int-or-list
argument may be an int or a sequence; a sequence of one element is repeated,
any other length than two is refused with PyTorch's message.  Checks that
PyTorch makes before its kernels see the tensors (weight and bias shapes,
list lengths) are made here in PyTorch's words; everything else is checked
by libtconv, whose message the raised Error carries.
"""
import numbers
import operator as _operator

import numpy as np

from . import _lib
from ._lib import Error

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# Process-wide defaults for the functional API and the modules; see
# tconv.set_options / tconv.options.
_defaults = {"impl": "auto", "num_threads": 0}


def _int(value, name, fn):
    """A Python int from an int-like value (bools are refused as PyTorch does)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
        try:
            if isinstance(value, (bool, np.bool_)):
                raise TypeError
            value = _operator.index(value)
        except TypeError:
            raise TypeError("%s(): argument '%s' must be int, not %s"
                            % (fn, name, type(value).__name__)) from None
    value = int(value)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise Error("%s(): argument '%s' value %d does not fit in int64" % (fn, name, value))
    return value


def _int_list(value, name, fn):
    """PyTorch's int[2] argument parsing: an int becomes [v, v]; a sequence
    of ints is kept as is (its length is checked later, by _expand)."""
    if isinstance(value, (str, bytes)):
        raise TypeError("%s(): argument '%s' must be tuple of ints, not %s"
                        % (fn, name, type(value).__name__))
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = _int(value, name, fn)
        return [v, v]
    try:
        items = list(value)
    except TypeError:
        raise TypeError("%s(): argument '%s' must be tuple of ints, not %s"
                        % (fn, name, type(value).__name__)) from None
    try:
        return [_int(v, name, fn) for v in items]
    except TypeError:
        raise TypeError("%s(): argument '%s' must be tuple of ints, but found element of "
                        "type %s" % (fn, name, type(items[0]).__name__)) from None


def _expand(values, name, dim):
    """ATen's expand_param_if_needed: one value is repeated to dim values."""
    if len(values) == 1:
        return values * dim
    if len(values) != dim:
        raise Error("expected %s to be a single integer value or a list of %d values to match "
                    "the convolution dimensions, but got %s=%s" % (name, dim, name, values))
    return values


def _as_f32(a):
    """C-contiguous float32 view or copy of an array-like (0-d stays 0-d,
    unlike np.ascontiguousarray)."""
    return np.asarray(a, dtype=np.float32, order="C")


def _dims(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _check_input_ndim(x, fn):
    if x.ndim not in (3, 4):
        raise Error("Expected 3D (unbatched) or 4D (batched) input to %s, but got input of "
                    "size: %s" % (fn, _dims(x.shape)))


def _check_weight_ndim(w, x, params):
    """PyTorch's weight-dimension checks and list expansion, in its order.
    params: list of (name, values) for stride, padding, dilation[, output_padding].
    Returns the expanded values."""
    if w.ndim < 3:
        raise Error("weight should have at least three dimensions")
    out = [_expand(v, n, w.ndim - 2) for n, v in params]
    if w.ndim != 4:
        xb = x.shape if x.ndim == 4 else (1,) + tuple(x.shape)
        raise Error("Expected %d-dimensional input for %d-dimensional weight %s, but got "
                    "4-dimensional input of size %s instead"
                    % (w.ndim, w.ndim, _dims(w.shape), _dims(xb)))
    return out


def _check_groups(groups, fn):
    groups = _int(groups, "groups", fn)
    if groups <= 0:
        raise Error("non-positive groups is not supported")
    return groups


def _channels(a, b, what):
    """a*b as int64, refusing what int64 cannot hold."""
    r = a * b
    if r > _INT64_MAX:
        raise Error("%s = %d does not fit in int64" % (what, r))
    return r


def _resolve(impl, num_threads):
    impl = _defaults["impl"] if impl is None else impl
    num_threads = _defaults["num_threads"] if num_threads is None else num_threads
    if impl not in _lib.IMPLS:
        raise Error("impl must be one of %s, but got %r" % (sorted(_lib.IMPLS), impl))
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral) \
            or not 0 <= num_threads <= 1 << 20:
        raise Error("num_threads must be an int >= 0 (0 = default), but got %r" % (num_threads,))
    return impl, int(num_threads)


class Operator:
    """A libtconv operator object: parameters checked and weights copied (and
    packed, for fast paths) once, then reshape -> run for any number of inputs.

    Build one with Operator.conv_transpose2d(...) or Operator.conv2d(...), whose
    arguments are those of the functional API plus:
      impl        'auto' (default: the process default, see tconv.set_options),
                  'reference', 'portable', 'avx2', 'avx512'
      num_threads 0 = library default, 1 = the calling thread, n = n threads
      layout      'nchw' (PyTorch's contiguous layout) or 'nhwc' (channels-last:
                  arrays are (N, H, W, C) or unbatched (H, W, C) in memory)
    The weight and bias are copied at creation; later changes to the arrays do
    not affect the operator.
    """

    def __init__(self, kind, params, weight, bias, impl=None, num_threads=None, layout="nchw"):
        impl, num_threads = _resolve(impl, num_threads)
        if layout not in _lib.LAYOUTS:
            raise Error("layout must be 'nchw' or 'nhwc', but got %r" % (layout,))
        self._handle = None
        self.kind = kind
        self.layout = layout
        self.params = params
        opt = _lib.Options(num_threads, _lib.LAYOUTS[layout], _lib.IMPLS[impl])
        handle = _lib.ctypes.c_void_p()
        create = (_lib.lib.tconv_conv_transpose2d_create if kind == "conv_transpose2d"
                  else _lib.lib.tconv_conv2d_create)
        _lib.check(create(_lib.ctypes.byref(params), weight.ctypes.data,
                          None if bias is None else bias.ctypes.data,
                          _lib.ctypes.byref(opt), _lib.ctypes.byref(handle)))
        self._handle = handle
        self._shape = None  # logical input shape of the last reshape
        self._out_shape = None
        self._workspace = None

    # -- constructors mirroring the functional API -------------------------
    @classmethod
    def conv_transpose2d(cls, weight, bias=None, stride=1, padding=0, output_padding=0,
                         groups=1, dilation=1, *, impl=None, num_threads=None, layout="nchw"):
        """An operator computing conv_transpose2d(x, weight, bias, ...) for any x."""
        w = _as_f32(weight)
        b = None if bias is None else _as_f32(bias)
        p = _ct_params(w, b, None, stride, padding, output_padding, groups, dilation)
        return cls("conv_transpose2d", p, w, b, impl, num_threads, layout)

    @classmethod
    def conv2d(cls, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros", *, impl=None, num_threads=None, layout="nchw"):
        """An operator computing conv2d(x, weight, bias, ...) for any x;
        padding_mode as nn.Conv2d's."""
        w = _as_f32(weight)
        b = None if bias is None else _as_f32(bias)
        p = _conv2d_params(w, b, None, stride, padding, dilation, groups, padding_mode)
        return cls("conv2d", p, w, b, impl, num_threads, layout)

    # -- the operator life cycle -------------------------------------------
    def _logical(self, shape):
        shape = tuple(int(d) for d in shape)
        if self.layout == "nhwc" and len(shape) in (3, 4):
            return shape[:-3] + (shape[-1],) + shape[-3:-1]
        return shape

    def _physical(self, shape):
        if self.layout == "nhwc":
            return shape[:-3] + shape[-2:] + (shape[-3],)
        return shape

    def reshape(self, input_shape, output_size=None):
        """Prepares for inputs of the given logical (PyTorch-order) shape and
        returns the output's logical shape.  output_size as
        ConvTranspose2d.forward's (conv_transpose2d only)."""
        if self._handle is None:
            raise Error("operator is closed", 4)
        shape = [int(d) for d in input_shape]
        sizes = None if output_size is None else [int(v) for v in output_size]
        out = (_lib.ctypes.c_int64 * max(len(shape), 1))()
        ws = _lib.ctypes.c_size_t(0)
        osz = None if sizes is None else _lib.i64_array(sizes)
        _lib.check(_lib.lib.tconv_op_reshape(
            self._handle, len(shape), _lib.i64_array(shape) if shape else None, osz,
            0 if sizes is None else len(sizes), out, _lib.ctypes.byref(ws)))
        self._shape = tuple(shape)
        self._out_shape = tuple(out[i] for i in range(len(shape)))
        self._workspace = np.empty(ws.value, np.uint8) if ws.value else None
        return self._out_shape

    def run(self, input, out=None):
        """Computes the output for input (shaped as the last reshape, in this
        operator's layout) into out (allocated if None) and returns it."""
        if self._out_shape is None:
            raise Error("run called before reshape", 4)
        x = _as_f32(input)
        if self._logical(x.shape) != self._shape:
            raise Error("input of shape %s does not match the reshaped shape %s (layout %s)"
                        % (_dims(x.shape), _dims(self._physical(self._shape)), self.layout))
        shape = self._physical(self._out_shape)
        if out is None:
            out = np.empty(shape, np.float32)
        elif (not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape
              or not out.flags.c_contiguous or not out.flags.writeable):
            raise Error("out must be a writable C-contiguous float32 array of shape %s"
                        % _dims(shape))
        ws = None if self._workspace is None else self._workspace.ctypes.data
        _lib.check(_lib.lib.tconv_op_run(self._handle, x.ctypes.data, out.ctypes.data, ws))
        return out

    def __call__(self, input, output_size=None):
        """reshape (when the shape changed or output_size is given) + run."""
        x = _as_f32(input)
        if output_size is not None or self._logical(x.shape) != self._shape:
            self.reshape(self._logical(x.shape), output_size)
        return self.run(x)

    def set_num_threads(self, num_threads):
        """Threads for later runs (0 = default); results do not depend on it."""
        _lib.check(_lib.lib.tconv_op_set_num_threads(self._handle, int(num_threads)))

    @property
    def impl(self):
        """Name of the implementation this operator runs (never 'auto')."""
        return _lib.lib.tconv_impl_name(_lib.lib.tconv_op_impl(self._handle)).decode()

    @property
    def path(self):
        """Name of the path chosen at the last reshape ('none' before)."""
        return _lib.lib.tconv_op_path(self._handle).decode()

    def close(self):
        """Frees the C operator (also done when the object is collected)."""
        if self._handle is not None:
            _lib.lib.tconv_op_destroy(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# -- parameter construction (PyTorch's Python-visible checks) ----------------

def _before_bias(x, w, groups, stride, padding, output_padding, transposed):
    """A bias of the wrong shape is refused before libtconv sees it (libtconv
    reads out_channels floats from it); PyTorch's checks that come before
    its bias check (ATen's check_shape_forward) are repeated here so that
    their error wins, in the same words as libtconv's."""
    if min(padding) < 0:
        raise Error("negative padding is not supported")
    if min(output_padding) < 0:
        raise Error("negative output_padding is not supported")
    if min(stride) <= 0:
        raise Error("non-positive stride is not supported")
    ws = _dims(w.shape)
    if w.shape[0] < groups:
        raise Error("Given groups=%d, expected weight to be at least %d at dimension 0, but got "
                    "weight of size %s instead" % (groups, groups, ws))
    if w.shape[0] % groups:
        raise Error("Given groups=%d, expected weight to be divisible by %d at dimension 0, but "
                    "got weight of size [%s] instead" % (groups, groups, ws))
    if x is None:
        return
    xb = x.shape if x.ndim == 4 else (1,) + tuple(x.shape)
    want = w.shape[0] if transposed else w.shape[1] * groups
    if xb[1] != want:
        raise Error("Given %s, weight of size %s, expected input%s to have %d channels, but got "
                    "%d channels instead" % ("transposed=1" if transposed else "groups=%d" % groups,
                                             ws, _dims(xb), want, xb[1]))


def _ct_params(w, b, x, stride, padding, output_padding, groups, dilation):
    fn = "conv_transpose2d"
    if x is not None:
        _check_input_ndim(x, fn)
    stride = _int_list(stride, "stride", fn)
    padding = _int_list(padding, "padding", fn)
    output_padding = _int_list(output_padding, "output_padding", fn)
    dilation = _int_list(dilation, "dilation", fn)
    if w.ndim < 3:
        raise Error("weight should have at least three dimensions")
    groups = _check_groups(groups, fn)
    stride, padding, dilation, output_padding = _check_weight_ndim(
        w, x if x is not None else np.empty((1, w.shape[0], 1, 1), np.float32),
        [("stride", stride), ("padding", padding), ("dilation", dilation),
         ("output_padding", output_padding)])
    cin, cog, kh, kw = (int(d) for d in w.shape)
    cout = _channels(cog, groups, "out_channels (weight.size(1) * groups)")
    if b is not None and (b.ndim != 1 or b.shape[0] != cout):
        _before_bias(x, w, groups, stride, padding, output_padding, True)
        raise Error("Given transposed=1, weight of size %s, expected bias to be 1-dimensional "
                    "with %d elements, but got bias of size %s instead"
                    % (_dims(w.shape), cout, _dims(b.shape)))
    p = _lib.ConvTranspose2dParams()
    p.in_channels, p.out_channels, p.groups = cin, cout, groups
    p.kernel_size[:] = [kh, kw]
    p.stride[:], p.padding[:] = stride, padding
    p.output_padding[:], p.dilation[:] = output_padding, dilation
    return p


def _conv2d_params(w, b, x, stride, padding, dilation, groups, padding_mode):
    fn = "conv2d"
    if x is not None and padding_mode == "zeros":
        # (with a padding mode, PyTorch's F.pad refuses the rank first, in
        # other words: libtconv says those at reshape)
        _check_input_ndim(x, fn)
    kind = "explicit"
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise Error("Invalid padding string: '%s'" % padding)
        kind, padding = padding, [0, 0]
        if kind == "same" and w.ndim != 4 and x is not None and padding_mode == "zeros":
            # PyTorch's padding-string path compares ranks first, in its own format.
            xb = x.shape if x.ndim == 4 else (1,) + tuple(x.shape)
            raise Error("Expected %d-dimensional input for %d-dimensional weight%s, but got "
                        "4-dimensional input of size %s instead"
                        % (w.ndim, w.ndim, _dims(w.shape), _dims(xb)))
    else:
        padding = _int_list(padding, "padding", fn)
    stride = _int_list(stride, "stride", fn)
    dilation = _int_list(dilation, "dilation", fn)
    if kind == "same" and padding_mode == "zeros":
        for name, v in (("stride", stride), ("dilation", dilation)):
            if len(v) not in (1, w.ndim - 2):  # PyTorch's 'same' path words
                raise Error("%s cannot broadcast to %d dimensions" % (name, w.ndim - 2))
    if w.ndim < 3:
        raise Error("weight should have at least three dimensions")
    groups = _check_groups(groups, fn)
    stride, padding, dilation = _check_weight_ndim(
        w, x if x is not None else np.empty((1, 1, 1, 1), np.float32),
        [("stride", stride), ("padding", padding), ("dilation", dilation)])
    if padding_mode not in _lib.PADDING_MODES:
        raise Error("padding_mode must be one of %s, but got padding_mode='%s'"
                    % (_PADDING_MODES_SET, padding_mode))
    cout, cig, kh, kw = (int(d) for d in w.shape)
    cin = _channels(cig, groups, "in_channels (weight.size(1) * groups)")
    if b is not None and (b.ndim != 1 or b.shape[0] != cout):
        _before_bias(x, w, groups, stride, padding if kind == "explicit" else [0, 0], [0, 0],
                     False)
        raise Error("Given weight of size %s, expected bias to be 1-dimensional with %d "
                    "elements, but got bias of size %s instead"
                    % (_dims(w.shape), cout, _dims(b.shape)))
    p = _lib.Conv2dParams()
    p.in_channels, p.out_channels, p.groups = cin, cout, groups
    p.kernel_size[:] = [kh, kw]
    p.stride[:], p.padding[:], p.dilation[:] = stride, padding, dilation
    p.padding_kind = _lib.PADDING_KINDS[kind]
    p.padding_mode = _lib.PADDING_MODES[padding_mode]
    return p


# The set PyTorch's nn.Conv2d prints in its padding_mode message (same
# literal, so the same order within one process).
_PADDING_MODES_SET = {'zeros', 'reflect', 'replicate', 'circular'}


def _run(kind, params, w, b, x, output_size=None):
    op = Operator(kind, params, w, b)
    try:
        op.reshape(x.shape, output_size)
        return op.run(x)
    finally:
        op.close()


# -- the functional API ------------------------------------------------------

def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """torch.nn.functional.conv_transpose2d.

    input  (N, C_in, H, W) or unbatched (C_in, H, W); N may be 0
    weight (C_in, C_out/groups, kH, kW)
    bias   (C_out,) or None
    stride, padding, output_padding, dilation: int or (h, w); groups: int
    Returns a float32 array (N, C_out, H_out, W_out) (unbatched: no N) with
    H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1.
    Runs on the implementation and threads set by tconv.set_options.
    Raises tconv.Error (a ValueError) with PyTorch's / libtconv's message
    for anything PyTorch refuses, TypeError for arguments of the wrong type.
    """
    x, w = _as_f32(input), _as_f32(weight)
    b = None if bias is None else _as_f32(bias)
    p = _ct_params(w, b, x, stride, padding, output_padding, groups, dilation)
    return _run("conv_transpose2d", p, w, b, x)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d.

    input  (N, C_in, H, W) or unbatched (C_in, H, W); N may be 0
    weight (C_out, C_in/groups, kH, kW)
    bias   (C_out,) or None
    padding: int, (h, w), 'valid' (none) or 'same' (output size = input
    size, stride 1 only; an odd total goes to the bottom/right as PyTorch).
    Returns a float32 array (N, C_out, H_out, W_out) (unbatched: no N).
    Errors as conv_transpose2d.
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, "zeros")


def _conv2d(input, weight, bias, stride, padding, dilation, groups, padding_mode):
    x, w = _as_f32(input), _as_f32(weight)
    b = None if bias is None else _as_f32(bias)
    p = _conv2d_params(w, b, x, stride, padding, dilation, groups, padding_mode)
    return _run("conv2d", p, w, b, x)


def output_padding_for_size(input_shape, output_size, kernel_size, stride, padding, dilation):
    """ConvTranspose2d.forward's output_size -> output_padding (PyTorch's
    _output_padding), computed by libtconv.  All pairs are (h, w) sequences;
    input_shape has 3 or 4 entries, output_size 2 or len(input_shape)."""
    p = _lib.ConvTranspose2dParams()
    p.in_channels, p.out_channels, p.groups = 1, 1, 1
    p.kernel_size[:] = [_int(v, "kernel_size", "forward") for v in kernel_size]
    p.stride[:] = [_int(v, "stride", "forward") for v in stride]
    p.padding[:] = [_int(v, "padding", "forward") for v in padding]
    p.dilation[:] = [_int(v, "dilation", "forward") for v in dilation]
    shape = [int(d) for d in input_shape]
    sizes = [_int(v, "output_size", "forward") for v in output_size]
    res = (_lib.ctypes.c_int64 * 2)()
    _lib.check(_lib.lib.tconv_conv_transpose2d_output_padding_for_size(
        _lib.ctypes.byref(p), len(shape), _lib.i64_array(shape) if shape else None,
        _lib.i64_array(sizes) if sizes else None, len(sizes), res))
    return [res[0], res[1]]
