"""The Python package's training API against PyTorch 1.13: tconv.functional's
activations, batch_norm and losses with their *_backward, the convolutions'
backward, and tconv.optim -- each against float64 autograd / torch.optim on
random inputs, with the refusals; then a whole DCGAN training step (the
digits DCGAN of `tconv train`) composed from them in Python, against
torch.autograd in float64.

Run: /usr/bin/python3 -m pytest tests/python/test_nn_training.py
"""
import copy
import os
import sys

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as F

from conftest import ROOT, TOL

import tconv
from tconv import functional as TF

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from train_dcgan_digits import Discriminator, Generator, weights_init  # noqa: E402

R = np.random.default_rng(2024)


def randn(*s, scale=1.0):
    return (R.standard_normal(s) * scale).astype(np.float32)


def t64(a, grad=False):
    return torch.from_numpy(np.asarray(a, np.float64).copy()).requires_grad_(grad)


def err(got, ref):
    got = np.asarray(got, np.float64)
    ref = ref.detach().numpy() if torch.is_tensor(ref) else np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref))))) if ref.size else 0.0


# ---- activations -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_activation_and_backward(name):
    x, dy = randn(3, 5, 7, 2), randn(3, 5, 7, 2)
    xt = t64(x, True)
    extra = (0.2,) if name == "leaky_relu" else ()
    yt = getattr(F, name)(xt, *extra) if name in ("relu", "leaky_relu") else getattr(torch, name)(xt)
    yt.backward(t64(dy))
    y = getattr(TF, name)(x, *extra)
    assert err(y, yt) < TOL
    saved = x if name == "leaky_relu" else y
    dx = getattr(TF, name + "_backward")(dy, saved, *extra)
    assert dx.dtype == np.float32 and err(dx, xt.grad) < TOL
    if name == "leaky_relu":  # from the output (an in-place LeakyReLU's): the same
        assert np.array_equal(TF.leaky_relu_backward(dy, y, 0.2), dx)
    with pytest.raises(tconv.Error, match="does not broadcast"):
        getattr(TF, name + "_backward")(dy[:1], saved, *extra)


# ---- batch_norm ------------------------------------------------------------------------

@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_and_backward(affine, training):
    n, c = 4, 6
    x, dy = randn(n, c, 3, 5, scale=2.0) + 0.5, randn(n, c, 3, 5)
    w, b = (randn(c) + 1, randn(c)) if affine else (None, None)
    rm, rv = randn(c) * 0.1, np.abs(randn(c)) + 0.5
    rm_t, rv_t = t64(rm), t64(rv)
    xt = t64(x, True)
    wt, bt = (t64(w, True), t64(b, True)) if affine else (None, None)
    yt = F.batch_norm(xt, rm_t, rv_t, wt, bt, training=training, momentum=0.1, eps=1e-5)
    yt.backward(t64(dy))
    rm_c, rv_c = rm.copy(), rv.copy()
    y = TF.batch_norm(x, rm_c, rv_c, w, b, training=training, momentum=0.1, eps=1e-5)
    assert err(y, yt) < TOL
    assert err(rm_c, rm_t) < TOL and err(rv_c, rv_t) < TOL  # updated in place (training)
    assert np.array_equal(rm_c, rm) != training
    dx, gw, gb = TF.batch_norm_backward(dy, x, w, rm, rv, training=training, eps=1e-5)
    assert err(dx, xt.grad) < TOL
    if affine:
        assert err(gw, wt.grad) < TOL and err(gb, bt.grad) < TOL
    else:
        assert gw is None and gb is None


def test_batch_norm_refusals():
    x = randn(2, 3, 4, 4)
    with pytest.raises(tconv.Error, match="expected 4D input"):
        TF.batch_norm(x[0], None, None, training=True)
    with pytest.raises(tconv.Error, match="running_mean must be a C-contiguous float32"):
        TF.batch_norm(x, np.zeros(3), np.ones(3, np.float32), training=True)
    with pytest.raises(tconv.Error, match="give both"):
        TF.batch_norm(x, None, None, training=False)
    with pytest.raises(tconv.Error, match=r"weight must have shape \[3\]"):
        TF.batch_norm_backward(x, x, np.ones(4, np.float32))
    with pytest.raises(tconv.Error, match="training=False needs"):
        TF.batch_norm_backward(x, x, training=False)


