#!/bin/sh
# Installs the peers a user would install today into a virtualenv outside
# version control, pinned, so that bench/run.sh --modern can time them:
#   PyTorch 2.x (CPU use of PyPI's CUDA build: --no-deps, CUDA stand-in
#   libraries from bench/make_cuda_stubs.py), oneDNN 3.x (C headers and
#   library for bench/onednn3_peer), OpenVINO, LiteRT (XNNPACK delegate),
#   ONNX Runtime + onnx, safetensors.
#
#   bench/setup_peers.sh            # venv in build-bench/peers-venv
#   TCONV_PEERS_VENV=/path bench/setup_peers.sh
#
# Idempotent: each step checks what is there and skips it.  Needs the
# python3 on PATH (3.10-3.13), gcc and readelf (binutils).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TCONV_PEERS_VENV:-$ROOT/build-bench/peers-venv}
PY=${TCONV_PEERS_PYTHON:-python3}

# Pinned versions (change them here, and re-run).
TORCH=2.15.0
ONEDNN=2026.1.0          # oneDNN 3.13 (SYCL CPU runtime)
OPENVINO=2026.4.1
LITERT=2.3.0
ORT=1.32.0
ONNX=1.23.2
NUMPY=2.4.6
SAFETENSORS=0.8.0
FLATBUFFERS=25.12.19
# torch's pure-Python dependencies (torch itself goes in with --no-deps:
# its declared dependencies include several GB of nvidia-* wheels).
TORCH_DEPS="filelock==4.3.2 typing-extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0
networkx==3.6.1 jinja2==3.1.6 MarkupSafe==3.0.4 fsspec==2026.9.0 setuptools==84.2.1"

say() { echo "setup_peers: $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PY --version 2>&1)"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
VPY="$VENV/bin/python"
# bench/peers-constraints.txt pins the dependencies of the peers too.
PIP="$VPY -m pip install -q --disable-pip-version-check -c $ROOT/bench/peers-constraints.txt"

# has NAME==VERSION...: every distribution is installed at that version.
has() {
  "$VPY" - "$@" <<'EOF2'
import sys
from importlib import metadata
for spec in sys.argv[1:]:
    name, ver = spec.split("==")
    try:
        if metadata.version(name) != ver:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
EOF2
}

# step PIP-ARGS... : install the pinned specs unless all are there already.
step() {
  specs=$(for a in "$@"; do case $a in *==*) echo "$a";; esac; done)
  if has $specs; then
    say "present: $(echo $specs)"
  else
    say "installing: $*"
    $PIP "$@"
  fi
}

# One resolver run for the peers that bring their own dependencies (so no
# later step changes an earlier one's pins), then the two --no-deps wheels.
step "numpy==$NUMPY" "onnxruntime==$ORT" "onnx==$ONNX" "openvino==$OPENVINO" \
  "ai-edge-litert==$LITERT" "flatbuffers==$FLATBUFFERS" "safetensors==$SAFETENSORS" \
  "onednn==$ONEDNN" $TORCH_DEPS
step --no-deps "torch==$TORCH"
step --no-deps "onednn-devel==$ONEDNN"

# CUDA stand-ins for PyPI's torch (only the torch processes load them).
STUBS="$VENV/cuda-stubs"
TORCH_DIR=$("$VPY" -c "import importlib.util as u; import os; print(os.path.dirname(u.find_spec('torch').origin))")
if [ ! -f "$STUBS/.done-$TORCH" ]; then
  say "writing CUDA stand-in libraries into $STUBS"
  rm -rf "$STUBS"
  "$VPY" "$ROOT/bench/make_cuda_stubs.py" "$TORCH_DIR" "$STUBS" >&2
  touch "$STUBS/.done-$TORCH"
fi

# The oneDNN 3.x C peers (tconv_bench_dnnl3, tconv_bwd_bench) are built
# against these (bench/run.sh passes the venv as TCONV_BENCH_DNNL3_ROOT).
for f in include/oneapi/dnnl/dnnl.h lib/libdnnl.so lib/libintelocl.so; do
  [ -e "$VENV/$f" ] || { say "missing $VENV/$f (onednn / onednn-devel wheels)"; exit 1; }
done

# Smoke test: every peer imports (torch with the stand-ins on its path).
LD_LIBRARY_PATH="$STUBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$VPY" -c "
import torch; assert not torch.cuda.is_available()
print('torch', torch.__version__, 'oneDNN', torch.backends.mkldnn.is_available())" >&2
"$VPY" -c "
import onnxruntime, onnx, openvino, ai_edge_litert, safetensors, numpy
print('onnxruntime', onnxruntime.__version__, 'onnx', onnx.__version__, 'openvino', openvino.__version__,
      'numpy', numpy.__version__)" >&2
say "done: $VENV"
