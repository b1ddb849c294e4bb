"""tconv.nn against torch.nn (PyTorch 1.13, float64 oracle): the seed
programs written in tconv.nn, every layer, the Module API (state_dict keys,
load_state_dict and its messages, train/eval, traversal, repr), the dtype
rule for inputs and int64-checked arguments.

Run: /usr/bin/python3 -m pytest tests/python  (library: TCONV_LIBRARY, else build/).
"""
import collections
import copy
import pickle

import numpy as np
import pytest

import tconv
from tconv import nn as tnn

torch = pytest.importorskip("torch")
tn = torch.nn

# max|tconv - torch64| / max(1, max|torch64|), as tests/python/test_examples.py.
TOL = 2e-5


def rel_err(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.all(np.isfinite(got))
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def torch_view(t, *shape):
    return t.view(*shape)


# ---- the seed programs, one definition for both libraries ------------------------

def seed000_generator(nn, view, cat):
    class Generator(nn.Module):
        def __init__(self, latent_dim=100):
            super().__init__()
            self.fc = nn.Linear(latent_dim, 512 * 4 * 4)
            self.deconv = nn.Sequential(
                nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(),
                nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
                nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())

        def forward(self, x):
            return self.deconv(view(self.fc(x), -1, 512, 4, 4))
    return Generator()


def seed003_generator(nn, view, cat, img_channels=3):
    class Generator(nn.Module):
        def __init__(self, z_dim=100, img_channels=3):
            super().__init__()
            self.net = nn.Sequential(
                nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False), nn.BatchNorm2d(128),
                nn.ReLU(True),
                nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                nn.ReLU(True),
                nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False), nn.Tanh())

        def forward(self, x):
            return self.net(x)
    return Generator(img_channels=img_channels)


def seed000_decoder(nn, view, cat):
    return nn.Sequential(
        nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2),
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())


