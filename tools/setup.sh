#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: .venv with the pinned install, and Debian's Fashion-MNIST files.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then "${PYTHON:-python3}" -m venv .venv; fi
want=$(cat settings.ini setup.py | sha1sum | cut -d' ' -f1)
if [ "$(cat .venv/.bissl_stamp 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip check
  echo "$want" > .venv/.bissl_stamp
fi
fm=/usr/share/datasets/fashion-mnist
if [ ! -f $fm/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  { $sudo apt-get install -y -q dataset-fashion-mnist || { $sudo apt-get update -q && $sudo apt-get install -y -q dataset-fashion-mnist; }; } >/dev/null 2>&1 \
    || echo "setup: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped" >&2
fi
