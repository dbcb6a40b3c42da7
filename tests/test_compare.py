"""`compare(tune=...)`'s guarantees on tiny data (CPU, seconds): tuning never reads the test split, each pipeline gets its own
settings when the data call for it, and the table carries the paired intervals; `compare_repeats` (whole-pipeline repeats)
runs the same in parallel processes, resumes inside a repeat, reruns every stage per repeat and stays paired."""
import contextlib, inspect, io, json, math, re, shutil
from functools import partial
import numpy as np, pytest, torch
from fastai.vision.all import defaults, set_seed, nn, deepcopy
from fastai.callback.progress import ProgressCallback
from bissl_fast.data import BilevelDataLoaders, pretext_augs
from bissl_fast.datasets import _digits, balanced_subset, digits_dls
import bissl_fast.compare as cmp
from bissl_fast import tuning, pipelines
import pandas as pd
from fastai.callback.core import Callback
from bissl_fast.checkpoint import Checkpoint
from bissl_fast.hypergrad import Lanczos
from bissl_fast.compare import compare, compare_repeats, tuning_dls, load_encoder, load_json, t_interval
from bissl_fast.tuning import _tune_all
from bissl_fast.compare import load_pipelines, save_json, ft_file, results_table, markdown_table, plot_history

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

KW = dict(pretext_epochs=1, alternations=2, ft_epochs=2, seeds=(0, 1), tune=2, probe_epochs=1, short=0.5,
          matched=False, scratch=False, show=False, pretext_kwargs=dict(proj_dims=(64, 64)),
          bissl_kwargs=dict(head_warmup=1, lower_steps=5, upper_steps=2, solver=Lanczos(steps=2)))

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

def test_the_report_is_remade_from_the_run_folder(studies, tmp_path):
    "The table is a function of the run folder's files; a folder from before `pipelines.json` gives the same one"
    df,out = studies[False]
    pd.testing.assert_frame_equal(results_table(out, [0, 1]), df)
    assert list(pd.read_csv(out/'results.csv').columns) == list(df.columns)
    assert df.accs.tolist() == [' '.join(f"{load_json(ft_file(out, k, s))['acc']:.4f}" for s in (0, 1)) for k in df.key]
    old = tmp_path/'old'; shutil.copytree(out, old, ignore=shutil.ignore_patterns('*.pth')); (old/'pipelines.json').unlink()
    assert load_pipelines(old, [0, 1]) == load_pipelines(out)
    pd.testing.assert_frame_equal(results_table(old, [0, 1]), df)

def test_a_new_pipeline_is_a_new_record(studies, tmp_path):
    "The report reads the records: a pipeline added to `pipelines.json` is a new row and a new line, with no code for it"
    _,src = studies[False]
    out = tmp_path/'run'; shutil.copytree(src, out, ignore=shutil.ignore_patterns('*.pth'))
    recs = load_pipelines(out); base = recs[0]
    assert [r['key'] for r in recs] == ['baseline', 'bissl'] and base['runs'] == ['full', 'short', 'probe']
    for s in (0, 1):
        for k in base['runs']: shutil.copy(ft_file(out, 'baseline', s, k), ft_file(out, 'again', s, k))
    save_json([dict(base, key='again', label='the baseline again → fine-tune', legend='the baseline again')] + recs,
              out/'pipelines.json')
    df = results_table(out, [0, 1]); t = df.set_index('key')
    assert df.key.tolist() == ['again', 'baseline', 'bissl']
    same = [c for c in t.columns if c != 'pipeline' and not c.endswith('_s')]
    pd.testing.assert_series_equal(t.loc['again', same], t.loc['baseline', same], check_names=False)
    md = markdown_table(df)
    assert '| the baseline again → fine-tune |' in md and '| the baseline again |' in md
    legend = [x.get_text() for x in plot_history(out, [0, 1]).axes[0].get_legend().get_texts()]
    assert legend == ['the baseline again', 'baseline', 'BiSSL']

