"The hypergradient benchmark runs end to end at the tiniest settings and ours agrees with the reference-style solve."
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_bench_hypergrad_tiny():
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, 'bench/hypergrad.py', '--size', '16', '--bs', '4', '--reps', '1', '--nu', '2', '--iters', '2'],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '| reference (graph per CG iteration) |' in r.stdout, r.stdout
    m = re.search(r'cosine\(ours, reference\) = ([0-9.]+)', r.stdout)
    assert m and float(m.group(1)) >= 0.999, r.stdout
