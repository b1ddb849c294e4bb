"""Smoke test of an installed tconv package (scripts/test.sh runs it in a
fresh venv after `pip install .`, from a directory outside the repository,
without TCONV_LIBRARY or PYTHONPATH).  No torch here: the numbers are
checked against a direct NumPy computation of the definitions.

    python smoke.py README.md
"""
import os
import re
import sys
import tempfile

import numpy as np

import tconv
from tconv import nn


def check(cond, what):
    if not cond:
        raise SystemExit("smoke test FAILED: " + what)
    print("ok  ", what)


def conv_transpose2d_direct(x, w, b, stride, padding):
    """The scatter definition, in float64."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    oh = (h - 1) * stride - 2 * padding + kh
    ow = (wd - 1) * stride - 2 * padding + kw
    full = np.zeros((n, cout, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j].astype(np.float64), w.astype(np.float64))
    return full[:, :, padding:padding + oh, padding:padding + ow] + b[None, :, None, None]


def main(readme):
    here = os.path.dirname(os.path.abspath(tconv.__file__))
    check(os.path.dirname(os.path.abspath(tconv.library_path)) == here,
          "library loaded from the installed package: %s" % tconv.library_path)
    check(tconv.version == tconv.__version__, "library version %s == package version %s"
          % (tconv.version, tconv.__version__))

    # The README's Python lines, as written.
    text = open(readme, encoding="utf-8").read()
    section = text[text.index("## Using it from Python"):]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    check(len(blocks) >= 1, "README has a Python block")
    for code in blocks[:2]:
        exec(compile(code, "README.md", "exec"), {})
    check(True, "README's Python blocks ran")

    rs = np.random.default_rng(3)
    x = rs.standard_normal((2, 4, 5, 5)).astype(np.float32)
    m = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, rng=1)
    ref = conv_transpose2d_direct(x, m.weight, m.bias, 2, 1)
    y = m(x)
    err = np.abs(y - ref).max() / max(1.0, np.abs(ref).max())
    check(y.shape == ref.shape and err < 1e-5, "ConvTranspose2d matches the definition (%.1e)" % err)

    gen = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 1, 0, bias=False), nn.BatchNorm2d(4),
                        nn.ReLU(True), nn.ConvTranspose2d(4, 1, 4, 2, 1, bias=False), nn.Tanh())
    z = rs.standard_normal((3, 8, 1, 1)).astype(np.float32)
    out = gen(z)
    check(out.shape == (3, 1, 8, 8) and np.all(np.abs(out) <= 1), "a small generator runs")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "g.safetensors")
        tconv.save_safetensors(gen.state_dict(), path)
        sd = tconv.load_safetensors(path)
        check(sorted(sd) == sorted(gen.state_dict()), "safetensors round trip keeps the keys")
        gen2 = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 1, 0, bias=False), nn.BatchNorm2d(4),
                             nn.ReLU(True), nn.ConvTranspose2d(4, 1, 4, 2, 1, bias=False),
                             nn.Tanh())
        gen2.load_state_dict(sd)
        gen.eval()
        gen2.eval()
        check(np.array_equal(gen(z), gen2(z)), "load_state_dict reproduces the model")
    try:
        m(x.astype(np.float64))
        check(False, "float64 input refused")
    except tconv.Error as e:
        check("astype(np.float32)" in str(e), "float64 input refused: %s" % e)
    tconv.set_num_threads(1)
    check(tconv.get_num_threads() == 1, "set_num_threads / get_num_threads")
    check(np.array_equal(m(x), y), "one thread gives the same bits")
    print("tconv %s smoke test passed (%s)" % (tconv.__version__, tconv.library_path))


if __name__ == "__main__":
    main(sys.argv[1])
