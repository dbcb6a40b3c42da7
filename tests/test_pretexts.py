"Each added pretext (VICReg, Barlow Twins, MoCo v3) runs stage 1 and then as BiSSL's lower level, starting from that stage-1 learner."
import pytest, torch
from fastai.vision.all import set_seed, ShortEpochCallback
from bissl_fast.datasets import digits_dls
from bissl_fast.pretext import tiny_cnn, pretext_learner, VICReg, BarlowTwins, MoCo
from bissl_fast.learner import bissl_learner
from bissl_fast.hypergrad import CG

HEADS = dict(vicreg=dict(proj_dims=(64, 64)), barlow_twins=dict(proj_dims=(64, 64)),
             moco=dict(proj_dims=(64, 32), pred_dims=(64, 32), temperature=0.5))

@pytest.fixture(scope='module')
def dls(): return digits_dls(bs=16, pretext_bs=32, size=16, n_labeled_per_class=4, device='cpu')

@pytest.mark.parametrize('name,cls', [('vicreg', VICReg), ('barlow_twins', BarlowTwins), ('moco', MoCo)])
def test_stage1_then_lower_level(dls, name, cls):
    set_seed(0)
    pl = pretext_learner(dls, tiny_cnn, name, metrics=[], **HEADS[name])
    assert type(pl.model) is cls
    with pl.no_bar(), pl.no_logging(): pl.fit_one_cycle(1, 3e-3, cbs=ShortEpochCallback(0.3))
    assert all(torch.isfinite(torch.tensor(pl.recorder.losses)))
    learn = bissl_learner(dls, tiny_cnn, pretrained=pl, lower_steps=2, upper_steps=1, solver=CG(iters=2), head_warmup=0)
    assert type(learn.model.lower) is cls
    th0 = [p.detach().clone() for p in learn.lower_backbone.parameters()]
    with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=1)
    assert learn.bilevel.n_alt == 1 and learn.bilevel.n_lower == 2
    assert sum((a-b).abs().sum().item() for a,b in zip(th0, learn.lower_backbone.parameters())) > 0
    assert all(torch.isfinite(torch.tensor(float(v))) for v in learn.recorder.values[-1])
