"""Every nn layer of libtconv (the issue-4 part of include/tconv.h) against
PyTorch: random inputs and parameters, edge values, and refusals with
PyTorch's messages.  Calls the C API directly through ctypes (the Python
binding does not wrap these layers).  Outputs are poisoned with NaN before
each call so an unwritten element fails.

Run: /usr/bin/python3 -m pytest tests/python  (library: TCONV_LIBRARY, else
build/libtconv.so).
"""
import ctypes as C

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nn_ctypes import (LIB, I64, FP, I64P, Linear, BatchNorm2d, MaxPoolParams,  # noqa: E402
                       CT2dParams, Conv2dParams, CT2dModule, Conv2dModule, Rng)

LIB.tconv_rng_fill_uniform.argtypes = [C.POINTER(Rng), FP, I64, C.c_double, C.c_double]


def fp(a):
    return a.ctypes.data_as(FP) if a is not None else None


def shp(s):
    return (I64 * max(1, len(s)))(*s)


def err():
    return LIB.tconv_last_error().decode()


def poisoned(n):
    return np.full(max(n, 0), np.nan, np.float32)


def torch_error(f):
    try:
        f()
    except Exception as e:  # noqa: BLE001 - PyTorch raises RuntimeError/ValueError/IndexError
        return str(e).splitlines()[0]
    raise AssertionError("PyTorch accepted it")


RNG = np.random.default_rng(1234)


def randn(*s):
    return RNG.standard_normal(s).astype(np.float32)


# ---- activations -------------------------------------------------------------------

EDGE = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 3.0, -3.0, 20.0, -20.0, 89.0, -89.0, 1e30,
                 -1e30, np.inf, -np.inf, np.nan], np.float32)


@pytest.mark.parametrize("name,ref", [
    ("relu", torch.relu), ("tanh", torch.tanh), ("sigmoid", torch.sigmoid),
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.01)), ("leaky_relu_0.2", lambda t: F.leaky_relu(t, 0.2))])
def test_activation(name, ref):
    x = np.concatenate([randn(1000) * 4, EDGE])
    y = poisoned(x.size)
    if name.startswith("leaky"):
        slope = 0.2 if name.endswith("0.2") else 0.01
        assert LIB.tconv_leaky_relu(fp(x), fp(y), x.size, slope) == 0
    else:
        assert getattr(LIB, "tconv_" + name)(fp(x), fp(y), x.size) == 0, err()
    r = ref(torch.from_numpy(x)).numpy()
    assert np.array_equal(np.isnan(y), np.isnan(r)), "NaN in the wrong places"
    ok = ~np.isnan(r)
    if name in ("relu",) or name.startswith("leaky"):
        assert np.array_equal(y[ok], r[ok])  # exact: one comparison / one product
    else:
        # C rounds the double result once; PyTorch's float kernels are within a few ulps.
        assert np.max(np.abs(y[ok].astype(np.float64) - r[ok])) <= 4e-7
    # in place (inplace=True)
    z = x.copy()
    fn = getattr(LIB, "tconv_" + name.split("_0")[0]) if not name.startswith("leaky") else None
    if fn:
        assert fn(fp(z), fp(z), z.size) == 0
        assert np.array_equal(z, y, equal_nan=True)


def test_activation_refusals():
    x = randn(4)
    assert LIB.tconv_relu(fp(x), fp(x), -1) == 1 and "n must be >= 0, got -1" in err()
    assert LIB.tconv_tanh(None, fp(x), 4) == 1 and "NULL" in err()
    assert LIB.tconv_sigmoid(None, None, 0) == 0  # empty is fine


# ---- Linear -------------------------------------------------------------------------

def make_linear(i, o, bias=True, seed=None):
    m = Linear()
    rng = None
    if seed is not None:
        rng = Rng()
        LIB.tconv_rng_init(C.byref(rng), seed)
    assert LIB.tconv_linear_init(C.byref(m), I64(i), I64(o), bias,
                                 C.byref(rng) if rng else None) == 0, err()
    return m


def arr(ptr, n):
    return np.ctypeslib.as_array(ptr, shape=(n,)) if n else np.zeros(0, np.float32)


