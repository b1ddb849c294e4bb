"""The Python binding itself: import and library search, errors, argument
forms, the modules' weights (shapes, PyTorch's initial distribution,
seeding, read-only parameters), options (impl, threads) and the Operator API."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tconv
from conftest import ROOT, TALLY, TOL

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402


def t64(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def _python(code, env_extra):
    env = dict(os.environ)
    env.pop("TCONV_LIBRARY", None)
    env.update(env_extra)
    env["PYTHONPATH"] = "python"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_import_from_repository_root():
    """PYTHONPATH=python python3 -c 'import tconv' from the root; the import
    loads neither torch nor anything heavy, and TCONV_LIBRARY wins."""
    r = _python("import sys, tconv; print(tconv.library_path); "
                "print('torch' in sys.modules)", {"TCONV_LIBRARY": tconv.library_path})
    assert r.returncode == 0, r.stderr
    path, has_torch = r.stdout.split()
    assert path == tconv.library_path and has_torch == "False"


def test_tconv_library_is_not_second_guessed():
    r = _python("import tconv", {"TCONV_LIBRARY": "/nonexistent/libtconv.so"})
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "TCONV_LIBRARY" in r.stderr


def test_default_search_is_build_dir():
    lib = os.path.join(ROOT, "build", "libtconv.so")
    if not os.path.exists(lib):
        pytest.skip("no build/libtconv.so (README build not run)")
    r = _python("import tconv; print(tconv.library_path)", {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == lib


def test_error_is_value_error_with_status():
    x = np.ones((1, 4, 5, 5), np.float32)
    with pytest.raises(ValueError) as e:
        tconv.conv_transpose2d(x, np.ones((4, 2, 3, 3)), stride=0)
    assert isinstance(e.value, tconv.Error)
    assert str(e.value) == "non-positive stride is not supported"
    assert e.value.status == 1 and e.value.status_name == "invalid argument"


def test_argument_forms_and_conversions():
    """Inputs of any dtype / order / nesting; pairs as int, tuple, list,
    numpy ints; results float32 C-contiguous; unbatched and zero batch."""
    rs = np.random.default_rng(5)
    x = rs.standard_normal((2, 3, 4, 5))
    w = rs.standard_normal((3, 2, 3, 2))
    ref = F.conv_transpose2d(t64(x), t64(w), stride=(2, 1), padding=(1, 0)).numpy()
    for args in [dict(stride=(2, 1), padding=(1, 0)), dict(stride=[2, 1], padding=[1, 0]),
                 dict(stride=(np.int64(2), 1), padding=np.array([1, 0]))]:
        y = tconv.conv_transpose2d(np.asfortranarray(x), w.tolist(), None, **args)
        assert y.dtype == np.float32 and y.flags.c_contiguous
        TALLY.cases += 1
        assert TALLY.error(y, ref, "argument forms %s" % args) < TOL
    y = tconv.conv_transpose2d(x[0], w, stride=(2, 1), padding=(1, 0))  # unbatched
    assert y.shape == ref.shape[1:]
    assert TALLY.error(y, ref[0], "unbatched") < TOL
    y = tconv.conv2d(np.zeros((0, 3, 4, 5)), rs.standard_normal((4, 3, 2, 2)), np.ones(4))
    assert y.shape == (0, 4, 3, 4)
    with pytest.raises(TypeError):
        tconv.conv2d(x, np.ones((2, 3, 1, 1)), stride=1.0)
    with pytest.raises(TypeError):
        tconv.conv2d(x, np.ones((2, 3, 1, 1)), groups=True)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tconv.conv2d(x, np.ones((2, 3, 1, 1)), stride=1 << 64)


@pytest.mark.parametrize("cls,args", [
    (tconv.ConvTranspose2d, (6, 8, (3, 2))),
    (tconv.ConvTranspose2d, (4, 6, 5, 2, 1, 1, 2)),
    (tconv.Conv2d, (6, 8, (3, 2))),
    (tconv.Conv2d, (4, 6, 3, 1, 0, 1, 2)),
])
def test_weight_init_like_pytorch(cls, args):
    """Shapes as PyTorch's; values U(-b, b) with b = 1/sqrt(weight.shape[1]*kH*kW)
    for weight and bias, as PyTorch's kaiming_uniform(a=sqrt(5)) gives."""
    tconv.manual_seed(123)
    m = cls(*args)
    tm = getattr(torch.nn, cls.__name__)(*args)
    assert m.weight.shape == tuple(tm.weight.shape) and m.bias.shape == tuple(tm.bias.shape)
    assert m.weight.dtype == np.float32 and not m.weight.flags.writeable  # tconv.nn.Parameter
    fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
    bound = 1 / np.sqrt(fan_in)
    tb = float(tm.weight.detach().abs().max())
    assert tb <= bound * (1 + 1e-6)  # PyTorch's own weights respect the same bound
    for a in (m.weight, m.bias):
        assert np.abs(a).max() <= bound * (1 + 1e-6)
    # Many draws (110592): mean 0, std b/sqrt(3), filling [-b, b].
    many = np.concatenate([cls(64, 64, 3).weight.ravel() for _ in range(3)])
    b64 = 1 / np.sqrt(64 * 9)
    assert abs(many.mean()) < 0.02 * b64
    assert abs(many.std() - b64 / np.sqrt(3)) < 0.02 * b64
    assert many.min() >= -b64 and many.max() <= b64 and many.max() > 0.99 * b64


