#!/usr/bin/env bash
# The main job on the embedded digits data, with a protocol a reviewer accepts: the baseline (SimCLR -> fine-tune), a
# compute-matched baseline (longer SimCLR -> fine-tune), the baseline fine-tuned longer by BiSSL's upper-level steps, and
# BiSSL (SimCLR -> BiSSL -> fine-tune). The whole study is repeated 4 times (`--repeats 4`): repeat r reruns every stage
# with seed r (SimCLR, the compute-matched SimCLR, BiSSL, the tuning split and its candidates, the fine-tuning), so the
# 95% t-intervals of BiSSL − each control, paired by repeat, include every source of randomness, run-to-run variation
# (and so another CPU's rounding) included. In each repeat, each pipeline's fine-tuning lr, frozen epochs and weight decay
# are chosen separately among 4 candidates on a stratified 30% of the labeled *training* images (`--tune 4`), then
# retrained on all of them; only then is the test split read. The table gives the fine-tuned, short-budget (3 + 1 frozen
# epochs) and linear-probe (5 epochs) accuracies. The repeats run in parallel processes, one per core (`--jobs`).
# To stay within 10 minutes of an idle 2-core machine, stage 1 runs 30 epochs and BiSSL 25 alternations (the CLI's
# defaults are 100 and 60); the no-pretext row is left out (add it with `bash tools/main.sh --scratch`).
# Writes runs/digits/{results.md,results.csv,finetune.png,repeat0/,...}. Interrupted, it resumes inside the repeat it was in;
# finished, a rerun just prints the table again. While it runs, the terminal shows a line per finished step of any repeat
# (a control's stage, a pipeline's tuning, a pipeline's fine-tunings) and per finished repeat, each with the time so far
# and an estimate of the time left, then the table; each repeat's progress bars go to its log.txt.
# Extra options are passed on, e.g. `bash tools/main.sh --repeats 6`; see `.venv/bin/bissl_fast compare --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# One thread: the small convolutions here gain little from a second one (about 1.3x on an idle 2-core machine),
# and lose 10x or more when another process competes for the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/bissl_fast compare --data digits --matched --extra_control --tune 4 --probe_epochs 5 --repeats 4 \
  --jobs "${BISSL_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}" --pretext_epochs 30 --alternations 25 --out runs/digits "$@"
