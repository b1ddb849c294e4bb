"""tconv.optim: torch.optim.SGD, Adam and AdamW over NumPy arrays, computed by
libtconv as PyTorch 1.13's single-tensor implementation computes them (the
same float32 results as torch.optim with foreach=False).

    import numpy as np, tconv
    w = np.zeros((64, 1, 4, 4), np.float32)           # a writable float32 array
    opt = tconv.optim.Adam([w], lr=2e-4, betas=(0.5, 0.999))
    opt.step([grad_w])                                # updates w in place

Parameters are the arrays themselves: C-contiguous, float32 and writable,
updated in place by step().  A tconv.nn module's Parameters are read-only
(the module packs them into its operators), so train writable copies and
assign them back after each step (m.weight = w; the module repacks).

Gradients are given to step(grads): one array per parameter, in the order
the parameters were given (across the groups), each of its parameter's
shape; None skips that parameter, as PyTorch skips a parameter whose .grad
is None.  Parameter groups are dicts {"params": [...], "lr": ..., ...} as in
PyTorch; opt.param_groups holds the live options (opt.param_groups[0]["lr"]
= 1e-4 changes the next step's).  state_dict() / load_state_dict() carry
the state by PyTorch's names ("step", "exp_avg", "exp_avg_sq",
"max_exp_avg_sq", "momentum_buffer"), parameters numbered as in PyTorch.
Invalid options raise tconv.Error with PyTorch's words.
"""
import ctypes

import numpy as np

from . import _lib
from ._convert import as_f32
from ._lib import Error

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]

_OPTION_NAMES = ("lr", "momentum", "dampening", "nesterov", "betas", "eps", "amsgrad",
                 "weight_decay", "maximize")


