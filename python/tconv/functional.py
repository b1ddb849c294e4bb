"""torch.nn.functional's conv_transpose2d and conv2d over libtconv, and the
operator object they run on; with their gradients (conv_transpose2d_backward,
conv2d_backward) and the rest of a training step's functions (the
activations, batch_norm and the losses with their *_backward; see _train.py),
which tconv.optim's optimizers complete.

Arrays are NumPy arrays, CPU torch tensors or anything np.asarray accepts;
the functional API converts them to C-contiguous float32 (a copy only when
needed).  Argument handling follows PyTorch 1.13: an int-or-list argument
may be an int or a sequence; a sequence of one element is repeated, any
other length than two is refused with PyTorch's message.  Checks that
PyTorch makes before its kernels see the tensors (weight and bias shapes,
list lengths) are made here in PyTorch's words; everything else is checked
by libtconv, whose message the raised Error carries.

The functional calls keep the operators they create in a small cache (see
clear_cache), so calling conv_transpose2d again with the same weights and
parameters does not pack the weights again.  A cached operator is used only
for the same weight values: a read-only weight (a module's Parameter) is
recognised by identity, any other array by comparing its bytes with a copy
taken when the operator was made.  Comparing costs a pass over the weight
(about 1.4 ms for 8 MB); weights wrapped once in tconv.nn.Parameter (or a
module's own parameters) skip it.
"""
import collections
import ctypes
import numbers
import threading

import numpy as np

from . import _lib
from ._convert import as_f32, int_arg, int_seq
from ._lib import Error
from ._args import (_defaults, _threads_gen, effective_num_threads, _dims, _check_input_ndim,
                    _resolve, _ct_params, _conv2d_params)
from ._args import library_num_threads, bump_threads  # noqa: F401 (public names of tconv.functional)


