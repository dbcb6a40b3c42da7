"The real `bissl_fast` command for the tests that run it: its path, a quiet environment, tiny digits settings, a runner."
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent/'bissl_fast'
CMD = [str(EXE)] if EXE.exists() else [sys.executable, '-m', 'bissl_fast.cli']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
TINY = ['--data', 'digits', '--arch', 'tiny_cnn', '--size', '16', '--pretext_bs', '64']

def run(*args, timeout=300):
    "Run `bissl_fast *args` from the repository root; the finished process"
    return subprocess.run([*CMD, *map(str, args)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)

def start(*args):
    "Start `bissl_fast *args` from the repository root; the running process"
    return subprocess.Popen([*CMD, *map(str, args)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
