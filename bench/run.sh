#!/bin/sh
# Builds the benchmark in build-bench (Release) if needed, then runs every
# peer side by side and prints one table: bench/run.sh [--quick] [--only ...]
# (ConvTranspose2d); bench/run.sh --conv2d [...] does the same for Conv2d.
set -e
cd "$(dirname "$0")/.."
if [ ! -f build-bench/CMakeCache.txt ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTCONV_BUILD_BENCH=ON >&2
fi
cmake --build build-bench -j2 --target tconv_bench >&2
exec /usr/bin/python3 bench/run.py "$@"
