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
import itertools
import math
import operator
import threading

import numpy as np

from . import _lib
from . import functional
from . import functional as _F
from ._convert import as_layer_input, int_arg, int_seq, to_numpy
from ._lib import Error

__all__ = ["Parameter", "Module", "Sequential", "Linear", "BatchNorm2d", "ReLU", "LeakyReLU",
           "Tanh", "Sigmoid", "MaxPool2d", "ConvTranspose2d", "Conv2d", "manual_seed",
           "functional"]

_rng = np.random.default_rng()


def manual_seed(seed):
    """Seeds the generator the modules' default initialisation draws from
    (NumPy's; the values differ from PyTorch's, the distribution is the same)."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def _generator(rng):
    if rng is None:
        return _rng
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


_READ_ONLY = ("parameters are read-only (a module packs its weights once and reuses them); "
              "assign a new array instead, e.g. m.weight = new_values, or use load_state_dict")


class Parameter(np.ndarray):
    """torch.nn.Parameter: a module's parameter, a read-only float32 array.

    Parameter(data) copies data (any real array-like, NumPy array or CPU
    torch tensor) into float32 storage that cannot be written: item
    assignment, in-place operators and ufuncs with out= raise tconv.Error,
    and the WRITEABLE flag cannot be set.  Arithmetic on a Parameter gives
    ordinary arrays; p.copy() is an ordinary writable copy."""

    def __new__(cls, data=None):
        if data is None:
            a = np.zeros(0, np.float32)
        else:
            a = to_numpy(data, "Parameter data")
            if a.dtype.kind not in "biuf":
                raise TypeError("Parameter data must be real numbers, not %s" % a.dtype)
            a = np.array(a, dtype=np.float32, order="C", copy=True)
        storage = np.frombuffer(a.tobytes(), np.float32).reshape(a.shape)
        return storage.view(cls)

    def __setitem__(self, key, value):
        raise Error(_READ_ONLY)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            if any(isinstance(o, Parameter) for o in out):
                raise Error(_READ_ONLY)
            kwargs["out"] = out
        inputs = tuple(i.view(np.ndarray) if isinstance(i, Parameter) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getitem__(self, key):
        r = super().__getitem__(key)
        return r.view(np.ndarray) if isinstance(r, np.ndarray) else r

    def copy(self, order="C"):
        """An ordinary writable copy (a NumPy array, not a Parameter)."""
        return np.array(self.view(np.ndarray), order=order, copy=True)

    def __copy__(self):
        return self  # immutable: a copy would be equal in every way

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        return (Parameter, (self.view(np.ndarray).copy(),))

    def __reduce__(self):
        return self.__reduce_ex__(2)

    def __repr__(self):
        return "Parameter containing:\n" + repr(self.view(np.ndarray))


def _as_parameter(value, name):
    if value is None:
        return None
    if isinstance(value, Parameter) and value.flags.c_contiguous and _F.is_immutable(value):
        return value  # shared as it is: no one can change it
    try:
        return Parameter(value)
    except TypeError as e:
        raise TypeError("cannot assign %s as parameter '%s': %s"
                        % (type(value).__name__, name, e)) from None


def _add_indent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


_IncompatibleKeysBase = collections.namedtuple("IncompatibleKeys", ["missing_keys",
                                                                    "unexpected_keys"])


class _IncompatibleKeys(_IncompatibleKeysBase):
    """load_state_dict's result: missing_keys and unexpected_keys lists."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _torch_size(shape):
    return "torch.Size([%s])" % ", ".join(str(int(d)) for d in shape)


def _check_factory(device, dtype, who):
    if device is not None and str(device) != "cpu":
        raise Error("%s: tconv runs on the CPU only, but got device=%r" % (who, device))
    if dtype is not None:
        name = str(dtype).replace("torch.", "")
        try:
            ok = np.dtype(name) == np.float32
        except TypeError:
            ok = False
        if not ok:
            raise Error("%s: tconv computes in float32 only, but got dtype=%s" % (who, dtype))


