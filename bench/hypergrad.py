"""One BiSSL upper stage, solved every way: seconds, HVPs and accuracy of the implicit gradient (I + H/(lam+damping))⁻¹ v.

The operator is the real one: the library's own pretext model (SimCLR or BYOL, `--pretext`) on a pretext batch of augmented views, its
Hessian w.r.t. the backbone, built as `BilevelCallback.lower_stage` builds it. `--pretrain N` first trains that model for N epochs of stage 1
(`pretext_learner`, Adam one-cycle) on real images (`--data digits`, the default, or `fashion_mnist`) and caches it under bench/out/;
`--pretrain 0` keeps random weights. The right-hand sides are N_U downstream gradients ∇_θ CE(head(backbone(x)), y) on labeled batches,
with a linear head fitted on the frozen features first (as BiSSL's head warm-up does).

Variants (`--variants`, comma-separated):
- reference: the reference procedure — the pretext forward and first-order graph rebuilt in every CG iteration (train mode, BN statistics
  move), layerwise CG with `--iters` iterations from x0 = 0 for each right-hand side;
- first-order: x = v, no HVP;
- cg: joint CG, `--iters` iterations, graph once per stage, warm start (the engine before Lanczos);
- cg-tol: joint CG to a relative residual of `--tol` (at most 50 iterations), warm start: how many HVPs the solves really need;
- lanczos-K: K Lanczos steps on the first right-hand side, then the low-rank inverse for all N_U (K HVPs per stage);
- cg-K: joint CG with K iterations per right-hand side, graph once per stage, warm start;
- recycle-K: the same K steps, preconditioned by the `--recycle` Ritz pairs kept from the previous stage (K HVPs per stage). With
  `--batches B`, each Hessian batch is the next stage: `--lower-steps` lower steps (Adam on the pretext loss with a warm-up, as BiSSL's
  lower level) move the backbone in between, and one priming stage before the first measured one gives the recycle variants their first pairs.
Modifiers after a colon, combinable (`lanczos-10:h4:cl`): `:hN` builds the Hessian on 1/N of the Hessian batch's images (the right-hand
sides and the converged solve keep the whole batch: sub-sampled Newton's idea); `:branch` on one view's branch, ℓ(online(v1), target(v2)),
whose Hessian estimates the full loss's by the views' symmetry (BYOL, MoCo: their target branch takes no gradient); `:cl` channels-last
model and views; `:compile` HVPs by `torch.compile` of forward-over-reverse (`torch.func`), the forward rerun in each.
Accuracy: the cosine of each variant's solutions with the converged solve — MINRES to a relative residual of `--truth-tol` — for
`--truth-rhs` of the right-hand sides (first, last, and evenly between), the minimum reported; the minimum cosine with the reference's; and
the cosine on the first right-hand side alone (the one Lanczos starts from: the gap to the minimum is what the later solves lose).
The Ritz values of A from the largest Lanczos variant show how close the operator is to indefinite.

Memory: on CUDA `torch.cuda.max_memory_allocated` above the start; on CPU the increase of the peak RSS (a coarse measure). On a busy CPU
machine use OMP_NUM_THREADS=1 and read the CPU-seconds column (`time.process_time`).

    python bench/hypergrad.py --arch tiny_cnn --size 16 --bs 128 --pretrain 30              # the digits main job's setting
    python bench/hypergrad.py --arch resnet18 --size 32 --bs 32 --pretrain 8 --pretext byol
    python bench/hypergrad.py --device cuda --arch resnet50 --size 96 --bs 256 --truth-rhs 1  # the GPU run (random init, synthetic data)
"""
from functools import partial
import argparse, ctypes, gc, resource, time, warnings
from pathlib import Path
import torch, torch.nn as nn, torch.nn.functional as F
from fastai.vision.all import resnet18, resnet50, set_seed
from bissl_fast.all import (digits_dls, fashion_mnist_dls, BilevelDataLoaders, pretext_learner, pretext_models, create_encoder,
                            tiny_cnn, hvp_operator, ij_matvec, solve_cg, solve_minres, Lanczos, CG, preserved_buffers, knn_accuracy)