@pytest.mark.parametrize("in_shape,out_f,bias", [
    ((3, 7), 5, True), ((7,), 4, True), ((2, 3, 6), 9, False), ((0, 5), 4, True),
    ((4, 0), 3, True), ((2, 2, 2, 3), 1, True), ((1, 100), 64, True)])
def test_linear_vs_torch(in_shape, out_f, bias):
    k = in_shape[-1]
    m = make_linear(k, out_f, bias, seed=5)
    w, b = arr(m.weight, k * out_f), arr(m.bias, out_f) if bias else None
    w[:] = randn(w.size)
    if bias:
        b[:] = randn(out_f)
    x = randn(*in_shape)
    n_out = int(np.prod(in_shape[:-1])) * out_f
    y, ys = poisoned(n_out), shp([0] * len(in_shape))
    assert LIB.tconv_linear_forward(C.byref(m), len(in_shape), shp(in_shape), fp(x), fp(y),
                                    I64(n_out), ys) == 0, err()
    ref = F.linear(torch.from_numpy(x).double(), torch.from_numpy(w.reshape(out_f, k)).double(),
                   torch.from_numpy(b).double() if bias else None)
    assert list(ys) == list(ref.shape)
    np.testing.assert_allclose(y.reshape(ref.shape), ref.numpy(), rtol=0, atol=1e-6 * max(1, k))
    LIB.tconv_linear_free(C.byref(m))


def test_linear_refusals():
    m = make_linear(5, 4)
    x, y = randn(6), poisoned(100)
    for s in [(2, 3), (3,), (4, 1, 3)]:
        assert LIB.tconv_linear_forward(C.byref(m), len(s), shp(s), fp(x), fp(y), I64(100),
                                        None) == 1
        ref = torch_error(lambda: F.linear(torch.zeros(s), torch.zeros(4, 5)))
        assert err() == ref, (err(), ref)
    assert LIB.tconv_linear_forward(C.byref(m), 2, shp((2, 5)), fp(randn(10)), fp(y), I64(7),
                                    None) == 1 and "needs 8" in err()
    assert np.all(np.isnan(y)), "written on failure"
    m2 = Linear()
    assert LIB.tconv_linear_init(C.byref(m2), I64(-1), I64(3), 1, None) == 1
    assert "negative dimension" in err()
    assert LIB.tconv_linear_init(C.byref(m2), I64(1 << 40), I64(1 << 40), 1, None) == 2  # overflow


def test_linear_default_init_distribution():
    """kaiming_uniform(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in)), bias too, as PyTorch."""
    k, o = 50, 400
    m = make_linear(k, o, True, seed=11)
    w, b = arr(m.weight, k * o).copy(), arr(m.bias, o).copy()
    bound = 1 / np.sqrt(k)
    t = nn.Linear(k, o)
    tw = t.weight.detach().numpy().ravel()
    for ours, theirs in ((w, tw), (b, t.bias.detach().numpy())):
        assert np.all(np.abs(ours) <= bound) and np.all(np.abs(theirs) <= bound)
        assert np.max(np.abs(ours)) > 0.95 * bound  # the whole interval is used
    assert abs(w.mean()) < 0.02 * bound * 5 and abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound
    assert abs(tw.std() - bound / np.sqrt(3)) < 0.02 * bound
    # Seeded: same seed, same weights; other seed, others.
    m2, m3 = make_linear(k, o, True, seed=11), make_linear(k, o, True, seed=12)
    assert np.array_equal(arr(m2.weight, k * o), w)
    assert not np.array_equal(arr(m3.weight, k * o), w)
    m4 = make_linear(k, o, True, seed=None)  # rng NULL: zeros, for loading
    assert not np.any(arr(m4.weight, k * o)) and not np.any(arr(m4.bias, o))


# ---- BatchNorm2d --------------------------------------------------------------------

