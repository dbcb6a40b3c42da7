"The mission line, verbatim: `learn = bissl_learner(dls, resnet50).fit_bilevel(10)` trains for real and returns the learner."
import warnings
import torch
from fastai.vision.all import resnet50, set_seed
from bissl_fast.all import BilevelLearner, bissl_learner, digits_dls

def test_mission_line():
    set_seed(0)
    dls = digits_dls(bs=16, pretext_bs=2, size=8, n_labeled_per_class=2, valid_frac=0.05, device='cpu')  # 1 batch an epoch
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        learn = bissl_learner(dls, resnet50)
    assert any('from random weights' in str(o.message) for o in w), 'starting from scratch must be said'
    theta_D0 = [p.detach().clone() for p in learn.upper_backbone.parameters()]
    theta_P0 = [p.detach().clone() for p in learn.lower_backbone.parameters()]
    with learn.no_bar(), learn.no_logging():
        res = learn.fit_bilevel(10)
    assert isinstance(res, BilevelLearner) and res is learn
    assert learn.bilevel.n_alt == 10 and learn.bilevel.n_lower == 200
    assert any(not torch.equal(a, b) for a, b in zip(theta_D0, learn.upper_backbone.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(theta_P0, learn.lower_backbone.parameters()))
    vals = learn.recorder.values
    assert len(vals) == 10 and all(torch.isfinite(torch.tensor(v[0])) for v in vals)
