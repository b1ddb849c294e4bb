#!/usr/bin/env bash
# scripts/test.sh -- THE test command: builds and runs every test of tconv.
#
#   bash scripts/test.sh          (from anywhere; as root on a fresh Debian 12
#                                  machine it first installs what it needs)
#
# Sections: packages; Release build + ctest; ASan/UBSan build + ctest with
# gcc, then with clang (clang's ASan also checks the kernels' masked SIMD
# loads and stores, gcc's does not); ThreadSanitizer build (clang) + the
# concurrency tests; libFuzzer build + run of every fuzz/fuzz_*.c from its
# committed corpus; Python tests (PyTorch oracle) with pytest; the Python
# package installed with pip into a fresh venv (needs PyPI) and smoke-tested.
# Exits non-zero if any section fails (later sections still run, so one
# report shows every failure).
#
# Environment knobs:
#   TCONV_FUZZ_SECONDS  total libFuzzer time, shared by the fuzz targets (default 90)
#   TCONV_TEST_BUILD    build directory prefix of the sanitizer/fuzz builds (default build-test)
#   TCONV_TEST_RELEASE_BUILD  release build directory (default build, as the README)
#   TCONV_TEST_JOBS     parallel jobs (default: nproc)
#   TCONV_SKIP          space-separated sections to skip:
#                       release asan asan-clang tsan fuzz python package
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ---- Debian packages the tests need -------------------------------------
# Other parts of the project append their packages here (one list, one place).
TCONV_TEST_PACKAGES="
  cmake make gcc libc6-dev clang libclang-rt-14-dev
  python3 python3-torch python3-numpy python3-pytest python3-pip python3-venv
  libpng-dev
"

PREFIX="${TCONV_TEST_BUILD:-build-test}"
# The release build goes where the README's build goes, so the Python
# package's default library search (build/libtconv.so) is tested too.
RELEASE_DIR="${TCONV_TEST_RELEASE_BUILD:-build}"
JOBS="${TCONV_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
FUZZ_SECONDS="${TCONV_FUZZ_SECONDS:-90}"
SKIP=" ${TCONV_SKIP:-} "
PY=/usr/bin/python3 # Debian's python, the one with torch (not a pyenv one on PATH)

T0=$(date +%s)
declare -a RESULTS=()
FAILED=0

section() { printf '\n==================== %s ====================\n' "$*"; }
record() { # name status seconds
    RESULTS+=("$(printf '%-22s %-5s %4ss' "$1" "$2" "$3")")
    [ "$2" = PASS ] || [ "$2" = SKIP ] || FAILED=1
}
skipped() { [[ "$SKIP" == *" $1 "* ]]; }

