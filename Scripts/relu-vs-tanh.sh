#!/usr/bin/env bash
# The paper's figure 1 (Krizhevsky et al. 2012, §3.1), reproduced: the four-layer `cifar4`
# network trained on CIFAR-10 with ReLU and with tanh, without regularisation (no weight decay,
# dropout or augmentation), each at its fastest learning rate from a small sweep. Writes the
# training error per epoch of both into one SVG and prints the epochs each needs to reach 25%
# training error, and their ratio (the paper: about six).
#
#   Scripts/relu-vs-tanh.sh            # defaults below; every setting can be given in the env
#   PER_CLASS=0 EPOCHS=40 MINUTES=600 Scripts/relu-vs-tanh.sh      # the full 50,000 images
#
# The sweep trains every rate for SWEEP_EPOCHS epochs, all at once; the fastest (lowest training
# error then) is resumed one epoch at a time (a resumed run continues exactly as an uninterrupted
# one) until it reaches the target error, EPOCHS, or MINUTES of wall time since the start, so
# the reproduction fits a budget on a busy machine. The learning rate stays fixed throughout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data/cifar10/train}
ALEXNET=${ALEXNET:-$ROOT/.build/release/alexnet}
RUNS=${RUNS:-$ROOT/runs/relu-vs-tanh}
DOCS=${DOCS:-$ROOT/Docs/relu-vs-tanh}
PER_CLASS=${PER_CLASS:-1000}     # a seeded, class-balanced subset; 0 takes every image
SEED=${SEED:-123}
EPOCHS=${EPOCHS:-60}             # at most, of the chosen rate
SWEEP_EPOCHS=${SWEEP_EPOCHS:-2}  # of each rate in the sweep
MINUTES=${MINUTES:-90}           # of wall time, after which no new epoch starts
RELU_RATES=${RELU_RATES:-"0.001 0.003 0.01 0.03 0.1"}
TANH_RATES=${TANH_RATES:-"0.001 0.003 0.01 0.03 0.1"}
BATCH=${BATCH:-32}
THREADS=${THREADS:-1}
TARGET_ERROR=${TARGET_ERROR:-0.25}

fail() { echo "relu-vs-tanh: $*" >&2; exit 1; }
[ -x "$ALEXNET" ] || fail "$ALEXNET is missing: run 'swift build -c release' first (or set ALEXNET)"
[ -d "$DATA" ] || fail "$DATA is not a folder of class folders (set DATA)"
mkdir -p "$RUNS" "$DOCS"

