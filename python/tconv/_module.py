"""The Module machinery of tconv.nn (Module, Sequential, Parameter, the
default initialisation's generator), shaped like torch.nn.Module; the
layers are in nn.py, which re-exports these."""
import collections
import collections.abc
import itertools
import operator
import threading

import numpy as np

from . import functional as _F
from ._convert import to_numpy
from ._lib import Error

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
