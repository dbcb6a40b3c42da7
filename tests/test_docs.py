"""The notebooks' saved outputs are fresh: each was executed by tools/run_nbs.py (`bash tools/docs.sh`) from its
current code, and stays under 1 MB. Editing a code cell without re-executing the notebook fails here."""
import json, sys
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
