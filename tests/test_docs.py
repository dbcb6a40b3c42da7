"""The notebooks' saved outputs are fresh: each was executed by tools/run_nbs.py (`bash tools/docs.sh`) from its
current code, and stays under 1 MB. Editing a code cell without re-executing the notebook fails here. A notebook that
trains seeds the global generators before it builds its loaders, so that the docs build prints again the numbers its
prose quotes."""
import json, re, sys
import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from run_nbs import stale, problems, code_hash, KEY

def test_notebooks_are_fresh():
    bad = stale([ROOT/'nbs'])
    names = [str(f.relative_to(ROOT)) for f in bad]
    if bad: pytest.fail(f'{len(bad)} notebook(s) without fresh outputs:\n' + '\n'.join(f'  {n}: {"; ".join(r)}' for n,r in zip(names, bad.values()))
                     + f'\nrun `bash tools/docs.sh {" ".join(names)}` (or `bash tools/docs.sh` for all) and commit them', pytrace=False)

LOADERS = re.compile(r'\b(digits_dls|fashion_mnist_dls|BilevelDataLoaders\.from_\w+)\(')
SEED = re.compile(r'\b(set_seed|torch\.manual_seed)\(')
TRAINS = re.compile(r'\.fit\w*\(|\.fine_tune\(')

def unseeded_loaders(f):
    """The first line of notebook `f` that builds loaders before any seed is set, if `f` trains; else None. fastai's
    loaders draw their shuffling seed from Python's global generator when they are built, so a `set_seed` after that
    leaves every epoch's order, and so every printed number, to chance"""
    code = [''.join(c['source']) for c in json.loads(Path(f).read_text())['cells'] if c['cell_type'] == 'code']
    if not any(TRAINS.search(s) for s in code): return None
    lines = [l.strip() for s in code for l in s.splitlines() if not l.strip().startswith(('#', 'def ', 'test_fail'))]
    for l in lines:
        if SEED.search(l): return None
        if LOADERS.search(l): return l

def test_notebooks_seed_before_their_loaders():
    bad = {f.relative_to(ROOT): l for f in sorted((ROOT/'nbs').rglob('*.ipynb')) if (l := unseeded_loaders(f))}
    assert not bad, 'call `set_seed(0)` before these loaders are built:\n' + '\n'.join(f'  {f}: {l}' for f,l in bad.items())

def test_unseeded_loaders(tmp_path):
    "A loader built before the seed is found; one built after it, or in a notebook that trains nothing, is not"
    train = "learn.fit_one_cycle(1)"
    assert unseeded_loaders(_nb(tmp_path, f"dls = digits_dls(seed=0)\nset_seed(0)\n{train}", [])) == 'dls = digits_dls(seed=0)'
    assert unseeded_loaders(_nb(tmp_path, f"set_seed(0)\ndls = digits_dls()\n{train}", [])) is None
    assert unseeded_loaders(_nb(tmp_path, "dls = digits_dls()", [])) is None

def _nb(tmp_path, code, outputs, stamp=None, name='t.ipynb'):
    "A one-cell notebook file, optionally stamped as executed"
    nb = dict(cells=[dict(cell_type='code', source=code, metadata={}, outputs=outputs, execution_count=None, id='a1')],
              metadata={}, nbformat=4, nbformat_minor=5)
    if stamp: nb['metadata'][KEY] = dict(code_hash=code_hash(nb))
    (f := tmp_path/name).write_text(json.dumps(nb))
    return f

def test_problems(tmp_path):
    "Each way a notebook can be stale is named"
    out = [dict(output_type='stream', name='stdout', text=['2\n'])]
    assert problems(_nb(tmp_path, 'print(2)', out, stamp=True)) == []
    assert problems(_nb(tmp_path, 'print(2)', out)) == ['never executed (no stamp)']
    assert problems(_nb(tmp_path, 'x = 2', [], stamp=True)) == ['no outputs']
    f = _nb(tmp_path, 'print(2)', out, stamp=True)
    nb = json.loads(f.read_text()); nb['cells'][0]['source'] = 'print(3)'; f.write_text(json.dumps(nb))
    assert problems(f) == ['code changed since its outputs were made']
    big = [dict(output_type='stream', name='stdout', text=['x'*1_100_000])]
    assert problems(_nb(tmp_path, 'print(2)', big, stamp=True)) == ['over 1 MB']
