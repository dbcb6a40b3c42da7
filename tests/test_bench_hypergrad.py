"The hypergradient benchmark runs end to end at the tiniest settings: every variant's row, HVP counts, and a converged reference solve."
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_bench_hypergrad_tiny():
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, 'bench/hypergrad.py', '--arch', 'tiny_cnn', '--size', '8', '--bs', '8', '--nu', '3', '--iters', '2',
                        '--truth-rhs', '2', '--damping', '100', '--variants', 'reference,first-order,cg,lanczos-4,recycle-3',
                        '--batches', '2', '--lower-steps', '2', '--recycle', '4'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {m.group(1): m.group(2).split(' | ') for m in re.finditer(r'^\| ([a-z0-9-]+) \| (.*) \|$', r.stdout, re.M) if m.group(1) not in ('variant', '---')}
    assert set(rows) == {'reference', 'first-order', 'cg', 'lanczos-4', 'recycle-3'}, r.stdout
    hvps = {k: int(v[4]) for k,v in rows.items()}
    assert hvps['reference'] == 3*2 and hvps['first-order'] == 0 and hvps['lanczos-4'] <= 4 and hvps['recycle-3'] <= 3, r.stdout
    for k,v in rows.items(): assert -1 <= float(v[6]) <= 1 and -1 <= float(v[7]) <= 1, (k, v)
    assert float(rows['reference'][7]) > 0.9999                     # the reference against itself
    assert 'recycle-K carries 4 Ritz pairs' in r.stdout and r.stdout.count('converged solve') == 2, r.stdout
    m = re.search(r'converged solve: MINRES on right-hand sides \[0, 2\]: \d+ HVPs to ([0-9.e+-]+), \d+ HVPs to ([0-9.e+-]+)', r.stdout)
    assert m and max(float(m.group(1)), float(m.group(2))) <= 1e-4, r.stdout

def test_bench_lowrank_transfer_tiny():
    "bench/lowrank_transfer.py: every variant's row, its HVP count, cosines in [-1, 1]; on a near-identity operator the first solve is exact"
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, 'bench/lowrank_transfer.py', '--arch', 'tiny_cnn', '--size', '8', '--bs', '8', '--damping', '100'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {m.group(1): m.group(2).split(' | ') for m in re.finditer(r'^\| ([A-Z][0-9+]+(?: fom| mr|\+R)?) \| (.*) \|$', r.stdout, re.M)}
    assert set(rows) == {'L10', 'L10+R', 'L12', 'L12+R', 'L15', 'L15+R', 'G5+7 fom', 'G5+7 mr', 'G6+6 fom', 'G6+6 mr', 'G8+4 fom', 'G8+4 mr'}, r.stdout
    assert [int(rows[k][0]) for k in ('L10', 'L15+R', 'G5+7 mr')] == [10, 23, 12], r.stdout
    for k,v in rows.items(): assert all(-1 <= float(c) <= 1 for c in v[1:]), (k, v)
    # damping 100 makes A close to I: the first right-hand side is solved, and the Richardson step helps the later ones
    assert float(rows['L10'][1]) > 0.999 and float(rows['L10+R'][2]) >= float(rows['L10'][2]), r.stdout

def test_bench_pareto_tiny(tmp_path):
    "bench/pareto.py: one configuration end to end, modifiers included; the front holds no variant another beats in time and cosine"
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, 'bench/pareto.py', '--configs', 'tiny_cnn:byol', '--batches', '2', '--truth-rhs', '1',
                        '--variants', 'first-order,lanczos-3,lanczos-3:h2', '--out', str(tmp_path), '--table', str(tmp_path/'table.md'),
                        '--extra=--size 8 --bs 8 --nu 2 --lower-steps 2 --pretrain 0'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (tmp_path/'table.md').read_text()
    rows = {m.group(1): m.group(2).split(' | ') for m in re.finditer(r'^\| ([a-z0-9:-]+) \| (.*) \|$', text, re.M) if m.group(1) not in ('variant', '---')}
    assert {'first-order', 'lanczos-3', 'lanczos-3:h2', 'lanczos-10:branch'} <= set(rows), text   # BYOL adds the one-branch rows
    for k,v in rows.items():
        assert -1 <= float(v[2]) <= 1 and len(v[3].split(' / ')) == 2, (k, v)                   # min cosine; one per stage
        assert abs(float(v[2]) - min(float(c) for c in v[3].split(' / '))) < 1e-3, (k, v)
    front = {k for k,v in rows.items() if v[4] == 'yes'}
    sec, cos = {k: float(v[0]) for k,v in rows.items()}, {k: float(v[2]) for k,v in rows.items()}
    assert front and all(not (sec[j] <= sec[k] and cos[j] > cos[k]) for k in front for j in rows), text
