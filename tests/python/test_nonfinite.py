"""Non-finite values: a NaN or inf in the input, the weight or the bias (or,
for the gradients, in grad_output) propagates as in PyTorch's float64
result.  Positions that are NaN/inf there are NaN/inf here, on every
implementation, thread count and layout, for the forward and both
gradients of both operators; the finite positions agree within the usual
bound."""
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tconv  # noqa: E402
from conftest import TOL  # noqa: E402

SEED = 8008
N_CASES = 60
BAD = [np.nan, np.inf, -np.inf]


def _poke(r, a, count):
    """a copy of a with count entries set to NaN / inf / -inf."""
    a = a.copy()
    flat = a.reshape(-1)
    for _ in range(count):
        if flat.size:
            flat[r.randrange(flat.size)] = r.choice(BAD)
    return a


def _compare(got, ref, case):
    got = np.asarray(got, np.float64)
    assert got.shape == ref.shape, case
    fin_ref, fin_got = np.isfinite(ref), np.isfinite(got)
    assert np.array_equal(fin_ref, fin_got), "%s: non-finite at %s in PyTorch, %s in tconv" % (
        case, np.argwhere(~fin_ref)[:6].tolist(), np.argwhere(~fin_got)[:6].tolist())
    assert np.array_equal(np.isnan(ref), np.isnan(got)), "%s: NaN positions differ" % case
    if fin_ref.any():
        scale = max(1.0, float(np.max(np.abs(ref[fin_ref]))))
        err = float(np.max(np.abs(got[fin_ref] - ref[fin_ref]))) / scale
        assert err < TOL, "%s: err %g" % (case, err)


def _config(r, kind):
    g = r.choice([1, 1, 2])
    cin, cout = g * r.randint(1, 3), g * r.randint(1, 3)
    k = (r.randint(1, 4), r.randint(1, 4))
    if kind == "ct":
        s = (r.choice([1, 2, 3]), r.choice([1, 2]))
        d = (r.choice([1, 1, 2]), 1)
        p = (r.randint(0, d[0] * (k[0] - 1)), r.randint(0, k[1] - 1))
        args = dict(stride=s, padding=p, groups=g, dilation=d)
    else:
        args = dict(stride=(r.choice([1, 2]), r.choice([1, 2])),
                    padding=(r.randint(0, 3), r.randint(0, 2)), groups=g,
                    dilation=(r.choice([1, 2]), 1))
    shape = (r.choice([1, 2]), cin, r.randint(2, 7), r.randint(2, 7))
    return cin, cout, k, args, shape, r.choice(["zeros", "zeros", "reflect", "replicate"])


def _torch(kind, cin, cout, k, args, mode, x, w, b, dy):
    m = (torch.nn.ConvTranspose2d(cin, cout, k, **args) if kind == "ct"
         else torch.nn.Conv2d(cin, cout, k, padding_mode=mode, **args)).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w, dtype=torch.float64))
        m.bias.copy_(torch.tensor(b, dtype=torch.float64))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = m(xt)
    if dy is None:
        return y.detach().numpy(), None
    y.backward(torch.tensor(dy, dtype=torch.float64))
    return y.detach().numpy(), (xt.grad.numpy(), m.weight.grad.numpy(), m.bias.grad.numpy())


@pytest.mark.parametrize("kind", ["ct", "cv"])
def test_nonfinite_like_pytorch(kind):
    r = random.Random(SEED + (kind == "cv"))
    done = 0
    for i in range(N_CASES * 4):
        cin, cout, k, args, shape, mode = _config(r, kind)
        rng = np.random.default_rng(r.randint(0, 1 << 30))
        wshape = (cin, cout // args["groups"]) + k if kind == "ct" else \
            (cout, cin // args["groups"]) + k
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal(wshape).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        try:
            y0, _ = _torch(kind, cin, cout, k, args, mode, x, w, b, None)
        except RuntimeError:
            continue
        which = i % 4  # 0: input, 1: weight, 2: bias, 3: all three
        if which in (0, 3):
            x = _poke(r, x, r.randint(1, 2))
        if which in (1, 3):
            w = _poke(r, w, r.randint(1, 2))
        if which in (2, 3):
            b = _poke(r, b, 1)
        dy = _poke(r, rng.standard_normal(y0.shape).astype(np.float32), r.randint(0, 2))
        y, grads = _torch(kind, cin, cout, k, args, mode, x, w, b, dy)
        case = "%s #%d %s mode %s" % (kind, i, args, mode)
        extra = {} if kind == "ct" else {"padding_mode": mode}
        make = tconv.Operator.conv_transpose2d if kind == "ct" else tconv.Operator.conv2d
        for impl in tconv.available_impls():
            for layout in ("nchw", "nhwc"):
                xi = x if layout == "nchw" else np.ascontiguousarray(np.moveaxis(x, 1, -1))
                dyi = dy if layout == "nchw" else np.ascontiguousarray(np.moveaxis(dy, 1, -1))
                back = (lambda a: a) if layout == "nchw" else (lambda a: np.moveaxis(a, -1, 1))
                for threads in (1, 2):
                    where = "%s [%s %s %d threads]" % (case, impl, layout, threads)
                    f = make(w, b, **args, **extra, impl=impl, layout=layout, num_threads=threads)
                    _compare(back(f(xi)), y, where + " forward")
                    f.close()
                    d = make(w, **args, **extra, impl=impl, layout=layout, num_threads=threads,
                             pass_="backward_data")
                    _compare(back(d.backward_data(dyi, x.shape)), grads[0],
                             where + " grad_input")
                    d.close()
                    o = make(w, **args, **extra, impl=impl, layout=layout, num_threads=threads,
                             pass_="backward_weight")
                    gw, gb = o.backward_weight(xi, dyi)
                    _compare(gw, grads[1], where + " grad_weight")
                    _compare(gb, grads[2], where + " grad_bias")
                    o.close()
        done += 1
        if done == N_CASES:
            break
    assert done == N_CASES
