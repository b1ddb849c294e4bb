#!/usr/bin/env python3
"""bench/run.sh --modern: forward ConvTranspose2d (seed-shapes.txt) or, with
--conv2d, Conv2d (conv2d-shapes.txt), tconv side by side with the peers a
user installs today (bench/setup_peers.sh) and the old Debian ones, in one
run, at 1 and 2 threads:

  tconv            NCHW and NHWC operators (build-bench/tconv_bench)
  oneDNN 3.x       wheel, C API (build-bench/tconv_bench_dnnl3): NCHW end to
                   end (reorders in and out timed) and the primitive alone in
                   its own layout (blocked or NHWC, weights format_any)
  PyTorch 2.x      eager NCHW, eager channels_last, torch.compile (frozen)
  OpenVINO         one node + bias, NCHW in and out
  LiteRT/XNNPACK   NHWC model, and NCHW with TRANSPOSE ops around it
  ONNX Runtime     one node, NCHW
  oneDNN 2.6       Debian, C API (in tconv_bench; NCHW e2e and best layout)
  PyTorch 1.13     Debian (F.conv_transpose2d / F.conv2d)

Every output is checked against a float64 reference of the same float32
data (C programs: tconv's double-accumulating reference kernel; Python
peers: a float64 numpy oracle); a peer that fails its check is shown but
never counted as the fastest.  Standard library only.

    bench/run.sh --modern [--conv2d] [--quick] [--only a1,b_z] [--threads 1,2]
                 [--peers torch2,dnnl3,openvino,litert,ort,dnnl2,torch1]
                 [--no-compile] [--markdown FILE] [--summary FILE] [--keep DIR]
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOL = 1e-4  # max|y - ref| / max|ref|
ALL_PEERS = ["dnnl3", "torch2", "openvino", "litert", "ort", "dnnl2", "torch1"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fms(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v >= 100 else f"{v:.2f}" if v >= 10 else f"{v:.3f}"


def fratio(a, b):
    if a is None or not b:
        return "-"
    q = a / b
    return f"{q:.2f}" if q >= 0.1 else f"{q:.2g}"


def gmean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def venv_paths():
    venv = os.environ.get("TCONV_PEERS_VENV", os.path.join(ROOT, "build-bench", "peers-venv"))
    return {"venv": venv, "python": os.path.join(venv, "bin", "python"),
            "stubs": os.path.join(venv, "cuda-stubs"),
            "ocl_icd": os.path.join(venv, "lib", "libintelocl.so")}


def cpus_for(t):
    """The first t CPUs this process may run on (oneDNN 3.x's SYCL runtime
    takes its thread count from the affinity it is loaded under)."""
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[:t]) if len(cpus) >= t else set(cpus)


REPLAY = False  # --from DIR: read the raw outputs of an earlier run instead of running


def run_jsonl(cmd, env_extra, out, affinity=None):
    env = dict(os.environ, **env_extra)
    rc = 0
    if not REPLAY:
        log("+", " ".join(cmd))
        if os.path.exists(out):
            os.remove(out)
        pre = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
        rc = subprocess.call(cmd + ["--out", out], env=env, stdout=sys.stderr, preexec_fn=pre)
    recs = []
    if os.path.exists(out):
        with open(out) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    if rc:
        log(f"peer exited with {rc}")
    return recs


def run_c(cmd, tsv, env_extra=None, affinity=None):
    """Runs tconv_bench(_dnnl3); returns (rows by (shape, T), peaks, header lines)."""
    lines = []
    if REPLAY:
        if os.path.exists(tsv + ".log"):
            lines = open(tsv + ".log").read().splitlines()
    else:
        log("+", " ".join(cmd))
        pre = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
        env = dict(os.environ, **(env_extra or {}))
        proc = subprocess.Popen(cmd + ["--tsv", tsv], stdout=subprocess.PIPE, text=True, env=env,
                                preexec_fn=pre)
        for line in proc.stdout:
            sys.stderr.write(line)
            lines.append(line.rstrip("\n"))
        if proc.wait():
            log(f"{cmd[0]} failed ({proc.returncode})")
        with open(tsv + ".log", "w") as f:
            f.write("\n".join(lines) + "\n")
    peaks, rows, cols = {}, {}, None
    if os.path.exists(tsv):
        with open(tsv) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if parts[0] == "#peak":
                    t, p512, p256 = int(parts[1]), float(parts[2]), float(parts[3])
                    old = peaks.get(t, (0.0, 0.0))
                    peaks[t] = (max(old[0], p512), max(old[1], p256))
                elif parts[0] == "shape":
                    cols = parts
                elif cols:
                    r = dict(zip(cols, parts))
                    rows[(r["shape"], int(r["threads"]))] = r
    return rows, peaks, [x[2:] for x in lines
                         if x.startswith("# ") and ("at the end" not in x or "round trip" in x)]


class Fig:
    """One peer's figure on one shape and thread count."""

    def __init__(self, label, layout, ms, err=None, cpu=None, note=""):
        self.label, self.layout, self.ms, self.err, self.cpu, self.note = \
            label, layout, ms, err, cpu, note

    @property
    def ok(self):
        return self.ms is not None and self.err is not None and self.err <= TOL