def seed004_block(nn, view, cat):
    class UNetBlock(nn.Module):
        def __init__(self, in_channels=128, out_channels=64):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
                nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU())
            self.up = nn.ConvTranspose2d(out_channels, out_channels // 2, 2, stride=2)

        def forward(self, x, skip):
            x = self.conv(x)
            x = self.up(x)
            return cat([x, skip], dim=1)
    return UNetBlock()


def encoder_with_pool(nn, view, cat):
    """The seeds' U-Net encoder step (Conv2d + ReLU + MaxPool2d), LeakyReLU and
    Sigmoid of a discriminator head."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                         nn.MaxPool2d(2), nn.Conv2d(16, 8, 3, stride=2, padding=1,
                                                    padding_mode="reflect"),
                         nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                         nn.Conv2d(8, 1, 2), nn.Sigmoid())


SEEDS = {
    "seed000_generator": (seed000_generator, lambda: [torch.randn(2, 100)]),
    "seed003_generator": (seed003_generator, lambda: [torch.randn(16, 100, 1, 1)]),
    "seed000_decoder": (seed000_decoder, lambda: [torch.randn(1, 256, 8, 8)]),
    "seed004_block": (seed004_block, lambda: [torch.randn(1, 128, 16, 16),
                                              torch.randn(1, 32, 32, 32)]),
    "encoder_with_pool": (encoder_with_pool, lambda: [torch.randn(2, 3, 16, 16)]),
}


def both(name, seed=0):
    """(torch model, tconv model with the torch model's weights)."""
    make = SEEDS[name][0]
    torch.manual_seed(seed)
    tm = make(tn, torch_view, torch.cat)
    cm = make(tnn, tconv.view, tconv.cat)
    cm.load_state_dict(tm.state_dict())  # torch tensors straight in
    return tm, cm


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("as_torch", [False, True], ids=["numpy-in", "torch-in"])
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_programs_match_pytorch(name, as_torch, train):
    """Each seed network written once, run by torch.nn (float64) and by
    tconv.nn (float32) with the same weights; in training mode the running
    statistics are compared too, after two calls."""
    tm, cm = both(name)
    if not train:  # non-trivial running statistics first
        tm.train()
        with torch.no_grad():
            for _ in range(3):
                tm(*[t * 2 + 0.5 for t in SEEDS[name][1]()])
        cm.load_state_dict(tm.state_dict())
    tm.train(train)
    cm.train(train)
    assert cm.training == train and all(m.training == train for m in cm.modules())
    t64 = copy.deepcopy(tm).double()
    for step in range(2):
        inputs = SEEDS[name][1]()
        with torch.no_grad():
            ref = t64(*[t.double() for t in inputs]).numpy()
        args = inputs if as_torch else [t.numpy() for t in inputs]
        got = cm(*args)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        err = rel_err(got, ref)
        assert err < TOL, "%s step %d: %.3g" % (name, step, err)
    sd_t, sd_c = t64.state_dict(), cm.state_dict()
    assert list(sd_t) == list(sd_c)
    for k in sd_t:
        assert rel_err(sd_c[k], sd_t[k].numpy()) < 1e-5, k


def test_seed_state_dict_keys_parameters_and_repr():
    for name in sorted(SEEDS):
        tm, cm = both(name)
        assert list(cm.state_dict()) == list(tm.state_dict()), name
        assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
        assert [n for n, _ in cm.named_buffers()] == [n for n, _ in tm.named_buffers()]
        assert [n for n, _ in cm.named_children()] == [n for n, _ in tm.named_children()]
        assert [n for n, _ in cm.named_modules()] == [n for n, _ in tm.named_modules()]
        assert sum(p.size for p in cm.parameters()) == sum(p.numel() for p in tm.parameters())
        assert repr(cm) == repr(tm), name
    tm, cm = both("seed003_generator")
    nbt = cm.state_dict()["net.1.num_batches_tracked"]
    assert nbt.shape == () and nbt.dtype == np.int64


@pytest.mark.parametrize("layer", [
    "Linear(3, 4)", "Linear(3, 4, bias=False)", "Linear(0, 2)",
    "BatchNorm2d(3)", "BatchNorm2d(3, eps=1e-3, momentum=None, affine=False)",
    "BatchNorm2d(5, track_running_stats=False)", "ReLU()", "ReLU(inplace=True)", "ReLU(True)",
    "LeakyReLU()", "LeakyReLU(0.2, inplace=True)", "Tanh()", "Sigmoid()", "MaxPool2d(2)",
    "MaxPool2d((2, 3), stride=(1, 2), padding=1, dilation=2, ceil_mode=True)",
    "MaxPool2d(3, 2, 1)", "ConvTranspose2d(4, 6, (3, 2), stride=2, output_padding=1, groups=2)",
    "Conv2d(4, 6, 3, padding='same', bias=False, padding_mode='circular')",
    "Sequential()", "Sequential(Linear(2, 3), Sequential(ReLU(), Tanh()))"])
def test_layer_repr_state_dict_and_defaults(layer):
    """repr, state_dict keys/shapes, training flag and attributes as torch's."""
    tm = eval(layer, dict(vars(tn)))
    cm = eval(layer, {k: getattr(tnn, k) for k in tnn.__all__})
    assert repr(cm) == repr(tm)
    sd_t, sd_c = tm.state_dict(), cm.state_dict()
    assert list(sd_t) == list(sd_c)
    for k in sd_t:
        assert tuple(sd_t[k].shape) == sd_c[k].shape, k
        if k.endswith("num_batches_tracked"):
            assert sd_c[k].dtype == np.int64
        else:
            assert sd_c[k].dtype == np.float32
            if not k.endswith("weight") or "BatchNorm" in layer:
                if "Linear" not in layer and "Conv" not in layer:
                    assert np.array_equal(sd_c[k], sd_t[k].numpy()), k  # ones / zeros
    assert cm.training and tm.training
    for attr in ("in_features", "out_features", "num_features", "eps", "momentum", "affine",
                 "track_running_stats", "inplace", "negative_slope", "kernel_size", "stride",
                 "padding", "dilation", "ceil_mode", "return_indices", "in_channels",
                 "out_channels", "groups", "output_padding", "padding_mode", "transposed"):
        if hasattr(tm, attr):
            assert getattr(cm, attr) == getattr(tm, attr), attr


def test_constructor_signatures_match_torch():
    import inspect
    for name in ("Linear", "BatchNorm2d", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "MaxPool2d",
                 "ConvTranspose2d", "Conv2d"):
        ts = inspect.signature(getattr(tn, name).__init__)
        cs = inspect.signature(getattr(tnn, name).__init__)
        tp = [(p.name, p.default) for p in ts.parameters.values()
              if p.kind == p.POSITIONAL_OR_KEYWORD]
        cp = [(p.name, p.default) for p in cs.parameters.values()
              if p.kind == p.POSITIONAL_OR_KEYWORD]
        assert cp == tp, name
    assert tconv.ConvTranspose2d is tnn.ConvTranspose2d and tconv.Conv2d is tnn.Conv2d


# ---- load_state_dict ----------------------------------------------------------------

def torch_message(f):
    try:
        f()
    except Exception as e:  # noqa: BLE001
        return str(e)
    raise AssertionError("PyTorch accepted it")


def test_load_state_dict_messages_match_torch():
    tm, cm = both("seed003_generator")
    good = {k: v.clone() for k, v in tm.state_dict().items()}
    cases = []
    d = dict(good)
    del d["net.0.weight"], d["net.4.running_var"]
    d["fc.weight"] = torch.zeros(3)
    cases.append(d)
    d = dict(good)
    d["net.6.weight"] = torch.zeros(64, 1, 4, 4)  # size mismatch (img_channels=1)
    cases.append(d)
    d = dict(good)
    d["net.3.weight"] = torch.zeros(128, 64, 4)
    d["extra.bias"] = torch.zeros(1)
    del d["net.1.bias"]
    cases.append(d)
    for d in cases:
        want = torch_message(lambda: tm.load_state_dict(d))
        with pytest.raises(tconv.Error) as e:
            cm.load_state_dict({k: v.numpy() for k, v in d.items()})
        assert str(e.value) == want
        # strict=False: size mismatches still raise; keys are returned as torch's
        try:
            r_t = tm.load_state_dict(d, strict=False)
        except RuntimeError as te:
            with pytest.raises(tconv.Error) as ce:
                cm.load_state_dict(d, strict=False)
            assert str(ce.value) == str(te)
        else:
            r_c = cm.load_state_dict(d, strict=False)
            assert (r_c.missing_keys, r_c.unexpected_keys) == (r_t.missing_keys,
                                                               r_t.unexpected_keys)
    r = cm.load_state_dict(good)
    assert repr(r) == "<All keys matched successfully>"
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        cm.load_state_dict([1, 2])


def test_load_state_dict_converts_like_copy_and_counts_batches():
    """Values are converted to the entry's dtype (as param.copy_), a 1-element
    1-d value fills a 0-d entry, and a missing num_batches_tracked is 0 (a
    plain dict has no version metadata: PyTorch fills it in too)."""
    bn = tnn.BatchNorm2d(3)
    tb = tn.BatchNorm2d(3)
    sd = {"weight": np.arange(3, dtype=np.float64), "bias": [1, 2, 3],
          "running_mean": torch.ones(3, dtype=torch.float64), "running_var": np.full(3, 2.0),
          "num_batches_tracked": np.array([7.0])}
    bn.load_state_dict(sd)
    tb.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in sd.items()})
    for k, v in tb.state_dict().items():
        got = bn.state_dict()[k]
        assert got.dtype == (np.int64 if k == "num_batches_tracked" else np.float32)
        assert np.array_equal(got, v.numpy()), k
    del sd["num_batches_tracked"]
    bn.load_state_dict(sd)
    plain = collections.OrderedDict((k, torch.as_tensor(np.asarray(v))) for k, v in sd.items())
    tb.load_state_dict(plain)  # no _metadata: PyTorch fills num_batches_tracked with 0
    assert int(bn.num_batches_tracked) == int(tb.num_batches_tracked) == 0


