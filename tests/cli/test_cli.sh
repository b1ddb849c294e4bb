#!/bin/sh
# CLI tests for `tconv`: shapes for every row of SEEDS-NOTES.md's table (and the
# two seed errors) as PyTorch gives them, PyTorch's refusals with exit 1, bad
# command lines with exit 2, help/version, explain and demo.
# Usage: test_cli.sh path/to/tconv
TCONV=${1:?usage: test_cli.sh path/to/tconv}
pass=0
fail=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}

# run EXPECTED_RC ARGS...: runs tconv, checks its exit status.
run() {
    want=$1
    shift
    "$TCONV" "$@" >"$out" 2>"$err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "tconv $* exited $rc, expected $want: $(cat "$err")"; fi
}

# has FILE TEXT: the last run's stdout/stderr contains TEXT (fixed string).
has() {
    if grep -qF -- "$2" "$1"; then ok; else bad "output of the last command lacks '$2'"; fi
}

# shape EXPECTED ARGS...: `tconv shape -q ARGS` prints EXPECTED.
shape() {
    want=$1
    shift
    got=$("$TCONV" shape -q "$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else bad "tconv shape $*: got '$got' (rc $rc), PyTorch gives $want"; fi
}

# ---- help, version, usage errors ----
run 0 --help; has "$out" "Commands:"; has "$out" "generate"
run 0 help shape; has "$out" "Usage: tconv shape"
for c in shape explain demo; do run 0 "$c" --help; has "$out" "Usage: tconv $c"; done
run 0 --version; has "$out" "tconv 0."
run 2
run 2 frobnicate; has "$err" "unknown command 'frobnicate'"
run 2 --frobnicate; has "$err" "unknown option '--frobnicate'"
run 2 shape -i 1x1x4x4 -k 3 --bogus; has "$err" "unknown option '--bogus'"
run 2 shape -i 1x1x4x4 -k abc; has "$err" "bad value for --kernel"
run 2 shape -i 1x1x4x4; has "$err" "--kernel are required"
run 2 shape -i 1x1x4x4 -k; has "$err" "needs a value"
run 2 explain --stride x; has "$err" "bad value for --stride"
run 2 demo --nope
run 2 demo --seed x; has "$err" "bad value for --seed"

# ---- SEEDS-NOTES.md table, row by row ----
shape 1x64x32x32 -i 1x64x16x16 -k 2 -s 2
# DCGAN chain k4 s2 p1 512->256->128->64->3
shape 1x256x8x8 -i 1x512x4x4 -o 256 -k 4 -s 2 -p 1
shape 1x128x16x16 -i 1x256x8x8 -o 128 -k 4 -s 2 -p 1
shape 1x64x32x32 -i 1x128x16x16 -o 64 -k 4 -s 2 -p 1
shape 1x3x64x64 -i 1x64x32x32 -o 3 -k 4 -s 2 -p 1
# seed 003 generator
shape 16x128x4x4 -i 16x100x1x1 -o 128 -k 4 -s 1 -p 0
shape 16x64x8x8 -i 16x128x4x4 -o 64 -k 4 -s 2 -p 1
shape 16x3x16x16 -i 16x64x8x8 -o 3 -k 4 -s 2 -p 1
# U-Net decoder: k2 s2 up, conv3 p1, twice
shape 1x128x16x16 -i 1x256x8x8 -o 128 -k 2 -s 2
shape 1x128x16x16 --conv2d -i 1x128x16x16 -k 3 -p 1
shape 1x64x32x32 -i 1x128x16x16 -o 64 -k 2 -s 2
shape 1x64x32x32 --conv2d -i 1x64x32x32 -k 3 -p 1
# k1: s1 p0 / s2 p0 / s2 p1
shape 1x64x4x4 -i 1x64x4x4 -k 1 -s 1 -p 0
shape 1x64x7x7 -i 1x64x4x4 -k 1 -s 2 -p 0
shape 1x64x5x5 -i 1x64x4x4 -k 1 -s 2 -p 1
shape 1x6x61x61 -i 1x3x32x32 -o 6 -k 3 -s 2 -p 2
shape 20x33x93x100 -i 20x16x50x100 -o 33 -k 3,5 -s 2,1 -p 4,2
shape 1x16x12x12 -i 1x16x6x6 -k 3 -s 2 -p 1 --output-size 12,12
shape 1x16x12x12 -i 1x16x6x6 -k 3 -s 2 -p 1 --output-size 1,16,12,12
shape 1x16x6x6 --conv2d -i 1x16x12x12 -k 3 -s 2 -p 1
# the seeds' errors, PyTorch's answers
shape 20x33x16x16 -i 20x16x8x8 -o 33 -k 3 -s 2 -p 1 --output-padding 1
shape 1x3x31x31 -i 1x16x16x16 -o 3 -k 3 -s 2 -p 1
shape 1x3x32x32 -i 1x16x16x16 -o 3 -k 3 -s 2 -p 1 --output-size 32,32
# seed 004 Conv2d, unbatched, spatial-only, same padding
shape 1x16x32x32 --conv2d -i 1x3x32x32 -o 16 -k 3 -p 1
shape 16x32x32 --conv2d -i 3x32x32 -o 16 -k 3 -p same
shape 9x9 -i 4,4 -k 3 -s 2 -p 0
shape 8x12 -i 4,4 -k 3,5 -s 2,3 -p 1,2 -d 1,1 --output-padding 1,2

# formula and range printed with the numbers
run 0 shape -i 1x64x16x16 -k 2 -s 2
has "$out" "H_out = (16-1)*2 - 2*0 + 1*(2-1) + 0 + 1 = 32"
has "$out" "output: 1x64x32x32"
has "$out" "valid output_size for this input: H 32..33, W 32..33"
run 0 shape -i 1x16x6x6 -k 3 -s 2 -p 1 --output-size 12,12
has "$out" "output_size 12x12 -> output_padding (1, 1)"

# ---- PyTorch's refusals: the library's message, exit 1 ----
run 1 shape -i 1x16x6x6 -k 3 -s 2 -p 1 --output-size 14,14
has "$err" "requested an output size of [14, 14], but valid sizes range from [11, 11] to [12, 12]"
run 1 shape -i 1x1x4x4 -k 3 -s 0; has "$err" "non-positive stride is not supported"
run 1 shape -i 1x1x4x4 -k 3 -p -1; has "$err" "negative padding is not supported"
run 1 shape -i 1x1x4x4 -k 3 --output-padding 1
has "$err" "output padding must be smaller than either stride or dilation"
run 1 shape -i 1x3x4x4 -k 3 -g 2
run 1 shape -i 1x1x1x1 -k 1 -p 1
run 1 shape -i 1x1x4x4 -k 3 --padding-mode reflect; has "$err" "Only \"zeros\" padding mode"
run 1 explain -s 0; has "$err" "non-positive stride"

# ---- explain ----
run 0 explain
has "$out" "Step 1. zero insertion"
has "$out" "36 28  4  6 12"
has "$out" "max |decomposition - PyTorch's output printed in seed 001| = 0"
has "$out" "the decomposition equals the direct transposed convolution"
run 0 explain -p 3 --output-padding 1; has "$out" "1 row cropped at the top"
run 0 explain -k 2 -s 3 -p 0 -d 2 --input-size 2,3 --bias
run 0 explain --in-channels 2 -o 4 -g 2 -n 2 --values float --seed 7
run 0 explain --output-size 6,6; has "$out" "output_size 6x6 -> output_padding (1, 1)"
run 0 explain --input-values 1,2,3,4,5,6,7,8,9 --weight-values 1,0,0,0,0,0,0,0,0
run 2 explain --input-values 1,2,3
run 2 explain --input-size 200,200

# ---- demo ----
run 0 demo
has "$out" "noise: torch.Size([1, 100]) -> image: torch.Size([1, 3, 64, 64])"
has "$out" "torch.Size([20, 33, 16, 16])"
has "$out" "torch.Size([1, 3, 31, 31])"
has "$out" "equals PyTorch's output printed in seed 001"
has "$out" " 0 failed"
has "$out" "torch.Size([20, 33, 93, 100])"
run 0 demo --quick --seed 3
has "$out" "computed for batch 1 (--quick)"
has "$out" " 0 failed"

echo "test_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
