"""The Python package around the layers: modules keeping their packed
operator (and never using stale weights), the functional API's operator
cache, thread safety, read-only parameters, set_num_threads, safetensors
files (with the real safetensors package), the library version check and
the package's version agreeing with the C library's.
"""
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import tconv
from tconv import nn as tnn
from conftest import ROOT

torch = pytest.importorskip("torch")
F = torch.nn.functional


def t64(a):
    return None if a is None else torch.from_numpy(np.asarray(a, np.float64))


def rel_err(got, ref):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def ct_ref(m, x, output_padding=None):
    op = m.output_padding if output_padding is None else output_padding
    return F.conv_transpose2d(t64(x), t64(m.weight), t64(m.bias), m.stride, m.padding, op,
                              m.groups, m.dilation).numpy()


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- modules keep their operator ---------------------------------------------------

def test_module_keeps_one_operator_and_reshapes_on_new_shapes():
    m = tnn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, rng=1)
    x1, x2 = randn(2, 6, 5, 5, seed=1), randn(1, 6, 7, 3, seed=2)
    y1 = m(x1)
    op = m._op
    assert op is not None and op._shape == x1.shape
    assert rel_err(y1, ct_ref(m, x1)) < 1e-5
    assert np.array_equal(m(x1), y1) and m._op is op  # same operator, no reshape
    y2 = m(x2)
    assert m._op is op and op._shape == x2.shape and rel_err(y2, ct_ref(m, x2)) < 1e-5
    assert m(x2[0]).shape == y2.shape[1:]  # unbatched: a reshape of the same operator
    # output_size picks another output_padding: that operator is made once, then kept
    y3 = m(x1, output_size=[10, 10])
    op3 = m._op
    assert y3.shape == (2, 4, 10, 10) and np.array_equal(m(x1, output_size=(10, 10)), y3)
    assert m._op is op3 and rel_err(y3, ct_ref(m, x1, (1, 1))) < 1e-5
    c = tnn.Conv2d(6, 4, 3, padding=1, rng=2)
    c(x1)
    op = c._op
    c(x2)
    assert c._op is op


def test_module_never_uses_stale_weights():
    """Assignment, load_state_dict, attribute changes and tconv.set_options
    all give a new operator; in-place writes cannot happen."""
    m = tnn.ConvTranspose2d(3, 2, 3, stride=2, rng=3)
    x = randn(1, 3, 4, 4, seed=3)
    m(x)
    op = m._op
    # assignment (float64 values are converted, as load_state_dict converts)
    w = m.weight.copy()
    w[0, 0] += 1.0
    m.weight = w.astype(np.float64)
    assert m._op is None
    assert rel_err(m(x), ct_ref(m, x)) < 1e-5 and m._op is not op
    assert m.weight.dtype == np.float32 and np.array_equal(m.weight, w)
    # load_state_dict, from torch tensors
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    m.load_state_dict(tm.state_dict())
    with torch.no_grad():
        ref = tm.double()(t64(x)).numpy()
    assert rel_err(m(x), ref) < 1e-5
    # a new bias only, then no bias
    m.bias = np.arange(2, dtype=np.float32)
    assert rel_err(m(x), ct_ref(m, x)) < 1e-5
    m.bias = None
    assert rel_err(m(x), ct_ref(m, x)) < 1e-5
    # constructor attributes
    m.stride = (1, 1)
    assert m(x).shape == (1, 2, 6, 6) and rel_err(m(x), ct_ref(m, x)) < 1e-5
    m.padding = (1, 0)
    assert rel_err(m(x), ct_ref(m, x)) < 1e-5
    # in-place writes of every kind are refused
    before = m.weight.copy()
    attempts = [lambda: m.weight.__setitem__(0, 0.0), lambda: m.weight.__iadd__(1.0),
                lambda: np.add(m.weight, 1, out=m.weight), lambda: m.weight.fill(0),
                lambda: np.copyto(m.weight, 0.0), lambda: np.asarray(m.weight).fill(0),
                lambda: m.weight[0].fill(0), lambda: m.weight.reshape(-1).__setitem__(0, 1)]
    for attempt in attempts:
        with pytest.raises(ValueError):
            attempt()
    for a in (m.weight, np.asarray(m.weight), m.weight[0], m.weight.reshape(-1)):
        with pytest.raises(ValueError):
            a.flags.writeable = True
    with pytest.raises(tconv.Error, match="parameters are read-only"):
        m.weight[0, 0, 0, 0] = 5
    assert np.array_equal(m.weight, before)
    # the impl default
    with tconv.options(impl="reference"):
        y = m(x)
        assert m._op.impl == "reference"
    assert np.allclose(y, m(x), atol=1e-5) and m._op.impl == tconv.best_impl()


