"""Adding a control to the study is one record: a `Control` registered with `add_control` runs its own stage, gets
its own tuned settings and fine-tunings, and has its record in `pipelines.json` and its row in the table (tiny digits,
CPU)."""
import contextlib, io
from functools import partial
import numpy as np, pytest, torch
from fastai.vision.all import defaults
from fastai.callback.progress import ProgressCallback
from bissl_fast.datasets import digits_dls
from bissl_fast.hypergrad import Lanczos
from bissl_fast.compare import Control, add_control, study_controls, compare, pretrain, load_json, ft_file
from bissl_fast.compare import load_pipelines

DLS = partial(digits_dls, bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')
KW = dict(pretext_epochs=2, alternations=2, ft_epochs=2, seeds=(0, 1), tune=2, probe_epochs=1, short=0.5, show=False,
          pretext_kwargs=dict(proj_dims=(64, 64)),
          bissl_kwargs=dict(head_warmup=1, lower_steps=5, upper_steps=2, solver=Lanczos(steps=2)))

# The new control, whole: a baseline whose stage 1 runs half the epochs, into `out/half`.
def half_pretext(run):
    "Its own stage: stage 1 with half the pretext epochs"
    s = run.s
    return {'half/pretext.json': pretrain(run.dls_fn, run.arch, s.pretext, max(1, s.pretext_epochs//2), s.pretext_lr,
                                          out=run.out/'half', tag=run.data, **run.skw, **run.pkw)}

HALF = Control('half', 'baseline, half the pretext epochs → fine-tune', 'baseline, half pretext', 'half/pretext.pth',
               ('half/pretext.json',), half_pretext)

@pytest.fixture
def half(monkeypatch):
    "The registry with the new control, as a user's `add_control(HALF)` leaves it; restored afterwards"
    monkeypatch.setattr(defaults, 'callbacks', [c for c in defaults.callbacks if c is not ProgressCallback])
    before = dict(study_controls)
    add_control(HALF)
    yield HALF
    study_controls.clear(); study_controls.update(before)

def test_a_new_control_is_one_record(half, tmp_path):
    assert list(study_controls)[-2:] == ['half', 'bissl']  # BiSSL, the reference, stays last
    with contextlib.redirect_stdout(io.StringIO()): df = compare(DLS, 'tiny_cnn', out=tmp_path, controls=['half'], **KW)
    assert df.key.tolist() == ['baseline', 'half', 'bissl']
    rec = {r['key']: r for r in load_pipelines(tmp_path)}['half']
    stage = load_json(tmp_path/'half'/'pretext.json')
    assert rec['backbone'] == 'half/pretext.pth' and rec['stages'] == {'pretext': 'half/pretext.json'}
    assert rec['src'] == stage['cfg'] and rec['tuned'] and rec['runs'] == ['full', 'short', 'probe']
    assert stage['cfg']['epochs'] == 1 and load_json(tmp_path/'pretext.json')['cfg']['epochs'] == 2
    a,b = torch.load(tmp_path/'half'/'pretext.pth'),torch.load(tmp_path/'pretext.pth')
    assert not all(torch.equal(a[k], b[k]) for k in a)  # its own backbone
    # its own numbers: tuned on its own backbone, fine-tuned with each seed and run kind, in its row
    cands = lambda k: load_json(tmp_path/'tune'/f'{k}.json')['finetune']['settings']
    assert cands('half') == cands('baseline')  # the same candidates, its own choice
    row = df.set_index('key').loc['half']
    for kind,col in (('full', 'acc'), ('short', 'short'), ('probe', 'probe')):
        accs = [load_json(ft_file(tmp_path, 'half', s, kind))['acc'] for s in (0, 1)]
        assert row[f'{col}_mean'] == pytest.approx(np.mean(accs)), kind
        bissl = [load_json(ft_file(tmp_path, 'bissl', s, kind))['acc'] for s in (0, 1)]
        assert row[f'd_{col}'] == pytest.approx(np.mean(bissl) - np.mean(accs)), kind  # BiSSL − it, paired by seed
    assert row.knn_acc == stage['knn'] and row.pretext_s == stage['time_s'] and row.bissl_s == 0
    md = (tmp_path/'results.md').read_text()
    assert '| baseline, half the pretext epochs → fine-tune |' in md and '| baseline, half the pretext epochs |' in md
    # a study that does not name it does not have it; the same folder, every stage and run read back
    with contextlib.redirect_stdout(io.StringIO()): df2 = compare(DLS, 'tiny_cnn', out=tmp_path, **KW)
    assert df2.key.tolist() == [r['key'] for r in load_pipelines(tmp_path)] == ['baseline', 'bissl']
    assert df2.acc_mean.tolist() == df.set_index('key').loc[['baseline', 'bissl'], 'acc_mean'].tolist()

def test_an_unknown_control_is_named(tmp_path):
    with pytest.raises(ValueError, match='`controls` must be a list of keys of `study_controls`'):
        compare(DLS, 'tiny_cnn', out=tmp_path, controls=['half'], **KW)
    assert not (tmp_path/'pretext.json').exists()
