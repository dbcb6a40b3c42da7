"""What was saved before `data.py` and `pretext.py` were split by job (#31) loads after it: pickles name a class by its
module, and the classes moved (`views`, `images`, `backbones`, `methods`), so the old modules re-export them. The
fixtures were written by `tests/data/make_pickles_v1.py` with the code before the split: an exported pretext learner,
SimCLR and BYOL models with their outputs, and a `BilevelDataLoaders` of BYOL's views; `all_v1.json` holds what
`from bissl_fast.data import *` and `from bissl_fast.pretext import *` gave then."""
import json, pickletools, warnings
from pathlib import Path
import pytest, torch
import fastai
from fastai.learner import load_learner
from fastai.torch_core import TensorImage
import bissl_fast.data, bissl_fast.pretext, bissl_fast.views, bissl_fast.methods, bissl_fast.backbones

DATA = Path(__file__).parent/'data'
META = json.loads((DATA/'all_v1.json').read_text())

@pytest.mark.parametrize('mod', [bissl_fast.data, bissl_fast.pretext], ids=lambda m: m.__name__)
def test_old_names_still_exported(mod):
    old = META[mod.__name__]
    assert not set(old) - set(mod.__all__), sorted(set(old) - set(mod.__all__))
    ns = {}
    exec(f'from {mod.__name__} import *', ns)
    assert all(n in ns for n in old)

def _pickled_modules(f):
    "The `bissl_fast` modules that the pickle in torch file `f` names its classes by (protocol 2's `GLOBAL`s)"
    import zipfile
    with zipfile.ZipFile(f) as z: data = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    return {a.split()[0] for op,a,_ in pickletools.genops(data) if op.name == 'GLOBAL' and a.startswith('bissl_fast.')}

def _same_fastai():
    if fastai.__version__ != META['versions']['fastai']:
        pytest.skip(f"fastai {fastai.__version__}: the fixture's loaders were pickled by fastai "
                    f"{META['versions']['fastai']}, "
                    'and fastai does not promise its own objects load across its versions')

def test_fixture_names_the_old_modules():
    "The fixtures do test the move: their classes are named by the modules they lived in before"
    mods = _pickled_modules(DATA/'pickles_v1.pkl') | _pickled_modules(DATA/'pretext_export_v1.pkl')
    assert {'bissl_fast.data', 'bissl_fast.pretext'} <= mods, mods
    assert not mods & {'bissl_fast.views', 'bissl_fast.images', 'bissl_fast.backbones', 'bissl_fast.methods'}, mods

def test_old_models_load():
    d = torch.load(DATA/'pickles_v1.pkl', weights_only=False)
    for k,m in d['models'].items():
        assert type(m) is bissl_fast.pretext.pretext_models[k] and type(m).__module__ == 'bissl_fast.methods'
        assert type(m.backbone) is bissl_fast.backbones.Encoder
        with torch.no_grad(): got = m(d['v'], d['v'])
        for a,b in zip(got, d['want'][k]): torch.testing.assert_close(a, b)

def test_old_loaders_load():
    _same_fastai()
    dls = torch.load(DATA/'pickles_v1.pkl', weights_only=False)['dls']
    assert type(dls) is bissl_fast.data.BilevelDataLoaders
    views = [t for t in dls.pretext.after_batch.fs if isinstance(t, bissl_fast.views.PretextViews)]
    assert len(views) == 1 and type(views[0].augs2.fs[-1]) is bissl_fast.views.RandomSolarize  # BYOL's second view
    v1,v2 = dls.pretext_batch()
    assert v1.shape == v2.shape == (4, 3, 8, 8) and not torch.equal(v1, v2)
    xb,yb = dls.one_batch()
    assert xb.shape == (4, 3, 8, 8) and yb.shape == (4,)

def test_old_export_loads():
    _same_fastai()
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='load_learner` uses')  # fastai's reminder that unpickling runs code
        learn = load_learner(DATA/'pretext_export_v1.pkl')
    assert type(learn) is bissl_fast.pretext.PretextLearner and type(learn.model) is bissl_fast.methods.SimCLR
    assert any(type(cb) is bissl_fast.pretext.PretextCallback for cb in learn.cbs)
    assert [type(m) for m in learn.metrics] == [bissl_fast.pretext.KNNAccuracy]
    views = [t for t in learn.dls.after_batch.fs if isinstance(t, bissl_fast.views.PretextViews)]
    assert len(views) == 1
    v1,v2 = views[0]((TensorImage(torch.rand(4, 3, 8, 8)),))
    loss = learn.model.pretext_loss(v1, v2)
    assert torch.isfinite(loss)
