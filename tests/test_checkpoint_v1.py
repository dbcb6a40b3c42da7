"""Checkpoints written before `BilevelCallback` owned its state (layout version 1, by `tests/data/make_ckpt_v1.py` with that
code) load into today's learner, and a fit resumed from one ends with the weights of the old code's uninterrupted run
(to the last bits on the machine and torch that wrote the fixture; to rounding elsewhere)."""
import json, shutil, warnings
from pathlib import Path
import pytest, torch
from bissl_fast.learner import bissl_learner
from bissl_fast.checkpoint import Checkpoint, ckpt_version
from bissl_fast.hypergrad import Lanczos
from ckpt_v1_model import toy_learner

DATA = Path(__file__).parent/'data'
META = json.loads((DATA/'ckpt_v1.json').read_text())

def learner(tmp_path, *files):
    (tmp_path/'models').mkdir(exist_ok=True)
    for f in files: shutil.copy(DATA/f, tmp_path/'models'/f)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return toy_learner(bissl_learner, tmp_path, solver=Lanczos(steps=2, recycle=2))

def weight_sum(learn): return float(sum(p.double().sum() for p in learn.model.parameters()))

def test_v1_learner_file_loads(tmp_path):
    learn = learner(tmp_path, 'ckpt_v1_learner.pth').load('ckpt_v1_learner')
    cb = learn.bilevel
    assert (cb.n_alt, cb.n_lower, len(cb.solver.prior[0])) == (META['n_alt'], META['n_lower'], META['prior_len'])
    assert abs(weight_sum(learn) - META['weight_sum']) < 1e-12

def test_v1_checkpoint_resumes_exactly(tmp_path):
    learn = learner(tmp_path, 'ckpt_v1_fit.pth')
    ck = Checkpoint('ckpt_v1_fit', every=1, minutes=None)
    start = ck.resume(learn)
    with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=6, start_epoch=start, cbs=ck)
    assert learn.bilevel.n_alt == 6
    # bit for bit (|Δ| < 1e-12) with the torch and CPU that wrote the fixture; another torch or CPU code path rounds
    # differently (3e-8 under torch 2.5.1), which the smooth toy model does not amplify
    assert abs(weight_sum(learn) - META['full_weight_sum']) < 1e-6, (weight_sum(learn), META['full_weight_sum'])

def test_newer_layout_is_refused(tmp_path):
    learn = learner(tmp_path)
    torch.save(dict(learn.checkpoint_state(), version=ckpt_version+1), tmp_path/'models'/'future.pth')
    with pytest.raises(ValueError, match=f'layout version {ckpt_version+1}; this bissl_fast reads versions 1 to {ckpt_version}'):
        learn.load('future')