ARCHS = dict(tiny_cnn=tiny_cnn, resnet18=resnet18, resnet50=resnet50)
OUT = Path(__file__).parent/'out'

def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument('--arch', default='resnet18', choices=list(ARCHS))
    p.add_argument('--pretext', default='simclr', choices=list(pretext_models))
    p.add_argument('--data', default='digits', choices=['digits', 'fashion_mnist', 'synthetic'])
    p.add_argument('--pretrain', type=int, default=0, help='stage-1 epochs before measuring (cached in bench/out/); 0: random init')
    p.add_argument('--pretrain-lr', type=float, default=3e-3)
    p.add_argument('--size', type=int, default=32, help='image size (px)')
    p.add_argument('--small-stem', action=argparse.BooleanOptionalAction, default=None,
                   help="ResNets' CIFAR stem (3×3, stride 1, no max-pool); default: the library's rule, on at ≤ 64 px")
    p.add_argument('--bs', type=int, default=16, help='pretext images per view; the downstream batch has the same size')
    p.add_argument('--hessian-bs', type=int, default=None, help='images per view of the Hessian batch of the non-reference variants '
                   '(default: --bs); the converged solve and the reference keep the full batch')
    p.add_argument('--device', default='cpu')
    p.add_argument('--variants', default='reference,first-order,cg,cg-tol,lanczos-5,lanczos-10,lanczos-15,lanczos-20')
    p.add_argument('--batches', type=int, default=1, help='Hessian batches (stages) measured, each a fresh pretext batch')
    p.add_argument('--lower-steps', type=int, default=20, help='lower steps between Hessian batches (stages)')
    p.add_argument('--lower-lr', type=float, default=1e-3)
    p.add_argument('--recycle', type=int, default=15, help='Ritz pairs the recycle-K variants carry from stage to stage')
    p.add_argument('--reps', type=int, default=1, help='timed repetitions of each variant (the fastest is reported)')
    p.add_argument('--nu', type=int, default=8, help='right-hand sides per stage (N_U)')
    p.add_argument('--iters', type=int, default=5, help='CG iterations per solve (reference, cg)')
    p.add_argument('--tol', type=float, default=1e-2, help='relative residual of the cg-tol variant')
    p.add_argument('--truth-tol', type=float, default=1e-4, help='relative residual of the converged MINRES solve')
    p.add_argument('--truth-iters', type=int, default=400)
    p.add_argument('--truth-rhs', type=int, default=3, help='right-hand sides solved to convergence (0: skip)')
    p.add_argument('--lam', type=float, default=1e-3)
    p.add_argument('--damping', type=float, default=10.)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--verbose', action='store_true', help='print each variant as it finishes')
    return p.parse_args(argv)

def get_dls(a):
    "Paired loaders of real images (or random ones), `a.bs` images per pretext view and per downstream batch"
    kw = dict(bs=a.bs, pretext_bs=a.bs, size=a.size, device=a.device)
    if a.data == 'digits': return digits_dls(n_labeled_per_class=None, **kw)
    if a.data == 'fashion_mnist': return fashion_mnist_dls(n_labeled_per_class=100, **kw)
    n = a.bs*(a.nu+1)
    x, y = torch.randint(0, 256, (n, 3, a.size, a.size), dtype=torch.uint8), torch.arange(n) % 10
    return BilevelDataLoaders.from_tensors(x, x, y, x[:a.bs], y[:a.bs], size=a.size, **kw)