def test_parameter_behaves_like_a_read_only_array():
    p = tnn.Parameter([[1, 2], [3, 4]])
    assert p.dtype == np.float32 and not p.flags.writeable
    q = p * 2 + 1
    assert type(q) is np.ndarray and q.flags.writeable and q[1, 1] == 9
    c = p.copy()
    assert type(c) is np.ndarray and c.flags.writeable
    assert type(p[0]) is np.ndarray and float(p.sum()) == 10.0
    assert repr(p).startswith("Parameter containing:")
    assert tconv.functional.is_immutable(p)
    assert not tconv.functional.is_immutable(c)
    ro = c.copy()
    ro.flags.writeable = False  # read-only, but its owner can be made writable again
    assert not tconv.functional.is_immutable(ro)
    with pytest.raises(TypeError, match="real numbers"):
        tnn.Parameter(np.array(["a"]))


# ---- the functional API's operator cache --------------------------------------------

def test_functional_cache_reuses_and_never_goes_stale():
    tconv.clear_cache()
    x = randn(2, 4, 5, 5, seed=4)
    w, b = randn(4, 3, 3, 3, seed=5), randn(3, seed=6)
    y = tconv.conv_transpose2d(x, w, b, stride=2, padding=1)
    ref = F.conv_transpose2d(t64(x), t64(w), t64(b), 2, 1).numpy()
    assert rel_err(y, ref) < 1e-5
    assert tconv.functional._cache_count[0] == 1
    assert np.array_equal(tconv.conv_transpose2d(x, w, b, stride=2, padding=1), y)
    assert tconv.functional._cache_count[0] == 1  # the same operator again
    # the same array, new values in place: a new operator, the new result
    w[0, 0, 0, 0] += 3.0
    b[1] = -7.0
    y2 = tconv.conv_transpose2d(x, w, b, stride=2, padding=1)
    assert rel_err(y2, F.conv_transpose2d(t64(x), t64(w), t64(b), 2, 1).numpy()) < 1e-5
    # other parameters, other weights of the same shape, other input shapes
    w2 = randn(4, 3, 3, 3, seed=7)
    for xx, ww, kw in [(x, w2, dict(stride=2, padding=1)), (x, w, dict(stride=1)),
                       (x[:1], w, dict(stride=2, padding=1)), (x[0], w2, dict(stride=(2, 1)))]:
        got = tconv.conv_transpose2d(xx, ww, b, **kw)
        assert rel_err(got, F.conv_transpose2d(t64(xx), t64(ww), t64(b), **kw).numpy()) < 1e-5
    # Parameters are known by identity
    m = tnn.Conv2d(4, 3, 3, padding=1, rng=8)
    y = tconv.conv2d(x, m.weight, m.bias, padding=1)
    n = tconv.functional._cache_count[0]
    assert np.array_equal(tconv.conv2d(x, m.weight, m.bias, padding=1), y)
    assert tconv.functional._cache_count[0] == n
    # bool / float arguments are still refused after the same call succeeded as ints
    with pytest.raises(TypeError):
        tconv.conv2d(x, m.weight, m.bias, padding=1.0)
    with pytest.raises(TypeError):
        tconv.conv2d(x, m.weight, m.bias, padding=True)
    for i in range(40):  # the cache stays bounded
        tconv.conv2d(x, randn(3, 4, 1, 1, seed=100 + i))
    assert tconv.functional._cache_count[0] <= tconv.functional._CACHE_MAX
    tconv.clear_cache()
    assert tconv.functional._cache_count[0] == 0


# ---- threads --------------------------------------------------------------------------