def c_figs(r, label):
    """oneDNN figures of a tconv_bench TSV row: NCHW end to end (any / nhwc
    ways, plain NCHW) and the primitive alone in its layout."""
    err = [num(r.get(k)) for k in ("dnnl_err_any", "dnnl_err_nhwc", "dnnl_err_plain")]
    figs = []
    for mode, lay, key, ek in (("e2e any", "nchw", "dnnl_e2e_any", 0),
                               ("e2e nhwc", "nchw", "dnnl_e2e_nhwc", 1),
                               ("plain", "nchw", "dnnl_plain", 2),
                               ("blocked", "own", "dnnl_prim_any", 0),
                               ("nhwc", "own", "dnnl_prim_nhwc", 1)):
        ms = num(r.get(key + "_ms"))
        if ms is not None:
            figs.append(Fig(f"{label} {mode}", lay, ms, err[ek], num(r.get(key + "_cpu"))))
    return figs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modern", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--conv2d", action="store_true")
    ap.add_argument("--shapes", default=None)
    ap.add_argument("--only", default=None)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", default=",".join(ALL_PEERS),
                    help="comma-separated subset of " + ",".join(ALL_PEERS))
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--peak-1t", type=float, default=None,
                    help="1-thread FMA peak measured on a quiet machine (%%pk ceiling floor)")
    ap.add_argument("--torch1-python", default="/usr/bin/python3")
    ap.add_argument("--markdown", default=None, help="also write the whole report here")
    ap.add_argument("--summary", default=None, help="write the summary table (markdown) here")
    ap.add_argument("--keep", default=None, help="keep raw outputs in this directory")
    ap.add_argument("--from", dest="from_dir", default=None,
                    help="no timing: the report again from the raw outputs kept in this "
                         "directory (--keep) by an earlier run with the same options")
    a = ap.parse_args(argv)
    global REPLAY
    if a.from_dir:
        REPLAY = True
        a.keep = a.from_dir
    peers = set(a.peers.split(","))
    bad = peers - set(ALL_PEERS)
    if bad:
        sys.exit(f"unknown peers: {','.join(sorted(bad))}")
    vp = venv_paths()
    if not os.path.exists(vp["python"]):
        log(f"no peers' virtualenv at {vp['venv']} (bench/setup_peers.sh): modern peers skipped")
        peers -= {"dnnl3", "torch2", "openvino", "litert", "ort"}
    tmp = a.keep or tempfile.mkdtemp(prefix="tconv-modern-")
    os.makedirs(tmp, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    if a.shapes is None:
        a.shapes = os.path.join(HERE, "conv2d-shapes.txt" if a.conv2d else "seed-shapes.txt")
    common = ["--shapes", a.shapes] + (["--only", a.only] if a.only else []) + \
             (["--quick"] if a.quick else []) + (["--conv2d"] if a.conv2d else [])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]
    if REPLAY:
        started = datetime.datetime.fromtimestamp(
            os.path.getmtime(os.path.join(tmp, "tconv_bench.tsv")), datetime.timezone.utc)
        load_before = ["(replayed", "from", a.from_dir + ")"]

    # 1. tconv, all thread counts in one process; then oneDNN 2.6 in another:
    # OpenMP's workers spin for a while after each oneDNN call, and timed
    # interleaved in one process they took one of the two cores from tconv's
    # next runs (2-thread medians twice the minimum).
    cmd = [os.path.join(a.build_dir, "tconv_bench"), "--threads", a.threads] + common
    rows, peaks, header = run_c(cmd + ["--no-dnnl"], os.path.join(tmp, "tconv_bench.tsv"))
    if "dnnl2" in peers:
        r2, _, _ = run_c(cmd + ["--no-tconv", "--peak-seconds", "0.1"],
                         os.path.join(tmp, "dnnl2.tsv"))
        for key, r in r2.items():
            if key in rows:
                rows[key].update({k: v for k, v in r.items() if k.startswith("dnnl")})
    # 2. oneDNN 3.x: one process per thread count, affinity = T CPUs.
    rows3 = {}
    exe3 = os.path.join(a.build_dir, "tconv_bench_dnnl3")
    if "dnnl3" in peers and not os.path.exists(exe3) and not REPLAY:
        log(f"{exe3} not built (bench/run.sh --modern builds it when the venv has oneDNN 3.x)")
    elif "dnnl3" in peers:
        for t in threads:
            r3, _, h3 = run_c([exe3, "--no-tconv", "--no-plain", "--threads", str(t),
                               "--peak-seconds", "0.1"] + common,
                              os.path.join(tmp, f"dnnl3_{t}.tsv"),
                              {"OCL_ICD_FILENAMES": vp["ocl_icd"]}, cpus_for(t))
            rows3.update(r3)
            header += [h for h in h3 if h.startswith("peer:") and t == threads[0]]
    # 3. Python peers, one process per peer and thread count.
    recs, infos = [], []
    for peer in ("torch2", "openvino", "litert", "ort"):
        if peer not in peers:
            continue
        for t in threads:
            env = {"OMP_NUM_THREADS": str(t)}
            if peer == "torch2":
                env["LD_LIBRARY_PATH"] = vp["stubs"] + (
                    ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
                env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(a.build_dir, "inductor-cache")
            extra = ["--no-compile"] if (peer == "torch2" and a.no_compile) else []
            for r in run_jsonl([vp["python"], os.path.join(HERE, "modern_peer.py"), "--peer", peer,
                                "--threads", str(t)] + extra + common, env,
                               os.path.join(tmp, f"{peer}_{t}.jsonl")):
                if "info" in r:
                    if t == threads[0]:
                        infos.append(r["info"])
                else:
                    recs.append(r)
    if "torch1" in peers and (os.path.exists(a.torch1_python) or REPLAY):
        for t in threads:
            env = {"OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t)}
            for r in run_jsonl([a.torch1_python, os.path.join(HERE, "torch_peer.py"),
                                "--threads", str(t)] + common, env,
                               os.path.join(tmp, f"torch1_{t}.jsonl")):
                if "info" in r:
                    if t == threads[0]:
                        infos.append(dict(r["info"], peer="torch1"))
                else:
                    recs.append(dict(r, peer="torch1", variant="eager", layout="nchw"))
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = open("/proc/loadavg").read().split()[:3]
    if REPLAY:
        finished, load_after = started, ["-"]

    # 4. Figures per (shape, T).
    names = {"torch2": {"eager": "PyTorch2 eager", "eager_cl": "PyTorch2 channels_last",
                        "compile": "PyTorch2 compile"},
             "openvino": {"ov": "OpenVINO"},
             "litert": {"xnnpack": "LiteRT/XNNPACK NHWC", "xnnpack_nchw": "LiteRT/XNNPACK NCHW"},
             "ort": {"ort": "ONNX Runtime"}, "torch1": {"eager": "PyTorch1.13"}}
    figs, skips = {}, []
    order = []
    for (s, t), r in rows.items():
        if s not in order:
            order.append(s)
        f = figs.setdefault((s, t), [])
        if "dnnl2" in peers:
            f += c_figs(r, "oneDNN2.6")
        r3 = rows3.get((s, t))
        if r3:
            f += c_figs(r3, "oneDNN3")
    for r in recs:
        key = (r["shape"], r["threads"])
        label = names.get(r["peer"], {}).get(r.get("variant"), f"{r['peer']} {r.get('variant')}")
        if "skipped" in r:
            skips.append(f"{label} {r['shape']}/T{r['threads']}: {r['skipped']}")
            continue
        note = ""
        if r.get("compile_s") is not None:
            note = f"compile {r['compile_s']:.1f} s"
        figs.setdefault(key, []).append(
            Fig(label, "nchw" if r.get("layout") == "nchw" else "own", r["median_ms"], r["err"],
                r.get("cpu_per_wall"), note))

    # %pk ceilings (as run.py): T-thread peak, at least T x the 1-thread one.
    p1 = max(max(peaks.get(1, (0.0, 0.0))), a.peak_1t or 0.0)
    ceil = {t: max(max(peaks.get(t, (0.0, 0.0))), t * p1) for t in threads}

    L = [f"Run {started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC; load average before "
         f"{' '.join(load_before)}, after {' '.join(load_after)} (1/5/15 min).",
         "Operator: " + ("Conv2d (F.conv2d, zero padding)" if a.conv2d else "ConvTranspose2d")
         + f", shapes {os.path.relpath(a.shapes, ROOT)}."]
    L += [h for h in header if not h.startswith("measured")]
    for t in threads:
        if t in peaks:
            L.append(f"measured FMA peak, {t} thread(s): AVX-512 {peaks[t][0]:.1f}, AVX2 "
                     f"{peaks[t][1]:.1f} GFLOP/s; %pk uses {ceil[t]:.1f}")
    for i in infos:
        L.append("peer: " + ", ".join(f"{k}={v}" for k, v in i.items() if k != "threads"))
    L.append("")

    # 4a. Main table.
    L.append("| shape | T | GFLOP | tconv NCHW ms | tconv NHWC ms | tconv %pk | fastest NCHW peer "
             "ms (which) | NCHW: peer/tconv | fastest peer, any layout ms (which) | "
             "any: peer/tconv best | peer %pk | cpu/wall tconv, peer | checks |")
    L.append("|" + "---|" * 13)
    summ = []
    for s in order:
        for t in threads:
            r = rows.get((s, t))
            if not r:
                continue
            tms, tnh = num(r["tconv_ms"]), num(r["tconv_nhwc_ms"])
            terr = max((e for e in (num(r["tconv_err"]), num(r["tconv_nhwc_err"])) if e is not None),
                       default=None)
            t_ok = terr is not None and terr <= TOL
            ugf, gf = float(r["useful_gflop"]), float(r["gflop"])
            pct = (lambda ms: 100 * ugf / (ms * 1e-3) / ceil[t] if ms and ceil.get(t) else None)
            fl = figs.get((s, t), [])
            good = [f for f in fl if f.ok]
            bn = min((f for f in good if f.layout == "nchw"), key=lambda f: f.ms, default=None)
            ba = min(good, key=lambda f: f.ms, default=None)
            tbest = min((v for v in (tms, tnh) if v is not None), default=None)
            bad = [f.label for f in fl if not f.ok and f.ms is not None]
            chk = ("tconv " + ("PASS" if t_ok else "FAIL") + f"; {len(good)} peer figures PASS"
                   + (f"; FAIL: {', '.join(bad)}" if bad else ""))
            cpu = f"{fms(num(r.get('tconv_cpu')))}, {fms(ba.cpu) if ba else '-'}"
            L.append(f"| {s} | {t} | {gf:.4f} | {fms(tms)} | {fms(tnh)} | "
                     f"{'-' if pct(tms) is None else f'{pct(tms):.1f}'} | "
                     f"{fms(bn.ms) if bn else '-'} ({bn.label if bn else '-'}) | "
                     f"{fratio(bn.ms if bn else None, tms)} | "
                     f"{fms(ba.ms) if ba else '-'} ({ba.label if ba else '-'}) | "
                     f"{fratio(ba.ms if ba else None, tbest)} | "
                     f"{'-' if not ba else f'{pct(ba.ms):.1f}'} | {cpu} | {chk} |")
            # A figure whose CPU/wall is well under its thread count ran
            # while another job held its CPU: flagged in the summary.
            loaded = [lb for lb, c in (("tconv", num(r.get("tconv_cpu"))),
                                       (bn.label if bn else None, bn.cpu if bn else None),
                                       (ba.label if ba else None, ba.cpu if ba else None))
                      if lb and c is not None and t == 1 and c < 0.8]
            loaded = list(dict.fromkeys(loaded))
            summ.append(dict(shape=s, t=t, tms=tms, tbest=tbest, t_ok=t_ok, loaded=loaded,
                             n=bn.ms if bn else None, nl=bn.label if bn else None,
                             b=ba.ms if ba else None, bl=ba.label if ba else None,
                             pct=pct(tms), bpct=pct(ba.ms) if ba else None))
    L.append("")
    L.append("Ratios > 1: tconv faster. NCHW: peers taking and giving NCHW (oneDNN with its "
             "reorders timed) against tconv's NCHW operator. Any layout: every figure, including "
             "oneDNN's primitive alone in its blocked / NHWC layout, PyTorch channels_last and "
             "LiteRT's NHWC model, against tconv's better layout. %pk = useful FLOPs (products "
             "that reach the cropped output) / median / measured FMA peak. cpu/wall = process CPU "
             "time / wall time over the timed calls (about T when all T threads worked).")
    L.append("")

    # 4b. Every figure, side by side.
    labels = []
    for fl in figs.values():
        for f in fl:
            if f.label not in labels:
                labels.append(f.label)
    L.append("Every peer figure (median ms; * = failed its check; layout: "
             + ", ".join(f"{lb}: {'NCHW' if any(f.layout == 'nchw' for fl in figs.values() for f in fl if f.label == lb) else 'own'}"
                         for lb in labels) + "):")
    L.append("")
    L.append("| shape | T | tconv | tconv NHWC | " + " | ".join(labels) + " |")
    L.append("|" + "---|" * (4 + len(labels)))
    for s in order:
        for t in threads:
            r = rows.get((s, t))
            if not r:
                continue
            by = {f.label: f for f in figs.get((s, t), [])}
            cells = [(fms(by[lb].ms) + ("" if by[lb].ok else "*")) if lb in by else "-"
                     for lb in labels]
            L.append(f"| {s} | {t} | {fms(num(r['tconv_ms']))} | {fms(num(r['tconv_nhwc_ms']))} | "
                     + " | ".join(cells) + " |")
    L.append("")
    if any(t > 1 for t in threads):
        L.append("cpu/wall at T > 1 (an idle second thread shows as ~1):")
        L.append("")
        L.append("| shape | T | tconv | tconv NHWC | " + " | ".join(labels) + " |")
        L.append("|" + "---|" * (4 + len(labels)))
        for s in order:
            for t in threads:
                r = rows.get((s, t))
                if t == 1 or not r:
                    continue
                by = {f.label: f for f in figs.get((s, t), [])}
                cells = [fms(by[lb].cpu) if lb in by and by[lb].cpu is not None else "-"
                         for lb in labels]
                L.append(f"| {s} | {t} | {fms(num(r.get('tconv_cpu')))} | "
                         f"{fms(num(r.get('tconv_nhwc_cpu')))} | " + " | ".join(cells) + " |")
        L.append("")
    notes = [f"{f.label} {s}/T{t}: {f.note}" for (s, t), fl in figs.items() for f in fl if f.note]
    if notes:
        L.append("Notes: " + "; ".join(notes))
    if skips:
        L.append("Not run: " + "; ".join(skips))
    L.append("")

    # 4c. Summary (markdown, for the top of BENCHMARKS.md).
    S = summary(summ, threads, a, started)
    L += S
    text = "\n".join(L) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.summary:
        with open(a.summary, "w") as f:
            f.write("\n".join(S) + "\n")
    log(f"raw outputs in {tmp}")


def summary(summ, threads, a, started):
    op = "Conv2d" if a.conv2d else "ConvTranspose2d"
    S = [f"Summary ({op}, forward, {started:%Y-%m-%d}; geometric means over shapes of "
         "peer median / tconv median, > 1 = tconv faster):", ""]
    S.append("| threads | shapes | vs fastest NCHW peer | vs fastest peer, any layout | "
             "tconv ahead (NCHW) | tconv median %pk | fastest peers (count) | shapes behind (NCHW) |")
    S.append("|---|---|---|---|---|---|---|---|")
    for t in threads:
        sel = [x for x in summ if x["t"] == t and x["tms"] and x["t_ok"]]
        if not sel:
            continue
        gn = gmean([x["n"] / x["tms"] for x in sel if x["n"]])
        ga = gmean([x["b"] / x["tbest"] for x in sel if x["b"]])
        ahead = sum(1 for x in sel if x["n"] and x["n"] >= x["tms"])
        pcts = sorted(x["pct"] for x in sel if x["pct"] is not None)
        med_pct = pcts[len(pcts) // 2] if pcts else None
        cnt = {}
        for x in sel:
            if x["nl"]:
                cnt[x["nl"]] = cnt.get(x["nl"], 0) + 1
        fastest = ", ".join(f"{k} {v}" for k, v in sorted(cnt.items(), key=lambda kv: -kv[1]))
        behind = ", ".join(f"{x['shape']} {x['n'] / x['tms']:.2f}" for x in
                           sorted(sel, key=lambda x: x["n"] / x["tms"] if x["n"] else 9)
                           if x["n"] and x["n"] < x["tms"])
        S.append(f"| {t} | {len(sel)} | {'-' if gn is None else f'{gn:.2f}x'} | "
                 f"{'-' if ga is None else f'{ga:.2f}x'} | {ahead}/{len(sel)} | "
                 f"{'-' if med_pct is None else f'{med_pct:.0f} %'} | {fastest} | "
                 f"{behind or 'none'} |")
    S.append("")
    hit = [x for x in summ if x["loaded"]]
    if hit:
        clean = [x for x in summ if x["t"] == 1 and not x["loaded"] and x["tms"] and x["t_ok"]]
        gn = gmean([x["n"] / x["tms"] for x in clean if x["n"]])
        S.append(f"Taken under load (1-thread CPU/wall < 0.8: another job held the CPU), "
                 f"{len(hit)} of {len([x for x in summ if x['t'] == 1])} one-thread rows: "
                 + ", ".join(f"{x['shape']} ({', '.join(x['loaded'])})" for x in hit)
                 + (f"; 1-thread geometric mean vs the fastest NCHW peer without them "
                    f"({len(clean)} rows): {gn:.2f}x" if gn else "")
                 + ". Peers run in their own processes after tconv, so a changing load skews "
                   "their ratios: re-run on a quiet machine before drawing conclusions.")
        S.append("")
    return S


if __name__ == "__main__":
    main()