def stage_one(a, dls):
    "The pretext model: random, or trained for `a.pretrain` epochs (cached)"
    pre = pretext_learner(dls, ARCHS[a.arch], pretext=a.pretext, small_stem=a.small_stem)
    if a.pretrain:
        stem = '' if a.small_stem is None else '_small' if a.small_stem else '_std'
        f = OUT/f'stage1_{a.data}_{a.arch}{stem}_{a.pretext}_{a.size}px_bs{a.bs}_{a.pretrain}ep_seed{a.seed}.pth'
        if f.exists(): pre.model.load_state_dict(torch.load(f, map_location=a.device))
        else:
            with pre.no_bar(), pre.no_logging(): pre.fit_one_cycle(a.pretrain, a.pretrain_lr)
            OUT.mkdir(exist_ok=True); torch.save(pre.model.state_dict(), f)
    return pre.model.train()

def rhs(a, dls, lower):
    "N_U downstream gradients on labeled batches, with a linear head fitted on the frozen features first"
    bb, params = lower.backbone, list(lower.backbone.parameters())
    with torch.no_grad(), preserved_buffers(bb):
        xs, ys = zip(*[(bb(x.as_subclass(torch.Tensor)), y.as_subclass(torch.Tensor)) for x,y in dls.train])
    feats, labels = torch.cat(xs), torch.cat(ys)
    head = nn.Linear(feats.shape[1], int(labels.max())+1).to(feats.device)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(100):
        loss = F.cross_entropy(head(feats), labels); opt.zero_grad(); loss.backward(); opt.step()
    vs, it = [], iter(dls.train)
    with preserved_buffers(bb):
        for _ in range(a.nu):
            try: x, y = next(it)
            except StopIteration: it = iter(dls.train); x, y = next(it)
            ld = F.cross_entropy(head(bb(x.as_subclass(torch.Tensor))), y.as_subclass(torch.Tensor))
            vs.append(tuple(g.detach() for g in torch.autograd.grad(ld, params)))
    return vs

def variant(name):
    "A variant's base name and modifiers: `:hN` the Hessian on 1/N of the batch's images, `:branch` one view's branch, `:cl` channels-last, `:compile`"
    base, *mods = name.split(':')
    bad = [m for m in mods if m not in ('branch', 'cl', 'compile') and not (m[:1] == 'h' and m[1:].isdigit())]
    if bad: raise SystemExit(f'unknown modifier(s) {bad} in variant {name!r}')
    return base, dict(div=next((int(m[1:]) for m in mods if m[:1] == 'h'), 1), branch='branch' in mods, cl='cl' in mods,
                      compiled='compile' in mods)

def branch_loss(lower, v1, v2):
    "The loss of one view's branch, ℓ(online(v1), target(v2)): by the views' symmetry its Hessian estimates the full loss's, at half the cost"
    if not hasattr(lower, 'target'): raise SystemExit(f'{type(lower).__name__}: its loss couples both views (negatives, batch statistics): no branch to take')
    p1 = lower.predictor(lower.projector(lower.backbone(v1)))
    with torch.no_grad(): t2 = lower.target(v2)
    return lower.criterion((p1, p1, t2, t2))

def compiled_hvp(lower, v1, v2, params):
    "H·v by `torch.compile` of forward-over-reverse (`torch.func.jvp` of `grad`) on the pretext loss; each call reruns the forward"
    from torch.func import functional_call, grad, jvp
    names = [n for n,p in lower.named_parameters() if any(p is q for q in params)]
    rest = {n: p for n,p in lower.named_parameters() if n not in names}
    def loss(ps):
        with preserved_buffers(lower): return lower.criterion(functional_call(lower, {**rest, **dict(zip(names, ps))}, (v1, v2)))
    f = torch.compile(lambda ps, vs: jvp(grad(loss), (ps,), (vs,))[1])
    ps = tuple(p.detach() for p in params)
    t0, c0 = time.perf_counter(), time.process_time()
    f(ps, tuple(torch.zeros_like(p) for p in ps))   # compiles: timed apart (`compiled_hvp.secs`), not as part of the solve
    compiled_hvp.secs = (time.perf_counter() - t0, time.process_time() - c0)
    return lambda vs: f(ps, tuple(vs))

