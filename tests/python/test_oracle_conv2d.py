"""PyTorch oracle for tconv.conv2d and tconv.Conv2d.

Seeded random configurations (groups, dilation, asymmetric pairs, stride >
kernel, large padding, padding 'same' (odd and even kernels, so asymmetric)
and 'valid', every padding_mode, unbatched, zero batch) through tconv and
PyTorch in float64; refusals must coincide and outputs agree to 1e-5 on
every implementation, thread count 1..4 and layout.  Single-fault mutations
of valid configurations and a table of rejected arguments check PyTorch's
messages (known differences: conftest.py).
"""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import tconv  # noqa: E402
from conftest import (KNOWN_MESSAGE_DIFFERENCES, KNOWN_RAISE_DIFFERENCES, TALLY, TOL,  # noqa: E402
                      check_same_refusal, outcome, run_everywhere)

SEED = 4004
N_RANDOM = 700
MODES = ["zeros", "reflect", "replicate", "circular"]


def _pairarg(r, a, b):
    if a == b and r.random() < 0.6:
        return a
    return r.choice([(a, b), [a, b]])


def random_config(r):
    g = r.choice([1, 1, 1, 2, 3])
    cin, cout = g * r.randint(1, 3), g * r.randint(1, 3)
    kh, kw = r.randint(1, 4), r.randint(1, 4)
    sh, sw = r.choice([1, 1, 2, 3]), r.choice([1, 1, 2])
    if r.random() < 0.1:
        sh = kh + r.randint(1, 2)  # stride larger than the kernel
    dh, dw = r.choice([1, 1, 2, 3]), r.choice([1, 1, 2])
    h, w = r.randint(1, 9), r.randint(1, 9)
    ph, pw = r.randint(0, 2), r.randint(0, 2)
    if r.random() < 0.1:
        pw = r.randint(3, 6)  # large padding
    u = r.random()
    padding = "same" if u < 0.2 else "valid" if u < 0.3 else _pairarg(r, ph, pw)
    if padding == "same":
        sh = sw = 1
        if r.random() < 0.5:
            sh = sw = [1, 1]
    mode = r.choice(MODES)
    batch = r.choice([None, 0, 1, 1, 2, 3])
    stride = sh if isinstance(sh, list) else _pairarg(r, sh, sw)
    return dict(g=g, cin=cin, cout=cout, k=(kh, kw), hw=(h, w), batch=batch, mode=mode,
                bias=r.random() < 0.7,
                args=dict(stride=stride, padding=padding, dilation=_pairarg(r, dh, dw),
                          groups=g))


