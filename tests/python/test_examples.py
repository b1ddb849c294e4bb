"""The seed programs in C (examples/, tconv generate) against PyTorch.

For each seed network: build the PyTorch model (seeded), save its state_dict
as safetensors (written by this file's own writer of the documented format,
and by the `safetensors` package when it is installed), save the input, run
the C example on them and compare its raw float32 output with PyTorch's
output computed in float64 from the same float32 weights and input.
BatchNorm is checked in both modes: training (batch statistics, what the
seeds do with a fresh model) and eval (running statistics, made non-trivial
by a few training-mode passes first).

Run: /usr/bin/python3 -m pytest tests/python  (the examples come from the
build directory of TCONV_LIBRARY, else build/; missing ones are built there).
"""
import json
import os
import struct
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# max|C - torch64| / max(1, max|torch64|).  Float32 storage of every layer's
# output through up to 9 layers (BatchNorm divides by batch stds of 2
# samples); seen: C 4.4e-6 where PyTorch's own float32 run is 2.8e-6.
TOL = 2e-5

try:
    import safetensors.torch as st_lib
except ImportError:  # not a Debian package; the own writer is always tested
    st_lib = None
WRITERS = ["own", pytest.param("library", marks=pytest.mark.skipif(
    st_lib is None, reason="safetensors package not installed"))]


# ---- the safetensors format, written by hand ---------------------------------

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64",
           np.dtype(np.float16): "F16", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}


def write_safetensors(path, tensors, metadata=None):
    """u64 LE header length | JSON header (space-padded to 8) | tensors' bytes."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
        a = np.array(a, order="C", copy=True)  # (ascontiguousarray would make 0-d 1-d)
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def save(path, tensors, writer):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    if writer == "library":
        st_lib.save_file(tensors, path)
    else:
        write_safetensors(path, tensors)


# ---- locating and running the C programs ---------------------------------------

def build_dir():
    lib = os.environ.get("TCONV_LIBRARY")
    return os.path.dirname(os.path.abspath(lib)) if lib else os.path.join(ROOT, "build")


def program(target, path):
    exe = os.path.join(build_dir(), path)
    if not os.path.exists(exe):
        subprocess.run(["cmake", "--build", build_dir(), "--target", target], check=True,
                       capture_output=True)
    assert os.path.exists(exe), "cannot find or build %s" % exe
    return exe


def example(name):
    return program("example_" + name, os.path.join("examples", name))


def run(args, ok=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    if ok:
        assert r.returncode == 0, "%s failed (%d): %s" % (args, r.returncode, r.stderr)
    return r


def rel_err(got, ref):
    got = np.asarray(got, np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.all(np.isfinite(got)), "non-finite output"
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def check_against_torch(model, inputs, exe, tmp_path, writer, train, forward=None):
    """Saves model + inputs, runs exe, compares with model in float64.
    inputs: dict name -> float32 tensor ("input" first).  Returns the error."""
    forward = forward or (lambda m, d: m(*d.values()))
    wpath, ipath, opath = (str(tmp_path / n) for n in ("w.safetensors", "x.safetensors", "y.f32"))
    model.train(train)
    save(wpath, model.state_dict(), writer)
    save(ipath, inputs, writer)
    # PyTorch in float64 from the same float32 numbers (a copy: training mode
    # would update the saved model's running stats).
    m64 = type(model)() if not isinstance(model, nn.Sequential) else None
    import copy
    m64 = copy.deepcopy(model).double().train(train)
    with torch.no_grad():
        ref = forward(m64, {k: v.double() for k, v in inputs.items()}).numpy()
        ref32 = forward(copy.deepcopy(model).train(train), inputs).numpy()
    args = [exe, "--weights", wpath, "--input", ipath, "--output", opath]
    if not train:
        args.append("--eval")
    run(args)
    got = np.fromfile(opath, dtype="<f4")
    assert got.size == ref.size, "C wrote %d floats, PyTorch has %d" % (got.size, ref.size)
    err = rel_err(got.reshape(ref.shape), ref)
    err32 = rel_err(ref32, ref)
    print("%s: C err %.2e, torch float32 err %.2e" % (os.path.basename(exe), err, err32))
    assert err < TOL, "C differs from PyTorch: %.3e (torch float32 itself: %.3e)" % (err, err32)
    return err


def warm_running_stats(model, make_input, passes=3):
    """A few training-mode passes so eval mode's running stats are not 0/1."""
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(make_input())


