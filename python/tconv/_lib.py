"""ctypes declarations for libtconv (include/tconv.h), the library search and
the version check.

Search order for the shared library:
  1. the path in the environment variable TCONV_LIBRARY (no fallback if it fails);
  2. the library installed beside this package (pip install puts it there);
  3. in a source checkout (python/tconv of the repository): <repository>/build/libtconv.so,
     the README's build directory;
  4. the system loader's "libtconv.so" (an installed library, LD_LIBRARY_PATH).
Other build-* directories are never searched: point TCONV_LIBRARY at them.

The library found must be the version this package is (tconv_version() ==
tconv.__version__); another version is refused at import with a message that
says which file was loaded and how to get a matching one.
"""
import ctypes
import os
import sys

from ._version import __version__

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))  # python/tconv -> repository root (in a checkout)

if sys.platform == "darwin":
    _LIBNAME = "libtconv.dylib"
elif sys.platform == "win32":
    _LIBNAME = "tconv.dll"
else:
    _LIBNAME = "libtconv.so"


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
# tconv_dtype, in the header's order, as the safetensors format names them.
DTYPES = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64",
          "U64", "F8_E4M3", "F8_E5M2"]
MAX_DIMS = 16

_i64 = ctypes.c_int64
_I64x2 = _i64 * 2
_p64 = ctypes.POINTER(_i64)
_fp = ctypes.POINTER(ctypes.c_float)


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
    _fields_ = [("num_threads", ctypes.c_int), ("layout", ctypes.c_int), ("impl", ctypes.c_int),
                ("accumulate", ctypes.c_int)]


class Linear(ctypes.Structure):
    """tconv_linear (the arrays are the Python module's; never freed by C
    here; no .grad arrays and no cache: C computes the direct sums)."""
    _fields_ = [("in_features", _i64), ("out_features", _i64), ("weight", _fp), ("bias", _fp),
                ("weight_grad", _fp), ("bias_grad", _fp), ("cache", ctypes.c_void_p)]


class BatchNorm2d(ctypes.Structure):
    """tconv_batchnorm2d (the arrays are the Python module's)."""
    _fields_ = [("num_features", _i64), ("eps", ctypes.c_double), ("momentum", ctypes.c_double),
                ("training", ctypes.c_int), ("weight", _fp), ("bias", _fp),
                ("running_mean", _fp), ("running_var", _fp), ("num_batches_tracked", _i64),
                ("weight_grad", _fp), ("bias_grad", _fp), ("cache", ctypes.c_void_p)]


class Param(ctypes.Structure):
    """tconv_param (an optimizer's parameter: data, grad, numel, changed hook)."""
    _fields_ = [("data", _fp), ("grad", _fp), ("numel", _i64),
                ("changed", ctypes.CFUNCTYPE(None, ctypes.c_void_p)), ("owner", ctypes.c_void_p)]


class OptimizerOptions(ctypes.Structure):
    """tconv_optimizer_options."""
    _fields_ = [("lr", ctypes.c_double), ("momentum", ctypes.c_double),
                ("dampening", ctypes.c_double), ("nesterov", ctypes.c_int),
                ("beta1", ctypes.c_double), ("beta2", ctypes.c_double), ("eps", ctypes.c_double),
                ("amsgrad", ctypes.c_int), ("weight_decay", ctypes.c_double),
                ("maximize", ctypes.c_int)]


OPTIMIZERS = {"SGD": 0, "Adam": 1, "AdamW": 2}
REDUCTIONS = {"mean": 0, "sum": 1, "none": 2}


class MaxPool2dParams(ctypes.Structure):
    """tconv_maxpool2d_params."""
    _fields_ = [("kernel_size", _I64x2), ("stride", _I64x2), ("padding", _I64x2),
                ("dilation", _I64x2), ("ceil_mode", ctypes.c_int)]


class TensorInfo(ctypes.Structure):
    """tconv_tensor_info."""
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", _p64), ("numel", _i64), ("nbytes", _i64)]


def _candidates():
    env = os.environ.get("TCONV_LIBRARY")
    if env:
        return [env], True
    names = [os.path.join(_HERE, _LIBNAME)]
    if os.path.exists(os.path.join(_REPO, "include", "tconv.h")):
        names.append(os.path.join(_REPO, "build", _LIBNAME))
    names.append(_LIBNAME)
    return names, False


