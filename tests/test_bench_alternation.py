"bench/alternation.py: `--small-stem/--no-small-stem` build the networks they name; `--official` times the official trainer next to ours."
import importlib.util, os, re, subprocess, sys
from pathlib import Path
import pytest
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = ROOT/'bench'/'official'

def _bench():
    spec = importlib.util.spec_from_file_location('bench_alternation', ROOT/'bench'/'alternation.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def test_alternation_stem_flag():
    "At 32 px the library's rule picks the small stem; `--no-small-stem` gives the 7x7/2 conv + max-pool, and the label says so"
    A = _bench()
    dls = A.synthetic_dls(A.parser().parse_args('--device cpu --size 32 --pretext-bs 4 --bs 4 --upper-steps 1'.split()))
    for flags, k, name in (([], 3, 'small (CIFAR) stem'), (['--no-small-stem'], 7, 'standard stem'), (['--small-stem'], 3, 'small (CIFAR) stem')):
        a = A.parser().parse_args(['--device', 'cpu', '--size', '32', *flags])
        learn = A.make_learner(a, dls, 'resnet18', 'cg', 'fp32')
        for enc in (learn.bilevel.lower.backbone, learn.model.backbone):
            conv = next(m for m in enc.modules() if isinstance(m, nn.Conv2d))
            assert conv.kernel_size == (k, k) and A.stem(enc) == name, (flags, conv)

@pytest.mark.skipif(not OFFICIAL.is_dir(), reason='no checkout of the official code at bench/official')
def test_bench_alternation_official_tiny():
    "One alternation of the official trainer and one of ours, same network (standard stem), with a measured ratio and peak RSS"
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, 'bench/alternation.py', '--device', 'cpu', '--size', '16', '--pretext-bs', '4', '--bs', '4',
                        '--lower-steps', '1', '--upper-steps', '1', '--alternations', '1', '--solvers', 'cg', '--cg-iters', '1',
                        '--no-small-stem', '--official', str(OFFICIAL), '--profile-steps', '0'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'standard stem (--no-small-stem)' in r.stdout, r.stdout
    rows = {m.group(1): m.group(2).split(' | ') for m in re.finditer(r'^\| (official, measured in this run|bissl_fast) \| (.*) \|$', r.stdout, re.M)}
    assert set(rows) == {'official, measured in this run', 'bissl_fast'}, r.stdout
    off, ours = rows['official, measured in this run'], rows['bissl_fast']
    assert off[1] == 'layerwise CG-1, graph rebuilt per iteration' and off[3].startswith('standard stem') and ours[3] == 'standard stem', r.stdout
    for v in (off, ours):
        assert all(float(v[i]) > 0 for i in (4, 5, 6)) and 'RSS' in v[-1], v    # lower step, upper step, alternation; peak RSS
    assert float(ours[11]) == float(off[6]) and ours[12].endswith('x') and off[12] == '1.00x', r.stdout