def make_bn(c):
    m = BatchNorm2d()
    assert LIB.tconv_batchnorm2d_init(C.byref(m), I64(c)) == 0, err()
    return m


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 4, 3, 3), (8, 2, 1, 1), (3, 1, 7, 2)])
def test_batchnorm_train_then_eval(shape):
    n, c, h, w = shape
    m = make_bn(c)
    t = nn.BatchNorm2d(c).double()
    assert m.training == 1 and t.training and m.eps == 1e-5 and m.momentum == 0.1
    g, b = randn(c) + 1, randn(c)
    arr(m.weight, c)[:] = g
    arr(m.bias, c)[:] = b
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(g))
        t.bias.copy_(torch.from_numpy(b))
    for step in range(3):  # training: batch stats, running stats updated each time
        x = randn(*shape) * 3 + 1.5
        y = poisoned(x.size)
        assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(shape), fp(x), fp(y)) == 0, err()
        with torch.no_grad():
            ref = t(torch.from_numpy(x).double()).numpy()
        np.testing.assert_allclose(y.reshape(shape), ref, rtol=0, atol=2e-5)
        np.testing.assert_allclose(arr(m.running_mean, c), t.running_mean.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(arr(m.running_var, c), t.running_var.numpy(), rtol=1e-6, atol=1e-6)
        assert m.num_batches_tracked == t.num_batches_tracked.item() == step + 1
    m.training = 0  # eval: running stats, nothing updated
    t.eval()
    rm = arr(m.running_mean, c).copy()
    x = randn(*shape)
    with torch.no_grad():
        ref = t(torch.from_numpy(x).double()).numpy()
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(shape), fp(x), fp(x)) == 0  # in place
    np.testing.assert_allclose(x.reshape(shape), ref, rtol=0, atol=2e-5)
    assert np.array_equal(arr(m.running_mean, c), rm) and m.num_batches_tracked == 3
    LIB.tconv_batchnorm2d_free(C.byref(m))


def test_batchnorm_running_var_is_unbiased():
    """Normalise with the biased variance, track the unbiased one (n/(n-1))."""
    x = np.array([1, 2, 3, 6], np.float32).reshape(2, 1, 2, 1)
    m = make_bn(1)
    y = poisoned(4)
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(x.shape), fp(x), fp(y)) == 0
    var_b, var_u = np.var([1, 2, 3, 6]), np.var([1, 2, 3, 6], ddof=1)
    assert abs(arr(m.running_var, 1)[0] - (0.9 + 0.1 * var_u)) < 1e-6
    assert abs(arr(m.running_mean, 1)[0] - 0.1 * 3.0) < 1e-6
    np.testing.assert_allclose(y, (np.array([1, 2, 3, 6]) - 3) / np.sqrt(var_b + 1e-5), atol=1e-6)


def test_batchnorm_momentum_none():
    """momentum=None (tconv: -1): running stats are the cumulative average."""
    m, t = make_bn(2), nn.BatchNorm2d(2, momentum=None).double()
    m.momentum = -1.0
    for _ in range(4):
        x = randn(3, 2, 2, 2) * 2 + 1
        y = poisoned(x.size)
        assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(x.shape), fp(x), fp(y)) == 0, err()
        with torch.no_grad():
            ref = t(torch.from_numpy(x).double()).numpy()
        np.testing.assert_allclose(y.reshape(x.shape), ref, rtol=0, atol=2e-5)
    np.testing.assert_allclose(arr(m.running_mean, 2), t.running_mean.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(arr(m.running_var, 2), t.running_var.numpy(), rtol=1e-6, atol=1e-6)
    m.momentum = 1.5
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp(x.shape), fp(x), fp(y)) == 1
    assert "momentum 1.5" in err()


def test_batchnorm_zero_batch_and_refusals():
    m = make_bn(3)
    x = randn(0)
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp((0, 3, 2, 2)), fp(x), fp(x)) == 0
    t = nn.BatchNorm2d(3)
    t(torch.zeros(0, 3, 2, 2))
    assert m.num_batches_tracked == t.num_batches_tracked.item() == 1
    assert np.array_equal(arr(m.running_mean, 3), t.running_mean.numpy())
    assert np.array_equal(arr(m.running_var, 3), t.running_var.numpy())
    x, y = randn(48), poisoned(48)
    cases = [((3, 4, 4), lambda: t(torch.zeros(3, 4, 4))),
             ((1, 3, 1, 1), lambda: nn.BatchNorm2d(3)(torch.zeros(1, 3, 1, 1))),
             ((2, 4, 1, 1), lambda: nn.BatchNorm2d(3)(torch.zeros(2, 4, 1, 1)))]
    for s, f in cases:
        assert LIB.tconv_batchnorm2d_forward(C.byref(m), len(s), shp(s), fp(x), fp(y)) == 1
        assert err() == torch_error(f), (err(), torch_error(f))
    assert np.all(np.isnan(y)) and m.num_batches_tracked == 1
    m.training = 0  # eval accepts one value per channel, as PyTorch
    assert LIB.tconv_batchnorm2d_forward(C.byref(m), 4, shp((1, 3, 1, 1)), fp(x), fp(y)) == 0