def _version_of(handle):
    f = handle.tconv_version
    f.restype = ctypes.c_char_p
    f.argtypes = []
    return f().decode("ascii", "replace")


def _load():
    names, from_env = _candidates()
    errors = []
    for name in names:
        if os.sep in name and not os.path.exists(name):
            errors.append("%s: no such file" % name)
            continue
        try:
            handle = ctypes.CDLL(name)
        except OSError as e:
            errors.append("%s: %s" % (name, e))
            continue
        try:
            found = _version_of(handle)
        except AttributeError:
            raise ImportError("tconv: %s is not libtconv (it has no tconv_version)" % name) from None
        if found != __version__:
            raise ImportError(
                "tconv: the library %s is version %s, but this tconv package is version %s; "
                "rebuild the library from the same source (cmake --build build), reinstall the "
                "package (pip install .), or set TCONV_LIBRARY to a libtconv %s"
                % (name, found, __version__, __version__))
        return handle, name
    how = ("TCONV_LIBRARY is set" if from_env else
           "build it with `cmake -S . -B build && cmake --build build` from the repository "
           "root, install the package with `pip install .`, or set TCONV_LIBRARY to the path "
           "of %s" % _LIBNAME)
    raise ImportError("tconv: cannot load libtconv (%s); tried: %s" % (how, "; ".join(errors)))


lib, path = _load()


def _declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


def has(name):
    """True if the loaded library exports the function `name`."""
    return hasattr(lib, name)


_vp = ctypes.c_void_p
_int = ctypes.c_int
_cp = ctypes.c_char_p
_declare("tconv_last_error", _cp)
_declare("tconv_version", _cp)
_declare("tconv_impl_available", _int, _int)
_declare("tconv_impl_name", _cp, _int)
_declare("tconv_best_impl", _int)
_declare("tconv_default_num_threads", _int)
_declare("tconv_conv_transpose2d_create", _int, ctypes.POINTER(ConvTranspose2dParams), _vp, _vp,
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv2d_create", _int, ctypes.POINTER(Conv2dParams), _vp, _vp,
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv_transpose2d_backward_data_create", _int,
         ctypes.POINTER(ConvTranspose2dParams), _vp, ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv_transpose2d_backward_weight_create", _int,
         ctypes.POINTER(ConvTranspose2dParams), ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv2d_backward_data_create", _int, ctypes.POINTER(Conv2dParams), _vp,
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_conv2d_backward_weight_create", _int, ctypes.POINTER(Conv2dParams),
         ctypes.POINTER(Options), ctypes.POINTER(_vp))
_declare("tconv_op_reshape", _int, _vp, _int, _p64, _p64, _int, _p64,
         ctypes.POINTER(ctypes.c_size_t))
_declare("tconv_op_run_backward_data", _int, _vp, _vp, _vp, _vp)
_declare("tconv_op_run_backward_weight", _int, _vp, _vp, _vp, _vp, _vp, _vp)
_declare("tconv_conv_transpose2d_backward", _int, ctypes.POINTER(ConvTranspose2dParams), _int,
         _p64, _vp, _vp, _p64, _int, _p64, _vp, ctypes.POINTER(_int), _vp, _vp, _vp)
_declare("tconv_conv2d_backward", _int, ctypes.POINTER(Conv2dParams), _int, _p64, _vp, _vp,
         _p64, _vp, ctypes.POINTER(_int), _vp, _vp, _vp)
_declare("tconv_op_run", _int, _vp, _vp, _vp, _vp)
_declare("tconv_op_set_num_threads", _int, _vp, _int)
_declare("tconv_op_impl", _int, _vp)
_declare("tconv_op_path", _cp, _vp)
_declare("tconv_op_destroy", None, _vp)
_declare("tconv_conv_transpose2d_output_padding_for_size", _int,
         ctypes.POINTER(ConvTranspose2dParams), _int, _p64, _p64, _int, _p64)
# nn layers
_declare("tconv_relu", _int, _vp, _vp, _i64)
_declare("tconv_tanh", _int, _vp, _vp, _i64)
_declare("tconv_sigmoid", _int, _vp, _vp, _i64)
_declare("tconv_leaky_relu", _int, _vp, _vp, _i64, ctypes.c_float)
_declare("tconv_linear_forward", _int, ctypes.POINTER(Linear), _int, _p64, _vp, _vp, _i64, _p64)
_declare("tconv_batchnorm2d_forward", _int, ctypes.POINTER(BatchNorm2d), _int, _p64, _vp, _vp)
_declare("tconv_maxpool2d_output_shape", _int, ctypes.POINTER(MaxPool2dParams), _int, _p64, _p64)
_declare("tconv_maxpool2d", _int, ctypes.POINTER(MaxPool2dParams), _int, _p64, _vp, _vp, _i64,
         _p64)