# A class-balanced subset: PER_CLASS images of each class, drawn with awk's generator seeded by
# SEED (the same on every run with the same awk), copied (the image folder reader skips symbolic
# links; a CIFAR-10 image is about 1 KB).
subset() {
  [ "$PER_CLASS" -eq 0 ] && { echo "$DATA"; return; }
  local folder="$RUNS/data-$PER_CLASS-seed$SEED"
  if [ ! -d "$folder" ]; then
    rm -rf "$folder.tmp"
    for class in "$DATA"/*/; do
      class=$(basename "$class")
      mkdir -p "$folder.tmp/$class"
      (cd "$DATA/$class" && ls) | LC_ALL=C sort \
        | awk -v seed="$SEED" 'BEGIN { srand(seed) } { printf "%.9f\t%s\n", rand(), $0 }' \
        | LC_ALL=C sort -n | head -n "$PER_CLASS" | cut -f2 \
        | while read -r file; do cp "$DATA/$class/$file" "$folder.tmp/$class/"; done
    done
    mv "$folder.tmp" "$folder"
  fi
  echo "$folder"
}

# train ACTIVATION RATE EPOCHS [--resume]: one run directory per activation and rate.
train() {
  local activation=$1 rate=$2 epochs=$3 directory="$RUNS/$1-lr$2"
  if [ "${4:-}" = --resume ]; then
    nice -n 10 "$ALEXNET" train --output "$directory" --resume --epochs "$epochs" --quiet \
      --threads "$THREADS"
  else
    nice -n 10 "$ALEXNET" train --data "$TRAINING" --validation-split 0 --seed "$SEED" \
      --model cifar4 --activation "$activation" --image-size 32 --epochs "$epochs" \
      --batch-size "$BATCH" --optimizer sgd --lr "$rate" --momentum 0.9 --weight-decay 0 \
      --augment none --lr-patience 100000 --patience 100000 --quiet --threads "$THREADS" \
      --output "$directory" --overwrite
  fi
}

# column NAME FILE: one column of a CSV with a header line, by name.
column() {
  awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { print $c }' "$2"
}

# The first epoch whose training error is at most TARGET_ERROR, or "-" if none.
epochs_to_target() {
  column accuracy "$1" | awk -v target="$TARGET_ERROR" \
    '1 - $1 <= target { print NR; found = 1; exit } END { if (!found) print "-" }'
}

# error_after RUN_DIRECTORY: the training error of its last epoch, 4 decimals.
error_after() {
  column accuracy "$1/history.csv" | tail -n 1 | awk '{ printf "%.4f", 1 - $1 }'
}

# sweep ACTIVATION RATES: each rate for SWEEP_EPOCHS epochs, side by side; the fastest (lowest
# training error then) is resumed an epoch at a time. Writes $RUNS/ACTIVATION.sweep (CSV lines)
# and $RUNS/ACTIVATION.chosen (the rate).
sweep() {
  local activation=$1 rates=$2 best_error=2 best="" rate error epoch
  for rate in $rates; do
    train "$activation" "$rate" "$SWEEP_EPOCHS" > "$RUNS/$activation-lr$rate.log" 2>&1 &
  done
  wait
  : > "$RUNS/$activation.sweep"
  for rate in $rates; do
    error=$(error_after "$RUNS/$activation-lr$rate")
    echo "sweep: $activation lr $rate: training error $error after $SWEEP_EPOCHS epochs"
    echo "$activation,$rate,$SWEEP_EPOCHS,$error" >> "$RUNS/$activation.sweep"
    # NaN (a diverged run) compares false and is never chosen.
    if awk -v e="$error" -v b="$best_error" 'BEGIN { exit !(e + 0 == e && e < b) }'; then
      best_error=$error
      best=$rate
    fi
  done
  [ -n "$best" ] || fail "every $activation rate diverged"
  echo "$best" > "$RUNS/$activation.chosen"
  epoch=$SWEEP_EPOCHS
  while [ "$epoch" -lt "$EPOCHS" ] && [ "$(date +%s)" -lt "$deadline" ] \
    && [ "$(epochs_to_target "$RUNS/$activation-lr$best/history.csv")" = - ]; do
    epoch=$((epoch + 1))
    train "$activation" "$best" "$epoch" --resume
    echo "$activation lr $best: epoch $epoch, training error" \
      "$(error_after "$RUNS/$activation-lr$best") ($(( ($(date +%s) - began) / 60 )) min)"
  done
}

began=$(date +%s)
deadline=$((began + MINUTES * 60))
TRAINING=$(subset)
described=$([ "$PER_CLASS" -eq 0 ] && echo "all images" || echo "$PER_CLASS per class")
echo "Training images: $TRAINING ($described)"
rm -f "$RUNS"/*.chosen "$RUNS"/*.sweep
# The two activations train side by side, one process (and THREADS threads) each.
sweep relu "$RELU_RATES" &
relu_job=$!
sweep tanh "$TANH_RATES" &
tanh_job=$!
wait "$relu_job" || fail "the ReLU runs failed"
wait "$tanh_job" || fail "the tanh runs failed"
declare -A best_rate
for activation in relu tanh; do
  best_rate[$activation]=$(cat "$RUNS/$activation.chosen")
  cp "$RUNS/$activation-lr${best_rate[$activation]}/history.csv" "$DOCS/$activation-history.csv"
done
{
  echo "activation,learning_rate,epochs,training_error"
  cat "$RUNS/relu.sweep" "$RUNS/tanh.sweep"
} > "$DOCS/sweep.csv.tmp"
mv "$DOCS/sweep.csv.tmp" "$DOCS/sweep.csv"

relu_epochs=$(epochs_to_target "$DOCS/relu-history.csv")
tanh_epochs=$(epochs_to_target "$DOCS/tanh-history.csv")
tanh_trained=$(($(wc -l < "$DOCS/tanh-history.csv") - 1))
relu_trained=$(($(wc -l < "$DOCS/relu-history.csv") - 1))
# A run stopped by the budget before the target gives a bound: more than the epochs it trained.
ratio=$(awk -v r="$relu_epochs" -v t="$tanh_epochs" -v n="$tanh_trained" 'BEGIN {
  if (r == "-") print "- (ReLU did not get there)"
  else if (t == "-") printf "> %.1f (tanh not there after %d epochs)\n", n / r, n
  else printf "%.1f\n", t / r }')
target_percent=$(awk -v t="$TARGET_ERROR" 'BEGIN { printf "%g", t * 100 }')
{
  echo "Training images: $described; batch $BATCH; seed $SEED."
  echo
  echo "| activation | learning rate | epochs to ${target_percent}% training error |"
  echo "|---|---|---|"
  echo "| ReLU | ${best_rate[relu]} | ${relu_epochs/-/not within $relu_trained} |"
  echo "| tanh | ${best_rate[tanh]} | ${tanh_epochs/-/not within $tanh_trained} |"
  echo "| ratio tanh / ReLU | | $ratio |"
} > "$DOCS/table.md.tmp"
mv "$DOCS/table.md.tmp" "$DOCS/table.md"
cat "$DOCS/table.md"
"$ROOT/Scripts/relu-vs-tanh-figure.sh" "$DOCS/relu-history.csv" "$DOCS/tanh-history.csv" \
  "${best_rate[relu]}" "${best_rate[tanh]}" "$TARGET_ERROR" > "$DOCS/figure.svg.tmp"
mv "$DOCS/figure.svg.tmp" "$DOCS/figure.svg"
echo "Figure: $DOCS/figure.svg"
