"""`compare(tune=...)`'s guarantees on tiny data (CPU, seconds): tuning never reads the test split, each pipeline gets its own
settings when the data call for it, and the table carries the paired intervals."""
import contextlib, io, json, math
from functools import partial
import numpy as np, pytest, torch
from fastai.vision.all import defaults, set_seed, nn, deepcopy
from fastai.callback.progress import ProgressCallback
from bissl_fast.data import BilevelDataLoaders, pretext_augs
from bissl_fast.datasets import _digits, balanced_subset, digits_dls
from bissl_fast.compare import compare, _tune_all, tuning_dls, load_encoder, load_json, t_interval

@pytest.fixture(autouse=True)
def quiet(monkeypatch): monkeypatch.setattr(defaults, 'callbacks', [c for c in defaults.callbacks if c is not ProgressCallback])

def digits(permute_test=False):
    "The digits as `digits_dls` splits them (10 labels per class), the test labels optionally shuffled"
    x,y = _digits()
    test = torch.zeros(len(y), dtype=torch.bool)
    test[balanced_subset(y, int(torch.bincount(y).min()/3), seed=12345)] = True
    tr = (~test).nonzero().flatten()
    tr = tr[balanced_subset(y[tr], 10, seed=0)]
    yt = y[test]
    if permute_test: yt = yt[torch.randperm(len(yt), generator=torch.Generator().manual_seed(1))]
    return BilevelDataLoaders.from_tensors(x, x[tr], y[tr], x[test], yt, size=16, bs=10, pretext_bs=64, device='cpu',
                                           views=pretext_augs(16, flip=False))

KW = dict(pretext_epochs=1, alternations=2, head_warmup=1, ft_epochs=2, seeds=(0, 1), tune=2, probe_epochs=1, short=0.5,
          matched=False, scratch=False, show=False, pretext_kwargs=dict(proj_dims=(64, 64)),
          bissl_kwargs=dict(lower_steps=5, upper_steps=2, lanczos_steps=2))

def tuned(out, pipes=('baseline', 'bissl')): return {p: load_json(out/'tune'/f'{p}.json') for p in pipes}

@pytest.fixture(scope='module')
def studies(tmp_path_factory):
    "The same tiny tuned study twice: with the real test labels, and with them shuffled"
    d = tmp_path_factory.mktemp('studies')
    with contextlib.redirect_stdout(io.StringIO()):
        return {k: (compare(partial(digits, k), 'tiny_cnn', out=d/str(k), **KW), d/str(k)) for k in (False, True)}

def test_tuning_never_reads_the_test_split(studies):
    (df,out),(dfp,outp) = studies[False],studies[True]
    assert tuned(out) == tuned(outp)  # the same candidates, the same held-out accuracies and losses, the same choices
    assert (df.lr.tolist(), df.freeze_epochs.tolist(), df.wd.tolist()) == (dfp.lr.tolist(), dfp.freeze_epochs.tolist(), dfp.wd.tolist())
    assert not np.allclose(df.acc_mean, dfp.acc_mean)  # ... while the final numbers did read the (shuffled) test labels
    assert dfp.acc_mean.max() < 0.3  # shuffled labels: about chance

def test_the_table_carries_paired_intervals(studies):
    df,out = studies[False]
    md = (out/'results.md').read_text()
    assert '95% t-interval' in md and '| BiSSL − |' in md
    accs = {p: np.array([load_json(out/'finetune'/f'{p}_seed{s}.json')['acc'] for s in (0, 1)]) for p in ('baseline', 'bissl')}
    d = accs['bissl'] - accs['baseline']
    half = 12.706*d.std(ddof=1)/math.sqrt(2)  # the t quantile for 1 degree of freedom
    row = df.set_index('key').loc['baseline']
    assert row.d_acc == pytest.approx(d.mean()) and row.d_acc_ci == pytest.approx(half, rel=1e-3)
    assert f'{d.mean()*100:+.2f} ± {half*100:.2f}' in md
    for c in ('d_short', 'd_short_ci', 'd_probe', 'd_probe_ci'): assert np.isfinite(row[c]), c
    assert t_interval([0.5])[1] != t_interval([0.5])[1]  # NaN: no interval from one seed

def scaled(enc, k):
    "A copy of `enc` whose features are `k` times larger (its last BatchNorm's scale and shift)"
    e = deepcopy(enc); bn = [m for m in e.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    with torch.no_grad(): bn.weight.mul_(k); bn.bias.mul_(k)
    return e

def test_settings_differ_when_the_data_make_them_differ(tmp_path):
    "Features 100× larger want a 1000× smaller lr: two 'pipelines' made so get different choices among the same candidates"
    dfn = partial(digits_dls, bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')
    set_seed(0); enc = load_encoder(dfn(), 'tiny_cnn')
    cands = [dict(lr=1e-3), dict(lr=1.)]
    with contextlib.redirect_stdout(io.StringIO()):
        res = _tune_all(partial(tuning_dls, dfn), dict(small=scaled(enc, 1), big=scaled(enc, 100)), cands, tmp_path, 0,
                        epochs=10, method='probe', freeze_epochs=0, wd=0.)
    assert [res[p]['finetune']['chosen'] for p in ('small', 'big')] == [dict(lr=1.), dict(lr=1e-3)], res
    assert load_json(tmp_path/'tune'/'big.json')['finetune']['chosen'] == dict(lr=1e-3)
