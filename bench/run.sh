#!/bin/sh
# The benchmark's one entry point.  Builds what it needs in build-bench
# (Release, -j2), then runs:
#   bench/run.sh [--conv2d] [--quick] [--only ...]     tconv vs oneDNN 2.6, PyTorch 1.13, ORT
#   bench/run.sh --modern [--conv2d] [...]              tconv vs the peers of bench/setup_peers.sh
#   bench/run.sh --backward [...]                       backward (dx + dw + db) peers
#   bench/run.sh --networks [...]                       the seed networks, whole
#   bench/run.sh --train [...]                          one DCGAN training epoch, C vs PyTorch 2.x
#   bench/run.sh --overhead [--conv2d] [...]            module and one-call costs over a bare run
# --help after the mode word lists its options.  The peers' virtualenv is
# build-bench/peers-venv, or $TCONV_PEERS_VENV.
set -e
cd "$(dirname "$0")/.."
VENV=${TCONV_PEERS_VENV:-$PWD/build-bench/peers-venv}
mode=classic
for a in "$@"; do
  case $a in
    --modern) mode=modern ;;
    --backward) mode=backward ;;
    --networks) mode=networks ;;
    --train) mode=train ;;
    --overhead) mode=overhead ;;
  esac
done
DNNL3=
if [ "$mode" != classic ] && [ "$mode" != train ] && [ "$mode" != overhead ] &&
  [ -x "$VENV/bin/python" ]; then
  DNNL3="-DTCONV_BENCH_DNNL3_ROOT=$VENV"
fi
if [ ! -f build-bench/CMakeCache.txt ] || [ -n "$DNNL3" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTCONV_BUILD_BENCH=ON $DNNL3 >&2
fi
case $mode in
  classic)
    cmake --build build-bench -j2 --target tconv_bench >&2
    exec /usr/bin/python3 bench/run.py "$@" ;;
  modern)
    targets=tconv_bench
    [ -n "$DNNL3" ] && targets="$targets tconv_bench_dnnl3"
    cmake --build build-bench -j2 --target $targets >&2
    exec /usr/bin/python3 bench/run_modern.py "$@" ;;
  backward)
    cmake --build build-bench -j2 --target tconv_bwd_bench >&2
    exec /usr/bin/python3 bench/run_backward.py "$@" ;;
  networks)
    cmake --build build-bench -j2 --target tconv_net_bench tconv >&2
    exec /usr/bin/python3 bench/run_networks.py "$@" ;;
  train)
    cmake --build build-bench -j2 --target tconv_cli >&2
    exec /usr/bin/python3 bench/train_bench.py "$@" ;;
  overhead)
    cmake --build build-bench -j2 --target tconv_overhead_bench >&2
    exec build-bench/tconv_overhead_bench "$@" ;;
esac