# ---- losses ----------------------------------------------------------------------------

LOSSES = {
    "mse_loss": (lambda a, t, **k: F.mse_loss(a, t, **k)),
    "l1_loss": (lambda a, t, **k: F.l1_loss(a, t, **k)),
    "binary_cross_entropy": (lambda a, t, **k: F.binary_cross_entropy(a, t, **k)),
    "binary_cross_entropy_with_logits":
        (lambda a, t, **k: F.binary_cross_entropy_with_logits(a, t, **k)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_and_backward(name, reduction):
    shape = (5, 3)
    x = randn(*shape)
    if name == "binary_cross_entropy":
        x = 1 / (1 + np.exp(-x))
    t = R.uniform(0, 1, shape).astype(np.float32)
    kw, kt = {}, {}
    if name.startswith("binary"):
        w = R.uniform(0.5, 2, (3,)).astype(np.float32)  # broadcast along rows
        kw["weight"], kt["weight"] = w, t64(w)
    if name.endswith("logits"):
        pw = R.uniform(0.5, 3, (3,)).astype(np.float32)
        kw["pos_weight"], kt["pos_weight"] = pw, t64(pw)
    xt = t64(x, True)
    yt = LOSSES[name](xt, t64(t), reduction=reduction, **kt)
    go = randn(*yt.shape) if reduction == "none" else np.float32(0.75)
    yt.backward(t64(go))
    y = getattr(TF, name)(x, t, reduction=reduction, **kw)
    assert y.shape == tuple(yt.shape) and err(y, yt) < TOL
    dx = getattr(TF, name + "_backward")(go, x, t, reduction=reduction, **kw)
    assert err(dx, xt.grad) < TOL


def test_loss_refusals():
    x = randn(4)
    with pytest.raises(tconv.Error, match="is not a valid value for reduction"):
        TF.mse_loss(x, x, reduction="avg")
    with pytest.raises(tconv.Error, match="does not broadcast"):
        TF.l1_loss(x, x[:3])
    with pytest.raises(tconv.Error, match="all elements of input should be between 0 and 1"):
        TF.binary_cross_entropy(x * 10, np.zeros(4, np.float32))
    with pytest.raises(tconv.Error, match="grad_output of a 'mean' loss is one value"):
        TF.mse_loss_backward(x, x, x)
    with pytest.raises(tconv.Error, match="pos_weight has 3 values"):
        TF.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3, np.float32))


# ---- optimizers --------------------------------------------------------------------------

