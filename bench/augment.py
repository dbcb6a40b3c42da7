"""The view augmentations on kornia (nbs/00a_views.ipynb) against the hand-written torch ones they replaced, as markdown tables.

  python bench/augment.py speed   # images/s of one pretext batch's two views, old vs new, on the device (CPU by default)
  python bench/augment.py knn     # k-NN accuracy after a short stage 1 on digits (16 px, tiny_cnn), old vs new views
  python bench/augment.py knn --only simclr --ablate --seeds 0 1 2 3 4 5   # which op moves it

`knn`: the same seed, data and model for every row; only the views differ. SimCLR with the old and the new symmetric
views; BYOL with the old views, the new symmetric ones, and the new asymmetric BYOL recipe (`views='byol'`: at 16 px
solarization 0 / 0.2, no blur). Stage 1: `--epochs` one-cycle epochs at lr 3e-3, 128 images per view.
The old transforms are kept below, as they were in bissl_fast.data before the move, so both sides run in one process."""
import argparse, math, time, warnings
import torch, torch.nn.functional as F
from fastai.vision.all import DisplayedTransform, TensorImage, store_attr, set_seed
from bissl_fast.data import pretext_augs, make_views
from bissl_fast.datasets import digits_dls
from bissl_fast.pretext import tiny_cnn, pretext_learner, knn_accuracy

# ---- the hand-written views bissl_fast had before kornia (per-item draws from the batch's device generator) ----
def _rand(n, lo, hi, device): return torch.empty(n, device=device).uniform_(lo, hi)
def _coin(n, p, device): return torch.rand(n, device=device) < p
def _gray(x): return (0.299*x[:,0:1] + 0.587*x[:,1:2] + 0.114*x[:,2:3]) if x.shape[1]==3 else x.mean(1, keepdim=True)

class OldCropFlip(DisplayedTransform):
    order,split_idx = 30,None
    def __init__(self, size, min_scale=0.5, ratio=(3/4, 4/3), flip_p=0.5): store_attr(); self.size = (size,size)
    def encodes(self, x:TensorImage):
        n,dev = x.shape[0],x.device
        area = _rand(n, self.min_scale, 1., dev)
        logr = _rand(n, math.log(self.ratio[0]), math.log(self.ratio[1]), dev)
        w,h = (area*logr.exp()).sqrt().clamp(max=1), (area/logr.exp()).sqrt().clamp(max=1)
        cx,cy = (1-w)*_rand(n, -1, 1, dev), (1-h)*_rand(n, -1, 1, dev)
        flip = 1 - 2*_coin(n, self.flip_p, dev).float()
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:,0,0],theta[:,0,2],theta[:,1,1],theta[:,1,2] = w*flip,cx,h,cy
        grid = F.affine_grid(theta, (n, x.shape[1], *self.size), align_corners=False)
        return TensorImage(F.grid_sample(x.float(), grid, mode='bilinear', padding_mode='reflection', align_corners=False))

def _hue_shift(x, h):
    m = x.new_tensor([[0.299,0.587,0.114],[0.596,-0.274,-0.322],[0.211,-0.523,0.312]])
    yiq = torch.einsum('ij,bjhw->bihw', m, x)
    c,s = torch.cos(2*math.pi*h)[:,None,None],torch.sin(2*math.pi*h)[:,None,None]
    i,q = yiq[:,1]*c - yiq[:,2]*s, yiq[:,1]*s + yiq[:,2]*c
    return torch.einsum('ij,bjhw->bihw', torch.linalg.inv(m), torch.stack([yiq[:,0],i,q], 1))

class OldJitter(DisplayedTransform):
    order,split_idx = 40,None
    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=0.8): store_attr()
    def encodes(self, x:TensorImage):
        n,dev = x.shape[0],x.device
        on = _coin(n, self.p, dev)
        def draw(s): return torch.where(on, _rand(n, 1-s, 1+s, dev), torch.ones(n, device=dev))[:,None,None,None]
        x = x*draw(self.brightness)
        m = _gray(x).mean((1,2,3), keepdim=True)
        x = (x-m)*draw(self.contrast) + m
        if x.shape[1]==3:
            g = _gray(x)
            x = (x-g)*draw(self.saturation) + g
            if self.hue: x = _hue_shift(x, torch.where(on, _rand(n, -self.hue, self.hue, dev), torch.zeros(n, device=dev)))
        return TensorImage(x.clamp(0,1))

