"""Seconds per BiSSL alternation (N_L lower steps + N_U upper steps) of `bissl_learner`, side by side with the official trainer.

GPU (the reference setting): python bench/alternation.py --device cuda --archs resnet50 resnet18 --precisions fp32 bf16
Side by side with the official trainer, measured in the same run (CPU, one thread; make its checkout first with
`git clone https://github.com/NIPS25-16372/NIPS25_16372_BiSSL bench/official`, a git-ignored folder):
  OMP_NUM_THREADS=1 python bench/alternation.py --device cpu --archs resnet18 --size 32 --pretext-bs 64 --bs 64 --no-small-stem \\
                                                --official bench/official --alternations 1 --old-default
CPU proxy of the launch count: python bench/alternation.py --device cpu --archs resnet50 --size 32 --pretext-bs 16 --bs 16 \\
                                      --lower-steps 3 --upper-steps 1 --alternations 1 --solvers cg --cg-iters 1 --ops-only
CPU smoke run:                 python bench/alternation.py --size 16 --pretext-bs 8 --bs 8 --lower-steps 2 --upper-steps 2
`--solvers lanczos cg` times the library's default implicit solver (Lanczos, `--lanczos-steps` HVPs per stage) next to CG
(`--cg-iters` HVPs per upper step, on a graph built once per stage).
`--official DIR` imports the official BiSSL code (github.com/NIPS25-16372/NIPS25_16372_BiSSL; it has no licence, so it is never
copied here) from its checkout DIR at run time and times its own `_lower_train_loop` and `_upper_train_loop` (its layerwise CG,
`--cg-iters` iterations, the graph rebuilt per iteration; its SimCLR, LARS and SGD) in fp32 on the same network (its timm ResNet with
our stem and our weights, parameter shapes checked) and the same inputs (views and downstream batches drawn from our loaders before
its timing; ours are augmented inside the timed loop). Without it, the official figures are those recorded in
../shared/design/BISSL.md, shown only where the setting matches and labelled "recorded, not measured in this run".
`--small-stem/--no-small-stem` picks the ResNet stem (default: the library's rule, small at <= 64 px); each row names the stem it had.
`--channels-last`, `--compile` (the lower pretext model's forward in lower steps; its compile time is the warm-up alternation's
extra seconds), `--lanczos-steps K` and `--hessian-frac F` (the fraction of the pretext batch's images in the Hessian; both default
to the library's) change our rows only; `--old-default` adds a row with the library's default before 2026-12-07 (Lanczos-15 on the
whole pretext batch).
Per lower step, torch.profiler counts the top-level aten ops (ops no other aten op called: what Python dispatches, the CPU's
proxy of the launch count) and, on CUDA, the kernels launched and the fraction of the step's wall time the GPU is busy.
Peak memory during the timed alternations: CUDA's allocator peak, or on the CPU the process's peak RSS (VmHWM, reset first) and
its rise above the RSS at the start. Synthetic images (random uint8), so it measures speed only."""
import argparse, ctypes, gc, importlib, inspect, io, itertools, sys, time, types, warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Literal
import torch
from torch import nn, Tensor
from torch.profiler import profile, ProfilerActivity
from torch.utils.data import DataLoader
from fastai.vision.all import set_seed, resnet18, resnet50, ifnone, Callback
from bissl_fast.all import (BilevelDataLoaders, BilevelCallback, bissl_learner, bissl_settings, tiny_cnn, solvers, Lanczos, CG, create_encoder,
                            small_stem_, img_size)

ARCHS = dict(resnet18=resnet18, resnet50=resnet50, tiny_cnn=tiny_cnn)
# The official trainer's figures recorded in ../shared/design/BISSL.md (not measured by this script), fp32: device, arch,
# setting (px, images per view, downstream batch, small stem), (lower step s, upper step s, alternation s of 20 + 8 steps or None)
RECORDED = [('H100', 'resnet18', (96, 256, 256, False), (0.040, 0.90, None)),
            ('H100', 'resnet50', (96, 256, 256, False), (0.097, 2.76, None)),
            ('H200', 'resnet18', (96, 256, 256, False), (0.0344, 0.754, 6.72)),
            ('H200', 'resnet50', (96, 256, 256, False), (0.0858, 2.325, 20.3)),
            ('CPU', 'resnet18', (32, 64, 64, False), (0.482, 7.35, 68.4))]   # 2-core AMD EPYC, one thread

