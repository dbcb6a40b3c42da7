"""Seconds per BiSSL alternation (N_L lower steps + N_U upper steps) of `bissl_learner`, next to BISSL.md's reference figures.

GPU (the reference setting): python bench/alternation.py --device cuda --archs resnet18 resnet50 --solvers lanczos cg
CPU smoke run:               python bench/alternation.py --size 16 --pretext-bs 8 --bs 8 --lower-steps 2 --upper-steps 2
`--solvers lanczos cg` times the library's default implicit solver (Lanczos, `--lanczos-steps` HVPs per stage) next to CG
(`--cg-iters` HVPs per upper step, on a graph built once per stage).
Synthetic images (random uint8), so it measures speed only."""
import argparse, inspect, time, warnings
import torch
from fastai.vision.all import set_seed, resnet18, resnet50
from bissl_fast.all import BilevelDataLoaders, bissl_learner, tiny_cnn

REF = {'resnet18': (0.040, 0.90), 'resnet50': (0.097, 2.76)}  # BISSL.md: reference lower / upper step on one H100, fp32

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--archs', nargs='+', default=['resnet18'])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--pretext-bs', type=int, default=256, help='images per view')
    p.add_argument('--bs', type=int, default=256, help='downstream batch')
    p.add_argument('--lower-steps', type=int, default=20)
    p.add_argument('--upper-steps', type=int, default=8)
    p.add_argument('--solvers', nargs='+', default=['lanczos'], choices=['lanczos', 'cg', 'minres', 'neumann', 'layerwise'])
    p.add_argument('--lanczos-steps', type=int, default=15)
    p.add_argument('--recycle', type=int, default=inspect.signature(bissl_learner).parameters['recycle'].default,
                   help="Lanczos: Ritz pairs carried from stage to stage (default: the learner's)")
    p.add_argument('--cg-iters', type=int, default=5)
    p.add_argument('--alternations', type=int, default=2, help='timed, after one warm-up alternation')
    p.add_argument('--bf16', action='store_true')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    set_seed(0)
    n = max(a.pretext_bs, a.bs)*a.upper_steps
    x = torch.randint(0, 256, (n, 3, a.size, a.size), dtype=torch.uint8)
    y = torch.arange(n) % 10
    dls = BilevelDataLoaders.from_tensors(x, x, y, x[:a.bs], y[:a.bs], size=a.size, bs=a.bs, pretext_bs=a.pretext_bs, device=a.device)
    print(f'device {a.device} ({torch.cuda.get_device_name(a.device) if a.device.startswith("cuda") else "CPU"}), torch {torch.__version__}, '
          f'{a.size} px, 2x{a.pretext_bs} pretext views, {a.bs} downstream, N_L={a.lower_steps}, N_U={a.upper_steps}, '
          f'Lanczos {a.lanczos_steps} steps (recycling {a.recycle} Ritz pairs), CG {a.cg_iters} iterations, {"bf16" if a.bf16 else "fp32"}\n')
    print('| arch | solver | lower step s | upper step s | alternation s | alternation CPU s | upper/lower | reference alternation s | peak GiB |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for arch, solver in [(r, s) for r in a.archs for s in a.solvers]:
        learn = bissl_learner(dls, dict(resnet18=resnet18, resnet50=resnet50, tiny_cnn=tiny_cnn)[arch], lower_steps=a.lower_steps,
                              upper_steps=a.upper_steps, solver=solver, lanczos_steps=a.lanczos_steps, cg_iters=a.cg_iters, head_warmup=0,
                              recycle=a.recycle)
        if a.bf16: learn.to_bf16()
        cuda = torch.device(a.device).type == 'cuda'
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
            times.update(lower=0., n=0); sync(); t, c = time.perf_counter(), time.process_time()
            learn.fit_bilevel(alternations=a.alternations)
            sync(); total, cpu = time.perf_counter() - t, time.process_time() - c
        alt = total/a.alternations  # includes one small validation batch per epoch
        lower_step = times['lower']/times['n']/max(a.lower_steps, 1)
        upper_step = (alt - times['lower']/times['n'])/a.upper_steps
        ref = REF.get(arch)
        ref_alt = f'{a.lower_steps*ref[0] + a.upper_steps*ref[1]:.2f}' if ref else '–'
        mem = f'{torch.cuda.max_memory_allocated()/2**30:.1f}' if cuda else '–'
        print(f'| {arch} | {solver} | {lower_step:.3f} | {upper_step:.3f} | {alt:.2f} | {cpu/a.alternations:.2f} | {upper_step/lower_step:.1f}x | {ref_alt} | {mem} |', flush=True)
        del learn, cb, stage, timed_stage   # free this arch before the next one is measured

if __name__ == '__main__': main()
