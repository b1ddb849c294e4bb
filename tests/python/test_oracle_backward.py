"""PyTorch autograd oracle for the gradients of conv_transpose2d and conv2d.

Seeded random configurations of both operators (groups, dilation,
asymmetric pairs, stride > kernel, large padding, output_padding and
output_size, padding 'same' (odd and even kernels) / 'valid', every
padding_mode, unbatched, zero batch) through tconv.conv_transpose2d_backward
/ tconv.conv2d_backward and through backward-pass operators on every
implementation, threads 1..4, NCHW and NHWC, compared with PyTorch 1.13's
float64 autograd on the same float32 data: max|tconv - torch64| /
max(1, max|torch64|) below 1e-5 for each gradient.  Output masks, refusals
(grad_output of the wrong shape) and accumulation are checked too.
"""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import tconv  # noqa: E402
from conftest import TALLY, TOL  # noqa: E402

SEED = 7007
N_CT = 180
N_CV = 180
MODES = ["zeros", "reflect", "replicate", "circular"]


def random_ct(r):
    g = r.choice([1, 1, 1, 2, 3])
    cin, cout = g * r.randint(1, 3), g * r.randint(1, 3)
    kh, kw = r.randint(1, 4), r.randint(1, 4)
    sh, sw = r.choice([1, 2, 2, 3]), r.choice([1, 2, 3])
    dh, dw = r.choice([1, 1, 2, 3]), r.choice([1, 1, 2])
    ph = r.randint(0, dh * (kh - 1) + (2 if r.random() < 0.2 else 0))
    pw = r.randint(0, dw * (kw - 1))
    oph = r.randint(0, max(sh, dh) - 1) if r.random() < 0.4 else 0
    opw = r.randint(0, max(sw, dw) - 1) if r.random() < 0.4 else 0
    batch = r.choice([None, 0, 1, 1, 2, 3])
    return dict(g=g, cin=cin, cout=cout, k=(kh, kw), hw=(r.randint(1, 7), r.randint(1, 7)),
                batch=batch, bias=r.random() < 0.8,
                args=dict(stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw),
                          groups=g, dilation=(dh, dw)),
                output_size=r.random() < 0.15)


def random_cv(r):
    g = r.choice([1, 1, 1, 2, 3])
    cin, cout = g * r.randint(1, 3), g * r.randint(1, 3)
    kh, kw = r.randint(1, 4), r.randint(1, 4)
    sh, sw = r.choice([1, 1, 2, 3]), r.choice([1, 1, 2])
    dh, dw = r.choice([1, 1, 2]), r.choice([1, 1, 2])
    u = r.random()
    padding = "same" if u < 0.2 else "valid" if u < 0.3 else (r.randint(0, 3), r.randint(0, 3))
    if padding == "same":
        sh = sw = 1
    mode = r.choice(MODES)
    batch = r.choice([None, 0, 1, 1, 2, 3])
    return dict(g=g, cin=cin, cout=cout, k=(kh, kw), hw=(r.randint(1, 9), r.randint(1, 9)),
                batch=batch, bias=r.random() < 0.8, mode=mode,
                args=dict(stride=(sh, sw), padding=padding, dilation=(dh, dw), groups=g))


def _shape(c, channels):
    return (channels,) + c["hw"] if c["batch"] is None else (c["batch"], channels) + c["hw"]