def run_threads(fn, n=4):
    errors = []

    def body(i):
        try:
            fn(i)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def test_module_operator_and_functional_from_many_threads():
    m = tnn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, rng=9)
    c = tnn.Conv2d(8, 4, 3, padding=1, rng=10)
    op = tconv.Operator.conv_transpose2d(m.weight, m.bias, stride=2, padding=1)
    inputs = [randn(1 + i % 2, 8, 3 + i, 5, seed=20 + i) for i in range(4)]
    want = [(ct_ref(m, x), F.conv2d(t64(x), t64(c.weight), t64(c.bias), padding=1).numpy())
            for x in inputs]

    def work(i):
        for k in range(30):
            j = (i + k) % 4
            x = inputs[j]
            assert rel_err(m(x), want[j][0]) < 1e-5
            assert rel_err(c(x), want[j][1]) < 1e-5
            assert rel_err(op(x), want[j][0]) < 1e-5
            assert rel_err(tconv.conv_transpose2d(x, m.weight, m.bias, stride=2, padding=1),
                           want[j][0]) < 1e-5
    run_threads(work)


def test_weight_assignment_while_other_threads_run():
    """Every result is the old weights' or the new weights', never a mix or
    garbage, and after the assignment returns every call sees the new ones."""
    m = tnn.ConvTranspose2d(8, 4, 3, stride=2, rng=11)
    x = randn(2, 8, 6, 6, seed=12)
    w_old, w_new = m.weight.copy(), randn(8, 4, 3, 3, seed=13)
    m2 = tnn.ConvTranspose2d(8, 4, 3, stride=2)
    m2.load_state_dict({"weight": w_old, "bias": m.bias})
    y_old = m2(x)
    m2.weight = w_new
    y_new = m2(x)
    start = threading.Barrier(3)
    seen = set()

    def caller(i):
        start.wait()
        for _ in range(60):
            y = m(x)
            if np.array_equal(y, y_old):
                seen.add("old")
            elif np.array_equal(y, y_new):
                seen.add("new")
            else:
                raise AssertionError("a result from neither weight")

    def assigner(i):
        start.wait()
        for k in range(40):
            m.weight = w_new if k % 2 == 0 else w_old
            y = m(x)
            assert np.array_equal(y, y_new if k % 2 == 0 else y_old)
    run_threads(lambda i: assigner(i) if i == 0 else caller(i), n=3)
    assert seen


def test_module_results_kept_by_the_caller_never_change():
    """Modules reuse the memory of a result nobody refers to any more; a
    result (or a view of it) still held is never written again."""
    x1, x2 = randn(2, 4, 8, 8, seed=30), randn(2, 4, 8, 8, seed=31)
    layers = [tnn.Conv2d(4, 4, 3, padding=1, rng=32), tnn.ConvTranspose2d(4, 4, 3, rng=33),
              tnn.ReLU(), tnn.Tanh(), tnn.BatchNorm2d(4).eval(), tnn.Linear(8, 5, rng=34)]
    for m in layers:
        y1 = m(x1)
        want1 = y1.copy()
        view = m(x1)[:1]  # only a view of the second result survives
        want_view = view.copy()
        for _ in range(3):
            y2 = m(x2)
        assert np.array_equal(y1, want1) and np.array_equal(view, want_view)
        assert y2 is not y1 and not np.shares_memory(y2, y1) and not np.shares_memory(y2, view)
        want2 = m(x2).copy()
        del y2  # dropped: its memory may serve the next call
        assert np.array_equal(m(x2), want2) and np.array_equal(y1, want1)


def test_close_while_other_threads_run():
    """close() waits for the calls in flight; every call before it gives the
    right result, every call after it raises 'closed': never a crash."""
    m = tnn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, rng=14)
    op = tconv.Operator.conv_transpose2d(m.weight, m.bias, stride=2, padding=1)
    x = randn(4, 16, 16, 16, seed=15)
    want = ct_ref(m, x)
    start = threading.Barrier(3)
    counts = {"ok": 0, "closed": 0}

    def caller(i):
        start.wait()
        for _ in range(200):
            try:
                y = op(x)
            except tconv.Error as e:
                assert "closed" in str(e)
                counts["closed"] += 1
                continue
            assert rel_err(y, want) < 1e-5
            counts["ok"] += 1

    def closer(i):
        start.wait()
        while counts["ok"] < 3:
            pass
        op.close()
    run_threads(lambda i: closer(i) if i == 0 else caller(i), n=3)
    assert counts["ok"] >= 3 and counts["closed"] > 0
    with pytest.raises(tconv.Error, match="closed"):
        op(x)


