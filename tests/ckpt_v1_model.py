"The tiny BiSSL learner of the version-1 checkpoint fixture (tests/data/ckpt_v1_*.pth): shared by the script that wrote it with the code before the callback owned its state, and by the test that loads it"
import torch, torch.nn as nn
from fastai.vision.all import Module, set_seed, Callback, CancelFitException
from bissl_fast.pretext import PretextModel
from bissl_fast.datasets import digits_dls

class ToyEncoder(Module):
    def __init__(self, n_in=48, nf=6): self.lin,self.nf = nn.Linear(n_in, nf),nf
    def forward(self, x): return torch.tanh(self.lin(x.flatten(1)))

class ToyPretext(PretextModel):
    "The views' features should agree and have unit norm"
    def __init__(self): self.backbone,self.proj = ToyEncoder(),nn.Linear(6, 4)
    def forward(self, v1, v2): return self.proj(self.backbone(v1)), self.proj(self.backbone(v2))
    def criterion(self, pred, *yb):
        z1,z2 = pred
        return (z1-z2).pow(2).sum(1).mean() + (z1.pow(2).sum(1)-1).pow(2).mean()

def toy_learner(bissl_learner, path, **kwargs):
    "The fixture's learner: 4 px digits, the toy pretext, 2 lower and 2 upper steps, Lanczos with 2 steps recycling 2 pairs"
    set_seed(0)
    dls = digits_dls(bs=16, pretext_bs=32, size=4, n_labeled_per_class=10, device='cpu')
    m = ToyPretext()
    return bissl_learner(dls, pretext=m, pretrained=m.backbone.state_dict(), lower_steps=2, upper_steps=2, head_warmup=0,
                         path=path, **kwargs)

class StopAt(Callback):
    "Stop the fit at the end of alternation `n`"
    order = 95
    def __init__(self, n): self.n = n
    def after_batch(self):
        if self.learn.bilevel.n_alt == self.n and (self.iter+1) % self.learn.bilevel.upper_steps == 0: raise CancelFitException