# ---- the seed networks, exactly as the seeds write them -------------------------

class Seed000Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 512 * 4 * 4)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        x = self.fc(x).view(-1, 512, 4, 4)
        return self.deconv(x)


class Seed003Generator(nn.Module):
    def __init__(self, z_dim=100, img_channels=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x):
        return self.net(x)


def seed000_decoder():
    return nn.Sequential(
        nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2),
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())


class UNetBlock(nn.Module):
    def __init__(self, in_channels=128, out_channels=64):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(out_channels, out_channels // 2, 2, stride=2)

    def forward(self, x, skip):
        x = self.conv(x)
        x = self.up(x)
        x = torch.cat([x, skip], dim=1)
        return x


# ---- tests ----------------------------------------------------------------------

@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("writer", WRITERS)
def test_seed000_generator(tmp_path, writer, train):
    torch.manual_seed(0)
    gen = Seed000Generator()
    if not train:
        warm_running_stats(gen, lambda: torch.randn(4, 100))
    z = torch.randn(2, 100)  # batch 2: BatchNorm statistics over 2 samples
    check_against_torch(gen, {"input": z}, example("seed000_dcgan_generator"), tmp_path,
                        writer, train)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("writer", WRITERS)
def test_seed003_generator(tmp_path, writer, train):
    torch.manual_seed(3)
    gen = Seed003Generator()
    if not train:
        warm_running_stats(gen, lambda: torch.randn(8, 100, 1, 1))
    z = torch.randn(16, 100, 1, 1)
    check_against_torch(gen, {"input": z}, example("seed003_dcgan_generator"), tmp_path,
                        writer, train)


@pytest.mark.parametrize("writer", WRITERS)
def test_seed000_unet_decoder(tmp_path, writer):
    torch.manual_seed(1)
    dec = seed000_decoder()
    x = torch.randn(1, 256, 8, 8)
    check_against_torch(dec, {"input": x}, example("seed000_unet_decoder"), tmp_path, writer,
                        True)


@pytest.mark.parametrize("writer", WRITERS)
def test_seed004_unet_block(tmp_path, writer):
    torch.manual_seed(4)
    blk = UNetBlock()
    x, skip = torch.randn(1, 128, 16, 16), torch.randn(1, 32, 32, 32)
    check_against_torch(blk, {"input": x, "skip": skip}, example("seed004_unet_block"),
                        tmp_path, writer, True)


def test_examples_print_the_seeds_shapes():
    """Without arguments each example prints what its seed prints."""
    expect = {
        "seed000_dcgan_generator": "噪声: torch.Size([1, 100]) -> 图像: torch.Size([1, 3, 64, 64])",
        "seed003_dcgan_generator": "torch.Size([16, 3, 16, 16])",
        "seed000_unet_decoder": "输入: torch.Size([1, 256, 8, 8]) -> 输出: torch.Size([1, 64, 32, 32])",
        "seed004_unet_block": "x: torch.Size([1, 128, 16, 16]), skip: torch.Size([1, 32, 32, 32]) "
                              "-> torch.Size([1, 64, 32, 32])",
    }
    # The same shapes from PyTorch itself.
    with torch.no_grad():
        assert tuple(Seed000Generator()(torch.randn(1, 100)).shape) == (1, 3, 64, 64)
        assert tuple(Seed003Generator()(torch.randn(16, 100, 1, 1)).shape) == (16, 3, 16, 16)
        assert tuple(seed000_decoder()(torch.randn(1, 256, 8, 8)).shape) == (1, 64, 32, 32)
        assert tuple(UNetBlock()(torch.randn(1, 128, 16, 16), torch.randn(1, 32, 32, 32)).shape) \
            == (1, 64, 32, 32)
    for name, line in expect.items():
        assert run([example(name)]).stdout.strip() == line


def test_example_refuses_wrong_weights(tmp_path):
    """seed 003's state_dict given to seed 000's program: a clear error, exit 1."""
    w = str(tmp_path / "w.safetensors")
    write_safetensors(w, Seed003Generator().state_dict())
    r = run([example("seed000_dcgan_generator"), "--weights", w], ok=False)
    assert r.returncode == 1
    assert "Missing key(s) in state_dict: \"fc.weight\"" in r.stderr
    # Right names, wrong shape: seed 003 with img_channels=1 for the 3-channel program.
    write_safetensors(w, Seed003Generator(img_channels=1).state_dict())
    r = run([example("seed003_dcgan_generator"), "--weights", w], ok=False)
    assert r.returncode == 1
    assert "size mismatch for net.6.weight" in r.stderr and "[64, 1, 4, 4]" in r.stderr


# ---- tconv generate: the trained digits generator -------------------------------

MODEL = os.path.join(ROOT, "models", "dcgan_digits.safetensors")


def load_digits_generator():
    """The committed weights (trained in C and written by `tconv train`) into
    seed 003's PyTorch generator with img_channels=1 and load_state_dict's
    strict checks, read here with this file's own parser of the format."""
    with open(MODEL, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    sd = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = {"F32": "<f4", "I64": "<i8"}[e["dtype"]]
        sd[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + end], dt)
                                    .reshape(e["shape"]).copy())
    c1 = sd["net.0.weight"].shape[1]
    assert c1 == 128 and sd["net.3.weight"].shape[1] == 64
    gen = Seed003Generator(img_channels=1)
    gen.load_state_dict(sd)
    return gen.eval()


