"""libtconv's losses and optimizers against PyTorch.

Losses (MSE, L1, BCE, BCEWithLogits with weight and pos_weight; reductions
mean / sum / none): value and gradient against float64 autograd on random
inputs, edge values (probabilities 0 and 1, large logits) and refusals.
Optimizers (SGD with momentum / dampening / nesterov / weight_decay /
maximize, Adam and AdamW with amsgrad): several steps with random
gradients against torch.optim (foreach=False) on float64 copies (TOL) and on
float32 copies (within a few float32 ulps: the same arithmetic order), the
state by PyTorch's names, param groups, zero_grad and the changed hook.

Run: /usr/bin/python3 -m pytest tests/python
"""
import ctypes as C

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TOL
from nn_ctypes import (ADAM, ADAMW, CHANGED, LIB, REDUCTIONS, SGD, I64, OptOptions, Param,
                       VP, arr, err, fp, poisoned)

R = np.random.default_rng(77)


def randn(*s):
    return R.standard_normal(s).astype(np.float32)


def t64(a, grad=False):
    return torch.from_numpy(np.asarray(a, np.float64).copy()).requires_grad_(grad)


def agree(tally, got, ref, case):
    e = tally.error(np.asarray(got).reshape(np.shape(ref)), np.asarray(ref, np.float64), case)
    assert e < TOL, "%s: error %.3g" % (case, e)


# ---- losses --------------------------------------------------------------------------

def run_loss(name, x, t, red, w=None, pw=None, go=None):
    """(loss, grad_input) from the C functions."""
    n = x.size
    out = poisoned(n if red == "none" else 1)
    gi = poisoned(n)
    r = REDUCTIONS[red]
    if go is None:
        go = np.ones(out.size, np.float32)
    if name in ("mse", "l1"):
        f, b = getattr(LIB, "tconv_%s_loss" % name), getattr(LIB, "tconv_%s_loss_backward" % name)
        st = f(fp(x), fp(t), I64(n), r, fp(out))
        st2 = b(fp(x), fp(t), I64(n), r, fp(go), fp(gi)) if st == 0 else st
    elif name == "bce":
        st = LIB.tconv_bce_loss(fp(x), fp(t), fp(w), I64(n), r, fp(out))
        st2 = LIB.tconv_bce_loss_backward(fp(x), fp(t), fp(w), I64(n), r, fp(go), fp(gi)) if st == 0 else st
    else:
        pl = pw.size if pw is not None else 0
        st = LIB.tconv_bce_with_logits_loss(fp(x), fp(t), fp(w), fp(pw), I64(pl), I64(n), r, fp(out))
        st2 = (LIB.tconv_bce_with_logits_loss_backward(fp(x), fp(t), fp(w), fp(pw), I64(pl), I64(n),
                                                        r, fp(go), fp(gi)) if st == 0 else st)
    return st, st2, out, gi, go


def torch_loss(name, x, t, red, w=None, pw=None, go=None):
    xt = t64(x, True)
    tt, wt = t64(t), t64(w) if w is not None else None
    if name == "mse":
        y = F.mse_loss(xt, tt, reduction=red)
    elif name == "l1":
        y = F.l1_loss(xt, tt, reduction=red)
    elif name == "bce":
        y = F.binary_cross_entropy(xt, tt, wt, reduction=red)
    else:
        y = F.binary_cross_entropy_with_logits(xt, tt, wt, reduction=red,
                                               pos_weight=t64(pw) if pw is not None else None)
    y.backward(t64(go).reshape(y.shape))
    return y.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("name", ["mse", "l1", "bce", "bcel"])