class Module:
    """torch.nn.Module: the base class of every layer and network.

    Subclasses call super().__init__() first, then assign Parameters,
    buffers (register_buffer) and submodules as attributes, and define
    forward(); calling the module calls forward.  A new module is in
    training mode (BatchNorm2d normalises with the batch's statistics), as
    in PyTorch; eval() switches to running statistics."""

    _TRANSIENT = ("_lock",)

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = collections.OrderedDict()
        d["_buffers"] = collections.OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = collections.OrderedDict()
        d["_lock"] = threading.Lock()

    def _init_transient(self):
        self.__dict__["_lock"] = threading.Lock()

    def forward(self, *args, **kwargs):
        """The computation; subclasses define it."""
        raise NotImplementedError('Module [%s] is missing the required "forward" function'
                                  % type(self).__name__)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration ---------------------------------------------------------
    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError("%s name should be a string. Got %s" % (kind, type(name).__name__))
        if "." in name:
            raise KeyError('%s name can\'t contain "."' % kind)
        if name == "":
            raise KeyError('%s name can\'t be empty string ""' % kind)

    def register_parameter(self, name, param):
        """Adds a parameter (None, a Parameter, or array-like values, which
        become a new Parameter) under name."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError("attribute '%s' already exists" % name)
        self._parameters[name] = _as_parameter(param, name)
        self._changed(name)

    def register_buffer(self, name, tensor, persistent=True):
        """Adds a buffer (state that is not a parameter, such as BatchNorm's
        running_mean): None or an array, kept as a writable NumPy array.
        Persistent buffers are part of state_dict."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError("attribute '%s' already exists" % name)
        self._buffers[name] = None if tensor is None else to_numpy(tensor, name)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        self._changed(name)

    def add_module(self, name, module):
        """Adds a child module under name (as attribute assignment does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError("%s is not a Module subclass" % type(module).__name__)
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError("attribute '%s' already exists" % name)
        self._modules[name] = module

    register_module = add_module

    def _changed(self, name):
        """Called after a parameter, buffer or attribute was assigned."""

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError("'%s' object has no attribute '%s'" % (type(self).__name__, name))

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter) or (params is not None and name in params):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            for store in (d, d["_buffers"], d["_modules"]):
                store.pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            params[name] = _as_parameter(value, name)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            for store in (d, params, d["_buffers"]):
                store.pop(name, None)
            d["_non_persistent_buffers_set"].discard(name)
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError("cannot assign '%s' as child module '%s' (tconv.nn.Module or "
                                "None expected)" % (type(value).__name__, name))
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            old = d["_buffers"][name]
            if value is not None:
                a = to_numpy(value, name)
                value = np.array(a, dtype=None if old is None else old.dtype, order="C",
                                 copy=True)
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)
        self._changed(name)

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                del s[name]
                d["_non_persistent_buffers_set"].discard(name)
                self._changed(name)
                return
        object.__delattr__(self, name)
        self._changed(name)

    def __dir__(self):
        keys = set(super().__dir__())
        for store in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(store, {}))
        return sorted(k for k in keys if not k[0].isdigit())

    def __getstate__(self):
        d = dict(self.__dict__)
        for k in self._TRANSIENT:
            d.pop(k, None)
        return d

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_transient()

    # -- traversal ------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) for the direct children."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        """The direct children."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for k, v in get(m):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, Parameter) pairs, names as in state_dict."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse=True):
        """The Parameters of this module (and its descendants)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, array) pairs of the buffers."""
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse=True):
        """The buffers of this module (and its descendants)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Calls fn on every descendant, then on this module; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes ------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (mode=True) or evaluation mode, here and below; returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        """train(False)."""
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Accepts only what the module already is (CPU, float32); returns self."""
        _check_factory(device, dtype, type(self).__name__ + ".to")
        return self

    def cpu(self):
        """Returns self (tconv runs on the CPU)."""
        return self

    def float(self):
        """Returns self (tconv's parameters are float32)."""
        return self

    # -- state_dict -------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An OrderedDict of every parameter and persistent buffer, keyed as
        PyTorch's state_dict ("net.0.weight", "net.1.running_mean", ...).
        Parameters are returned as they are (read-only); buffers are the
        module's own arrays (later training updates show through, as in
        PyTorch)."""
        if destination is None:
            destination = collections.OrderedDict()
        self._save_to_state_dict(destination, prefix)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _state_dict_defaults(self, prefix):
        """Entries a state_dict may omit (name -> value); see BatchNorm2d."""
        return {}

    def _load_from_state_dict(self, state_dict, prefix, missing, unexpected, errors):
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                 if v is not None}
        defaults = self._state_dict_defaults(prefix)
        for name, current in local.items():
            key = prefix + name
            if key in state_dict:
                value = state_dict[key]
            elif key in defaults:
                value = defaults[key]
            else:
                missing.append(key)
                continue
            try:
                value = to_numpy(value, key)
            except Error as e:
                errors.append('While copying the parameter named "%s", expected an array from '
                              'checkpoint but received %s (%s)' % (key, type(value), e))
                continue
            if current.ndim == 0 and value.ndim == 1:
                value = value[0]  # PyTorch's rule for 0-d entries saved as 1-d
            if value.shape != current.shape:
                errors.append("size mismatch for %s: copying a param with shape %s from "
                              "checkpoint, the shape in current model is %s."
                              % (key, _torch_size(value.shape), _torch_size(current.shape)))
                continue
            if value.dtype.kind not in "biuf":
                errors.append('While copying the parameter named "%s", whose dimensions in the '
                              'model are %s and whose dimensions in the checkpoint are %s, an '
                              'exception occurred : dtype %s cannot be copied.'
                              % (key, _torch_size(current.shape), _torch_size(value.shape),
                                 value.dtype))
                continue
            if name in self._parameters:
                setattr(self, name, Parameter(value))
            else:
                with self._lock:
                    current[...] = value  # buffers are copied into, as PyTorch copies
        for key in state_dict.keys():
            if isinstance(key, str) and key.startswith(prefix):
                first = key[len(prefix):].split(".", 1)[0]
                if first not in self._modules and first not in local:
                    unexpected.append(key)

    def load_state_dict(self, state_dict, strict=True):
        """Copies parameters and buffers from state_dict (name -> NumPy array
        or CPU torch tensor, as PyTorch's state_dict, safetensors files and
        tconv.load_safetensors give them) into this module and its
        descendants.  Values are converted to each entry's dtype as
        PyTorch's copy does; shapes must match.  With strict=True a missing or
        unexpected key is an error, with PyTorch's message; either way the
        keys are returned as (missing_keys, unexpected_keys).  A BatchNorm
        num_batches_tracked absent from the dict counts as 0, as PyTorch
        treats dicts without version metadata."""
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError("Expected state_dict to be dict-like, got %s." % type(state_dict))
        missing, unexpected, errors = [], [], []

        def load(module, prefix):
            module._load_from_state_dict(state_dict, prefix, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self, "")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: %s. "
                              % ", ".join('"%s"' % k for k in unexpected))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: %s. "
                              % ", ".join('"%s"' % k for k in missing))
        if errors:
            raise Error("Error(s) in loading state_dict for %s:\n\t%s"
                        % (type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------
    def extra_repr(self):
        """The text inside the parentheses of repr (layers set it)."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = ["(%s): %s" % (k, _add_indent(repr(m), 2)) for k, m in self._modules.items()]
        body = lines + children
        if not body:
            return self._get_name() + "()"
        if len(lines) == 1 and not children:
            return "%s(%s)" % (self._get_name(), lines[0])
        return "%s(\n  %s\n)" % (self._get_name(), "\n  ".join(body))


