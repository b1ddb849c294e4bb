"""PyTorch peer: F.conv_transpose2d (what nn.ConvTranspose2d runs), or with
--conv2d F.conv2d (nn.Conv2d, zero padding), NCHW float32, timed as
tconv_bench times tconv.  Run with Debian's python3
(torch 1.13.1).  One thread count per process: bench/run.py also sets
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in the environment, because this
torch's conv_transpose2d is GEMM (OpenBLAS) + col2im and OpenBLAS does not
follow torch.set_num_threads."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def main():
    a = pc.arg_parser(__doc__).parse_args()
    torch.set_num_threads(a.threads)
    info = {"peer": "torch", "version": torch.__version__, "threads": a.threads,
            "torch_threads": torch.get_num_threads(),
            "blas_info": next((f for f in torch.__config__.show().replace(",", " ").split()
                               if f.startswith("BLAS_INFO=")), "?"),
            "blas_loaded": pc.loaded_libs("blas", "mkl"),
            "env_OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    pc.emit(a.out, {"info": info})
    cg = a.check_gflop if a.check_gflop is not None else (0.1 if a.quick else 0.4)
    with torch.no_grad():
        for s in pc.selected(pc.read_shapes(a.shapes, a.conv2d), a.only):
            x, w, b = pc.make_data(s)
            xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            kw = dict(stride=(s["sh"], s["sw"]), padding=(s["ph"], s["pw"]), groups=s["groups"])
            if a.conv2d:
                fn = F.conv2d
            else:
                fn = F.conv_transpose2d
                kw["output_padding"] = (s["oph"], s["opw"])
            y = fn(xt, wt, bt, **kw)
            err, k = pc.check(s, y.numpy(), x, w, b, cg)
            st = pc.time_stats(lambda: fn(xt, wt, bt, **kw), a.quick, a.min_time, a.min_reps)
            pc.emit(a.out, dict({"peer": "torch", "shape": s["name"], "threads": a.threads,
                                 "err": err, "checked_images": k}, **st))


if __name__ == "__main__":
    main()