@pytest.mark.parametrize("red", ["mean", "sum", "none"])
def test_losses_vs_torch(tally, name, red):
    for trial in range(8):
        shape = tuple(int(v) for v in R.integers(1, 6, int(R.integers(1, 4))))
        n = int(np.prod(shape))
        if name == "bce":
            x = R.uniform(0, 1, shape).astype(np.float32)
            x.flat[: min(n, 2)] = [0.0, 1.0][: min(n, 2)]  # the log clamp at -100
            t = R.uniform(0, 1, shape).astype(np.float32)
        else:
            x = (randn(*shape) * (8 if name == "bcel" else 2)).astype(np.float32)
            t = R.uniform(0, 1, shape).astype(np.float32) if name == "bcel" else randn(*shape)
        w = R.uniform(0.1, 2, shape).astype(np.float32) if name.startswith("bce") and trial % 2 else None
        pw = R.uniform(0.2, 3, shape[-1:]).astype(np.float32) if name == "bcel" and trial % 3 else None
        go = randn(n if red == "none" else 1)
        st, st2, out, gi, _ = run_loss(name, x, t, red, w, pw, go)
        assert st == 0 and st2 == 0, err()
        ref, gref = torch_loss(name, x, t, red, w, pw, go.reshape(shape) if red == "none" else go[0])
        case = "%s %s %s w=%s pw=%s" % (name, red, shape, w is not None, pw is not None)
        agree(tally, out, ref, case + " loss")
        # BCE's gradient at probability 0 or 1 is +-1e12-scale: compare relative to it
        agree(tally, gi, gref, case + " grad")
        tally.cases += 1


def test_losses_edges_and_refusals(tally):
    # large logits stay finite; probabilities 0 and 1 cost at most 100
    x = np.array([-200, -30, 0, 30, 200], np.float32)
    t = np.array([1, 0, 0.5, 1, 0], np.float32)
    st, st2, out, gi, _ = run_loss("bcel", x, t, "none")
    ref, gref = torch_loss("bcel", x, t, "none", go=np.ones(5))
    agree(tally, out, ref, "bcel large logits")
    agree(tally, gi, gref, "bcel large logits grad")
    p = np.array([0, 1, 0, 1], np.float32)
    tt = np.array([1, 0, 0, 1], np.float32)
    st, st2, out, gi, _ = run_loss("bce", p, tt, "none")
    assert np.array_equal(out, np.array([100, 100, 0, 0], np.float32))
    # refusals with PyTorch's words, nothing written
    bad = np.array([0.5, 1.5], np.float32)
    st, _, out, _, _ = run_loss("bce", bad, np.zeros(2, np.float32), "mean")
    assert st == 1 and err() == "all elements of input should be between 0 and 1" and np.isnan(out[0])
    out = poisoned(1)
    assert LIB.tconv_mse_loss(fp(bad), fp(bad), I64(2), 7, fp(out)) == 1
    assert err() == "7 is not a valid value for reduction" and np.isnan(out[0])
    assert LIB.tconv_bce_with_logits_loss(fp(bad), fp(bad), None, fp(bad), I64(3), I64(2), 0, fp(out)) == 1
    assert "pos_weight has 3 values" in err()
    # mean of nothing is NaN, sum of nothing 0 (PyTorch)
    e = np.zeros(0, np.float32)
    assert LIB.tconv_l1_loss(fp(e), fp(e), I64(0), 0, fp(out)) == 0 and np.isnan(out[0])
    assert LIB.tconv_l1_loss(fp(e), fp(e), I64(0), 1, fp(out)) == 0 and out[0] == 0
    # the L1 gradient at equal values (and NaN) is 0, as torch.sign
    x = np.array([1, np.nan, 2], np.float32)
    st, st2, out, gi, _ = run_loss("l1", x, np.array([1, 0, 0], np.float32), "sum")
    assert list(gi) == [0, 0, 1]


# ---- optimizers ---------------------------------------------------------------------

def options(kind, **kw):
    o = OptOptions()
    LIB.tconv_optimizer_options_init(C.byref(o), kind, kw.pop("lr", 1e-3))
    for k, v in kw.items():
        setattr(o, k, v)
    return o