def test_seeding():
    tconv.manual_seed(7)
    a = tconv.ConvTranspose2d(3, 4, 3).weight.copy()
    tconv.manual_seed(7)
    b = tconv.ConvTranspose2d(3, 4, 3).weight.copy()
    c = tconv.ConvTranspose2d(3, 4, 3).weight.copy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    d = tconv.ConvTranspose2d(3, 4, 3, rng=99).weight
    e = tconv.ConvTranspose2d(3, 4, 3, rng=np.random.default_rng(99)).weight
    assert np.array_equal(d, e)


def test_assigned_weights_are_used_each_call():
    """Parameters are read-only (the module keeps its packed operator); new
    values are assigned, and the next call uses them."""
    m = tconv.ConvTranspose2d(2, 3, 3, stride=2, rng=1)
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(np.float32)
    y1 = m(x)
    with pytest.raises(tconv.Error, match="parameters are read-only"):
        m.weight[0, 0, 0, 0] += 1.0
    w = m.weight.copy()
    w[0, 0, 0, 0] += 1.0
    m.weight = w
    m.bias = np.full(3, 5, np.float32)
    y2 = m(x)
    assert not np.array_equal(y1, y2)
    ref = F.conv_transpose2d(t64(x), t64(m.weight), t64(m.bias), stride=2).numpy()
    assert TALLY.error(y2, ref, "edited weights") < TOL
    m.weight = np.ones((2, 3, 1, 1))  # replaced, as PyTorch allows
    assert m(x).shape == (1, 3, 7, 7)
    m.bias = None
    assert m.forward(x).shape == (1, 3, 7, 7)


def test_output_size_forms():
    m = tconv.ConvTranspose2d(4, 2, 3, stride=2, padding=1, rng=3)
    x = np.ones((2, 4, 5, 5), np.float32)
    for size in ([10, 9], (10, 9), np.array([10, 9]), [2, 2, 10, 9], torch.Size([10, 9])):
        assert m(x, output_size=size).shape == (2, 2, 10, 9)
    assert m(x[0], output_size=[4, 10, 10]).shape == (2, 10, 10)
    with pytest.raises(tconv.Error, match="requested an output size of"):
        m(x, output_size=[11, 9])
    with pytest.raises(tconv.Error, match="output_size must have 2 or 4 elements"):
        m(x, output_size=[9])


