"""The process side of tests/test_distributed.py: tiny stage-1 and BiSSL runs, in one process or as one rank of several.
`python tests/dist_worker.py OUT SCENARIO...` runs each scenario under `learn.distrib_ctx()` (rank and world from the
environment, as `torchrun` sets them) and rank 0 saves `{scenario: final parameters}` to OUT."""
import os, sys, signal, random, warnings
warnings.filterwarnings('ignore')
import torch, torch.distributed as dist
from fastai.vision.all import *
from bissl_fast.data import BilevelDataLoaders
from bissl_fast.pretext import Encoder, SimCLR, BYOL, VICReg, BarlowTwins, MoCo, pretext_learner
from bissl_fast.learner import bissl_learner
from bissl_fast.hypergrad import CG
from bissl_fast.distributed import init_distributed, world_size, rank
import bissl_fast.bilevel as bl  # the callback's module: `noreduce` swaps the `average` its lower stage reduces by

P_BS, BS = 16, 8   # global pretext and downstream batch sizes; each of N ranks loads 1/N of them

def tiny_dls():
    "Fixed random images; no random augmentation, so N ranks see exactly the halves of the 1-process batches"
    g = torch.Generator().manual_seed(0)
    x = lambda n: torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    y = lambda n: torch.randint(0, 3, (n,), generator=g)
    w = world_size()
    return BilevelDataLoaders.from_tensors(x(64), x(32), y(32), x(16), y(16), size=8, bs=BS//w, pretext_bs=P_BS//w,
                                           views=[], train_tfms=[], device='cpu')

def tiny_model(pretext):
    "A small encoder without batch norm (no coupling across samples) and linear pretext heads"
    body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.GELU(), nn.Conv2d(8, 16, 3, 2, 1), nn.GELU())
    enc = Encoder(body)
    if pretext in ('byol', 'moco'): return dict(byol=BYOL, moco=MoCo)[pretext](enc, proj_dims=(16,), pred_dims=(16,), decay=0.9)
    m = dict(simclr=SimCLR, vicreg=VICReg, barlow_twins=BarlowTwins)[pretext](enc, proj_dims=(16,))
    # VICReg's and Barlow Twins' losses are blind to a shift of the embeddings: the projector's bias gets a gradient of
    # pure rounding noise, which Adam would scale up to full steps, different in 1 and 2 processes. The test drops it.
    if pretext != 'simclr': m.projector[-1].register_parameter('bias', None)
    return m

class GatherLayer(torch.autograd.Function):
    "The common gather of SimCLR code bases: all-gather forward, all-reduce backward keeping the local slice; not differentiable twice"
    @staticmethod
    def forward(ctx, x):
        out = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x)
        return tuple(out)
    @staticmethod
    def backward(ctx, *grads):
        g = torch.stack(grads)
        dist.all_reduce(g)
        return g[dist.get_rank()]

def gatherlayer_cat(t): return torch.cat(GatherLayer.apply(t))

def _flat(m): return torch.cat([p.detach().reshape(-1) for p in m.parameters()])

class Crash(Callback):
    "Rank 1 dies (`kill`) or raises (`raise`) at its 3rd upper step"
    def __init__(self, how): self.how,self.n = how,0
    def after_batch(self):
        self.n += 1
        if rank() == 1 and self.n == 3:
            if self.how == 'kill': os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError('boom on rank 1')

def _bissl(pretext, path, cbs=()):
    set_seed(0)
    model = tiny_model(pretext)
    return bissl_learner(tiny_dls(), pretext=model, pretrained=model.backbone.state_dict(), lower_steps=3, upper_steps=2,
                         solver=CG(iters=3), damping=1., lr=0.05, lower_lr=1e-2, head_warmup=0, cbs=list(cbs), path=path)

def _params(learn): return dict(theta_P=_flat(learn.lower_backbone), theta_D=_flat(learn.upper_backbone), phi_D=_flat(learn.head))

