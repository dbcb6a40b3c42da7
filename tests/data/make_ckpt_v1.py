"Run with the code before #22 (version-1 checkpoints): PYTHONPATH=<old checkout>:tests python make_v1.py OUT"
import warnings, sys, json; warnings.filterwarnings('ignore')
from pathlib import Path
import torch
from bissl_fast.learner import bissl_learner, Checkpoint
from ckpt_v1_model import toy_learner, StopAt
out = Path(sys.argv[1])
learn = toy_learner(bissl_learner, out, lanczos_steps=2, recycle=2)
ck = Checkpoint('ckpt_v1_fit', every=1, minutes=None)
with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=6, cbs=[ck, StopAt(4)])
learn.save('ckpt_v1_learner')
cb = learn.bilevel
meta = dict(n_alt=cb.n_alt, n_lower=cb.n_lower, prior_len=len(cb.prior[0]), weight_sum=float(sum(p.double().sum() for p in learn.model.parameters())))
(out/'models'/'ckpt_v1.json').write_text(json.dumps(meta))
print(meta)
full = toy_learner(bissl_learner, out/'full', lanczos_steps=2, recycle=2)
with full.no_bar(), full.no_logging(): full.fit_bilevel(alternations=6)
meta['full_weight_sum'] = float(sum(p.double().sum() for p in full.model.parameters()))
(out/'models'/'ckpt_v1.json').write_text(json.dumps(meta))
print(meta)
