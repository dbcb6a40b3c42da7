"""Distributed BiSSL on the CPU: 2 gloo processes spawned here (the rank environment `torchrun` would set, a free port),
compared with 1 process on the whole batches. The worker is tests/dist_worker.py."""
import os, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
import dist_worker

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def spawn(out, *scenarios, world=2, timeout=240):
    "Start `world` worker processes on `scenarios`; returns their `Popen`s"
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), WORLD_SIZE=str(world),
               OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT), PYTHONWARNINGS='ignore')
    return [subprocess.Popen([sys.executable, str(ROOT/'tests'/'dist_worker.py'), str(out), *scenarios],
                             env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for r in range(world)]

def finish(ps, timeout):
    "Wait for all processes (at most `timeout` s in all); returns [(returncode, output)]"
    t0,res = time.time(),[]
    for p in ps:
        try: out,_ = p.communicate(timeout=max(1, timeout-(time.time()-t0)))
        except subprocess.TimeoutExpired:
            for q in ps: q.kill()
            pytest.fail(f'a rank hung for more than {timeout}s')
        res.append((p.returncode, out))
    return res

PRETEXTS = ('simclr', 'byol', 'vicreg', 'barlow_twins', 'moco')
GATHERED = ('vicreg', 'barlow_twins', 'moco')   # losses that gather embeddings besides SimCLR's
SCENARIOS = ('valid', 'resume', *[f'{k}-{p}' for p in PRETEXTS for k in ('bissl', 'stage1')], 'bissl-simclr-gatherlayer',
             'bissl-byol-noreduce', *[f'bissl-{p}-nogather' for p in GATHERED])

@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    "The final parameters of every scenario, run once as 2 processes that each load half of every batch"
    out = tmp_path_factory.mktemp('dist')/'two.pt'
    res = finish(spawn(out, *SCENARIOS), timeout=300)
    for r,(rc,log) in enumerate(res): assert rc == 0, f'rank {r} failed:\n{log[-3000:]}'
    return torch.load(out)

_one = {}
def one_rank(scenario):
    "The same scenario in this process (no process group), on the whole batches"
    if scenario not in _one: _one[scenario] = dist_worker.run(scenario)
    return _one[scenario]

def rel_err(a, b): return ((a-b).norm()/b.norm()).item()

@pytest.mark.parametrize('scenario', [f'{k}-{p}' for p in PRETEXTS for k in ('bissl', 'stage1')])
def test_two_ranks_match_one(two_ranks, scenario):
    "2 ranks end with the parameters of 1 process on the whole batches (θ_P, θ_D, heads; stage 1: backbone, head)"
    one,two = one_rank(scenario),two_ranks[scenario]
    for k in one: assert rel_err(two[k], one[k]) <= 1e-5, f'{scenario} {k}: relative error {rel_err(two[k], one[k]):.2e}'

@pytest.mark.parametrize('scenario,ref', [('bissl-simclr-gatherlayer', 'bissl-simclr'), ('bissl-byol-noreduce', 'bissl-byol')])
def test_equality_test_can_fail(two_ranks, scenario, ref):
    "A GatherLayer-style gather (exact gradients, wrong HVPs), or HVPs left per-rank, break the equality on θ_D"
    assert rel_err(two_ranks[scenario]['theta_D'], one_rank(ref)['theta_D']) > 1e-3

@pytest.mark.parametrize('pretext', GATHERED)
def test_pretext_needs_its_gather(two_ranks, pretext):
    "VICReg, Barlow Twins or MoCo with each rank's loss on its own slice (no gather) ends elsewhere than 1 process"
    one,two = one_rank(f'bissl-{pretext}'),two_ranks[f'bissl-{pretext}-nogather']
    assert max(rel_err(two[k], one[k]) for k in one) > 1e-3

def test_parameters_moved(two_ranks):
    "The runs train: the compared parameters are far from where they started, so equality is not trivial"
    for s in ('bissl-simclr', 'bissl-byol'):
        d = dist_worker.run(s, fit=False)
        for k in ('theta_P', 'theta_D', 'phi_D'): assert rel_err(two_ranks[s][k], d[k]) > 1e-3, (s, k)

def test_resume_under_ddp(two_ranks):
    "2 ranks: a run stopped after its first epoch, loaded by a new learner and finished, ends where the uninterrupted run does"
    r = two_ranks['resume']
    assert r['n_alt'] == 4
    for k,v in r['straight'].items(): assert rel_err(r['resumed'][k], v) <= 1e-6, k

def test_gathered_predictions(two_ranks):
    "`get_preds` on 2 ranks gathers all 13 valid items (1 padding item dropped), the same as 1 process"
    one,two = dist_worker.run_valid(),two_ranks['valid']
    for k in ('preds', 'targs'): assert two[k].shape == (13,) and torch.equal(two[k], one[k]), k

def test_cli_under_torchrun(tmp_path):
    "`torchrun --nproc_per_node 2 -m bissl_fast.cli compare ...` on the CPU: every stage runs, rank 0 writes the run folder"
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT), MPLBACKEND='Agg', PYTHONWARNINGS='ignore')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', str(free_port()),
           '-m', 'bissl_fast.cli', 'compare', '--data', 'digits', '--arch', 'tiny_cnn', '--size', '16', '--pretext_bs', '64',
           '--out', str(tmp_path), '--pretext_epochs', '1', '--alternations', '2', '--lower_steps', '2', '--upper_steps', '2',
           '--cg_iters', '2', '--head_warmup', '1', '--ft_epochs', '1', '--seeds', '0', '--device', 'cpu']
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count('| BiSSL: pretext → BiSSL → fine-tune |') == 1, r.stdout[-3000:]  # printed by rank 0 only
    for f in ('pretext.pth', 'bissl.pth', 'results.md', 'pretext_log.csv', 'bissl_log.csv', 'finetune/bissl_seed0.json'):
        assert (tmp_path/f).exists(), f
    assert not [f for f in tmp_path.rglob('*') if f.name.endswith('.tmp') or '_ckpt' in f.name]
    assert (tmp_path/'bissl_log.csv').read_text().count('\n') == 2  # one header and one epoch: no second writer

@pytest.mark.parametrize('how', ['kill', 'raise'])
def test_dead_rank_ends_the_other(tmp_path, how):
    "When rank 1 is killed (or raises) mid-run, rank 0 exits with an error within the process-group timeout, no hang"
    t0 = time.time()
    (rc0,log0),(rc1,log1) = finish(spawn(tmp_path/'x.pt', how), timeout=120)
    assert rc1 != 0 and rc0 != 0, (rc0, log0[-2000:])
    if how == 'raise': assert 'boom on rank 1' in log1
    assert time.time()-t0 < 120
