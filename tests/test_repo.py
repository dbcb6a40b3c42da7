"""The repository is in step: the library is what `nbdev_export` makes of the notebooks, notebooks are clean, README is rendered.
The checks run on a temporary copy, so they never rewrite files that other test workers are importing."""
import shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _files(root, d):
    return {p.relative_to(root): p.read_bytes() for p in sorted((root/d).rglob('*')) if p.is_file() and '__pycache__' not in p.parts}

def _changed(cmd, d):
    "Files under `d` that `cmd` changes, run in a copy of the repository"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in ('settings.ini', 'pyproject.toml'): shutil.copy(ROOT/n, tmp/n)
        for n in ('nbs', 'bissl_fast'): shutil.copytree(ROOT/n, tmp/n, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints', 'models'))
        before = _files(tmp, d)
        subprocess.run([str(BIN/cmd)], cwd=tmp, check=True, capture_output=True)
        after = _files(tmp, d)
    return sorted(str(p) for p in set(before)|set(after) if before.get(p) != after.get(p))

def test_library_matches_notebooks():
    changed = _changed('nbdev_export', 'bissl_fast')
    assert not changed, f'run nbdev_export and commit bissl_fast/ with the notebooks: {changed}'

def test_notebooks_are_clean():
    changed = _changed('nbdev_clean', 'nbs')
    assert not changed, f'run nbdev_clean and commit the cleaned notebooks: {changed}'

def test_readme_matches_index():
    r = subprocess.run([sys.executable, 'tools/make_readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_links_exist():
    "Every relative link and image of the README (rendered from nbs/index.ipynb) names a file in the repository"
    import re
    text = (ROOT/'README.md').read_text()
    targets = {t.split('#')[0] for t in re.findall(r'\]\(([^)\s]+)\)', text) if not re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:|#', t)}
    missing = sorted(t for t in targets if not (ROOT/t).exists())
    if not (ROOT/'nbs'/'lessons').exists(): missing = [t for t in missing if not t.startswith('nbs/lessons/')]  # the course lands on its own branch
    assert targets and not missing, f'README links to missing files: {missing}'

def test_modules_have_one_job_each():
    "No module of the library over 450 lines (a sign it holds two jobs), and the CLI's lines within 120 characters"
    big = {p.name: n for p in (ROOT/'bissl_fast').glob('*.py') if p.name != '_modidx.py'
           and (n := len(p.read_text().splitlines())) > 450}
    assert not big, f'split these modules by job: {big}'
    long = [i for i,l in enumerate((ROOT/'bissl_fast'/'cli.py').read_text().splitlines(), 1) if len(l) > 120]
    assert not long, f'bissl_fast/cli.py lines over 120 characters: {long}'