class Meter:
    "Timer, peak-memory meter and device sync in one"
    def __init__(self, device): self.cuda = torch.device(device).type == 'cuda'
    def sync(self):
        if self.cuda: torch.cuda.synchronize()
    def __enter__(self):
        gc.collect(); self.sync()
        if self.cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(); self.m0 = torch.cuda.memory_allocated()
        else: _reset_peak_rss(); self.m0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self
    def __exit__(self, *exc):
        self.sync(); self.secs, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        m1 = torch.cuda.max_memory_allocated() if self.cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.mem = (m1 - self.m0) / 2**20

def _reset_peak_rss():
    "Return freed heap memory to the OS (glibc) and reset the kernel's peak-RSS counter of this process, if allowed"
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError): pass
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False

def lower_steps(a, lower, dls, state={}):
    "`a.lower_steps` Adam steps on the pretext loss (one optimizer, lr warmed up from lr/100 over the first call), as between two stages"
    if not a.lower_steps: return
    if 'opt' not in state: state.update(opt=torch.optim.Adam(lower.parameters(), lr=a.lower_lr), n=0)
    opt = state['opt']
    for _ in range(a.lower_steps):
        for g in opt.param_groups: g['lr'] = a.lower_lr*min(1., 0.01 + 0.99*state['n']/a.lower_steps)
        loss = lower.pretext_loss(*dls.pretext_batch()); opt.zero_grad(); loss.backward(); opt.step()
        if hasattr(lower, 'after_update'): lower.after_update()
        state['n'] += 1

def cos(a, b):
    "Cosine similarity of two tuples of tensors"
    a, b = torch.cat([t.double().flatten() for t in a]), torch.cat([t.double().flatten() for t in b])
    return float(a @ b / (a.norm() * b.norm()))

