"""PyTorch oracle for tconv.conv_transpose2d and tconv.ConvTranspose2d.

Hundreds of seeded random configurations (every parameter, groups,
dilation, asymmetric (h, w) pairs, output_padding, stride > kernel, large
padding, unbatched, zero batch) run through tconv and through PyTorch in
float64; tconv must refuse exactly what PyTorch refuses, and otherwise agree
to max|tconv - torch64| / max(1, max|torch64|) < 1e-5 on every
implementation, thread count 1..4 and layout.  Then output_size (in and out
of range) through the module, and a table of rejected arguments whose
messages must equal PyTorch's (known differences: conftest.py).
"""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import tconv  # noqa: E402
from conftest import (KNOWN_MESSAGE_DIFFERENCES, KNOWN_RAISE_DIFFERENCES, TALLY, TOL,  # noqa: E402
                      check_same_refusal, outcome, run_everywhere)

SEED = 20261124
N_RANDOM = 800


def _pairarg(r, a, b):
    """An (h, w) argument as PyTorch accepts it: an int when equal (often),
    else a tuple or a list."""
    if a == b and r.random() < 0.6:
        return a
    return r.choice([(a, b), [a, b]])


def random_config(r):
    g = r.choice([1, 1, 1, 2, 3])
    cin, cout = g * r.randint(1, 3), g * r.randint(1, 3)
    kh, kw = r.randint(1, 4), r.randint(1, 4)
    if r.random() < 0.1:
        kh = r.randint(5, 7)
    sh, sw = r.choice([1, 1, 2, 2, 3]), r.choice([1, 2, 3])
    if r.random() < 0.15:
        sh = kh + r.randint(1, 3)  # stride larger than the kernel
    dh, dw = r.choice([1, 1, 2, 3]), r.choice([1, 1, 2])
    ph, pw = r.randint(0, 2), r.randint(0, 2)
    if r.random() < 0.1:
        ph = r.randint(3, 8)  # large padding (often too large: must be refused)
    oph = r.randint(0, max(sh, dh) - 1)
    opw = r.randint(0, max(sw, dw) - 1)
    h, w = r.randint(1, 6), r.randint(1, 6)
    batch = r.choice([None, 0, 1, 1, 2, 3])
    return dict(g=g, cin=cin, cout=cout, k=(kh, kw), s=(sh, sw), d=(dh, dw), p=(ph, pw),
                op=(oph, opw), hw=(h, w), batch=batch, bias=r.random() < 0.7,
                args=dict(stride=_pairarg(r, sh, sw), padding=_pairarg(r, ph, pw),
                          output_padding=_pairarg(r, oph, opw), groups=g,
                          dilation=_pairarg(r, dh, dw)))