# ---- packages ------------------------------------------------------------
section "packages"
missing=()
for p in $TCONV_TEST_PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
s=$(date +%s)
if [ ${#missing[@]} -eq 0 ]; then
    echo "all present: $(echo $TCONV_TEST_PACKAGES)"
    record packages PASS 0
else
    echo "installing: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then SUDO=sudo; else
            echo "error: not root and no sudo; install: ${missing[*]}" >&2
            record packages FAIL 0
            SUDO=none
        fi
    fi
    if [ "$SUDO" != none ]; then
        export DEBIAN_FRONTEND=noninteractive
        if $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
        then record packages PASS $(($(date +%s) - s))
        else record packages FAIL $(($(date +%s) - s)); fi
    fi
fi

# Release build + ctest ---------------------------------------------------
build_and_ctest() { # name builddir cc extra-cmake-args...
    local name=$1 dir=$2 cc=$3
    shift 3
    local s=$(date +%s) ok=1
    section "$name: configure + build ($dir, ${cc:-default compiler})"
    mkdir -p "$dir"
    if CC=$cc cmake -S . -B "$dir" "$@" >"$dir/configure.log" 2>&1 ||
        { cat "$dir/configure.log"; false; }; then
        tail -n 3 "$dir/configure.log"
        cmake --build "$dir" -j "$JOBS" || ok=0
    else
        ok=0
    fi
    if [ $ok = 1 ]; then
        section "$name: ctest"
        (cd "$dir" && ctest --output-on-failure -j "$JOBS") || ok=0
    fi
    record "$name" "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(($(date +%s) - s))
}

if skipped release; then record release SKIP 0; else
    # no CC: the project's default compiler (clang when installed)
    build_and_ctest release "$RELEASE_DIR" "${CC:-}" -DCMAKE_BUILD_TYPE=Release
fi

# halt_on_error: a sanitizer report fails the test that caused it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if skipped asan; then record asan+ubsan SKIP 0; else
    build_and_ctest asan+ubsan "$PREFIX-asan" gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DTCONV_SANITIZE=ON -DTCONV_BUILD_BENCH=OFF
fi

# clang instruments the AVX-512 / AVX2 masked loads and stores of the
# kernels (llvm.masked.load/store), so an out-of-bounds lane is reported.
if skipped asan-clang; then record asan+ubsan-clang SKIP 0; else
    build_and_ctest asan+ubsan-clang "$PREFIX-asan-clang" clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DTCONV_SANITIZE=ON -DTCONV_BUILD_BENCH=OFF -DTCONV_BUILD_EXAMPLES=OFF
fi

# ---- ThreadSanitizer: the tests that run the library from many threads ----
TSAN_TESTS="test_concurrency test_thread_pool_growth test_last_error_threads"
if skipped tsan; then record tsan SKIP 0; else
    s=$(date +%s)
    ok=1
    dir="$PREFIX-tsan"
    section "tsan: configure + build ($dir, clang -fsanitize=thread)"
    mkdir -p "$dir"
    if CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
        -DTCONV_BUILD_TOOLS=OFF -DTCONV_BUILD_EXAMPLES=OFF -DTCONV_BUILD_BENCH=OFF \
        >"$dir/configure.log" 2>&1 && cmake --build "$dir" -j "$JOBS" --target $TSAN_TESTS; then
        section "tsan: $TSAN_TESTS"
        # die_after_fork=0: the fork cases start threads in the child on purpose.
        (cd "$dir" && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0" \
                ctest --output-on-failure -R "^($(echo $TSAN_TESTS | tr ' ' '|'))\$") || ok=0
    else
        tail -n 20 "$dir/configure.log"
        ok=0
    fi
    record tsan "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(($(date +%s) - s))
fi

# ---- libFuzzer -------------------------------------------------------------
if skipped fuzz; then record fuzz SKIP 0; else
    s=$(date +%s)
    ok=1
    dir="$PREFIX-fuzz"
    section "fuzz: configure + build ($dir, clang)"
    mkdir -p "$dir"
    if CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCONV_BUILD_FUZZ=ON \
        -DTCONV_SANITIZE=ON -DBUILD_TESTING=OFF -DTCONV_BUILD_TOOLS=OFF \
        -DTCONV_BUILD_EXAMPLES=OFF -DTCONV_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1 &&
        targets=$(cd fuzz && ls fuzz_*.c 2>/dev/null | sed 's/\.c$//') && [ -n "$targets" ] &&
        cmake --build "$dir" -j "$JOBS" --target $targets; then
        n=$(echo $targets | wc -w)
        per=$((FUZZ_SECONDS / n))
        [ $per -ge 10 ] || per=10
        for t in $targets; do
            section "fuzz: $t for ${per}s"
            corpus="$dir/corpus-$t"
            mkdir -p "$corpus"
            seeds=()
            [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
            # a large seed corpus is kept as one archive (fuzz/corpus/<target>.tar.gz)
            if [ -f "fuzz/corpus/$t.tar.gz" ]; then
                rm -rf "$dir/seeds-$t" && mkdir -p "$dir/seeds-$t" &&
                    tar -xzf "fuzz/corpus/$t.tar.gz" -C "$dir/seeds-$t" && seeds+=("$dir/seeds-$t")
            fi
            # -timeout: one input may take at most 10 s; artifacts land in the build dir.
            # The safetensors reader gets inputs up to 1 MiB (its seeds also
            # expand into headers of up to 16 MiB) and 3 s each: a check that
            # grows faster than linearly in the entries trips the timeout.
            opts=(-timeout=10)
            [ "$t" = fuzz_safetensors ] && opts=(-timeout=3 -max_len=1048576)
            if "$dir/$t" -max_total_time=$per "${opts[@]}" -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$dir/$t-" "$corpus" "${seeds[@]}" >"$dir/$t.log" 2>&1; then
                grep -E "^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)" \
                    "$dir/$t.log" | tail -n 3
            else
                ok=0
                echo "FUZZ FAILURE in $t (reproduce: $dir/$t <artifact>):"
                grep -vE "^#[0-9]+ " "$dir/$t.log" | tail -n 40
            fi
        done
    else
        tail -n 20 "$dir/configure.log" 2>/dev/null
        ok=0
    fi
    record fuzz "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(($(date +%s) - s))
fi

# ---- Python tests (PyTorch oracle, binding) ---------------------------------
if skipped python; then record python SKIP 0; else
    s=$(date +%s)
    section "python: $PY -m pytest -q tests/python"
    export TCONV_LIBRARY="$ROOT/$RELEASE_DIR/libtconv.so"
    # The real safetensors package (PyPI only, not in Debian) writes the
    # files the examples' tests read back; without it those cases skip.
    if ! $PY -c "import safetensors.torch" 2>/dev/null; then
        $PY -m pip install -q --break-system-packages 'safetensors==0.8.0' ||
            echo "warning: could not install safetensors; its cross-check will be skipped"
    fi
    if [ ! -f "$TCONV_LIBRARY" ]; then
        echo "no $TCONV_LIBRARY (the release section failed or was skipped)"
        record python FAIL 0
    else
        $PY -m pytest -q tests/python
        rc=$?
        if [ $rc -eq 5 ] && ! ls tests/python/test_*.py >/dev/null 2>&1; then
            echo "(no Python tests yet)"
            rc=0
        fi
        record python "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" $(($(date +%s) - s))
    fi
fi

# ---- Python package: pip install . in a fresh venv ----------------------------
# What a new user does: a fresh venv of the python3 on PATH, `pip install .`
# (scikit-build-core and numpy from PyPI; CMake builds libtconv into the
# package), then `import tconv` from a directory outside the repository with
# neither TCONV_LIBRARY nor PYTHONPATH.  tests/package/smoke.py also runs the
# README's Python lines as written.
if skipped package; then record package SKIP 0; else
    s=$(date +%s)
    ok=1
    VENV="$ROOT/$PREFIX-venv"
    VPY=$(command -v python3)
    section "package: fresh venv ($VPY), pip install ., smoke test from another directory"
    rm -rf "$VENV"
    if env -u TCONV_LIBRARY -u PYTHONPATH "$VPY" -m venv "$VENV" &&
        env -u TCONV_LIBRARY -u PYTHONPATH "$VENV/bin/python" -m pip install -q --no-cache-dir "$ROOT"
    then
        away=$(mktemp -d)
        (cd "$away" && env -u TCONV_LIBRARY -u PYTHONPATH "$VENV/bin/python" \
            "$ROOT/tests/package/smoke.py" "$ROOT/README.md") || ok=0
        rm -rf "$away"
    else
        echo "venv creation or pip install failed"
        ok=0
    fi
    record package "$([ $ok = 1 ] && echo PASS || echo FAIL)" $(($(date +%s) - s))
fi

section "summary"
printf '%s\n' "${RESULTS[@]}"
echo "total: $(($(date +%s) - T0))s"
if [ $FAILED -ne 0 ]; then
    echo "TESTS FAILED"
    exit 1
fi
echo "ALL TESTS PASSED"
