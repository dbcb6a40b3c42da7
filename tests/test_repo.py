"The repository is in step: the library is what `nbdev_export` makes of the notebooks, notebooks are clean."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _snapshot(*dirs):
    return {p: p.read_bytes() for d in dirs for p in sorted((ROOT/d).rglob('*')) if p.is_file() and '__pycache__' not in p.parts}

def _changed(cmd, *dirs):
    before = _snapshot(*dirs)
    subprocess.run([str(BIN/cmd)], cwd=ROOT, check=True, capture_output=True)
    after = _snapshot(*dirs)
    return sorted(str(p.relative_to(ROOT)) for p in set(before)|set(after) if before.get(p) != after.get(p))

def test_library_matches_notebooks():
    assert _changed('nbdev_export', 'bissl_fast') == [], 'run nbdev_export and commit bissl_fast/ with the notebooks'

def test_notebooks_are_clean():
    assert _changed('nbdev_clean', 'nbs') == [], 'run nbdev_clean and commit the cleaned notebooks'

def test_readme_matches_index():
    r = subprocess.run([sys.executable, 'tools/make_readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
