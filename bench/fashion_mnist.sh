#!/usr/bin/env bash
# The Fashion-MNIST study on a GPU: 60k unlabeled pretext images, 100 labels per class, the 10k test set, ResNet-18;
# no pretext, baseline, compute-matched baseline and BiSSL over 3 seeds. Writes runs/fashion_mnist/{results.md,
# results.csv,finetune.png,...}; rerun to resume.
# Extra options are passed on (later ones win), e.g. `bash bench/fashion_mnist.sh --seeds 0 1 2 3 4 5 6 7 8 9`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/bissl_fast compare --data fashion_mnist --arch resnet18 --pretext simclr --size 32 --labels 100 \
  --bs 64 --pretext_bs 256 --pretext_epochs 200 --pretext_lr 3e-3 \
  --alternations 500 --bissl_lr 0.03 --lower_lr 1e-3 --head_warmup 20 \
  --lam 1e-3 --damping 10 --cg_iters 5 --lower_steps 20 --upper_steps 8 --gamma 1 \
  --ft_epochs 100 --ft_lr 0.1 --freeze_epochs 1 --lr_mult 10 --matched --scratch --seeds 0 1 2 \
  --device cuda --out runs/fashion_mnist "$@"
