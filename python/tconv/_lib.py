"""ctypes declarations for libtconv (include/tconv.h) and the library search.

Search order for the shared library:
  1. the path in the environment variable TCONV_LIBRARY (no fallback if it fails);
  2. <repository>/build/libtconv.so, the README's build directory;
  3. the system loader's "libtconv.so" (an installed library, LD_LIBRARY_PATH).
Other build-* directories are never searched: point TCONV_LIBRARY at them.
"""
import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))  # python/tconv -> repository root


class Error(ValueError):
    """An argument tconv (and PyTorch) refuses, or a failure inside libtconv.

    str(e) is the library's message (tconv_last_error) or, for checks that
    PyTorch makes in Python, PyTorch's own words.  e.status is the
    tconv_status code (1 = invalid argument for Python-level checks) and
    e.status_name its name."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status
        self.status_name = _STATUS_NAMES.get(status, "unknown status")


_STATUS_NAMES = {0: "ok", 1: "invalid argument", 2: "size overflow", 3: "out of memory",
                 4: "invalid state", 5: "unsupported", 6: "i/o error", 7: "malformed data",
                 8: "not found"}

IMPLS = {"auto": 0, "reference": 1, "portable": 2, "avx2": 3, "avx512": 4}
LAYOUTS = {"nchw": 0, "nhwc": 1}
PADDING_KINDS = {"explicit": 0, "same": 1, "valid": 2}
PADDING_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}

_i64 = ctypes.c_int64
_I64x2 = _i64 * 2
_p64 = ctypes.POINTER(_i64)


class ConvTranspose2dParams(ctypes.Structure):
    """tconv_conv_transpose2d_params."""
    _fields_ = [("in_channels", _i64), ("out_channels", _i64), ("kernel_size", _I64x2),
                ("stride", _I64x2), ("padding", _I64x2), ("output_padding", _I64x2),
                ("dilation", _I64x2), ("groups", _i64)]


class Conv2dParams(ctypes.Structure):
    """tconv_conv2d_params (enums are C ints)."""
    _fields_ = [("in_channels", _i64), ("out_channels", _i64), ("kernel_size", _I64x2),
                ("stride", _I64x2), ("padding", _I64x2), ("dilation", _I64x2),
                ("groups", _i64), ("padding_kind", ctypes.c_int),
                ("padding_mode", ctypes.c_int)]


class Options(ctypes.Structure):
    """tconv_options."""
    _fields_ = [("num_threads", ctypes.c_int), ("layout", ctypes.c_int), ("impl", ctypes.c_int)]


def _candidates():
    env = os.environ.get("TCONV_LIBRARY")
    if env:
        return [env], True
    return [os.path.join(_REPO, "build", "libtconv.so"), "libtconv.so"], False


def _load():
    names, from_env = _candidates()
    errors = []
    for name in names:
        if os.sep in name and not os.path.exists(name):
            errors.append("%s: no such file" % name)
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    how = ("TCONV_LIBRARY is set" if from_env else
           "build it with `cmake -S . -B build && cmake --build build` from the repository "
           "root, or set TCONV_LIBRARY to the path of libtconv.so")
    raise ImportError("tconv: cannot load libtconv (%s); tried: %s" % (how, "; ".join(errors)))


lib, path = _load()


def _declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_vp = ctypes.c_void_p
_int = ctypes.c_int
_declare("tconv_last_error", ctypes.c_char_p)
_declare("tconv_version", ctypes.c_char_p)
_declare("tconv_impl_available", _int, _int)
_declare("tconv_impl_name", ctypes.c_char_p, _int)
_declare("tconv_best_impl", _int)
_declare("tconv_default_num_threads", _int)
_declare("tconv_conv_transpose2d_create", _int, ctypes.POINTER(ConvTranspose2dParams), _vp, _vp,
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv2d_create", _int, ctypes.POINTER(Conv2dParams), _vp, _vp,
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_op_reshape", _int, _vp, _int, _p64, _p64, _int, _p64,
         ctypes.POINTER(ctypes.c_size_t))
_declare("tconv_op_run", _int, _vp, _vp, _vp, _vp)
_declare("tconv_op_set_num_threads", _int, _vp, _int)
_declare("tconv_op_impl", _int, _vp)
_declare("tconv_op_path", ctypes.c_char_p, _vp)
_declare("tconv_op_destroy", None, _vp)
_declare("tconv_conv_transpose2d_output_padding_for_size", _int,
         ctypes.POINTER(ConvTranspose2dParams), _int, _p64, _p64, _int, _p64)


def check(status):
    """Raises Error with the library's message if status is not TCONV_OK."""
    if status != 0:
        msg = lib.tconv_last_error().decode("utf-8", "replace")
        raise Error(msg or _STATUS_NAMES.get(status, "tconv error %d" % status), status)


def i64_array(values):
    """A ctypes int64 array from Python ints (range-checked by ctypes' caller)."""
    return (_i64 * len(values))(*values)
