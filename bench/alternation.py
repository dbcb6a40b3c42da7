"""Seconds per BiSSL alternation (N_L lower steps + N_U upper steps) of `bissl_learner`, next to the official trainer's figures.

GPU (the reference setting): python bench/alternation.py --device cuda --archs resnet50 resnet18 --precisions fp32 bf16
CPU proxy of the launch count: python bench/alternation.py --device cpu --archs resnet50 --size 32 --pretext-bs 16 --bs 16 \\
                                      --lower-steps 3 --upper-steps 1 --alternations 1 --solvers cg --cg-iters 1 --ops-only
CPU smoke run:                 python bench/alternation.py --size 16 --pretext-bs 8 --bs 8 --lower-steps 2 --upper-steps 2
`--solvers lanczos cg` times the library's default implicit solver (Lanczos, `--lanczos-steps` HVPs per stage) next to CG
(`--cg-iters` HVPs per upper step, on a graph built once per stage).
Per lower step, torch.profiler counts the top-level aten ops (ops no other aten op called: what Python dispatches, the CPU's
proxy of the launch count) and, on CUDA, the kernels launched and the fraction of the step's wall time the GPU is busy.
`ratio` is the official alternation's seconds over ours, from ../shared/design/BISSL.md for the GPU it runs on (H200 or H100).
Synthetic images (random uint8), so it measures speed only."""
import argparse, inspect, time, warnings
import torch
from torch.profiler import profile, ProfilerActivity
from fastai.vision.all import set_seed, resnet18, resnet50
from bissl_fast.all import BilevelDataLoaders, bissl_learner, tiny_cnn, solvers, Lanczos, CG

# The official BiSSL trainer, fp32, 96 px, 2x256 pretext views, 256 downstream (../shared/design/BISSL.md), per GPU:
# seconds per lower step and per upper step (H100), or per alternation of 20 lower + 8 upper steps (H200, measured side by side)
REF_STEPS = {'H100': {'resnet18': (0.040, 0.90), 'resnet50': (0.097, 2.76)}}
REF_ALT = {'H200': {'resnet18': 6.72, 'resnet50': 20.3}}

def ref_alternation(gpu, arch, n_lower, n_upper):
    "The official trainer's seconds per alternation on `gpu` (a device name), or None where BISSL.md has no figure"
    for k,d in REF_ALT.items():
        if k in gpu and arch in d and (n_lower, n_upper) == (20, 8): return d[arch]
    for k,d in REF_STEPS.items():
        if k in gpu and arch in d: return n_lower*d[arch][0] + n_upper*d[arch][1]

def top_level_aten(events):
    "The aten ops of `events` that no other aten op called"
    def nested(e):
        p = e.cpu_parent
        while p is not None:
            if p.name.startswith('aten::'): return True
            p = p.cpu_parent
        return False
    return [e for e in events if e.name.startswith('aten::') and not nested(e)]

def busy_seconds(kernels):
    "Seconds covered by the union of the kernels' time ranges"
    total,end = 0.,None
    for s,e in sorted((k.time_range.start, k.time_range.end) for k in kernels):
        if end is None or s > end: total += e-s; end = e
        elif e > end: total += e-end; end = e
    return total*1e-6

def profile_lower(cb, steps=3, cuda=False):
    "Per lower step of `cb` (after a warm-up step): top-level aten ops, and on CUDA the kernels launched and the GPU-busy fraction"
    cb.lower.train()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    cb.lower_step(); sync()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        t = time.perf_counter()
        for _ in range(steps): cb.lower_step()
        sync(); wall = time.perf_counter() - t
    ev = prof.events()
    res = dict(aten=len(top_level_aten(ev))/steps)
    if cuda:
        dev = [e for e in ev if e.device_type.name == 'CUDA']   # kernels, copies and fills on the GPU
        ks = [e for e in dev if not e.name.startswith(('Memcpy', 'Memset'))]
        res.update(launches=len(ks)/steps, busy=busy_seconds(dev)/wall)
    return res

