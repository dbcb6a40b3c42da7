"`bash bench/gpu.sh --smoke OUT`: the GPU script, run on the CPU at tiny sizes, so that it cannot rot between GPU runs."
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = {'summary.md', 'env.txt', 'log.txt', 'tests.txt', 'hypergrad.md', 'alternation.md', 'pretext.md', 'study.md'}

def test_gpu_script_smoke(tmp_path):
    out = tmp_path/'out'
    env = {**os.environ, 'PYTHON': sys.executable, 'OMP_NUM_THREADS': '1'}
    env.pop('BISSL_TEST_DEVICE', None)
    r = subprocess.run(['bash', 'bench/gpu.sh', '--smoke', str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    log = (out/'log.txt').read_text() if (out/'log.txt').exists() else ''
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # what the device machine hands back: at most 8 plain files, none over 16 MiB, plain names
    files = {p.name for p in out.iterdir()}
    assert files == FILES, files
    for p in out.iterdir(): assert p.is_file() and p.stat().st_size < 16*2**20 and re.fullmatch(r'[A-Za-z0-9._-]+', p.name)
    summary = (out/'summary.md').read_text()
    for part in ('env', 'tests', 'hypergrad-r50', 'hypergrad-r18-simclr', 'hypergrad-r18-byol', 'alternation', 'pretext', 'study'):
        assert re.search(rf'^\| {part} \| ok \| \d+ \| \d+ \|$', summary, re.M), f'{part} not ok:\n{summary}\n{log}'
    tests = (out/'tests.txt').read_text()
    assert re.search(r'\d+ passed', tests) and 'failed' not in tests, tests[-2000:]
    hg = (out/'hypergrad.md').read_text()
    assert hg.count('| reference | ') == 3 and hg.count('| lanczos-4 | ') == 3 and 'simclr' in hg and 'byol' in hg, hg
    assert '| tiny_cnn | lanczos |' in (out/'alternation.md').read_text() and '| tiny_cnn | cg |' in (out/'alternation.md').read_text()
    assert re.search(r'\| simclr \| resnet18 \| bf16 \| [\d.]+ \| \d+ \|', (out/'pretext.md').read_text())
    assert '| BiSSL: pretext → BiSSL → fine-tune |' in (out/'study.md').read_text()
    for table in ('## hypergrad', '## alternation', '## pretext', '## study', 'Measured by the tests', 'save -> resume on cpu'):
        assert table in summary, table
    assert 'python' in (out/'env.txt').read_text()
    assert not list(ROOT.glob('runs/*study*')), 'the smoke run must write only under OUT and its scratch folder'

def test_gpu_script_usage():
    r = subprocess.run(['bash', 'bench/gpu.sh'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and 'usage' in r.stderr
    r = subprocess.run(['bash', 'bench/gpu.sh', '--bogus', 'x'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and '--bogus' in r.stderr
