#!/usr/bin/env bash
# The main job on the embedded digits data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
.venv/bin/python - <<'PY'
from bissl_fast.datasets import digits_dls
dls = digits_dls(n_labeled_per_class=20, device='cpu')
v1, v2 = dls.pretext_batch(); x, y = dls.one_batch()
print(f'digits: {len(dls.pretext.dataset)} unlabeled, {len(dls.train_ds)} labeled, {len(dls.valid_ds)} valid; '
      f'pretext batch {tuple(v1.shape)} x2, downstream batch {tuple(x.shape)}')
PY