class COpt:
    """A C optimizer over numpy float32 parameters and gradients."""

    def __init__(self, kind, groups):
        self.arrays = []  # keep them alive
        self.calls = 0
        self.hook = CHANGED(self._changed)
        self.h = VP()
        first = True
        for params, o in groups:
            ps = (Param * len(params))()
            for i, (p, g) in enumerate(params):
                self.arrays += [p, g]
                ps[i] = Param(fp(p), fp(g) if g is not None else None, p.size, self.hook, None)
            if first:
                st = LIB.tconv_optimizer_create(kind, ps, len(params), C.byref(o), C.byref(self.h))
                first = False
            else:
                st = LIB.tconv_optimizer_add_param_group(self.h, ps, len(params), C.byref(o))
            assert st == 0, err()

    def _changed(self, owner):
        self.calls += 1

    def step(self):
        assert LIB.tconv_optimizer_step(self.h) == 0, err()

    def state(self, i, name):
        d, n = C.POINTER(C.c_float)(), C.c_int64()
        st = LIB.tconv_optimizer_state(self.h, i, name.encode(), C.byref(d), C.byref(n))
        return arr(d, n.value).copy() if st == 0 else None

    def __del__(self):
        LIB.tconv_optimizer_destroy(self.h)


def torch_opt(kind, groups, dtype):
    tgroups, tensors = [], []
    for params, o in groups:
        ts = [torch.tensor(p, dtype=dtype, requires_grad=True) for p, _ in params]
        tensors.append(ts)
        if kind == SGD:
            d = dict(params=ts, lr=o.lr, momentum=o.momentum, dampening=o.dampening,
                     nesterov=bool(o.nesterov), weight_decay=o.weight_decay, maximize=bool(o.maximize))
        else:
            d = dict(params=ts, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                     weight_decay=o.weight_decay, amsgrad=bool(o.amsgrad), maximize=bool(o.maximize))
        tgroups.append(d)
    cls = {SGD: torch.optim.SGD, ADAM: torch.optim.Adam, ADAMW: torch.optim.AdamW}[kind]
    return cls(tgroups, foreach=False), tensors


SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.02, momentum=0.8, nesterov=1, weight_decay=0.01),
             dict(lr=0.01, weight_decay=0.1, maximize=1), dict(lr=0.03, momentum=0.5, maximize=1,
                                                                weight_decay=0.05)]
ADAM_CASES = [dict(lr=1e-2), dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6),
              dict(lr=1e-2, weight_decay=0.1), dict(lr=1e-2, amsgrad=1),
              dict(lr=5e-3, amsgrad=1, maximize=1, weight_decay=0.02)]
CASES = ([(SGD, c) for c in SGD_CASES] + [(ADAM, c) for c in ADAM_CASES] +
         [(ADAMW, c) for c in ADAM_CASES])


@pytest.mark.parametrize("kind,kw", CASES)
def test_optimizer_vs_torch(tally, kind, kw):
    sizes = [int(v) for v in R.integers(1, 300, 3)]
    data = [randn(s) for s in sizes]
    grads = [np.zeros(s, np.float32) for s in sizes]
    o1 = options(kind, **kw)
    kw2 = dict(kw)
    kw2["lr"] = kw.get("lr", 1e-3) * 0.5  # a second group with its own lr
    o2 = options(kind, **kw2)
    groups = [([(data[0], grads[0]), (data[1], grads[1])], o1), ([(data[2], grads[2])], o2)]
    c = COpt(kind, groups)
    t64opt, t64p = torch_opt(kind, groups, torch.float64)
    t32opt, t32p = torch_opt(kind, groups, torch.float32)
    flat64 = [t for g in t64p for t in g]
    flat32 = [t for g in t32p for t in g]
    for step in range(6):
        for i, g in enumerate(grads):
            g[:] = randn(g.size) * (1 + step)
            flat64[i].grad = torch.tensor(g, dtype=torch.float64)
            flat32[i].grad = torch.tensor(g, dtype=torch.float32)
        c.step()
        t64opt.step()
        t32opt.step()
    assert c.calls == 6 * 3  # the changed hook after every update
    case = "%s %s" % ({SGD: "SGD", ADAM: "Adam", ADAMW: "AdamW"}[kind], kw)
    for i in range(3):
        agree(tally, data[i], flat64[i].detach().numpy(), case + " param %d" % i)
        # float32 PyTorch: the same operations in the same order, fused
        # multiply-adds where PyTorch's x86 kernels fuse them: bit-identical
        # here; allow an ulp or so for a PyTorch built without FMA
        ref32 = flat32[i].detach().numpy()
        ulps = np.abs(data[i].view(np.int32).astype(np.int64) - ref32.view(np.int32).astype(np.int64))
        tally.optim_f32_ulps = max(getattr(tally, "optim_f32_ulps", 0), int(ulps.max()))
        assert ulps.max() <= 4, (case, int(ulps.max()))
        st = t64opt.state[flat64[i]]
        for name in ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"):
            ours = c.state(i, name)
            theirs = st.get(name)
            if theirs is None:
                assert ours is None, (case, name)
                continue
            agree(tally, ours, theirs.numpy().reshape(ours.shape), case + " state %s %d" % (name, i))
    tally.cases += 1


