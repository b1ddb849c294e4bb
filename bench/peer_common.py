"""Shared by the Python peers (torch_peer.py, ort_peer.py): the shapes file
(ConvTranspose2d, or Conv2d with --conv2d), the timing rule of tconv_bench
(warm-up, then median over >= min_time seconds and >= min_reps runs), and
float64 numpy oracles for checking outputs.
Needs numpy only, so both interpreters (Debian's with torch, pyenv's with
onnxruntime) can import it."""
import argparse
import json
import math
import sys
import time

import numpy as np


def read_shapes(path, conv2d=False):
    """seed-shapes.txt (ConvTranspose2d, 14 numbers a line) or, with conv2d,
    conv2d-shapes.txt (`name N Cin H W Cout kh kw sh sw ph pw groups`, zero
    padding, dilation 1; a trailing `# ...` is a comment)."""
    keys = ("n cin h w cout kh kw sh sw ph pw groups" if conv2d
            else "n cin h w cout kh kw sh sw ph pw oph opw groups").split()
    shapes = []
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip() if conv2d else line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if conv2d and len(parts) != len(keys) + 1:
                sys.exit(f"{path}: --conv2d expects {len(keys)} numbers a line: {line}")
            s = dict(zip(keys, map(int, parts[1:len(keys) + 1])))
            s["name"] = parts[0]
            s["conv2d"] = conv2d
            if conv2d:
                s["oph"] = s["opw"] = 0
                s["hout"] = (s["h"] + 2 * s["ph"] - s["kh"]) // s["sh"] + 1
                s["wout"] = (s["w"] + 2 * s["pw"] - s["kw"]) // s["sw"] + 1
            else:
                s["hout"] = (s["h"] - 1) * s["sh"] - 2 * s["ph"] + s["kh"] - 1 + s["oph"] + 1
                s["wout"] = (s["w"] - 1) * s["sw"] - 2 * s["pw"] + s["kw"] - 1 + s["opw"] + 1
            shapes.append(s)
    return shapes


def flops(s):
    if s.get("conv2d"):  # every product of every output window, padding included
        return (2.0 * s["n"] * s["cout"] * s["hout"] * s["wout"] * s["cin"] * s["kh"] * s["kw"]
                / s["groups"])
    return 2.0 * s["n"] * s["cin"] * s["h"] * s["w"] * s["cout"] * s["kh"] * s["kw"] / s["groups"]


