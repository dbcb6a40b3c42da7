"""Time one BiSSL upper stage: N_U right-hand sides, `iters` CG iterations each, solved for (I + H/(lam+damping)) x = v.

Variants
- reference: rebuild the pretext forward (train mode) and the first-order graph inside every CG iteration, as the reference code does;
- ours (cold): `ImplicitSolver` built once per stage (buffers preserved), x0 = 0 for every right-hand side: the same math as the reference;
- ours (warm): the same, each solve warm-started from the previous solution (a different, more accurate approximation);
- func (--func): forward-over-reverse HVPs, `torch.func.jvp` of `torch.func.grad`, recomputed in every CG iteration.
All use the same joint CG (`solve_cg`), so the cosine of reference vs ours measures only the graph reuse.

Pretext loss: SimCLR-style NT-Xent (temperature 0.5) on two views, torchvision ResNet backbone + 2-layer projector; the Hessian is taken
w.r.t. the backbone only. Right-hand sides: downstream gradients (linear head, cross-entropy) on N_U synthetic batches.
Memory: on CUDA `torch.cuda.max_memory_allocated` above the start; on CPU the increase of the peak RSS (`resource.getrusage` ru_maxrss,
after `malloc_trim` and resetting the peak through /proc/self/clear_refs when the kernel allows it; otherwise the peak is monotonic over the
run and later variants show less). RSS is a coarse measure (allocator caching, thread stacks), so read the CPU column as indicative.
On a busy CPU machine, OMP_NUM_THREADS=1 gives much steadier timings (oversubscribed OpenMP threads spin), and the process CPU time
(`time.process_time`, also reported) is a fairer comparison than wall time when other jobs share the cores.
Random-init ResNets have NT-Xent Hessians with eigenvalues far below -(lam+damping), so CG meets negative curvature; the bench uses
`on_negative='continue'` (the reference's behaviour) so that every variant does the same nu*iters HVPs.
bf16 on CPU: PyTorch's CPU bf16 double backward through batch norm is nondeterministic and can give NaN/Inf at tiny sizes (seen at 16 px);
such a variant is reported in a note instead of the table. bf16 is meant for CUDA.

    python bench/hypergrad.py                                  # tiny CPU run: resnet18, 32 px, 16 images per view
    python bench/hypergrad.py --device cuda --arch resnet50 --size 96 --bs 256 --func --reps 3
"""
import argparse, copy, ctypes, gc, resource, time
from contextlib import nullcontext
import torch, torch.nn as nn, torch.nn.functional as F, torchvision
from bissl_fast.hypergrad import hvp_operator, ij_matvec, solve_cg, ImplicitSolver, preserved_buffers

def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='resnet18', choices=['resnet18', 'resnet50'])
    p.add_argument('--size', type=int, default=32, help='image size (px)')
    p.add_argument('--bs', type=int, default=16, help='pretext batch size per view (the downstream batch has the same size)')
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'], help='bf16: forward under bf16 autocast')
    p.add_argument('--func', action='store_true', help='also time forward-over-reverse HVPs (torch.func.jvp of grad)')
    p.add_argument('--reps', type=int, default=1, help='timed repetitions of each variant (the minimum is reported)')
    p.add_argument('--nu', type=int, default=8, help='right-hand sides per stage (N_U)')
    p.add_argument('--iters', type=int, default=5, help='CG iterations per solve')
    p.add_argument('--lam', type=float, default=1e-3)
    p.add_argument('--damping', type=float, default=10.)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--verbose', action='store_true', help='print each variant as it finishes')
    return p.parse_args(argv)