def measure(a, lower, vs, v1, v2, priors):
    "Every variant on one Hessian batch: {name: (secs, cpu, mem, HVPs, Ritz ≤ 0, cosine vs converged, cosine vs reference)}, notes"
    params, kw = list(lower.backbone.parameters()), dict(lam=a.lam, damping=a.damping)
    def pretext_loss(n=None):
        with torch.autocast(torch.device(a.device).type, enabled=False): return lower.pretext_loss(v1[:n], v2[:n])
    def reference():
        "The reference: forward + first-order graph in every CG iteration (BN statistics move), layerwise CG from 0"
        xs, n = [], 0
        for v in vs:
            xs.append(solve_cg(lambda p: ij_matvec(hvp_operator(pretext_loss(), params), **kw)(p), v, iters=a.iters, layerwise=True,
                               on_negative='continue', info=(info := {})))
            n += info['iters']
        return xs, n, 0
    def engine(solver, div=1, branch=False, cl=False, compiled=False):
        "The library's solver (a `Solver` factory): one graph per stage, on 1/`div` of the Hessian batch, one view's branch, channels-last"
        def run():
            n = (a.hessian_bs or a.bs)//div
            fmt = torch.channels_last if cl else torch.contiguous_format
            lower.to(memory_format=fmt)
            w1, w2 = (v[:n].contiguous(memory_format=fmt) for v in (v1, v2))
            try:
                sv, prior = solver(), priors.get(run.name)
                if compiled:
                    s = sv.use(ij_matvec(compiled_hvp(lower, w1, w2, params), **kw), prior=prior)
                    run.compile = compiled_hvp.secs
                else:
                    with preserved_buffers(lower), torch.autocast(torch.device(a.device).type, enabled=False):
                        loss = branch_loss(lower, w1, w2) if branch else lower.pretext_loss(w1, w2)
                    s = sv.build(loss, params, **kw, prior=prior)   # the stage: its operator, Ritz pairs, HVP count
                    del loss
                xs, neg = [], 0
                for v in vs: xs.append(s(v)); neg = max(neg, s.info.get('n_negative', int(s.info.get('negative_curvature', 0))))
            finally: lower.to(memory_format=torch.contiguous_format)
            lz = isinstance(s.solver, Lanczos)
            run.eigs, run.pairs = s.ritz[0].tolist() if lz else None, s.pairs(a.recycle) if lz else None
            s.release()
            return xs, s.n_matvec, neg
        return run
    make = {'reference': lambda: reference, 'first-order': lambda: (lambda: ([tuple(t.clone() for t in v) for v in vs], 0, 0)),
            'cg': lambda: engine(partial(CG, iters=a.iters, on_negative='stop')),
            'cg-tol': lambda: engine(partial(CG, iters=50, tol=a.tol, on_negative='stop'))}
    variants = {}
    for name in a.variants.split(','):
        base, mods = variant(name)
        if base.startswith(('lanczos-', 'recycle-')): variants[name] = engine(partial(Lanczos, steps=int(base.split('-')[1]), short_stage=None), **mods)
        elif base.startswith('cg-') and base[3:].isdigit(): variants[name] = engine(partial(CG, iters=int(base[3:]), on_negative='stop'), **mods)
        elif base in make and name == base: variants[name] = make[base]()
        else: raise SystemExit(f'unknown variant {name!r}')
        variants[name].name = name

    with preserved_buffers(lower):   # warm-up, not timed: first calls pay for kernel selection and allocator growth
        for _ in range(2): hvp_operator(pretext_loss(), params)(vs[0])
    idx = sorted({round(i*(a.nu-1)/max(a.truth_rhs-1, 1)) for i in range(a.truth_rhs)}) if a.truth_rhs else []
    keep = set(range(a.nu)) if 'reference' in variants else set(idx)   # the solutions compared later; the others are dropped
    best, sols, counts = {}, {}, {}
    for rep in range(a.reps):   # interleaved, so that drifting machine load hits every variant alike
        for name, fn in variants.items():
            with preserved_buffers(lower), Meter(a.device) as t: xs, *counts[name] = fn()
            if getattr(fn, 'compile', None):   # the compile (and its first call) is reported, not counted in the stage
                t.secs, t.cpu = t.secs - fn.compile[0], t.cpu - fn.compile[1]
                print(f'{name}: compile and first call {fn.compile[0]:.1f} s (CPU {fn.compile[1]:.1f} s), not in its row', flush=True)
            sols[name] = [x if i in keep else None for i,x in enumerate(xs)]; del xs
            if name not in best or t.secs < best[name].secs: best[name] = t
            if a.verbose: print(f'rep {rep}, {name}: {t.secs:.2f} s, CPU {t.cpu:.2f} s', flush=True)

    # the converged solve, for a few right-hand sides
    truth, tinfo = {}, []
    with preserved_buffers(lower): A = ij_matvec(hvp_operator(pretext_loss(), params), **kw)
    t0 = time.perf_counter()
    for i in idx:
        truth[i] = solve_minres(A, vs[i], iters=a.truth_iters, tol=a.truth_tol, info=(info := {}))
        tinfo.append((info['iters'], info['residuals'][-1]))
    del A
    notes = []
    if idx: notes.append(f'converged solve: MINRES on right-hand sides {idx}: ' + ', '.join(f'{n} HVPs to {r:.1e}' for n,r in tinfo) +
                         f' ({time.perf_counter() - t0:.0f} s)')
    big = max((n for n in variants if n.startswith('lanczos-') and n == variant(n)[0]), key=lambda n: int(n.split('-')[1]), default=None)
    if big and variants[big].eigs:
        e = variants[big].eigs
        notes.append(f'Ritz values of A = I + H/(lam+damping) from {big}: min {min(e):.3f}, max {max(e):.3f}, {sum(x <= 0 for x in e)} ≤ 0')
    ref, res = sols.get('reference'), {}
    for name in variants:
        t, (n, neg) = best[name], counts[name]
        c_true = min(cos(sols[name][i], truth[i]) for i in idx) if idx else float('nan')
        c_ref = min(cos(x, y) for x,y in zip(sols[name], ref)) if ref else float('nan')
        c_first = cos(sols[name][idx[0]], truth[idx[0]]) if idx else float('nan')
        res[name] = (t.secs, t.cpu, t.mem, n, neg, c_true, c_ref, c_first)
        if name.startswith('recycle-'): priors[name] = variants[name].pairs
    return res, notes

