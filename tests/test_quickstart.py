"""The home page's quick start runs as written. Its code is read from `nbs/index.ipynb` (the README is rendered from it)
and run with 1 pretext epoch, 2 alternations and 1 fine-tuning epoch: every stage must train. The GPU-sized version
cannot run here; its names and keyword arguments are checked against the library."""
import ast, inspect, math, sys
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from quickstart import quickstart_code, shorten, run

def _finite(rows): return all(math.isfinite(float(v)) for r in rows for v in r if v is not None)
def _changed(a, b): return any(not torch.equal(p, q) for p,q in zip(a.state_dict().values(), b.state_dict().values()))

def test_quickstart_runs_with_fewer_epochs():
    threads = torch.get_num_threads()
    try:
        torch.manual_seed(0)
        ns = run(shorten(quickstart_code()))
    finally: torch.set_num_threads(threads)  # the quick start sets one thread; leave the worker as it was
    pre,learn,ft = ns['pre'],ns['learn'],ns['ft']
    for l in (pre, learn, ft):  # each stage trained and logged finite numbers
        assert len(l.recorder.losses) and all(math.isfinite(float(v)) for v in l.recorder.losses)
        assert len(l.recorder.values) and _finite(l.recorder.values)
    stage1 = pre.model.backbone
    assert _changed(stage1, learn.lower_backbone), 'BiSSL did not move the lower backbone away from stage 1'
    assert _changed(stage1, learn.upper_backbone), 'BiSSL did not move the upper backbone away from stage 1'
    assert _changed(learn.lower_backbone, ft.model[0]), 'fine-tuning did not change the backbone it started from'
    assert ft.recorder.values[-1][-1] > 0.2, 'fine-tuned accuracy should be above chance (0.1)'

def test_gpu_quickstart_calls_the_library():
    "Every name the GPU-sized quick start reads comes from `bissl_fast.all`, and its calls bind to their signatures"
    import bissl_fast.all as lib
    api,tree = vars(lib),ast.parse(quickstart_code('gpu'))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assert names - stored <= set(api), f'not in bissl_fast.all: {names - stored - set(api)}'
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert calls
    for c in calls: inspect.signature(api[c.func.id]).bind(*c.args, **{k.arg: k.value for k in c.keywords})

def test_shorten_fails_loudly():
    import pytest
    with pytest.raises(ValueError): shorten('learn.fit_bilevel(alternations=5)\n')