def tensors(c, rs):
    shape = (c["cin"],) + c["hw"] if c["batch"] is None else (c["batch"], c["cin"]) + c["hw"]
    x = rs.standard_normal(shape).astype(np.float32)
    w = rs.standard_normal((c["cin"], c["cout"] // c["g"]) + c["k"]).astype(np.float32)
    b = rs.standard_normal(c["cout"]).astype(np.float32) if c["bias"] else None
    return x, w, b


def t64(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def test_random_configurations():
    r = random.Random(SEED)
    rs = np.random.default_rng(SEED)
    valid = refused = 0
    for i in range(N_RANDOM):
        c = random_config(r)
        x, w, b = tensors(c, rs)
        case = "ct#%d %s" % (i, {k: v for k, v in c.items() if k != "args"})
        ref, te = outcome(lambda: F.conv_transpose2d(t64(x), t64(w), t64(b), **c["args"]))
        got, ce = outcome(lambda: tconv.conv_transpose2d(x, w, b, **c["args"]))
        if c["batch"] == 0 and te is None and ce is not None:
            # PyTorch skips most checks for an empty batch; tconv refuses a
            # zero batch exactly when PyTorch refuses the same call with batch 1.
            assert "zero_batch_invalid_params" in KNOWN_RAISE_DIFFERENCES
            x1 = np.ones((1,) + x.shape[1:], np.float32)
            _, te = outcome(lambda: F.conv_transpose2d(t64(x1), t64(w), t64(b), **c["args"]))
            assert te is not None, "%s: tconv refused %r" % (case, ce)
        assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (case, te, ce)
        if te is not None:
            # Zero-batch refusals come from PyTorch internals ("only one
            # dimension can be inferred"): raise-iff only.
            check_same_refusal(case, te, ce, compare_message=c["batch"] != 0)
            refused += 1
            continue
        ref = ref.numpy()
        TALLY.cases += 1
        assert TALLY.error(got, ref, case) < TOL, case
        worst = run_everywhere(
            lambda **o: tconv.Operator.conv_transpose2d(w, b, **c["args"], **o), x, ref, case)
        assert worst < TOL, case
        valid += 1
    print("conv_transpose2d random: %d valid, %d refused" % (valid, refused))
    assert valid > 250 and refused > 10


def test_larger_shapes():
    """A few realistic layers (DCGAN / U-Net sizes, scaled down)."""
    rs = np.random.default_rng(SEED + 1)
    cases = [((2, 32, 8, 8), (32, 16, 4, 4), dict(stride=2, padding=1)),
             ((1, 24, 9, 7), (24, 12, 3, 5), dict(stride=(2, 1), padding=(2, 1), groups=3)),
             ((3, 16, 6, 6), (16, 16, 2, 2), dict(stride=2)),
             ((1, 8, 10, 10), (8, 4, 3, 3), dict(stride=3, dilation=2, output_padding=(1, 2)))]
    for shape_x, shape_w, args in cases:
        x = rs.standard_normal(shape_x).astype(np.float32)
        w = rs.standard_normal(shape_w).astype(np.float32)
        b = rs.standard_normal(shape_w[1] * args.get("groups", 1)).astype(np.float32)
        ref = F.conv_transpose2d(t64(x), t64(w), t64(b), **args).numpy()
        case = "ct-large %s %s %s" % (shape_x, shape_w, args)
        TALLY.cases += 1
        assert TALLY.error(tconv.conv_transpose2d(x, w, b, **args), ref, case) < TOL
        assert run_everywhere(lambda **o: tconv.Operator.conv_transpose2d(w, b, **args, **o),
                              x, ref, case) < TOL


def _torch_module(m):
    """The torch module with the same constructor arguments and weights."""
    tm = torch.nn.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                  m.padding, m.output_padding, m.groups, m.bias is not None,
                                  m.dilation).double()
    with torch.no_grad():
        tm.weight.copy_(t64(m.weight))
        if m.bias is not None:
            tm.bias.copy_(t64(m.bias))
    return tm


def test_module_output_size():
    """forward(input, output_size): in range (every valid size), out of
    range (refused with PyTorch's message), 2 or ndim entries, list / tuple /
    array, batched and unbatched."""
    r = random.Random(SEED + 2)
    rs = np.random.default_rng(SEED + 2)
    inside = outside = 0
    for i in range(300):
        c = random_config(r)
        if c["batch"] == 0:
            c["batch"] = 1
        m = tconv.ConvTranspose2d(c["cin"], c["cout"], c["k"], c["s"], c["p"], c["op"], c["g"],
                                  c["bias"], c["d"], rng=rs)
        tm = _torch_module(m)
        x, _, _ = tensors(c, rs)
        mins = [(n - 1) * s - 2 * p + d * (k - 1) + 1
                for n, s, p, d, k in zip(c["hw"], c["s"], c["p"], c["d"], c["k"])]
        size = [mn + r.randint(0, s - 1) for mn, s in zip(mins, c["s"])]
        if r.random() < 0.35:  # out of range, below or above
            dim = r.randint(0, 1)
            size[dim] = mins[dim] - r.randint(1, 2) if r.random() < 0.5 \
                else mins[dim] + c["s"][dim] + r.randint(0, 1)
        if r.random() < 0.3:
            size = list(x.shape[:-2]) + size  # ndim entries; leading ones ignored
        form = r.choice(["list", "tuple", "array"])
        osz = {"list": list, "tuple": tuple, "array": np.array}[form](size)
        case = "ct-module#%d %s output_size=%r" % (i, m, osz)
        tsize = size if form != "tuple" else tuple(size)
        ref, te = outcome(lambda: tm(t64(x), output_size=tsize))
        got, ce = outcome(lambda: m(x, output_size=osz))
        assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (case, te, ce)
        if te is not None:
            # Too-small outputs (mins < 1) fail in both with different
            # checks; only compare the range message itself.
            msg = str(te)
            same_kind = msg.startswith("requested an output size")
            if same_kind and form == "tuple":
                assert "ct_output_size_tuple" in KNOWN_MESSAGE_DIFFERENCES
                msg = msg.replace("(", "[", 1).replace(")", "]", 1)
                te = ValueError(msg)
            check_same_refusal(case, te, ce, compare_message=same_kind)
            outside += 1
            continue
        ref = ref.detach().numpy()
        TALLY.cases += 1
        assert TALLY.error(got, ref, case) < TOL, case
        assert got.shape[-2:] == tuple(size[-2:])
        op = output_padding_of(m, x, size)
        assert run_everywhere(
            lambda **o: tconv.Operator.conv_transpose2d(
                m.weight, m.bias, m.stride, m.padding, op, m.groups, m.dilation, **o),
            x, ref, case) < TOL
        inside += 1
    print("ConvTranspose2d output_size: %d in range, %d refused" % (inside, outside))
    assert inside > 50 and outside > 20


def output_padding_of(m, x, size):
    return tconv.output_padding_for_size(x.shape, size, m.kernel_size, m.stride, m.padding,
                                         m.dilation)


def test_seed_shapes():
    """SEEDS-NOTES.md's shape table and the golden example, through the module."""
    tconv.manual_seed(0)
    m = tconv.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))
    assert m(np.ones((2, 16, 50, 100), np.float32)).shape == (2, 33, 93, 100)
    m = tconv.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
    assert m(np.ones((1, 16, 6, 6), np.float32), output_size=[12, 12]).shape == (1, 16, 12, 12)
    m = tconv.ConvTranspose2d(3, 6, 3, stride=2, padding=2, bias=False)
    assert m(np.ones((1, 3, 32, 32), np.float32)).shape == (1, 6, 61, 61)
    x = np.array([[9, 1, 3], [7, 8, 7], [8, 2, 2]], np.float32)[None, None]
    w = np.array([[4, 2, 3], [1, 4, 3], [1, 1, 1]], np.float32)[None, None]
    want = F.conv_transpose2d(t64(x), t64(w), stride=2, padding=1).numpy()
    got = tconv.conv_transpose2d(x, w, stride=2, padding=1)
    TALLY.cases += 1
    assert TALLY.error(got, want, "golden seed 001") == 0.0


