#!/usr/bin/env bash
# The Fashion-MNIST study at CPU scale, with the fair protocol: 60k unlabeled pretext images, 100 labels per class, the
# 10k test set, but the small `tiny_cnn` at 28 px and 20 pretext epochs, so that it runs on a CPU. Five pipelines: no
# pretext, the baseline, a compute-matched baseline, the baseline fine-tuned longer by BiSSL's upper-level steps, BiSSL.
# Each pipeline's fine-tuning (lr, frozen epochs, weight decay) and linear-probe settings are chosen separately among 4
# candidates on a stratified 30% of the labeled *training* images, then retrained on all of them; the test split is read
# only by those final runs. 5 paired seeds, 95% t-intervals on BiSSL − each control. Measured: 1 h 19 min on one core of
# this project's 2-core machine (pretext 19 min, matched 26 min, BiSSL 11 min, tuning 4 min, final runs 20 min). Writes
# runs/fashion_mnist_cpu/{results.md,results.csv,finetune.png,tune/,...}; rerun to resume.
# Extra options are passed on (later ones win), e.g. `--seeds 0 1 2` or `--tune 3` for a shorter run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/bissl_fast compare --data fashion_mnist --arch tiny_cnn --size 28 --labels 100 --bs 64 --pretext_bs 256 \
  --pretext_epochs 20 --alternations 60 --lr_mult 10 --matched --scratch --extra_control --tune 4 --seeds 0 1 2 3 4 \
  --device cpu --out runs/fashion_mnist_cpu "$@"
