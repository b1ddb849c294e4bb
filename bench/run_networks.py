#!/usr/bin/env python3
"""bench/run.sh --networks: the seed networks, whole, eval mode, the same
weights and inputs for everyone (bench/net_peers.py --prepare writes them
into build-bench/net-data), at 1 and 2 threads, each process pinned to T
CPUs:

  tconv          nn API as the examples use it, and the same layers with
                 create-once operators (build-bench/tconv_net_bench)
  tconv.nn       the same modules in the Python package (python/tconv on
                 build-bench/libtconv.so), NumPy in and out
  PyTorch 2.x    eager and torch.compile with frozen weights, no_grad
  ONNX Runtime   the exported model (torch.onnx.export, dynamo=False, opset 17)
  OpenVINO       the same ONNX file, CPU plugin, f32

Cases: seed 000's DCGAN generator at batch 1 and 64, seed 003's generator at
batch 16 and 256, seed 000's U-Net decoder at batch 1 and 16.  Every output
is checked against the float64 run of the same model and input.  Standard
library only.

    bench/run.sh --networks [--cases dcgan000_b1,...] [--threads 1,2] [--quick]
                 [--no-compile] [--prepare] [--markdown FILE] [--keep DIR]
"""
import argparse
import datetime
import os
import sys
import tempfile