OPTS = [("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
        ("Adam", dict(lr=2e-3, betas=(0.5, 0.999))),
        ("Adam", dict(lr=1e-3, weight_decay=0.1, amsgrad=True)),
        ("AdamW", dict(lr=1e-3, weight_decay=0.05))]


@pytest.mark.parametrize("kind,opts", OPTS)
def test_optimizer_matches_torch_optim(kind, opts):
    shapes = [(4, 3, 2, 2), (7,)]
    ws = [randn(*s) for s in shapes]
    grads = [[randn(*s) for s in shapes] for _ in range(4)]
    grads[2][1] = None  # a step without this parameter's gradient: skipped
    mine = [w.copy() for w in ws]
    opt = getattr(tconv.optim, kind)(mine, **opts)
    tp = [torch.from_numpy(w.copy()).requires_grad_(True) for w in ws]
    topt = getattr(torch.optim, kind)(tp, foreach=False, **opts)
    for step in grads:
        opt.step(step)
        for p, g in zip(tp, step):
            p.grad = None if g is None else torch.from_numpy(g.copy())
        topt.step()
    for m, p in zip(mine, tp):  # float32 against float32: the same bits
        assert np.array_equal(m, p.detach().numpy())
    st = opt.state_dict()["state"]
    for i, p in enumerate(tp):
        for k, v in topt.state[p].items():
            assert np.array_equal(np.asarray(st[i][k]), torch.as_tensor(v).numpy()), (i, k)


def test_optimizer_groups_state_and_refusals():
    a, b = randn(5), randn(3)
    opt = tconv.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a0, b0 = a.copy(), b.copy()
    opt.step([np.ones(5, np.float32), np.ones(3, np.float32)])
    assert np.allclose(a0 - a, 0.1, rtol=1e-5) and np.allclose(b0 - b, 0.5, rtol=1e-5)
    opt.param_groups[1]["lr"] = 0.0  # live options
    b1 = b.copy()
    opt.step([None, np.ones(3, np.float32)])
    assert np.array_equal(b, b1)
    assert opt.state[0]["step"] == 1 and opt.state[1]["step"] == 2
    # a state_dict carries over to a new optimizer, which continues identically
    c, d = a.copy(), b.copy()
    opt2 = tconv.optim.Adam([{"params": [c]}, {"params": [d], "lr": 0.5}], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    g = [randn(5), randn(3)]
    opt.step(g)
    opt2.step(g)
    assert np.array_equal(a, c) and np.array_equal(b, d)
    with pytest.raises(tconv.Error, match="Invalid learning rate: -1.0"):
        tconv.optim.Adam([randn(2)], lr=-1.0)
    with pytest.raises(tconv.Error, match="Invalid beta parameter at index 0: 1.0"):
        tconv.optim.Adam([randn(2)], betas=(1.0, 0.9))
    with pytest.raises(tconv.Error, match="empty parameter list"):
        tconv.optim.SGD([], lr=0.1)
    with pytest.raises(tconv.Error, match="writable C-contiguous float32"):
        tconv.optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(tconv.Error, match="a tconv.nn Parameter is read-only"):
        tconv.optim.SGD([tconv.nn.Linear(2, 2).weight], lr=0.1)
    x = randn(3)
    with pytest.raises(tconv.Error, match="more than one parameter group"):
        tconv.optim.SGD([{"params": [x]}, {"params": [x]}], lr=0.1)
    with pytest.raises(tconv.Error, match="1 gradients for 2 parameters"):
        tconv.optim.SGD([randn(2), randn(2)], lr=0.1).step([randn(2)])
    with pytest.raises(tconv.Error, match="gradient 0 has shape"):
        tconv.optim.SGD([randn(2)], lr=0.1).step([randn(3)])


# ---- a DCGAN training step composed in Python ----------------------------------------------

def g_forward(P, z, bn_stats):
    """The digits generator in training mode; returns the output and what the
    backward needs."""
    s = {"z": z}
    s["a0"] = tconv.conv_transpose2d(z, P["G.net.0.weight"])
    s["b0"] = TF.relu(TF.batch_norm(s["a0"], *bn_stats["G.net.1"], P["G.net.1.weight"],
                                    P["G.net.1.bias"], training=True))
    s["a1"] = tconv.conv_transpose2d(s["b0"], P["G.net.3.weight"], stride=2, padding=1)
    s["b1"] = TF.relu(TF.batch_norm(s["a1"], *bn_stats["G.net.4"], P["G.net.4.weight"],
                                    P["G.net.4.bias"], training=True))
    s["y"] = TF.tanh(tconv.conv_transpose2d(s["b1"], P["G.net.6.weight"], stride=2, padding=1))
    return s["y"], s


def g_backward(P, s, dy, grads):
    d = TF.tanh_backward(dy, s["y"])
    d, grads["G.net.6.weight"], _ = tconv.conv_transpose2d_backward(
        d, s["b1"], P["G.net.6.weight"], stride=2, padding=1)
    d = TF.relu_backward(d, s["b1"])
    d, grads["G.net.4.weight"], grads["G.net.4.bias"] = TF.batch_norm_backward(
        d, s["a1"], P["G.net.4.weight"])
    d, grads["G.net.3.weight"], _ = tconv.conv_transpose2d_backward(
        d, s["b0"], P["G.net.3.weight"], stride=2, padding=1)
    d = TF.relu_backward(d, s["b0"])
    d, grads["G.net.1.weight"], grads["G.net.1.bias"] = TF.batch_norm_backward(
        d, s["a0"], P["G.net.1.weight"])
    _, grads["G.net.0.weight"], _ = tconv.conv_transpose2d_backward(d, s["z"], P["G.net.0.weight"])


def d_forward(P, x, bn_stats):
    s = {"x": x}
    s["e0"] = tconv.conv2d(x, P["D.net.0.weight"], stride=2, padding=1)
    s["h0"] = TF.leaky_relu(s["e0"], 0.2)
    s["e1"] = tconv.conv2d(s["h0"], P["D.net.2.weight"], stride=2, padding=1)
    s["f1"] = TF.batch_norm(s["e1"], *bn_stats["D.net.3"], P["D.net.3.weight"], P["D.net.3.bias"],
                            training=True)
    s["h1"] = TF.leaky_relu(s["f1"], 0.2)
    return tconv.conv2d(s["h1"], P["D.net.5.weight"]).reshape(-1), s


def d_backward(P, s, dlogit, grads):
    """Adds D's parameter gradients into grads; returns dL/dx."""
    def add(name, g):
        grads[name] = g if grads.get(name) is None else grads[name] + g
    d, g5, _ = tconv.conv2d_backward(dlogit.reshape(-1, 1, 1, 1), s["h1"], P["D.net.5.weight"])
    add("D.net.5.weight", g5)
    d = TF.leaky_relu_backward(d, s["f1"], 0.2)
    d, gw, gb = TF.batch_norm_backward(d, s["e1"], P["D.net.3.weight"])
    add("D.net.3.weight", gw)
    add("D.net.3.bias", gb)
    d, g2, _ = tconv.conv2d_backward(d, s["h0"], P["D.net.2.weight"], stride=2, padding=1)
    add("D.net.2.weight", g2)
    d = TF.leaky_relu_backward(d, s["e0"], 0.2)
    d, g0, _ = tconv.conv2d_backward(d, s["x"], P["D.net.0.weight"], stride=2, padding=1)
    add("D.net.0.weight", g0)
    return d


def test_dcgan_training_step_in_python_matches_autograd():
    """One step of scripts/train_dcgan_digits.py's loop, written with
    tconv.functional and tconv.optim, from a mid-training state (3 float32
    PyTorch steps: Adam's state non-zero), against the same step in float64
    PyTorch with autograd."""
    torch.manual_seed(5)
    gen, disc = Generator(), Discriminator()
    gen.apply(weights_init)
    disc.apply(weights_init)
    b = 16
    og = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    od = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    bce = tnn.BCEWithLogitsLoss()

    def torch_step(gen, disc, og, od, real, z):
        fake = gen(z)
        od.zero_grad()
        ld = bce(disc(real), torch.full((b,), 0.9, dtype=real.dtype)) + \
            bce(disc(fake.detach()), torch.zeros(b, dtype=real.dtype))
        ld.backward()
        od.step()
        og.zero_grad()
        lg = bce(disc(fake), torch.ones(b, dtype=real.dtype))
        lg.backward()
        og.step()
        return ld.item(), lg.item()

    for _ in range(3):  # warm-up in float32 PyTorch
        torch_step(gen, disc, og, od, torch.rand(b, 1, 16, 16) * 2 - 1, torch.randn(b, 100, 1, 1))
    real = (torch.rand(b, 1, 16, 16) * 2 - 1)
    z = torch.randn(b, 100, 1, 1)

    # the oracle: float64 copies, Adam state promoted
    g64, d64 = copy.deepcopy(gen).double(), copy.deepcopy(disc).double()
    og64 = torch.optim.Adam(g64.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    od64 = torch.optim.Adam(d64.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    for net, net64, o, o64 in ((gen, g64, og, og64), (disc, d64, od, od64)):
        for p, p64 in zip(net.parameters(), net64.parameters()):
            st = o.state[p]
            o64.state[p64] = {"step": st["step"].clone(), "exp_avg": st["exp_avg"].double(),
                              "exp_avg_sq": st["exp_avg_sq"].double()}
    l64 = torch_step(g64, d64, og64, od64, real.double(), z.double())

    # tconv: the same step from the float32 state
    P = {"G." + k: v.detach().numpy().copy() for k, v in gen.state_dict().items()}
    P.update({"D." + k: v.detach().numpy().copy() for k, v in disc.state_dict().items()})
    bn = {k: (P[k + ".running_mean"], P[k + ".running_var"]) for k in ("G.net.1", "G.net.4", "D.net.3")}
    gnames = ["G." + k for k, _ in gen.named_parameters()]
    dnames = ["D." + k for k, _ in disc.named_parameters()]
    opt_g = tconv.optim.Adam([P[k] for k in gnames], lr=2e-4, betas=(0.5, 0.999))
    opt_d = tconv.optim.Adam([P[k] for k in dnames], lr=2e-4, betas=(0.5, 0.999))
    for net, o, opt in ((gen, og, opt_g), (disc, od, opt_d)):
        opt.load_state_dict({"state": {i: {k: v.numpy() for k, v in o.state[p].items()}
                                       for i, p in enumerate(net.parameters())}})
    zn, rn = z.numpy(), real.numpy()
    fake, gs = g_forward(P, zn, bn)
    dgrads = {}
    logit, s = d_forward(P, rn, bn)
    t_real = np.full(b, 0.9, np.float32)
    l_real = TF.binary_cross_entropy_with_logits(logit, t_real)
    d_backward(P, s, TF.binary_cross_entropy_with_logits_backward(1.0, logit, t_real), dgrads)
    zeros, ones = np.zeros(b, np.float32), np.ones(b, np.float32)
    logit, s = d_forward(P, fake, bn)
    l_fake = TF.binary_cross_entropy_with_logits(logit, zeros)
    d_backward(P, s, TF.binary_cross_entropy_with_logits_backward(1.0, logit, zeros), dgrads)
    opt_d.step([dgrads[k] for k in dnames])
    logit, s = d_forward(P, fake, bn)
    l_g = TF.binary_cross_entropy_with_logits(logit, ones)
    dfake = d_backward(P, s, TF.binary_cross_entropy_with_logits_backward(1.0, logit, ones), {})
    ggrads = {}
    g_backward(P, gs, dfake, ggrads)
    opt_g.step([ggrads[k] for k in gnames])

    assert abs(float(l_real + l_fake) - l64[0]) < TOL and abs(float(l_g) - l64[1]) < TOL
    ref = {"G." + k: v for k, v in g64.state_dict().items()}
    ref.update({"D." + k: v for k, v in d64.state_dict().items()})
    worst, compared = 0.0, 0
    for k, v in ref.items():
        if k.endswith("num_batches_tracked"):
            continue  # counted by nn.BatchNorm2d, not by F.batch_norm
        e = err(np.asarray(P[k]).reshape(v.shape), v)
        worst, compared = max(worst, e), compared + 1
        assert e < TOL, "%s: %.3g" % (k, e)
    for net64, o64, opt in ((g64, og64, opt_g), (d64, od64, opt_d)):
        st = opt.state_dict()["state"]
        for i, p in enumerate(net64.parameters()):
            for k in ("step", "exp_avg", "exp_avg_sq"):
                e = err(np.asarray(st[i][k]).reshape(o64.state[p][k].shape), o64.state[p][k])
                worst, compared = max(worst, e), compared + 1
                assert e < TOL, "state %d %s: %.3g" % (i, k, e)
    print("\nDCGAN step in Python (tconv.functional + tconv.optim) vs float64 autograd: worst "
          "%.3g over %d parameters, buffers and Adam states" % (worst, compared))


def test_readme_training_example():
    """The README's training block runs as written, and its loss falls."""
    import re
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Training in C"):]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    code = code.replace("for step in range(3):", "losses = []\nfor step in range(30):")
    code += "\n    losses.append(float(loss))\n"
    env = {}
    exec(compile(code, "README.md", "exec"), env)
    assert env["losses"][-1] < env["losses"][0]