# ---------------------------------------------------------------------------
# Rejected arguments: (name, input shape, weight shape, bias shape, kwargs).
# Each must be refused by both; the message must equal PyTorch's unless the
# name is in KNOWN_MESSAGE_DIFFERENCES.
# ---------------------------------------------------------------------------
X, W = (1, 4, 5, 5), (4, 2, 3, 3)
REJECTED = [
    ("stride 0", X, W, None, dict(stride=0)),
    ("stride negative h", X, W, None, dict(stride=(-1, 1))),
    ("padding negative", X, W, None, dict(padding=-1)),
    ("padding negative w", X, W, None, dict(padding=(0, -2))),
    ("output_padding negative", X, W, None, dict(output_padding=(0, -1))),
    ("output_padding >= stride and dilation", X, W, None, dict(output_padding=1)),
    ("output_padding w too big", X, W, None, dict(stride=2, output_padding=(1, 2))),
    ("output_padding h too big, dilation", X, W, None, dict(dilation=(2, 1), output_padding=(2, 0))),
    ("dilation 0", X, W, None, dict(dilation=0)),
    ("dilation negative", X, W, None, dict(dilation=(1, -1))),
    ("groups 0", X, W, None, dict(groups=0)),
    ("groups negative", X, W, None, dict(groups=-2)),
    ("groups not dividing in_channels", X, W, None, dict(groups=3)),
    ("groups larger than in_channels", X, W, None, dict(groups=8)),
    ("input channels", (1, 3, 5, 5), W, None, {}),
    ("input channels unbatched", (3, 5, 5), W, None, {}),
    ("input channels with groups", (1, 4, 5, 5), (2, 2, 3, 3), None, dict(groups=2)),
    ("input 2-D", (5, 5), W, None, {}),
    ("input 5-D", (1, 1, 4, 5, 5), W, None, {}),
    ("input height 0", (1, 4, 0, 5), W, None, {}),
    ("input width 0 unbatched", (4, 5, 0), W, None, {}),
    ("input channels 0", (1, 0, 5, 5), (0, 2, 3, 3), None, {}),
    ("kernel height 0", X, (4, 2, 0, 3), None, {}),
    ("out_channels/groups 0", X, (4, 0, 3, 3), None, {}),
    ("output too small", X, W, None, dict(padding=4)),
    ("output too small w", (1, 4, 2, 2), (4, 2, 1, 1), None, dict(padding=(0, 1))),
    ("bias length", X, W, (3,), {}),
    ("bias 2-D", X, W, (2, 1), {}),
    ("bias 0-D", X, W, (), {}),
    ("bias with groups", X, (4, 2, 3, 3), (2,), dict(groups=2)),
    ("weight 2-D", X, (4, 2), None, {}),
    ("weight 3-D", X, (4, 2, 3), None, {}),
    ("weight 5-D", X, (4, 2, 3, 3, 3), None, {}),
    ("stride list of 3", X, W, None, dict(stride=[1, 1, 1])),
    ("stride empty list", X, W, None, dict(stride=[])),
    ("padding list of 3", X, W, None, dict(padding=(1, 1, 1))),
    ("output_padding list of 3", X, W, None, dict(output_padding=[0, 0, 0])),
    ("dilation list of 3", X, W, None, dict(dilation=[1, 1, 1])),
    ("stride float", X, W, None, dict(stride=2.0)),
    ("groups float", X, W, None, dict(groups=2.0)),
    ("padding string", X, W, None, dict(padding="same")),
]

