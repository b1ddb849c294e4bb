"""ctypes mirror of the nn part of libtconv's C API (include/tconv_nn.h), for
the nn tests: the module structs, the training API's prototypes and small
helpers (poisoned outputs, arrays over C pointers).  The library comes from
TCONV_LIBRARY, else build/libtconv.so."""
import ctypes as C
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = C.CDLL(os.environ.get("TCONV_LIBRARY") or os.path.join(ROOT, "build", "libtconv.so"))
I64, FP, F32, INT, DBL = C.c_int64, C.POINTER(C.c_float), C.c_float, C.c_int, C.c_double
I64P = C.POINTER(C.c_int64)
VP = C.c_void_p
LIB.tconv_last_error.restype = C.c_char_p


class Linear(C.Structure):
    _fields_ = [("in_features", I64), ("out_features", I64), ("weight", FP), ("bias", FP),
                ("weight_grad", FP), ("bias_grad", FP), ("cache", VP)]


class BatchNorm2d(C.Structure):
    _fields_ = [("num_features", I64), ("eps", DBL), ("momentum", DBL), ("training", INT),
                ("weight", FP), ("bias", FP), ("running_mean", FP), ("running_var", FP),
                ("num_batches_tracked", I64), ("weight_grad", FP), ("bias_grad", FP),
                ("cache", VP)]


class MaxPoolParams(C.Structure):
    _fields_ = [("kernel_size", I64 * 2), ("stride", I64 * 2), ("padding", I64 * 2),
                ("dilation", I64 * 2), ("ceil_mode", INT)]


class CT2dParams(C.Structure):
    _fields_ = [("in_channels", I64), ("out_channels", I64), ("kernel_size", I64 * 2),
                ("stride", I64 * 2), ("padding", I64 * 2), ("output_padding", I64 * 2),
                ("dilation", I64 * 2), ("groups", I64)]


class Conv2dParams(C.Structure):
    _fields_ = [("in_channels", I64), ("out_channels", I64), ("kernel_size", I64 * 2),
                ("stride", I64 * 2), ("padding", I64 * 2), ("dilation", I64 * 2),
                ("groups", I64), ("padding_kind", INT), ("padding_mode", INT)]


class CT2dModule(C.Structure):
    _fields_ = [("p", CT2dParams), ("weight", FP), ("bias", FP), ("weight_grad", FP),
                ("bias_grad", FP), ("cache", VP)]


class Conv2dModule(C.Structure):
    _fields_ = [("p", Conv2dParams), ("weight", FP), ("bias", FP), ("weight_grad", FP),
                ("bias_grad", FP), ("cache", VP)]


class Rng(C.Structure):
    _fields_ = [("state", C.c_uint64)]


CHANGED = C.CFUNCTYPE(None, VP)


class Param(C.Structure):
    _fields_ = [("data", FP), ("grad", FP), ("numel", I64), ("changed", CHANGED), ("owner", VP)]


class OptOptions(C.Structure):
    _fields_ = [("lr", DBL), ("momentum", DBL), ("dampening", DBL), ("nesterov", INT),
                ("beta1", DBL), ("beta2", DBL), ("eps", DBL), ("amsgrad", INT),
                ("weight_decay", DBL), ("maximize", INT)]


SGD, ADAM, ADAMW = 0, 1, 2
MEAN, SUM, NONE = 0, 1, 2
REDUCTIONS = {"mean": MEAN, "sum": SUM, "none": NONE}

LIB.tconv_rng_init.argtypes = [C.POINTER(Rng), C.c_uint64]
LIB.tconv_leaky_relu.argtypes = [FP, FP, I64, F32]
LIB.tconv_leaky_relu_backward.argtypes = [FP, FP, FP, I64, F32]
for _fn in ("tconv_relu", "tconv_tanh", "tconv_sigmoid"):
    getattr(LIB, _fn).argtypes = [FP, FP, I64]
for _fn in ("tconv_relu_backward", "tconv_tanh_backward", "tconv_sigmoid_backward"):
    getattr(LIB, _fn).argtypes = [FP, FP, FP, I64]
LIB.tconv_optimizer_options_init.argtypes = [C.POINTER(OptOptions), INT, DBL]
LIB.tconv_optimizer_create.argtypes = [INT, C.POINTER(Param), I64, C.POINTER(OptOptions),
                                       C.POINTER(VP)]
LIB.tconv_optimizer_add_param_group.argtypes = [VP, C.POINTER(Param), I64,
                                                C.POINTER(OptOptions)]
LIB.tconv_optimizer_step.argtypes = [VP]
LIB.tconv_optimizer_zero_grad.argtypes = [VP]
LIB.tconv_optimizer_destroy.argtypes = [VP]
LIB.tconv_optimizer_state.argtypes = [VP, I64, C.c_char_p, C.POINTER(FP), I64P]
LIB.tconv_optimizer_load_state.argtypes = [VP, I64, C.c_char_p, FP, I64]
LIB.tconv_optimizer_group_options.argtypes = [VP, I64]
LIB.tconv_optimizer_group_options.restype = C.POINTER(OptOptions)
LIB.tconv_safetensors_writer_create.argtypes = [C.POINTER(VP)]
LIB.tconv_safetensors_writer_add.argtypes = [VP, C.c_char_p, INT, INT, I64P, VP]
LIB.tconv_safetensors_writer_set_metadata.argtypes = [VP, C.c_char_p, C.c_char_p]
LIB.tconv_safetensors_writer_save.argtypes = [VP, C.c_char_p]
LIB.tconv_safetensors_writer_destroy.argtypes = [VP]
for _fn in ("tconv_linear_save", "tconv_batchnorm2d_save", "tconv_conv_transpose2d_module_save",
            "tconv_conv2d_module_save"):
    getattr(LIB, _fn).argtypes = [VP, VP, C.c_char_p]
for _fn in ("tconv_mse_loss", "tconv_l1_loss"):
    getattr(LIB, _fn).argtypes = [FP, FP, I64, INT, FP]
for _fn in ("tconv_mse_loss_backward", "tconv_l1_loss_backward"):
    getattr(LIB, _fn).argtypes = [FP, FP, I64, INT, FP, FP]
LIB.tconv_bce_loss.argtypes = [FP, FP, FP, I64, INT, FP]
LIB.tconv_bce_loss_backward.argtypes = [FP, FP, FP, I64, INT, FP, FP]
LIB.tconv_bce_with_logits_loss.argtypes = [FP, FP, FP, FP, I64, I64, INT, FP]
LIB.tconv_bce_with_logits_loss_backward.argtypes = [FP, FP, FP, FP, I64, I64, INT, FP, FP]


def fp(a):
    """A float* to a float32 array (None stays NULL)."""
    if a is None:
        return None
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(FP)


def i64p(a):
    assert a.dtype == np.int64 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(I64P)


def shp(s):
    return (I64 * max(1, len(s)))(*s)


def err():
    return LIB.tconv_last_error().decode()


def poisoned(n):
    return np.full(max(int(n), 0), np.nan, np.float32)


def arr(ptr, n):
    """A numpy view of n floats at a C pointer (a copy-free window)."""
    return np.ctypeslib.as_array(ptr, shape=(int(n),)) if n else np.zeros(0, np.float32)


def rng_for(seed):
    r = Rng()
    LIB.tconv_rng_init(C.byref(r), seed)
    return r
