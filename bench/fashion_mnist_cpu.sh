#!/usr/bin/env bash
# The Fashion-MNIST study at CPU scale: 60k unlabeled pretext images, 100 labels per class, the 10k test set, but the
# small `tiny_cnn` at 28 px and 20 pretext epochs, so that it runs on 2 CPU cores (about 75 minutes). Four pipelines,
# 3 seeds: no pretext at all, the baseline, a compute-matched baseline, BiSSL. The fine-tuning settings are the best
# of 14 tried for the *baseline* (seed 0). Writes runs/fashion_mnist_cpu/{results.md,results.csv,finetune.png,...};
# rerun to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/bissl_fast compare --data fashion_mnist --arch tiny_cnn --size 28 --labels 100 --bs 64 --pretext_bs 256 \
  --pretext_epochs 20 --alternations 60 --ft_lr 1 --freeze_epochs 5 --lr_mult 10 --matched --scratch --seeds 0 1 2 \
  --device cpu --out runs/fashion_mnist_cpu "$@"
