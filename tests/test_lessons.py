"""Lesson 3's hand-written BiSSL alternation equals `fit_bilevel`'s to the lesson's stated tolerance, natively and with
the CPU kernels pinned (`MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default`): the lesson's code cells up to and including
its check, run in a fresh process (test mode: `IN_TEST=1`, a short stage 1); the pinned run checks that torch really
used the portable kernels."""
import json, os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT/'nbs'/'lessons'/'03_bissl_end_to_end.ipynb'
CHECK = 'the hand-written alternation and fit_bilevel differ'   # the message of the lesson's assert

def cells_to_check():
    "Lesson 3's code cells, up to the one holding the check"
    codes = [''.join(c['source']) for c in json.loads(NB.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']
    n = next((i for i,s in enumerate(codes) if CHECK in s), None)
    assert n is not None, f'{NB.name} no longer holds the check of its hand-written alternation ({CHECK!r})'
    return codes[:n+1]

@pytest.mark.parametrize('pinned', [False, True], ids=['native', 'pinned-kernels'])
def test_hand_alternation_matches_fit_bilevel(pinned, tmp_path):
    env = {**os.environ, 'IN_TEST': '1', 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
    if pinned: env.update(MKL_CBWR='COMPATIBLE', ATEN_CPU_CAPABILITY='default')
    script = tmp_path/'lesson3_hand.py'
    kernels = ("\n\nimport os; print('CPU kernels:', torch.backends.cpu.get_cpu_capability().replace(' ', '_'), "
               "os.environ.get('MKL_CBWR'))")
    script.write_text('\n\n'.join(cells_to_check()) + kernels, encoding='utf-8')
    r = subprocess.run([sys.executable, str(script)], cwd=NB.parent, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    fracs = [float(f) for f in re.findall(r'hand − library \S+ \((\S+) of the move\)', r.stdout)]
    assert len(fracs) == 4 and max(fracs) <= 1e-2, r.stdout[-3000:]
    kernels = re.search(r'CPU kernels: (\S+) (\S+)', r.stdout).groups()
    portable = ('DEFAULT', 'NO_AVX')  # ATen's portable kernels, as newer and older torch name them
    if pinned: assert kernels[0] in portable and kernels[1] == 'COMPATIBLE', f'the kernels were not pinned: {kernels}'