# ---- the dtype rule and argument range ---------------------------------------------

LAYERS = [lambda: tnn.Linear(4, 3), lambda: tnn.BatchNorm2d(4), lambda: tnn.ReLU(),
          lambda: tnn.LeakyReLU(), lambda: tnn.Tanh(), lambda: tnn.Sigmoid(),
          lambda: tnn.MaxPool2d(2), lambda: tnn.ConvTranspose2d(4, 2, 3),
          lambda: tnn.Conv2d(4, 2, 3)]


@pytest.mark.parametrize("make", LAYERS, ids=[f().__class__.__name__ for f in LAYERS])
def test_layers_refuse_other_dtypes(make):
    m = make()
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 4))
    for bad, hint in [(x, "x.astype(np.float32)"), (x.astype(np.int64), "float32"),
                      (x > 0, "bool"), (x.astype(np.float16), "float16"),
                      (torch.from_numpy(x), "x.float()")]:
        with pytest.raises(tconv.Error) as e:
            m(bad)
        assert hint in str(e.value) and type(m).__name__ in str(e.value)
    with pytest.raises(TypeError, match="NumPy array or a CPU torch tensor"):
        m(x.tolist())
    y = m(x.astype(np.float32))
    y2 = m(torch.from_numpy(x.astype(np.float32)))
    y3 = m(np.asfortranarray(x.astype(np.float32)))  # any layout: made contiguous
    assert y.dtype == np.float32 and np.allclose(y, y2, atol=1e-6) and np.allclose(y, y3,
                                                                                  atol=1e-6)
    with pytest.raises(tconv.Error, match="detach"):
        m(torch.zeros(2, 4, 4, 4, requires_grad=True))