def recorded(gpu, arch, setting, n_lower, n_upper):
    "The official trainer's recorded (lower step, upper step, alternation) seconds for this device and setting, or None"
    for dev, ar, st, (lo, up, alt) in RECORDED:
        if dev in gpu and ar == arch and st == setting:
            return lo, up, alt if alt and (n_lower, n_upper) == (20, 8) else n_lower*lo + n_upper*up

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

def _vm(key):
    "GiB of `key` (VmRSS, VmHWM) in /proc/self/status"
    for l in Path('/proc/self/status').read_text().splitlines():
        if l.startswith(key+':'): return int(l.split()[1])/2**20

def reset_peak(cuda):
    "Start counting peak memory: CUDA's allocator peak, or the kernel's peak RSS (freed heap returned first); the CPU's RSS now"
    gc.collect()
    if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(); return None
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError): pass
    try: Path('/proc/self/clear_refs').write_text('5')
    except OSError: return -1.   # cannot reset: VmHWM is the whole process's peak
    return _vm('VmRSS')

def peak(cuda, start):
    "Peak GiB since `reset_peak` returned `start`"
    if cuda: return f'{torch.cuda.max_memory_allocated()/2**30:.2f}'
    hwm = _vm('VmHWM')
    return f'{hwm:.2f} RSS (process peak, not reset)' if start < 0 else f'{hwm:.2f} RSS (+{hwm-start:.2f})'

def stem(enc):
    "The stem of encoder `enc` as built: a ResNet's standard (7x7/2 conv + max-pool) or small one (3x3/1, no pool), or its first conv"
    c = next(m for m in enc.modules() if isinstance(m, nn.Conv2d))
    k = (c.kernel_size[0], c.stride[0], any(isinstance(m, nn.MaxPool2d) for m in enc.modules()))
    if k == (7, 2, True): return 'standard stem'
    if k == (3, 1, False): return 'small (CIFAR) stem'
    return f'first conv {c.kernel_size[0]}x{c.kernel_size[1]}/{c.stride[0]}'

def make_solver(a, name):
    "Solver `name` with this run's budget: Lanczos `--lanczos-steps` (its short stages CG `--cg-iters`), the others `--cg-iters`"
    if name == 'lanczos': return Lanczos(steps=a.lanczos_steps, recycle=a.recycle, short_stage=CG(iters=a.cg_iters))
    return solvers[name](iters=a.cg_iters)

class ChannelsLastInputs(Callback):
    "Downstream images in channels_last too (fastai's `ChannelsLast` converts the model only)"
    def before_batch(self):
        self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in self.xb)

OLD_DEFAULT = dict(lanczos_steps=15, hessian_frac=1.)   # the library's default before 2026-12-07: Lanczos-15 on the whole batch

def make_learner(a, dls, arch, solver, prec, old=False):
    "Our learner for one row: the run's stem, solver, Hessian fraction, precision and memory format (`old`: the old default's solve)"
    if old: a = argparse.Namespace(**{**vars(a), **OLD_DEFAULT})
    learn = bissl_learner(dls, ARCHS[arch], small_stem=a.small_stem, lower_steps=a.lower_steps, upper_steps=a.upper_steps,
                          solver=make_solver(a, solver), head_warmup=0, hessian_frac=a.hessian_frac)
    if prec == 'bf16': learn.to_bf16()
    if a.channels_last: learn.to_channelslast(use_amp=False); learn.add_cb(ChannelsLastInputs())
    return learn

def compile_lower(cb, info):
    "Lower steps run the lower model's forward `torch.compile`d (the Hessian's graph stays eager: compiled graphs have no double backward)"
    comp,step = torch.compile(cb.lower),cb.lower_step
    def compiled_step():
        if 'failed' in info: return step()
        low = cb.lower
        low.pretext_loss = lambda v1, v2: low.criterion(comp(v1.as_subclass(Tensor), v2.as_subclass(Tensor)))
        try: return step()
        except Exception as e: info['failed'] = f'compile failed ({type(e).__name__}: {str(e).strip().splitlines()[0][:150]}), eager'
        finally: del low.pretext_loss
        cb.lower_opt.zero_grad()
        return step()
    cb.lower_step = compiled_step

