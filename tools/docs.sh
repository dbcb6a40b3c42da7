#!/usr/bin/env bash
# The docs: execute the notebooks on the CPU, saving their outputs in place with a stamp of their code
# (tools/run_nbs.py, 2 at a time; each notebook's time is printed), then build the site into _docs/ (tools/build_docs.py).
#   bash tools/docs.sh                          every notebook under nbs/, then the site
#   bash tools/docs.sh nbs/02_pretext.ipynb     only these notebooks (files or folders), then the site
#   DOCS_JOBS=1 bash tools/docs.sh              one notebook at a time
#   bash tools/docs.sh --site                   the site alone, from the notebooks as saved
# Open _docs/index.html in a browser; tests/test_site.py checks every page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
# PYTHON=... uses that interpreter as it is; by default .venv, set up first (the development set only).
if [ -z "${PYTHON:-}" ]; then BISSL_LATEST=0 BISSL_OLDEST=0 bash tools/setup.sh; fi
py=${PYTHON:-.venv/bin/python}
start=$(date +%s)
rc=0
if [ "${1:-}" != "--site" ]; then "$py" tools/run_nbs.py -j "${DOCS_JOBS:-2}" "$@" || rc=$?; fi
"$py" tools/build_docs.py
echo "docs: $(( $(date +%s) - start ))s"
exit $rc