def test_cat_and_view_like_torch():
    a = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    b = np.random.default_rng(3).standard_normal((2, 5, 4)).astype(np.float32)
    assert np.array_equal(tconv.cat([a, b], dim=1), torch.cat([torch.from_numpy(a),
                                                               torch.from_numpy(b)], 1).numpy())
    assert np.array_equal(tconv.cat((a, a), -1), np.concatenate((a, a), -1))
    for args in [([a, b], 0), ([a, b[0]], 1), ([a], 3), ([], 0)]:
        want = torch_message(lambda: torch.cat([torch.from_numpy(t) for t in args[0]], args[1]))
        with pytest.raises(tconv.Error) as e:
            tconv.cat(*args)
        assert str(e.value) == want.splitlines()[0]
    with pytest.raises(tconv.Error, match="float32"):
        tconv.cat([a.astype(np.float64)], 0)
    v = tconv.view(a, -1, 4)
    assert v.shape == (6, 4) and np.shares_memory(v, a)
    assert tconv.view(a, (3, 8)).shape == (3, 8) and tconv.view(torch.zeros(6), 2, 3).shape == (2, 3)
    for shape in [(-1, -1), (5, -1), (-2, 12)]:
        want = torch_message(lambda: torch.from_numpy(a).view(*shape))
        with pytest.raises(tconv.Error) as e:
            tconv.view(a, *shape)
        assert str(e.value) == want.splitlines()[0]


def test_integers_beyond_int64_are_refused():
    """Python ints outside int64 raise; nothing wraps around (ctypes would)."""
    big = 2 ** 64 + 9
    m = tnn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        m(x, output_size=[big] * 2)
    assert m(x, output_size=[8, 8]).shape == (1, 2, 8, 8)  # 9 would be valid: no wrap to 9
    op = tconv.Operator.conv_transpose2d(m.weight, m.bias, stride=2, padding=1)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        op.reshape(x.shape, output_size=[big] * 2)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        op(x, output_size=[big, big])
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        op.reshape((1, 2, big, 4))
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tconv.conv_transpose2d(x, m.weight, stride=2 ** 63)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tnn.Linear(2 ** 64, 3)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tnn.ConvTranspose2d(2, 2, 2 ** 64)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tnn.MaxPool2d(2 ** 64 + 2)(x)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tconv.view(x, big, -1)
    with pytest.raises(tconv.Error, match="does not fit in int64"):
        tconv.cat([x, x], big)


# ---- single layers against torch ---------------------------------------------------

def test_linear_batchnorm_activations_pool_vs_torch():
    rs = np.random.default_rng(4)
    torch.manual_seed(4)
    x = rs.standard_normal((3, 5, 6, 7)).astype(np.float32) * 2 + 0.3
    pairs = [
        (tn.Linear(7, 4), None), (tn.Linear(7, 3, bias=False), None),
        (tn.BatchNorm2d(5), None), (tn.BatchNorm2d(5, momentum=None), None),
        (tn.BatchNorm2d(5, affine=False, eps=1e-3), None),
        (tn.BatchNorm2d(5, track_running_stats=False), None),
        (tn.ReLU(), None), (tn.LeakyReLU(0.3), None), (tn.Tanh(), None), (tn.Sigmoid(), None),
        (tn.MaxPool2d(2), None), (tn.MaxPool2d((3, 2), (2, 1), (1, 0), (1, 2), ceil_mode=True), None)]
    for tm, _ in pairs:
        cm = eval(repr(tm), {k: getattr(tnn, k) for k in tnn.__all__})
        cm.load_state_dict(tm.state_dict())
        t64 = copy.deepcopy(tm).double()
        for mode in (True, True, False):
            t64.train(mode)
            cm.train(mode)
            xi = x * (1.5 if mode else 1.0)
            with torch.no_grad():
                ref = t64(torch.from_numpy(xi).double()).numpy()
            assert rel_err(cm(xi), ref) < 2e-6, (repr(tm), mode)
            for k, v in t64.state_dict().items():
                assert rel_err(cm.state_dict()[k], v.numpy()) < 1e-6, (repr(tm), k)


def test_inplace_activations():
    x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4)
    y = tnn.ReLU(inplace=True)(x)
    assert y is x and x.min() == 0
    t = torch.linspace(-2, 2, 24).reshape(2, 3, 4)
    y = tnn.LeakyReLU(0.5, inplace=True)(t)
    assert np.shares_memory(y, t.numpy()) and float(t.min()) == -1.0  # the tensor itself
    x = np.linspace(-2, 2, 6, dtype=np.float32)
    y = tnn.Tanh()(x)
    assert y is not x and x[0] == -2