class Sequential(Module):
    """torch.nn.Sequential: modules called in order, each on the previous
    one's output.  Sequential(m0, m1, ...) names them "0", "1", ...;
    Sequential(OrderedDict(name=module, ...)) uses the given names."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], collections.OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def _index(self, idx):
        n = len(self._modules)
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError("index %d is out of range" % i)
        return i % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(collections.OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[self._index(idx)]
        setattr(self, key, module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, list(self._modules.keys())[self._index(idx)])

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Adds module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        """Each module on the previous one's output."""
        for m in self._modules.values():
            input = m(input)
        return input


# ---- Linear ---------------------------------------------------------------------

def _check_dims(shape):
    for d in shape:
        if d < 0:
            raise Error("Trying to create tensor with negative dimension %d: %s"
                        % (d, _F._dims(shape)))


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
                        % _F._dims(w.shape))
        if b is not None and b.shape != (w.shape[0],):
            raise Error("Linear: bias must have shape [%d] to match weight %s, but has shape %s"
                        % (w.shape[0], _F._dims(w.shape), _F._dims(b.shape)))
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
            if op is None or op._impl_asked != _F._defaults["impl"]:
                p = _lib.Conv2dParams()
                p.in_channels, p.out_channels, p.groups = in_f, out_f, 1
                p.kernel_size[:], p.stride[:], p.padding[:], p.dilation[:] = [1, 1], [1, 1], \
                    [0, 0], [1, 1]
                op = _F.Operator("conv2d", p, w.reshape(out_f, in_f, 1, 1), b)
                self.__dict__["_op"] = op
            if x4.shape != op._shape:
                op._reshape(tuple(x4.shape), None)
            y = op._run(x4, _F._recycled(self, "_out_kept", op._phys_out))
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
                        % (name, c, _F._dims(a.shape)))
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
            y = _F._recycled(self, "_out_kept", x.shape)
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
        out = _F._recycled(module, "_out_kept", x.shape)
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
        if _F._INT64_MAX < int(np.prod([float(d) for d in shape])):
            raise Error("weight of shape %s does not fit in int64" % _F._dims(shape))
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
        impl = _F._defaults["impl"]
        with self._lock:
            output_padding = self._output_padding(x, output_size)
            op = self._op
            if op is not None and op._impl_asked == impl and self._op_opad == output_padding:
                if shape == op._shape:
                    return op._run(x, _F._recycled(self, "_out_kept", op._phys_out))
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
            return op._run(x, _F._recycled(self, "_out_kept", op._phys_out))

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
        return _F._ct_params(w, b, x, self.stride, self.padding, output_padding, self.groups,
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
        return _F._conv2d_params(w, b, x, self.stride, self.padding, self.dilation, self.groups,
                                 self.padding_mode)

    def forward(self, input):
        """The layer's output for input (N, C, H, W) or (C, H, W)."""
        x = as_layer_input(input, "Conv2d")
        return self._forward(x)