def torch_grads(kind, c, x, w, b, dy, output_size=None):
    """PyTorch's float64 autograd: (y, grad_input, grad_weight, grad_bias)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True) if b is not None else None
    if kind == "ct":
        m = torch.nn.ConvTranspose2d(c["cin"], c["cout"], c["k"], bias=b is not None,
                                     **c["args"]).double()
        with torch.no_grad():
            m.weight.copy_(wt)
            if bt is not None:
                m.bias.copy_(bt)
        y = m(xt, output_size=output_size)
        wt, bt = m.weight, m.bias
    else:
        m = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], bias=b is not None,
                            padding_mode=c["mode"], **c["args"]).double()
        with torch.no_grad():
            m.weight.copy_(wt)
            if bt is not None:
                m.bias.copy_(bt)
        y = m(xt)
        wt, bt = m.weight, m.bias
    y.backward(torch.tensor(dy, dtype=torch.float64))
    gb = bt.grad.numpy() if bt is not None else None
    return y, xt.grad.numpy(), wt.grad.numpy(), gb


def _case(kind, c, r):
    """(x, w, b, dy, refs, output_size) or None when PyTorch refuses the
    forward (refusals are the forward oracles' subject)."""
    rng = np.random.default_rng(r.randint(0, 1 << 30))
    cin, cout, g = c["cin"], c["cout"], c["g"]
    x = rng.standard_normal(_shape(c, cin)).astype(np.float32)
    wshape = (cin, cout // g) + c["k"] if kind == "ct" else (cout, cin // g) + c["k"]
    w = rng.standard_normal(wshape).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if c["bias"] else None
    output_size = None
    try:
        if kind == "ct":
            with torch.no_grad():
                y0 = F.conv_transpose2d(torch.tensor(x, dtype=torch.float64),
                                        torch.tensor(w, dtype=torch.float64), None,
                                        **c["args"])
            if c.get("output_size") and x.ndim == 4 and x.shape[0] > 0:
                # a size PyTorch accepts: the one output_padding=0 gives, plus up to stride-1
                s = c["args"]["stride"]
                base = [y0.shape[-2] - c["args"]["output_padding"][0],
                        y0.shape[-1] - c["args"]["output_padding"][1]]
                output_size = [base[0] + r.randint(0, s[0] - 1), base[1] + r.randint(0, s[1] - 1)]
            dyshape = tuple(y0.shape) if output_size is None else \
                tuple(y0.shape[:-2]) + tuple(output_size)
        else:
            with torch.no_grad():
                m = torch.nn.Conv2d(c["cin"], c["cout"], c["k"], padding_mode=c["mode"],
                                    **c["args"]).double()
                dyshape = tuple(m(torch.tensor(x, dtype=torch.float64)).shape)
        dy = rng.standard_normal(dyshape).astype(np.float32)
        if output_size is not None:
            args = dict(c["args"])
            args["output_padding"] = (0, 0)
            c = dict(c, args=args)
        refs = torch_grads(kind, c, x, w, b, dy, output_size)[1:]
    except (RuntimeError, ValueError):
        return None
    # a zero batch PyTorch accepts with parameters it refuses for batch 1
    # (conftest's zero_batch_invalid_params): the forward oracles cover it
    try:
        if kind == "ct":
            tconv.conv_transpose2d(x, w, None, **c["args"])
        else:
            tconv.nn.Conv2d(c["cin"], c["cout"], c["k"], padding_mode=c["mode"], bias=False,
                            **c["args"])(x)
    except tconv.Error:
        assert x.shape[0] == 0, "tconv refuses what PyTorch accepts: %s" % (c,)
        return None
    return x, w, b, dy, refs, output_size, c


def _check(got, refs, case, mask=(True, True, True), has_bias=True):
    for i, (g, ref, name) in enumerate(zip(got, refs, ("grad_input", "grad_weight", "grad_bias"))):
        if not mask[i] or (i == 2 and not has_bias):
            assert g is None or not mask[i], case
            continue
        err = TALLY.error(g, ref, "%s %s" % (case, name))
        assert err < TOL, "%s %s: err %g" % (case, name, err)


def _functional(kind, x, w, dy, c, output_size, mask):
    if kind == "ct":
        return tconv.conv_transpose2d_backward(dy, x, w, output_mask=mask,
                                               output_size=output_size, **c["args"])
    return tconv.conv2d_backward(dy, x, w, output_mask=mask, padding_mode=c["mode"],
                                 **c["args"])


def _operators(kind, x, w, dy, c, output_size, case, refs, has_bias):
    """Backward-pass operators on every impl, threads 1..4 (bit-identical),
    NCHW and NHWC."""
    make = tconv.Operator.conv_transpose2d if kind == "ct" else tconv.Operator.conv2d
    extra = {} if kind == "ct" else {"padding_mode": c["mode"]}
    for impl in tconv.available_impls():
        for layout in ("nchw", "nhwc"):
            d = make(w, **c["args"], **extra, impl=impl, layout=layout, pass_="backward_data")
            wo = make(w, **c["args"], **extra, impl=impl, layout=layout, pass_="backward_weight")
            try:
                xi, dyi = x, dy
                if layout == "nhwc":
                    xi = np.ascontiguousarray(np.moveaxis(x, -3, -1))
                    dyi = np.ascontiguousarray(np.moveaxis(dy, -3, -1))
                first = None
                for threads in ((1, 2, 3, 4) if layout == "nchw" else (2,)):
                    d.set_num_threads(threads)
                    wo.set_num_threads(threads)
                    gi = d.backward_data(dyi, x.shape, output_size=output_size)
                    gw, gb = wo.backward_weight(xi, dyi, output_size=output_size, bias=has_bias)
                    if layout == "nhwc":
                        gi = np.moveaxis(gi, -1, -3)
                    where = "%s [operators, %s, %s, %d threads]" % (case, impl, layout, threads)
                    _check((gi, gw, gb), refs, where, has_bias=has_bias)
                    if first is None:
                        first = (gi.copy(), gw.copy(), None if gb is None else gb.copy())
                    else:
                        assert np.array_equal(gi, first[0]) and np.array_equal(gw, first[1]), \
                            "%s: differs from 1 thread" % where
            finally:
                d.close()
                wo.close()


@pytest.mark.parametrize("kind,n", [("ct", N_CT), ("cv", N_CV)])
def test_backward_oracle(kind, n):
    r = random.Random(SEED + (kind == "cv"))
    done = 0
    for i in range(n * 3):
        c = random_ct(r) if kind == "ct" else random_cv(r)
        got = _case(kind, c, r)
        if got is None:
            continue
        x, w, b, dy, refs, output_size, c = got
        case = "%s #%d %s" % (kind, i, {k: v for k, v in c.items() if k != "bias"})
        mask = (True, True, b is not None)
        _check(_functional(kind, x, w, dy, c, output_size, mask), refs, case + " [functional]",
               has_bias=b is not None)
        if done % 6 == 0:
            _operators(kind, x, w, dy, c, output_size, case, refs, b is not None)
        TALLY.cases += 1
        done += 1
        if done == n:
            break
    assert done == n, "only %d valid configurations drawn" % done


def test_backward_masks_and_refusals():
    r = np.random.default_rng(5)
    x = r.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = r.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = tconv.conv_transpose2d(x, w, stride=2, padding=1)
    dy = r.standard_normal(y.shape).astype(np.float32)
    full = tconv.conv_transpose2d_backward(dy, x, w, stride=2, padding=1)
    for m in range(1, 8):
        mask = (bool(m & 1), bool(m & 2), bool(m & 4))
        got = tconv.conv_transpose2d_backward(dy, x, w, stride=2, padding=1, output_mask=mask)
        for g, f, on in zip(got, full, mask):
            assert (g is None) == (not on)
            if on:
                assert np.array_equal(g, f)
    with pytest.raises(tconv.Error, match=r"grad_output has shape \[2, 3, 9, 10\] but the "
                                          r"forward's output for input of shape \[2, 4, 5, 6\] "
                                          r"has shape \[2, 3, 9, 11\]"):
        tconv.conv_transpose2d_backward(dy[:, :, :, 1:], x, w, stride=2, padding=1)
    with pytest.raises(tconv.Error, match="Given transposed=1"):
        tconv.conv_transpose2d_backward(dy, x[:, :3], w, stride=2, padding=1)
    with pytest.raises(tconv.Error, match="output_mask"):
        tconv.conv2d_backward(dy, x, w, output_mask=(True, False))
    # a forward operator has no backward run, and the reverse
    op = tconv.Operator.conv2d(w.transpose(1, 0, 2, 3).copy(), pass_="backward_data")
    with pytest.raises(tconv.Error, match="backward_weight called on a conv2d backward_data"):
        op.backward_weight(x, dy)
    op.close()


def test_backward_accumulate():
    r = np.random.default_rng(6)
    x = r.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = r.standard_normal((5, 3, 3, 3)).astype(np.float32)
    dy = r.standard_normal((2, 5, 6, 6)).astype(np.float32)
    gi, gw, gb = tconv.conv2d_backward(dy, x, w, padding=1)
    d = tconv.Operator.conv2d(w, padding=1, pass_="backward_data", accumulate=True)
    wo = tconv.Operator.conv2d(w, padding=1, pass_="backward_weight", accumulate=True)
    base_i = r.standard_normal(x.shape).astype(np.float32)
    base_w = r.standard_normal(w.shape).astype(np.float32)
    base_b = r.standard_normal(5).astype(np.float32)
    acc_i, acc_w, acc_b = base_i.copy(), base_w.copy(), base_b.copy()
    d.backward_data(dy, x.shape, out=acc_i)
    wo.backward_weight(x, dy, out=(acc_w, acc_b))
    np.testing.assert_allclose(acc_i, base_i + gi, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(acc_w, base_w + gw, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(acc_b, base_b + gb, rtol=1e-6, atol=1e-5)
    d.close()
    wo.close()
