"""The backward of every nn layer of libtconv against PyTorch's float64
autograd, on random shapes and inputs: activations, Linear, BatchNorm2d
(training and eval), MaxPool2d (indices and gradient), cat, and the
ConvTranspose2d / Conv2d modules; with the parameter gradients'
accumulation (.grad), refusals with PyTorch's words where PyTorch has them,
and nothing written on failure.  Every output is poisoned with NaN first.
Agreement: max|tconv - torch64| / max(1, max|torch64|) < 1e-5 (TOL).

Run: /usr/bin/python3 -m pytest tests/python  (library: TCONV_LIBRARY, else
build/libtconv.so).
"""
import ctypes as C

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TOL
from nn_ctypes import (LIB, I64, CT2dModule, CT2dParams, Conv2dModule, Conv2dParams, Linear,
                       BatchNorm2d, MaxPoolParams, arr, err, fp, i64p, poisoned, rng_for, shp)

R = np.random.default_rng(2024)


def randn(*s, scale=1.0):
    return (R.standard_normal(s) * scale).astype(np.float32)


def t64(a, grad=False):
    t = torch.from_numpy(np.asarray(a, np.float64).copy())
    return t.requires_grad_(grad)


def agree(tally, got, ref, case):
    e = tally.error(np.asarray(got).reshape(np.shape(ref)), np.asarray(ref, np.float64), case)
    assert e < TOL, "%s: error %.3g" % (case, e)


# ---- activations ----------------------------------------------------------------------

ACTS = ["relu", "leaky_relu", "tanh", "sigmoid"]


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("n", [1, 7, 16, 33, 1000, 70000])
def test_activation_backward(tally, name, n):
    tally.cases += 1
    x = randn(n, scale=3.0)
    x[: min(n, 3)] = [0.0, -0.0, 1e-30][: min(n, 3)]
    dy = randn(n)
    y, dx = poisoned(n), poisoned(n)
    slope = 0.2
    if name == "leaky_relu":
        assert LIB.tconv_leaky_relu(fp(x), fp(y), n, slope) == 0, err()
        assert LIB.tconv_leaky_relu_backward(fp(x), fp(dy), fp(dx), n, slope) == 0, err()
        f = lambda t: F.leaky_relu(t, slope)
    else:
        assert getattr(LIB, "tconv_" + name)(fp(x), fp(y), n) == 0, err()
        assert getattr(LIB, "tconv_%s_backward" % name)(fp(y), fp(dy), fp(dx), n) == 0, err()
        f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[name]
    xt = t64(x, True)
    yt = f(xt)
    yt.backward(t64(dy))
    agree(tally, y, yt.detach().numpy(), "%s forward n=%d" % (name, n))
    agree(tally, dx, xt.grad.numpy(), "%s backward n=%d" % (name, n))
    if name == "relu":  # exact: a comparison
        assert np.array_equal(dx, xt.grad.numpy().astype(np.float32))
    if name == "leaky_relu":  # exact: one float product
        assert np.array_equal(dx, np.where(x > 0, dy, dy * np.float32(slope)))
    # in place: dx may be dy itself, with the same result
    d2 = dy.copy()
    src = x if name == "leaky_relu" else y
    if name == "leaky_relu":
        assert LIB.tconv_leaky_relu_backward(fp(src), fp(d2), fp(d2), n, slope) == 0
    else:
        assert getattr(LIB, "tconv_%s_backward" % name)(fp(src), fp(d2), fp(d2), n) == 0
    assert np.array_equal(d2, dx)


def test_activation_backward_nan_and_refusals():
    y = np.array([np.nan, 0.0, -0.0, 2.0, -1.0], np.float32)
    dy = np.ones(5, np.float32)
    dx = poisoned(5)
    assert LIB.tconv_relu_backward(fp(y), fp(dy), fp(dx), 5) == 0
    yt = torch.from_numpy(y.astype(np.float64))
    ref = torch.ops.aten.threshold_backward(torch.ones(5, dtype=torch.float64), yt, 0).numpy()
    assert np.array_equal(dx, ref.astype(np.float32))  # NaN passes the gradient, as PyTorch
    assert LIB.tconv_tanh_backward(None, fp(dy), fp(dx), 5) == 1 and "saved tensor is NULL" in err()
    assert LIB.tconv_sigmoid_backward(fp(y), fp(dy), fp(dx), -1) == 1 and "n must be >= 0" in err()
    big = randn(64)
    assert LIB.tconv_tanh_backward(fp(big[:32]), fp(big[32:]), fp(big[16:48]), 32) == 1
    assert "overlap" in err()