def conv1_formats(learn):
    "Hooks recording whether each input of the first conv of both backbones is channels_last; call the result to remove them"
    seen,hs = [],[]
    for enc in (learn.bilevel.lower.backbone, learn.model.backbone):
        c = next(m for m in enc.modules() if isinstance(m, nn.Conv2d))
        hs.append(c.register_forward_pre_hook(lambda m, x: seen.append(x[0].is_contiguous(memory_format=torch.channels_last))))
    def done():
        for h in hs: h.remove()
        return f'conv1 inputs channels_last: {sum(seen)}/{len(seen)}'
    return done

def run_ours(a, learn, cuda):
    "Time `a.alternations` alternations of `learn` after a warm-up one: seconds, peak memory, the per-lower-step profile"
    cb, sync = learn.bilevel, (torch.cuda.synchronize if cuda else (lambda: None))
    times,info = {'lower': 0., 'n': 0},{}
    stage = cb.lower_stage
    def timed_stage():
        sync(); t = time.perf_counter(); stage(); sync()
        times['lower'] += time.perf_counter() - t; times['n'] += 1
    cb.lower_stage = timed_stage
    if a.compile: compile_lower(cb, info)
    formats = conv1_formats(learn) if a.channels_last else None
    with learn.no_bar(), learn.no_logging():
        if a.ops_only: start = reset_peak(cuda)
        sync(); t = time.perf_counter()
        learn.fit_bilevel(alternations=1)                       # warm-up (and compilation)
        sync(); info['warm'] = time.perf_counter() - t
        if formats: info['formats'] = formats()
        if not a.ops_only:
            times.update(lower=0., n=0); start = reset_peak(cuda); sync(); t, c = time.perf_counter(), time.process_time()
            learn.fit_bilevel(alternations=a.alternations)
            sync(); total, cpu = time.perf_counter() - t, time.process_time() - c
            info['mem'] = peak(cuda, start)
        info['prof'] = profile_lower(cb, a.profile_steps, cuda) if a.profile_steps else {}
    if a.ops_only: return dict(info, mem=peak(cuda, start))
    alt = total/a.alternations  # includes one small validation batch per epoch
    lower = times['lower']/times['n']
    return dict(info, alt=alt, cpu=cpu/a.alternations, lower=lower/max(a.lower_steps, 1), upper=(alt - lower)/a.upper_steps)

# ---- the official trainer, imported from its checkout at run time ----
def import_official(d):
    "The official code's modules from checkout `d`, with stand-ins for what it imports but this run does not use"
    sys.path.insert(0, str(Path(d).resolve()))
    for name, attrs in (('wandb', {}), ('tap', dict(Tap=type('Tap', (), {})))):   # its logger; its configs' argument parser
        try: importlib.import_module(name)
        except ImportError: m = types.ModuleType(name); vars(m).update(attrs); sys.modules[name] = m
    import source.types as T
    if not hasattr(T, 'DetectionBackbones'): T.DetectionBackbones = Literal['none']   # imported by its models, absent from its types
    from source.models.simclr import SimCLR
    from source.models.downstream import DSClassifier
    from source.optimizers import get_optimizer
    from source.trainers import CosineLRSchedulerWithWarmup
    from source.bissl.ij_solvers import IJGradCalc, cg_solver
    from runs.bissl.classification.train import ClassificationBiSSLTrainer
    return types.SimpleNamespace(SimCLR=SimCLR, DSClassifier=DSClassifier, get_optimizer=get_optimizer, IJGradCalc=IJGradCalc,
                                 Sched=CosineLRSchedulerWithWarmup, cg_solver=cg_solver, Trainer=ClassificationBiSSLTrainer)

class AsDDP(nn.Module):
    "`m` as the official run script holds it: DDP-wrapped (`.module`), with `backbone` and `head` set on the wrapper"
    def __init__(self, m): super().__init__(); self.module,self.backbone,self.head = m,m.backbone,m.head
    def forward(self, *x): return self.module(*x)