class SaveAndStop(Callback):
    "Checkpoint after the first epoch and stop, as a killed run that saved every epoch"
    order = 70
    def after_epoch(self): self.learn.save('ck'); raise CancelFitException

def run_resume(path):
    "4 alternations straight, and the same run stopped after its first epoch (2 alternations), loaded by a new learner and finished: both final params"
    straight = _bissl('simclr', path)
    with straight.distrib_ctx(timeout=20): straight.fit_bilevel(alternations=4)
    first = _bissl('simclr', path)
    with first.distrib_ctx(timeout=20): first.fit_bilevel(alternations=4, cbs=SaveAndStop())
    torch.manual_seed(123); random.seed(123)   # a new process would start from other random states
    second = _bissl('simclr', path).load('ck')
    with second.distrib_ctx(timeout=20): second.fit_bilevel(alternations=4, start_epoch=1)
    return dict(straight=_params(straight), resumed=_params(second), n_alt=second.bilevel.n_alt)

def run_valid():
    """Predictions of 13 valid items (not a multiple of 2 ranks: padded) gathered by `get_preds`, and the validation loss
    (which, as with fastai's `DistributedDL`, counts the padding item)"""
    from bissl_fast.distributed import ShardedLearner
    set_seed(0)
    x = torch.linspace(-1, 1, 13)[:,None]
    dls = DataLoaders.from_dsets(list(zip(x, 2*x)), list(zip(x, 2*x)), bs=4, device='cpu')
    learn = ShardedLearner(dls, nn.Linear(1, 1), loss_func=MSELossFlat())
    with learn.distrib_ctx(timeout=20):
        preds,targs = learn.get_preds()
        loss = learn.validate()[0]
    return dict(preds=preds.flatten().sort().values, targs=targs.flatten().sort().values, loss=torch.tensor(loss))

def run(scenario, fit=True):
    "Run `scenario` ('stage1-simclr', 'bissl-byol', 'bissl-vicreg-nogather', 'bissl-simclr-gatherlayer', 'bissl-byol-noreduce', 'kill', 'raise'); final params (initial ones if not `fit`)"
    kind,pretext,*variant = scenario.split('-') if '-' in scenario else ('bissl', 'simclr', scenario)
    variant = variant[0] if variant else 'ok'
    set_seed(0)
    dls,model = tiny_dls(),tiny_model(pretext)
    if variant == 'gatherlayer' and world_size() > 1: model.gather = gatherlayer_cat
    if variant == 'nogather': model.gather = lambda t: t   # each rank's loss on its own slice only
    if kind == 'stage1':
        learn = pretext_learner(dls, pretext=model, metrics=[], lr=1e-2)
        with learn.distrib_ctx(timeout=60): learn.fit(2, 1e-2)
        m = learn.model
        return dict(theta=_flat(m.backbone), phi=_flat(m.projector))
    average = bl.average
    if variant == 'noreduce': bl.average = lambda ts: tuple(ts)   # HVPs and right-hand sides left per-rank
    cbs = [Crash(variant)] if variant in ('kill', 'raise') else []
    learn = bissl_learner(dls, pretext=model, pretrained=model.backbone.state_dict(), lower_steps=3, upper_steps=2,
                          solver=CG(iters=3), damping=1., lr=0.05, lower_lr=1e-2, head_warmup=0, cbs=cbs)
    try:
        if fit:
            with learn.distrib_ctx(timeout=20): learn.fit_bilevel(alternations=3 if not cbs else 1000)
    finally: bl.average = average
    return dict(theta_P=_flat(learn.lower_backbone), theta_D=_flat(learn.upper_backbone), phi_D=_flat(learn.head),
                phi_P=torch.cat([_flat(m) for n,m in learn.lower_model.named_children() if n != 'backbone']))

if __name__ == '__main__':
    out,*scenarios = sys.argv[1:]
    init_distributed(timeout=20)
    special = dict(resume=lambda: run_resume(Path(out).parent), valid=run_valid)
    res = {s: special[s]() if s in special else run(s) for s in scenarios}
    if rank() == 0: torch.save(res, out)