# ---- Linear ----------------------------------------------------------------------------

def make_linear(i, o, bias, seed):
    m = Linear()
    assert LIB.tconv_linear_init(C.byref(m), I64(i), I64(o), bias, C.byref(rng_for(seed))) == 0, err()
    return m


@pytest.mark.parametrize("seed", range(12))
def test_linear_backward_random(tally, seed):
    r = np.random.default_rng(seed)
    lead = [int(v) for v in r.integers(1, 5, int(r.integers(0, 3)))]
    k, o = int(r.integers(1, 70)), int(r.integers(1, 70))
    bias = bool(r.integers(0, 2))
    m = make_linear(k, o, bias, seed)
    shape = lead + [k]
    x, dy = randn(*shape), randn(*(lead + [o]))
    w = arr(m.weight, k * o).copy().reshape(o, k)
    b = arr(m.bias, o).copy() if bias else None
    y = poisoned(dy.size)
    assert LIB.tconv_linear_forward(C.byref(m), len(shape), shp(shape), fp(x), fp(y), I64(y.size), None) == 0, err()
    dx = poisoned(x.size)
    for rep in range(2):  # the parameter gradients accumulate
        assert LIB.tconv_linear_backward(C.byref(m), len(shape), shp(shape), fp(x), fp(dy), fp(dx)) == 0, err()
    xt, wt = t64(x, True), t64(w, True)
    bt = t64(b, True) if bias else None
    yt = F.linear(xt, wt, bt)
    yt.backward(t64(dy))
    tally.cases += 1
    case = "linear %s -> %d bias=%s" % (shape, o, bias)
    agree(tally, y, yt.detach().numpy(), case + " y")
    agree(tally, dx, xt.grad.numpy(), case + " dx")
    agree(tally, arr(m.weight_grad, k * o), 2 * wt.grad.numpy(), case + " dw x2")
    if bias:
        agree(tally, arr(m.bias_grad, o), 2 * bt.grad.numpy(), case + " db x2")
    LIB.tconv_linear_zero_grad(C.byref(m))
    assert not np.any(arr(m.weight_grad, k * o))
    LIB.tconv_linear_free(C.byref(m))


def test_linear_backward_degenerate_and_refusals(tally):
    # no rows: dW, db += 0; in_features 0: dx empty, db += sum dy
    m = make_linear(0, 3, True, 1)
    dy = randn(2, 3)
    assert LIB.tconv_linear_backward(C.byref(m), 2, shp((2, 0)), None, fp(dy), None) == 0, err()
    agree(tally, arr(m.bias_grad, 3), dy.astype(np.float64).sum(0), "linear in=0 db")
    LIB.tconv_linear_free(C.byref(m))
    m = make_linear(5, 4, True, 2)
    x, dy, dx = randn(3, 5), randn(3, 4), poisoned(15)
    assert LIB.tconv_linear_backward(C.byref(m), 2, shp((3, 6)), fp(x), fp(dy), fp(dx)) == 1
    assert err() == "mat1 and mat2 shapes cannot be multiplied (3x6 and 5x4)"
    assert LIB.tconv_linear_backward(C.byref(m), 2, shp((3, 5)), None, fp(dy), fp(dx)) == 1
    assert "input is NULL" in err()
    assert LIB.tconv_linear_backward(C.byref(m), 2, shp((3, 5)), fp(x), fp(dy), fp(x)) == 1
    assert "overlap" in err()
    assert np.all(np.isnan(dx)) and not m.weight_grad  # nothing written, no .grad made
    LIB.tconv_linear_free(C.byref(m))


