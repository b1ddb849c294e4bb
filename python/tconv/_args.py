"""Argument handling shared by tconv.functional and tconv.nn: the process
defaults (implementation, thread count, TCONV_NUM_THREADS), PyTorch's
int-or-list parsing and its Python-visible checks, the parameter structs
libtconv takes, and the result arrays layers reuse."""
import numbers
import os
import sys

import numpy as np

from . import _lib
from ._convert import INT64_MAX as _INT64_MAX, int_arg
from ._lib import Error


def _recycled(owner, key, shape):
    """A new float32 array of shape for a layer's result, or the one owner
    returned from its last call when nothing else refers to it any more (no
    caller, view or tensor can see it being overwritten): fresh arrays of
    megabytes cost their page faults on every call.  owner keeps the array
    for the next call."""
    d = owner.__dict__
    a = d.get(key)
    # references: the dict, `a`, getrefcount's argument
    if a is not None and a.shape == shape and sys.getrefcount(a) == 3:
        return a
    a = np.empty(shape, np.float32)
    d[key] = a
    return a

# Process-wide defaults for the functional API and the modules; see
# tconv.set_options / tconv.options / tconv.set_num_threads.
_defaults = {"impl": "auto", "num_threads": 0}
# Bumped whenever the default thread count may have changed: operators that
# follow the default compare it before each run.
_threads_gen = [0]


def _env_threads():
    v = os.environ.get("TCONV_NUM_THREADS", "").strip()
    try:
        n = int(v)
    except ValueError:
        return 0
    return n if n > 0 else 0


_ENV_THREADS = _env_threads()


def library_num_threads():
    """The library's process-wide default thread count (what num_threads 0
    means): tconv_get_num_threads() where the library has it, else
    TCONV_NUM_THREADS if set to a positive integer, else the available cores."""
    if _lib.HAS_PROCESS_THREADS:
        return _lib.lib.tconv_get_num_threads()
    return _ENV_THREADS or _lib.lib.tconv_default_num_threads()


def effective_num_threads():
    """Threads that operators following the process default use now."""
    return _defaults["num_threads"] or library_num_threads()


def bump_threads():
    """Tells operators that follow the default to re-read it."""
    _threads_gen[0] += 1


def _int_list(value, name, fn):
    """PyTorch's int[2] argument parsing: an int becomes [v, v]; a sequence
    of ints is kept as is (its length is checked later, by _expand)."""
    if isinstance(value, (str, bytes)):
        raise TypeError("%s(): argument '%s' must be tuple of ints, not %s"
                        % (fn, name, type(value).__name__))
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = int_arg(value, name, fn)
        return [v, v]
    try:
        items = list(value)
    except TypeError:
        raise TypeError("%s(): argument '%s' must be tuple of ints, not %s"
                        % (fn, name, type(value).__name__)) from None
    try:
        return [int_arg(v, name, fn) for v in items]
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
    groups = int_arg(groups, "groups", fn)
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
    """(impl, num_threads, follow): the arguments given, or the process
    defaults; follow is True when the thread count was not given (the
    operator then follows tconv.set_num_threads)."""
    impl = _defaults["impl"] if impl is None else impl
    follow = num_threads is None
    if impl not in _lib.IMPLS:
        raise Error("impl must be one of %s, but got %r" % (sorted(_lib.IMPLS), impl))
    if follow:
        return impl, effective_num_threads(), True
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral) \
            or not 0 <= num_threads <= 1 << 20:
        raise Error("num_threads must be an int >= 0 (0 = default), but got %r" % (num_threads,))
    return impl, int(num_threads), False


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