def official_trainer(O, a, arch, enc, small, n_out, lower_batches, upper_batches, device):
    "The official `ClassificationBiSSLTrainer` as its run script builds it, on the network of our encoder `enc` and these batches"
    lower, upper = O.SimCLR(arch, '256-256-256', temp=0.5), O.DSClassifier(arch, n_classes=n_out)  # its SimCLR defaults
    for m in (lower, upper):
        if small: small_stem_(m.backbone)
        theirs, ours = m.backbone.state_dict(), enc.state_dict()
        if [v.shape for v in theirs.values()] != [v.shape for v in ours.values()] or stem(m.backbone) != stem(enc):
            raise ValueError(f'the official {arch} ({stem(m.backbone)}) is not our network ({stem(enc)})')
        m.backbone.load_state_dict(dict(zip(theirs, ours.values())))   # our weights, in its layout
    lower, upper = AsDDP(lower.to(device)), AsDDP(upper.to(device))
    S = bissl_settings()
    opt_p = O.get_optimizer('lars', [dict(params=lower.parameters(), weight_decay=S['lower_wd'])], lr=1.0, momentum=0.9)
    sched_p = O.Sched(opt_p, n_epochs=0, len_loader=0, warmup_epochs=0)
    sched_p.total_steps, sched_p.warmup_steps = a.lower_steps*500, 10*a.lower_steps   # as its run script sets them, 500 epochs
    opt_d = O.get_optimizer('sgd', [dict(params=upper.parameters(), weight_decay=5e-4)], lr=0.03, momentum=0.9)
    sched_d = O.Sched(opt_d, n_epochs=500, len_loader=a.upper_steps, warmup_epochs=0)
    ij = O.IJGradCalc(solver=O.cg_solver, parameters=tuple(lower.backbone.parameters()), criterion=lower.forward,
                      lam_dampening=S['damping'], solver_kwargs=dict(iter_num=a.cg_iters, verbose=False))
    dl = lambda bs: DataLoader(bs, batch_size=None)   # the batches as they are
    return O.Trainer(optimizers=dict(upper=opt_d, lower=opt_p), models=dict(upper=upper, lower=lower), device=device,
                     dataloaders=dict(upper=dl(upper_batches), lower=dl(lower_batches)), ij_grad_calc=ij,
                     lr_schedulers=dict(upper=sched_d, lower=sched_p), num_iters=dict(upper=a.upper_steps, lower=a.lower_steps))

def run_official(a, tr, cuda):
    "Time `a.alternations` of the official trainer's `train_one_epoch` (its alternation) after a warm-up one, and its two loops"
    sync, t = (torch.cuda.synchronize if cuda else (lambda: None)), dict(lower=0., upper=0.)
    def timed(k, loop):
        def f(**kw):
            sync(); t0 = time.perf_counter(); loop(**kw); sync(); t[k] += time.perf_counter() - t0
        return f
    tr._lower_train_loop, tr._upper_train_loop = timed('lower', tr._lower_train_loop), timed('upper', tr._upper_train_loop)
    lam = bissl_settings()['lam']
    with redirect_stdout(io.StringIO()):   # its progress prints
        sync(); t0 = time.perf_counter(); tr.train_one_epoch(lam); sync(); warm = time.perf_counter() - t0
        t.update(lower=0., upper=0.); start = reset_peak(cuda); sync(); t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.alternations): tr.train_one_epoch(lam)
        sync(); total, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = a.alternations
    return dict(alt=total/n, cpu=cpu/n, warm=warm, mem=peak(cuda, start), lower=t['lower']/n/max(a.lower_steps, 1),
                upper=t['upper']/n/a.upper_steps)

def plain(b): return tuple(o.as_subclass(Tensor).contiguous() for o in b)