def scaled(enc, k):
    "A copy of `enc` whose features are `k` times larger (its last BatchNorm's scale and shift)"
    e = deepcopy(enc); bn = [m for m in e.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    with torch.no_grad(): bn.weight.mul_(k); bn.bias.mul_(k)
    return e

def test_settings_differ_when_the_data_make_them_differ(tmp_path):
    "Features 1000× larger want a 1000× smaller lr: two 'pipelines' made so get different choices among the same candidates"
    # Held-out accuracies (30 images), measured natively and under MKL_CBWR=COMPATIBLE/AVX2 and ATEN_CPU_CAPABILITY=default:
    # small 0.133 (lr 1e-3) vs 0.400 (lr 1), big 0.533 vs 0.433 on every path. With features only 100× larger, big's two
    # runs tied at 0.300 natively (the loss decided) and lr 1 won by 0.067 under COMPATIBLE: a choice on a tie.
    dfn = partial(digits_dls, bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')
    set_seed(0); enc = load_encoder(dfn(), 'tiny_cnn')
    cands = [dict(lr=1e-3), dict(lr=1.)]
    with contextlib.redirect_stdout(io.StringIO()):
        res = _tune_all(partial(tuning_dls, dfn), dict(small=(scaled(enc, 1), None), big=(scaled(enc, 1000), None)), cands, tmp_path, 0,
                        epochs=10, method='probe', freeze_epochs=0, wd=0.)
    assert [res[p]['finetune']['chosen'] for p in ('small', 'big')] == [dict(lr=1.), dict(lr=1e-3)], res
    assert load_json(tmp_path/'tune'/'big.json')['finetune']['chosen'] == dict(lr=1e-3)

def test_tuning_runs_know_their_backbone(tmp_path):
    "A pipeline's tuning runs are redone when its backbone's stage changed: their settings carry that stage's"
    dfn = partial(digits_dls, bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')
    set_seed(0); a = load_encoder(dfn(), 'tiny_cnn'); set_seed(1); b = load_encoder(dfn(), 'tiny_cnn')
    kw = dict(epochs=1, method='probe', freeze_epochs=0)
    with contextlib.redirect_stdout(io.StringIO()):
        ra = _tune_all(partial(tuning_dls, dfn), dict(p=(a, dict(stage='a'))), [dict(lr=.1)], tmp_path, 0, **kw)
        rb = _tune_all(partial(tuning_dls, dfn), dict(p=(b, dict(stage='b'))), [dict(lr=.1)], tmp_path, 0, **kw)
    assert load_json(tmp_path/'tune'/'p_0.json')['cfg']['tag']['src'] == dict(stage='b'), 'the run on b was not redone'
    assert ra['p']['finetune']['accs'] != rb['p']['finetune']['accs'] or ra['p']['finetune'] != rb['p']['finetune']

def test_tuning_follows_the_metric_and_any_target():
    "Tuning keeps the highest accuracy but the lowest error (regression); multi-label targets get a (random) tuning split"
    best = lambda *runs: max(range(len(runs)), key=lambda i: tuning._score(runs[i]))
    assert best(dict(acc=3.79, loss=1., metric='_rmse'), dict(acc=4.97, loss=1., metric='_rmse')) == 0
    assert best(dict(acc=.5, loss=1., metric='accuracy'), dict(acc=.6, loss=2., metric='accuracy')) == 1
    from fastai.vision.all import DataBlock, ImageBlock, MultiCategoryBlock, Resize, RandomSplitter
    x,y = _digits()
    block = DataBlock((ImageBlock, MultiCategoryBlock), get_x=lambda i: x[i,0].numpy(), item_tfms=Resize(16),
                      get_y=lambda i: ['even'] if y[i] % 2 == 0 else ['odd', 'big'] if y[i] > 4 else ['odd'],
                      splitter=RandomSplitter(seed=0))
    ml = BilevelDataLoaders.from_dblock(block, list(range(80)), bs=8, device='cpu')
    s = cmp.labeled_split(ml, 0.25, seed=0)
    assert (len(s.train.dataset), len(s.valid.dataset)) == (48, 16)
    items = lambda dl: set(dl.dataset.tls[0].items)  # the loaders' valid split is the study's test split: never used
    assert not items(ml.valid) & (items(s.train) | items(s.valid)) and len(items(s.train) | items(s.valid)) == 64

def test_controls_count_steps_per_process(monkeypatch):
    "The compute-matched and fine-tuned-longer controls get as many steps per process as BiSSL, on 1 process or N"
    dl = list(range(10))  # 10 batches an epoch on one process
    assert pipelines._extra_epochs(4, 5, dl) == 2
    monkeypatch.setattr(pipelines, 'world_size', lambda: 2)  # each rank takes 5 of the 10 batches an epoch
    assert pipelines._extra_epochs(4, 5, dl) == 4

def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    "A stage stopped under some settings and run again under others starts afresh (its checkpoint is not resumed)"
    d = digits_dls(bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')
    class StopAfterFirst(Callback):
        order = Checkpoint.order+1
        def after_epoch(self):
            if self.epoch == 0: raise KeyboardInterrupt
    ft = partial(cmp.finetune, d, None, arch='tiny_cnn', method='one_cycle', out=tmp_path, name='ft')
    with contextlib.redirect_stdout(io.StringIO()) as out:
        with pytest.raises(KeyboardInterrupt): ft(epochs=3, lr=1., cbs=StopAfterFirst())
        assert (tmp_path/'ft_ckpt.pth').exists(), 'the stopped run left its checkpoint'
        r = ft(epochs=2, lr=.01)
    assert 'a checkpoint of other settings: not resumed' in out.getvalue() and 'resuming' not in out.getvalue(), out.getvalue()
    assert len(r['history']) == 2 and r['cfg']['lr'] == .01 and not list(tmp_path.glob('ft_ckpt*'))

# Whole-pipeline repeats: `compare_repeats` reruns every stage with seed r; in parallel processes or one after the other,
# and interrupted inside a repeat or not, it gives the same study.
RKW = dict(pretext_epochs=1, alternations=4, ft_epochs=2, tune=2, probe_epochs=1, short=0.5, matched=True,
           show=False, pretext_kwargs=dict(proj_dims=(64, 64)), bissl_kwargs=dict(head_warmup=1, lower_steps=3, upper_steps=5,
                                                                                             solver=Lanczos(steps=2)))
RDLS = partial(digits_dls, bs=10, pretext_bs=64, size=16, n_labeled_per_class=10, device='cpu')

class StopBisslOfRepeat1(Callback):
    "Stop the BiSSL stage of repeat 1 after its first epoch (its checkpoint written), as a killed process would"
    order = Checkpoint.order+1
    def after_epoch(self):
        if self.epoch == 0 and self.learn.path.name == 'repeat1': raise KeyboardInterrupt

@pytest.fixture(scope='module')
def repeat_studies(tmp_path_factory):
    "The same 2-repeat study: in 2 processes at once; and in one process, interrupted inside repeat 1 and resumed"
    d = tmp_path_factory.mktemp('repeats')
    par = compare_repeats(RDLS, 'tiny_cnn', out=d/'par', repeats=2, jobs=2, **RKW)
    real = pipelines.bilevel  # what the BiSSL control's stage calls
    def stopping(*args, **kwargs): return real(*args, cbs=StopBisslOfRepeat1(), **kwargs)
    pipelines.bilevel = stopping
    try:
        with pytest.raises(KeyboardInterrupt): compare_repeats(RDLS, 'tiny_cnn', out=d/'seq', repeats=2, jobs=1, **RKW)
    finally: pipelines.bilevel = real
    assert (d/'seq'/'repeat1'/'bissl_ckpt.pth').exists() and not (d/'seq'/'repeat1'/'bissl.json').exists()
    mtime = (d/'seq'/'repeat0'/'bissl.json').stat().st_mtime
    seq = compare_repeats(RDLS, 'tiny_cnn', out=d/'seq', repeats=2, jobs=1, **RKW)
    assert (d/'seq'/'repeat0'/'bissl.json').stat().st_mtime == mtime  # the finished repeat was read back, not rerun
    return par, seq, d

def test_repeats_parallel_equals_interrupted_sequential(repeat_studies):
    par,seq,d = repeat_studies
    assert 'resuming from' in (d/'seq'/'repeat1'/'log.txt').read_text()  # repeat 1 went on from its BiSSL checkpoint
    cols = [c for c in par.columns if not c.endswith('_s')]  # all but the seconds
    pd.testing.assert_frame_equal(par[cols], seq[cols])
    for r in (0, 1):
        a,b = (torch.load(d/k/f'repeat{r}'/'bissl.pth') for k in ('par', 'seq'))
        for k in a: assert torch.equal(a[k], b[k]), k

def test_repeats_differ_and_stay_paired(repeat_studies):
    par,_,d = repeat_studies
    w = [torch.load(d/'par'/f'repeat{r}'/p) for r in (0, 1) for p in ('pretext.pth', 'matched/pretext.pth', 'bissl.pth')]
    for a,b in zip(w[:3], w[3:]): assert not all(torch.equal(a[k], b[k]) for k in a)  # every stage reran with its own seed
    splits = [load_json(d/'par'/f'repeat{r}'/'tune'/'baseline.json')['finetune']['settings'] for r in (0, 1)]
    assert splits[0] != splits[1]  # the tuning candidates are drawn with the repeat's seed too
    acc = {p: np.array([load_json(d/'par'/f'repeat{r}'/'finetune'/f'{p}_seed{r}.json')['acc'] for r in (0, 1)])
           for p in ('baseline', 'matched', 'bissl')}
    t = par.set_index('key')
    for p in ('baseline', 'matched'):
        diff = acc['bissl'] - acc[p]
        assert t.loc[p, 'd_acc'] == pytest.approx(diff.mean()) and t.loc[p, 'd_acc_ci'] == pytest.approx(12.706*diff.std(ddof=1)/math.sqrt(2), rel=1e-3)
    md = (d/'par'/'results.md').read_text()
    assert 'over the 2 whole-pipeline repeats' in md and '2 at a time' in md

def test_repeats_talk_from_their_processes(repeat_studies):
    "`show=True`, `jobs=2`: the study's process prints each repeat's steps as its process sends them, then the table"
    _,_,d = repeat_studies
    with contextlib.redirect_stdout(io.StringIO()) as o:
        compare_repeats(RDLS, 'tiny_cnn', out=d/'par', repeats=2, jobs=2, **{**RKW, 'show': True})
    lines = o.getvalue().splitlines()
    steps = [l for l in lines if l.startswith('[')]
    n = 3 + 3 + 3  # the stages of baseline, matched and BiSSL; their tuning; their fine-tunings
    for r in (0, 1):
        mine = [l.split('] ', 1)[1] for l in steps if f'] repeat {r}' in l]
        assert [m.split(':')[0] for m in mine[:-1]] == [f'repeat {r}, step {i}/{n}' for i in range(1, n+1)], lines
        assert mine[-1].startswith(f'repeat {r} finished ('), lines
    assert steps[-1].endswith('finished (2 of 2 repeats)') and lines[len(steps)].startswith('Data `'), lines
    assert all(re.match(r'\[\d+:\d\d(, ~\d+:\d\d left)?\] ', l) for l in steps), steps

def test_the_study_settings_are_one_documented_object():
    "Each of `compare`'s settings is `StudySettings`'s, with its meaning (docments) and range; stages' defaults read"
    from fastcore.docments import docments
    from bissl_fast.compare import StudySettings, pretrain, finetune
    from bissl_fast.core import default_of, unranged
    ps = list(inspect.signature(StudySettings).parameters)
    assert list(inspect.signature(compare).parameters)[2:] == ps and unranged(StudySettings) == []
    assert [k for k,v in docments(StudySettings.__init__).items() if k in ps and not v] == []
    for k,(f,n) in dict(pretext=(pretrain, 'pretext'), ckpt_minutes=(pretrain, 'ckpt_minutes'), ft_lr=(finetune, 'lr'),
                        pretext_lr=(pretrain, 'lr'), ft_epochs=(finetune, 'epochs')).items():
        assert default_of(compare, k) == default_of(f, n), k