class Optimizer:
    """The base of SGD, Adam and AdamW (torch.optim.Optimizer's shape)."""

    _kind = None

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self._entries = []  # per parameter: [array, grad buffer, C optimizer, group dict]
        if isinstance(params, np.ndarray):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "arrays or dicts, but got an array")
        groups = list(params)
        if not groups:
            raise Error("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __del__(self):
        for e in getattr(self, "_entries", []):
            if e[2]:
                _lib.lib.tconv_optimizer_destroy(e[2])
                e[2] = None

    # -- groups ---------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Adds a group: {"params": arrays, option: value, ...}; options not
        given take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError("param group must be a dict")
        params = param_group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        group = dict(self.defaults)
        group.update({k: v for k, v in param_group.items() if k != "params"})
        group["params"] = params
        opts = self._options(group)  # checks the options first
        known = {id(e[0]) for e in self._entries}
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray):
                raise TypeError("optimizer can only optimize NumPy arrays, but one of the "
                                "params is %s" % type(p).__name__)
            if p.dtype != np.float32 or not p.flags.c_contiguous or not p.flags.writeable:
                raise Error("optimizer: parameter %d must be a writable C-contiguous float32 "
                            "array (step() updates it in place)%s" % (
                                len(self._entries) + i,
                                "; a tconv.nn Parameter is read-only: optimize a copy "
                                "(w = m.weight.copy()) and assign it back (m.weight = w)"
                                if not p.flags.writeable else ""))
            if id(p) in known:
                raise Error("some parameters appear in more than one parameter group")
            known.add(id(p))
        new = []
        try:
            for p in params:
                grad = np.zeros(p.shape, np.float32)
                cp = _lib.Param()
                cp.data = ctypes.cast(p.ctypes.data, _lib._fp)
                cp.grad = ctypes.cast(grad.ctypes.data, _lib._fp)
                cp.numel = p.size
                handle = ctypes.c_void_p()
                _lib.check(_lib.lib.tconv_optimizer_create(self._kind, ctypes.byref(cp), 1,
                                                           ctypes.byref(opts),
                                                           ctypes.byref(handle)))
                new.append([p, grad, handle.value, group])
        except Exception:
            for e in new:
                _lib.lib.tconv_optimizer_destroy(e[2])
            raise
        self._entries.extend(new)
        self.param_groups.append(group)

    def _options(self, group):
        o = _lib.OptimizerOptions()
        _lib.lib.tconv_optimizer_options_init(ctypes.byref(o), self._kind, float(group["lr"]))
        for name in _OPTION_NAMES:
            if name not in group:
                continue
            v = group[name]
            if name == "betas":
                b = tuple(v)
                if len(b) != 2:
                    raise Error("betas must be a pair, got %r" % (v,))
                o.beta1, o.beta2 = float(b[0]), float(b[1])
            elif name in ("nesterov", "amsgrad", "maximize"):
                setattr(o, name, int(bool(v)))
            else:
                setattr(o, name, float(v))
        return o

    # -- the step ---------------------------------------------------------------------
    def step(self, grads):
        """One update of every parameter whose gradient is given (grads: one
        array or None per parameter, in order).  Returns None."""
        grads = list(grads)
        if len(grads) != len(self._entries):
            raise Error("step: %d gradients for %d parameters" % (len(grads), len(self._entries)))
        checked = []
        for i, (g, e) in enumerate(zip(grads, self._entries)):
            if g is None:
                checked.append(None)
                continue
            g = as_f32(g)
            if g.shape != e[0].shape:
                raise Error("step: gradient %d has shape %s but its parameter has shape %s"
                            % (i, list(g.shape), list(e[0].shape)))
            checked.append(g)
        opts = {id(group): self._options(group) for group in self.param_groups}
        for g, e in zip(checked, self._entries):
            if g is None:
                continue
            e[1][...] = g
            live = _lib.lib.tconv_optimizer_group_options(e[2], 0)
            live[0] = opts[id(e[3])]
            _lib.check(_lib.lib.tconv_optimizer_step(e[2]))

    def zero_grad(self, set_to_none=True):
        """Nothing to do: gradients are given to step() (kept for torch's
        training-loop shape)."""

    # -- state ------------------------------------------------------------------------
    _STATE_NAMES = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer")

    def _state(self, i):
        e = self._entries[i]
        out = {}
        for name in self._STATE_NAMES:
            ptr, n = _lib._fp(), ctypes.c_int64()
            if _lib.lib.tconv_optimizer_state(e[2], 0, name.encode(), ctypes.byref(ptr),
                                              ctypes.byref(n)) != 0:
                continue
            a = np.ctypeslib.as_array(ptr, shape=(n.value,)).copy() if n.value else \
                np.zeros(0, np.float32)
            out[name] = np.float32(a[0]) if name == "step" else a.reshape(e[0].shape)
        return out

    @property
    def state(self):
        """{parameter index: {name: copy of the state}} for the parameters
        that have state (after their first step)."""
        return {i: s for i, s in ((i, self._state(i)) for i in range(len(self._entries))) if s}

    def state_dict(self):
        """{"state": self.state, "param_groups": the options, "params" as
        the parameters' indices} as PyTorch's."""
        groups, k = [], 0
        for g in self.param_groups:
            d = {key: v for key, v in g.items() if key != "params"}
            d["params"] = list(range(k, k + len(g["params"])))
            k += len(g["params"])
            groups.append(d)
        return {"state": self.state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Loads {"state": {i: {name: values}}, "param_groups": [...]}:
        the state (values of each parameter's shape; "step" a number) and
        the groups' options."""
        groups = state_dict.get("param_groups")
        if groups is not None:
            if len(groups) != len(self.param_groups) or any(
                    len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
                raise Error("loaded state dict has a different number of parameter groups or "
                            "parameters")
            for g, new in zip(self.param_groups, groups):
                for key, v in new.items():
                    if key != "params":
                        g[key] = v
        for i, st in state_dict.get("state", {}).items():
            i = int(i)
            if not 0 <= i < len(self._entries):
                raise Error("state for parameter %d, but there are %d" % (i, len(self._entries)))
            e = self._entries[i]
            for name, v in st.items():
                a = np.ascontiguousarray(np.asarray(v, np.float32).reshape(-1))
                _lib.check(_lib.lib.tconv_optimizer_load_state(e[2], 0, str(name).encode(),
                                                               a.ctypes.data, a.size))


class SGD(Optimizer):
    """torch.optim.SGD(params, lr, momentum=0, dampening=0, weight_decay=0,
    nesterov=False, *, maximize=False)."""

    _kind = _lib.OPTIMIZERS["SGD"]

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))


class Adam(Optimizer):
    """torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, amsgrad=False, *, maximize=False)."""

    _kind = _lib.OPTIMIZERS["Adam"]

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))


class AdamW(Optimizer):
    """torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=1e-2, amsgrad=False, *, maximize=False)."""

    _kind = _lib.OPTIMIZERS["AdamW"]

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))
