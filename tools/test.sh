#!/usr/bin/env bash
# The whole test suite: notebooks (as nbdev_test runs them, one pytest case each), repo sync checks and tests/.
# Two single-threaded workers: on 2 cores that beats one process with two OpenMP threads on these small models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile tests "$@"
