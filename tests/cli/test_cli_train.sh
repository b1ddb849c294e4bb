#!/bin/sh
# CLI tests for `tconv train`: help, bad command lines (exit 2, the command
# named once), bad data and destinations (exit 1, nothing written), short
# real runs in each --out form, the same weights for the same seed on any
# thread count, plain progress lines when stdout is not a terminal, and the
# weights feeding `tconv generate --weights`.
# Usage: test_cli_train.sh path/to/tconv   (from the repository root)
TCONV=${1:?usage: test_cli_train.sh path/to/tconv}
pass=0
fail=0
tmp=$(mktemp -d)
out="$tmp/stdout"
err="$tmp/stderr"
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}
run() { # run EXPECTED_RC ARGS...
    want=$1
    shift
    "$TCONV" "$@" >"$out" 2>"$err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "tconv $* exited $rc, expected $want: $(cat "$err")"; fi
}
has() { # has FILE TEXT
    if grep -qF -- "$2" "$1"; then ok; else bad "output lacks '$2': $(cat "$1")"; fi
}
named_once() { # the error names the command exactly once
    n=$(grep -o "tconv train" "$err" | wc -l)
    if [ "$n" -eq 1 ]; then ok; else bad "stderr names 'tconv train' $n times: $(cat "$err")"; fi
}
usage() { # usage TEXT ARGS...: exit 2, TEXT in stderr, named once, nothing on stdout
    text=$1
    shift
    run 2 train "$@"
    has "$err" "$text"
    named_once
    if [ ! -s "$out" ]; then ok; else bad "a usage error printed to stdout: $(cat "$out")"; fi
}

# ---- help and usage errors ----
run 0 train --help; has "$out" "Usage: tconv train"; has "$out" "--batch-size"; has "$out" "--out PATH"
run 0 help train; has "$out" "Usage: tconv train"
run 0 --help; has "$out" "train"
usage "bad value for --epochs: '0'" --epochs 0
usage "bad value for --epochs: 'x'" --epochs x
usage "bad value for --epochs: '100001'" --epochs 100001
usage "bad value for --batch-size: '0'" --batch-size 0
usage "bad value for --batch-size: '1798' (expected an integer from 1 to the number of images (1797))" \
    --batch-size 1798 --out "$tmp/never/"
usage "bad value for --threads: '0'" --threads 0
usage "bad value for --threads: '1025'" --threads 1025
usage "bad value for --seed: '1.5'" --seed 1.5
usage "unknown option '--frobnicate'" --frobnicate
usage "unknown argument 'extra'" extra
usage "needs a value" --epochs
usage "--replay and --dump go together" --replay "$tmp/r.safetensors"
usage "--replay and --dump go together" --dump "$tmp/d.safetensors"
usage "do not apply" --replay "$tmp/r" --dump "$tmp/d" --epochs 3
[ ! -e "$tmp/never" ] && ok || bad "a refused command line created its --out directory"

# ---- bad data and destinations: exit 1, nothing written ----
run 1 train --data "$tmp/none.safetensors" --out "$tmp/a/"; has "$err" "cannot open"; named_once
run 1 train --data models/dcgan_digits.safetensors --out "$tmp/a/"; has "$err" "no tensor named 'images'"
run 1 train --epochs 1 --out "$tmp/no/such/dir/run"; has "$err" "does not exist"; named_once
run 1 train --epochs 1 --out "$tmp/no/such/dir/"; has "$err" "cannot create the directory"
[ ! -e "$tmp/a" ] && ok || bad "a failed run created its --out directory"
run 1 train --replay "$tmp/none.safetensors" --dump "$tmp/d.safetensors"; has "$err" "cannot open"
[ ! -e "$tmp/d.safetensors" ] && ok || bad "a failed replay wrote its dump"

# ---- short real runs (batch 599: 3 steps per epoch) ----
run 0 train --epochs 2 --batch-size 599 --seed 3 --threads 1 --out "$tmp/d1/"
has "$out" "epoch 1/2  3 steps  loss D"; has "$out" "epoch 2/2"; has "$out" "images/s"
has "$out" "$tmp/d1/generator.safetensors"
if grep -q "$(printf '\r')" "$out"; then bad "progress used carriage returns on a pipe"; else ok; fi
for f in generator.safetensors epoch_001.png epoch_002.png; do
    [ -s "$tmp/d1/$f" ] && ok || bad "no $tmp/d1/$f"
done
[ -z "$(ls "$tmp/d1" | grep -e partial -e tmp)" ] && ok || bad "a temporary file was left in $tmp/d1"
# the weights get the permissions any new file gets (the umask's), as the PNGs do
[ "$(stat -c %a "$tmp/d1/generator.safetensors")" = "$(stat -c %a "$tmp/d1/epoch_001.png")" ] && ok ||
    bad "generator.safetensors has mode $(stat -c %a "$tmp/d1/generator.safetensors")"
# the same seed on 2 threads: the same weights; another seed: others
mkdir "$tmp/d3"
run 0 train --epochs 2 --batch-size 599 --seed 3 --threads 2 --out "$tmp/d2/"
cmp -s "$tmp/d1/generator.safetensors" "$tmp/d2/generator.safetensors" && ok ||
    bad "seed 3 on 1 and 2 threads gave different weights"
run 0 train --epochs 1 --batch-size 599 --seed 4 --out "$tmp/d3"
cmp -s "$tmp/d1/epoch_001.png" "$tmp/d3/epoch_001.png" && bad "seeds 3 and 4 drew the same samples" || ok
# a prefix, and a .safetensors name
run 0 train --epochs 1 --batch-size 599 --out "$tmp/d3/run"
[ -s "$tmp/d3/run.safetensors" ] && [ -s "$tmp/d3/run_epoch_001.png" ] && ok || bad "prefix form: $(ls "$tmp/d3")"
run 0 train --epochs 1 --batch-size 599 --out "$tmp/d3/g.safetensors"
[ -s "$tmp/d3/g.safetensors" ] && [ -s "$tmp/d3/g_epoch_001.png" ] && ok || bad ".safetensors form: $(ls "$tmp/d3")"
# a name with printf's % in it is only a name
run 0 train --epochs 1 --batch-size 599 --out "$tmp/p%s%n/"
[ -s "$tmp/p%s%n/generator.safetensors" ] && [ -s "$tmp/p%s%n/epoch_001.png" ] && ok || bad "'%' in --out"
# the weights run in tconv generate
run 0 generate --weights "$tmp/d1/generator.safetensors" --count 4 --out "$tmp/g.png"
has "$out" "4 samples"

echo "test_cli_train: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
