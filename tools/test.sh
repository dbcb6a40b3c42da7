#!/usr/bin/env bash
# The test suite: notebooks (as nbdev_test runs them, one pytest case each), repo sync checks and tests/.
# `bash tools/test.sh` (one environment, .venv):
#  1. the pinned development set, natively: everything but the slowest multi-process tests (SLOW below);
#  2. the development set under another CPU code path (MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default, 2 processes
#     with 1 thread), the numeric notebooks and tests only (NUMERIC below): MKL's reproducibility branches and ATen's
#     kernels as other CPUs take them (2 processes: 62 s against 110 s for 1 process with 2 threads on 2 cores).
# `bash tools/test.sh --matrix` (what CI runs) adds, after those:
#  (1 then includes SLOW)
#  3. the numeric tests under MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2, 1 process with 2 threads (OpenMP's split
#     reductions: the one part that runs the numeric tests multi-threaded);
#  4. the latest compatible set (.venv-latest; BISSL_LATEST=0 skips it): everything but the repo sync checks;
#  5. the oldest set, settings.ini's floors (.venv-oldest; BISSL_OLDEST=0 skips it): all but the slowest tests.
# The repo sync checks (tests/test_repo.py) need the development nbdev, and the docs site's browser test (tests/test_site.py)
# needs selenium and Debian's chromium: both run in .venv only, as does tests/test_wheel.py (it installs into a fresh environment over .venv's packages). tests/test_docs.py (fresh notebook outputs) runs everywhere.
# Two single-threaded workers: on 2 cores that beats one process with two OpenMP threads on these small models. They take
# the tests one at a time, longest first (`--dist loadgroup`; tests/conftest.py keeps together the tests of a file that
# share a module fixture, and orders by the last run's durations), so that neither idles while the other works.
# BISSL_VARIANT="MKL_CBWR=AVX512 ATEN_CPU_CAPABILITY=avx2" bash tools/test.sh runs the whole of part 1 under that variant.
set -euo pipefail
cd "$(dirname "$0")/.."
matrix=0; if [ "${1:-}" = --matrix ]; then matrix=1; shift; fi
BISSL_MATRIX=$matrix bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
versions() { "$1" -c 'import sys,importlib.metadata as m; print(sys.argv[1], *(f"{p}=={m.version(p)}" for p in ("torch","torchvision","fastai","fastcore","fastprogress","kornia")))' "$2"; }
suite() { local py=$1; shift; "$py" -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup "$@"; }
nb() { for n in "$@"; do echo "tests/test_notebooks.py::test_notebook[$n.ipynb]"; done; }
mapfile -t NUMERIC < <(nb 02_pretext 02a_backbones 02b_methods 03_krylov 03_hypergrad 03b_bilevel 04_learner 08_distributed 09_tasks)
NUMERIC+=(tests/test_pretexts.py tests/test_bench_hypergrad.py tests/test_data_properties.py)
versions .venv/bin/python "development set:"
if [ -n "${BISSL_VARIANT:-}" ]; then echo "CPU code path: ${BISSL_VARIANT}"; exec env ${BISSL_VARIANT} .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup tests "$@"; fi
last() { [ "${BISSL_LATEST:-1}" != 1 ] && [ "${BISSL_OLDEST:-1}" != 1 ]; }
# The slowest multi-process tests run in the matrix only, once. Two test the operating system's side, not the versions
# (two writers on one folder, SIGTERM to compare's parent; 300-step memory runs: about 5 minutes each on 2 cores). The
# third, `bench/gpu.sh --smoke` (tests/test_gpu_script.py), starts eight processes (about 85 s of the 2 cores) to keep
# the GPU machine's script from rotting; part 1 tests the bench scripts, the CLI and the study it calls on their own.
SLOW=(--ignore tests/test_procs.py --ignore tests/test_memory.py --deselect tests/test_gpu_script.py::test_gpu_script_smoke)
if [ $matrix = 1 ]; then suite .venv/bin/python tests "$@"; else suite .venv/bin/python tests "${SLOW[@]}" "$@"; fi
echo "development set, MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default, 2 processes with 1 thread: the numeric tests"
if [ $matrix != 1 ]; then exec env MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default \
  .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup "${NUMERIC[@]}" "$@"; fi
MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default suite .venv/bin/python "${NUMERIC[@]}" "$@"
echo "development set, MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2, 1 process with 2 threads: the numeric tests"
if last; then exec env MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 \
  .venv/bin/python -m pytest -n 1 --dist loadgroup "${NUMERIC[@]}" "$@"; fi
MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 TEST_WORKERS=1 suite .venv/bin/python "${NUMERIC[@]}" "$@"
if [ "${BISSL_LATEST:-1}" = 1 ]; then
  versions .venv-latest/bin/python "latest compatible set:"
  if [ "${BISSL_OLDEST:-1}" != 1 ]; then exec .venv-latest/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup tests --ignore tests/test_repo.py --ignore tests/test_site.py --ignore tests/test_wheel.py "${SLOW[@]}" "$@"; fi
  suite .venv-latest/bin/python tests --ignore tests/test_repo.py --ignore tests/test_site.py --ignore tests/test_wheel.py "${SLOW[@]}" "$@"
fi
versions .venv-oldest/bin/python "oldest set (settings.ini's floors):"
exec .venv-oldest/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup tests --ignore tests/test_repo.py --ignore tests/test_site.py --ignore tests/test_wheel.py "${SLOW[@]}" \
  --ignore tests/test_mission.py --ignore tests/test_gpu_script.py "$@"
