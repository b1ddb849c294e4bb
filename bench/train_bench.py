#!/usr/bin/env python3
"""bench/run.sh --train: one training epoch of the digits DCGAN (1797 images,
batch 64: 28 steps of G forward, D on real and fake, D backward and Adam, D
on fake again, G backward and Adam) in C with `tconv train` and in PyTorch
2.x eager from PyPI (the peers' virtualenv), side by side, at 1 and 2
threads.

Both run the loop body of scripts/train_dcgan_digits.py (its Generator,
Discriminator and weights_init for PyTorch; tools/dcgan.c for tconv) with
the same data pipeline (models/digits8x8.safetensors upscaled to 16x16),
the same batch size and thread count (torch.set_num_threads(T), tconv
--threads T), each process pinned to T CPUs.  An epoch is timed from its
shuffle to its last step (batches, noise and steps; not tconv's per-epoch
PNG and weights, which are written after the clock stops).  Each process
trains E epochs (default 6); the first epoch of each is a warm-up and not
counted; rounds alternate tconv and PyTorch so drifting machine load hits
both.  Reported: the median images/s over the counted epochs of all rounds,
the interquartile range, and CPU time / wall time of the processes.

    bench/run.sh --train [--threads 1,2] [--epochs 6] [--rounds 3]
                         [--batch-size 64] [--torch113] [--markdown FILE]

--torch113 adds Debian's PyTorch 1.13 (/usr/bin/python3) as a third column.
Standard library only (the PyTorch side runs this file again with
--torch-worker in the peers' interpreter).
"""
import argparse
import datetime
import json
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DIGITS = os.path.join(ROOT, "models", "digits8x8.safetensors")


# ---- the PyTorch side (run in the peers' interpreter) -------------------------------------

def torch_worker(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from train_dcgan_digits import Discriminator, Generator, weights_init

    torch.set_num_threads(a.threads)
    with open(DIGITS, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    e = json.loads(raw[8:8 + n])["images"]
    b0, b1 = e["data_offsets"]
    images = torch.frombuffer(bytearray(raw[8 + n + b0:8 + n + b1]), dtype=torch.uint8)
    x = images.reshape(e["shape"]).float().unsqueeze(1) / 16.0
    data = (F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False) * 2.0 - 1.0
            ).clamp(-1.0, 1.0)
    torch.manual_seed(a.seed)
    gen, disc = Generator(), Discriminator()
    gen.apply(weights_init)
    disc.apply(weights_init)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    count, batch = data.shape[0], a.batch_size
    steps = count // batch
    print(json.dumps({"info": {"torch": torch.__version__, "threads": torch.get_num_threads()}}),
          flush=True)
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(count)
        for i in range(0, count - batch + 1, batch):
            real = data[perm[i:i + batch]]
            z = torch.randn(batch, 100, 1, 1)
            fake = gen(z)
            opt_d.zero_grad()
            loss_d = bce(disc(real), torch.full((batch,), 0.9)) + \
                bce(disc(fake.detach()), torch.zeros(batch))
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = bce(disc(fake), torch.ones(batch))
            loss_g.backward()
            opt_g.step()
        dt = time.perf_counter() - t0
        print(json.dumps({"epoch": epoch, "images_per_s": steps * batch / dt,
                          "loss_d": loss_d.item(), "loss_g": loss_g.item()}), flush=True)


# ---- the driver -----------------------------------------------------------------------------

def venv_paths():
    venv = os.environ.get("TCONV_PEERS_VENV", os.path.join(ROOT, "build-bench", "peers-venv"))
    return {"python": os.path.join(venv, "bin", "python"), "stubs": os.path.join(venv, "cuda-stubs")}


def cpus_for(t):
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[:t]) if len(cpus) >= t else set(cpus)


def run(cmd, env_extra, cpus):
    """Runs cmd pinned to cpus; returns (stdout, cpu seconds / wall seconds)."""
    env = dict(os.environ, **env_extra)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, cpu / wall


EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+\s+(\d+) steps\s+loss D (\S+) G (\S+)\s+(\S+) images/s")