def test_fork_after_threaded_run():
    """A child forked right after a 2-thread run (multiprocessing's fork
    start method) runs layers again with the parent's numbers."""
    import multiprocessing as mp
    m = tnn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, rng=16)
    x = randn(4, 16, 12, 12, seed=17)
    old = tconv.get_num_threads()
    tconv.set_num_threads(2)
    try:
        y = m(x)
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=lambda: q.put(m(x).tobytes()))
        p.start()
        got = q.get(timeout=60)
        p.join(60)
        assert p.exitcode == 0
        assert got == y.tobytes()
    finally:
        tconv.set_num_threads(old)


def test_set_num_threads_like_torch():
    old = tconv.get_num_threads()
    x = randn(4, 16, 9, 9, seed=14)
    m = tnn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, rng=15)
    op = tconv.Operator.conv_transpose2d(m.weight, m.bias, stride=2, padding=1)
    try:
        tconv.set_num_threads(1)
        assert tconv.get_num_threads() == 1
        y1, o1 = m(x), op(x)
        tconv.set_num_threads(3)
        assert tconv.get_num_threads() == 3
        assert np.array_equal(m(x), y1) and np.array_equal(op(x), o1)  # bit-identical
        assert np.array_equal(tconv.conv_transpose2d(x, m.weight, m.bias, 2, 1), y1)
        for bad in (0, -1):
            with pytest.raises(tconv.Error) as e:
                tconv.set_num_threads(bad)
            assert str(e.value) == str(pytest.raises(RuntimeError, torch.set_num_threads, bad)
                                       .value)
        with pytest.raises(TypeError, match="expects an int"):
            tconv.set_num_threads(2.0)
    finally:
        tconv.set_num_threads(old)
        tconv.set_options(num_threads=0)
    assert tconv.get_num_threads() == old


def test_num_threads_environment_variable():
    env = dict(os.environ, TCONV_NUM_THREADS="3", PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-c", "import tconv; print(tconv.get_num_threads())"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


# ---- safetensors ------------------------------------------------------------------------

def test_safetensors_round_trip_every_dtype(tmp_path):
    rs = np.random.default_rng(16)
    tensors = {"f32": rs.standard_normal((3, 4)).astype(np.float32),
               "f64": rs.standard_normal(5), "f16": rs.standard_normal((2, 2)).astype(np.float16),
               "i64": np.array(7, np.int64), "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
               "i16": np.array([-3, 4], np.int16), "i8": np.array([-1], np.int8),
               "u8": np.arange(3, dtype=np.uint8), "u16": np.array([9], np.uint16),
               "u32": np.array([1 << 31], np.uint32), "u64": np.array([1 << 63], np.uint64),
               "bool": np.array([True, False]), "empty": np.zeros((0, 3), np.float32),
               "big_endian": np.arange(4, dtype=">f4"), "fortran": np.asfortranarray(
                   rs.standard_normal((3, 2)).astype(np.float32))}
    path = tmp_path / "all.safetensors"
    tconv.save_safetensors(tensors, path, metadata={"format": "np"})
    got = tconv.load_safetensors(path)
    assert sorted(got) == sorted(tensors)
    for k, v in tensors.items():
        assert got[k].shape == v.shape and np.array_equal(got[k], v), k
        assert got[k].dtype == v.dtype.newbyteorder("=") and got[k].flags.writeable
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0 and b'"__metadata__":{"format":"np"}' in data[8:8 + n]


def test_safetensors_interoperates_with_the_safetensors_package(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(17)
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 3, 3), torch.nn.BatchNorm2d(3))
    sd = model.state_dict()
    # theirs -> ours
    st_torch.save_file(sd, str(tmp_path / "theirs.safetensors"), metadata={"k": "v"})
    ours = tconv.load_safetensors(tmp_path / "theirs.safetensors")
    assert list(ours) == list(sd) or sorted(ours) == sorted(sd)
    for k, v in sd.items():
        assert np.array_equal(ours[k], v.numpy()) and ours[k].dtype == v.numpy().dtype
    # ours -> theirs (a tconv.nn state_dict and the torch one)
    cm = tnn.Sequential(tnn.ConvTranspose2d(4, 3, 3), tnn.BatchNorm2d(3))
    cm.load_state_dict(ours)
    tconv.save_safetensors(cm.state_dict(), tmp_path / "ours.safetensors")
    back = st_torch.load_file(str(tmp_path / "ours.safetensors"))
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    tconv.save_safetensors(sd, tmp_path / "ours2.safetensors", metadata={"a": "b"})
    back = st_numpy.load_file(str(tmp_path / "ours2.safetensors"))
    for k, v in sd.items():
        assert np.array_equal(back[k], v.numpy()), k
    arrays = {"x": np.arange(10, dtype=np.float64).reshape(2, 5), "n": np.array(3, np.int64)}
    st_numpy.save_file(arrays, str(tmp_path / "np.safetensors"))
    got = tconv.load_safetensors(tmp_path / "np.safetensors")
    assert all(np.array_equal(got[k], v) for k, v in arrays.items())