# ---- BatchNorm2d -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 16, 8, 8), (1, 5, 3, 1), (16, 8, 1, 1), (16, 8, 4, 4), (16, 4, 5, 3),
                                   (3, 2, 33, 17)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward(tally, shape, training):
    n, c, h, w = shape
    m = BatchNorm2d()
    assert LIB.tconv_batchnorm2d_init(C.byref(m), I64(c)) == 0
    g, b = randn(c) + 1, randn(c)
    arr(m.weight, c)[:] = g
    arr(m.bias, c)[:] = b
    t = nn.BatchNorm2d(c).double()
    with torch.no_grad():
        t.weight.copy_(t64(g))
        t.bias.copy_(t64(b))
    if not training:  # make the running statistics non-trivial first
        for _ in range(2):
            xw = randn(*shape, scale=2.0) + 0.5
            yw = poisoned(xw.size)
            assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(shape), fp(xw), fp(yw)) == 0
            with torch.no_grad():
                t(t64(xw))
        m.training = 0
        t.eval()
    x, dy = randn(*shape, scale=3.0) + 1.5, randn(*shape)
    y, dx = poisoned(x.size), poisoned(x.size)
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(shape), fp(x), fp(y)) == 0, err()
    for _ in range(2):
        assert LIB.tconv_batchnorm2d_backward(C.byref(m), 4, shp(shape), fp(x), fp(dy), fp(dx)) == 0, err()
    xt = t64(x, True)
    yt = t(xt)
    yt.backward(t64(dy))
    tally.cases += 1
    case = "batchnorm %s training=%s" % (shape, training)
    agree(tally, y, yt.detach().numpy(), case + " y")
    agree(tally, dx, xt.grad.numpy(), case + " dx")
    agree(tally, arr(m.weight_grad, c), 2 * t.weight.grad.numpy(), case + " dgamma x2")
    agree(tally, arr(m.bias_grad, c), 2 * t.bias.grad.numpy(), case + " dbeta x2")
    agree(tally, arr(m.running_mean, c), t.running_mean.numpy(), case + " running_mean")
    agree(tally, arr(m.running_var, c), t.running_var.numpy(), case + " running_var")
    # dx may be dy itself
    d2 = dy.copy()
    assert LIB.tconv_batchnorm2d_backward(C.byref(m), 4, shp(shape), fp(x), fp(d2), fp(d2)) == 0
    assert np.array_equal(d2.ravel(), dx)
    LIB.tconv_batchnorm2d_free(C.byref(m))


def test_batchnorm_backward_refusals():
    m = BatchNorm2d()
    assert LIB.tconv_batchnorm2d_init(C.byref(m), I64(3)) == 0
    x, dy, dx = randn(2, 3, 2, 2), randn(2, 3, 2, 2), poisoned(24)
    assert LIB.tconv_batchnorm2d_backward(C.byref(m), 4, shp((2, 3, 2, 2)), fp(x), fp(dy), fp(dx)) == 4
    assert "no forward" in err()
    y = poisoned(24)
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp((2, 3, 2, 2)), fp(x), fp(y)) == 0
    assert LIB.tconv_batchnorm2d_backward(C.byref(m), 4, shp((1, 3, 4, 2)), fp(x), fp(dy), fp(dx)) == 4
    assert "differs from the last forward's [2, 3, 2, 2]" in err()
    assert LIB.tconv_batchnorm2d_backward(C.byref(m), 3, shp((3, 2, 2)), fp(x), fp(dy), fp(dx)) == 1
    assert err() == "expected 4D input (got 3D input)"
    assert LIB.tconv_batchnorm2d_backward(C.byref(m), 4, shp((2, 3, 2, 2)), fp(x), fp(dy), fp(x)) == 1
    assert np.all(np.isnan(dx)) and not m.weight_grad
    LIB.tconv_batchnorm2d_free(C.byref(m))


# ---- MaxPool2d ---------------------------------------------------------------------------

def pool_params(k, s, p, d, ceil):
    pr = MaxPoolParams()
    LIB.tconv_maxpool2d_params_init(C.byref(pr), I64(k[0]), I64(k[1]))
    pr.stride[0], pr.stride[1] = s
    pr.padding[0], pr.padding[1] = p
    pr.dilation[0], pr.dilation[1] = d
    pr.ceil_mode = int(ceil)
    return pr