def c_rates(tconv, a, t, r, tmp):
    out = os.path.join(tmp, "c_t%d_r%d" % (t, r)) + "/"
    stdout, util = run([tconv, "train", "--epochs", str(a.epochs), "--batch-size",
                        str(a.batch_size), "--seed", str(r), "--threads", str(t), "--out", out],
                       {}, cpus_for(t))
    rates = [float(m.group(5)) for m in map(EPOCH_LINE.match, stdout.splitlines()) if m]
    if len(rates) != a.epochs:
        sys.exit("unexpected tconv train output:\n" + stdout)
    return rates[1:], util


def torch_rates(python, env, a, t, r):
    stdout, util = run([python, os.path.abspath(__file__), "--torch-worker", "--epochs",
                        str(a.epochs), "--batch-size", str(a.batch_size), "--seed", str(r),
                        "--threads", str(t)], env, cpus_for(t))
    recs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    info = next(x["info"] for x in recs if "info" in x)
    rates = [x["images_per_s"] for x in recs if "epoch" in x]
    return rates[1:], util, info


def quartiles(xs):
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--epochs", type=int, default=6, help="per process; the first is not counted")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--torch113", action="store_true")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--markdown", default=None, help="also write the table here")
    a = ap.parse_args()
    if a.torch_worker:
        a.threads = int(a.threads)
        return torch_worker(a)
    if a.epochs < 2:
        sys.exit("--epochs must be at least 2 (the first is a warm-up)")
    threads = [int(t) for t in a.threads.split(",")]
    tconv = os.path.join(a.build_dir, "tconv")
    vp = venv_paths()
    if not os.path.exists(vp["python"]):
        sys.exit("no peers' virtualenv at %s: run bench/setup_peers.sh (or set TCONV_PEERS_VENV)"
                 % os.path.dirname(os.path.dirname(vp["python"])))
    peers = [("PyTorch 2.x eager", vp["python"], {"LD_LIBRARY_PATH": vp["stubs"]})]
    if a.torch113:
        peers.append(("PyTorch 1.13 eager", "/usr/bin/python3", {}))
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]
    tmp = tempfile.mkdtemp(prefix="tconv-train-bench-")
    res, infos = {}, {}
    for t in threads:
        for r in range(a.rounds):
            rates, util = c_rates(tconv, a, t, r, tmp)
            res.setdefault(("tconv", t), ([], []))[0].extend(rates)
            res[("tconv", t)][1].append(util)
            print("T%d round %d: tconv %s images/s (cpu/wall %.2f)"
                  % (t, r + 1, " ".join("%.0f" % x for x in rates), util), file=sys.stderr)
            for name, python, env in peers:
                rates, util, info = torch_rates(python, dict(env, OMP_NUM_THREADS=str(t)), a, t, r)
                infos[name] = info
                res.setdefault((name, t), ([], []))[0].extend(rates)
                res[(name, t)][1].append(util)
                print("T%d round %d: %s %s images/s (cpu/wall %.2f)"
                      % (t, r + 1, name, " ".join("%.0f" % x for x in rates), util),
                      file=sys.stderr)
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = open("/proc/loadavg").read().split()[:3]
    names = ["tconv"] + [p[0] for p in peers]
    L = ["One epoch of the digits DCGAN (%d steps of batch %d), images/s: median over %d rounds "
         "x %d counted epochs [interquartile range], cpu/wall of the processes in brackets."
         % (1797 // a.batch_size, a.batch_size, a.rounds, a.epochs - 1),
         "Run %s-%s UTC; load average before %s, after %s; every process pinned to T CPUs."
         % (started.strftime("%Y-%m-%d %H:%M"), finished.strftime("%H:%M"), " ".join(load_before),
            " ".join(load_after)),
         "Peers: " + "; ".join("%s = torch %s" % (k, v["torch"]) for k, v in infos.items()), "",
         "| threads | " + " | ".join(names) + " | " +
         " | ".join("tconv / %s" % n for n in names[1:]) + " |",
         "|---|" + "---|" * (2 * len(names) - 1)]
    for t in threads:
        cells, med = [], {}
        for n in names:
            rates, utils = res[(n, t)]
            q1, m, q3 = quartiles(rates)
            med[n] = m
            cells.append("%.0f [%.0f-%.0f] (%.2f)" % (m, q1, q3, statistics.median(utils)))
        L.append("| %d | %s | %s |" % (t, " | ".join(cells),
                                       " | ".join("%.2fx" % (med["tconv"] / med[n])
                                                  for n in names[1:])))
    text = "\n".join(L)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