def main(argv=None):
    a = get_args(argv)
    warnings.filterwarnings('ignore')
    set_seed(a.seed)
    dls = get_dls(a)
    lower = stage_one(a, dls)
    vs = rhs(a, dls, lower)
    runs, priors = [], {}
    recycled = [n for n in a.variants.split(',') if n.startswith('recycle-')]
    if recycled:   # a priming stage: the recycle variants' first Ritz pairs
        lower_steps(a, lower, dls)
        s = Lanczos(steps=max(int(variant(n)[0].split('-')[1]) for n in recycled), short_stage=None)
        with preserved_buffers(lower): s = s.build(lower.pretext_loss(*dls.pretext_batch()), list(lower.backbone.parameters()), lam=a.lam, damping=a.damping)
        s(vs[-1]); priors = {n: s.pairs(a.recycle) for n in recycled}; s.release()
    for b in range(a.batches):   # a different Hessian batch each time: the operator changes from stage to stage
        if b or recycled: lower_steps(a, lower, dls)
        res, notes = measure(a, lower, vs, *dls.pretext_batch(), priors)
        runs.append(res)
        for n in notes: print(f'Hessian batch {b}: {n}', flush=True)

    knn = knn_accuracy(lower.backbone, dls) if a.data != 'synthetic' else float('nan')
    dev = torch.cuda.get_device_name() if a.device.startswith('cuda') else f'CPU, {torch.get_num_threads()} thread(s)'
    stem = {None: "the library's stem rule", True: 'small (CIFAR) stem', False: 'standard stem'}[a.small_stem]
    print(f'\n{a.arch} ({stem}), {a.pretext} {"stage-1 " + str(a.pretrain) + " epochs" if a.pretrain else "random init"} on {a.data} '
          f'(k-NN accuracy {knn:.3f}), {a.size} px, 2×{a.bs} pretext views, {dev}, torch {torch.__version__}; N_U={a.nu}, '
          f'lam={a.lam}, damping={a.damping}, lower lr {a.lower_lr}, best of {a.reps}, {a.batches} Hessian batch(es) {a.lower_steps} lower steps apart'
          + (f', recycle-K carries {a.recycle} Ritz pairs' if recycled else '') + ': seconds are means, cosines minima'
          + (f'; Hessian batch of ours: 2×{a.hessian_bs}' if a.hessian_bs else '') +
          f'; speed-up from {"wall" if a.device.startswith("cuda") else "CPU"} seconds\n')
    mem_name = 'peak CUDA MiB' if a.device.startswith('cuda') else 'peak RSS +MiB'
    print(f'| variant | s / stage | speed-up vs reference | CPU s | {mem_name} | HVPs / stage | Ritz ≤ 0 | cosine vs converged (min) | cosine vs reference (min) | cosine vs converged, first right-hand side (min) | cosine vs converged per stage (min) |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    mean = lambda name, k: sum(r[name][k] for r in runs)/len(runs)
    for name in runs[0]:
        secs, n, neg = mean(name, 0), runs[0][name][3], max(r[name][4] for r in runs)
        c_true, c_ref, c_first = (min(r[name][i] for r in runs) for i in (5, 6, 7))
        k = 0 if a.device.startswith('cuda') else 1   # on the CPU, process CPU time: fair when other jobs share the cores
        speed = f'{mean("reference", k)/mean(name, k):.2f}×' if 'reference' in runs[0] and mean(name, k) > 0 else 'n/a'
        print(f'| {name} | {secs:.3f} | {speed} | {mean(name, 1):.2f} | {max(r[name][2] for r in runs):.0f} | {n} | '
              f'{neg if name.startswith(("lanczos", "recycle")) else "–"} | {c_true:.4f} | {c_ref:.4f} | {c_first:.4f} | '
              + ' / '.join(f'{r[name][5]:.3f}' for r in runs) + ' |')

if __name__ == '__main__': main()