def tensors(c, rs):
    shape = (c["cin"],) + c["hw"] if c["batch"] is None else (c["batch"], c["cin"]) + c["hw"]
    x = rs.standard_normal(shape).astype(np.float32)
    w = rs.standard_normal((c["cout"], c["cin"] // c["g"]) + c["k"]).astype(np.float32)
    b = rs.standard_normal(c["cout"]).astype(np.float32) if c["bias"] else None
    return x, w, b


def t64(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def torch_module(c, w, b):
    """torch.nn.Conv2d with c's arguments and the weights w, b (float64)."""
    a = c["args"]
    tm = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], a["stride"], a["padding"], a["dilation"],
                         a["groups"], b is not None, c["mode"]).double()
    with torch.no_grad():
        tm.weight.copy_(t64(w))
        if b is not None:
            tm.bias.copy_(t64(b))
    return tm


def tconv_module(c, w, b):
    a = c["args"]
    m = tconv.Conv2d(c["cin"], c["cout"], c["k"], a["stride"], a["padding"], a["dilation"],
                     a["groups"], b is not None, c["mode"])
    m.weight = w
    if b is not None:
        m.bias = b
    return m


def compare(case, c, torch_fn, tconv_fn, x, make_op, compare_messages=True):
    """One configuration through both; returns 'valid' or 'refused'."""
    ref, te = outcome(torch_fn)
    got, ce = outcome(tconv_fn)
    if (c["mode"] == "circular" and x.ndim == 3 and te is not None
            and str(te) == "Invalid padding size, expected 2 but got 4"):
        assert "circular_unbatched" in KNOWN_RAISE_DIFFERENCES
        ref, te = outcome(lambda: torch_fn(x[None]))  # PyTorch 1.13 needs the batch dim
        if te is None:
            ref = ref[0]
    if c["batch"] == 0 and te is None and ce is not None:
        # PyTorch skips its kernel's checks for an empty batch; tconv refuses
        # a zero batch exactly when PyTorch refuses the call with batch 1.
        assert "zero_batch_invalid_params" in KNOWN_RAISE_DIFFERENCES
        c1 = dict(c, batch=1)
        x1 = np.ones((1,) + x.shape[1:], np.float32)
        _, te = outcome(lambda: torch_fn(x1))
        assert te is not None, "%s: tconv refused %r" % (case, ce)
        del c1
    assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (case, te, ce)
    if te is not None:
        check_same_refusal(case, te, ce, compare_message=compare_messages and c["batch"] != 0)
        return "refused"
    ref = ref.detach().numpy()
    TALLY.cases += 1
    assert TALLY.error(got, ref, case) < TOL, case
    if make_op is not None:
        assert run_everywhere(make_op, x, ref, case) < TOL, case
    return "valid"


def _functional_pair(c, x, w, b):
    a = c["args"]

    def torch_fn(xx=x):
        return F.conv2d(t64(xx), t64(w), t64(b), **a)

    def tconv_fn():
        return tconv.conv2d(x, w, b, **a)

    def make_op(**o):
        return tconv.Operator.conv2d(w, b, **a, **o)
    return torch_fn, tconv_fn, make_op


def _module_pair(c, x, w, b):
    tm = torch_module(c, w, b)
    m = tconv_module(c, w, b)
    a = c["args"]

    def torch_fn(xx=x):
        return tm(t64(xx))

    def make_op(**o):
        return tconv.Operator.conv2d(w, b, a["stride"], a["padding"], a["dilation"],
                                     a["groups"], c["mode"], **o)
    return torch_fn, lambda: m(x), make_op


def test_random_functional():
    r = random.Random(SEED)
    rs = np.random.default_rng(SEED)
    counts = {"valid": 0, "refused": 0}
    for i in range(N_RANDOM):
        c = random_config(r)
        c["mode"] = "zeros"
        x, w, b = tensors(c, rs)
        case = "conv2d#%d %s" % (i, c)
        counts[compare(case, c, *_functional_pair(c, x, w, b)[:2], x,
                       _functional_pair(c, x, w, b)[2])] += 1
    print("conv2d random functional: %(valid)d valid, %(refused)d refused" % counts)
    assert counts["valid"] > 400 and counts["refused"] > 20


def test_random_module_padding_modes():
    """nn.Conv2d with every padding_mode (F.pad then conv2d in PyTorch)."""
    r = random.Random(SEED + 1)
    rs = np.random.default_rng(SEED + 1)
    counts = {m: {"valid": 0, "refused": 0} for m in MODES}
    for i in range(400):
        c = random_config(r)
        c["mode"] = MODES[i % 4]
        x, w, b = tensors(c, rs)
        case = "Conv2d#%d %s" % (i, c)
        tf, cf, mk = _module_pair(c, x, w, b)
        counts[c["mode"]][compare(case, c, tf, cf, x, mk)] += 1
    print("Conv2d random modules: %s" % counts)
    for m in MODES:
        assert counts[m]["valid"] > 40, (m, counts[m])


def test_same_even_kernels():
    """'same' with even kernels pads asymmetrically (extra row/column at the
    bottom/right), with dilation, every mode."""
    rs = np.random.default_rng(SEED + 2)
    for kh, kw, dh, dw in [(2, 2, 1, 1), (4, 2, 1, 3), (2, 3, 2, 1), (4, 4, 2, 2), (1, 2, 1, 5)]:
        for mode in MODES:
            c = dict(g=1, cin=3, cout=2, k=(kh, kw), hw=(7, 8), batch=2, mode=mode, bias=True,
                     args=dict(stride=1, padding="same", dilation=(dh, dw), groups=1))
            x, w, b = tensors(c, rs)
            tf, cf, mk = _module_pair(c, x, w, b)
            assert compare("same k=%s d=%s %s" % ((kh, kw), (dh, dw), mode), c, tf, cf, x,
                           mk) == "valid"


def test_larger_shapes():
    rs = np.random.default_rng(SEED + 3)
    for xs, ws, a in [((2, 16, 12, 12), (24, 16, 3, 3), dict(padding=1)),
                      ((1, 12, 11, 9), (12, 1, 5, 3), dict(padding=(2, 1), groups=12)),
                      ((3, 8, 10, 10), (16, 4, 3, 3), dict(stride=2, dilation=2, groups=2))]:
        x = rs.standard_normal(xs).astype(np.float32)
        w = rs.standard_normal(ws).astype(np.float32)
        b = rs.standard_normal(ws[0]).astype(np.float32)
        ref = F.conv2d(t64(x), t64(w), t64(b), **a).numpy()
        case = "conv2d-large %s %s %s" % (xs, ws, a)
        TALLY.cases += 1
        assert TALLY.error(tconv.conv2d(x, w, b, **a), ref, case) < TOL
        assert run_everywhere(lambda **o: tconv.Operator.conv2d(w, b, **a, **o), x, ref,
                              case) < TOL


# ---------------------------------------------------------------------------
# Rejected arguments (functional): name, input, weight, bias shapes, kwargs.
# ---------------------------------------------------------------------------
X, W = (1, 4, 5, 5), (2, 4, 3, 3)
REJECTED = [
    ("stride 0", X, W, None, dict(stride=0)),
    ("stride negative", X, W, None, dict(stride=(1, -1))),
    ("padding negative", X, W, None, dict(padding=(-1, 0))),
    ("dilation 0", X, W, None, dict(dilation=0)),
    ("dilation negative h", X, W, None, dict(dilation=(-1, 1))),
    ("groups 0", X, W, None, dict(groups=0)),
    ("groups not dividing out_channels", X, (3, 2, 3, 3), None, dict(groups=2)),
    ("groups larger than out_channels", X, (2, 1, 3, 3), None, dict(groups=4)),
    ("input channels", (1, 3, 5, 5), W, None, {}),
    ("input channels unbatched", (3, 5, 5), W, None, {}),
    ("input channels with groups", X, (4, 1, 3, 3), None, dict(groups=2)),
    ("input 2-D", (5, 5), W, None, {}),
    ("input 5-D", (1, 1, 4, 5, 5), W, None, {}),
    ("kernel larger than input", X, (2, 4, 7, 3), None, {}),
    ("dilated kernel larger than input", X, W, None, dict(dilation=(1, 3))),
    ("input height 0", (1, 4, 0, 5), (2, 4, 1, 1), None, {}),
    ("input height 0 padded", (1, 4, 0, 5), W, None, dict(padding=2)),
    ("kernel width 0", X, (2, 4, 3, 0), None, {}),
    ("out_channels 0", X, (0, 4, 3, 3), None, {}),
    ("bias length", X, W, (3,), {}),
    ("bias 2-D", X, W, (2, 2), {}),
    ("bias and kernel too large", X, (2, 4, 7, 3), (3,), {}),
    ("padding string", X, W, None, dict(padding="foo")),
    ("same with stride", X, W, None, dict(padding="same", stride=2)),
    ("same with stride (1, 2)", X, W, None, dict(padding="same", stride=(1, 2))),
    ("valid kernel too large", X, (2, 4, 6, 1), None, dict(padding="valid")),
    ("weight 2-D", X, (2, 4), None, {}),
    ("weight 3-D", X, (2, 4, 3), None, {}),
    ("stride list of 3", X, W, None, dict(stride=[1, 1, 1])),
    ("padding list of 3", X, W, None, dict(padding=[1, 1, 1])),
    ("dilation list of 3", X, W, None, dict(dilation=(1, 1, 1))),
    ("stride float", X, W, None, dict(stride=1.5)),
    ("in_channels 0", (1, 0, 5, 5), (2, 0, 3, 3), None, {}),
]
ACCEPTED = [
    ("zero batch", (0, 4, 5, 5), W, (2,), dict(padding=1)),
    ("zero batch same", (0, 4, 5, 5), (2, 4, 2, 4), None, dict(padding="same")),
    ("stride list of 1", X, W, None, dict(stride=[2])),
    ("kernel equals padded input", (1, 4, 1, 1), W, None, dict(padding=1)),
    ("depthwise", X, (8, 1, 3, 3), None, dict(groups=4, padding="same")),
]


@pytest.mark.parametrize("name,xs,ws,bs,kw", REJECTED + ACCEPTED,
                         ids=[c[0] for c in REJECTED + ACCEPTED])
def test_rejected_arguments(name, xs, ws, bs, kw):
    rs = np.random.default_rng(len(name))
    x = rs.standard_normal(xs).astype(np.float32)
    w = rs.standard_normal(ws).astype(np.float32)
    b = None if bs is None else rs.standard_normal(bs).astype(np.float32)
    ref, te = outcome(lambda: F.conv2d(t64(x), t64(w), t64(b), **kw))
    got, ce = outcome(lambda: tconv.conv2d(x, w, b, **kw))
    if name == "in_channels 0":
        assert "conv2d_in_channels_0" in KNOWN_RAISE_DIFFERENCES
        assert te is None and tuple(ref.shape) == (1, 0, 3, 3)  # PyTorch's bug, still there
        assert isinstance(ce, tconv.Error)
        return
    assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (name, te, ce)
    if te is None:
        TALLY.cases += 1
        assert TALLY.error(got, ref.numpy(), name) < TOL
    else:
        check_same_refusal(name, te, ce, compare_message=name not in KNOWN_MESSAGE_DIFFERENCES)


MODULE_REJECTED = [
    ("groups 0", dict(groups=0)),
    ("in_channels not divisible", dict(in_channels=5, groups=2, out_channels=4)),
    ("out_channels not divisible", dict(in_channels=4, groups=2, out_channels=3)),
    ("padding string", dict(padding="foo")),
    ("same with stride", dict(padding="same", stride=2)),
    ("padding_mode", dict(padding_mode="reflection")),
    ("negative in_channels", dict(in_channels=-4)),
]


@pytest.mark.parametrize("name,kw", MODULE_REJECTED, ids=[c[0] for c in MODULE_REJECTED])
def test_module_constructor_rejections(name, kw):
    args = dict(in_channels=4, out_channels=2, kernel_size=3)
    args.update(kw)
    _, te = outcome(lambda: torch.nn.Conv2d(**args))
    _, ce = outcome(lambda: tconv.Conv2d(**args))
    assert te is not None and ce is not None, "%s: PyTorch %r, tconv %r" % (name, te, ce)
    check_same_refusal(name, te, ce)


MODULE_FORWARD = [
    # (name, constructor kwargs, input shape): accepted or refused by both.
    ("reflect padding too large", dict(padding=5, padding_mode="reflect"), (1, 4, 5, 5)),
    ("reflect padding h too large", dict(padding=(5, 1), padding_mode="reflect"), (1, 4, 5, 6)),
    ("reflect padding = size - 1", dict(padding=4, padding_mode="reflect"), (1, 4, 5, 5)),
    ("circular wraps twice", dict(padding=6, padding_mode="circular"), (1, 4, 5, 5)),
    ("circular padding = size", dict(padding=5, padding_mode="circular"), (1, 4, 5, 5)),
    ("reflect zero channels", dict(padding=1, padding_mode="reflect"), (1, 0, 5, 5)),
    ("replicate zero channels", dict(padding=1, padding_mode="replicate"), (1, 0, 5, 5)),
    ("circular zero channels", dict(padding=1, padding_mode="circular"), (1, 0, 5, 5)),
    ("zeros zero channels", dict(padding=1), (1, 0, 5, 5)),
    ("reflect channels (padded size in message)", dict(padding=1, padding_mode="reflect"),
     (1, 3, 5, 5)),
    ("replicate unbatched channels", dict(padding=(2, 1), padding_mode="replicate"), (3, 5, 5)),
    ("reflect zero batch", dict(padding=1, padding_mode="reflect"), (0, 4, 5, 5)),
    ("replicate same", dict(padding="same", padding_mode="replicate", kernel_size=4),
     (2, 4, 3, 3)),
    ("stride 0 at forward", dict(stride=0), (1, 4, 5, 5)),
    ("dilation 0 at forward", dict(dilation=0), (1, 4, 5, 5)),
    ("kernel 0 at forward", dict(kernel_size=(3, 0)), (1, 4, 5, 5)),
    ("negative padding at forward", dict(padding=-1), (1, 4, 5, 5)),
]


def test_negative_padding_with_padding_mode_is_a_known_difference():
    """PyTorch crops (F.pad with negative sizes); tconv refuses. Checked so
    the entry in conftest.KNOWN_RAISE_DIFFERENCES stays true."""
    assert "negative_padding_with_padding_mode" in KNOWN_RAISE_DIFFERENCES
    x = np.ones((1, 4, 9, 9), np.float32)
    for mode in ("reflect", "replicate", "circular"):
        assert torch.nn.Conv2d(4, 2, 3, padding=(-1, 1), padding_mode=mode)(t64(x).float()) \
            .shape == (1, 2, 5, 9)
        with pytest.raises(tconv.Error, match="^negative padding is not supported$"):
            tconv.Conv2d(4, 2, 3, padding=(-1, 1), padding_mode=mode)(x)


@pytest.mark.parametrize("name,kw,xs", MODULE_FORWARD, ids=[c[0] for c in MODULE_FORWARD])
def test_module_forward(name, kw, xs):
    args = dict(in_channels=4, out_channels=2, kernel_size=3)
    args.update(kw)
    tm, te0 = outcome(lambda: torch.nn.Conv2d(**args).double())
    m, ce0 = outcome(lambda: tconv.Conv2d(**args))
    assert te0 is None and ce0 is None, (name, te0, ce0)
    with torch.no_grad():
        tm.weight.copy_(t64(m.weight))
        tm.bias.copy_(t64(m.bias))
    x = np.random.default_rng(7).standard_normal(xs).astype(np.float32)
    ref, te = outcome(lambda: tm(t64(x)))
    got, ce = outcome(lambda: m(x))
    assert (te is None) == (ce is None), "%s: PyTorch %r, tconv %r" % (name, te, ce)
    if te is None:
        TALLY.cases += 1
        assert TALLY.error(got, ref.detach().numpy(), name) < TOL
    else:
        check_same_refusal(name, te, ce, compare_message=name not in KNOWN_MESSAGE_DIFFERENCES)


def mutate(r, c, x, w, b):
    """One fault in a valid configuration (module arguments); returns the
    fault's name and the changed c, x, w, b."""
    c = dict(c, args=dict(c["args"]))
    a = c["args"]
    kinds = ["stride", "dilation", "groups", "kernel", "channels", "hw0", "bias", "ndim",
             "wndim", "list3", "kernel_big", "same_stride", "padding_string", "pad_mode_big"]
    if a["padding"] not in ("same", "valid"):
        kinds.append("padding")
    kind = r.choice(kinds)
    pair = lambda v: list(v) if isinstance(v, (list, tuple)) else [v, v]  # noqa: E731
    d = r.randint(0, 1)
    if kind in ("stride", "dilation", "padding"):
        v = pair(a[kind])
        v[d] = r.choice([0, -1, -2]) if kind != "padding" else r.choice([-1, -3])
        a[kind] = v
    elif kind == "groups":
        a["groups"] = r.choice([0, -1, c["cout"] + r.randint(1, 3), 5 if c["cout"] % 5 else 7])
    elif kind == "kernel":
        shape = list(w.shape)
        shape[2 + d] = 0
        w = np.ones(shape, np.float32)
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
        # (a 3-entry padding with a padding_mode makes PyTorch's F.pad pad
        # the channels too: not a case worth mirroring)
        a[r.choice(["stride", "dilation"] if isinstance(a["padding"], str) or c["mode"] != "zeros"
                   else ["stride", "padding", "dilation"])] = [1, 1, 1]
    elif kind == "kernel_big":
        shape = list(w.shape)
        shape[2 + d] = x.shape[-2 + d] + 2 * pair(a["padding"])[d] + 1 \
            if not isinstance(a["padding"], str) else x.shape[-2 + d] + 1
        if a["padding"] == "same":
            a["padding"] = "valid"
        w = np.ones(shape, np.float32)
    elif kind == "same_stride":
        a["padding"], a["stride"] = "same", r.choice([2, (1, 2), [3, 1]])
    elif kind == "padding_string":
        a["padding"] = r.choice(["Same", "full", ""])
    elif kind == "pad_mode_big":
        c["mode"] = r.choice(["reflect", "circular"])
        v = [0, 0] if isinstance(a["padding"], str) else pair(a["padding"])
        v[d] = x.shape[-2 + d] + r.randint(0, 1) if x.shape[-2 + d] else 1
        a["padding"] = v
        a["stride"] = pair(a["stride"])
    return kind, c, x, w, b


def test_random_rejections():
    """Single faults injected into random valid configurations, through the
    module (construction and forward) and, for padding_mode zeros, the
    functional: refused iff PyTorch refuses, with PyTorch's message."""
    r = random.Random(SEED + 4)
    rs = np.random.default_rng(SEED + 4)
    kinds = {}
    for i in range(500):
        while True:  # a valid base configuration, so the mutation is the only fault
            c = random_config(r)
            if c["batch"] is None and c["mode"] == "circular":
                c["mode"] = "zeros"  # PyTorch 1.13 refuses these anyway (conftest)
            c["batch"] = c["batch"] or 1
            x, w, b = tensors(c, rs)
            if outcome(_module_pair(c, x, w, b)[0])[1] is None:
                break
        kind, c, x, w, b = mutate(r, c, x, w, b)
        a = c["args"]
        case = "conv2d-fault#%d %s %s mode %s x%s w%s b%s" % (
            i, kind, a, c["mode"], x.shape, w.shape, None if b is None else b.shape)
        if c["mode"] == "zeros":
            torch_fn = lambda xx=x: F.conv2d(t64(xx), t64(w), t64(b), **a)  # noqa: E731
            tconv_fn = lambda: tconv.conv2d(x, w, b, **a)  # noqa: E731
        else:
            def torch_fn(xx=x):
                tm = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], a["stride"], a["padding"],
                                     a["dilation"], a["groups"], True, c["mode"]).double()
                tm.weight, tm.bias = (torch.nn.Parameter(t64(w)),
                                      None if b is None else torch.nn.Parameter(t64(b)))
                return tm(t64(xx))

            def tconv_fn():
                m = tconv.Conv2d(c["cin"], c["cout"], c["k"], a["stride"], a["padding"],
                                 a["dilation"], a["groups"], True, c["mode"])
                m.weight, m.bias = w, b
                return m(x)
        c["batch"] = x.shape[0] if x.ndim == 4 else None
        if kind == "padding" and c["mode"] != "zeros":
            assert "negative_padding_with_padding_mode" in KNOWN_RAISE_DIFFERENCES
            with pytest.raises(tconv.Error, match="^negative padding is not supported$"):
                tconv_fn()
            continue
        kinds[kind] = kinds.get(kind, 0) + (compare(case, c, torch_fn, tconv_fn, x, None)
                                            == "refused")
    print("conv2d faults refused per kind: %s" % kinds)