# Accepted edge cases next to the rejected ones (PyTorch accepts them too).
ACCEPTED = [
    ("zero batch", (0, 4, 5, 5), W, (2,), dict(stride=2)),
    ("stride list of 1", X, W, None, dict(stride=[2])),
    ("output_padding < dilation", X, W, None, dict(dilation=2, output_padding=1)),
    ("output size exactly 1", (1, 4, 1, 1), (4, 2, 3, 3), None, dict(padding=1)),
    ("groups == in_channels", X, (4, 1, 3, 3), None, dict(groups=4)),
]


@pytest.mark.parametrize("name,xs,ws,bs,kw", REJECTED + ACCEPTED, ids=[c[0] for c in
                                                                       REJECTED + ACCEPTED])
def test_rejected_arguments(name, xs, ws, bs, kw):
    rs = np.random.default_rng(abs(hash(name)) % (1 << 32))
    x = rs.standard_normal(xs).astype(np.float32)
    w = rs.standard_normal(ws).astype(np.float32)
    b = None if bs is None else rs.standard_normal(bs).astype(np.float32)
    ref, te = outcome(lambda: F.conv_transpose2d(t64(x), t64(w), t64(b), **kw))
    got, ce = outcome(lambda: tconv.conv_transpose2d(x, w, b, **kw))
    assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (name, te, ce)
    if te is None:
        TALLY.cases += 1
        assert TALLY.error(got, ref.numpy(), name) < TOL
    else:
        check_same_refusal(name, te, ce, compare_message=name not in KNOWN_MESSAGE_DIFFERENCES)


MODULE_REJECTED = [
    ("padding_mode reflect", dict(padding_mode="reflect")),
    ("padding_mode unknown", dict(padding_mode="foo")),
    ("groups 0", dict(groups=0)),
    ("groups negative", dict(groups=-1)),
    ("in_channels not divisible", dict(in_channels=5, groups=2, out_channels=4)),
    ("out_channels not divisible", dict(in_channels=4, groups=2, out_channels=3)),
    ("negative out_channels", dict(out_channels=-2)),
    ("negative kernel", dict(kernel_size=(-1, 3))),
]


@pytest.mark.parametrize("name,kw", MODULE_REJECTED, ids=[c[0] for c in MODULE_REJECTED])
def test_module_constructor_rejections(name, kw):
    args = dict(in_channels=4, out_channels=2, kernel_size=3)
    args.update(kw)
    _, te = outcome(lambda: torch.nn.ConvTranspose2d(**args))
    _, ce = outcome(lambda: tconv.ConvTranspose2d(**args))
    assert te is not None and ce is not None, "%s: PyTorch %r, tconv %r" % (name, te, ce)
    check_same_refusal(name, te, ce)


