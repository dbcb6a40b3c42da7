#!/usr/bin/env bash
# The main job on the embedded digits data, with a protocol a reviewer accepts: the baseline (SimCLR -> fine-tune), a
# compute-matched baseline (longer SimCLR -> fine-tune), the baseline fine-tuned longer by BiSSL's upper-level steps, and
# BiSSL (SimCLR -> BiSSL -> fine-tune). Each pipeline's fine-tuning lr, frozen epochs and weight decay are chosen
# separately among 4 candidates on a stratified 30% of the labeled *training* images (`--tune 4`), then retrained on all
# of them; only then is the test split read. 5 paired seeds; the table gives the fine-tuned, short-budget (3 + 1 frozen
# epochs) and linear-probe (5 epochs) accuracies, and BiSSL − each control with 95% t-intervals. The no-pretext row
# (`--scratch`) is left out to stay within 10 minutes of one idle CPU core; add it with `bash tools/main.sh --scratch`.
# Writes runs/digits/{results.md,results.csv,finetune.png,tune/,...}. Interrupted, it resumes; finished, a rerun just
# prints the table again.
# Extra options are passed on, e.g. `bash tools/main.sh --seeds 0 1 2`; see `.venv/bin/bissl_fast compare --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# One thread: the small convolutions here gain little from a second one (about 1.3x on an idle 2-core machine),
# and lose 10x or more when another process competes for the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/bissl_fast compare --data digits --matched --extra_control --tune 4 --probe_epochs 5 --seeds 0 1 2 3 4 \
  --out runs/digits "$@"
