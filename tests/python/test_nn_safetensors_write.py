"""What C writes, PyTorch loads: modules trained a step in C (so their
weights, running statistics and num_batches_tracked are not the initial
ones) are saved with libtconv's safetensors writer and read back with
safetensors.torch.load_file + load_state_dict(strict=True) into the same
PyTorch network, which must then hold exactly the C values and compute the
same outputs.  Also: every dtype, scalars, metadata and names that need
JSON escaping through the real safetensors package.

Run: /usr/bin/python3 -m pytest tests/python (needs the safetensors package,
which scripts/test.sh installs; skipped without it).
"""
import ctypes as C
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from nn_ctypes import (LIB, I64, VP, BatchNorm2d, Conv2dModule, Conv2dParams, CT2dModule,
                       CT2dParams, Linear, arr, err, fp, rng_for, shp)

st_lib = pytest.importorskip("safetensors.torch")


class Net(nn.Module):
    """fc -> view -> ConvTranspose2d -> BatchNorm2d -> ReLU -> Conv2d (no bias)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 4 * 3 * 3)
        self.net = nn.Sequential(nn.ConvTranspose2d(4, 6, 4, 2, 1), nn.BatchNorm2d(6), nn.ReLU(),
                                 nn.Conv2d(6, 2, 3, padding=1, bias=False))

    def forward(self, z):
        return self.net(self.fc(z).view(-1, 4, 3, 3))


def c_modules(seed):
    r = rng_for(seed)
    fc = Linear()
    assert LIB.tconv_linear_init(C.byref(fc), I64(10), I64(36), 1, C.byref(r)) == 0
    p = CT2dParams()
    LIB.tconv_conv_transpose2d_params_init(C.byref(p), I64(4), I64(6), I64(4), I64(4))
    p.stride[0] = p.stride[1] = 2
    p.padding[0] = p.padding[1] = 1
    ct = CT2dModule()
    assert LIB.tconv_conv_transpose2d_module_init(C.byref(ct), C.byref(p), 1, C.byref(r)) == 0
    bn = BatchNorm2d()
    assert LIB.tconv_batchnorm2d_init(C.byref(bn), I64(6)) == 0
    q = Conv2dParams()
    LIB.tconv_conv2d_params_init(C.byref(q), I64(6), I64(2), I64(3), I64(3))
    q.padding[0] = q.padding[1] = 1
    cv = Conv2dModule()
    assert LIB.tconv_conv2d_module_init(C.byref(cv), C.byref(q), 0, C.byref(r)) == 0
    return fc, ct, bn, cv


def c_forward(mods, z):
    fc, ct, bn, cv = mods
    n = z.shape[0]
    h = np.full(n * 36, np.nan, np.float32)
    assert LIB.tconv_linear_forward(C.byref(fc), 2, shp(z.shape), fp(z), fp(h), I64(h.size), None) == 0, err()
    a = np.full(n * 6 * 36, np.nan, np.float32)
    assert LIB.tconv_conv_transpose2d_module_forward(C.byref(ct), 4, shp((n, 4, 3, 3)), fp(h), None, 0,
                                                     fp(a), I64(a.size), None) == 0, err()
    b = np.full(a.size, np.nan, np.float32)
    assert LIB.tconv_batchnorm2d_forward(C.byref(bn), 4, shp((n, 6, 6, 6)), fp(a), fp(b)) == 0, err()
    assert LIB.tconv_relu(fp(b), fp(b), I64(b.size)) == 0
    y = np.full(n * 2 * 36, np.nan, np.float32)
    assert LIB.tconv_conv2d_module_forward(C.byref(cv), 4, shp((n, 6, 6, 6)), fp(b), fp(y), I64(y.size), None) == 0, err()
    return y.reshape(n, 2, 6, 6)


def test_c_written_state_dict_loads_into_torch(tmp_path):
    mods = c_modules(3)
    fc, ct, bn, cv = mods
    z = np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32)
    for _ in range(3):  # training mode: running stats and num_batches_tracked move
        c_forward(mods, z)
    # change weights in place through numpy (then weights_changed), as a trainer would
    arr(ct.weight, 4 * 6 * 16)[:] *= 1.5
    LIB.tconv_conv_transpose2d_module_weights_changed(C.byref(ct))
    w = VP()
    assert LIB.tconv_safetensors_writer_create(C.byref(w)) == 0
    for fn, m, name in [(LIB.tconv_linear_save, fc, b"fc"), (LIB.tconv_conv_transpose2d_module_save, ct, b"net.0"),
                        (LIB.tconv_batchnorm2d_save, bn, b"net.1"), (LIB.tconv_conv2d_module_save, cv, b"net.3")]:
        assert fn(C.byref(m), w, name) == 0, err()
    assert LIB.tconv_safetensors_writer_set_metadata(w, b"format", b"pt") == 0
    path = str(tmp_path / "net.safetensors")
    assert LIB.tconv_safetensors_writer_save(w, path.encode()) == 0, err()
    LIB.tconv_safetensors_writer_destroy(w)
    assert not [f for f in os.listdir(tmp_path) if "tmp" in f]  # no temporary left behind

    sd = st_lib.load_file(path)
    assert sd["net.1.num_batches_tracked"].dtype == torch.int64
    assert sd["net.1.num_batches_tracked"].shape == () and int(sd["net.1.num_batches_tracked"]) == 3
    net = Net()
    net.load_state_dict(sd, strict=True)
    assert np.array_equal(net.fc.weight.detach().numpy().ravel(), arr(fc.weight, 360))
    assert np.array_equal(net.net[0].weight.detach().numpy().ravel(), arr(ct.weight, 384))
    assert np.array_equal(net.net[1].running_var.numpy(), arr(bn.running_var, 6))
    # the same network: eval mode in both, same outputs
    bn.training = 0
    net.eval()
    y = c_forward(mods, z)
    with torch.no_grad():
        ref = net.double()(torch.from_numpy(z).double()).numpy()
    assert np.max(np.abs(y - ref)) / max(1, np.max(np.abs(ref))) < 1e-5
    for f, m in [(LIB.tconv_linear_free, fc), (LIB.tconv_conv_transpose2d_module_free, ct),
                 (LIB.tconv_batchnorm2d_free, bn), (LIB.tconv_conv2d_module_free, cv)]:
        f(C.byref(m))


DT = {"F32": (0 + 9, np.float32), "F64": (10, np.float64), "I64": (11, np.int64), "I32": (7, np.int32),
      "U8": (1, np.uint8), "I16": (3, np.int16), "F16": (5, np.float16), "BOOL": (0, np.bool_)}


def test_every_dtype_scalars_and_names(tmp_path):
    w = VP()
    assert LIB.tconv_safetensors_writer_create(C.byref(w)) == 0
    r = np.random.default_rng(1)
    want = {}
    for i, (name, (code, dt)) in enumerate(DT.items()):
        shape = [(), (3,), (2, 3), (0, 4)][i % 4]
        a = np.asarray(r.standard_normal(shape) * 50).astype(dt)
        key = '%s "quoted" \\ é\t%d' % (name, i)
        want[key] = a
        assert LIB.tconv_safetensors_writer_add(w, key.encode(), code, len(shape), shp(shape),
                                                a.ctypes.data_as(VP)) == 0, err()
    bad = np.zeros(1, np.float32)
    assert LIB.tconv_safetensors_writer_add(w, list(want)[0].encode(), 9, 1, shp((1,)), bad.ctypes.data_as(VP)) == 1
    assert "already added" in err()
    assert LIB.tconv_safetensors_writer_add(w, b"\xff\xfe", 9, 1, shp((1,)), bad.ctypes.data_as(VP)) == 1
    assert LIB.tconv_safetensors_writer_add(w, b"__metadata__", 9, 1, shp((1,)), bad.ctypes.data_as(VP)) == 1
    assert LIB.tconv_safetensors_writer_set_metadata(w, b"note", b'line\n"two"') == 0
    path = str(tmp_path / "all.safetensors")
    assert LIB.tconv_safetensors_writer_save(w, path.encode()) == 0, err()
    assert LIB.tconv_safetensors_writer_save(w, str(tmp_path / "no" / "dir.st").encode()) == 6  # IO
    LIB.tconv_safetensors_writer_destroy(w)
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        assert f.metadata() == {"note": 'line\n"two"'}
        assert set(f.keys()) == set(want)
        for k, a in want.items():
            got = f.get_tensor(k)
            assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a), k
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
    assert (8 + n) % 8 == 0  # data aligned as the reference writer aligns it