_declare("tconv_view_shape", _int, _int, _p64, _int, _p64, _p64)
_declare("tconv_cat", _int, _int, ctypes.POINTER(_vp), ctypes.POINTER(_p64), _int, _int, _vp,
         _i64, _p64)
# training: activations' gradients, BatchNorm2d's, losses, optimizers
for _name in ("tconv_relu_backward", "tconv_tanh_backward", "tconv_sigmoid_backward"):
    _declare(_name, _int, _vp, _vp, _vp, _i64)
_declare("tconv_leaky_relu_backward", _int, _vp, _vp, _vp, _i64, ctypes.c_float)
_declare("tconv_batchnorm2d_init", _int, ctypes.POINTER(BatchNorm2d), _i64)
_declare("tconv_batchnorm2d_free", None, ctypes.POINTER(BatchNorm2d))
_declare("tconv_batchnorm2d_backward", _int, ctypes.POINTER(BatchNorm2d), _int, _p64, _vp, _vp,
         _vp)
for _name in ("tconv_mse_loss", "tconv_l1_loss"):
    _declare(_name, _int, _vp, _vp, _i64, _int, _vp)
    _declare(_name + "_backward", _int, _vp, _vp, _i64, _int, _vp, _vp)
_declare("tconv_bce_loss", _int, _vp, _vp, _vp, _i64, _int, _vp)
_declare("tconv_bce_loss_backward", _int, _vp, _vp, _vp, _i64, _int, _vp, _vp)
_declare("tconv_bce_with_logits_loss", _int, _vp, _vp, _vp, _vp, _i64, _i64, _int, _vp)
_declare("tconv_bce_with_logits_loss_backward", _int, _vp, _vp, _vp, _vp, _i64, _i64, _int, _vp,
         _vp)
_declare("tconv_optimizer_options_init", None, ctypes.POINTER(OptimizerOptions), _int,
         ctypes.c_double)
_declare("tconv_optimizer_create", _int, _int, ctypes.POINTER(Param), _i64,
         ctypes.POINTER(OptimizerOptions), ctypes.POINTER(_vp))
_declare("tconv_optimizer_group_options", ctypes.POINTER(OptimizerOptions), _vp, _i64)
_declare("tconv_optimizer_step", _int, _vp)
_declare("tconv_optimizer_state", _int, _vp, _i64, _cp, ctypes.POINTER(_fp),
         ctypes.POINTER(_i64))
_declare("tconv_optimizer_load_state", _int, _vp, _i64, _cp, _vp, _i64)
_declare("tconv_optimizer_destroy", None, _vp)
# safetensors reader
_declare("tconv_safetensors_open", _int, _cp, ctypes.POINTER(_vp))
_declare("tconv_safetensors_close", None, _vp)
_declare("tconv_safetensors_count", _i64, _vp)
_declare("tconv_safetensors_info", _int, _vp, _i64, ctypes.POINTER(TensorInfo))
_declare("tconv_safetensors_metadata", _cp, _vp, _cp)
_declare("tconv_safetensors_read_f32", _int, _vp, _cp, _int, _p64, _vp, _i64)
# Process-wide thread count: newer libraries have it; older ones leave it to
# the binding (see tconv.set_num_threads).
if has("tconv_set_num_threads") and has("tconv_get_num_threads"):
    _declare("tconv_set_num_threads", _int, _int)
    _declare("tconv_get_num_threads", _int)
    HAS_PROCESS_THREADS = True
else:
    HAS_PROCESS_THREADS = False


def check(status):
    """Raises Error with the library's message if status is not TCONV_OK."""
    if status != 0:
        msg = lib.tconv_last_error().decode("utf-8", "replace")
        raise Error(msg or _STATUS_NAMES.get(status, "tconv error %d" % status), status)


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def i64_array(values):
    """A ctypes int64 array from Python ints.  ctypes would wrap values
    outside int64 silently, so they are refused here."""
    for v in values:
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise Error("value %d does not fit in int64" % v)
    return (_i64 * len(values))(*values)
