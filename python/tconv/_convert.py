"""Arrays in and out: NumPy arrays, CPU torch tensors (DLPack) and other
array-likes; PyTorch's dtype rule for layers; int64-checked integers."""
import numbers
import operator as _operator

import numpy as np

from ._lib import Error

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_F32 = np.dtype(np.float32)
_KDLCPU = 1


def to_numpy(x, what="input"):
    """A NumPy array for x, sharing memory where possible, dtype unchanged.

    NumPy arrays are returned as they are.  Objects with __dlpack__ (torch
    tensors) must live on the CPU and are imported through DLPack; others go
    through np.asarray (lists, objects with __array__)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        try:
            dev = x.__dlpack_device__()
            dev_type = int(dev[0])
        except Exception:  # noqa: BLE001 - a foreign object's own error
            dev_type = _KDLCPU
        if dev_type != _KDLCPU:
            raise Error("%s is on device %s; tconv runs on the CPU: move it first (x.cpu())"
                        % (what, dev[0]))
        try:
            return np.from_dlpack(x)
        except (RuntimeError, TypeError, BufferError, ValueError) as e:
            # torch: "Can't export tensors that require gradient, use tensor.detach()"
            try:
                return np.asarray(x)
            except Exception:  # noqa: BLE001
                raise Error("%s: %s" % (what, e)) from None
    try:
        return np.asarray(x)
    except (RuntimeError, TypeError) as e:
        raise Error("%s: %s" % (what, e)) from None


def _dtype_name(dt):
    return str(dt) if dt.byteorder in ("=", "|") or dt.isnative else dt.str


def as_layer_input(x, who, what="input"):
    """A C-contiguous float32 NumPy array for a float32 layer, as PyTorch
    refuses a mismatched dtype: a float64, integer or bool input is refused
    (never cast), with the conversion to use.  Lists and other sequences are
    refused too (PyTorch layers take tensors)."""
    if type(x) is np.ndarray:  # the common case first
        a = x
    elif isinstance(x, np.ndarray) or hasattr(x, "__dlpack__") or hasattr(x, "__array__") \
            or hasattr(x, "__array_interface__"):
        a = to_numpy(x, what)
    else:
        raise TypeError("%s: %s must be a NumPy array or a CPU torch tensor, not %s"
                        % (who, what, type(x).__name__))
    if a.dtype != _F32:
        raise Error("%s: %s must be float32 (the layer's parameters are float32), but got %s; "
                    "convert it first: x.astype(np.float32) for a NumPy array, x.float() for a "
                    "torch tensor" % (who, what, _dtype_name(a.dtype)))
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def as_f32(a):
    """C-contiguous float32 view or copy of an array-like (0-d stays 0-d,
    unlike np.ascontiguousarray).  The functional API's conversion: any real
    dtype is converted."""
    if isinstance(a, np.ndarray) and a.dtype == _F32 and a.flags.c_contiguous:
        return a  # (a Parameter stays itself: the operator cache knows it by identity)
    return np.asarray(to_numpy(a), dtype=np.float32, order="C")


def int_arg(value, name, fn):
    """A Python int from an int-like value (bools are refused as PyTorch
    does); values outside int64 are refused, never wrapped."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        try:
            if isinstance(value, (bool, np.bool_)):
                raise TypeError
            value = _operator.index(value)
        except TypeError:
            raise TypeError("%s(): argument '%s' must be int, not %s"
                            % (fn, name, type(value).__name__)) from None
    value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise Error("%s(): argument '%s' value %d does not fit in int64" % (fn, name, value))
    return value


def int_seq(values, name, fn):
    """A list of int64-checked ints from a sequence (list, tuple, array,
    torch.Size)."""
    if isinstance(values, (str, bytes)):
        raise TypeError("%s(): argument '%s' must be a sequence of ints, not %s"
                        % (fn, name, type(values).__name__))
    try:
        items = list(values)
    except TypeError:
        raise TypeError("%s(): argument '%s' must be a sequence of ints, not %s"
                        % (fn, name, type(values).__name__)) from None
    return [int_arg(v, name, fn) for v in items]