class OldGray(DisplayedTransform):
    order,split_idx = 45,None
    def __init__(self, p=0.2): store_attr()
    def encodes(self, x:TensorImage):
        on = _coin(x.shape[0], self.p, x.device)[:,None,None,None]
        return TensorImage(torch.where(on, _gray(x).expand_as(x), x))

def old_augs(size, flip=True): return [OldCropFlip(size, flip_p=0.5 if flip else 0.), OldJitter(), OldGray()]

# ---- speed ----
def speed(a):
    dev = torch.device(a.device)
    print(f'two views of a batch of {a.bs} images ({a.size}+{a.pad} px -> {a.size} px, 3 channels) on {dev}, '
          f'{torch.get_num_threads()} thread(s), median of {a.reps}\n')
    print('| views | images/s (both views) |\n| --- | --- |')
    x = TensorImage(torch.rand(a.bs, 3, a.size+a.pad, a.size+a.pad, device=dev))
    for name,augs in (('old (hand-written torch)', old_augs(a.size)), ('new (kornia), SimCLR recipe', pretext_augs(a.size)),
                      ('new (kornia), BYOL recipe with blur', make_views('byol', a.size, blur=True))):
        views = make_views(augs, a.size)
        for _ in range(3): views((x,))
        ts = []
        for _ in range(a.reps):
            if dev.type == 'cuda': torch.cuda.synchronize()
            t = time.perf_counter(); views((x,))
            if dev.type == 'cuda': torch.cuda.synchronize()
            ts.append(time.perf_counter()-t)
        print(f'| {name} | {2*a.bs/sorted(ts)[len(ts)//2]:,.0f} |', flush=True)

# ---- k-NN after stage 1 ----
HEADS = dict(simclr=dict(proj_dims=(128, 128)), byol=dict(proj_dims=(128, 64), pred_dims=(128, 64), decay=0.99))

def knn(a):
    print(f'digits 16 px, tiny_cnn, stage 1: {a.epochs} epochs, 128 images per view; seeds {a.seeds}\n')
    print('| pretext | views | k-NN accuracy after stage 1 (per seed) | mean |\n| --- | --- | --- | --- |')
    rows = [('simclr', 'old (hand-written)', old_augs(16, flip=False)), ('simclr', 'new (kornia)', 'simclr'),
            ('byol', 'old (hand-written)', old_augs(16, flip=False)), ('byol', 'new (kornia), symmetric', 'simclr'),
            ('byol', "new (kornia), BYOL recipe (views='byol')", 'byol')]
    if a.ablate:  # which op moves the figure: swap one side at a time (SimCLR)
        from bissl_fast.data import RandomResizedCropFlip, ColorJitter, RandomGrayscale
        rows += [('simclr', 'kornia crop + old jitter, grayscale', [RandomResizedCropFlip(16, flip_p=0.), OldJitter(), OldGray()]),
                 ('simclr', 'old crop + kornia jitter, grayscale', [OldCropFlip(16, flip_p=0.), ColorJitter(), RandomGrayscale()])]
    for pretext,label,views in rows:
        if a.only and pretext not in a.only: continue
        accs = []
        for s in a.seeds:
            set_seed(s)
            d = digits_dls(bs=32, pretext_bs=128, size=16, n_labeled_per_class=10, seed=0, device='cpu', views=views)
            pl = pretext_learner(d, tiny_cnn, pretext, metrics=[], **HEADS[pretext])
            with pl.no_bar(), pl.no_logging(): pl.fit_one_cycle(a.epochs, 3e-3)
            accs.append(knn_accuracy(pl.model.backbone, d))
        print(f'| {pretext} | {label} | {" / ".join(f"{x:.3f}" for x in accs)} | {sum(accs)/len(accs):.3f} |', flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('study', choices=['speed', 'knn'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--size', type=int, default=96, help='speed: output side in px')
    p.add_argument('--pad', type=int, default=16, help='speed: the input is this many px larger than the output')
    p.add_argument('--bs', type=int, default=128, help='speed: images per view')
    p.add_argument('--reps', type=int, default=20, help='speed: timed repetitions')
    p.add_argument('--epochs', type=int, default=10, help='knn: stage-1 epochs')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--only', nargs='*', default=None, help='knn: only these pretexts (simclr, byol)')
    p.add_argument('--ablate', action='store_true', help='knn: also SimCLR with the kornia crop and the old jitter, and the reverse')
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    dict(speed=speed, knn=knn)[a.study](a)