MODULE_FORWARD_REJECTED = [
    # Accepted by both constructors, refused by both at forward.
    ("stride 0", dict(stride=0)),
    ("negative padding", dict(padding=-1)),
    ("output_padding too big", dict(output_padding=2, stride=2)),
    ("dilation 0", dict(dilation=0)),
    ("kernel 0", dict(kernel_size=(0, 3))),
    ("stride of 3 entries", dict(stride=(1, 1, 1))),
    ("output too small", dict(padding=5)),
]


@pytest.mark.parametrize("name,kw", MODULE_FORWARD_REJECTED,
                         ids=[c[0] for c in MODULE_FORWARD_REJECTED])
def test_module_forward_rejections(name, kw):
    """Construction succeeds in both; forward refuses in both, same words."""
    args = dict(in_channels=4, out_channels=2, kernel_size=3)
    args.update(kw)
    tm = torch.nn.ConvTranspose2d(**args).double()
    m = tconv.ConvTranspose2d(**args)
    x = np.random.default_rng(1).standard_normal((1, 4, 5, 5)).astype(np.float32)
    _, te = outcome(lambda: tm(t64(x)))
    _, ce = outcome(lambda: m(x))
    assert te is not None and ce is not None, "%s: PyTorch %r, tconv %r" % (name, te, ce)
    check_same_refusal(name, te, ce)


def test_module_output_size_messages():
    """The seeds' message, batched and unbatched, and a wrong entry count."""
    tm = torch.nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1).double()
    m = tconv.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
    for shape, size in [((1, 16, 6, 6), [14, 14]), ((16, 6, 6), [10, 12]),
                        ((1, 16, 6, 6), [1, 16, 13, 11]), ((16, 6, 6), [16, 12, 13]),
                        ((1, 16, 6, 6), [12]), ((1, 16, 6, 6), [1, 12, 12])]:
        x = np.ones(shape, np.float32)
        _, te = outcome(lambda: tm(t64(x), output_size=size))
        _, ce = outcome(lambda: m(x, output_size=size))
        assert te is not None and ce is not None, (shape, size, te, ce)
        check_same_refusal("output_size %s for %s" % (size, shape), te, ce)


def mutate(r, c, x, w, b):
    """One fault in a valid configuration: returns (name, x, w, b, args)."""
    a = dict(c["args"])
    kind = r.choice(["stride", "padding", "output_padding", "output_padding_big", "dilation",
                     "groups", "kernel", "cog0", "channels", "hw0", "bias", "ndim", "wndim",
                     "list3", "too_small"])
    pair = lambda v: list(v) if isinstance(v, (list, tuple)) else [v, v]  # noqa: E731
    d = r.randint(0, 1)
    if kind in ("stride", "padding", "output_padding", "dilation"):
        v = pair(a[kind])
        v[d] = r.choice([0, -1, -3]) if kind in ("stride", "dilation") else r.choice([-1, -2])
        a[kind] = v
    elif kind == "output_padding_big":
        s, dl = pair(a["stride"]), pair(a["dilation"])
        v = pair(a["output_padding"])
        v[d] = max(s[d], dl[d]) + r.randint(0, 1)
        a["output_padding"] = v
    elif kind == "groups":
        a["groups"] = r.choice([0, -1, c["cin"] + r.randint(1, 3), 5 if c["cin"] % 5 else 7])
    elif kind == "kernel":
        shape = list(w.shape)
        shape[2 + d] = 0
        w = np.ones(shape, np.float32)
    elif kind == "cog0":
        w = np.ones((w.shape[0], 0) + w.shape[2:], np.float32)
        b = None if b is None else np.ones(0, np.float32)
    elif kind == "channels":
        shape = list(x.shape)
        shape[-3] = max(0, shape[-3] + r.choice([-1, 1]))
        x = np.ones(shape, np.float32)
    elif kind == "hw0":
        shape = list(x.shape)
        shape[-1 - d] = 0
        x = np.ones(shape, np.float32)
    elif kind == "bias":
        n = c["cout"]
        b = np.ones(r.choice([(n + 1,), (n, 1), ()]), np.float32)
    elif kind == "ndim":
        x = x[(0,) * (x.ndim - 2)] if r.random() < 0.5 and x.size else x[None, None]
    elif kind == "wndim":
        w = w[..., 0] if r.random() < 0.5 else w[..., None]
    elif kind == "list3":
        a[r.choice(["stride", "padding", "output_padding", "dilation"])] = [1, 1, 1]
    elif kind == "too_small":
        v = pair(a["padding"])
        v[d] = 20
        a["padding"] = v
    return kind, x, w, b, a


