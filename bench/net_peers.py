"""The seed networks, whole, in eval mode, for bench/run.sh --networks.
Run with the peers' virtualenv interpreter (bench/setup_peers.sh), with the
CUDA stand-in libraries on LD_LIBRARY_PATH for PyTorch.

  --prepare   builds each network with seeded random weights (BatchNorm's
              affine parameters and running statistics randomised too, so
              eval-mode BatchNorm is not an identity), writes per network
              DIR/NET.safetensors (the state_dict, names as in the PyTorch
              module) and DIR/NET.onnx files per case (torch.onnx.export,
              dynamo=False, opset 17), and per case DIR/CASE.input.safetensors
              (tensor "input") and DIR/CASE.ref.f64 (the float64 output of the
              same model and input promoted to float64)
  --peer P    times peer P on every case and checks its output against
              DIR/CASE.ref.f64: torch (eager and torch.compile with frozen
              weights, under no_grad), ort (ONNX Runtime, CPU provider),
              openvino (the ONNX file, CPU plugin, f32), tconv (the same
              modules written in tconv.nn, the Python package, weights from
              DIR/NET.safetensors through load_state_dict)

The networks (their PyTorch seeds, quoted in examples/*.c):
  dcgan000  seed 000's DCGAN generator: Linear(100, 8192) -> view(-1, 512, 4, 4)
            -> 3 x (ConvTranspose2d k4 s2 p1, BatchNorm2d, ReLU) -> ConvTranspose2d(64, 3) -> Tanh
  dcgan003  seed 003's generator: ConvTranspose2d(100, 128, 4, 1, 0, bias=False), BN, ReLU,
            ConvTranspose2d(128, 64, 4, 2, 1, bias=False), BN, ReLU,
            ConvTranspose2d(64, 3, 4, 2, 1, bias=False), Tanh
  unet000   seed 000's U-Net decoder: ConvTranspose2d(256, 128, 2, 2), Conv2d(128, 128, 3, p1),
            ReLU, ConvTranspose2d(128, 64, 2, 2), Conv2d(64, 64, 3, p1), ReLU
Cases: NET_bBATCH (default dcgan000_b1 dcgan000_b64 dcgan003_b16 dcgan003_b256
unet000_b1 unet000_b16).  Output: JSON lines as modern_peer.py."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

import numpy as np  # noqa: E402

DEFAULT_CASES = "dcgan000_b1,dcgan000_b64,dcgan003_b16,dcgan003_b256,unet000_b1,unet000_b16"
WEIGHT_SEED = 1234


def build(net, nn=None):
    """The network built from nn (torch.nn, or tconv.nn: the same classes)."""
    if nn is None:
        import torch.nn as nn

    if net == "dcgan000":
        class Generator(nn.Module):
            def __init__(self, latent_dim=100):
                super().__init__()
                self.fc = nn.Linear(latent_dim, 512 * 4 * 4)
                self.deconv = nn.Sequential(
                    nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(),
                    nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
                    nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                    nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())

            def forward(self, x):
                x = self.fc(x).reshape(-1, 512, 4, 4)
                return self.deconv(x)
        return Generator(), (100,)
    if net == "dcgan003":
        class Generator(nn.Module):
            def __init__(self, z_dim=100, img_channels=3):
                super().__init__()
                self.net = nn.Sequential(
                    nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False),
                    nn.BatchNorm2d(128), nn.ReLU(True),
                    nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(64), nn.ReLU(True),
                    nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False),
                    nn.Tanh())

            def forward(self, x):
                return self.net(x)
        return Generator(), (100, 1, 1)
    if net == "unet000":
        return nn.Sequential(
            nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2),
            nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()), (256, 8, 8)
    raise SystemExit(f"unknown network {net}")


def parse_case(case):
    net, b = case.rsplit("_b", 1)
    return net, int(b)


def model_with_weights(net):
    """The network in eval mode with seeded weights; BatchNorm's weight, bias
    and running statistics drawn too (PyTorch's init leaves them 1/0/0/1)."""
    import torch
    torch.manual_seed(WEIGHT_SEED)
    m, in_shape = build(net)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    return m.eval(), in_shape


def prepare(a, cases):
    import torch
    from safetensors.torch import save_file
    os.makedirs(a.dir, exist_ok=True)
    done = set()
    for case in cases:
        net, batch = parse_case(case)
        m, in_shape = model_with_weights(net)
        if net not in done:
            sd = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
            save_file(sd, os.path.join(a.dir, f"{net}.safetensors"))
            done.add(net)
        g = torch.Generator().manual_seed(batch)
        x = torch.randn((batch,) + in_shape, generator=g)
        save_file({"input": x.contiguous()}, os.path.join(a.dir, f"{case}.input.safetensors"))
        with torch.no_grad():
            ref = m.double()(x.double()).numpy()
        ref.astype("<f8").tofile(os.path.join(a.dir, f"{case}.ref.f64"))
        m.float()
        torch.onnx.export(m, (x,), os.path.join(a.dir, f"{case}.onnx"), opset_version=17,
                          dynamo=False, input_names=["input"], output_names=["output"])
        print(f"{case}: input {tuple(x.shape)} -> output {ref.shape}", file=sys.stderr)


def load_case(a, case):
    from safetensors.numpy import load_file
    x = load_file(os.path.join(a.dir, f"{case}.input.safetensors"))["input"]
    ref = np.fromfile(os.path.join(a.dir, f"{case}.ref.f64"), dtype="<f8")
    return x, ref


def rel_err(y, ref):
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size != ref.size or not np.all(np.isfinite(y)):
        return float("inf")
    return float(np.max(np.abs(y - ref)) / max(np.max(np.abs(ref)), 1e-30))


def emit(a, peer, variant, case, st, err, **extra):
    rec = {"peer": peer, "variant": variant, "shape": case, "threads": a.threads, "err": err}
    rec.update(st)
    rec.update(extra)
    pc.emit(a.out, rec)


def run_torch(a, cases):
    import torch
    from safetensors.torch import load_file
    import torch._inductor.config as icfg
    torch.set_num_threads(a.threads)
    icfg.freezing = True
    pc.emit(a.out, {"info": {"peer": "torch2", "version": torch.__version__,
                             "threads": a.threads}})
    for case in cases:
        net, _ = parse_case(case)
        x, ref = load_case(a, case)
        m, _ = build(net)
        m.load_state_dict(load_file(os.path.join(a.dir, f"{net}.safetensors")))
        m.eval()
        xt = torch.from_numpy(x)
        with torch.no_grad():
            y = m(xt)
            st = pc.time_stats(lambda: m(xt), a.quick, a.min_time, a.min_reps)
            emit(a, "torch2", "eager", case, st, rel_err(y.numpy(), ref))
        if a.no_compile:
            continue
        torch._dynamo.reset()
        cm = torch.compile(m)
        with torch.no_grad():
            t0 = time.perf_counter()
            y = cm(xt)
            cs = time.perf_counter() - t0
            st = pc.time_stats(lambda: cm(xt), a.quick, a.min_time, a.min_reps)
        emit(a, "torch2", "compile", case, st, rel_err(y.numpy(), ref), compile_s=cs)


def run_ort(a, cases):
    import onnxruntime as ort
    pc.emit(a.out, {"info": {"peer": "ort", "version": ort.__version__, "threads": a.threads}})
    for case in cases:
        x, ref = load_case(a, case)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(os.path.join(a.dir, f"{case}.onnx"), so,
                                    providers=["CPUExecutionProvider"])
        feed = {"input": x}
        y = sess.run(None, feed)[0]
        st = pc.time_stats(lambda: sess.run(None, feed), a.quick, a.min_time, a.min_reps)
        emit(a, "ort", "ort", case, st, rel_err(y, ref))


def run_openvino(a, cases):
    import openvino as ov
    core = ov.Core()
    pc.emit(a.out, {"info": {"peer": "openvino", "version": ov.get_version(),
                             "threads": a.threads}})
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "INFERENCE_PRECISION_HINT": "f32",
           "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    for case in cases:
        x, ref = load_case(a, case)
        cm = core.compile_model(core.read_model(os.path.join(a.dir, f"{case}.onnx")), "CPU", cfg)
        req = cm.create_infer_request()
        req.set_input_tensor(ov.Tensor(x, shared_memory=True))
        req.infer()
        y = req.get_output_tensor(0).data.copy()
        st = pc.time_stats(req.infer, a.quick, a.min_time, a.min_reps)
        emit(a, "openvino", "ov", case, st, rel_err(y, ref))


def run_tconv(a, cases):
    """tconv.nn from the repository's python/ (or the installed package) on
    the library TCONV_LIBRARY names (run_networks.py: build-bench's)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "python"))
    import tconv
    tconv.set_num_threads(a.threads)
    pc.emit(a.out, {"info": {"peer": "tconv.nn", "version": tconv.__version__,
                             "library": tconv.library_path, "threads": a.threads}})
    for case in cases:
        net, _ = parse_case(case)
        x, ref = load_case(a, case)
        m, _ = build(net, tconv.nn)
        m.load_state_dict(tconv.load_safetensors(os.path.join(a.dir, f"{net}.safetensors")))
        m.eval()
        y = m(x)
        st = pc.time_stats(lambda: m(x), a.quick, a.min_time, a.min_reps)
        emit(a, "tconvpy", "nn", case, st, rel_err(y, ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--peer", choices=["torch", "ort", "openvino", "tconv"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--min-time", type=float, default=None)
    ap.add_argument("--min-reps", type=int, default=None)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cases = a.cases.split(",")
    if a.prepare:
        prepare(a, cases)
    elif a.peer:
        {"torch": run_torch, "ort": run_ort, "openvino": run_openvino,
         "tconv": run_tconv}[a.peer](a, cases)
    else:
        sys.exit("--prepare or --peer P")


if __name__ == "__main__":
    main()
