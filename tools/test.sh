#!/usr/bin/env bash
# The whole test suite: notebooks (as nbdev_test runs them, one pytest case each), repo sync checks and tests/, run on
# the pinned development set (.venv), then on the latest compatible set (.venv-latest; BISSL_LATEST=0 skips it).
# The repo sync checks (tests/test_repo.py) need the development nbdev and run in .venv only.
# Two single-threaded workers: on 2 cores that beats one process with two OpenMP threads on these small models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
versions() { "$1" -c 'import sys,importlib.metadata as m; print(sys.argv[1], *(f"{p}=={m.version(p)}" for p in ("torch","torchvision","fastai","fastcore","fastprogress","timm")))' "$2"; }
versions .venv/bin/python "development set:"
if [ "${BISSL_LATEST:-1}" != 1 ]; then exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile tests "$@"; fi
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile tests "$@"
versions .venv-latest/bin/python "latest compatible set:"
exec .venv-latest/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile tests --ignore tests/test_repo.py "$@"
