#!/usr/bin/env python3
"""bench/run.sh --backward: the backward of ConvTranspose2d and Conv2d
(grad_input + grad_weight + grad_bias given a random grad_output), tconv
side by side with its peers, at 1 and 2 threads:

  tconv        forward operator, and the backward operators once tconv.h
               declares them (build-bench/tconv_bwd_bench; until then the
               backward columns say "not in this build")
  oneDNN 3.x   backward_data + backward_weights primitives (with bias), NCHW
               end to end (reorders in and out timed) and in their own
               layouts alone (blocked / NHWC, weights format_any)
  PyTorch 2.x  torch.autograd.grad(y, (x, w, b), gy) with the graph kept:
               the backward only; NCHW and channels_last

Shapes (default): ConvTranspose2d a1_b16 a2_b16 a3_b16 a4_b16 d2 e of
seed-shapes.txt; Conv2d u1..u5 u2_b8 of conv2d-shapes.txt.  Data and
float64 references: bench/bwd_reference.py (Debian's PyTorch 1.13 autograd in
float64 on the same float32 values), cached in build-bench/bwd-data*/.
Standard library only.

    bench/run.sh --backward [--ops ct2d,conv2d] [--only a1_b16,u1] [--threads 1,2]
                 [--quick] [--markdown FILE] [--keep DIR]
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile

import run_modern as rm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT = {"ct2d": "a1_b16,a2_b16,a3_b16,a4_b16,d2,e", "conv2d": "u1,u2,u3,u4,u5,u2_b8"}
SHAPES = {"ct2d": "seed-shapes.txt", "conv2d": "conv2d-shapes.txt"}


def read_tsv(path):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        cols = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(cols, line.rstrip("\n").split("\t")))
            rows[(r["shape"], int(r["threads"]))] = r
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backward", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--ops", default="ct2d,conv2d")
    ap.add_argument("--only", default=None, help="shape names (default: the lists above)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--ref-python", default="/usr/bin/python3",
                    help="interpreter with PyTorch for the float64 references")
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--keep", default=None)
    a = ap.parse_args(argv)
    vp = rm.venv_paths()
    tmp = a.keep or tempfile.mkdtemp(prefix="tconv-bwd-")
    os.makedirs(tmp, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]
    exe = os.path.join(a.build_dir, "tconv_bwd_bench")
    L, summ, headers = [], [], []
    results = []
    for op in a.ops.split(","):
        shapes = os.path.join(HERE, SHAPES[op])
        only = DEFAULT[op]
        if a.only:
            want = set(a.only.split(","))
            only = ",".join(n for n in DEFAULT[op].split(",") if n in want) or None
            if only is None:
                names = [ln.split()[0] for ln in open(shapes)
                         if ln.strip() and not ln.startswith("#")]
                only = ",".join(n for n in names if n in want)
            if not only:
                continue
        conv = ["--conv2d"] if op == "conv2d" else []
        data = os.path.join(a.build_dir, "bwd-data" + ("-conv2d" if op == "conv2d" else ""))
        cmd = [a.ref_python, os.path.join(HERE, "bwd_reference.py"), "--shapes", shapes,
               "--only", only, "--dir", data] + conv
        rm.log("+", " ".join(cmd))
        if subprocess.call(cmd, stdout=sys.stderr):
            sys.exit("bwd_reference.py failed")
        common = ["--shapes", shapes, "--only", only] + conv + (["--quick"] if a.quick else [])
        crow = {}
        for t in threads:
            tsv = os.path.join(tmp, f"bwd_{op}_{t}.tsv")
            cmd = [exe, "--data", data, "--threads", str(t), "--tsv", tsv] + common
            rm.log("+", " ".join(cmd))
            out = subprocess.run(cmd, env=dict(os.environ, OCL_ICD_FILENAMES=vp["ocl_icd"]),
                                 preexec_fn=lambda t=t: os.sched_setaffinity(0, rm.cpus_for(t)),
                                 stdout=subprocess.PIPE, text=True)
            sys.stderr.write(out.stdout)
            headers += [x[2:] for x in out.stdout.splitlines()
                        if x.startswith("# ") and x[2:] not in headers]
            crow.update(read_tsv(tsv))
        trec = {}
        if not a.no_torch and os.path.exists(vp["python"]):
            for t in threads:
                env = {"OMP_NUM_THREADS": str(t), "LD_LIBRARY_PATH": vp["stubs"]}
                for r in rm.run_jsonl([vp["python"], os.path.join(HERE, "modern_peer.py"),
                                       "--peer", "torch2", "--backward", "--data", data,
                                       "--threads", str(t)] + common, env,
                                      os.path.join(tmp, f"torch2_bwd_{op}_{t}.jsonl")):
                    if "info" not in r:
                        trec[(r["shape"], r["threads"], r["variant"])] = r
        results.append((op, only.split(","), crow, trec))
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = open("/proc/loadavg").read().split()[:3]

    L.append(f"Run {started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC; load average before "
             f"{' '.join(load_before)}, after {' '.join(load_after)} (1/5/15 min).")
    L += headers
    L.append("")
    F = rm.Fig
    for op, names, crow, trec in results:
        L.append(f"Backward of {'Conv2d' if op == 'conv2d' else 'ConvTranspose2d'} "
                 "(grad_input + grad_weight + grad_bias; median ms):")
        L.append("")
        L.append("| shape | T | fwd GFLOP | tconv fwd | tconv bwd | tconv bwd/fwd | tconv dx, dw "
                 "| PyTorch2 NCHW (bwd/fwd) | PyTorch2 channels_last | oneDNN3 e2e (mode) | "
                 "oneDNN3 own layout (mode) | fastest NCHW peer: peer/tconv | fastest any "
                 "layout: peer/tconv | cpu/wall tconv, oneDNN3 e2e, PyTorch2 | checks |")
        L.append("|" + "---|" * 15)
        for s in names:
            for t in threads:
                r = crow.get((s, t))
                if not r:
                    continue
                fwd, bwd = rm.num(r["fwd_ms"]), rm.num(r["bwd_ms"])
                berr, ferr = rm.num(r["bwd_err"]), rm.num(r["fwd_err"])
                tok = berr is not None and berr <= rm.TOL
                figs = []
                for mode, key, lay in (("any", "e2e_any", "nchw"), ("nhwc", "e2e_nhwc", "nchw"),
                                       ("any", "prim_any", "own"), ("nhwc", "prim_nhwc", "own")):
                    figs.append(F(f"oneDNN3 {'e2e' if lay == 'nchw' else 'own'} {mode}", lay,
                                  rm.num(r[f"dnnl_{key}_ms"]),
                                  rm.num(r[f"dnnl_err_{mode}"]), rm.num(r[f"dnnl_{key}_cpu"])))
                pt = {v: trec.get((s, t, v)) for v in ("eager", "eager_cl")}
                for v, lay, lab in (("eager", "nchw", "PyTorch2 NCHW"),
                                    ("eager_cl", "own", "PyTorch2 channels_last")):
                    if pt[v]:
                        figs.append(F(lab, lay, pt[v]["median_ms"], pt[v]["err"],
                                      pt[v].get("cpu_per_wall")))
                good = [f for f in figs if f.ok]
                bn = min((f for f in good if f.layout == "nchw"), key=lambda f: f.ms, default=None)
                ba = min(good, key=lambda f: f.ms, default=None)
                e2e = min((f for f in figs if f.layout == "nchw" and f.label.startswith("oneDNN3")
                           and f.ms), key=lambda f: f.ms, default=None)
                own = min((f for f in figs if f.layout == "own" and f.label.startswith("oneDNN3")
                           and f.ms), key=lambda f: f.ms, default=None)
                bad = [f.label for f in figs if f.ms is not None and not f.ok]
                p0, p1 = pt["eager"], pt["eager_cl"]
                chk = (f"tconv fwd {'PASS' if ferr is not None and ferr <= rm.TOL else 'FAIL'}, "
                       f"bwd {'PASS' if tok else '-' if berr is None else 'FAIL'}; "
                       f"{len(good)} peer figures PASS" + (f"; FAIL: {', '.join(bad)}" if bad else ""))
                L.append(
                    f"| {s} | {t} | {float(r['gflop']):.3f} | {rm.fms(fwd)} | {rm.fms(bwd)} | "
                    f"{rm.fratio(bwd, fwd)} | {rm.fms(rm.num(r['bwd_data_ms']))}, "
                    f"{rm.fms(rm.num(r['bwd_weight_ms']))} | "
                    + (f"{rm.fms(p0['median_ms'])} ({rm.fratio(p0['median_ms'], p0['fwd_ms'])})"
                       if p0 else "-") + " | "
                    + (f"{rm.fms(p1['median_ms'])}" if p1 else "-") + " | "
                    + (f"{rm.fms(e2e.ms)} ({e2e.label.split()[-1]})" if e2e else "-") + " | "
                    + (f"{rm.fms(own.ms)} ({own.label.split()[-1]})" if own else "-") + " | "
                    + (f"{rm.fratio(bn.ms, bwd)} ({bn.label} {rm.fms(bn.ms)})" if bn else "-")
                    + " | "
                    + (f"{rm.fratio(ba.ms, bwd)} ({ba.label} {rm.fms(ba.ms)})" if ba else "-")
                    + " | "
                    + f"{rm.fms(rm.num(r['bwd_cpu']))}, {rm.fms(e2e.cpu) if e2e else '-'}, "
                    + f"{rm.fms(p0.get('cpu_per_wall')) if p0 else '-'} | {chk} |")
                summ.append(dict(op=op, shape=s, t=t, bwd=bwd if tok else None, fwd=fwd,
                                 n=bn.ms if bn else None, b=ba.ms if ba else None))
        L.append("")
        L.append("impl (oneDNN3, T=%d): " % threads[0] + "; ".join(
            f"{s}: any = {crow[(s, threads[0])]['dnnl_impl_any']}, nhwc = "
            f"{crow[(s, threads[0])]['dnnl_impl_nhwc']}" for s in names if (s, threads[0]) in crow))
        notes = sorted({crow[k]["bwd_note"] for k in crow})
        L.append("tconv backward: " + "; ".join(notes))
        L.append("")
    L.append("Ratios > 1: tconv faster. bwd/fwd = backward median / forward median (tconv's own "
             "operators; PyTorch2's in brackets). oneDNN3 e2e: NCHW grad_output and input in, "
             "grad_input (NCHW) and grad_weight (PyTorch layout) out, reorders timed; own "
             "layout: the two primitives alone. Checks: each of gx, gw, gb within 1e-4 "
             "(max|v - ref| / max|ref|) of PyTorch 1.13's float64 autograd.")
    L.append("")
    L.append("Summary (geometric means of peer / tconv backward, > 1 = tconv faster):")
    L.append("")
    L.append("| op | threads | shapes | vs fastest NCHW peer | vs fastest peer, any layout | "
             "tconv bwd/fwd |")
    L.append("|---|---|---|---|---|---|")
    for op, names, _, _ in results:
        for t in threads:
            sel = [x for x in summ if x["op"] == op and x["t"] == t and x["bwd"]]
            if not sel:
                L.append(f"| {op} | {t} | 0 | - (no tconv backward timed) | - | - |")
                continue
            gn = rm.gmean([x["n"] / x["bwd"] for x in sel if x["n"]])
            ga = rm.gmean([x["b"] / x["bwd"] for x in sel if x["b"]])
            gr = rm.gmean([x["bwd"] / x["fwd"] for x in sel if x["fwd"]])
            L.append(f"| {op} | {t} | {len(sel)} | {gn:.2f}x | {ga:.2f}x | {gr:.2f} |")
    text = "\n".join(L) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    rm.log(f"raw outputs in {tmp}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
