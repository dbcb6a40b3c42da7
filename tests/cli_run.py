"""The real `bissl_fast` command for the tests that run it: its path, a quiet environment, tiny digits settings, a
runner in a new process, and one in the test's own process for what ends before any work."""
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

def run_here(*args):
    """`bissl_fast *args` in this process, through the command's own `main`: for what stops before any work (help, bad
    options), which a new process would spend seconds importing torch and fastai for; a `CompletedProcess`"""
    import io
    from contextlib import redirect_stdout, redirect_stderr
    from bissl_fast.cli import main
    argv,env,cwd = [*map(str, args)],dict(os.environ),os.getcwd()
    # `main` lowers glibc's mmap threshold for the rest of a process: already "set" here, it leaves the test's alone
    os.environ.setdefault('MALLOC_MMAP_THRESHOLD_', str(2**20))
    out,err = io.StringIO(),io.StringIO()
    try:
        os.chdir(ROOT)
        with redirect_stdout(out), redirect_stderr(err): rc = main(argv)
    finally:
        os.chdir(cwd); os.environ.clear(); os.environ.update(env)
    return subprocess.CompletedProcess([*CMD, *argv], rc, out.getvalue(), err.getvalue())
