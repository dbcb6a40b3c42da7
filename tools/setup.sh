#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: .venv with the pinned development set (tools/pins-dev.txt), Debian's Fashion-MNIST
# files, and Debian's chromium and chromium-driver for the docs site's browser test (tests/test_site.py). With
# BISSL_MATRIX=1 (`tools/test.sh --matrix`) also the version matrix: .venv-latest with the newest releases that
# settings.ini's ranges admit (skipped with BISSL_LATEST=0), .venv-oldest with the oldest ones, settings.ini's floors
# (tools/pins-oldest.txt; skipped with BISSL_OLDEST=0).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
pipq() { "$@" 2>&1 | grep -v '^WARNING: Location' || true; }
want=$(cat settings.ini setup.py tools/pins-dev.txt tools/pins-oldest.txt | sha1sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then "$py" -m venv .venv; fi
if [ "$(cat .venv/.bissl_stamp 2>/dev/null)" != "$want" ]; then
  pipq .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  pipq .venv/bin/python -m pip install -q --disable-pip-version-check -c tools/pins-dev.txt -e ".[dev]"
  .venv/bin/python -m pip check
  echo "$want" > .venv/.bissl_stamp
fi
# The latest compatible set: first the newest fastai/fastcore/torch that install together, then bissl_fast beside them,
# which must not move them (a user's `pip install bissl_fast` next to a current fastai).
if [ "${BISSL_MATRIX:-0}" = 1 ] && [ "${BISSL_LATEST:-1}" = 1 ] && [ "$(cat .venv-latest/.bissl_stamp 2>/dev/null)" != "$want" ]; then
  if [ ! -x .venv-latest/bin/python ]; then "$py" -m venv .venv-latest; fi
  pl=".venv-latest/bin/python -m pip"
  pipq $pl install -q --disable-pip-version-check --upgrade pip
  pipq $pl install -q --disable-pip-version-check --upgrade --upgrade-strategy eager fastai fastcore torch torchvision
  before=$($pl freeze | grep -iE '^(fastai|fastcore|torch|torchvision)==' | sort)
  pipq $pl install -q --disable-pip-version-check --upgrade --upgrade-strategy eager -e ".[test]"
  after=$($pl freeze | grep -iE '^(fastai|fastcore|torch|torchvision)==' | sort)
  if [ "$before" != "$after" ]; then
    echo "setup: installing bissl_fast changed the newest fastai/fastcore/torch:" >&2; diff <(echo "$before") <(echo "$after") >&2; exit 1
  fi
  $pl check
  echo "$want" > .venv-latest/.bissl_stamp
fi
# The oldest set: settings.ini's floors, so that a user whose torch, fastai or kornia is that old is not upgraded by us.
if [ "${BISSL_MATRIX:-0}" = 1 ] && [ "${BISSL_OLDEST:-1}" = 1 ] && [ "$(cat .venv-oldest/.bissl_stamp 2>/dev/null)" != "$want" ]; then
  if [ ! -x .venv-oldest/bin/python ]; then "$py" -m venv .venv-oldest; fi
  pipq .venv-oldest/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  pipq .venv-oldest/bin/python -m pip install -q --disable-pip-version-check -c tools/pins-oldest.txt -e ".[test]"
  .venv-oldest/bin/python -m pip check
  echo "$want" > .venv-oldest/.bissl_stamp
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
deb() { command -v apt-get >/dev/null && { $sudo apt-get install -y -q "$@" || { $sudo apt-get update -q && $sudo apt-get install -y -q "$@"; }; } >/dev/null 2>&1; }
fm=/usr/share/datasets/fashion-mnist
if [ ! -f $fm/train-images-idx3-ubyte.gz ]; then
  deb dataset-fashion-mnist || echo "setup: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped" >&2
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  deb chromium chromium-driver || echo "setup: could not install chromium and chromium-driver; tests/test_site.py will fail" >&2
fi