def test_maxpool_indices_and_backward_random(tally):
    r = np.random.default_rng(11)
    done = 0
    while done < 200:
        k = [int(v) for v in r.integers(1, 5, 2)]
        s = [int(v) for v in r.integers(1, 4, 2)]
        p = [int(r.integers(0, k[i] // 2 + 1)) for i in range(2)]
        d = [int(v) for v in r.integers(1, 3, 2)]
        ceil = bool(r.integers(0, 2))
        shape = [int(r.integers(1, 3)), int(r.integers(1, 4)), int(r.integers(1, 11)),
                 int(r.integers(1, 11))]
        if r.random() < 0.3:
            shape = shape[1:]
        # small integers: many ties; sometimes NaN and -inf
        x = r.integers(-3, 4, shape).astype(np.float32)
        if r.random() < 0.2:
            x.flat[r.integers(0, x.size)] = np.nan
        if r.random() < 0.2:
            x[...] = -np.inf
        pr = pool_params(k, s, p, d, ceil)
        try:
            ref, ind_ref = F.max_pool2d(t64(x), k, s, p, d, ceil, return_indices=True)
        except RuntimeError:
            continue
        n_out = ref.numel()
        y, ind = poisoned(n_out), np.full(n_out, -7, np.int64)
        os_ = shp([0] * len(shape))
        assert LIB.tconv_maxpool2d_with_indices(C.byref(pr), len(shape), shp(shape), fp(x), fp(y),
                                                i64p(ind), I64(n_out), os_) == 0, err()
        assert list(os_)[:len(shape)] == list(ref.shape)
        assert np.array_equal(y.reshape(ref.shape), ref.numpy().astype(np.float32), equal_nan=True)
        assert np.array_equal(ind.reshape(ref.shape), ind_ref.numpy()), (shape, k, s, p, d, ceil, x)
        # (a window with no input position at all gets an index outside the
        # plane, in PyTorch too; its backward would write out of bounds)
        if np.all(np.isfinite(x)) and np.all((ind >= 0) & (ind < shape[-1] * shape[-2])):
            dy = randn(*ref.shape)
            dx = poisoned(x.size)
            assert LIB.tconv_maxpool2d_backward(C.byref(pr), len(shape), shp(shape), i64p(ind),
                                                fp(dy), fp(dx), I64(x.size)) == 0, err()
            xt = t64(x, True)
            F.max_pool2d(xt, k, s, p, d, ceil).backward(t64(dy))
            agree(tally, dx, xt.grad.numpy(), "maxpool backward %s k%s s%s p%s d%s" % (shape, k, s, p, d))
        tally.cases += 1
        done += 1


@pytest.mark.parametrize("k,s,p,d", [((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (1, 1), (1, 1), (1, 1)),
                                     ((2, 3), (2, 2), (1, 1), (1, 1)), ((3, 2), (1, 2), (0, 1), (2, 1)),
                                     ((1, 4), (1, 3), (0, 2), (1, 1))])
def test_maxpool_wide_rows(tally, k, s, p, d):
    """Rows wider than the vector kernels' width (stride 1 and 2 run as vectors)."""
    shape = (2, 3, 9, 133)
    x = R.integers(-4, 5, shape).astype(np.float32)
    x[0, 0, 3, 17:40:3] = np.nan
    ref, ind_ref = F.max_pool2d(t64(x), k, s, p, d, return_indices=True)
    pr = pool_params(k, s, p, d, False)
    n_out = ref.numel()
    y, ind = poisoned(n_out), np.full(n_out, -7, np.int64)
    assert LIB.tconv_maxpool2d_with_indices(C.byref(pr), 4, shp(shape), fp(x), fp(y), i64p(ind),
                                            I64(n_out), None) == 0, err()
    assert np.array_equal(y.reshape(ref.shape), ref.numpy().astype(np.float32), equal_nan=True)
    assert np.array_equal(ind.reshape(ref.shape), ind_ref.numpy())
    y2 = poisoned(n_out)
    assert LIB.tconv_maxpool2d(C.byref(pr), 4, shp(shape), fp(x), fp(y2), I64(n_out), None) == 0
    assert np.array_equal(y2, y, equal_nan=True)
    x[np.isnan(x)] = 0
    ref, ind_ref = F.max_pool2d(t64(x), k, s, p, d, return_indices=True)
    ind = np.ascontiguousarray(ind_ref.numpy().ravel())
    dy, dx = randn(*ref.shape), poisoned(x.size)
    assert LIB.tconv_maxpool2d_backward(C.byref(pr), 4, shp(shape), i64p(ind), fp(dy), fp(dx),
                                        I64(x.size)) == 0, err()
    xt = t64(x, True)
    F.max_pool2d(xt, k, s, p, d).backward(t64(dy))
    agree(tally, dx, xt.grad.numpy(), "maxpool wide k%s s%s" % (k, s))
    tally.cases += 1


def test_maxpool_bounded_and_refusals():
    # a hang fails the run after 60 s instead of stalling it
    import faulthandler
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        maxpool_bounded_and_refusals()
    finally:
        faulthandler.cancel_dump_traceback_later()


def maxpool_bounded_and_refusals():
    # a kernel of 2^34 on a 1x1 input: one tap, not minutes
    pr = pool_params((1 << 34, 1 << 34), (1, 1), (1 << 33, 1 << 33), (1, 1), False)
    x = np.array([2.5], np.float32)
    os_ = shp([0] * 4)
    assert LIB.tconv_maxpool2d_output_shape(C.byref(pr), 4, shp((1, 1, 1, 1)), os_) == 0, err()
    n = int(np.prod(list(os_)))
    y, ind = poisoned(n), np.zeros(n, np.int64)
    assert LIB.tconv_maxpool2d_with_indices(C.byref(pr), 4, shp((1, 1, 1, 1)), fp(x), fp(y),
                                            i64p(ind), I64(n), None) == 0, err()
    assert np.all(y == 2.5) and np.all(ind == 0)
    LIB.tconv_maxpool2d_params_init(None, I64(2), I64(2))  # no crash
    LIB.tconv_rng_init(None, 5)
    pr = pool_params((2, 2), (2, 2), (0, 0), (1, 1), False)
    ind = np.array([0, 5, 3, 16], np.int64)  # 16 is outside the 4x4 plane
    dy, dx = randn(4), poisoned(16)
    assert LIB.tconv_maxpool2d_backward(C.byref(pr), 3, shp((1, 4, 4)), i64p(ind), fp(dy), fp(dx), I64(16)) == 1
    assert "index 16 at position 3 is outside the input plane of 16 elements" in err()
    assert np.all(np.isnan(dx))
    assert LIB.tconv_maxpool2d_backward(C.byref(pr), 3, shp((1, 4, 4)), i64p(ind), fp(dy), fp(dx), I64(15)) == 1
    assert "needs 16" in err()


# ---- cat ----------------------------------------------------------------------------------

I64PP = C.POINTER(C.POINTER(C.c_int64))


def test_cat_backward_random(tally):
    r = np.random.default_rng(5)
    for _ in range(100):
        nd = int(r.integers(1, 5))
        base = [int(v) for v in r.integers(1, 4, nd)]
        dim = int(r.integers(-nd, nd))
        shapes = []
        for _ in range(int(r.integers(1, 4))):
            s = list(base)
            s[dim] = int(r.integers(0, 4))
            shapes.append(s)
        xs = [t64(randn(*s), True) for s in shapes]
        y = torch.cat(xs, dim)
        dy = randn(*y.shape)
        y.backward(t64(dy))
        outs = [poisoned(int(np.prod(s))) for s in shapes]
        cs = [shp(s) for s in shapes]
        shape_ptrs = (C.POINTER(C.c_int64) * len(shapes))(*[C.cast(c, C.POINTER(C.c_int64)) for c in cs])
        ptrs = (C.POINTER(C.c_float) * len(shapes))(*[fp(o) for o in outs])
        assert LIB.tconv_cat_backward(len(shapes), shape_ptrs, nd, dim, fp(dy), ptrs) == 0, err()
        for o, xt in zip(outs, xs):
            assert np.array_equal(o.reshape(xt.shape), xt.grad.numpy().astype(np.float32))
        tally.cases += 1
    # large: the copies run in chunks over threads
    shapes = [(2, 40, 64, 64), (2, 24, 64, 64), (2, 1, 64, 64)]
    xs = [randn(*sh) for sh in shapes]
    ref = np.concatenate(xs, 1)
    y = poisoned(ref.size)
    cs = [shp(sh) for sh in shapes]
    shape_ptrs = (C.POINTER(C.c_int64) * 3)(*[C.cast(c, C.POINTER(C.c_int64)) for c in cs])
    xptrs = (C.POINTER(C.c_float) * 3)(*[fp(x) for x in xs])
    assert LIB.tconv_cat(3, xptrs, shape_ptrs, 4, 1, fp(y), I64(y.size), None) == 0, err()
    assert np.array_equal(y.reshape(ref.shape), ref)
    outs = [poisoned(x.size) for x in xs]
    ptrs = (C.POINTER(C.c_float) * 3)(*[fp(o) for o in outs])
    assert LIB.tconv_cat_backward(3, shape_ptrs, 4, -3, fp(y), ptrs) == 0, err()
    assert all(np.array_equal(o.reshape(x.shape), x) for o, x in zip(outs, xs))
    s = [shp((1, 2, 3)), shp((1, 4, 3))]
    sp = (C.POINTER(C.c_int64) * 2)(*[C.cast(c, C.POINTER(C.c_int64)) for c in s])
    o = poisoned(6)
    ptrs = (C.POINTER(C.c_float) * 2)(fp(o), None)
    assert LIB.tconv_cat_backward(2, sp, 3, 2, fp(randn(18)), ptrs) == 1
    assert err() == ("Sizes of tensors must match except in dimension 2. Expected size 2 but got "
                     "size 4 for tensor number 1 in the list.")
    assert np.all(np.isnan(o))


# ---- the conv modules --------------------------------------------------------------------

def ct_module(cin, cout, k, s, p, op, d, g, bias, seed):
    pr = CT2dParams()
    LIB.tconv_conv_transpose2d_params_init(C.byref(pr), I64(cin), I64(cout), I64(k[0]), I64(k[1]))
    pr.stride[0], pr.stride[1] = s
    pr.padding[0], pr.padding[1] = p
    pr.output_padding[0], pr.output_padding[1] = op
    pr.dilation[0], pr.dilation[1] = d
    pr.groups = g
    m = CT2dModule()
    st = LIB.tconv_conv_transpose2d_module_init(C.byref(m), C.byref(pr), int(bias), C.byref(rng_for(seed)))
    return m, st


def conv_module(cin, cout, k, s, p, d, g, bias, mode, seed):
    pr = Conv2dParams()
    LIB.tconv_conv2d_params_init(C.byref(pr), I64(cin), I64(cout), I64(k[0]), I64(k[1]))
    pr.stride[0], pr.stride[1] = s
    pr.padding[0], pr.padding[1] = p
    pr.dilation[0], pr.dilation[1] = d
    pr.groups = g
    pr.padding_mode = mode
    m = Conv2dModule()
    st = LIB.tconv_conv2d_module_init(C.byref(m), C.byref(pr), int(bias), C.byref(rng_for(seed)))
    return m, st


MODES = ["zeros", "reflect", "replicate", "circular"]


@pytest.mark.parametrize("seed", range(16))
def test_conv_modules_backward_random(tally, seed):
    r = np.random.default_rng(100 + seed)
    transposed = seed % 2 == 0
    g = int(r.choice([1, 1, 2]))
    cin, cout = g * int(r.integers(1, 5)), g * int(r.integers(1, 5))
    k = [int(v) for v in r.integers(1, 4, 2)]
    s = [int(v) for v in r.integers(1, 3, 2)]
    d = [int(v) for v in r.integers(1, 3, 2)]
    p = [int(r.integers(0, k[i])) for i in range(2)]
    bias = bool(r.integers(0, 2))
    n, h, w = int(r.integers(1, 3)), int(r.integers(3, 8)), int(r.integers(3, 8))
    x = randn(n, cin, h, w)
    if transposed:
        op = [int(r.integers(0, max(s[i], d[i]))) if r.random() < 0.3 else 0 for i in range(2)]
        m, st = ct_module(cin, cout, k, s, p, op, d, g, bias, seed)
        assert st == 0, err()
        wshape = (cin, cout // g, k[0], k[1])
        tm = nn.ConvTranspose2d(cin, cout, k, s, p, op, g, bias, d).double()
        fwd, bwd = LIB.tconv_conv_transpose2d_module_forward, LIB.tconv_conv_transpose2d_module_backward
        extra = (None, 0)
    else:
        mode = int(r.integers(0, 4)) if max(p) < min(h, w) else 0
        m, st = conv_module(cin, cout, k, s, p, d, g, bias, mode, seed)
        assert st == 0, err()
        wshape = (cout, cin // g, k[0], k[1])
        tm = nn.Conv2d(cin, cout, k, s, p, d, g, bias, MODES[mode]).double()
        fwd, bwd = LIB.tconv_conv2d_module_forward, LIB.tconv_conv2d_module_backward
        extra = ()
    wn = int(np.prod(wshape))
    with torch.no_grad():
        tm.weight.copy_(t64(arr(m.weight, wn).reshape(wshape)))
        if bias:
            tm.bias.copy_(t64(arr(m.bias, cout)))
    xt = t64(x, True)
    try:
        yt = tm(xt)
    except RuntimeError:
        pytest.skip("PyTorch refuses this geometry")
    dy = randn(*yt.shape)
    yt.backward(t64(dy))
    y, ys = poisoned(yt.numel()), shp([0] * 4)
    assert fwd(C.byref(m), 4, shp(x.shape), fp(x), *extra, fp(y), I64(y.size), ys) == 0, err()
    dx = poisoned(x.size)
    for _ in range(2):  # .grad accumulates
        assert bwd(C.byref(m), 4, shp(x.shape), fp(x), *extra, fp(dy), fp(dx)) == 0, err()
    tally.cases += 1
    case = "%s cin%d cout%d k%s s%s p%s d%s g%d bias=%s" % (
        "ct" if transposed else "conv2d", cin, cout, k, s, p, d, g, bias)
    agree(tally, y, yt.detach().numpy(), case + " y")
    agree(tally, dx, xt.grad.numpy(), case + " dx")
    agree(tally, arr(m.weight_grad, wn), 2 * tm.weight.grad.numpy().ravel(), case + " dw x2")
    if bias:
        agree(tally, arr(m.bias_grad, cout), 2 * tm.bias.grad.numpy(), case + " db x2")
    # input gradient not wanted: NULL is fine and dx stays untouched
    assert bwd(C.byref(m), 4, shp(x.shape), fp(x), *extra, fp(dy), None) == 0, err()
    agree(tally, arr(m.weight_grad, wn), 3 * tm.weight.grad.numpy().ravel(), case + " dw x3")
    free = LIB.tconv_conv_transpose2d_module_free if transposed else LIB.tconv_conv2d_module_free
    free(C.byref(m))


def test_conv_module_backward_refusals():
    m, st = ct_module(4, 2, (3, 3), (2, 2), (1, 1), (0, 0), (1, 1), 1, True, 3)
    assert st == 0
    x, dy, dx = randn(1, 4, 3, 3), randn(1, 2, 5, 5), poisoned(36)
    bwd = LIB.tconv_conv_transpose2d_module_backward
    assert bwd(C.byref(m), 4, shp((1, 3, 3, 3)), fp(x), None, 0, fp(dy), fp(dx)) == 1
    ref = str(pytest.raises(RuntimeError, lambda: F.conv_transpose2d(
        torch.zeros(1, 3, 3, 3), torch.zeros(4, 2, 3, 3), None, 2, 1)).value)
    assert err() == ref.splitlines()[0]
    assert bwd(C.byref(m), 4, shp((1, 4, 3, 3)), None, None, 0, fp(dy), fp(dx)) == 1
    assert "input is NULL" in err()
    assert bwd(C.byref(m), 4, shp((1, 4, 3, 3)), fp(x), None, 0, fp(dy), fp(dy)) == 1
    assert "overlap" in err()
    assert np.all(np.isnan(dx)) and not m.weight_grad
    LIB.tconv_conv_transpose2d_module_free(C.byref(m))
