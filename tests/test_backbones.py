"BiSSL learners from a timm name, from public checkpoints (torchvision layout, `backbone.` prefix, cached ImageNet weights) and with a ViT."
import warnings
import pytest, torch
from torchvision.models import resnet18
from fastai.vision.all import set_seed
from bissl_fast.datasets import digits_dls
from bissl_fast.backbones import create_encoder
from bissl_fast.methods import SimCLR
from bissl_fast.learner import bissl_learner
from bissl_fast.hypergrad import CG

timm = pytest.importorskip('timm')

@pytest.fixture(scope='module')
def dls(): return digits_dls(bs=16, pretext_bs=16, size=16, n_labeled_per_class=4, device='cpu')

@pytest.fixture(scope='module')
def tv_sd():
    "A torchvision-layout ResNet-18 state dict as SSL releases ship it (random weights, made here)"
    set_seed(0)
    return {k:v + 0.01*torch.randn_like(v) if v.is_floating_point() else v for k,v in resnet18().state_dict().items()}

def _same_backbones(learn, sd):
    "Both levels start from the checkpoint: `layer1.0.conv1` is body.4[0].conv1 of the encoder"
    for bb in (learn.upper_backbone, learn.lower_backbone): assert torch.equal(bb.body[4][0].conv1.weight, sd['layer1.0.conv1.weight'])

def test_timm_name(dls):
    set_seed(0)
    sd = {k:v + 0.01*torch.randn_like(v) if v.is_floating_point() else v for k,v in timm.create_model('resnet18').state_dict().items()}
    learn = bissl_learner(dls, 'resnet18', pretrained=sd, small_stem=False)
    assert isinstance(learn.lower_backbone.body, timm.models.ResNet)
    for bb in (learn.upper_backbone, learn.lower_backbone): assert torch.equal(bb.body.layer1[0].conv1.weight, sd['layer1.0.conv1.weight'])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert bissl_learner(dls, 'resnet18').lower_backbone.body.conv1.kernel_size == (3, 3)  # small stem at 16 px

def test_torchvision_checkpoint(dls, tv_sd, tmp_path):
    torch.save(tv_sd, tmp_path/'resnet18_simclr.pth')
    _same_backbones(bissl_learner(dls, resnet18, pretrained=tmp_path/'resnet18_simclr.pth', small_stem=False), tv_sd)
    with pytest.raises(ValueError, match='wrong shapes: body.0.weight'): bissl_learner(dls, resnet18, pretrained=tv_sd)  # small stem

def test_backbone_prefixed_checkpoint(dls, tv_sd, tmp_path):
    ck = {'state_dict': {**{'module.backbone.'+k:v for k,v in tv_sd.items()}, 'module.projector.0.weight': torch.zeros(4, 512)}, 'epoch': 100}
    torch.save(ck, tmp_path/'ck.pth')
    _same_backbones(bissl_learner(dls, resnet18, pretext='byol', pretrained=tmp_path/'ck.pth', small_stem=False), tv_sd)

def test_imagenet_cached(dls, tv_sd, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError, match='not cached'): bissl_learner(dls, resnet18, pretrained='imagenet', small_stem=False)
    (tmp_path/'hub'/'checkpoints').mkdir(parents=True)
    torch.save(tv_sd, tmp_path/'hub'/'checkpoints'/'resnet18-f37072fd.pth')
    _same_backbones(bissl_learner(dls, resnet18, pretrained='imagenet', small_stem=False), tv_sd)

def test_vit_small_alternation(dls):
    "A ViT-small (width 384, 6 heads; 2 of its 12 blocks, 16 px images, 4 px patches) runs a BiSSL alternation: HVPs through attention"
    set_seed(0)
    enc = create_encoder('vit_small_patch16_224', arch_kwargs=dict(img_size=16, patch_size=4, depth=2))
    learn = bissl_learner(dls, pretext=SimCLR(enc, proj_dims=(64, 32)), pretrained=enc.state_dict(),
                          lower_steps=1, upper_steps=1, solver=CG(iters=2), head_warmup=0)
    th0 = [p.detach().clone() for p in learn.upper_backbone.parameters()]
    with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=1)
    assert learn.bilevel.n_alt == 1
    assert sum((a-b).abs().sum().item() for a,b in zip(th0, learn.upper_backbone.parameters())) > 0
    row = learn.recorder.values[-1]
    assert all(torch.isfinite(torch.tensor(float(v))) for v in row)
