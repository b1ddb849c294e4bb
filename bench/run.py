#!/usr/bin/env python3
"""Runs tconv_bench (tconv + oneDNN), the PyTorch peer and the ONNX Runtime
peer one after another on the same shapes and thread counts, and prints ONE
table plus the speed targets (ConvTranspose2d, seed-shapes.txt) or, with
--conv2d, a summary (Conv2d, conv2d-shapes.txt).  Standard library only.

    bench/run.sh [--conv2d] [--quick] [--only a1,b_z] [--threads 1,2] [--markdown FILE]
"""
import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHANNEL_RICH = ["a1", "a2", "a3", "a1_b16", "a2_b16", "a3_b16", "c1", "c2", "c3", "c4", "d1", "e"]
THIN = ["a4", "a4_b16", "b_z", "d2", "d3", "d4"]
TOL = 1e-4  # max|y - ref| / max|ref|


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


def pf(err, skipped=False):
    if skipped:
        return "skip"
    if err is None:
        return "-"
    return "PASS" if err <= TOL else "FAIL"


def find_ort_python(cands):
    for c in cands:
        if c and shutil.which(c) and subprocess.call(
                [c, "-c", "import onnxruntime, onnx, numpy"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL) == 0:
            return c
    return None


def run_peer(cmd, env_extra, out):
    env = dict(os.environ, **env_extra)
    log("+", " ".join(cmd))
    rc = subprocess.call(cmd + ["--out", out], env=env, stdout=sys.stderr)
    recs = []
    if os.path.exists(out):
        with open(out) as f:
            recs = [json.loads(l) for l in f if l.strip()]
    if rc:
        log(f"peer exited with {rc}")
    return recs


def speed_targets(L, summ, threads):
    """The speed targets of the ConvTranspose2d table, appended to L."""
    L.append("Targets (NCHW in/out, each thread count):")
    timed = [x for x in summ if x["tms"] and x["e2e"]]
    n_all = len(summ)
    if len(timed) < n_all:
        L.append(f"- note: tconv not timed on {n_all - len(timed)} of {n_all} rows "
                 "(skipped or no oneDNN); the targets below cover timed rows only.")
    met = [x for x in timed if x["tms"] <= x["e2e"]]
    worst = min(timed, key=lambda x: x["e2e"] / x["tms"], default=None)
    L.append(f"- tconv <= oneDNN NCHW e2e on every shape: {len(met)}/{len(timed)} rows met"
             + (f"; worst {worst['shape']} T{worst['t']}: tconv {fms(worst['tms'])} ms vs "
                f"{fms(worst['e2e'])} ms ({worst['e2e'] / worst['tms']:.3g}x)" if worst else "")
             + (" -> MET" if timed and len(met) == len(timed)
                else " -> MISSED" if timed else " not measured"))
    rich = [x for x in timed if x["shape"] in CHANNEL_RICH]
    rich_ok = [x for x in rich if x["pct"] >= 85]
    L.append(f"- >= 85 % of measured peak on channel-rich shapes: {len(rich_ok)}/{len(rich)} rows; "
             + ", ".join(f"{x['shape']}/T{x['t']} {x['pct']:.1f}%" for x in rich)
             + (" -> MET" if rich and len(rich_ok) == len(rich)
                else " -> MISSED" if rich else "not measured"))
    thin = [x for x in timed if x["shape"] in THIN]
    thin_ok = [x for x in thin if x["e2e"] / x["tms"] >= 2]
    L.append(f"- >= 2x oneDNN e2e on thin shapes: {len(thin_ok)}/{len(thin)} rows; "
             + ", ".join(f"{x['shape']}/T{x['t']} {x['e2e'] / x['tms']:.2f}x" for x in thin)
             + (" -> MET" if thin and len(thin_ok) == len(thin)
                else " -> MISSED" if thin else "not measured"))
    for t in threads + [None]:
        sel = [x for x in timed if t is None or x["t"] == t]
        if sel:
            gm = math.exp(sum(math.log(x["e2e"] / x["tms"]) for x in sel) / len(sel))
            L.append(f"- geometric-mean speed-up over oneDNN NCHW e2e "
                     f"({'all rows' if t is None else f'T={t}'}, {len(sel)} rows): {gm:.3g}x"
                     + (" -> MET" if gm >= 1.5 else " -> MISSED") + " (target 1.5x)")
    # The same targets from the fastest run of each side: the machine is
    # shared, and a preempted OpenMP/thread-pool barrier costs a whole
    # scheduler slice (the 16/24 ms medians), which the min filters out.
    tm = [x for x in summ if x["tmin"] and x["e2e_min"]]
    if tm:
        L.append("- the same from min times (noise-free view; medians above are the contract):")
        ok = sum(x["tmin"] <= x["e2e_min"] for x in tm)
        L.append(f"  - tconv <= oneDNN e2e: {ok}/{len(tm)} rows")
        rich = [x for x in tm if x["shape"] in CHANNEL_RICH]
        if rich:
            L.append(f"  - >= 85 % peak, channel-rich: {sum(x['pct_min'] >= 85 for x in rich)}"
                     f"/{len(rich)} rows; lowest "
                     + ", ".join(f"{x['shape']}/T{x['t']} {x['pct_min']:.1f}%" for x in
                                 sorted(rich, key=lambda x: x["pct_min"])[:4]))
        thin = [x for x in tm if x["shape"] in THIN]
        if thin:
            L.append(f"  - >= 2x on thin shapes: {sum(x['e2e_min'] / x['tmin'] >= 2 for x in thin)}"
                     f"/{len(thin)} rows; " + ", ".join(
                         f"{x['shape']}/T{x['t']} {x['e2e_min'] / x['tmin']:.2f}x" for x in thin))
        for t in threads + [None]:
            sel = [x for x in tm if t is None or x["t"] == t]
            if sel:
                gm = math.exp(sum(math.log(x["e2e_min"] / x["tmin"]) for x in sel) / len(sel))
                L.append(f"  - geometric mean ({'all rows' if t is None else f'T={t}'}): {gm:.3g}x")


def conv2d_summary(L, summ, threads):
    """The Conv2d table's summary, appended to L: where tconv stands against
    oneDNN's best NCHW-to-NCHW way, per thread count, on the fast path and
    on the reference kernel separately (stride > 1 still runs there)."""
    L.append("Summary (Conv2d; NCHW in/out, each thread count):")
    timed = [x for x in summ if x["tms"] and x["e2e"]]
    if len(timed) < len(summ):
        L.append(f"- note: tconv not timed on {len(summ) - len(timed)} of {len(summ)} rows "
                 "(skipped or no oneDNN); the lines below cover timed rows only.")
    # A row whose median at T > 1 threads is more than twice its own 1-thread
    # median (tconv or oneDNN) was slowed by another job holding a core (a
    # preempted barrier costs a scheduler slice), not by its compute: listed,
    # and the geometric means are also given without such rows.
    base = {x["shape"]: x for x in timed if x["t"] == min(threads)}
    hit = [x for x in timed if x["t"] != min(threads) and x["shape"] in base and
           (x["e2e"] > 2 * base[x["shape"]]["e2e"] or x["tms"] > 2 * base[x["shape"]]["tms"])]
    if hit:
        L.append(f"- load-hit rows (T-thread median > 2x the same side's {min(threads)}-thread "
                 "median): " + ", ".join(
                     f"{x['shape']}/T{x['t']} (" + ("oneDNN" if x["e2e"] > 2 * base[x["shape"]]["e2e"]
                                                   else "tconv") + ")" for x in hit))

    def gmean(rows, key_a, key_b):
        rows = [x for x in rows if x[key_a] and x[key_b]]
        if not rows:
            return None
        return math.exp(sum(math.log(x[key_a] / x[key_b]) for x in rows) / len(rows))

    for label, sel in (("fast path", [x for x in timed if x["path"] != "reference"]),
                       ("reference kernel", [x for x in timed if x["path"] == "reference"])):
        if not sel:
            continue
        met = [x for x in sel if x["tms"] <= x["e2e"]]
        worst = min(sel, key=lambda x: x["e2e"] / x["tms"])
        L.append(f"- {label}: tconv <= oneDNN NCHW e2e on {len(met)}/{len(sel)} rows; worst "
                 f"{worst['shape']} T{worst['t']}: tconv {fms(worst['tms'])} ms vs "
                 f"{fms(worst['e2e'])} ms ({worst['e2e'] / worst['tms']:.3g}x)")
        for t in threads + [None]:
            st = [x for x in sel if t is None or x["t"] == t]
            if st:
                gm, gmin = gmean(st, "e2e", "tms"), gmean(st, "e2e_min", "tmin")
                clean = [x for x in st if x not in hit]
                L.append(f"  - geometric-mean speed-up over oneDNN e2e "
                         f"({'all rows' if t is None else f'T={t}'}, {len(st)} rows): {gm:.3g}x"
                         + (f" (from min times {gmin:.3g}x)" if gmin else "")
                         + (f"; without load-hit rows ({len(clean)}): "
                            f"{gmean(clean, 'e2e', 'tms'):.3g}x" if clean and len(clean) < len(st)
                            else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--conv2d", action="store_true",
                    help="Conv2d (F.conv2d / ONNX Conv / oneDNN convolution) instead of "
                         "ConvTranspose2d; shapes default to conv2d-shapes.txt")
    ap.add_argument("--shapes", default=None,
                    help="default: seed-shapes.txt, or conv2d-shapes.txt with --conv2d")
    ap.add_argument("--only", default=None, help="comma-separated shape names")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="shorter timing (0.1 s / 5 runs)")
    ap.add_argument("--tconv-max-gflop", default=None,
                    help="skip tconv above this many GFLOP while it runs the reference kernel")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--no-dnnl", action="store_true")
    ap.add_argument("--torch-python", default="/usr/bin/python3")
    ap.add_argument("--ort-python", default=None, help="default: first python3 with onnxruntime")
    ap.add_argument("--peak-1t", type=float, default=None,
                    help="1-thread FMA peak (GFLOP/s) measured on a quiet machine; the %%pk "
                         "ceiling becomes the larger of it and this run's (T threads: T x it)")
    ap.add_argument("--markdown", default=None, help="also write the report to this file")
    ap.add_argument("--keep", default=None, help="keep raw outputs in this directory")
    a = ap.parse_args()

    tmp = a.keep or tempfile.mkdtemp(prefix="tconv-bench-")
    os.makedirs(tmp, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    if a.shapes is None:
        a.shapes = os.path.join(HERE, "conv2d-shapes.txt" if a.conv2d else "seed-shapes.txt")
    common = ["--shapes", a.shapes] + (["--only", a.only] if a.only else []) + \
             (["--quick"] if a.quick else []) + (["--conv2d"] if a.conv2d else [])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = open("/proc/loadavg").read().split()[:3]

    # 1. tconv and oneDNN (C).
    exe = os.path.join(a.build_dir, "tconv_bench")
    tsv = os.path.join(tmp, "tconv_bench.tsv")
    cmd = [exe, "--threads", a.threads, "--tsv", tsv] + common
    if a.tconv_max_gflop is not None:
        cmd += ["--tconv-max-gflop", a.tconv_max_gflop]
    if a.no_dnnl:
        cmd.append("--no-dnnl")
    log("+", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    c_lines = []
    for line in proc.stdout:  # progress as it comes
        sys.stderr.write(line)
        sys.stderr.flush()
        c_lines.append(line.rstrip("\n"))
    if proc.wait():
        sys.exit(f"tconv_bench failed ({proc.returncode})")
    header_lines = [l for l in c_lines if l.startswith("# ") and "at the end" not in l]
    peaks, rows = {}, {}
    with open(tsv) as f:
        cols = None
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "#peak":
                t, p512, p256 = int(parts[1]), float(parts[2]), float(parts[3])
                old = peaks.get(t, (0.0, 0.0))  # start and end of the run: keep the best
                peaks[t] = (max(old[0], p512), max(old[1], p256))
            elif parts[0] == "shape":
                cols = parts
            elif cols:
                r = dict(zip(cols, parts))
                rows[(r["shape"], int(r["threads"]))] = r

    # 2. PyTorch, one process per thread count (OpenBLAS/OpenMP read the env).
    peer = {}
    infos = []
    if not a.no_torch:
        for t in threads:
            out = os.path.join(tmp, f"torch_{t}.jsonl")
            if os.path.exists(out):
                os.remove(out)
            env = {"OMP_NUM_THREADS": str(t), "OPENBLAS_NUM_THREADS": str(t),
                   "MKL_NUM_THREADS": str(t)}
            for r in run_peer([a.torch_python, os.path.join(HERE, "torch_peer.py"),
                               "--threads", str(t)] + common, env, out):
                if "info" in r:
                    infos.append(r["info"]) if t == threads[0] else None
                else:
                    peer[("torch", r["shape"], t)] = r
    # 3. ONNX Runtime.
    ort_py = None if a.no_ort else (a.ort_python or find_ort_python(
        [os.path.join(os.environ.get("TCONV_PEERS_VENV", os.path.join(ROOT, "build-bench",
                                                                     "peers-venv")),
                      "bin", "python"),
         "python3", os.path.expanduser("~/.pyenv/shims/python3"), "/usr/bin/python3"]))
    if not a.no_ort and not ort_py:
        log("onnxruntime not importable by any python3 found: ORT column empty")
    if ort_py:
        for t in threads:
            out = os.path.join(tmp, f"ort_{t}.jsonl")
            if os.path.exists(out):
                os.remove(out)
            for r in run_peer([ort_py, os.path.join(HERE, "ort_peer.py"), "--threads", str(t)]
                              + common, {"OMP_NUM_THREADS": str(t)}, out):
                if "info" in r:
                    infos.append(r["info"]) if t == threads[0] else None
                else:
                    peer[("ort", r["shape"], t)] = r
    finished = datetime.datetime.now(datetime.timezone.utc)
    load_after = open("/proc/loadavg").read().split()[:3]

    # 4. One table.
    order = []
    for (s, t) in rows:
        if s not in order:
            order.append(s)
    L = []
    L.append(f"Run {started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC; load average before "
             f"{' '.join(load_before)}, after {' '.join(load_after)} (1/5/15 min; 2 cores).")
    L.extend(h[2:] for h in header_lines if not h.startswith("# measured"))
    # The ceiling for T threads: the measured T-thread peak, or T times the
    # 1-thread peak if that is higher (cores are separate, no SMT here; a
    # lower T-thread figure means another job held a core while it ran).
    ceil = {}
    p1 = max(max(peaks.get(1, (0.0, 0.0))), a.peak_1t or 0.0)
    if a.peak_1t:
        L.append(f"%pk ceiling: 1-thread peak {p1:.1f} GFLOP/s (--peak-1t {a.peak_1t:g}, measured "
                 "on a quiet machine, or this run's if higher), T threads: T x that")
    for t in threads:
        if t in peaks:
            ceil[t] = max(max(peaks[t]), t * p1)
            L.append(f"measured FMA peak, {t} thread(s): AVX-512 {peaks[t][0]:.1f}, "
                     f"AVX2 {peaks[t][1]:.1f} GFLOP/s (best of start and end of the run); "
                     f"%pk uses {ceil[t]:.1f}"
                     + (f" = {t} x the 1-thread peak" if ceil[t] > max(peaks[t]) else ""))
            if t > 1 and p1 and max(peaks[t]) < 0.8 * t * p1:
                L.append(f"WARNING: the {t}-thread FMA loop reached only {max(peaks[t]) / p1:.2f}x "
                         "the 1-thread one: other jobs held cores during this run, so "
                         f"{t}-thread figures are load-limited.")
    for i in infos:
        L.append("peer: " + ", ".join(f"{k}={v}" for k, v in i.items() if k != "threads"))
    impls = sorted({f"{r['tconv_impl']}/{r['tconv_path']}" for r in rows.values()})
    L.append("tconv implementation/path in this run: " + "; ".join(impls))
    L.append("")
    L.append("| shape | T | GFLOP | tconv ms (min) | GFLOP/s | %pk | tconv NHWC ms | oneDNN e2e ms (mode) "
             "| oneDNN best ms (mode) | oneDNN plain ms | torch ms | ORT ms | e2e/tc | best/tc "
             "| torch/tc | ORT/tc | NHWC: dnnl/tc | ws/in | check tc/dnnl/pt/ort (subset) |")
    L.append("|" + "---|" * 19)
    summ, impl_lines = [], []
    for s in order:
        for t in threads:
            r = rows.get((s, t))
            if not r:
                continue
            tms = num(r["tconv_ms"])
            skipped = r["tconv_impl"] == "skipped"
            ugf, gf = float(r["useful_gflop"]), float(r["gflop"])
            pk = ceil.get(t) or float(r["peak_gflops"])
            e2e = [(num(r["dnnl_e2e_any_ms"]), "any"), (num(r["dnnl_e2e_nhwc_ms"]), "nhwc"),
                   (num(r["dnnl_plain_ms"]), "plain")]
            best = [(num(r["dnnl_prim_any_ms"]), "any"), (num(r["dnnl_prim_nhwc_ms"]), "nhwc"),
                    (num(r["dnnl_plain_ms"]), "plain")]
            e2e = min((x for x in e2e if x[0] is not None), default=(None, ""))
            best = min((x for x in best if x[0] is not None), default=(None, ""))
            pt, ot = peer.get(("torch", s, t)), peer.get(("ort", s, t))
            ptm = pt["median_ms"] if pt else None
            otm = ot["median_ms"] if ot else None
            gfs = gf / (tms * 1e-3) if tms else None
            pct = 100 * ugf / (tms * 1e-3) / pk if tms else None
            derr = [num(r[k]) for k in ("dnnl_err_any", "dnnl_err_nhwc", "dnnl_err_plain")]
            derr = [e for e in derr if e is not None]
            tc_err = [num(r["tconv_err"]), num(r["tconv_nhwc_err"])]
            tc_chk = "skip" if skipped else (
                "FAIL" if any(e is None or e > TOL for e in tc_err[:1]) or
                (tc_err[1] is not None and tc_err[1] > TOL) else "PASS")
            chk = "/".join([tc_chk, pf(max(derr)) if derr else "-",
                            pf(pt["err"]) if pt else "-", pf(ot["err"]) if ot else "-"])
            ws = int(r["ws_bytes"]) / int(r["in_bytes"]) if not skipped else None
            L.append(f"| {s} | {t} | {gf:.4f} | {fms(tms)} ({fms(num(r['tconv_min_ms']))}) | "
                     f"{gfs:.1f} | {pct:.1f} | "
                     if tms else f"| {s} | {t} | {gf:.4f} | {'skip' if skipped else '-'} | - | - | ")
            L[-1] += (f"{fms(num(r['tconv_nhwc_ms']))} | {fms(e2e[0])} ({e2e[1]}) | "
                      f"{fms(best[0])} ({best[1]}) | {fms(num(r['dnnl_plain_ms']))} | {fms(ptm)} | "
                      f"{fms(otm)} | {fratio(e2e[0], tms)} | {fratio(best[0], tms)} | "
                      f"{fratio(ptm, tms)} | {fratio(otm, tms)} | "
                      f"{fratio(num(r['dnnl_prim_nhwc_ms']), num(r['tconv_nhwc_ms']))} | "
                      f"{'-' if ws is None else f'{ws:.2f}'} | {chk} ({r['check']}) |")
            e2e_min = min((v for v in (num(r.get("dnnl_e2e_any_min_ms")),
                                       num(r.get("dnnl_e2e_nhwc_min_ms")),
                                       num(r.get("dnnl_plain_min_ms"))) if v is not None),
                          default=None)
            tmin = num(r["tconv_min_ms"])
            summ.append(dict(shape=s, t=t, tms=tms, e2e=e2e[0], pct=pct, ws=ws, chk=chk,
                             tmin=tmin, e2e_min=e2e_min, path=r["tconv_path"],
                             pct_min=100 * ugf / (tmin * 1e-3) / pk if tmin else None))
            if t == threads[0]:
                impl_lines.append(f"{s}: any={r['dnnl_impl_any']}, nhwc={r['dnnl_impl_nhwc']}, "
                                  f"plain={r['dnnl_impl_plain']}")
    L.append("")
    L.append(("GFLOP/s = nominal FLOPs (2*N*Cout*Hout*Wout*Cin*kh*kw/groups) / tconv median. "
              if a.conv2d else
              "GFLOP/s = nominal FLOPs (2*N*Cin*H*W*Cout*kh*kw/groups) / tconv median. ") +
             "Ratios > 1: tconv faster. NHWC: dnnl/tc = oneDNN's NHWC primitive vs tconv NHWC. e2e = oneDNN from NCHW to NCHW, best of: format_any with "
             "reorders, NHWC with reorders, plain NCHW + " + ("OIHW" if a.conv2d else "IOHW") +
             " weights. best = primitive alone "
             "(no activation reorders). %pk = useful FLOPs / time / measured peak. ws/in = "
             "workspace bytes / input bytes. check: max|y-ref|/max|ref| <= 1e-4 vs the reference "
             f"(tconv, oneDNN: tconv's reference kernel; torch, ORT: float64 numpy), subset shown.")
    L.append("")
    L.append("oneDNN implementations chosen (T=%d): " % threads[0] + "; ".join(impl_lines))
    L.append("")

    # 5. Targets (ConvTranspose2d) or the Conv2d summary.
    if a.conv2d:
        conv2d_summary(L, summ, threads)
    else:
        speed_targets(L, summ, threads)
    wss = [x["ws"] for x in summ if x["ws"] is not None]
    if wss:
        L.append(f"- extra memory: workspace <= input size on every row: max ws/in = {max(wss):.2f}"
                 + (" -> MET" if max(wss) <= 1.0 else " -> MISSED"))
    fails = [f"{x['shape']}/T{x['t']} {x['chk']}" for x in summ if "FAIL" in x["chk"]]
    L.append("- correctness: " + ("every checked output PASS" if not fails
                                  else "FAIL in " + ", ".join(fails)))
    text = "\n".join(L) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    log(f"raw outputs in {tmp}")


if __name__ == "__main__":
    main()