def test_module_repr_matches_pytorch():
    for args, kw in [((16, 33, (3, 5)), dict(stride=(2, 1), padding=(4, 2))),
                     ((4, 4, 3), dict(groups=2, bias=False, dilation=2, output_padding=1))]:
        assert repr(tconv.ConvTranspose2d(*args, **kw)) == repr(torch.nn.ConvTranspose2d(*args, **kw))
    kw = dict(padding="same", padding_mode="reflect", bias=False)
    assert repr(tconv.Conv2d(3, 8, 3, **kw)) == repr(torch.nn.Conv2d(3, 8, 3, **kw))


def test_error_timing_like_pytorch():
    """Constructors refuse only what PyTorch's constructors refuse."""
    m = tconv.ConvTranspose2d(4, 2, 3, stride=0)  # PyTorch constructs this too
    torch.nn.ConvTranspose2d(4, 2, 3, stride=0)
    with pytest.raises(tconv.Error, match="non-positive stride"):
        m(np.ones((1, 4, 3, 3), np.float32))
    with pytest.raises(tconv.Error, match="groups must be a positive integer"):
        tconv.Conv2d(4, 2, 3, groups=0)
    m = tconv.ConvTranspose2d(4, 2, 3)
    m.padding_mode = "reflect"
    with pytest.raises(tconv.Error, match="Only `zeros` padding mode"):
        m(np.ones((1, 4, 3, 3), np.float32))


def test_options_and_impls():
    impls = tconv.available_impls()
    assert "reference" in impls
    assert tconv.best_impl() in impls
    old = tconv.get_options()
    with tconv.options(impl="reference", num_threads=2):
        assert tconv.get_options() == {"impl": "reference", "num_threads": 2}
        op = tconv.Operator.conv2d(np.ones((2, 3, 1, 1)))
        assert op.impl == "reference"
    assert tconv.get_options() == old
    with pytest.raises(tconv.Error, match="impl must be one of"):
        tconv.set_options(impl="fastest")
    with pytest.raises(tconv.Error, match="num_threads"):
        tconv.set_options(num_threads=-1)
    for name in ("portable", "avx2", "avx512"):
        if name not in impls:
            with pytest.raises(tconv.Error) as e:
                tconv.Operator.conv2d(np.ones((2, 3, 1, 1)), impl=name)
            assert e.value.status_name == "unsupported"


def test_operator_api():
    rs = np.random.default_rng(11)
    w = rs.standard_normal((3, 4, 3, 3)).astype(np.float32)
    b = rs.standard_normal(4).astype(np.float32)
    x = rs.standard_normal((2, 3, 5, 6)).astype(np.float32)
    ref = F.conv_transpose2d(t64(x), t64(w), t64(b), stride=2, padding=1).numpy()
    with tconv.Operator.conv_transpose2d(w, b, stride=2, padding=1, num_threads=1) as op:
        assert op.path == "none"
        with pytest.raises(tconv.Error, match="before reshape"):
            op.run(x)
        assert op.reshape(x.shape) == ref.shape
        out = np.full(ref.shape, np.nan, np.float32)
        assert op.run(x, out) is out
        assert TALLY.error(out, ref, "operator api") < TOL
        w[:] = 0  # the operator holds its own copy
        assert np.array_equal(op(x), out)
        with pytest.raises(tconv.Error, match="does not match the reshaped shape"):
            op.run(x[:1])
        with pytest.raises(tconv.Error, match="out must be"):
            op.run(x, np.empty(ref.shape, np.float64))
        assert op(x[:1]).shape == (1,) + ref.shape[1:]  # __call__ reshapes
        assert op(x, output_size=[10, 12]).shape == (2, 4, 10, 12)
    with tconv.Operator.conv2d(np.ones((2, 3, 2, 2)), layout="nhwc") as op:
        xh = np.ones((1, 5, 6, 3), np.float32)  # (N, H, W, C)
        assert op.reshape((1, 3, 5, 6)) == (1, 2, 4, 5)  # logical NCHW shapes
        assert op.run(xh).shape == (1, 4, 5, 2)
        assert np.all(op.run(xh) == 12)