# ---- MaxPool2d ----------------------------------------------------------------------

def pool_params(k, s=None, p=(0, 0), d=(1, 1), ceil=False):
    pr = MaxPoolParams()
    LIB.tconv_maxpool2d_params_init(C.byref(pr), I64(k[0]), I64(k[1]))
    if s is not None:
        pr.stride[0], pr.stride[1] = s
    pr.padding[0], pr.padding[1] = p
    pr.dilation[0], pr.dilation[1] = d
    pr.ceil_mode = int(ceil)
    return pr


def run_pool(pr, x):
    nd = x.ndim
    os_ = shp([0] * nd)
    st = LIB.tconv_maxpool2d_output_shape(C.byref(pr), nd, shp(x.shape), os_)
    if st:
        return st, None
    n = int(np.prod(list(os_)))
    y = poisoned(n)
    st = LIB.tconv_maxpool2d(C.byref(pr), nd, shp(x.shape), fp(x), fp(y), I64(n), os_)
    return st, y.reshape(list(os_))


def test_maxpool_random_vs_torch():
    rng = np.random.default_rng(7)
    cases = 0
    while cases < 300:
        k = rng.integers(1, 5, 2)
        s = rng.integers(1, 4, 2)
        p = [rng.integers(0, k[i] // 2 + 1) for i in range(2)]
        d = rng.integers(1, 3, 2)
        ceil = bool(rng.integers(0, 2))
        shape = [int(rng.integers(0, 3)) if rng.random() < 0.1 else int(rng.integers(1, 3)),
                 int(rng.integers(1, 4)), int(rng.integers(1, 10)), int(rng.integers(1, 10))]
        if rng.random() < 0.3:
            shape = shape[1:]
        x = rng.standard_normal(shape).astype(np.float32)
        pr = pool_params(k, tuple(s), tuple(p), tuple(d), ceil)
        st, y = run_pool(pr, x)
        try:
            ref = F.max_pool2d(torch.from_numpy(x), tuple(k), tuple(s), tuple(p), tuple(d), ceil)
        except RuntimeError as e:
            assert st == 1, "PyTorch refused (%s), tconv accepted" % e
            assert err() == str(e).splitlines()[0], (err(), str(e))
            continue
        assert st == 0, err()
        assert y.shape == tuple(ref.shape)
        assert np.array_equal(y, ref.numpy())  # max is exact
        cases += 1


def test_maxpool_seed_shapes_and_nan():
    x = randn(1, 64, 32, 32)
    st, y = run_pool(pool_params((2, 2)), x)
    assert st == 0 and y.shape == (1, 64, 16, 16)
    assert np.array_equal(y, F.max_pool2d(torch.from_numpy(x), 2).numpy())
    x = randn(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    st, y = run_pool(pool_params((2, 2)), x)
    ref = F.max_pool2d(torch.from_numpy(x), 2).numpy()
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(ref[0, 0, 0, 0])
    assert np.array_equal(y, ref, equal_nan=True)


@pytest.mark.parametrize("shape,k,s,p,d,ceil", [
    ((1, 3, 4, 4), (0, 0), (0, 0), (0, 0), (1, 1), False),
    ((1, 3, 4, 4), (0, 0), (1, 1), (0, 0), (1, 1), False),
    ((1, 3, 4, 4), (2, 2), (-1, -1), (0, 0), (1, 1), False),
    ((1, 3, 4, 4), (2, 2), (2, 2), (0, 0), (1, 0), False),
    ((1, 3, 4, 4), (3, 3), (3, 3), (2, 2), (1, 1), False),
    ((1, 3, 4, 4), (3, 3), (3, 3), (-1, 0), (1, 1), False),
    ((1, 3, 1, 1), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 0, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 3, 4, 0), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 3, 4, 4), (5, 5), (5, 5), (0, 0), (1, 1), False),
    ((1, 3, 2, 9), (2, 2), (1, 1), (0, 1), (2, 2), True)])
def test_maxpool_refusals(shape, k, s, p, d, ceil):
    x = np.zeros(shape, np.float32)
    st, _ = run_pool(pool_params(k, s, p, d, ceil), x)
    ref = torch_error(lambda: F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil))
    assert st == 1 and err() == ref, (err(), ref)


