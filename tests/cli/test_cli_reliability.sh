#!/bin/sh
# The tconv command line against hostile input: every command's usage
# errors name the command once, help texts carry no internal references,
# `tconv generate` refuses bad counts, bad z tensors, NaN outputs, weights
# files that declare more than they hold, non-regular files and names that
# are not UTF-8 -- each with exit 1 or 2, a message that says why, within a
# time limit, and nothing written -- and an installed tconv finds its model.
# Usage: test_cli_reliability.sh path/to/tconv [build-dir]
# (with a build dir, `cmake --install` into a temporary prefix is tested too)
TCONV=${1:?usage: test_cli_reliability.sh path/to/tconv [build-dir]}
BUILD=${2:-}
case $TCONV in /*) ;; *) TCONV=$(pwd)/$TCONV ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
pass=0
fail=0
tmp=$(mktemp -d)
out=$tmp/stdout
err=$tmp/stderr
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}

# run EXPECTED_RC ARGS...: runs tconv (at most 30 s), checks its exit status.
run() {
    want=$1
    shift
    timeout 30 "$TCONV" "$@" >"$out" 2>"$err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "tconv $* exited $rc, expected $want: $(head -c 600 "$err")"; fi
}
has() {
    if grep -qF -- "$2" "$1"; then ok; else bad "output of the last command lacks '$2': $(head -c 600 "$1")"; fi
}
lacks() {
    if grep -qF -- "$2" "$1"; then bad "output of the last command has '$2': $(head -c 600 "$1")"; else ok; fi
}
# no_raw_escape FILE: FILE has no ESC (0x1b) or BEL (0x07) byte
no_raw_escape() {
    if LC_ALL=C grep -q "$(printf '[\033\007]')" "$1"; then bad "raw control bytes in output"; else ok; fi
}
# first_line_starts FILE PREFIX: the message starts with PREFIX and names
# the command once
first_line_starts() {
    line=$(head -n 1 "$1")
    case $line in
    "$2"*) ok ;;
    *) bad "message '$line' does not start with '$2'" ;;
    esac
    case $line in
    *"tconv tconv"*) bad "message '$line' repeats the program name" ;;
    *) ok ;;
    esac
}

# ---- usage errors: every command names itself once ----
for c in shape explain demo generate; do
    run 2 "$c" --no-such-option
    first_line_starts "$err" "tconv $c: unknown option '--no-such-option'"
    run 2 "$c" --seed
    case $c in
    shape) has "$err" "unknown option '--seed'" ;;
    *) first_line_starts "$err" "tconv $c: option --seed needs a value" ;;
    esac
done
run 2 shape -i 1x1x4x4 -k; first_line_starts "$err" "tconv shape: option -k needs a value"
run 2 explain --stride x; first_line_starts "$err" "tconv explain: bad value for --stride"
run 2 demo --seed x; first_line_starts "$err" "tconv demo: bad value for --seed"
run 2 generate --count x; first_line_starts "$err" "tconv generate: bad value for --count"
run 2 generate --scale 0; first_line_starts "$err" "tconv generate: bad value for --scale"

# ---- help texts: no internal references ----
for c in "" shape explain demo generate; do
    # shellcheck disable=SC2086
    run 0 $c --help
    if grep -qiE "issue|todo|fixme" "$out"; then bad "tconv $c --help mentions an internal reference: $(grep -iE 'issue|todo|fixme' "$out")"; else ok; fi
done

# ---- generate: counts ----
run 2 generate --count 0; has "$err" "expected an integer in 1..4096"
run 2 generate --count 4097; has "$err" "expected an integer in 1..4096"
run 2 generate --count -1
run 2 generate --count 1152921504606846976; has "$err" "expected an integer in 1..4096"
run 2 generate --count 99999999999999999999999
run 2 generate --cols 0
run 2 generate --cols 1152921504606846976

if ! "$PY" -c "import json, struct" 2>/dev/null; then
    echo "test_cli_reliability: no python3 to write the hostile files" >&2
    exit 1
fi
"$PY" "$ROOT/tests/cli/make_hostile.py" "$tmp" "$ROOT/models/dcgan_digits.safetensors" || {
    echo "test_cli_reliability: make_hostile.py failed" >&2
    exit 1
}
W="--weights $ROOT/models/dcgan_digits.safetensors"

# ---- generate: z tensors ----
# shellcheck disable=SC2086
{
    run 1 generate $W --z "$tmp/z_empty.safetensors" --out "$tmp/a.png"
    has "$err" "tensor z holds 0 samples, expected 1..4096"
    run 1 generate $W --z "$tmp/z_4097.safetensors" --out "$tmp/a.png"
    has "$err" "tensor z holds 4097 samples, expected 1..4096"
    run 1 generate $W --z "$tmp/z_2pow60.safetensors" --out "$tmp/a.png"
    has "$err" "tensor z is F32 of shape (1152921504606846976x0x1x1), expected F32 of shape (K, 100, 1, 1)"
    run 1 generate $W --z "$tmp/z_2pow60_overflow.safetensors" --out "$tmp/a.png"
    has "$err" "overflows int64"
    run 1 generate $W --z "$tmp/z_wide.safetensors" --out "$tmp/a.png"
    has "$err" "expected F32 of shape (K, 100, 1, 1)"
    run 2 generate $W --z "$tmp/z_3.safetensors" --count 5 --out "$tmp/a.png"
    has "$err" "--count 5 but z holds 3 samples"
    [ ! -e "$tmp/a.png" ] && ok || bad "a refused z still wrote a PNG"
    run 0 generate $W --z "$tmp/z_3.safetensors" --out "$tmp/a.png"
    has "$out" "3 samples"
    [ -s "$tmp/a.png" ] && ok || bad "z of 3 samples wrote no PNG"

    # ---- generate: a NaN output is refused, nothing written ----
    run 1 generate --weights "$tmp/nan.safetensors" --out "$tmp/nan.png" --raw-out "$tmp/nan.raw"
    has "$err" "non-finite values"
    [ ! -e "$tmp/nan.png" ] && [ ! -e "$tmp/nan.raw" ] && ok || bad "NaN weights still wrote output"
}

# ---- generate: weights declaring far more than they hold ----
# (under a 1 GB address-space limit where the binary can run with one:
# sanitizer builds reserve more than that for their shadow memory)
limit=""
if (ulimit -v 1000000 && "$TCONV" --version) >/dev/null 2>&1; then limit="ulimit -v 1000000;"; fi
sh -c "$limit timeout 30 \"$TCONV\" generate --weights \"$tmp/big_declared.safetensors\" --out \"$tmp/big.png\"" >"$out" 2>"$err"
rc=$?
[ "$rc" -eq 1 ] && ok || bad "(5000, 5000, 0, 0) weight: exit $rc, expected 1: $(cat "$err")"
has "$err" "net.0.weight is F32 of shape (5000x5000x0x0), expected F32 of shape (C_in, C_out, 4, 4)"

# ---- weights files that are not files, hostile headers ----
run 1 generate --weights /dev/zero --out "$tmp/z.png"; has "$err" "is a character device, not a regular file"
run 1 generate --weights "$tmp" --out "$tmp/z.png"; has "$err" "is a directory, not a regular file"
start=$(date +%s)
run 1 generate --weights "$tmp/many_keys.safetensors" --out "$tmp/z.png"
has "$err" "no tensor named 'net.0.weight'"
[ $(($(date +%s) - start)) -le 10 ] && ok || bad "160k metadata keys took more than 10 s"
run 1 generate --weights "$tmp/escape_name.safetensors" --out "$tmp/z.png"
has "$err" "tensor '\\x1b]0;pwned\\x07'"
no_raw_escape "$err"
run 1 generate --weights "$tmp/not_utf8.safetensors" --out "$tmp/z.png"
has "$err" "not valid UTF-8"
[ ! -e "$tmp/z.png" ] && ok || bad "a refused weights file still wrote a PNG"

# ---- installed: tconv generate finds its model from anywhere ----
if [ -n "$BUILD" ]; then
    prefix=$tmp/prefix
    if cmake --install "$BUILD" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
        ok
        [ -f "$prefix/share/tconv/dcgan_digits.safetensors" ] && ok || bad "model not installed under share/tconv"
        # moved elsewhere: the model is found next to the executable's prefix
        mv "$prefix" "$tmp/moved"
        (cd / && timeout 60 "$tmp/moved/bin/tconv" generate --count 4 --out "$tmp/inst.png") >"$out" 2>"$err"
        rc=$?
        [ "$rc" -eq 0 ] && ok || bad "installed tconv generate exited $rc: $(cat "$err")"
        has "$out" "weights $tmp/moved/bin/../share/tconv/dcgan_digits.safetensors"
        [ -s "$tmp/inst.png" ] && ok || bad "installed tconv generate wrote no PNG"
    else
        bad "cmake --install failed: $(tail -n 5 "$tmp/install.log")"
    fi
fi

echo "test_cli_reliability: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