def test_safetensors_errors(tmp_path):
    with pytest.raises(tconv.Error) as e:
        tconv.load_safetensors(tmp_path / "missing.safetensors")
    assert e.value.status_name == "i/o error"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(tconv.Error, match="header length") as e:
        tconv.load_safetensors(bad)
    assert e.value.status_name == "malformed data"
    h = b'{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}'
    h += b" " * (-len(h) % 8)
    bad.write_bytes(len(h).to_bytes(8, "little") + h + b"\0\0")
    with pytest.raises(tconv.Error, match="BF16"):
        tconv.load_safetensors(bad)
    with pytest.raises(tconv.Error, match="safetensors cannot store"):
        tconv.save_safetensors({"c": np.zeros(2, np.complex64)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError):
        tconv.save_safetensors({1: np.zeros(2)}, tmp_path / "c.safetensors")


# ---- versions and the library search --------------------------------------------------

def test_versions_agree():
    header = open(os.path.join(ROOT, "include", "tconv.h")).read()
    parts = [re.search(r"#define TCONV_VERSION_%s (\d+)" % p, header).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    cmake = re.search(r"project\(tconv VERSION ([0-9.]+)",
                      open(os.path.join(ROOT, "CMakeLists.txt")).read()).group(1)
    assert tconv.__version__ == ".".join(parts) == cmake == tconv.version


def test_library_of_another_version_is_refused(tmp_path):
    src = tmp_path / "fake.c"
    src.write_text('const char *tconv_version(void) { return "9.9.9"; }\n')
    lib = tmp_path / "libtconv.so"
    r = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("no C compiler: %s" % r.stderr)
    env = dict(os.environ, TCONV_LIBRARY=str(lib), PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-c", "import tconv"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "ImportError" in r.stderr
    assert "version 9.9.9" in r.stderr and "version %s" % tconv.__version__ in r.stderr
    assert str(lib) in r.stderr


def test_import_from_another_directory_with_pythonpath(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("TCONV_LIBRARY", None)
    r = subprocess.run([sys.executable, "-c", "import tconv; print(tconv.library_path)"],
                       env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    if not os.path.exists(os.path.join(ROOT, "build", "libtconv.so")):
        pytest.skip("no build/libtconv.so")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(ROOT, "build", "libtconv.so")


def test_examples_seeds_py_prints_what_the_c_examples_print():
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "seeds.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "噪声: torch.Size([1, 100]) -> 图像: torch.Size([1, 3, 64, 64])",
        "torch.Size([16, 3, 16, 16])",
        "输入: torch.Size([1, 256, 8, 8]) -> 输出: torch.Size([1, 64, 32, 32])",
        "x: torch.Size([1, 128, 16, 16]), skip: torch.Size([1, 32, 32, 32]) -> "
        "torch.Size([1, 64, 32, 32])"]


def test_operator_call_reshapes_when_output_size_changes():
    w = randn(4, 2, 3, 3, seed=30)
    x = randn(1, 4, 5, 5, seed=31)
    with tconv.Operator.conv_transpose2d(w, stride=2, padding=1) as op:
        assert op(x, output_size=[10, 10]).shape == (1, 2, 10, 10)
        assert op(x).shape == (1, 2, 9, 9)  # back to the default output size
        assert op(x, output_size=[10, 9]).shape == (1, 2, 10, 9)
    with pytest.raises(tconv.Error, match="closed"):
        op(x)
