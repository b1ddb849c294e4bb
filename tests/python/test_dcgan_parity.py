"""`tconv train` against PyTorch 1.13: the digits DCGAN's training step in C
(tconv train --replay, the command's own code) and in PyTorch from the same
weights, batch and noise (scripts/dcgan_parity.py makes them and runs
PyTorch).

- One full step (G and D forward, losses, backward, Adam on both) in the
  middle of training (after 5 float32 PyTorch steps, so Adam's state is
  loaded too), batch 64: every parameter, buffer and Adam state (step,
  exp_avg, exp_avg_sq) of both networks within TOL of float64 PyTorch.
- The first step (fresh Adam): every gradient-borne state within TOL; the
  parameters too, except where Adam's first update lr * g / (|g| + eps) is
  ill-conditioned (|g| within a few eps of 0, where float32 rounding of g
  moves the update by a visible fraction of lr -- float32 PyTorch moves
  there as much or more).
- The C data pipeline (bilinear upscale in C) equals F.interpolate exactly.
- 100 steps of batch 8: the loss curves stay together; where they part it
  is by the amount float32 PyTorch parts from float64 (a GAN step is chaotic:
  a LeakyReLU input within float32 rounding of 0 behind a low-variance
  BatchNorm channel flips a gradient, for float32 PyTorch as for tconv).

Run: /usr/bin/python3 -m pytest tests/python/test_dcgan_parity.py -s
"""
import os
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, TOL

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import dcgan_parity as P  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def report(rows, title):
    groups = {}
    for name, e_c, e_32 in rows:
        g = groups.setdefault(P.group(name), [0.0, 0.0])
        g[0], g[1] = max(g[0], e_c), max(g[1], e_32)
    print("\n%s: worst error vs float64 PyTorch per group (tconv, float32 PyTorch)" % title)
    for k in sorted(groups):
        print("  %-14s %.3g  %.3g" % (k, groups[k][0], groups[k][1]))


def test_mid_training_step_matches_torch64(tmp_path):
    rows, (lc, l64, l32), (real_c, real_t), (c, t64) = P.step_report(64, 0, warm=5,
                                                                     tmp=str(tmp_path), states=True)
    report(rows, "step 6, batch 64")
    assert np.array_equal(real_c, real_t), "the C images differ from F.interpolate's"
    assert len(rows) == 13 + 8 + 3 * 12  # both state_dicts and Adam's 3 states per parameter
    for name, e_c, _ in rows:
        assert e_c < TOL, "%s: error %.3g vs float64 PyTorch" % (name, e_c)
    assert abs(lc[0, 0] - l64[0, 0]) < TOL and abs(lc[0, 1] - l64[0, 1]) < TOL
    # Adam's moments are small numbers: also relative to their own size
    worst = max(float(np.max(np.abs(c[k].reshape(t64[k].shape) - t64[k])) / np.max(np.abs(t64[k])))
                for k in t64 if k.endswith(("exp_avg", "exp_avg_sq")))
    print("  Adam moments, max|tconv - torch64| / max|torch64|: %.3g" % worst)
    assert worst < 1e-4


def test_first_step_matches_torch64(tmp_path):
    gen, disc, adam, index, z = P.make_start(1, 64, 0)
    replay, dump = str(tmp_path / "r.safetensors"), str(tmp_path / "d.safetensors")
    P.write_replay(replay, gen, disc, adam, index, z)
    lc, c, _ = P.run_c(replay, dump)
    l64, t64, _ = P.run_torch(gen, disc, index, z, torch.float64)
    l32, t32, _ = P.run_torch(gen, disc, index, z, torch.float32)
    report(P.compare_states(c, t64, t32), "step 1, batch 64")
    ill = 0
    for name in t64:
        got, ref = c[name].reshape(t64[name].shape), t64[name]
        if name.startswith(("G.", "D.")) and name.rsplit(".", 1)[1] in ("weight", "bias"):
            short = "adam.%s.%s" % (name[0].lower(), name[2:])
            g = np.abs(t64[short + ".exp_avg"]) / 0.5  # (1 - beta1) g after the first step
            ok = g > 1e-6  # well-conditioned: rounding of g cannot move lr*g/(|g|+eps)
            ill += int((~ok).sum())
            err = P.rel_err(got[ok], ref[ok])
        else:
            err = P.rel_err(got, ref)
        assert err < TOL, "%s: error %.3g vs float64 PyTorch" % (name, err)
    print("  (%d parameter elements with |grad| <= 1e-6 left out of the parameters' check)" % ill)
    assert ill < 100


def test_loss_curves_100_steps(tmp_path):
    lc, l64, l32 = P.curve_report(100, 8, 0, tmp=str(tmp_path))
    d_c, d_32 = np.abs(lc - l64), np.abs(l32 - l64)
    print("\n100 steps, batch 8: max |tconv - torch64| %.3g (steps 1-5: %.3g), "
          "max |torch32 - torch64| %.3g" % (d_c.max(), d_c[:5].max(), d_32.max()))
    assert np.all(np.isfinite(lc))
    assert d_c[:5].max() < TOL  # before the first kink flip
    # where the curves part, no more than float32 PyTorch parts from float64 (with room:
    # which run meets a flip first is chance) and never far
    assert d_c.max() < max(3 * d_32.max(), 1e-3) and d_c.max() < 0.25
    # and the training moved: D's loss falls from its start, G's rises
    assert lc[-10:, 0].mean() < lc[0, 0] and lc[-10:, 1].mean() > lc[0, 1]


def test_train_output_loads_into_pytorch(tmp_path):
    """`tconv train`'s weights file: PyTorch's Generator takes it with
    load_state_dict(strict=True) (through the safetensors package when it is
    installed), buffers included, and runs it as `tconv generate` does."""
    import subprocess
    from train_dcgan_digits import Generator
    out = str(tmp_path / "g.safetensors")
    r = subprocess.run([P.tconv_exe(), "train", "--epochs", "2", "--batch-size", "599", "--out",
                        out, "--data", P.DIGITS], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    try:
        from safetensors.torch import load_file
        sd = load_file(out)
    except ImportError:
        sd = {k: torch.from_numpy(v) for k, v in P.read_safetensors(out).items()}
    gen = Generator()
    gen.load_state_dict(sd, strict=True)
    assert sd["net.1.num_batches_tracked"].dtype == torch.int64
    assert int(sd["net.4.num_batches_tracked"]) == 6  # 2 epochs of 3 steps
    torch.manual_seed(3)
    z = torch.randn(5, 100, 1, 1)
    zpath, raw = str(tmp_path / "z.safetensors"), str(tmp_path / "g.f32")
    P.write_safetensors(zpath, {"z": z})
    r = subprocess.run([P.tconv_exe(), "generate", "--weights", out, "--z", zpath, "--raw-out", raw,
                        "--out", str(tmp_path / "g.png")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with torch.no_grad():
        ref = gen.double().eval()(z.double()).numpy()
    assert P.rel_err(np.fromfile(raw, "<f4").reshape(ref.shape), ref) < TOL