class Operator:
    """A libtconv operator object: parameters checked and weights copied (and
    packed, for fast paths) once, then reshape -> run for any number of inputs.

    Build one with Operator.conv_transpose2d(...) or Operator.conv2d(...), whose
    arguments are those of the functional API plus:
      impl        'auto' (default: the process default, see tconv.set_options),
                  'reference', 'portable', 'avx2', 'avx512'
      num_threads None (default) = follow the process default (tconv.set_num_threads,
                  also when it changes later), 0 = library default, 1 = the calling
                  thread, n = n threads
      layout      'nchw' (PyTorch's contiguous layout) or 'nhwc' (channels-last:
                  arrays are (N, H, W, C) or unbatched (H, W, C) in memory)
      pass_       'forward' (default), 'backward_data' (op.backward_data(grad_output,
                  input_shape) -> grad_input) or 'backward_weight'
                  (op.backward_weight(input, grad_output) -> (grad_weight, grad_bias))
      accumulate  backward passes: add into the arrays given as out= instead of
                  overwriting them (as PyTorch's .grad accumulates)
    The weight and bias are copied at creation; later changes to the arrays do
    not affect the operator.  An operator may be shared between threads: its
    calls take a lock (one reshape + run at a time).
    """

    _CREATE = {("conv_transpose2d", "forward"): "tconv_conv_transpose2d_create",
               ("conv2d", "forward"): "tconv_conv2d_create",
               ("conv_transpose2d", "backward_data"):
                   "tconv_conv_transpose2d_backward_data_create",
               ("conv2d", "backward_data"): "tconv_conv2d_backward_data_create",
               ("conv_transpose2d", "backward_weight"):
                   "tconv_conv_transpose2d_backward_weight_create",
               ("conv2d", "backward_weight"): "tconv_conv2d_backward_weight_create"}

    def __init__(self, kind, params, weight, bias, impl=None, num_threads=None, layout="nchw",
                 pass_="forward", accumulate=False):
        impl, threads, follow = _resolve(impl, num_threads)
        if layout not in _lib.LAYOUTS:
            raise Error("layout must be 'nchw' or 'nhwc', but got %r" % (layout,))
        if (kind, pass_) not in self._CREATE:
            raise Error("pass_ must be 'forward', 'backward_data' or 'backward_weight', but got "
                        "%r" % (pass_,))
        self._handle = None
        self._lock = threading.Lock()
        self.kind = kind
        self.layout = layout
        self.params = params
        self.pass_ = pass_
        self._impl_asked = impl
        self._follow = follow
        self._threads_gen = _threads_gen[0]
        opt = _lib.Options(threads, _lib.LAYOUTS[layout], _lib.IMPLS[impl], int(bool(accumulate)))
        handle = _lib.ctypes.c_void_p()
        create = getattr(_lib.lib, self._CREATE[(kind, pass_)])
        ref = _lib.ctypes.byref
        if pass_ == "forward":
            _lib.check(create(ref(params), weight.ctypes.data,
                              None if bias is None else bias.ctypes.data, ref(opt), ref(handle)))
        elif pass_ == "backward_data":
            _lib.check(create(ref(params), weight.ctypes.data, ref(opt), ref(handle)))
        else:
            _lib.check(create(ref(params), ref(opt), ref(handle)))
        self._handle = handle.value
        self._shape = None  # logical input shape of the last reshape
        self._osz = None    # output_size of the last reshape (tuple or None)
        self._out_shape = None
        self._phys_out = None
        self._workspace = None
        self._ws_ptr = None

    # -- constructors mirroring the functional API -------------------------
    @classmethod
    def conv_transpose2d(cls, weight, bias=None, stride=1, padding=0, output_padding=0,
                         groups=1, dilation=1, *, impl=None, num_threads=None, layout="nchw",
                         pass_="forward", accumulate=False):
        """An operator computing conv_transpose2d(x, weight, bias, ...) for any
        x, or (pass_) one of its gradients; the weight of a backward_weight
        operator gives only its shape."""
        w = as_f32(weight)
        b = None if bias is None else as_f32(bias)
        p = _ct_params(w, b, None, stride, padding, output_padding, groups, dilation)
        return cls("conv_transpose2d", p, w, b, impl, num_threads, layout, pass_, accumulate)

    @classmethod
    def conv2d(cls, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
               padding_mode="zeros", *, impl=None, num_threads=None, layout="nchw",
               pass_="forward", accumulate=False):
        """An operator computing conv2d(x, weight, bias, ...) for any x, or
        (pass_) one of its gradients; padding_mode as nn.Conv2d's."""
        w = as_f32(weight)
        b = None if bias is None else as_f32(bias)
        p = _conv2d_params(w, b, None, stride, padding, dilation, groups, padding_mode)
        return cls("conv2d", p, w, b, impl, num_threads, layout, pass_, accumulate)

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

    def _reshape(self, shape, sizes):
        """reshape with the lock held; shape a tuple of ints, sizes a tuple or None."""
        if self._handle is None:
            raise Error("operator is closed", 4)
        out = (_lib.ctypes.c_int64 * max(len(shape), 1))()
        ws = _lib.ctypes.c_size_t(0)
        osz = None if sizes is None else _lib.i64_array(sizes)
        # Until this reshape succeeds the operator counts as not reshaped.
        self._shape = self._osz = self._out_shape = self._phys_out = None
        _lib.check(_lib.lib.tconv_op_reshape(
            self._handle, len(shape), _lib.i64_array(shape) if shape else None, osz,
            0 if sizes is None else len(sizes), out, _lib.ctypes.byref(ws)))
        self._shape = shape
        self._osz = sizes
        self._out_shape = tuple(out[i] for i in range(len(shape)))
        self._phys_out = self._physical(self._out_shape)
        # The workspace is kept while it is large enough.
        if ws.value and (self._workspace is None or self._workspace.size < ws.value):
            self._workspace = np.empty(ws.value, np.uint8)
            self._ws_ptr = self._workspace.ctypes.data
        return self._out_shape

    def _run(self, x, out):
        """run with the lock held; x a C-contiguous float32 array of the
        reshaped shape; out None or checked."""
        if self._handle is None:
            raise Error("operator is closed", 4)
        self._need_pass("forward", "run")
        self._follow_threads()
        if out is None:
            out = np.empty(self._phys_out, np.float32)
        _lib.check(_lib.lib.tconv_op_run(self._handle, x.ctypes.data, out.ctypes.data,
                                         self._ws_ptr))
        return out

    def _follow_threads(self):
        if self._follow and self._threads_gen != _threads_gen[0]:
            _lib.check(_lib.lib.tconv_op_set_num_threads(self._handle, effective_num_threads()))
            self._threads_gen = _threads_gen[0]

    def _need_pass(self, pass_, fn):
        if self.pass_ != pass_:
            raise Error("%s called on a %s %s operator" % (fn, self.kind, self.pass_))

    @staticmethod
    def _out_array(out, shape, what):
        if out is None:
            return np.empty(shape, np.float32)
        if (not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise Error("%s must be a writable C-contiguous float32 array of shape %s"
                        % (what, _dims(shape)))
        return out

    def backward_data(self, grad_output, input_shape, output_size=None, out=None):
        """grad_input from grad_output (the forward output's shape); a
        backward_data operator.  input_shape: the forward input's logical
        (PyTorch-order) shape, as reshape's; grad_output and the result are
        in this operator's layout.  out: where to write (with accumulate,
        added to)."""
        self._need_pass("backward_data", "backward_data")
        dy = as_f32(grad_output)
        shape = tuple(int_seq(input_shape, "input_shape", "backward_data"))
        sizes = None if output_size is None else \
            tuple(int_seq(output_size, "output_size", "backward_data"))
        with self._lock:
            if shape != self._shape or sizes != self._osz:
                self._reshape(shape, sizes)
            if self._logical(dy.shape) != self._out_shape:
                raise Error("grad_output has shape %s but the forward's output for input of "
                            "shape %s has shape %s" % (_dims(dy.shape), _dims(input_shape),
                                                       _dims(self._phys_out)))
            out = self._out_array(out, self._physical(shape), "out")
            self._follow_threads()
            _lib.check(_lib.lib.tconv_op_run_backward_data(self._handle, dy.ctypes.data,
                                                           out.ctypes.data, self._ws_ptr))
            return out

    def backward_weight(self, input, grad_output, output_size=None, bias=True, out=None):
        """(grad_weight, grad_bias) from input and grad_output; a
        backward_weight operator.  bias=False: grad_bias is None (not
        computed).  out: a (grad_weight, grad_bias) pair to write into (with
        accumulate, to add to)."""
        self._need_pass("backward_weight", "backward_weight")
        x, dy = as_f32(input), as_f32(grad_output)
        sizes = None if output_size is None else \
            tuple(int_seq(output_size, "output_size", "backward_weight"))
        shape = self._logical(x.shape)
        p = self.params
        if self.kind == "conv_transpose2d":
            wshape = (p.in_channels, p.out_channels // p.groups) + tuple(p.kernel_size)
        else:
            wshape = (p.out_channels, p.in_channels // p.groups) + tuple(p.kernel_size)
        with self._lock:
            if shape != self._shape or sizes != self._osz:
                self._reshape(shape, sizes)
            if self._logical(dy.shape) != self._out_shape:
                raise Error("grad_output has shape %s but the forward's output for input of "
                            "shape %s has shape %s" % (_dims(dy.shape), _dims(x.shape),
                                                       _dims(self._phys_out)))
            gw = self._out_array(None if out is None else out[0], wshape, "out[0]")
            gb = None
            if bias:
                gb = self._out_array(None if out is None else out[1], (p.out_channels,),
                                     "out[1]")
            self._follow_threads()
            _lib.check(_lib.lib.tconv_op_run_backward_weight(
                self._handle, x.ctypes.data, dy.ctypes.data, gw.ctypes.data,
                None if gb is None else gb.ctypes.data, self._ws_ptr))
            return gw, gb

    def reshape(self, input_shape, output_size=None):
        """Prepares for inputs of the given logical (PyTorch-order) shape and
        returns the output's logical shape (for the backward passes, the
        forward's output shape: grad_output's).  output_size as
        ConvTranspose2d.forward's (conv_transpose2d only)."""
        shape = tuple(int_seq(input_shape, "input_shape", "reshape"))
        sizes = None if output_size is None else \
            tuple(int_seq(output_size, "output_size", "reshape"))
        with self._lock:
            return self._reshape(shape, sizes)

    def run(self, input, out=None):
        """Computes the output for input (shaped as the last reshape, in this
        operator's layout) into out (allocated if None) and returns it."""
        x = as_f32(input)
        with self._lock:
            if self._out_shape is None:
                if self._handle is None:
                    raise Error("operator is closed", 4)
                raise Error("run called before reshape", 4)
            if self._logical(x.shape) != self._shape:
                raise Error("input of shape %s does not match the reshaped shape %s (layout %s)"
                            % (_dims(x.shape), _dims(self._physical(self._shape)), self.layout))
            shape = self._phys_out
            if out is not None and (
                    not isinstance(out, np.ndarray) or out.dtype != np.float32
                    or out.shape != shape or not out.flags.c_contiguous
                    or not out.flags.writeable):
                raise Error("out must be a writable C-contiguous float32 array of shape %s"
                            % _dims(shape))
            return self._run(x, out)

    def __call__(self, input, output_size=None):
        """reshape (when the shape or output_size differs from the last
        reshape's) + run."""
        x = as_f32(input)
        sizes = None if output_size is None else \
            tuple(int_seq(output_size, "output_size", "forward"))
        shape = self._logical(x.shape)
        with self._lock:
            if shape != self._shape or sizes != self._osz:
                self._reshape(shape, sizes)
            return self._run(x, None)

    def set_num_threads(self, num_threads):
        """Threads for later runs (0 = default); results do not depend on it.
        The operator stops following tconv.set_num_threads."""
        n = int_arg(num_threads, "num_threads", "set_num_threads")
        with self._lock:
            if self._handle is None:
                raise Error("operator is closed", 4)
            _lib.check(_lib.lib.tconv_op_set_num_threads(self._handle, n))
            self._follow = False

    @property
    def impl(self):
        """Name of the implementation this operator runs (never 'auto')."""
        with self._lock:
            if self._handle is None:
                raise Error("operator is closed", 4)
            return _lib.lib.tconv_impl_name(_lib.lib.tconv_op_impl(self._handle)).decode()

    @property
    def path(self):
        """Name of the path chosen at the last reshape ('none' before)."""
        with self._lock:
            if self._handle is None:
                raise Error("operator is closed", 4)
            return _lib.lib.tconv_op_path(self._handle).decode()

    def close(self):
        """Frees the C operator (also done when the object is collected).
        Waits for a call in progress in another thread; later calls raise."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._handle is not None:
                _lib.lib.tconv_op_destroy(self._handle)
                self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        raise TypeError("a tconv.Operator holds a C object and cannot be copied or pickled; "
                        "create a new one from the weights")

    def __repr__(self):
        return "<tconv.Operator %s %s, layout %s%s>" % (
            self.kind, self.pass_, self.layout, "" if self._handle is not None else ", closed")

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# -- the functional API's operator cache -------------------------------------

_CACHE_MAX = 16  # operators kept (each holds its packed weights)
_cache = collections.OrderedDict()  # key -> list of idle _Cached, most recent last
_cache_lock = threading.Lock()
_cache_count = [0]

try:
    _memcmp = ctypes.CDLL(None).memcmp
    _memcmp.restype = ctypes.c_int
    _memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
except (OSError, AttributeError):  # no C library symbols in this process
    _memcmp = None


def is_immutable(a):
    """True if no one can change a's values: a and every array it views are
    read-only and the memory belongs to a bytes object (tconv.nn.Parameter's
    storage).  A read-only array over writable memory does not count."""
    while isinstance(a, np.ndarray):
        if a.flags.writeable:
            return False
        a = a.base
    return isinstance(a, bytes)


def _same_bytes(a, b):
    if a.nbytes == 0:
        return True
    if _memcmp is not None:
        return _memcmp(a.ctypes.data, b.ctypes.data, a.nbytes) == 0
    return np.array_equal(a.view(np.uint8), b.view(np.uint8))


class _Snap:
    """What a cached operator was made from: the array itself when it is
    immutable, else a copy of its values."""
    __slots__ = ("ref", "copy")

    def __init__(self, a):
        if a is None or is_immutable(a):
            self.ref, self.copy = a, None
        else:
            self.ref, self.copy = None, a.copy()

    def matches(self, a):
        if self.copy is None:
            return self.ref is a
        return _same_bytes(self.copy, a)


def _array_key(a):
    if a is None:
        return None
    if is_immutable(a):
        return ("id", id(a), a.shape)
    return ("ptr", a.ctypes.data, a.shape)


def clear_cache():
    """Drops the operators the functional calls (conv_transpose2d, conv2d)
    keep for reuse, freeing their packed weights."""
    with _cache_lock:
        _cache.clear()
        _cache_count[0] = 0


def _checkout(key):
    with _cache_lock:
        idle = _cache.get(key)
        if not idle:
            return None
        entry = idle.pop()
        _cache_count[0] -= 1
        if not idle:
            del _cache[key]
        return entry


def _checkin(key, entry):
    with _cache_lock:
        idle = _cache.get(key)
        if idle is None:
            idle = _cache[key] = []
        else:
            _cache.move_to_end(key)
        idle.append(entry)
        _cache_count[0] += 1
        while _cache_count[0] > _CACHE_MAX:
            old_key, old = next(iter(_cache.items()))
            old.pop(0)
            _cache_count[0] -= 1
            if not old:
                del _cache[old_key]


# Parsed parameters by their raw arguments, when these are plain ints,
# strings and tuples of ints (exact types: a bool or float must still be
# refused), with the shapes the checks depend on.
_params_cache = {}
_PARAMS_CACHE_MAX = 512


def _params_key(kind, w, b, x, args):
    for a in args:
        t = type(a)
        if t is int or t is str or (t is tuple and all(type(e) is int for e in a)):
            continue
        return None
    return (kind, args, w.shape, None if b is None else b.shape, x.ndim)


def _parsed(kind, w, b, x, args, parse):
    """(params, bytes(params)) for a functional call: parse(...) the first
    time, then from _params_cache."""
    key = _params_key(kind, w, b, x, args)
    hit = None if key is None else _params_cache.get(key)
    if hit is None:
        p = parse(w, b, x, *args)
        hit = (p, bytes(p))
        if key is not None:
            if len(_params_cache) >= _PARAMS_CACHE_MAX:
                _params_cache.clear()
            _params_cache[key] = hit
    return hit


def _run(kind, parsed, w, b, x, output_size=None):
    """One functional call: a cached operator for (parameters, weight
    values, process defaults) when there is one, else a new one (kept for
    the next call).  A cached operator is checked out while it runs, so
    another thread never shares it."""
    params, pbytes = parsed
    key = (kind, pbytes, _array_key(w), _array_key(b), _defaults["impl"])
    entry = _checkout(key)
    if entry is not None and not (entry[1].matches(w) and entry[2].matches(b)):
        entry = None  # the same array with other values: make a new operator
    if entry is None:
        entry = (Operator(kind, params, w, b), _Snap(w), _Snap(b))
    op = entry[0]
    shape = tuple(x.shape)
    sizes = None if output_size is None else tuple(output_size)
    with op._lock:
        if shape != op._shape or sizes != op._osz:
            op._reshape(shape, sizes)
        y = op._run(x, None)
    if _CACHE_MAX:
        _checkin(key, entry)
    return y


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
    x, w = as_f32(input), as_f32(weight)
    b = None if bias is None else as_f32(bias)
    parsed = _parsed("ct", w, b, x, (stride, padding, output_padding, groups, dilation),
                     _ct_params)
    return _run("conv_transpose2d", parsed, w, b, x)


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
    x, w = as_f32(input), as_f32(weight)
    b = None if bias is None else as_f32(bias)
    parsed = _parsed("c", w, b, x, (stride, padding, dilation, groups, padding_mode),
                     _conv2d_params)
    return _run("conv2d", parsed, w, b, x)


def _mask(output_mask):
    m = tuple(bool(v) for v in output_mask)
    if len(m) != 3:
        raise Error("output_mask must have 3 entries (grad_input, grad_weight, grad_bias), but "
                    "got %d" % len(m))
    return m


def _backward(kind, p, x, w, dy, mask, output_size=None):
    """The C one-call backward: (grad_input, grad_weight, grad_bias), None
    where masked out."""
    if x.ndim not in (3, 4):
        _check_input_ndim(x, kind)
    if dy.ndim != x.ndim:
        raise Error("grad_output must have the input's %d dimensions, but has shape %s"
                    % (x.ndim, _dims(dy.shape)))
    gi = np.empty(x.shape, np.float32) if mask[0] else None
    gw = np.empty(w.shape, np.float32) if mask[1] else None
    gb = np.empty((p.out_channels,), np.float32) if mask[2] else None
    cmask = (_lib.ctypes.c_int * 3)(*(int(v) for v in mask))
    ptr = (lambda a: None if a is None else a.ctypes.data)
    ins, dys = _lib.i64_array(x.shape), _lib.i64_array(dy.shape)
    if kind == "conv_transpose2d":
        osz = None if output_size is None else _lib.i64_array(output_size)
        st = _lib.lib.tconv_conv_transpose2d_backward(
            _lib.ctypes.byref(p), x.ndim, ins, x.ctypes.data, w.ctypes.data, osz,
            0 if output_size is None else len(output_size), dys, dy.ctypes.data, cmask,
            ptr(gi), ptr(gw), ptr(gb))
    else:
        st = _lib.lib.tconv_conv2d_backward(
            _lib.ctypes.byref(p), x.ndim, ins, x.ctypes.data, w.ctypes.data, dys, dy.ctypes.data,
            cmask, ptr(gi), ptr(gw), ptr(gb))
    _lib.check(st)
    return gi, gw, gb


def conv_transpose2d_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1, output_mask=(True, True, True),
                              output_size=None):
    """The gradients of conv_transpose2d (PyTorch's convolution_backward):
    returns (grad_input, grad_weight, grad_bias) for grad_output, the
    gradient of the loss with respect to conv_transpose2d(input, weight,
    bias, ...) -- None where output_mask is False.  grad_output must have
    the forward output's shape (for output_size, as ConvTranspose2d.forward's,
    when given).  grad_bias is the sum of grad_output over all but the
    channel dimension.  Fresh float32 arrays; errors as conv_transpose2d."""
    x, w, dy = as_f32(input), as_f32(weight), as_f32(grad_output)
    mask = _mask(output_mask)
    p = _ct_params(w, None, x, stride, padding, output_padding, groups, dilation)
    sizes = None if output_size is None else \
        list(int_seq(output_size, "output_size", "conv_transpose2d_backward"))
    return _backward("conv_transpose2d", p, x, w, dy, mask, sizes)


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    output_mask=(True, True, True), padding_mode="zeros"):
    """The gradients of conv2d (padding_mode as nn.Conv2d's; with a mode
    the gradient of the padding is folded back onto the input, as F.pad's
    autograd does): (grad_input, grad_weight, grad_bias), None where
    output_mask is False.  Fresh float32 arrays; errors as conv2d."""
    x, w, dy = as_f32(input), as_f32(weight), as_f32(grad_output)
    mask = _mask(output_mask)
    p = _conv2d_params(w, None, x, stride, padding, dilation, groups, padding_mode)
    return _backward("conv2d", p, x, w, dy, mask)


def output_padding_for_size(input_shape, output_size, kernel_size, stride, padding, dilation):
    """ConvTranspose2d.forward's output_size -> output_padding (PyTorch's
    _output_padding), computed by libtconv.  All pairs are (h, w) sequences;
    input_shape has 3 or 4 entries, output_size 2 or len(input_shape)."""
    p = _lib.ConvTranspose2dParams()
    p.in_channels, p.out_channels, p.groups = 1, 1, 1
    p.kernel_size[:] = [int_arg(v, "kernel_size", "forward") for v in kernel_size]
    p.stride[:] = [int_arg(v, "stride", "forward") for v in stride]
    p.padding[:] = [int_arg(v, "padding", "forward") for v in padding]
    p.dilation[:] = [int_arg(v, "dilation", "forward") for v in dilation]
    shape = [int(d) for d in input_shape]
    sizes = [int_arg(v, "output_size", "forward") for v in output_size]
    res = (_lib.ctypes.c_int64 * 2)()
    _lib.check(_lib.lib.tconv_conv_transpose2d_output_padding_for_size(
        _lib.ctypes.byref(p), len(shape), _lib.i64_array(shape) if shape else None,
        _lib.i64_array(sizes) if sizes else None, len(sizes), res))
    return [res[0], res[1]]


# -- tensor shape operations the seed programs use ------------------------------

def view(input, *shape):
    """Tensor.view(*shape) for a contiguous array: the same data under a new
    shape, one entry may be -1 (inferred); PyTorch's refusals and words.
    view(x, -1, 512, 4, 4) or view(x, (-1, 512, 4, 4)).  Returns a NumPy
    view of the data (no copy for C-contiguous input)."""
    from ._convert import to_numpy
    a = to_numpy(input)
    if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, np.integer)):
        shape = tuple(shape[0])
    new = int_seq(shape, "size", "view")
    if len(new) > _lib.MAX_DIMS or a.ndim > _lib.MAX_DIMS:
        raise Error("view: at most %d dimensions are supported" % _lib.MAX_DIMS)
    out = (ctypes.c_int64 * max(len(new), 1))()
    _lib.check(_lib.lib.tconv_view_shape(a.ndim, _lib.i64_array(a.shape) if a.ndim else None,
                                         len(new), _lib.i64_array(new) if new else None, out))
    return np.ascontiguousarray(a).reshape(tuple(out[i] for i in range(len(new))))


def cat(tensors, dim=0):
    """torch.cat(tensors, dim): float32 arrays equal in every dimension but
    dim (negative counts from the end); PyTorch's refusals and words.  The
    inputs must be float32 (as the layers' outputs are); returns a new
    array."""
    from ._convert import as_layer_input
    if isinstance(tensors, np.ndarray) or not isinstance(tensors, (list, tuple)):
        raise TypeError("cat(): argument 'tensors' must be a list or tuple of arrays, not %s"
                        % type(tensors).__name__)
    xs = [as_layer_input(t, "cat", "tensors[%d]" % i) for i, t in enumerate(tensors)]
    dim = int_arg(dim, "dim", "cat")
    if not -(1 << 31) <= dim < (1 << 31):
        raise Error("cat(): argument 'dim' value %d is out of range" % dim)
    nd = xs[0].ndim if xs else 1
    if any(x.ndim != nd for x in xs) or nd == 0 or nd > _lib.MAX_DIMS:
        # PyTorch's words for the ranks it refuses
        if nd == 0 or any(x.ndim == 0 for x in xs):
            raise Error("zero-dimensional tensor (at position %d) cannot be concatenated"
                        % next(i for i, x in enumerate(xs) if x.ndim == 0))
        first = next(i for i, x in enumerate(xs) if x.ndim != nd)
        raise Error("Tensors must have same number of dimensions: got %d and %d"
                    % (nd, xs[first].ndim))
    shapes = [_lib.i64_array(x.shape) for x in xs]
    ptrs = (ctypes.c_void_p * max(len(xs), 1))(*[x.ctypes.data for x in xs])
    sptr = (ctypes.POINTER(ctypes.c_int64) * max(len(xs), 1))(
        *[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shapes])
    total = sum(x.size for x in xs)
    out = np.empty(max(total, 1), np.float32)
    oshape = (ctypes.c_int64 * nd)()
    _lib.check(_lib.lib.tconv_cat(len(xs), ptrs, sptr, nd, dim, out.ctypes.data, total, oshape))
    return out[:total].reshape(tuple(oshape[i] for i in range(nd)))


# -- training: activations, batch_norm, losses and their gradients -------------------
from ._train import *  # noqa: E402,F401,F403