def make_data(s, seed=1):
    """Random input (never all zeros), weights scaled by 1/sqrt(fan-in), bias.
    Weights in PyTorch's layout: (Cin, Cout/g, kh, kw) for ConvTranspose2d,
    (Cout, Cin/g, kh, kw) for Conv2d."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (s["n"], s["cin"], s["h"], s["w"])).astype(np.float32)
    fan = s["cin"] // s["groups"] * s["kh"] * s["kw"]
    wshape = ((s["cout"], s["cin"] // s["groups"]) if s.get("conv2d")
              else (s["cin"], s["cout"] // s["groups"])) + (s["kh"], s["kw"])
    w = (rng.uniform(-1, 1, wshape) / math.sqrt(fan)).astype(np.float32)
    b = rng.uniform(-1, 1, (s["cout"],)).astype(np.float32)
    return x, w, b


def reference(s, x, w, b):
    """ConvTranspose2d in float64, scatter form: every tap adds a strided
    slab into an uncropped buffer, which is then cropped by the padding."""
    n, g = x.shape[0], s["groups"]
    cig, cog = s["cin"] // g, s["cout"] // g
    hf = (s["h"] - 1) * s["sh"] + s["kh"] + s["oph"]
    wf = (s["w"] - 1) * s["sw"] + s["kw"] + s["opw"]
    full = np.zeros((n, s["cout"], hf, wf))
    xd, wd = x.astype(np.float64), w.astype(np.float64)
    for gi in range(g):
        xg = xd[:, gi * cig:(gi + 1) * cig]
        for ky in range(s["kh"]):
            for kx in range(s["kw"]):
                contrib = np.einsum("nchw,co->nohw", xg, wd[gi * cig:(gi + 1) * cig, :, ky, kx])
                full[:, gi * cog:(gi + 1) * cog,
                     ky:ky + (s["h"] - 1) * s["sh"] + 1:s["sh"],
                     kx:kx + (s["w"] - 1) * s["sw"] + 1:s["sw"]] += contrib
    y = full[:, :, s["ph"]:s["ph"] + s["hout"], s["pw"]:s["pw"] + s["wout"]]
    return y + b.astype(np.float64)[None, :, None, None]


def reference_conv2d(s, x, w, b):
    """Conv2d in float64, gather form: zero-pad the input, then every tap adds
    the strided input window it reads times its weight column."""
    n, g = x.shape[0], s["groups"]
    cig, cog = s["cin"] // g, s["cout"] // g
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (s["ph"], s["ph"]), (s["pw"], s["pw"])))
    wd = w.astype(np.float64)
    y = np.zeros((n, s["cout"], s["hout"], s["wout"]))
    for gi in range(g):
        for ky in range(s["kh"]):
            for kx in range(s["kw"]):
                win = xp[:, gi * cig:(gi + 1) * cig,
                         ky:ky + (s["hout"] - 1) * s["sh"] + 1:s["sh"],
                         kx:kx + (s["wout"] - 1) * s["sw"] + 1:s["sw"]]
                y[:, gi * cog:(gi + 1) * cog] += np.einsum(
                    "nchw,oc->nohw", win, wd[gi * cog:(gi + 1) * cog, :, ky, kx])
    return y + b.astype(np.float64)[None, :, None, None]


def check(s, y, x, w, b, max_gflop=0.4):
    """max|y - ref| / max|ref| on the first images within max_gflop of work."""
    per_image = flops(s) / s["n"] * 1e-9
    k = max(1, min(s["n"], int(max_gflop / per_image)))
    ref = (reference_conv2d if s.get("conv2d") else reference)(s, x[:k], w, b)
    got = np.asarray(y[:k], dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf"), k
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30)), k


def time_stats(fn, quick=False, min_time=None, min_reps=None):
    """Warm-up (>= 0.1 s, at least one call), then timed calls until
    >= min_time seconds and >= min_reps calls (0.3 s / 20; quick: 0.1 s / 5);
    a single call above 0.25 s gets 3 timed calls.  Returns a dict: median_ms,
    min_ms, reps, and cpu_per_wall = this process's CPU time over the wall
    time of the timed calls (about T when T threads were all busy, 1 when a
    second thread idled; pools that spin count as busy)."""
    min_time = min_time if min_time is not None else (0.1 if quick else 0.3)
    min_reps = min_reps if min_reps is not None else (5 if quick else 20)
    warm = 0.05 if quick else 0.1
    t0 = time.perf_counter()
    first = None
    while True:
        a = time.perf_counter()
        fn()
        if first is None:
            first = time.perf_counter() - a
        if time.perf_counter() - t0 >= warm or first >= 0.25:
            break
    max_reps = 2000
    if first >= 0.25:
        min_reps = max_reps = 3
    ts = []
    start = time.perf_counter()
    c0 = time.process_time()
    while len(ts) < max_reps and (len(ts) < min_reps or time.perf_counter() - start < min_time):
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    cpu = time.process_time() - c0
    wall = time.perf_counter() - start
    ts.sort()
    n = len(ts)
    med = ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])
    return {"median_ms": med * 1e3, "min_ms": ts[0] * 1e3, "reps": n,
            "cpu_per_wall": cpu / wall if wall > 0 else None}


def time_fn(fn, quick=False, min_time=None, min_reps=None):
    """time_stats as (median_ms, min_ms, reps)."""
    r = time_stats(fn, quick, min_time, min_reps)
    return r["median_ms"], r["min_ms"], r["reps"]


def arg_parser(desc):
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--shapes", required=True)
    p.add_argument("--conv2d", action="store_true",
                   help="Conv2d shapes (conv2d-shapes.txt) instead of ConvTranspose2d")
    p.add_argument("--only", default=None, help="comma-separated shape names")
    p.add_argument("--threads", type=int, required=True, help="one thread count per process")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--min-time", type=float, default=None)
    p.add_argument("--min-reps", type=int, default=None)
    p.add_argument("--check-gflop", type=float, default=None)
    p.add_argument("--out", default=None, help="JSON lines file (default stdout)")
    return p


def selected(shapes, only):
    if not only:
        return shapes
    names = set(only.split(","))
    return [s for s in shapes if s["name"] in names]


def emit(out, rec):
    line = json.dumps(rec)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
        print(line, file=sys.stderr, flush=True)  # progress
    else:
        print(line, flush=True)


def loaded_libs(*words):
    """Shared libraries mapped into this process whose path contains a word
    (which BLAS a peer really runs on, whatever its build says)."""
    with open("/proc/self/maps") as f:
        libs = {l.split()[-1] for l in f if any(w in l for w in words)}
    return sorted(l for l in libs if l.startswith("/"))