def test_random_rejections():
    """Single faults injected into random valid configurations: refused iff
    PyTorch refuses, with PyTorch's message."""
    r = random.Random(SEED + 3)
    rs = np.random.default_rng(SEED + 3)
    kinds = {}
    for i in range(500):
        while True:  # a valid base configuration, so the mutation is the only fault
            c = random_config(r)
            c["batch"] = c["batch"] or 1
            x, w, b = tensors(c, rs)
            if outcome(lambda: F.conv_transpose2d(t64(x), t64(w), t64(b), **c["args"]))[1] \
                    is None:
                break
        kind, x, w, b, a = mutate(r, c, x, w, b)
        case = "ct-fault#%d %s %s x%s w%s b%s" % (i, kind, a, x.shape, w.shape,
                                                 None if b is None else b.shape)
        ref, te = outcome(lambda: F.conv_transpose2d(t64(x), t64(w), t64(b), **a))
        got, ce = outcome(lambda: tconv.conv_transpose2d(x, w, b, **a))
        zero_batch = x.ndim == 4 and x.shape[0] == 0
        if zero_batch and te is None and ce is not None:
            assert "zero_batch_invalid_params" in KNOWN_RAISE_DIFFERENCES
            x1 = np.ones((1,) + x.shape[1:], np.float32)
            _, te = outcome(lambda: F.conv_transpose2d(t64(x1), t64(w), t64(b), **a))
            assert te is not None, "%s: tconv refused %r" % (case, ce)
        assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (case, te, ce)
        if te is None:
            TALLY.cases += 1
            assert TALLY.error(got, ref.numpy(), case) < TOL, case
        else:
            check_same_refusal(case, te, ce, compare_message=not zero_batch)
        kinds[kind] = kinds.get(kind, 0) + (te is not None)
    print("conv_transpose2d faults refused per kind: %s" % kinds)


def test_random_medium():
    """Fewer, larger random layers (channel counts past vector widths, tiles
    with tails) so fast paths' blocking is exercised on every impl."""
    r = random.Random(SEED + 4)
    rs = np.random.default_rng(SEED + 4)
    done = 0
    while done < 30:
        g = r.choice([1, 1, 2, 4])
        c = dict(g=g, cin=g * r.randint(3, 12), cout=g * r.randint(3, 12),
                 k=(r.randint(1, 5), r.randint(1, 5)), hw=(r.randint(3, 12), r.randint(3, 12)),
                 batch=r.choice([None, 1, 2]), bias=r.random() < 0.7)
        s, d = (r.randint(1, 3), r.randint(1, 3)), (r.choice([1, 1, 2]), r.choice([1, 1, 2]))
        c["args"] = dict(stride=s, padding=(r.randint(0, 2), r.randint(0, 2)), groups=g,
                         output_padding=(r.randint(0, max(s[0], d[0]) - 1),
                                         r.randint(0, max(s[1], d[1]) - 1)), dilation=d)
        x, w, b = tensors(c, rs)
        ref, te = outcome(lambda: F.conv_transpose2d(t64(x), t64(w), t64(b), **c["args"]))
        if te is not None:
            continue
        case = "ct-medium#%d %s" % (done, {k: v for k, v in c.items()})
        ref = ref.numpy()
        TALLY.cases += 1
        assert TALLY.error(tconv.conv_transpose2d(x, w, b, **c["args"]), ref, case) < TOL
        assert run_everywhere(
            lambda **o: tconv.Operator.conv_transpose2d(w, b, **c["args"], **o), x, ref,
            case) < TOL
        done += 1
