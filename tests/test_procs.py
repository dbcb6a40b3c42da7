"""Processes: one writer per run folder (two real `bissl_fast` processes), a stale lock taken over, and a signal to the
parent of `compare --repeats 2 --jobs 2` reaching its workers (each checkpoints; none is left behind; the rerun resumes)."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch

from cli_run import ROOT, CMD, ENV, TINY, start, run as run_cli
TINY_BISSL = ['--lower_steps', '2', '--upper_steps', '2', '--cg_iters', '2', '--head_warmup', '1']
pytestmark = pytest.mark.skipif(os.name == 'nt', reason='POSIX signals and file locks')

def bissl(*args, timeout=600): return run_cli(*args, timeout=timeout)

def wait_for(cond, p, timeout=300, what=''):
    "Poll `cond()` until it holds; fail if process `p` ends first or it takes over `timeout` s"
    t0 = time.time()
    while not cond():
        if p.poll() is not None:
            pytest.fail(f'{what}: the process ended first ({p.returncode}): {p.stderr.read()[-3000:] if p.stderr else ""}')
        if time.time()-t0 > timeout: pytest.fail(f'{what}: not after {timeout} s')
        time.sleep(0.05)

def holder(folder):
    "The pid the lock file of `folder` names, or None"
    try: return json.loads((Path(folder)/'.lock').read_text() or '{}').get('pid')
    except (OSError, ValueError): return None

def descendants(pid):
    "The pids of the processes below `pid` (children, theirs...)"
    try:
        import psutil
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except ImportError: pass
    kids = {}
    for st in Path('/proc').glob('[0-9]*/stat'):
        try: fs = st.read_text().rsplit(')', 1)[1].split()
        except OSError: continue
        kids.setdefault(int(fs[1]), []).append(int(st.parent.name))
    res,todo = [],[pid]
    while todo: res += (k := kids.get(todo.pop(), [])); todo += k
    return res

def alive(pid):
    "Whether `pid` runs (a zombie does not)"
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError: return False

def test_a_second_writer_fails_fast_naming_the_first_which_finishes(tmp_path):
    run = tmp_path/'run'
    first = start('pretrain', *TINY, '--out', run, '--epochs', 1)
    try:
        wait_for(lambda: holder(run) == first.pid, first, what='the first process locking its run folder')
        os.kill(first.pid, signal.SIGSTOP)  # it keeps its lock, and its CPU time, while the second one tries
        try: r = bissl('compare', *TINY, '--out', run, '--pretext_epochs', 1)
        finally: os.kill(first.pid, signal.SIGCONT)
        assert r.returncode != 0, r.stdout[-2000:]
        msg = f'run folder {run} is being written by process {first.pid} on {socket.gethostname()} (`'
        assert msg in r.stderr and 'bissl_fast pretrain' in r.stderr and ', since ' in r.stderr, r.stderr[-3000:]
        assert 'train_loss' not in r.stdout and not (run/'bissl_log.csv').exists()  # it stopped before any stage
        out,err = first.communicate(timeout=600)
    finally:
        if first.poll() is None: first.kill(); first.wait()
    assert first.returncode == 0, err[-3000:]
    assert (run/'pretext.json').exists() and not (run/'.lock').exists()

def test_a_stale_lock_is_taken_over(tmp_path):
    run = tmp_path/'run'; run.mkdir()
    gone = subprocess.Popen(['true']); gone.wait()  # a process id that no process has now
    rec = dict(pid=gone.pid, host=socket.gethostname(), cmd='bissl_fast pretrain', since='2026-01-01 00:00:00 +0000')
    (run/'.lock').write_text(json.dumps(rec))
    r = bissl('pretrain', *TINY, '--out', run, '--epochs', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'taking over the lock that process {gone.pid} on {socket.gethostname()} left' in r.stderr, r.stderr[-3000:]
    assert (run/'pretext.json').exists() and not (run/'.lock').exists()

def trained(run, r):
    "Whether repeat `r` of study `run` has finished its first pretext epoch: its `Checkpoint` is armed, there is work to save"
    f = run/f'repeat{r}'/'pretext_log.csv'
    try: return len(f.read_text().splitlines()) >= 2  # the header, then a row per epoch
    except OSError: return False

def compare_args(run):
    "A 2-repeat study in 2 processes, tiny; 4 pretext epochs, to send the signal within stage 1, after its first epoch"
    return ['compare', *TINY, '--out', run, '--pretext_epochs', 4, '--alternations', 2, *TINY_BISSL, '--ft_epochs', 1,
            '--probe_epochs', 0, '--short', 0, '--repeats', 2, '--jobs', 2]

def test_sigterm_to_the_compare_parent_stops_its_workers_and_the_rerun_resumes(tmp_path):
    run = tmp_path/'run'
    args = compare_args(run)
    p = start(*args)
    try:
        # not at the log's creation: a signal before the fit's `Checkpoint` is armed stops the stage with nothing to save
        wait_for(lambda: trained(run, 0) and trained(run, 1), p, what='both repeats past their first pretext epoch')
        kids = descendants(p.pid)
        assert len(kids) >= 2, kids  # the two workers (and multiprocessing's resource tracker)
        os.kill(p.pid, signal.SIGTERM)  # the parent alone, as a scheduler does
        out,err = p.communicate(timeout=300)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    assert p.returncode == 128+signal.SIGTERM, err[-3000:]
    assert 'SIGTERM received' in err and 'stopped by SIGTERM' in err and 'run the same command again to resume' in err, err[-3000:]
    t0 = time.time()
    while [k for k in kids if alive(k)] and time.time()-t0 < 30: time.sleep(0.1)
    assert not [k for k in kids if alive(k)], 'processes left behind'
    ckpts = [r for r in (0, 1) if (run/f'repeat{r}'/'pretext_ckpt.pth').exists()]
    assert ckpts and not (run/'results.md').exists() and not list(run.rglob('.lock')), list(run.rglob('*'))
    for r in (0, 1): assert (run/f'repeat{r}'/'pretext_ckpt.pth').exists() or (run/f'repeat{r}'/'pretext.json').exists()
    r2 = bissl(*args)
    assert r2.returncode == 0, r2.stderr[-3000:]
    for r in ckpts: assert 'resuming from' in (run/f'repeat{r}'/'log.txt').read_text(), r
    assert (run/'results.md').exists() and not list(run.rglob('*_ckpt*.pth')) and not list(run.rglob('.lock'))

def test_a_killed_compare_parent_leaves_no_worker_behind(tmp_path):
    "SIGKILL to the parent: the kernel sends each worker SIGTERM (Linux), and each checkpoints and ends"
    if not sys.platform.startswith('linux'): pytest.skip('PR_SET_PDEATHSIG is Linux only')
    run = tmp_path/'run'
    with open(tmp_path/'err.txt', 'w') as err:  # a file, not a pipe: nothing blocks the workers' writes once it is gone
        p = subprocess.Popen([*CMD, *map(str, compare_args(run))], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_for(lambda: trained(run, 0) and trained(run, 1), p, what='both repeats past their first pretext epoch')
            kids = descendants(p.pid)
            assert len(kids) >= 2, kids
            p.kill(); p.wait()
        finally:
            if p.poll() is None: p.kill(); p.wait()
        t0 = time.time()
        while [k for k in kids if alive(k)] and time.time()-t0 < 120: time.sleep(0.1)
    assert not [k for k in kids if alive(k)], 'processes left behind: ' + (tmp_path/'err.txt').read_text()[-3000:]
    for r in (0, 1):
        ck = run/f'repeat{r}'/'pretext_ckpt.pth'
        assert ck.exists() or (run/f'repeat{r}'/'pretext.json').exists(), r
        if ck.exists(): assert torch.load(ck, weights_only=False)['pos']['epoch'] >= 1, r  # whole, and past epoch 0
    assert holder(run) == p.pid  # its lock file stays; the next run takes it over (with a warning)
