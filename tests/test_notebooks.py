"""Execute every documentation notebook, as `nbdev_test` does, one pytest case per notebook.
The development set runs them with nbdev 2's `test_nb`. nbdev 2 needs fastcore < 2, so on the latest compatible set
(fastcore 2, nbdev 3, which reads pyproject.toml) `_run_nb` does the same with execnb: cells flagged with settings.ini's `tst_flags` or
`#| eval: false` are skipped, as are notebooks whose front matter says `skip_exec: true`."""
import os, sys, time
from configparser import ConfigParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from run_nbs import skip_exec, directives as _directives  # front matter and cell directives, read as the docs executor reads them

NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)

def _run_nb(fn, skip_flags, basepath):
    "`nbdev.test.test_nb` on execnb alone: run the cells not flagged with `skip_flags`; (ok, seconds)"
    try: from execnb.nbio import read_nb
    except ImportError: from fastcore.nbio import read_nb  # execnb 0.3 moved it to fastcore
    from execnb.shell import CaptureShell
    nb = read_nb(fn)
    if skip_exec(nb): return True, 0
    def _no_eval(cell):
        if cell.cell_type != 'code' or 'nbdev_export'+'(' in cell.source: return True
        d = _directives(cell.source)
        return d.get('eval:', [''])[0].lower() == 'false' or bool(set(skip_flags) & d.keys())
    sys.path.insert(0, str(basepath)); os.environ['IN_TEST'] = '1'
    start,k,cwd = time.time(),CaptureShell(fn),os.getcwd()
    os.chdir(fn.parent)
    try:
        k.run_all(nb, exc_stop=True, preproc=_no_eval)
        return True, time.time()-start
    except Exception:
        sys.stderr.write(k.prettytb(fname=fn)+'\n')
        return False, time.time()-start
    finally: os.chdir(cwd)

try:
    import nbdev
    from nbdev.test import test_nb as run_nb
    if not nbdev.__version__.startswith('2.'): run_nb = None  # nbdev 3 wants pyproject.toml, not settings.ini
except Exception: run_nb = None  # nbdev 2 does not import beside fastcore 2

@pytest.mark.parametrize('nb', NBS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NBS])
def test_notebook(nb):
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    flags = cfg['DEFAULT']['tst_flags'].split('|')
    ok,secs = (run_nb or _run_nb)(nb, skip_flags=flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (traceback above)'

def test_fallback_runner(tmp_path):
    "The execnb runner skips flagged cells and fails on an error in any other cell"
    try: from execnb.nbio import dict2nb, write_nb
    except ImportError: from fastcore.nbio import dict2nb, write_nb
    def nb(*srcs): return dict2nb({'cells': [dict(cell_type='code', source=s, metadata={}, outputs=[], execution_count=None) for s in srcs],
                                   'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5})
    f = tmp_path/'t.ipynb'
    write_nb(nb('x = 1', '#| slow\nraise ValueError', '#| eval: false\nraise ValueError', 'assert x == 1'), f)
    assert _run_nb(f, ['slow'], ROOT)[0]
    write_nb(nb('x = 1', 'assert x == 2'), f)
    assert not _run_nb(f, ['slow'], ROOT)[0]