def test_random_medium():
    """Fewer, larger random layers (channel counts past vector widths, tiles
    with tails, every mode) so fast paths' blocking is exercised."""
    r = random.Random(SEED + 5)
    rs = np.random.default_rng(SEED + 5)
    done = 0
    while done < 30:
        g = r.choice([1, 1, 2, 4])
        c = dict(g=g, cin=g * r.randint(3, 12), cout=g * r.randint(3, 12),
                 k=(r.randint(1, 5), r.randint(1, 5)), hw=(r.randint(5, 16), r.randint(5, 16)),
                 batch=r.choice([None, 1, 2]), bias=r.random() < 0.7, mode=MODES[done % 4])
        if c["batch"] is None and c["mode"] == "circular":
            c["batch"] = 1
        pad = r.choice(["same", "valid", (r.randint(0, 2), r.randint(0, 2))])
        c["args"] = dict(stride=1 if pad == "same" else (r.randint(1, 3), r.randint(1, 3)),
                         padding=pad, dilation=(r.choice([1, 1, 2]), r.choice([1, 1, 2])),
                         groups=g)
        x, w, b = tensors(c, rs)
        tf, cf, mk = _module_pair(c, x, w, b)
        if outcome(tf)[1] is not None:
            continue
        assert compare("conv2d-medium#%d %s" % (done, c), c, tf, cf, x, mk) == "valid"
        done += 1