def parser():
    "The command line"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--archs', nargs='+', default=['resnet18'], choices=list(ARCHS))
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--pretext-bs', type=int, default=256, help='images per view')
    p.add_argument('--bs', type=int, default=256, help='downstream batch')
    p.add_argument('--lower-steps', type=int, default=20)
    p.add_argument('--upper-steps', type=int, default=8)
    p.add_argument('--small-stem', action=argparse.BooleanOptionalAction, default=None,
                   help="a ResNet's small (CIFAR) stem or its standard one (default: the library's rule, small at <= 64 px)")
    p.add_argument('--solvers', nargs='+', default=['lanczos'], choices=[n for n in solvers if n != 'first_order'])
    p.add_argument('--lanczos-steps', type=int, default=inspect.signature(Lanczos).parameters['steps'].default,
                   help="Lanczos steps per stage (default: the library's)")
    p.add_argument('--recycle', type=int, default=inspect.signature(Lanczos).parameters['recycle'].default,
                   help="Lanczos: Ritz pairs carried from stage to stage (default: the learner's)")
    p.add_argument('--cg-iters', type=int, default=5, help="CG's iterations per upper step (ours and the official's)")
    p.add_argument('--hessian-frac', type=float, default=inspect.signature(BilevelCallback).parameters['hessian_frac'].default,
                   help="fraction in (0, 1] of the pretext batch's images in the Hessian (ours; default: the library's)")
    p.add_argument('--old-default', action='store_true', help="also a row with the library's old default solve (Lanczos-15 on the whole pretext batch)")
    p.add_argument('--alternations', type=int, default=2, help='timed, after one warm-up alternation')
    p.add_argument('--precisions', nargs='+', default=['fp32'], choices=['fp32', 'bf16'], help='bf16: `learn.to_bf16()` (autocast, fp32 weights)')
    p.add_argument('--bf16', action='store_true', help='the same as `--precisions bf16`')
    p.add_argument('--channels-last', action='store_true', help='ours in channels_last (`learn.to_channelslast`, views and batches too)')
    p.add_argument('--compile', action='store_true', help="torch.compile our lower model's forward in the lower steps")
    p.add_argument('--official', metavar='DIR', help='a checkout of the official BiSSL code: time its trainer in this run')
    p.add_argument('--profile-steps', type=int, default=3, help='lower steps profiled after the timing (0: none)')
    p.add_argument('--ops-only', action='store_true', help='only the per-lower-step profile, after one warm-up alternation')
    return p

def synthetic_dls(a):
    "`BilevelDataLoaders` on random uint8 images and 10 classes: enough pretext and downstream batches for the run"
    n = max(a.pretext_bs, a.bs)*a.upper_steps
    x = torch.randint(0, 256, (n, 3, a.size, a.size), dtype=torch.uint8)
    y = torch.arange(n) % 10
    return BilevelDataLoaders.from_tensors(x, x, y, x[:a.bs], y[:a.bs], size=a.size, bs=a.bs, pretext_bs=a.pretext_bs, device=a.device)