import run_modern as rm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CASES = "dcgan000_b1,dcgan000_b64,dcgan003_b16,dcgan003_b256,unet000_b1,unet000_b16"
LABELS = {("tconv", "nn"): "tconv nn API", ("tconv", "ops"): "tconv ops",
          ("tconv", "seq"): "tconv fused Sequential",
          ("tconvpy", "nn"): "tconv.nn (Python)",
          ("torch2", "eager"): "PyTorch2 eager", ("torch2", "compile"): "PyTorch2 compile",
          ("ort", "ort"): "ONNX Runtime", ("openvino", "ov"): "OpenVINO"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--networks", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--prepare", action="store_true", help="rewrite weights, inputs, references")
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--keep", default=None)
    a = ap.parse_args(argv)
    vp = rm.venv_paths()
    if not os.path.exists(vp["python"]):
        sys.exit(f"no peers' virtualenv at {vp['venv']}: run bench/setup_peers.sh")
    tmp = a.keep or tempfile.mkdtemp(prefix="tconv-net-")
    os.makedirs(tmp, exist_ok=True)
    data = os.path.join(a.build_dir, "net-data")
    cases = a.cases.split(",")
    threads = [int(t) for t in a.threads.split(",")]
    torch_env = {"LD_LIBRARY_PATH": vp["stubs"],
                 "TORCHINDUCTOR_CACHE_DIR": os.path.join(a.build_dir, "inductor-cache")}
    need = [os.path.join(data, f"{c}.{ext}") for c in cases
            for ext in ("input.safetensors", "ref.f64", "onnx")]
    if a.prepare or not all(os.path.exists(p) for p in need):
        cmd = [vp["python"], os.path.join(HERE, "net_peers.py"), "--prepare", "--dir", data,
               "--cases", a.cases]
        rm.log("+", " ".join(cmd))
        import subprocess
        if subprocess.call(cmd, env=dict(os.environ, **torch_env), stdout=sys.stderr):
            sys.exit("net_peers.py --prepare failed")
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]
    q = ["--quick"] if a.quick else []
    recs, infos = [], []
    for t in threads:
        cpus = rm.cpus_for(t)
        runs = [([os.path.join(a.build_dir, "tconv_net_bench"), "--dir", data, "--cases",
                  a.cases, "--threads", str(t)] + q, {}, "tconv")]
        lib = os.path.join(a.build_dir, "libtconv.so")
        for peer in ("tconv", "torch", "ort", "openvino"):
            extra = ["--no-compile"] if (peer == "torch" and a.no_compile) else []
            env = dict(torch_env) if peer == "torch" else {}
            if peer == "tconv":
                env["TCONV_LIBRARY"] = lib
            runs.append(([vp["python"], os.path.join(HERE, "net_peers.py"), "--peer", peer,
                          "--dir", data, "--cases", a.cases, "--threads", str(t)] + q + extra,
                         dict(env, OMP_NUM_THREADS=str(t)), peer + "py" if peer == "tconv"
                         else peer))
        for cmd, env, peer in runs:
            for r in rm.run_jsonl(cmd, env, os.path.join(tmp, f"{peer}_{t}.jsonl"), cpus):
                if "info" in r:
                    if t == threads[0]:
                        infos.append(r["info"])
                else:
                    recs.append(r)
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = open("/proc/loadavg").read().split()[:3]

    by = {}
    for r in recs:
        by[(r["shape"], r["threads"], r["peer"], r["variant"])] = r
    cols = list(LABELS)
    L = [f"Run {started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC; load average before "
         f"{' '.join(load_before)}, after {' '.join(load_after)} (1/5/15 min); every process "
         "pinned to T CPUs."]
    for i in infos:
        L.append("peer: " + ", ".join(f"{k}={v}" for k, v in i.items() if k != "threads"))
    L.append("")
    L.append("| case | T | " + " | ".join(LABELS[c] for c in cols) +
             " | fastest peer | nn API: peer/tconv | fused: peer/tconv | cpu/wall tconv nn, "
             "fused, fastest peer | checks |")
    L.append("|" + "---|" * (len(cols) + 8))
    summ = []
    compile_notes = []
    for c in cases:
        for t in threads:
            cells, figs = [], {}
            for k in cols:
                r = by.get((c, t) + k)
                if not r:
                    cells.append("-")
                    continue
                ok = r["err"] is not None and r["err"] <= rm.TOL
                figs[k] = (r["median_ms"], ok, r.get("cpu_per_wall"))
                cells.append(rm.fms(r["median_ms"]) + ("" if ok else "*"))
                if r.get("compile_s") is not None:
                    compile_notes.append(f"{c}/T{t} {r['compile_s']:.1f} s")
            peers = [(v[0], k) for k, v in figs.items() if not k[0].startswith("tconv") and v[1]]
            best = min(peers, default=None)
            tn, to = figs.get(("tconv", "nn")), figs.get(("tconv", "seq"))
            tn_ms = tn[0] if tn and tn[1] else None
            to_ms = to[0] if to and to[1] else None
            bad = [LABELS[k] for k, v in figs.items() if not v[1]]
            cpu = ", ".join(rm.fms(x[2]) if x and x[2] is not None and x[2] >= 0 else "-"
                            for x in (tn, to, figs.get(best[1]) if best else None))
            L.append(f"| {c} | {t} | " + " | ".join(cells) + " | "
                     + (f"{LABELS[best[1]]} {rm.fms(best[0])}" if best else "-") + " | "
                     + f"{rm.fratio(best[0] if best else None, tn_ms)} | "
                     + f"{rm.fratio(best[0] if best else None, to_ms)} | {cpu} | "
                     + ("all PASS" if not bad else "FAIL: " + ", ".join(bad)) + " |")
            tp = figs.get(("tconvpy", "nn"))
            summ.append(dict(t=t, best=best[0] if best else None, nn=tn_ms, ops=to_ms,
                             py=tp[0] if tp and tp[1] else None))
    L.append("")
    L.append("Median ms per forward (* = failed its check: max|y - ref| / max|ref| > 1e-4 "
             "against the float64 run). Ratios > 1: tconv faster than the fastest peer. "
             "tconv nn API: module forwards layer by layer (each module keeps its packed "
             "operator); tconv ops: the convolutions on operators created once, the other "
             "layers as the nn API; tconv fused Sequential: tconv_sequential (BatchNorm "
             "folded, activations in the convolutions' stores); tconv.nn (Python): the same "
             "modules from the Python package, per call from NumPy arrays.")
    if compile_notes:
        L.append("torch.compile compile times: " + "; ".join(compile_notes))
    L.append("")
    L.append("| threads | cases | nn API: geometric mean peer/tconv | fused Sequential: "
             "geometric mean peer/tconv | tconv.nn (Python) / C nn API: geometric mean, worst |")
    L.append("|---|---|---|---|---|")
    for t in threads:
        sel = [x for x in summ if x["t"] == t and x["best"]]
        gn = rm.gmean([x["best"] / x["nn"] for x in sel if x["nn"]])
        go = rm.gmean([x["best"] / x["ops"] for x in sel if x["ops"]])
        pr = [x["py"] / x["nn"] for x in summ if x["t"] == t and x["py"] and x["nn"]]
        gp = rm.gmean(pr)
        L.append(f"| {t} | {len(sel)} | {'-' if gn is None else f'{gn:.2f}x'} | "
                 f"{'-' if go is None else f'{go:.2f}x'} | "
                 f"{'-' if gp is None else f'{gp:.3f}, {max(pr):.3f}'} |")
    text = "\n".join(L) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    rm.log(f"raw outputs in {tmp}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