def test_optimizer_zero_grad_skip_and_refusals():
    p, g = randn(10), randn(10)
    p0 = p.copy()
    q, qg = randn(4), None  # a parameter without .grad is skipped
    c = COpt(SGD, [([(p, g), (q, qg)], options(SGD, lr=0.1))])
    q0 = q.copy()
    LIB.tconv_optimizer_zero_grad(c.h)
    assert not np.any(g)
    c.step()
    assert np.array_equal(p, p0) and np.array_equal(q, q0)
    assert c.state(0, "momentum_buffer") is None  # momentum 0: PyTorch keeps None
    # live options: lr changed between steps, checked again at step
    o = LIB.tconv_optimizer_group_options(c.h, 0)
    o.contents.lr = -1.0
    assert LIB.tconv_optimizer_step(c.h) == 1 and err() == "Invalid learning rate: -1.0"
    o.contents.lr = 0.1
    hv = VP()
    ps = (Param * 1)(Param(fp(p), fp(g), 10, CHANGED(0), None))
    for kind, kw, msg in [
            (SGD, dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
            (SGD, dict(lr=0.1, nesterov=1), "Nesterov momentum requires a momentum and zero dampening"),
            (ADAM, dict(lr=1e-3, beta1=1.0), "Invalid beta parameter at index 0: 1.0"),
            (ADAM, dict(lr=1e-3, beta2=-0.1), "Invalid beta parameter at index 1: -0.1"),
            (ADAMW, dict(lr=1e-3, eps=-1e-8), "Invalid epsilon value: -1e-08"),
            (ADAMW, dict(lr=float("nan")), "Invalid learning rate: nan"),
            (ADAM, dict(lr=1e-3, weight_decay=-100000.0), "Invalid weight_decay value: -100000.0")]:
        assert LIB.tconv_optimizer_create(kind, ps, 1, C.byref(options(kind, **kw)), C.byref(hv)) == 1
        tp = torch.zeros(1, requires_grad=True)
        cls = {SGD: torch.optim.SGD, ADAM: torch.optim.Adam, ADAMW: torch.optim.AdamW}[kind]
        tkw = {k: v for k, v in kw.items() if k not in ("beta1", "beta2")}
        if "beta1" in kw or "beta2" in kw:
            tkw["betas"] = (kw.get("beta1", 0.9), kw.get("beta2", 0.999))
        with pytest.raises(ValueError) as e:
            cls([tp], **tkw)
        assert err() == msg == str(e.value)
    # the same array in two groups
    assert LIB.tconv_optimizer_add_param_group(c.h, ps, 1, None) == 1
    assert err() == "some parameters appear in more than one parameter group"


def test_optimizer_load_state_continues():
    """A state loaded into a fresh optimizer continues like the original."""
    p1, g1 = randn(20), randn(20)
    p2 = p1.copy()
    a = COpt(ADAM, [([(p1, g1)], options(ADAM, lr=1e-2, amsgrad=1))])
    a.step()
    g2 = g1.copy()
    b = COpt(ADAM, [([(p2, g2)], options(ADAM, lr=1e-2, amsgrad=1))])
    p2[:] = p1
    assert b.state(0, "exp_avg") is None  # no state before the first step
    for name in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        s = a.state(0, name)
        assert LIB.tconv_optimizer_load_state(b.h, 0, name.encode(), fp(s), I64(s.size)) == 0, err()
    a.step()
    b.step()
    assert np.array_equal(p1, p2)
    assert a.state(0, "step")[0] == 2.0
