"""Flat memory in long CPU runs (#29): with `set_mmap_threshold` (what `bissl_fast`'s `main` calls), 300 stage-1 steps of
VICReg and of Barlow Twins keep their resident set flat. Without it glibc's sliding mmap threshold lets the
expanders' 2048×2048 temporaries (16 MB each) fragment the heap, and RSS grows by MBs per step. Each run is a fresh
process (bench/memory.py), so that other tests' allocations do not shape its heap."""
import importlib.util, json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
ENV.pop('MALLOC_MMAP_THRESHOLD_', None)
# after step 50 (warm-up done): the default heap grows by 3 MB/step here, > 600 MB over steps 50-300 (bench/memory.py)
MAX_GROWTH_MB = 64

def _bench():
    spec = importlib.util.spec_from_file_location('bench_memory', ROOT/'bench'/'memory.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='RSS from /proc; the fix is for glibc')
@pytest.mark.parametrize('pretext', ['vicreg', 'barlow_twins'])
def test_stage1_rss_flat(pretext):
    "300 steps of stage 1 on the CPU (default 2048-wide heads, 16 images per view): RSS after step 50 rises < 64 MB"
    B = _bench()
    mb = B.run_fresh(pretext, 300, 'flat', pretext_bs=16, timeout=600)['rss_mb']
    assert len(mb) == 300, len(mb)
    assert B.growth(mb) < MAX_GROWTH_MB, (f'{pretext}: RSS rose {B.growth(mb):.0f} MB after step 50; '
                                          f'every 25th step: {mb[::25]}')

def _py(code, **env):
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

CHECK = """import json, os, subprocess, sys
from bissl_fast.pretext import set_mmap_threshold
first = set_mmap_threshold()
child = subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get("MALLOC_MMAP_THRESHOLD_"))'],
                       capture_output=True, text=True).stdout.strip()
print(json.dumps(dict(first=first, again=set_mmap_threshold(), env=os.environ.get('MALLOC_MMAP_THRESHOLD_'), child=child)))"""

@pytest.mark.skipif(not os.confstr_names.get('CS_GNU_LIBC_VERSION') or 'glibc' not in (os.confstr('CS_GNU_LIBC_VERSION') or ''),
                    reason='glibc only')
def test_set_mmap_threshold_process_and_children():
    "It sets the threshold here and, by the environment, in child processes (`compare --jobs`); a user's own value stands"
    assert _py(CHECK) == dict(first=True, again=False, env='1048576', child='1048576')
    assert _py(CHECK, MALLOC_MMAP_THRESHOLD_='262144') == dict(first=False, again=False, env='262144', child='262144')
