"""Data-parallel BiSSL: seconds per alternation and pretext images/s with 1 process and with N, same global batches.

Run it plainly: it launches itself with `torchrun --nproc_per_node N` for each N of `--nprocs` and prints one table.
Batch sizes are global (each of N processes loads 1/N); synthetic images (random uint8), so it measures speed only.
Parallel efficiency = t(1 process) / (N × t(N processes)): 100% is perfect scaling; what is missing is communication,
synchronisation and work each rank repeats (the CG algebra on full-size vectors, the regulariser).

CPU overhead (gloo; NOT a GPU scaling figure):
    OMP_NUM_THREADS=1 python bench/distributed.py --nprocs 1 2
GPU scaling, 1 vs 4 GPUs of one node (NCCL), the reference's backbone at a batch one GPU holds:
    python bench/distributed.py --device cuda --arch resnet50 --size 96 --pretext-bs 256 --bs 64 --nprocs 1 4"""
import argparse, json, os, socket, subprocess, sys, time, warnings
from pathlib import Path

def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--nprocs', type=int, nargs='+', default=[1, 2])
    p.add_argument('--device', default='cpu')
    p.add_argument('--arch', default='tiny_cnn', choices=['tiny_cnn', 'resnet18', 'resnet50'])
    p.add_argument('--size', type=int, default=16)
    p.add_argument('--pretext-bs', type=int, default=64, help='global images per view')
    p.add_argument('--bs', type=int, default=32, help='global downstream batch')
    p.add_argument('--lower-steps', type=int, default=20)
    p.add_argument('--upper-steps', type=int, default=8)
    p.add_argument('--cg-iters', type=int, default=5)
    p.add_argument('--alternations', type=int, default=3, help='timed, after one warm-up alternation')
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    return p.parse_args(argv)

def worker(a):
    "One rank: time `a.alternations` alternations after a warm-up one; rank 0 prints a JSON line"
    warnings.filterwarnings('ignore')
    import torch
    from fastai.vision.all import set_seed, resnet18, resnet50, Callback
    from bissl_fast.all import BilevelDataLoaders, bissl_learner, tiny_cnn, init_distributed, world_size, rank, Lanczos, CG
    init_distributed(backend='gloo' if a.device == 'cpu' else None)
    w = world_size()
    if a.pretext_bs % w or a.bs % w: sys.exit(f'--pretext-bs {a.pretext_bs} and --bs {a.bs} must be multiples of {w} processes')
    set_seed(0)
    n = max(a.pretext_bs, a.bs)*a.upper_steps*(a.alternations+1)
    x = torch.randint(0, 256, (n, 3, a.size, a.size), dtype=torch.uint8)
    y = torch.arange(n) % 10
    dev = f'cuda:{os.environ.get("LOCAL_RANK", 0)}' if a.device == 'cuda' else a.device
    dls = BilevelDataLoaders.from_tensors(x, x, y, x[:a.bs], y[:a.bs], size=a.size, bs=a.bs//w, pretext_bs=a.pretext_bs//w, device=dev)
    arch = dict(resnet18=resnet18, resnet50=resnet50, tiny_cnn=tiny_cnn)[a.arch]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # no pretrained backbone: speed only
        learn = bissl_learner(dls, arch, lower_steps=a.lower_steps, upper_steps=a.upper_steps, solver=Lanczos(short_stage=CG(iters=a.cg_iters)), head_warmup=0)
    times = []
    class Timer(Callback):
        "Time stamps at the start of each alternation (its lower stage runs in the bilevel callback's `before_batch`)"
        order = -100
        def before_batch(self):
            if self.iter % a.upper_steps == 0:
                if a.device == 'cuda': torch.cuda.synchronize()
                times.append(time.perf_counter())
    with learn.no_bar(), learn.no_logging(), learn.distrib_ctx():
        learn.fit_bilevel(alternations=a.alternations+1, cbs=Timer())
    if a.device == 'cuda': torch.cuda.synchronize()
    times.append(time.perf_counter())
    steps = [t1-t0 for t0,t1 in zip(times[1:], times[2:])]  # skip the warm-up alternation; the last ends at the end of fit
    s = sorted(steps)[len(steps)//2]
    imgs = (a.lower_steps+1)*2*a.pretext_bs + a.upper_steps*a.bs   # global images through the models per alternation
    if rank() == 0: print('RESULT ' + json.dumps(dict(nprocs=w, alt_s=s, imgs_s=imgs/s)), flush=True)

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def main():
    a = _args()
    if a.worker: return worker(a)
    import torch
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f'CPU, {os.cpu_count()} cores, gloo'
    print(f'{a.arch}, {a.size} px, global batches: 2x{a.pretext_bs} pretext views, {a.bs} downstream; N_L={a.lower_steps}, '
          f'N_U={a.upper_steps}, CG {a.cg_iters}; {dev}; median of {a.alternations} alternations after a warm-up\n')
    print('| processes | s / alternation | images / s | time vs 1 process | parallel efficiency |')
    print('| --- | --- | --- | --- | --- |')
    base = None
    for n in a.nprocs:
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(n), '--master_port', str(free_port()),
               __file__, '--worker', *sys.argv[1:]]
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore'))
        res = [json.loads(l[7:]) for l in r.stdout.splitlines() if l.startswith('RESULT ')]
        if r.returncode or not res: sys.exit(f'{n} processes failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}')
        res = res[0]
        base = base or res['alt_s']
        print(f"| {n} | {res['alt_s']:.3f} | {res['imgs_s']:.0f} | {res['alt_s']/base:.2f}× | {base/(n*res['alt_s']):.0%} |", flush=True)

if __name__ == '__main__': main()