def test_batchnorm_refusals_like_torch():
    cm, tm = tnn.BatchNorm2d(3), tn.BatchNorm2d(3)
    for shape in [(2, 3, 4), (1, 3, 1, 1), (2, 4, 2, 2)]:
        want = torch_message(lambda: tm(torch.zeros(shape)))
        with pytest.raises((tconv.Error, ValueError)) as e:
            cm(np.zeros(shape, np.float32))
        assert str(e.value) == want.splitlines()[0]
    cm.running_mean = np.zeros(4)
    with pytest.raises(tconv.Error, match="running_mean should contain 3 elements not 4"):
        cm(np.zeros((2, 3, 2, 2), np.float32))


# ---- Module mechanics -----------------------------------------------------------------

def test_module_api():
    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.a = tnn.Linear(2, 3)
            self.b = tnn.Sequential(tnn.ReLU(), tnn.Linear(3, 1, bias=False))
            self.scale = tnn.Parameter(np.ones(1))
            self.register_buffer("steps", np.zeros(1, np.int64))
            self.register_buffer("tmp", np.zeros(2, np.float32), persistent=False)

        def forward(self, x):
            return self.b(self.a(x)) * self.scale

    n = Net()
    assert list(n.state_dict()) == ["scale", "steps", "a.weight", "a.bias", "b.1.weight"]
    assert [k for k, _ in n.named_parameters()] == ["scale", "a.weight", "a.bias", "b.1.weight"]
    assert len(list(n.buffers())) == 2 and len(list(n.children())) == 2
    assert len(list(n.modules())) == 5
    assert n(np.ones((4, 2), np.float32)).shape == (4, 1)
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        n.train(1)
    assert n.eval() is n and not n.b[0].training
    seen = []
    n.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Net"]
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        n.nope
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        tnn.Module()(1)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'a'"):
        n.a = 3
    n.a = None
    assert "a.weight" not in n.state_dict()
    del n.scale
    assert "scale" not in n.state_dict()
    s = tnn.Sequential(tnn.ReLU(), tnn.Tanh(), tnn.Sigmoid())
    assert len(s) == 3 and isinstance(s[-1], tnn.Sigmoid) and len(s[1:]) == 2
    assert [type(m).__name__ for m in s] == ["ReLU", "Tanh", "Sigmoid"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]
    s.append(tnn.ReLU())
    del s[0]
    assert len(s) == 3
    named = tnn.Sequential(collections.OrderedDict([("up", tnn.ReLU()), ("act", tnn.Tanh())]))
    assert [k for k, _ in named.named_children()] == ["up", "act"]
    for bad in [dict(device="cuda"), dict(dtype=torch.float64), dict(dtype=np.float16)]:
        with pytest.raises(tconv.Error):
            tnn.Linear(2, 2, **bad)
    tnn.Linear(2, 2, device="cpu", dtype=torch.float32)
    assert n.to("cpu") is n and n.float() is n and n.cpu() is n


def test_copy_and_pickle_keep_modules_independent():
    tm, cm = both("seed000_decoder")
    x = np.random.default_rng(5).standard_normal((1, 256, 8, 8)).astype(np.float32)
    y = cm(x)  # packs the operators
    for clone in (copy.deepcopy(cm), pickle.loads(pickle.dumps(cm))):
        assert np.array_equal(clone(x), y)
        clone[0].weight = np.zeros(clone[0].weight.shape)
        assert not np.array_equal(clone(x), y) and np.array_equal(cm(x), y)
    with pytest.raises(TypeError, match="cannot be copied or pickled"):
        copy.deepcopy(tconv.Operator.conv2d(np.ones((1, 1, 1, 1), np.float32)))


def test_batchnorm_counts_batches_as_torch_even_when_refusing():
    cm, tm = tnn.BatchNorm2d(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None)
    for shape in [(2, 3, 2, 2), (1, 3, 1, 1), (2, 3, 1, 1), (3, 2, 2), (0, 3, 2, 2)]:
        x = np.random.default_rng(shape[0]).standard_normal(shape).astype(np.float32)
        te = None
        try:
            ref = tm(torch.from_numpy(x)).detach().numpy()
        except (RuntimeError, ValueError) as e:
            te = e
        if te is not None:
            with pytest.raises((tconv.Error, ValueError)):
                cm(x)
        else:
            assert rel_err(cm(x), ref) < 1e-5
        assert int(cm.num_batches_tracked) == int(tm.num_batches_tracked), shape
        assert np.allclose(cm.running_mean, tm.running_mean.numpy(), atol=1e-6)
        assert np.allclose(cm.running_var, tm.running_var.numpy(), atol=1e-6)
