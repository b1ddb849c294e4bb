"""Data and float64 references for the backward benchmark (bench/run.sh
--backward): per shape, the float32 input x, weights w, bias b (as
peer_common.make_data) and a random grad_output gy, and the float64 results
of PyTorch's autograd on the same float32 values promoted to float64: the
forward output y and the gradients gx, gw, gb of y w.r.t. (x, w, b) given gy.

Run with Debian's python3 (PyTorch 1.13, an independent implementation from
the peers under test).  Files, raw little-endian, C order, PyTorch shapes:
    DIR/NAME.{x,w,b,gy}.f32   DIR/NAME.{y,gx,gw,gb}.f64   DIR/NAME.json
A shape whose .json matches (same numbers, same seeds) is not recomputed.

    /usr/bin/python3 bench/bwd_reference.py --shapes bench/seed-shapes.txt \\
        --only a1_b16,d2 --dir build-bench/bwd-data [--conv2d]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

GY_SEED = 2


def grad_output(s):
    rng = np.random.default_rng(GY_SEED)
    return rng.uniform(-1, 1, (s["n"], s["cout"], s["hout"], s["wout"])).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--conv2d", action="store_true")
    ap.add_argument("--only", default=None)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    for s in pc.selected(pc.read_shapes(a.shapes, a.conv2d), a.only):
        meta = {k: s[k] for k in sorted(s) if k != "name"}
        meta.update(data_seed=1, gy_seed=GY_SEED)
        jpath = os.path.join(a.dir, s["name"] + ".json")
        if os.path.exists(jpath):
            with open(jpath) as f:
                old = json.load(f)
            if old.get("shape") == meta:
                print(f"{s['name']}: reference present", file=sys.stderr)
                continue
        t0 = time.time()
        x, w, b = pc.make_data(s)
        gy = grad_output(s)
        x64 = torch.from_numpy(x).double().requires_grad_(True)
        w64 = torch.from_numpy(w).double().requires_grad_(True)
        b64 = torch.from_numpy(b).double().requires_grad_(True)
        kw = dict(stride=(s["sh"], s["sw"]), padding=(s["ph"], s["pw"]), groups=s["groups"])
        if s["conv2d"]:
            y = F.conv2d(x64, w64, b64, **kw)
        else:
            y = F.conv_transpose2d(x64, w64, b64, output_padding=(s["oph"], s["opw"]), **kw)
        assert tuple(y.shape) == gy.shape, (tuple(y.shape), gy.shape)
        gx, gw, gb = torch.autograd.grad(y, (x64, w64, b64), torch.from_numpy(gy).double())
        for name, arr in (("x", x), ("w", w), ("b", b), ("gy", gy)):
            arr.astype("<f4").tofile(os.path.join(a.dir, f"{s['name']}.{name}.f32"))
        for name, t in (("y", y), ("gx", gx), ("gw", gw), ("gb", gb)):
            t.detach().numpy().astype("<f8").tofile(os.path.join(a.dir, f"{s['name']}.{name}.f64"))
        with open(jpath, "w") as f:
            json.dump({"shape": meta, "torch": torch.__version__, "seconds": time.time() - t0}, f)
        print(f"{s['name']}: reference written ({time.time() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
