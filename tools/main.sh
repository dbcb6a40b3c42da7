#!/usr/bin/env bash
# The main job on the embedded digits data: no pretext (random init -> fine-tune), baseline (SimCLR -> fine-tune), a
# compute-matched baseline (longer SimCLR -> fine-tune) and BiSSL (SimCLR -> BiSSL -> fine-tune), the same fine-tuning
# (the best of seven tried for the baseline: bench/ft_protocols.py) and 3 seeds. Prints the table; writes
# runs/digits/{results.md,results.csv,finetune.png,...}. About 9 minutes on 2 CPU cores. Interrupted, it resumes;
# finished, a rerun just prints the table again.
# Extra options are passed on, e.g. `bash tools/main.sh --seeds 0 1 2 3 4`; see `.venv/bin/bissl_fast compare --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# One thread: the small convolutions here gain little from a second one (about 1.3x on an idle 2-core machine),
# and lose 10x or more when another process competes for the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/bissl_fast compare --data digits --matched --scratch --ft_lr 0.3 --freeze_epochs 5 --out runs/digits "$@"
