#!/usr/bin/env bash
# wtserve-train / wtserve-eval end to end on a small slice of Fashion-MNIST: the trainer writes a
# servable folder that wtserve-eval loads through the server's code path and scores exactly as the
# trainer did; two runs with the same seed write identical weights; bad arguments and unreadable
# data fail with a message and a non-zero exit.
# usage: trainer_cli_test.sh <wtserve-train> <wtserve-eval>
set -euo pipefail
train=$1
eval_bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

common=(--architecture=convnext_fmnist --epochs=1 --train_limit=512 --test_limit=500
        --batch_size=64 --intra_op_threads=1 --seed=5)
"$train" "${common[@]}" --output="$tmp/run_a/tiny_model" > "$tmp/a.log"
"$train" "${common[@]}" --output="$tmp/run_b/tiny_model" > "$tmp/b.log"
grep -q '^epoch 1/1  loss ' "$tmp/a.log" || fail "no progress line"
grep -q 'img/s' "$tmp/a.log" || fail "no throughput in the progress line"
for f in config.pbtxt labels.txt 1/model.pt training.json; do
  [ -s "$tmp/run_a/tiny_model/$f" ] || fail "missing $f"
done
grep -q 'name: "tiny_model"' "$tmp/run_a/tiny_model/config.pbtxt" || fail "config name"
grep -q 'max_batch_size: 64' "$tmp/run_a/tiny_model/config.pbtxt" || fail "max_batch_size"
[ "$(sed -n 1p "$tmp/run_a/tiny_model/labels.txt")" = "T-shirt/top" ] || fail "labels"
cmp -s "$tmp/run_a/tiny_model/1/model.pt" "$tmp/run_b/tiny_model/1/model.pt" || fail "same seed, different weights"
acc_train=$(sed -n 's/^test accuracy \([0-9.]*\)% on 500 images$/\1/p' "$tmp/a.log")
[ -n "$acc_train" ] || fail "no test accuracy line"
"$eval_bin" --model_dir="$tmp/run_a/tiny_model" --limit=500 --intra_op_threads=1 \
  --output_json="$tmp/eval.json" > "$tmp/eval.log"
grep -q "\"images\": 500" "$tmp/eval.json" || fail "eval json"
acc_eval=$(sed -n 's/.*accuracy \([0-9.]*\)% .*/\1/p' "$tmp/eval.log" | head -1)
[ "$acc_train" = "$acc_eval" ] || fail "trainer accuracy $acc_train != wtserve-eval $acc_eval"

# Errors: exit 1 with a message.
expect_error() {
  local pattern=$1; shift
  if "$@" > "$tmp/err.log" 2>&1; then fail "expected failure: $*"; fi
  grep -qF -e "$pattern" "$tmp/err.log" || { cat "$tmp/err.log" >&2; fail "message '$pattern' missing"; }
}
expect_error "--architecture is required" "$train" --output="$tmp/x"
expect_error "unknown architecture 'nope'" "$train" --architecture=nope --output="$tmp/x" --train_limit=10 --test_limit=10
expect_error "--epochs" "$train" --architecture=convnext_fmnist --output="$tmp/x" --epochs=0
expect_error "/nonexistent" "$train" --architecture=convnext_fmnist --output="$tmp/x" --fashion_mnist_dir=/nonexistent
expect_error "--test_data is required" "$train" --architecture=convnext_fmnist --output="$tmp/x" --data="$tmp"
expect_error "--model_dir is required" "$eval_bin"
expect_error "config.pbtxt" "$eval_bin" --model_dir="$tmp/nonexistent_model"
echo "trainer CLI test passed (accuracy $acc_train% on 500 images after 512 training images)"
