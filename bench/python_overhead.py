#!/usr/bin/env python3
"""What the Python layer costs on top of the C operator.

For a few seed layers, medians (ms) of:
  op.run(x, out)      a create-once tconv.Operator, output preallocated (the bare run)
  op.run(x)           the same, allocating the output
  module m(x)         tconv.nn.ConvTranspose2d / Conv2d (keeps its packed operator)
  functional (param)  tconv.conv_transpose2d(x, m.weight, m.bias, ...) with the module's
                      read-only Parameters (cache hit by identity)
  functional (array)  the same with writable NumPy copies of the weights (cache hit after
                      comparing the weight bytes)
  create per call     what every functional call cost before the cache: create + pack +
                      reshape + run

    PYTHONPATH=python python3 bench/python_overhead.py [--threads 1] [--seconds 0.3]
                                                       [--all-shapes]

--all-shapes: every shape of bench/seed-shapes.txt (ConvTranspose2d) and
bench/conv2d-shapes.txt (Conv2d) instead of the five layers below.
"""
import argparse
import os
import time

import numpy as np

import tconv
from tconv import nn

LAYERS = [
    ("ct 512->256 k4s2p1, 1x512x4x4", lambda: nn.ConvTranspose2d(512, 256, 4, 2, 1), (1, 512, 4, 4),
     dict(stride=2, padding=1)),
    ("ct 128->64 k4s2p1, 16x128x4x4", lambda: nn.ConvTranspose2d(128, 64, 4, 2, 1), (16, 128, 4, 4),
     dict(stride=2, padding=1)),
    ("ct 64->64 k2s2, 1x64x16x16", lambda: nn.ConvTranspose2d(64, 64, 2, 2), (1, 64, 16, 16),
     dict(stride=2)),
    ("conv 64->64 k3p1, 1x64x32x32", lambda: nn.Conv2d(64, 64, 3, padding=1), (1, 64, 32, 32),
     dict(padding=1)),
    ("ct 16->16 k3s2p1, 1x16x6x6", lambda: nn.ConvTranspose2d(16, 16, 3, 2, 1), (1, 16, 6, 6),
     dict(stride=2, padding=1)),
]


HERE = os.path.dirname(os.path.abspath(__file__))


def shape_layers():
    """(name, make, input shape, functional kwargs) per line of the shape files."""
    out = []
    for fname, ct in (("seed-shapes.txt", True), ("conv2d-shapes.txt", False)):
        for line in open(os.path.join(HERE, fname)):
            f = line.split("#")[0].split()
            if not f:
                continue
            name, v = f[0], [int(x) for x in f[1:]]
            n, cin, h, w, cout, kh, kw, sh, sw, ph, pw = v[:11]
            kw_ = dict(stride=(sh, sw), padding=(ph, pw), groups=v[-1])
            if ct:
                kw_["output_padding"] = (v[11], v[12])
                make = (lambda c=cin, o=cout, k=(kh, kw), q=dict(kw_):
                        nn.ConvTranspose2d(c, o, k, **q))
            else:
                make = (lambda c=cin, o=cout, k=(kh, kw), q=dict(kw_): nn.Conv2d(c, o, k, **q))
            out.append(("%s %s" % ("ct" if ct else "conv", name), make, (n, cin, h, w), kw_))
    return out


def medians_ms(fns, seconds, block=12, warm=3):
    """Medians of fns timed in round-robin blocks of `block` calls, the first
    `warm` of each block not counted (each variant has its own packed
    weights: the block lets them into the caches, as a loop of one layer
    would), so a neighbour's load on this shared machine hits every variant
    alike."""
    samples = [[] for _ in fns]
    t_end = time.perf_counter() + seconds * len(fns)
    while len(samples[0]) < 30 or time.perf_counter() < t_end:
        for f, s in zip(fns, samples):
            for i in range(block):
                t0 = time.perf_counter()
                f()
                if i >= warm:
                    s.append(time.perf_counter() - t0)
    return [float(np.median(s)) * 1e3 for s in samples]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--all-shapes", action="store_true")
    a = ap.parse_args()
    tconv.set_num_threads(a.threads)
    rs = np.random.default_rng(0)
    print("tconv %s, %s, %d thread(s), medians in ms" % (tconv.version, tconv.best_impl(),
                                                         a.threads))
    print("| layer | op.run(x, out) | op.run(x) | module | vs bare | functional (param) | "
          "vs bare | functional (array) | vs bare | create per call |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, make, shape, kw in (shape_layers() if a.all_shapes else LAYERS):
        tconv.manual_seed(1)
        m = make()
        x = rs.standard_normal(shape).astype(np.float32)
        f = tconv.conv_transpose2d if isinstance(m, nn.ConvTranspose2d) else tconv.conv2d
        opmake = tconv.Operator.conv_transpose2d if f is tconv.conv_transpose2d \
            else tconv.Operator.conv2d
        op = opmake(m.weight, m.bias, **kw)
        op.reshape(x.shape)
        out = op.run(x)
        assert np.array_equal(m(x), out) and np.array_equal(f(x, m.weight, m.bias, **kw), out)
        w, b = m.weight.copy(), m.bias.copy()
        bare, alloc, mod, fp, fa = medians_ms(
            [lambda: op.run(x, out), lambda: op.run(x), lambda: m(x),
             lambda: f(x, m.weight, m.bias, **kw), lambda: f(x, w, b, **kw)], a.seconds)

        def fresh():
            with opmake(m.weight, m.bias, **kw) as o:
                o.reshape(x.shape)
                o.run(x)
        cr = medians_ms([fresh], a.seconds)[0]
        print("| %s | %.4f | %.4f | %.4f | %.2fx | %.4f | %.2fx | %.4f | %.2fx | %.3f |"
              % (name, bare, alloc, mod, mod / bare, fp, fp / bare, fa, fa / bare, cr))


if __name__ == "__main__":
    main()