def make_solver(a, name):
    "Solver `name` with this run's budget: Lanczos `--lanczos-steps` (its short stages CG `--cg-iters`), the others `--cg-iters`"
    if name == 'lanczos': return Lanczos(steps=a.lanczos_steps, recycle=a.recycle, short_stage=CG(iters=a.cg_iters))
    return solvers[name](iters=a.cg_iters)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--archs', nargs='+', default=['resnet18'])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--pretext-bs', type=int, default=256, help='images per view')
    p.add_argument('--bs', type=int, default=256, help='downstream batch')
    p.add_argument('--lower-steps', type=int, default=20)
    p.add_argument('--upper-steps', type=int, default=8)
    p.add_argument('--solvers', nargs='+', default=['lanczos'], choices=[n for n in solvers if n != 'first_order'])
    p.add_argument('--lanczos-steps', type=int, default=15)
    p.add_argument('--recycle', type=int, default=inspect.signature(Lanczos).parameters['recycle'].default,
                   help="Lanczos: Ritz pairs carried from stage to stage (default: the learner's)")
    p.add_argument('--cg-iters', type=int, default=5)
    p.add_argument('--alternations', type=int, default=2, help='timed, after one warm-up alternation')
    p.add_argument('--precisions', nargs='+', default=['fp32'], choices=['fp32', 'bf16'], help='bf16: `learn.to_bf16()` (autocast, fp32 weights)')
    p.add_argument('--bf16', action='store_true', help='the same as `--precisions bf16`')
    p.add_argument('--profile-steps', type=int, default=3, help='lower steps profiled after the timing (0: none)')
    p.add_argument('--ops-only', action='store_true', help='only the per-lower-step profile, after one warm-up alternation')
    a = p.parse_args()
    if a.bf16: a.precisions = ['bf16']
    warnings.filterwarnings('ignore')
    set_seed(0)
    n = max(a.pretext_bs, a.bs)*a.upper_steps
    x = torch.randint(0, 256, (n, 3, a.size, a.size), dtype=torch.uint8)
    y = torch.arange(n) % 10
    dls = BilevelDataLoaders.from_tensors(x, x, y, x[:a.bs], y[:a.bs], size=a.size, bs=a.bs, pretext_bs=a.pretext_bs, device=a.device)
    cuda = torch.device(a.device).type == 'cuda'
    gpu = torch.cuda.get_device_name(a.device) if cuda else 'CPU'
    print(f'device {a.device} ({gpu}), torch {torch.__version__}, {a.size} px, 2x{a.pretext_bs} pretext views, {a.bs} downstream, '
          f'N_L={a.lower_steps}, N_U={a.upper_steps}, Lanczos {a.lanczos_steps} steps (recycling {a.recycle} Ritz pairs), '
          f'CG {a.cg_iters} iterations\n')
    print('| arch | solver | precision | lower step s | upper step s | alternation s | images/s | alternation CPU s | upper/lower '
          '| official alternation s | ratio | aten ops / lower step | kernels / lower step | GPU busy (lower) | peak GiB |')
    print('| --- '*15 + '|')
    for arch, solver, prec in [(r, s, q) for r in a.archs for s in a.solvers for q in a.precisions]:
        learn = bissl_learner(dls, dict(resnet18=resnet18, resnet50=resnet50, tiny_cnn=tiny_cnn)[arch], lower_steps=a.lower_steps,
                              upper_steps=a.upper_steps, solver=make_solver(a, solver), head_warmup=0)
        if prec == 'bf16': learn.to_bf16()
        cb, sync = learn.bilevel, (torch.cuda.synchronize if cuda else (lambda: None))
        if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        times = {'lower': 0., 'n': 0}
        stage = cb.lower_stage
        def timed_stage():
            sync(); t = time.perf_counter(); stage(); sync()
            times['lower'] += time.perf_counter() - t; times['n'] += 1
        cb.lower_stage = timed_stage
        with learn.no_bar(), learn.no_logging():
            learn.fit_bilevel(alternations=1)                       # warm-up
            if not a.ops_only:
                times.update(lower=0., n=0); sync(); t, c = time.perf_counter(), time.process_time()
                learn.fit_bilevel(alternations=a.alternations)
                sync(); total, cpu = time.perf_counter() - t, time.process_time() - c
            prof = profile_lower(cb, a.profile_steps, cuda) if a.profile_steps else {}
        ops = f"{prof['aten']:.0f}" if 'aten' in prof else '–'
        launches,busy = (f"{prof['launches']:.0f}", f"{prof['busy']:.2f}") if 'launches' in prof else ('–', '–')
        mem = f'{torch.cuda.max_memory_allocated()/2**30:.1f}' if cuda else '–'
        if a.ops_only:
            print(f'| {arch} | {solver} | {prec} |' + ' – |'*8 + f' {ops} | {launches} | {busy} | {mem} |', flush=True)
        else:
            alt = total/a.alternations  # includes one small validation batch per epoch
            lower_step = times['lower']/times['n']/max(a.lower_steps, 1)
            upper_step = (alt - times['lower']/times['n'])/a.upper_steps
            imgs = (2*a.pretext_bs*(a.lower_steps+1) + a.bs*a.upper_steps)/alt   # pretext views (Hessian batch included) + downstream
            ref = ref_alternation(gpu, arch, a.lower_steps, a.upper_steps)
            ref_s,ratio = (f'{ref:.2f}', f'{ref/alt:.2f}x') if ref else ('–', '–')
            print(f'| {arch} | {solver} | {prec} | {lower_step:.3f} | {upper_step:.3f} | {alt:.2f} | {imgs:.0f} | {cpu/a.alternations:.2f} '
                  f'| {upper_step/lower_step:.1f}x | {ref_s} | {ratio} | {ops} | {launches} | {busy} | {mem} |', flush=True)
        del learn, cb, stage, timed_stage   # free this arch before the next one is measured

if __name__ == '__main__': main()
