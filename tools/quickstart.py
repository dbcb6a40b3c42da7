"""Run the home page's quick start exactly as written: the code cell of `nbs/index.ipynb` marked `#| quickstart cpu`.
`python tools/quickstart.py` is the 5-minute run the home page times; `--fast` runs the same code with 1 pretext epoch,
2 alternations and 1 fine-tuning epoch (`tests/test_quickstart.py` does that)."""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def quickstart_code(which='cpu', nb=ROOT/'nbs'/'index.ipynb'):
    "The source of the index notebook's code cell marked `#| quickstart {which}`, without its `#|` lines"
    for c in json.loads(Path(nb).read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code' and re.search(rf'^#\|\s*quickstart\s+{which}\s*$', src, re.M):
            return '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith('#|')) + '\n'
    raise LookupError(f'{nb} has no code cell marked `#| quickstart {which}`')

# (pattern, replacement): the three lengths of the quick start, cut to the least that still trains every stage
SHORT = ((r'fit_one_cycle\(\d+', 'fit_one_cycle(1'), (r'alternations=\d+', 'alternations=2'), (r'fine_tune\(\d+', 'fine_tune(1'))

def shorten(code, subs=SHORT):
    "`code` with each pattern of `subs` replaced; each must occur exactly once, so a changed quick start fails loudly"
    for pat,rep in subs:
        code,n = re.subn(pat, rep, code)
        if n != 1: raise ValueError(f'the quick start should hold {pat!r} exactly once, found it {n} times')
    return code

def run(code, ns=None):
    "Execute `code` as a script would; returns its namespace"
    ns = {'__name__': '__main__'} if ns is None else ns
    exec(compile(code, 'quickstart', 'exec'), ns)
    return ns

if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))  # run from a clone without installing
    code = quickstart_code()
    run(shorten(code) if '--fast' in sys.argv else code)