def nt_xent(z1, z2, temp=0.5):
    "SimCLR's NT-Xent loss of two batches of projections"
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z.shape[0]
    sim = (z @ z.T / temp).masked_fill(torch.eye(n, dtype=torch.bool, device=z.device), float('-inf'))
    return F.cross_entropy(sim, (torch.arange(n, device=z.device) + n//2) % n)

def make_models(arch):
    "Backbone (no fc), projector, downstream linear head"
    bb = getattr(torchvision.models, arch)(weights=None)
    d = bb.fc.in_features
    bb.fc = nn.Identity()
    proj = nn.Sequential(nn.Linear(d, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 256))
    return bb, proj, nn.Linear(d, 10)

class Sync:
    "Timer, peak-memory meter and device sync in one"
    def __init__(self, device): self.cuda = device.type == 'cuda'
    def sync(self):
        if self.cuda: torch.cuda.synchronize()
    def __enter__(self):
        gc.collect(); self.sync()
        if self.cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(); self.m0 = torch.cuda.memory_allocated()
        else: self.reset = _reset_peak_rss(); self.m0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self
    def __exit__(self, *exc):
        self.sync(); self.secs, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        m1 = torch.cuda.max_memory_allocated() if self.cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.mem = (m1 - self.m0) / 2**20

def _reset_peak_rss():
    "Return freed heap memory to the OS (glibc) and reset the kernel's peak-RSS counter of this process (Linux >= 4.0), if allowed"
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError): pass
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False

def cos(a, b):
    "Cosine similarity of two tuples of tensors"
    a, b = torch.cat([t.double().flatten() for t in a]), torch.cat([t.double().flatten() for t in b])
    return float(a @ b / (a.norm() * b.norm()))

def main(argv=None):
    a = get_args(argv)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    bb, proj, head = [m.to(dev).train() for m in make_models(a.arch)]
    params = list(bb.parameters())
    amp = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if a.dtype == 'bf16' else nullcontext
    x1, x2 = torch.randn(2, a.bs, 3, a.size, a.size, device=dev)
    def pretext_loss():
        with amp(): return nt_xent(proj(bb(x1)), proj(bb(x2)))

    # right-hand sides: downstream gradients on nu synthetic batches (not timed)
    vs = []
    with preserved_buffers(bb):
        for _ in range(a.nu):
            xd, yd = torch.randn(a.bs, 3, a.size, a.size, device=dev), torch.randint(0, 10, (a.bs,), device=dev)
            with amp(): ld = F.cross_entropy(head(bb(xd)).float(), yd)
            vs.append(tuple(g.detach() for g in torch.autograd.grad(ld, params)))
    kw = dict(lam=a.lam, damping=a.damping)
    neg = 'continue'   # random-init ResNets have Hessians with eigenvalues far below -(lam+damping): go on as the reference does

    def solve_all(A):
        "CG for every right-hand side: (solutions, HVPs, solves that met negative curvature)"
        xs, n, nneg = [], 0, 0
        for v in vs:
            xs.append(solve_cg(A, v, iters=a.iters, on_negative=neg, info=(info := {})))
            n, nneg = n + info['iters'], nneg + info['negative_curvature']
        return xs, n, nneg
    def reference():
        "Rebuild forward + first-order graph in every CG iteration (train mode, BN statistics move as in the reference)"
        return solve_all(lambda p: ij_matvec(hvp_operator(pretext_loss(), params), **kw)(p))
    def ours(warm):
        "Build the operator once per stage"
        def run():
            with preserved_buffers(bb, proj): loss = pretext_loss()
            s = ImplicitSolver(loss, params, iters=a.iters, warm_start=warm, on_negative=neg, **kw)
            del loss
            xs, nneg = [], 0
            for v in vs: xs.append(s(v)); nneg += s.info['negative_curvature']
            s.release()
            return xs, s.n_matvec, nneg
        return run
    def func_hvp():
        "Forward-over-reverse HVP, recomputes forward and backward at every call; BN without running stats (same train-mode outputs)"
        bb2, proj2 = copy.deepcopy(bb), copy.deepcopy(proj)
        for m in (bb2, proj2): torch.func.replace_all_batch_norm_modules_(m)
        proj2.requires_grad_(False)
        names = [n for n,_ in bb2.named_parameters()]
        fixed = {n: t.detach() for n,t in bb2.named_buffers()}
        def f(ps):
            fb = lambda x: torch.func.functional_call(bb2, {**dict(zip(names, ps)), **fixed}, (x,))
            with amp(): return nt_xent(proj2(fb(x1)), proj2(fb(x2)))
        primal = tuple(p.detach() for p in bb2.parameters())
        return lambda v: torch.func.jvp(torch.func.grad(f), (primal,), (tuple(v),))[1]

    variants = {'reference (graph per CG iteration)': reference, 'ours, cold (graph once per stage)': ours(False),
                'ours, warm start': ours(True)}
    if a.func:
        hvp_f = func_hvp()
        variants['func: jvp of grad per CG iteration'] = lambda: solve_all(ij_matvec(hvp_f, **kw))
    notes = []
    # warm-up (not timed): first calls pay for kernel selection / primitive caches
    with preserved_buffers(bb, proj):
        for _ in range(2): hvp_operator(pretext_loss(), params)(vs[0])
        try:
            if a.func: hvp_f(vs[0])
        except RuntimeError as e:   # e.g. bf16 autocast + forward-mode AD through conv is unsupported on CPU
            notes.append(f'func variant skipped: {str(e).splitlines()[0]}')
            variants.pop('func: jvp of grad per CG iteration')
    best, sols, counts = {}, {}, {}
    for rep in range(a.reps):   # interleaved, so that drifting machine load hits every variant alike
        for name, fn in list(variants.items()):
            try:
                with preserved_buffers(bb, proj), Sync(dev) as t: sols[name], *counts[name] = fn()
            except FloatingPointError as e:   # e.g. bf16 HVPs overflowing: report it, go on with the other variants
                notes.append(f'{name}: {str(e).split(". ")[0]}'); variants.pop(name); continue
            if name not in best or t.secs < best[name].secs: best[name] = t
            if a.verbose: print(f'rep {rep}, {name}: {t.secs:.2f} s, CPU {t.cpu:.2f} s', flush=True)
    rows = [(name, best[name].secs, best[name].cpu, best[name].mem, *counts[name]) for name in variants]

    base, ours_cold = 'reference (graph per CG iteration)', 'ours, cold (graph once per stage)'
    ref = sols.get(base)
    print(f'\n{a.arch}, {a.size} px, {a.bs} images per view, {a.device}, {a.dtype}, N_U={a.nu}, {a.iters} CG iterations, '
          f'lam={a.lam}, damping={a.damping}, best of {a.reps}\n')
    mem_name = 'peak CUDA MiB' if dev.type == 'cuda' else 'peak RSS +MiB' + ('' if _reset_peak_rss() else ' (monotonic)')
    print(f'| variant | seconds | vs reference | CPU seconds | {mem_name} | HVPs | solves with pᵀAp ≤ 0 | min cosine vs reference |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    mincos = lambda name: f'{min(cos(x, y) for x,y in zip(sols[name], ref)):.6f}' if ref and name in sols else 'n/a'
    for (name, secs, cpu, mem, n, nneg) in rows:
        rel = f'{secs/best[base].secs:.2f}×' if base in best else 'n/a'
        print(f'| {name} | {secs:.3f} | {rel} | {cpu:.2f} | {mem:.0f} | {n} | {nneg}/{len(vs)} | {mincos(name)} |')
    for n in notes: print(f'\nNote: {n}')
    print(f'\ncosine(ours, reference) = {mincos(ours_cold)}')

if __name__ == '__main__': main()
