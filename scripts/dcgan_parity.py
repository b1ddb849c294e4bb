#!/usr/bin/python3
"""The digits DCGAN trained in C (`tconv train --replay`) and in PyTorch from the
same start: the same initial weights, the same images and the same noise at every step.

Run with Debian's Python (torch 1.13) after building tconv (build/tconv):
    /usr/bin/python3 scripts/dcgan_parity.py step  [--batch 64] [--seed 0]
    /usr/bin/python3 scripts/dcgan_parity.py curve [--steps 100] [--batch 64] [--seed 0]
                                                   [--out DIR]

How: PyTorch (scripts/train_dcgan_digits.py's Generator, Discriminator and weights_init,
seeded) makes the initial weights of both networks, each step's batch (indices into
models/digits8x8.safetensors, a fresh shuffle per epoch as the script draws them) and each
step's noise; they go to a safetensors "replay" file.  `tconv train --replay FILE --dump
OUT` runs those steps in C (its own data pipeline: bilinear upscale in C) and writes both
networks' state_dicts, Adam's state and the losses.  PyTorch runs the same steps twice --
in float64 (the oracle: the float32 start promoted exactly) and in float32 (what a user
runs) -- with the loop body of scripts/train_dcgan_digits.py.

  step   one full training step (G and D forward, losses, backward, Adam on both): for every
         parameter, buffer and Adam state (step, exp_avg, exp_avg_sq) the error
         max|x - torch64| / max(1, max|torch64|) of tconv and of float32 PyTorch.
  curve  S steps: the D and G loss curves of tconv, torch64 and torch32, their largest
         differences per window of steps, written to DIR/dcgan_curves.csv and drawn in
         DIR/dcgan_curves.png (C solid, torch64 dashed).

tests/python/test_dcgan_parity.py runs both at CI sizes.
"""
import argparse
import copy
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from train_dcgan_digits import Discriminator, Generator, weights_init  # noqa: E402

DIGITS = os.path.join(ROOT, "models", "digits8x8.safetensors")
_DT = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}
_DT_NAME = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
            np.dtype("uint8"): "U8"}