def test_generate_matches_pytorch(tmp_path):
    gen = load_digits_generator()
    torch.manual_seed(7)
    z = torch.randn(10, 100, 1, 1)
    zpath, raw, png = (str(tmp_path / n) for n in ("z.safetensors", "g.f32", "g.png"))
    write_safetensors(zpath, {"z": z})
    tconv = program("tconv_cli", "tconv")
    r = run([tconv, "generate", "--z", zpath, "--raw-out", raw, "--out", png])
    assert "10 samples" in r.stdout
    import copy
    with torch.no_grad():
        ref = copy.deepcopy(gen).double()(z.double()).numpy()
    got = np.fromfile(raw, "<f4").reshape(ref.shape)
    err = rel_err(got, ref)
    print("generate vs torch64: %.2e" % err)
    assert err < TOL


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(33)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    w, h, depth, ctype = struct.unpack(">IIBB", head[16:26])
    return w, h, depth, ctype


def test_generate_writes_png_grid(tmp_path):
    tconv = program("tconv_cli", "tconv")
    out = str(tmp_path / "grid.png")
    run([tconv, "generate", "--seed", "5", "--count", "12", "--out", out, "--weights", MODEL,
         "--scale", "2", "--raw-out", str(tmp_path / "a.f32")])
    # 12 samples -> 4 columns x 3 rows of 32x32 tiles with 4-pixel gaps, 8-bit grey.
    assert png_size(out) == (4 * 32 + 5 * 4, 3 * 32 + 4 * 4, 8, 0)
    # Same seed, same samples; another seed, other samples.
    run([tconv, "generate", "--seed", "5", "--count", "12", "--out", out,
         "--raw-out", str(tmp_path / "b.f32")])
    run([tconv, "generate", "--seed", "6", "--count", "12", "--out", out,
         "--raw-out", str(tmp_path / "c.f32")])
    a, b, c = (np.fromfile(str(tmp_path / n), "<f4") for n in ("a.f32", "b.f32", "c.f32"))
    assert a.size == 12 * 256 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.abs(a) <= 1.0) and a.std() > 0.1  # Tanh range, not a constant image


def test_generate_refuses_bad_input(tmp_path):
    tconv = program("tconv_cli", "tconv")
    r = run([tconv, "generate", "--count", "0"], ok=False)
    assert r.returncode == 2 and "--count" in r.stderr
    r = run([tconv, "generate", "--weights", str(tmp_path / "none.safetensors"),
             "--out", str(tmp_path / "x.png")], ok=False)
    assert r.returncode == 1 and "cannot open" in r.stderr
    bad = str(tmp_path / "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(struct.pack("<Q", 1 << 40) + b"{}")
    r = run([tconv, "generate", "--weights", bad, "--out", str(tmp_path / "x.png")], ok=False)
    assert r.returncode == 1 and "header length" in r.stderr