def main():
    a = parser().parse_args()
    if a.bf16: a.precisions = ['bf16']
    warnings.filterwarnings('ignore')
    set_seed(0)
    dls = synthetic_dls(a)
    cuda = torch.device(a.device).type == 'cuda'
    gpu = torch.cuda.get_device_name(a.device) if cuda else 'CPU'
    small = ifnone(a.small_stem, img_size(dls) <= 64)   # `bissl_learner`'s rule
    how = {True: '--small-stem', False: '--no-small-stem', None: "the library's rule: small at <= 64 px"}[a.small_stem]
    O = import_official(a.official) if a.official and not a.ops_only else None
    if a.channels_last:   # the lower steps draw their views from `pretext_batch`, outside fastai's batch callbacks
        pb = dls.pretext_batch
        dls.pretext_batch = lambda: tuple(v.contiguous(memory_format=torch.channels_last) for v in pb())
    recs = {arch: recorded(gpu, arch, (a.size, a.pretext_bs, a.bs, small), a.lower_steps, a.upper_steps) for arch in a.archs
            if arch != 'tiny_cnn'}
    rec_note = (f"official figures recorded in ../shared/design/BISSL.md, not measured in this run, for {', '.join(k for k,v in recs.items() if v)}"
                if any(recs.values()) else 'no official figure recorded in ../shared/design/BISSL.md for this setting')
    print(f'device {a.device} ({gpu}), torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), {a.size} px, '
          f'2x{a.pretext_bs} pretext views, {a.bs} downstream, N_L={a.lower_steps}, N_U={a.upper_steps}, '
          f'Lanczos {a.lanczos_steps} steps (recycling {a.recycle} Ritz pairs), CG {a.cg_iters} iterations, '
          f'ResNets with the {"small (CIFAR)" if small else "standard"} stem ({how}), Hessian on {a.hessian_frac:g} of the pretext batch'
          + (', ours channels_last' if a.channels_last else '') + (", ours with the lower forward compiled" if a.compile else '')
          + (f'; official trainer from {a.official}, measured in this run' if O else '') + f'; {rec_note}\n')
    print('lower step s: lower stage / N_L (ours: with building the Hessian; official: its `_lower_train_loop`); upper step s: '
          '(alternation - lower stage) / N_U (official: its `_upper_train_loop`); warm-up extra s: the warm-up alternation over a '
          'timed one (compilation, first-call costs); ratio: official alternation over this row\'s\n')
    print('| trainer | arch | solver | precision | network, options | lower step s | upper step s | alternation s | warm-up extra s '
          '| images/s | alternation CPU s | upper/lower | official alternation s | ratio | aten ops / lower step '
          '| kernels / lower step | GPU busy (lower) | peak GiB |')
    print('| --- '*18 + '|')
    def row(trainer, arch, solver, prec, opts, r, off=None, ops='–', launches='–', busy='–'):
        f = lambda k, fmt: format(r[k], fmt) if r.get(k) is not None else '–'
        alt = r.get('alt')
        imgs = f"{(2*a.pretext_bs*(a.lower_steps + r.get('hfrac', 1.)) + a.bs*a.upper_steps)/alt:.0f}" if alt and r.get('cpu') else '–'
        warm = f"{r['warm'] - alt:.2f}" if 'warm' in r else '–'
        ratio = f'{off[0]/alt:.2f}x' + (' (recorded)' if off[1] else '') if off and alt else '–'
        ul = f"{r['upper']/r['lower']:.1f}x" if r.get('lower') and r.get('upper') else '–'
        print(f"| {trainer} | {arch} | {solver} | {prec} | {opts} | {f('lower', '.3f')} | {f('upper', '.3f')} | {f('alt', '.2f')} "
              f"| {warm} | {imgs} | {f('cpu', '.2f')} | {ul} | {format(off[0], '.2f') if off else '–'} | {ratio} | {ops} "
              f"| {launches} | {busy} | {r.get('mem', '–')} |", flush=True)
    for arch in a.archs:
        rec,off = recs.get(arch),None
        if rec and not a.ops_only:
            off = (rec[2], True)
            row('official, recorded (BISSL.md), not measured in this run', arch, 'layerwise CG-5', 'fp32', 'standard stem',
                dict(lower=rec[0], upper=rec[1], alt=rec[2]))
        if O is not None:
            enc = create_encoder(ARCHS[arch], 3, False, small)   # the network `bissl_learner` builds
            if arch not in ('resnet18', 'resnet50'):
                row('official, measured in this run', arch, '–', '–', 'the official code builds resnet18 and resnet50 only', {})
            else:
                lower_batches = [plain(dls.pretext_batch()) for _ in range(max(a.lower_steps, 1))]
                upper_batches = [plain(b) for b in itertools.islice(dls.train, a.upper_steps)]
                tr = official_trainer(O, a, arch, enc, small, 10, lower_batches, upper_batches, a.device)
                r = run_official(a, tr, cuda)
                off = (r['alt'], False)
                row('official, measured in this run', arch, f'layerwise CG-{a.cg_iters}, graph rebuilt per iteration', 'fp32',
                    f'{stem(tr.models["lower"].backbone)}, its SimCLR and timm ResNet, our weights', r, off)
                del tr, lower_batches, upper_batches, r
        for solver, prec, old in [(s, q, False) for s in a.solvers for q in a.precisions] + ([('lanczos', 'fp32', True)] if a.old_default else []):
            learn = make_learner(a, dls, arch, solver, prec, old)
            frac = OLD_DEFAULT['hessian_frac'] if old else a.hessian_frac
            if O is not None and arch in ('resnet18', 'resnet50'):
                assert [q.shape for q in learn.bilevel.lower.backbone.parameters()] == [q.shape for q in enc.parameters()]
            r = run_ours(a, learn, cuda)
            prof = r['prof']
            opts = ', '.join([stem(learn.bilevel.lower.backbone)] + ([r['formats']] if a.channels_last else [])
                             + ([r.get('failed', 'lower forward compiled')] if a.compile else [])
                             + ([f'Hessian on {frac:g} of the pretext batch'] if frac != 1. else []))
            ops = f"{prof['aten']:.0f}" if 'aten' in prof else '–'
            launches,busy = (f"{prof['launches']:.0f}", f"{prof['busy']:.2f}") if 'launches' in prof else ('–', '–')
            row('bissl_fast, old default' if old else 'bissl_fast', arch, f"lanczos-{OLD_DEFAULT['lanczos_steps']}" if old else solver, prec, opts, {'mem': r['mem']} if a.ops_only else dict(r, hfrac=frac), None if a.ops_only else off,
                ops, launches, busy)
            del learn, r   # free this row's learner before the next one is measured
        gc.collect()

if __name__ == '__main__': main()