# ---- cat and view -------------------------------------------------------------------

def run_cat(arrays, dim):
    nd = arrays[0].ndim
    xs = (FP * len(arrays))(*[fp(a) for a in arrays])
    shapes_c = [shp(a.shape) for a in arrays]
    shapes = (I64P * len(arrays))(*[C.cast(s, I64P) for s in shapes_c])
    cap = sum(a.size for a in arrays)
    y, ys = poisoned(cap), shp([0] * nd)
    st = LIB.tconv_cat(len(arrays), xs, shapes, nd, dim, fp(y), I64(cap), ys)
    return st, y, list(ys)[:nd]


def test_cat_random_vs_torch():
    rng = np.random.default_rng(3)
    for _ in range(200):
        nd = int(rng.integers(1, 5))
        base = [int(v) for v in rng.integers(0, 4, nd)]
        dim = int(rng.integers(-nd, nd))
        arrays = []
        for _ in range(int(rng.integers(1, 4))):
            s = list(base)
            s[dim] = int(rng.integers(0, 4))
            arrays.append(rng.standard_normal(s).astype(np.float32))
        st, y, ys = run_cat(arrays, dim)
        ref = torch.cat([torch.from_numpy(a) for a in arrays], dim)
        assert st == 0, err()
        assert ys == list(ref.shape) and np.array_equal(y.reshape(ys), ref.numpy())


def test_cat_skip_connection_and_refusals():
    a, b = randn(2, 32, 8, 8), randn(2, 16, 8, 8)  # seed 004: cat([up(x), skip], dim=1)
    st, y, ys = run_cat([a, b], 1)
    assert st == 0 and ys == [2, 48, 8, 8]
    assert np.array_equal(y.reshape(ys), torch.cat([torch.from_numpy(a), torch.from_numpy(b)], 1).numpy())
    c = randn(1, 2, 4, 3)
    st, _, _ = run_cat([randn(1, 2, 3, 3), c], 1)
    assert st == 1 and err() == torch_error(lambda: torch.cat([torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 3)], 1))
    st, _, _ = run_cat([randn(1, 2, 3, 3)], 4)
    assert st == 1 and err() == torch_error(lambda: torch.cat([torch.zeros(1, 2, 3, 3)], 4))
    assert LIB.tconv_cat(0, None, None, 4, 1, None, I64(0), None) == 1
    assert err() == torch_error(lambda: torch.cat([], 1))


def run_view(shape, new):
    out = shp([0] * len(new))
    st = LIB.tconv_view_shape(len(shape), shp(shape), len(new), shp(new), out)
    return st, list(out)[:len(new)]


@pytest.mark.parametrize("shape,new", [
    ((2, 8192), (-1, 512, 4, 4)), ((2, 3), (6,)), ((2, 3), (3, -1)), ((0, 3), (0, -1)),
    ((4, 1, 1), (-1,)), ((5,), (1, 5, 1)), ((), (1, -1)), ((1,), ()),
    ((2, 3), (-1, -1)), ((2, 3), (-2, 3)), ((2, 3), (4, -1)), ((0, 3), (-1, 0)), ((2, 3), (7,)),
    ((2, 3), (0, -1))])
def test_view_vs_torch(shape, new):
    t = torch.zeros(shape)
    st, out = run_view(shape, new)
    try:
        ref = list(t.view(new).shape)
    except RuntimeError as e:
        assert st == 1 and err() == str(e).splitlines()[0], (err(), str(e))
        return
    assert st == 0 and out == ref, err()


