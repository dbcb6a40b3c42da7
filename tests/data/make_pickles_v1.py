"""Run with the code before the split of data.py and pretext.py (#31), for tests/test_pickles_v1.py:
`PYTHONPATH=<old checkout> python make_pickles_v1.py OUT`, then copy OUT's files here."""
import json, os, sys, warnings; warnings.filterwarnings('ignore')
from functools import partial
from pathlib import Path
import torch, fastai
from fastai.vision.all import set_seed
import bissl_fast.data, bissl_fast.pretext
from bissl_fast.data import BilevelDataLoaders
from bissl_fast.pretext import tiny_cnn, create_encoder, pretext_learner, BYOL

out = Path(sys.argv[1]).resolve(); out.mkdir(parents=True, exist_ok=True); os.chdir(out)
set_seed(0)
x,y = torch.randint(0, 256, (24, 1, 8, 8), dtype=torch.uint8),torch.arange(24) % 2
dls = BilevelDataLoaders.from_tensors(x, x[:12], y[:12], x[12:], y[12:], size=8, bs=4, pretext_bs=4, views='byol',
                                      device='cpu')
arch = partial(tiny_cnn, widths=(4, 8))
learn = pretext_learner(dls, arch, 'simclr', proj_dims=(8, 4), path='.')
learn.export('pretext_export_v1.pkl')  # the learner: SimCLR, callbacks, metric, the pretext loaders' transforms
set_seed(1)
models = dict(simclr=learn.model, byol=BYOL(create_encoder(arch), proj_dims=(8, 4), pred_dims=(8, 4)))
v = torch.rand(2, 3, 8, 8)
for m in models.values(): m.eval()
with torch.no_grad(): want = {k:m(v, v) for k,m in models.items()}
torch.save(dict(dls=dls, models=models, v=v, want=want), 'pickles_v1.pkl')
# what `from bissl_fast.data import *` and `from bissl_fast.pretext import *` gave, and what pickled them
meta = {m.__name__:m.__all__ for m in (bissl_fast.data, bissl_fast.pretext)}
meta['versions'] = dict(torch=torch.__version__, fastai=fastai.__version__)
(out/'all_v1.json').write_text(json.dumps(meta, indent=1))
print(sorted(p.name for p in out.iterdir()), {p.name:p.stat().st_size for p in out.iterdir()})
