"""Files that cannot be used and runs that diverge (#29): each says which file or setting, and what to pass instead.
The command-line cases run the real `bissl_fast` on the embedded digits at tiny settings, over one stage-1 run folder:
those stopped by a file before any training through the command's `main` in this process (`run_here`), a diverging
run and the one-line check of an error as new processes."""
import warnings
from functools import partial
from pathlib import Path
import pytest, torch
from torch import nn

from cli_run import TINY, run as bissl, run_here
TINY_BISSL = ['--alternations', '1', '--lower_steps', '1', '--upper_steps', '1', '--head_warmup', '0']

def failed(r, *says):
    "Assert the command `r` failed and its error output says each of `says`"
    assert r.returncode != 0, r.stdout[-2000:]
    for s in says: assert s in r.stderr, f'{s!r} not in:\n{r.stderr[-3000:]}'

@pytest.fixture(scope='module')
def stage1(shared_cli):
    "A SimCLR tiny_cnn stage 1 run folder (the session's one at these settings: read here, never written)"
    out,r = shared_cli('pretrain', *TINY, '--epochs', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    assert str(out/'pretext.pth') in r.stdout  # the file `pretrain` names: the backbone, not what BiSSL continues
    return out

def test_bilevel_from_the_backbone_file(stage1, tmp_path):
    r = run_here('bilevel', *TINY, *TINY_BISSL, '--out', tmp_path, '--pretrained', stage1/'pretext.pth')
    failed(r, f"{stage1/'pretext.pth'} holds a backbone", 'pass the `pretext_model.pth` of the same run folder')
    assert not (tmp_path/'bissl.pth').exists()

@pytest.mark.parametrize('opt,val', [('--pretext', 'byol'), ('--arch', 'resnet18')])
def test_bilevel_over_another_stage1(stage1, tmp_path, opt, val):
    r = run_here('bilevel', *TINY, opt, val, *TINY_BISSL, '--out', tmp_path, '--pretrained', stage1/'pretext_model.pth')
    failed(r, f"the stage-1 pretext model {stage1/'pretext_model.pth'} does not fit", '(`--arch`, `--pretext`)')

def test_finetune_another_arch(stage1, tmp_path):
    r = run_here('finetune', *TINY, '--arch', 'resnet18', '--out', tmp_path, '--backbone', stage1/'pretext.pth',
                 '--epochs', 1, '--seeds', 0)
    failed(r, f"the backbone {stage1/'pretext.pth'} does not fit resnet18", 'pass the arch it was trained with (`arch`, `--arch`)')

def test_finetune_a_bad_file(tmp_path):
    f = tmp_path/'half.pth'
    torch.save({'w': torch.zeros(1000)}, f); f.write_bytes(f.read_bytes()[:300])
    r = run_here('finetune', *TINY, '--out', tmp_path, '--backbone', f, '--epochs', 1, '--seeds', 0)
    failed(r, f'the backbone file {f} cannot be read: it seems to be a truncated or damaged torch file')

def test_pretrain_that_diverges(tmp_path):
    r = bissl('pretrain', *TINY, '--out', tmp_path, '--epochs', 1, '--lr', 1e6)
    failed(r, 'stage 1 (pretext): the training loss is nan', '(`lr`, now 1000000.0', '`pretrain --lr`')
    assert not any((tmp_path/f).exists() for f in ('pretext.pth', 'pretext_model.pth', 'pretext.json'))

def test_errors_are_one_line(stage1, tmp_path):
    r = bissl('bilevel', *TINY, *TINY_BISSL, '--out', tmp_path, '--pretrained', stage1/'pretext.pth')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

# In one process: the files `pretrained=`, `load_encoder` and `load_pretext_model` are given

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A stage-1 learner and the files a user may hand over instead of the right one"
    from fastai.vision.all import set_seed
    from bissl_fast.datasets import digits_dls
    from bissl_fast.pretext import tiny_cnn, pretext_learner, create_encoder
    set_seed(0)
    d = tmp_path_factory.mktemp('files')
    dls = digits_dls(bs=16, pretext_bs=16, size=16, n_labeled_per_class=4, device='cpu')
    pl = pretext_learner(dls, tiny_cnn, path=d, model_dir='.', metrics=[])
    pl.save_backbone('pretext'); torch.save(pl.model.state_dict(), d/'pretext_model.pth')
    b = (d/'pretext.pth').read_bytes()
    (d/'empty.pth').write_bytes(b''); (d/'trunc.pth').write_bytes(b[:len(b)//2])
    (d/'garbage.pth').write_bytes(b'not a model at all\n'*20)
    pl.create_opt(); pl.save('full')  # `Learner.save`: the model and its optimizer state
    pl.export(d/'exp.pkl')
    narrow = partial(tiny_cnn, widths=(8, 16, 32))  # another arch: the same keys, other shapes
    torch.save(create_encoder(narrow).state_dict(), d/'narrow.pth')
    torch.save(pretext_learner(dls, narrow, metrics=[]).model.state_dict(), d/'narrow_model.pth')
    return d,dls,pl

def _loaders(d, dls):
    "name: a function loading a file through each public entry point"
    from bissl_fast.learner import bissl_learner
    from bissl_fast.pretext import tiny_cnn, pretext_learner
    from bissl_fast.compare import load_encoder, load_pretext_model
    return dict(pretrained=lambda f: bissl_learner(dls, tiny_cnn, pretrained=d/f, head_warmup=0),
                load_encoder=lambda f: load_encoder(dls, 'tiny_cnn', d/f),
                load_pretext_model=lambda f: load_pretext_model(pretext_learner(dls, tiny_cnn, metrics=[]).model, d/f,
                                                                tiny_cnn, 'simclr'))

@pytest.mark.parametrize('name', ['pretrained', 'load_encoder', 'load_pretext_model'])
@pytest.mark.parametrize('f,kind,fix', [
    ('empty.pth', 'an empty file (0 bytes)', None),
    ('trunc.pth', 'a truncated or damaged torch file', None),
    ('garbage.pth', 'not a file torch wrote', None),
    ('exp.pkl', 'a whole exported `Learner`', 'load it with `load_learner`')])
def test_unreadable_files(files, name, f, kind, fix):
    from bissl_fast.core import FileReadError
    d,dls,_ = files
    with pytest.raises(FileReadError) as e: _loaders(d, dls)[name](f)
    msg = str(e.value)
    assert f'{d/f} cannot be read: it seems to be {kind}' in msg, msg
    if fix: assert fix in msg, msg
    assert '\n' not in msg, msg

@pytest.mark.parametrize('name', ['pretrained', 'load_encoder', 'load_pretext_model'])
def test_full_learner_save_loads(files, name):
    "A `Learner.save` of stage 1 (the model and its optimizer state) is read as its model's weights"
    d,dls,pl = files
    res = _loaders(d, dls)[name]('full.pth')
    bb = res.lower_backbone if name == 'pretrained' else res if name == 'load_encoder' else res.backbone
    for a,b in zip(bb.state_dict().values(), pl.model.backbone.state_dict().values()): assert torch.equal(a, b)

@pytest.mark.parametrize('name,f,says', [
    ('pretrained', 'narrow.pth', 'the backbone file {f} does not fit the backbone'),
    ('load_encoder', 'narrow.pth', 'the backbone {f} does not fit tiny_cnn'),
    ('load_pretext_model', 'narrow_model.pth', 'the stage-1 pretext model {f} does not fit a simclr model on tiny_cnn')])
def test_another_arch(files, name, f, says):
    from bissl_fast.core import FileReadError
    d,dls,_ = files
    with pytest.raises(FileReadError) as e: _loaders(d, dls)[name](f)
    msg = str(e.value)
    assert says.format(f=d/f) in msg and 'arch' in msg.split(':')[-1], msg

def test_checkpoint_of_another_arch(files, tmp_path):
    "Resuming a BiSSL checkpoint with another backbone names the file and what to do"
    from bissl_fast.core import FileReadError
    from bissl_fast.learner import bissl_learner
    from bissl_fast.checkpoint import Checkpoint
    from bissl_fast.pretext import tiny_cnn
    from bissl_fast.hypergrad import Lanczos
    d,dls,_ = files
    def learner(arch):
        return bissl_learner(dls, arch, lower_steps=1, upper_steps=1, solver=Lanczos(steps=1), head_warmup=0, path=tmp_path)
    learn = learner(tiny_cnn)
    with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=1, cbs=Checkpoint('run'))
    f = Checkpoint('run').file(learn)
    with pytest.raises(FileReadError) as e: Checkpoint('run').resume(learner(partial(tiny_cnn, widths=(8, 16, 32))))
    assert f'the checkpoint {f} does not fit this learner' in str(e.value) and 'delete it to start over' in str(e.value), e.value

def test_finite_loss_checks_the_last_step(tmp_path):
    "A last step that leaves non-finite weights behind a finite loss stops the fit before its checkpoint"
    from fastai.vision.all import Learner, DataLoaders, Callback
    from bissl_fast.compare import FiniteLoss
    from bissl_fast.checkpoint import Checkpoint
    x = torch.randn(32, 3); y = x.sum(1)
    dls = DataLoaders.from_dsets(list(zip(x, y)), list(zip(x, y)), bs=8, device='cpu')
    class Spoil(Callback):
        order = 50
        def after_step(self):
            if self.iter+1 == self.n_iter:
                with torch.no_grad(): self.learn.model.weight[0, 0] = float('nan')
    learn = Learner(dls, nn.Linear(3, 1), loss_func=lambda p,t: ((p.squeeze(-1)-t)**2).mean(), path=tmp_path)
    ck = Checkpoint('run', minutes=None)
    with learn.no_bar(), learn.no_logging(), pytest.raises(FloatingPointError, match='the weights are not finite after the last step'):
        learn.fit(1, 1e-2, cbs=[Spoil(), ck, FiniteLoss('stage 1 (pretext)', 1e-2, '`pretrain --lr`')])
    assert not ck.file(learn).exists()

def test_divergence_names_the_level():
    "An upper `lr` of 1e8 is named as `lr` (θ_D), a `lower_lr` of 1e8 as `lower_lr` (θ_P)"
    from fastai.vision.all import set_seed
    from bissl_fast.learner import bissl_learner
    from bissl_fast.datasets import digits_dls
    from bissl_fast.pretext import tiny_cnn
    from bissl_fast.hypergrad import Lanczos
    set_seed(0)
    dls = digits_dls(bs=32, pretext_bs=32, size=16, n_labeled_per_class=10, device='cpu')
    for kw,names in ((dict(lr=1e8), ('θ_D, the upper backbone, diverged', '(`lr`, now 1e+08)')),
                     (dict(lower_lr=1e8), ('θ_P, the lower backbone, diverged', '(`lower_lr`, now 1e+08)'))):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            learn = bissl_learner(dls, tiny_cnn, lower_steps=1, upper_steps=2, solver=Lanczos(steps=1), head_warmup=0, **kw)
        with learn.no_bar(), learn.no_logging(), pytest.raises(FloatingPointError) as e: learn.fit_bilevel(alternations=20)
        for s in names: assert s in str(e.value), (kw, str(e.value))
