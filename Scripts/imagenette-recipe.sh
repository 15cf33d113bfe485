#!/bin/sh
# The issue 13 recipe: Imagenette (../shared/data/imagenette/train, 9,469 photos, 10 classes),
# 10% held out with seed 123, trained from scratch within an hour of wall clock on two cores.
#   Scripts/imagenette-recipe.sh OUTPUT_DIR [extra train flags]
# resnet-small (ResNet-18 layout at half width) at 128 px for 22 epochs; SGD with one-cycle
# (peak 0.1, its own warm phase: no extra warmup), weight decay 5e-4, label smoothing 0.1,
# RandomResizedCrop (0.35-1) and flips; validated and recorded at a 160 px centre crop
# (--test-image-size: random-resized crops enlarge objects, so testing larger matches them).
# The decoded 146 px images are cached in memory (about 600 MB) after the first epoch.
# Epochs took 95-162 s on this 2-core Xeon across sessions (41-55 min for 22); the one-cycle
# schedule must finish to anneal, so --time-limit 60 is only a safety net.
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 OUTPUT_DIR [extra alexnet train flags]" >&2
  exit 2
fi
output="$1"
shift
cd "$(dirname "$0")/.."
data="${IMAGENETTE:-../shared/data/imagenette/train}"
if [ ! -d "$data" ]; then
  echo "$data: no such folder (set IMAGENETTE to the Imagenette train folder)" >&2
  exit 1
fi
swift build -c release --product alexnet
exec .build/release/alexnet train --data "$data" --validation-split 0.1 --seed 123 \
  --model resnet-small --image-size 128 --test-image-size 160 --batch-size 64 --epochs 22 \
  --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 0.0005 \
  --schedule onecycle --warmup-epochs 0 --label-smoothing 0.1 \
  --augment scale,flip --monitor val_loss --patience 100 --cache-images --clip-grad-norm 0 \
  --time-limit 60 --output "$output" "$@"