# ---- ConvTranspose2d / Conv2d modules: default init and forward ----------------------

def test_conv_modules_default_init_and_forward():
    rng = Rng()
    LIB.tconv_rng_init(C.byref(rng), 42)
    p = CT2dParams()
    LIB.tconv_conv_transpose2d_params_init(C.byref(p), I64(8), I64(6), I64(3), I64(2))
    p.groups, p.stride[0], p.stride[1], p.padding[0] = 2, 2, 1, 1
    m = CT2dModule()
    assert LIB.tconv_conv_transpose2d_module_init(C.byref(m), C.byref(p), 1, C.byref(rng)) == 0, err()
    wn = 8 * 3 * 3 * 2
    w, b = arr(m.weight, wn), arr(m.bias, 6)
    t = nn.ConvTranspose2d(8, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2)
    bound = 1 / np.sqrt(3 * 3 * 2)  # fan_in = weight.size(1) * kH * kW = (6/2)*3*2
    for ours, theirs in ((w, t.weight), (b, t.bias)):
        assert np.all(np.abs(ours) <= bound) and float(theirs.abs().max()) <= bound
    assert np.max(np.abs(w)) > 0.8 * bound
    x = randn(2, 8, 5, 4)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(w.reshape(8, 3, 3, 2)))
        t.bias.copy_(torch.from_numpy(b))
        ref = t.double()(torch.from_numpy(x).double()).numpy()
    y, ys = poisoned(ref.size), shp([0] * 4)
    assert LIB.tconv_conv_transpose2d_module_forward(C.byref(m), 4, shp(x.shape), fp(x), None, 0,
                                                     fp(y), I64(y.size), ys) == 0, err()
    assert list(ys) == list(ref.shape)
    np.testing.assert_allclose(y.reshape(ref.shape), ref, rtol=0, atol=1e-5)
    LIB.tconv_conv_transpose2d_module_free(C.byref(m))

    q = Conv2dParams()
    LIB.tconv_conv2d_params_init(C.byref(q), I64(6), I64(4), I64(3), I64(3))
    q.groups, q.padding[0], q.padding[1] = 2, 1, 1
    cm = Conv2dModule()
    assert LIB.tconv_conv2d_module_init(C.byref(cm), C.byref(q), 0, C.byref(rng)) == 0, err()
    assert not cm.bias
    w = arr(cm.weight, 4 * 3 * 9)
    bound = 1 / np.sqrt(3 * 9)  # (in/groups) * kH * kW
    assert np.all(np.abs(w) <= bound) and np.max(np.abs(w)) > 0.8 * bound
    x = randn(1, 6, 7, 5)
    ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w.reshape(4, 3, 3, 3)).double(),
                   None, 1, 1, 1, 2).numpy()
    y, ys = poisoned(ref.size), shp([0] * 4)
    assert LIB.tconv_conv2d_module_forward(C.byref(cm), 4, shp(x.shape), fp(x), fp(y),
                                           I64(y.size), ys) == 0, err()
    np.testing.assert_allclose(y.reshape(ref.shape), ref, rtol=0, atol=1e-5)
    LIB.tconv_conv2d_module_free(C.byref(cm))
    # The constructor's checks: groups must divide the channels.
    p.groups = 3
    assert LIB.tconv_conv_transpose2d_module_init(C.byref(m), C.byref(p), 1, None) == 1
    assert "groups" in err()


def test_rng_streams():
    rng = Rng()
    LIB.tconv_rng_init(C.byref(rng), 9)
    z = poisoned(100000)
    assert LIB.tconv_rng_fill_normal(C.byref(rng), fp(z), I64(z.size)) == 0
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02 and np.all(np.isfinite(z))
    u = poisoned(100000)
    assert LIB.tconv_rng_fill_uniform(C.byref(rng), fp(u), I64(u.size), -0.5, 0.25) == 0
    assert u.min() >= -0.5 and u.max() < 0.25 and abs(u.mean() + 0.125) < 0.01
    assert LIB.tconv_rng_fill_uniform(C.byref(rng), fp(u), I64(4), 1.0, 0.0) == 1
