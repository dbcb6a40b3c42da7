#!/usr/bin/env bash
# The whole test suite: notebooks (nbdev_test, one pytest case each), repo sync checks and tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec .venv/bin/python -m pytest tests "$@"
