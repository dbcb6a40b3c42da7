"""The `bissl_fast` command from a shell: help, each stage on the embedded digits at tiny settings, and `compare`
resuming. What ends before any work (help, bad options) runs through the command's `main` in this process, but for one
case each in a new process; the stages run as new processes, over the session's one stage-1 run (`shared_cli`)."""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest

from cli_run import ROOT, CMD, ENV, TINY, run, run_here
TINY_BISSL = ['--lower_steps', '2', '--upper_steps', '2', '--cg_iters', '2', '--head_warmup', '1']

def bissl(*args, timeout=300, check=True, here=False):
    r = run_here(*args) if here else run(*args, timeout=timeout)
    if check: assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r

def test_help_lists_the_stages():
    r = bissl('--help')
    for s in ('pretrain', 'bilevel', 'finetune', 'compare'): assert f'\n  {s} ' in r.stdout, r.stdout
    r = bissl('compare', '--help', here=True)
    for o in ('--data', '--out', '--arch', '--seeds', '--device', '--alternations', '(default: '): assert o in r.stdout, o
    r = subprocess.run([sys.executable, '-m', 'bissl_fast.cli', 'bilevel', '--help'], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0 and 'usage: bissl_fast bilevel' in r.stdout, r.stdout + r.stderr

def test_bad_options_fail_clearly(tmp_path):
    r = bissl('pretrain', '--data', tmp_path/'nope', check=False)
    assert r.returncode == 2 and 'is not' in r.stderr, r.stderr
    r = bissl('bilevel', *TINY, '--out', tmp_path, check=False, here=True)
    assert r.returncode == 2 and 'bissl_fast pretrain' in r.stderr, r.stderr
    for opts,msg in ((('--repeats', 1), 'at least 2 repeats'), (('--repeats', 2, '--seeds', 0, 1), '--seeds and --repeats'),
                     (('--repeats', 2, '--tune_seed', 3), '--tune_seed and --repeats'), (('--repeats', 2, '--jobs', 0), '--jobs')):
        r = bissl('compare', *TINY, '--out', tmp_path, *opts, check=False, here=True)
        assert r.returncode == 2 and msg in r.stderr and not (tmp_path/'repeat0').exists(), (opts, r.stderr)

def test_stages_one_by_one(tmp_path, shared_cli):
    out = ['--out', tmp_path]
    pre,r = shared_cli('pretrain', *TINY, '--epochs', 1)  # run once a session, copied here
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    shutil.copytree(pre, tmp_path, dirs_exist_ok=True)
    assert 'k-NN accuracy' in r.stdout and 'epoch' in r.stdout  # the progress table
    for f in ('pretext.pth', 'pretext_model.pth', 'pretext_log.csv', 'pretext.json'): assert (tmp_path/f).exists(), f
    bissl('bilevel', *TINY, *out, '--alternations', 2, *TINY_BISSL)
    for f in ('bissl.pth', 'bissl_log.csv', 'bissl.json'): assert (tmp_path/f).exists(), f
    assert json.loads((tmp_path/'bissl.json').read_text())['alternations_done'] == 2
    r = bissl('finetune', *TINY, *out, '--backbone', 'bissl', '--epochs', 1, '--seeds', 0, 1)
    assert 'accuracy' in r.stdout
    for s in (0, 1):
        res = json.loads((tmp_path/'finetune'/f'bissl_seed{s}.json').read_text())
        assert 0 <= res['acc'] <= 1 and len(res['history']) == 2
    # `compare` with the same settings reuses these stages and seeds
    r = bissl('compare', *TINY, *out, '--pretext_epochs', 1, '--alternations', 2, *TINY_BISSL, '--ft_epochs', 1, '--seeds', 0, 1)
    assert 'pretext_ckpt' not in ''.join(os.listdir(tmp_path)) and (tmp_path/'finetune'/'baseline_seed1.json').exists()
    assert '| BiSSL: pretext → BiSSL → fine-tune |' in r.stdout, r.stdout

def test_compare_resumes_after_a_kill(tmp_path):
    args = ['compare', *TINY, '--out', tmp_path, '--pretext_epochs', 2, '--alternations', 2, *TINY_BISSL, '--ft_epochs', 1,
            '--seeds', 0, 1]
    p = subprocess.Popen([*CMD, *map(str, args)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not (tmp_path/'finetune'/'baseline_seed0.json').exists() and p.poll() is None and time.time()-t0 < 240: time.sleep(0.2)
    finally: p.kill(); p.wait()
    assert (tmp_path/'pretext.json').exists() and not (tmp_path/'results.md').exists()
    (tmp_path/f'.results.md.{p.pid}.k1ll.tmp').write_text('half')  # as a write cut off by the kill leaves it
    pre = (tmp_path/'pretext.json').stat().st_mtime
    r = bissl(*args)
    assert (tmp_path/'pretext.json').stat().st_mtime == pre, 'the finished pretext stage must not run again'
    assert '| baseline: pretext → fine-tune |' in r.stdout and '| BiSSL: pretext → BiSSL → fine-tune |' in r.stdout, r.stdout
    for f in ('results.md', 'results.csv', 'finetune.png', 'finetune_history.csv', 'bissl.pth'): assert (tmp_path/f).exists(), f
    assert not [f for f in tmp_path.rglob('*') if f.name.endswith('.tmp')]
    # a third run reads everything back: no training, the same table
    r2 = bissl(*args)
    assert 'train_loss' not in r2.stdout and r2.stdout.strip().endswith(r.stdout.strip().splitlines()[-1])

def test_bilevel_sigterm_then_rerun_ends_with_the_uninterrupted_weights(tmp_path, shared_cli):
    import signal, torch
    a,b = tmp_path/'a',tmp_path/'b'
    pre,r = shared_cli('pretrain', *TINY, '--epochs', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    shutil.copytree(pre, a); shutil.copytree(pre, b)
    args = ['bilevel', *TINY, '--alternations', 8, *TINY_BISSL, '--ckpt_every', 1]  # 4 alternations an epoch
    bissl(*args, '--out', a)
    p = subprocess.Popen([*CMD, *map(str, [*args, '--out', b])], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (b/'bissl_ckpt.pth').exists() and p.poll() is None and time.time()-t0 < 240: time.sleep(0.05)
        p.send_signal(signal.SIGTERM)  # during the 2nd alternation: the checkpoint above is the 1st's
        out,err = p.communicate(timeout=240)
    finally:
        if p.poll() is None: p.kill(); p.wait()
    assert p.returncode == 128+signal.SIGTERM, out[-2000:] + err[-3000:]
    assert 'stopped by SIGTERM' in err and 'run the same command again to resume' in err, err[-2000:]
    assert not (b/'bissl.json').exists() and not (b/'bissl.pth').exists()
    done = torch.load(b/'bissl_ckpt.pth', weights_only=False)['learner']['cbs']['bilevel']['n_alt']
    assert 0 < done < 8, done
    r = bissl(*args, '--out', b)
    assert 'resuming from' in r.stdout, r.stdout[-2000:]
    wa,wb = torch.load(a/'bissl.pth'),torch.load(b/'bissl.pth')
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), 'the resumed run must end with the same weights'
    assert json.loads((b/'bissl.json').read_text())['alternations_done'] == 8
    assert not (b/'bissl_ckpt.pth').exists()
