#!/usr/bin/env bash
# The Fashion-MNIST study on a GPU, with the fair protocol: 60k unlabeled pretext images, 100 labels per class, the 10k
# test set, ResNet-18 at 32 px. Five pipelines: no pretext, the baseline, the compute-matched baseline, the baseline
# fine-tuned longer by BiSSL's upper-level steps, and BiSSL. Each pipeline's fine-tuning (lr, frozen epochs, weight decay)
# and linear-probe settings are chosen separately on a stratified 30% of the labeled *training* images (`--tune`), then
# retrained on all of them; the test split is read only by those final runs. 5 paired seeds; the table gives the
# fine-tuned, short-budget and linear-probe accuracies and BiSSL − each control with 95% t-intervals.
#
#   bash bench/fashion_mnist.sh            # short: sized to finish in under 9 minutes on one H100 (see below)
#   bash bench/fashion_mnist.sh --long     # the paper-like budget: 200 pretext epochs, 500 alternations (hours)
#
# The short budget, from the H100 runs of bench/gpu.sh (ResNet-18, 32 px: ~12 s per pretext epoch over 60k, ~4-6 s per
# alternation, ~1 s per fine-tuning epoch with its 10k-image test pass, ~1-2 s to build the loaders): stage 1 4 epochs
# (~50 s), BiSSL 6 alternations (~40 s), the matched stage 1 5 epochs (~60 s), tuning 3 candidates x 4 pipelines on 700
# images (~50 s), then 5 seeds x (5 pipelines fine-tuned 5 epochs + frozen ones, 4 short runs, 4 probes) (~280 s):
# about 8 minutes with start-up. It is a small study: what it can show is whether the protocol runs and where the
# intervals fall, not the paper's regime. Writes runs/fashion_mnist[_long]/{results.md,results.csv,finetune.png,...};
# rerun to resume. Extra options are passed on (later ones win), e.g. `--seeds 0 1 2 3 4 5 6 7 8 9` or `--data_path DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
LONG=0; ARGS=()
for a in "$@"; do if [[ $a == --long ]]; then LONG=1; else ARGS+=("$a"); fi; done
if [[ -n ${PYTHON:-} ]]; then PY=$PYTHON; else bash tools/setup.sh; PY=.venv/bin/python; fi   # PYTHON: a ready interpreter
COMMON=(--data fashion_mnist --arch resnet18 --pretext simclr --size 32 --labels 100 --bs 64 --pretext_bs 256 --pretext_lr 3e-3
        --bissl_lr 0.03 --lower_lr 1e-3 --lam 1e-3 --damping 10 --lower_steps 20 --upper_steps 8 --gamma 1
        --lr_mult 10 --matched --scratch --extra_control --seeds 0 1 2 3 4 --device cuda)
if (( LONG )); then
  exec "$PY" -m bissl_fast.cli compare "${COMMON[@]}" --pretext_epochs 200 --alternations 500 --head_warmup 20 \
    --ft_epochs 100 --tune 8 --probe_epochs 30 --short 0.1 --out runs/fashion_mnist_long ${ARGS[@]+"${ARGS[@]}"}
fi
exec "$PY" -m bissl_fast.cli compare "${COMMON[@]}" --pretext_epochs 4 --alternations 6 --head_warmup 1 \
  --ft_epochs 5 --tune 3 --probe_epochs 2 --short 0.2 --out runs/fashion_mnist ${ARGS[@]+"${ARGS[@]}"}