# ---- safetensors, read and written here (no dependency on the safetensors package) --------

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + end], _DT[e["dtype"]]).reshape(
            e["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
        a = np.array(a, order="C", copy=True)
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT_NAME[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- data, start and schedule ---------------------------------------------------------------

def load_digits_16():
    """The training images exactly as scripts/train_dcgan_digits.py makes them (float32)."""
    images = read_safetensors(DIGITS)["images"]
    x = torch.tensor(images.astype(np.float32)).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    return (x * 2.0 - 1.0).clamp(-1.0, 1.0)


def make_schedule(steps, batch, n):
    """(index (S, B) int64, z (S, B, 100, 1, 1) float32) from torch's generator: a fresh
    shuffle per epoch cut into batches (the last incomplete one dropped), noise per step."""
    per_epoch = n // batch
    index, perm = [], None
    for s in range(steps):
        if s % per_epoch == 0:
            perm = torch.randperm(n)
        i = (s % per_epoch) * batch
        index.append(perm[i:i + batch])
    return torch.stack(index).to(torch.int64), torch.randn(steps, batch, 100, 1, 1)


def make_start(steps, batch, seed, warm=0):
    """(G, D, adam, index, z), all seeded: DCGAN-initialised networks, then (warm > 0)
    trained `warm` steps by float32 PyTorch, whose Adam state is `adam` (name -> tensor,
    the names of the C dump; None without warm-up); then the schedule of `steps` steps."""
    torch.manual_seed(seed)
    gen, disc = Generator(), Discriminator()
    gen.apply(weights_init)
    disc.apply(weights_init)
    n = load_digits_16().shape[0]
    adam = None
    if warm:
        wi, wz = make_schedule(warm, batch, n)
        _, _, (gen, disc, adam) = run_torch(gen, disc, wi, wz, torch.float32)
    index, z = make_schedule(steps, batch, n)
    return gen, disc, adam, index, z


def write_replay(path, gen, disc, adam, index, z):
    t = {"G." + k: v for k, v in gen.state_dict().items()}
    t.update({"D." + k: v for k, v in disc.state_dict().items()})
    t.update(adam or {})
    t["index"], t["z"] = index, z
    write_safetensors(path, t)


# ---- the two sides ----------------------------------------------------------------------------

def run_torch(gen, disc, index, z, dtype, adam=None):
    """The steps with scripts/train_dcgan_digits.py's loop body in dtype, from Adam state
    `adam` (None: fresh).  Returns (losses (S, 2) float64, state: name -> float64 array with
    the names of the C dump, (gen, disc, adam) as they end)."""
    data = load_digits_16()
    gen, disc = copy.deepcopy(gen).to(dtype), copy.deepcopy(disc).to(dtype)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)
    nets = (("G.", gen, opt_g, "g"), ("D.", disc, opt_d, "d"))
    if adam:
        for _, net, opt, short in nets:
            for k, p in net.named_parameters():
                key = "adam.%s.%s." % (short, k)
                opt.state[p] = {"step": adam[key + "step"].clone(),  # float32, as 1.13 keeps it
                                "exp_avg": adam[key + "exp_avg"].to(dtype).clone(),
                                "exp_avg_sq": adam[key + "exp_avg_sq"].to(dtype).clone()}
    bce = nn.BCEWithLogitsLoss()
    b = index.shape[1]
    real_label = torch.full((b,), 0.9).to(dtype)  # float32 0.9, promoted
    losses = []
    for s in range(index.shape[0]):
        real = data[index[s]].to(dtype)
        fake = gen(z[s].to(dtype))
        opt_d.zero_grad()
        loss_d = bce(disc(real), real_label) + bce(disc(fake.detach()), torch.zeros(b, dtype=dtype))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(disc(fake), torch.ones(b, dtype=dtype))
        loss_g.backward()
        opt_g.step()
        losses.append((loss_d.item(), loss_g.item()))
    state, adam_out = {}, {}
    for prefix, net, opt, short in nets:
        for k, v in net.state_dict().items():
            state[prefix + k] = v.detach().double().numpy()
        for k, p in net.named_parameters():
            for sk, sv in opt.state[p].items():
                name = "adam.%s.%s.%s" % (short, k, sk)
                state[name] = torch.as_tensor(sv).double().numpy()
                adam_out[name] = torch.as_tensor(sv).detach().clone()
    return np.array(losses, np.float64), state, (gen, disc, adam_out)


def tconv_exe():
    lib = os.environ.get("TCONV_LIBRARY")
    build = os.path.dirname(os.path.abspath(lib)) if lib else os.path.join(ROOT, "build")
    exe = os.path.join(build, "tconv")
    if not os.path.exists(exe):
        raise SystemExit("no %s: build tconv first (cmake --build build)" % exe)
    return exe


def run_c(replay, dump, threads=None):
    """tconv train --replay; returns (losses (S, 2), state: name -> float64 array, real)."""
    cmd = [tconv_exe(), "train", "--replay", replay, "--dump", dump, "--data", DIGITS]
    if threads:
        cmd += ["--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
    d = read_safetensors(dump)
    losses = np.stack([d.pop("loss_d"), d.pop("loss_g")], 1).astype(np.float64)
    real = d.pop("real")
    return losses, {k: v.astype(np.float64) for k, v in d.items()}, real


def rel_err(got, ref):
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def compare_states(c, t64, t32):
    """[(name, err tconv vs torch64, err torch32 vs torch64)] over the oracle's entries;
    raises if the C dump lacks or adds an entry."""
    if set(c) != set(t64):
        raise AssertionError("entries differ: C only %s, PyTorch only %s"
                             % (sorted(set(c) - set(t64)), sorted(set(t64) - set(c))))
    return [(k, rel_err(c[k].reshape(t64[k].shape), t64[k]), rel_err(t32[k], t64[k]))
            for k in sorted(t64)]


def group(name):
    """'G.net.0.weight' -> 'G params', 'adam.g.net.0.weight.exp_avg' -> 'G exp_avg', ..."""
    if name.startswith("adam."):
        return "%s %s" % (name[5].upper(), name.rsplit(".", 1)[1])
    last = name.rsplit(".", 1)[1]
    kind = "params" if last in ("weight", "bias") else "buffers"
    return "%s %s" % (name[0], kind)


# ---- a picture without matplotlib: a tiny PNG writer and line plot ----------------------------

def write_png(path, rgb):
    """rgb: (h, w, 3) uint8 -> PNG (zlib-compressed scanlines, filter 0)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, body):
        c = struct.pack(">I", len(body)) + tag + body
        return c + struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def plot_curves(path, curves, title_rows=None):
    """curves: [(values (S,), (r, g, b), dashed)] on one set of axes, white background,
    light grid every 10 steps and every 0.5 of loss."""
    w, h, m = 900, 420, 30
    img = np.full((h, w, 3), 255, np.uint8)
    lo = min(float(np.min(c[0])) for c in curves)
    hi = max(float(np.max(c[0])) for c in curves)
    lo, hi = np.floor(lo * 2) / 2, np.ceil(hi * 2) / 2
    if hi <= lo:
        hi = lo + 1
    n = max(len(c[0]) for c in curves)
    X = lambda i: int(round(m + (w - 2 * m) * i / max(n - 1, 1)))  # noqa: E731
    Y = lambda v: int(round(h - m - (h - 2 * m) * (v - lo) / (hi - lo)))  # noqa: E731
    for i in range(0, n, 10):
        img[m:h - m + 1, X(i)] = 225
    v = lo
    while v <= hi + 1e-9:
        img[Y(v), m:w - m + 1] = 200 if abs(v - round(v)) < 1e-9 else 230
        v += 0.5
    img[m:h - m + 1, m] = img[h - m, m:w - m + 1] = 0
    for values, color, dashed in curves:
        pts = [(X(i), Y(float(v))) for i, v in enumerate(values)]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            k = max(abs(x1 - x0), abs(y1 - y0), 1)
            for j in range(k + 1):
                if dashed and (x0 + (x1 - x0) * j // k) // 4 % 2:
                    continue
                x = x0 + (x1 - x0) * j // k
                y = y0 + (y1 - y0) * j // k
                img[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] = color
    write_png(path, img)
    return lo, hi


# ---- commands ---------------------------------------------------------------------------------

def step_report(batch, seed, warm=0, threads=None, tmp=None, states=False):
    """One step after `warm` float32 PyTorch steps; returns the rows of compare_states, the
    three losses and the C pipeline's last batch beside PyTorch's (and with states, the C and
    float64 PyTorch states)."""
    tmp = tmp or tempfile.mkdtemp(prefix="tconv-parity-")
    gen, disc, adam, index, z = make_start(1, batch, seed, warm)
    replay, dump = os.path.join(tmp, "replay.safetensors"), os.path.join(tmp, "dump.safetensors")
    write_replay(replay, gen, disc, adam, index, z)
    lc, c, real = run_c(replay, dump, threads)
    l64, t64, _ = run_torch(gen, disc, index, z, torch.float64, adam)
    l32, t32, _ = run_torch(gen, disc, index, z, torch.float32, adam)
    out = (compare_states(c, t64, t32), (lc, l64, l32), (real, load_digits_16()[index[-1]].numpy()))
    return out + ((c, t64),) if states else out


def curve_report(steps, batch, seed, threads=None, tmp=None):
    tmp = tmp or tempfile.mkdtemp(prefix="tconv-parity-")
    gen, disc, adam, index, z = make_start(steps, batch, seed)
    replay, dump = os.path.join(tmp, "replay.safetensors"), os.path.join(tmp, "dump.safetensors")
    write_replay(replay, gen, disc, adam, index, z)
    lc, _, _ = run_c(replay, dump, threads)
    l64, _, _ = run_torch(gen, disc, index, z, torch.float64)
    l32, _, _ = run_torch(gen, disc, index, z, torch.float32)
    return lc, l64, l32


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["step", "curve"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warm", type=int, default=10,
                    help="step: float32 PyTorch steps before the compared one (0: the first)")
    ap.add_argument("--threads", type=int, default=1, help="for both sides")
    ap.add_argument("--out", default=".", help="curve: directory for the CSV and PNG")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.what == "step":
        rows, (lc, l64, l32), (real_c, real_t) = step_report(a.batch, a.seed, a.warm, a.threads)
        print("step %d, batch %d, seed %d: loss D %.7f (torch64 %.7f), G %.7f (torch64 %.7f)"
              % (a.warm + 1, a.batch, a.seed, lc[0, 0], l64[0, 0], lc[0, 1], l64[0, 1]))
        print("C data pipeline vs F.interpolate (float32): max |diff| %g"
              % np.max(np.abs(real_c - real_t)))
        groups = {}
        for name, e_c, e_32 in rows:
            g = groups.setdefault(group(name), [0.0, "", 0.0])
            if e_c >= g[0]:
                g[0], g[1] = e_c, name
            g[2] = max(g[2], e_32)
        print("%-16s %-12s %-34s %-12s" % ("group", "tconv-t64", "(worst entry)", "torch32-t64"))
        for k in sorted(groups):
            print("%-16s %-12.3g %-34s %-12.3g" % (k, groups[k][0], groups[k][1], groups[k][2]))
        print("worst: tconv %.3g, torch float32 %.3g" % (max(r[1] for r in rows),
                                                         max(r[2] for r in rows)))
    else:
        lc, l64, l32 = curve_report(a.steps, a.batch, a.seed, a.threads)
        os.makedirs(a.out, exist_ok=True)
        csv = os.path.join(a.out, "dcgan_curves.csv")
        with open(csv, "w") as f:
            f.write("step,loss_d_tconv,loss_d_torch64,loss_d_torch32,"
                    "loss_g_tconv,loss_g_torch64,loss_g_torch32\n")
            for s in range(a.steps):
                f.write("%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n" % (
                    s + 1, lc[s, 0], l64[s, 0], l32[s, 0], lc[s, 1], l64[s, 1], l32[s, 1]))
        png = os.path.join(a.out, "dcgan_curves.png")
        lo, hi = plot_curves(png, [(lc[:, 0], (200, 30, 30), False), (l64[:, 0], (0, 0, 0), True),
                                   (lc[:, 1], (30, 60, 200), False), (l64[:, 1], (0, 0, 0), True)])
        print("%d steps, batch %d, seed %d; wrote %s and %s (y %.1f..%.1f: D red, G blue, "
              "torch64 dashed black)" % (a.steps, a.batch, a.seed, csv, png, lo, hi))
        print("%-12s %-22s %-22s %-22s" % ("steps", "max|tconv - torch64|",
                                           "max|torch32 - torch64|", "max|tconv - torch32|"))
        edges = [0, 10, 25, 50, 75, a.steps]
        for lo_s, hi_s in zip(edges, edges[1:]):
            if lo_s >= a.steps:
                break
            sl = slice(lo_s, min(hi_s, a.steps))
            print("%-12s %-22.3g %-22.3g %-22.3g" % ("%d-%d" % (lo_s + 1, min(hi_s, a.steps)),
                                                     np.max(np.abs(lc[sl] - l64[sl])),
                                                     np.max(np.abs(l32[sl] - l64[sl])),
                                                     np.max(np.abs(lc[sl] - l32[sl]))))


if __name__ == "__main__":
    main()
