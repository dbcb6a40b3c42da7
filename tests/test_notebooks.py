"Execute every documentation notebook, as `nbdev_test` does, one pytest case per notebook."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)

@pytest.mark.parametrize('nb', NBS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NBS])
def test_notebook(nb):
    flags = get_config(path=ROOT).tst_flags.split('|')
    ok, secs = run_nb(nb, skip_flags=flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (traceback above)'
