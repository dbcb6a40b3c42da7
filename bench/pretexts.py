"""Two short studies on the embedded digits (16 px, tiny_cnn, CPU-scale), each printing a markdown table.

  python bench/pretexts.py pretexts   # each pretext: k-NN accuracy after stage 1, BiSSL seconds per alternation
  python bench/pretexts.py lower_opt  # BiSSL's lower optimizer: Adam vs LARS (fastai's Larc), after a SimCLR stage 1

Stage 1: `--epochs` one-cycle epochs at lr 3e-3 (Adam), 128 images per view. BiSSL: the `bissl_learner` defaults
(N_L=20 lower steps, N_U=8 upper steps, Lanczos with 10 HVPs per stage), 10 labeled images per class: 100 images
in batches of 32, so 3 upper steps per alternation. Seconds per alternation are
given as CPU time of this one-thread process (robust to other jobs on a shared machine) and as wall time."""
import argparse, time, warnings
from functools import partial
import torch
from fastai.vision.all import set_seed, Adam, Larc
from bissl_fast.datasets import digits_dls
from bissl_fast.pretext import tiny_cnn, pretext_learner, knn_accuracy
from bissl_fast.learner import bissl_learner

HEADS = dict(simclr=dict(proj_dims=(128, 128)), byol=dict(proj_dims=(128, 64), pred_dims=(128, 64), decay=0.99),
             vicreg=dict(proj_dims=(256, 256)), barlow_twins=dict(proj_dims=(256, 256)),
             moco=dict(proj_dims=(128, 64), pred_dims=(128, 64), temperature=0.2, decay=0.99))

def dls():
    "The digits loaders, seeded first: they draw their shuffling seed from the global generator when built"
    set_seed(0)
    return digits_dls(bs=32, pretext_bs=128, size=16, n_labeled_per_class=10, seed=0, device='cpu')

def stage1(d, name, epochs, seed=0):
    set_seed(seed)
    pl = pretext_learner(d, tiny_cnn, name, metrics=[], **HEADS[name])
    with pl.no_bar(), pl.no_logging(): pl.fit_one_cycle(epochs, 3e-3)
    return pl

def pretexts(a):
    d = dls()
    print(f'digits 16 px, tiny_cnn, stage 1: {a.epochs} epochs; BiSSL: {a.alternations} timed alternations after 1 warm-up; '
          f'{torch.get_num_threads()} thread(s)\n')
    print('| pretext | k-NN before | k-NN after stage 1 | BiSSL CPU s / alternation | wall s |\n| --- | --- | --- | --- | --- |')
    for name in HEADS:
        set_seed(0)
        k0 = knn_accuracy(pretext_learner(d, tiny_cnn, name, metrics=[], **HEADS[name]).model.backbone, d)
        pl = stage1(d, name, a.epochs)
        k1 = knn_accuracy(pl.model.backbone, d)
        learn = bissl_learner(d, tiny_cnn, pretrained=pl, head_warmup=0)
        with learn.no_bar(), learn.no_logging():
            learn.fit_bilevel(alternations=1)
            t,c = time.perf_counter(),time.process_time()
            learn.fit_bilevel(alternations=a.alternations)
            s,cpu = (time.perf_counter()-t)/a.alternations,(time.process_time()-c)/a.alternations
        print(f'| {name} | {k0:.3f} | {k1:.3f} | {cpu:.2f} | {s:.2f} |', flush=True)

OPTS = {'Adam, lr 1e-3 (current default)': (Adam, 1e-3),
        'LARS: Larc(clip=False, trust 1e-3), lr 1.0 (the reference)': (partial(Larc, clip=False, trust_coeff=1e-3), 1.0),
        "LARC: fastai's Larc defaults (clip, trust 0.02), lr 0.1": (Larc, 0.1)}

def lower_opt(a):
    d = dls()
    print(f'digits 16 px, tiny_cnn, SimCLR stage 1: {a.epochs} epochs; BiSSL: {a.alternations} alternations; seeds {a.seeds}\n')
    print('| lower optimizer | upper valid accuracy | lower k-NN accuracy | final lower loss |\n| --- | --- | --- | --- |')
    pls = {s: stage1(d, 'simclr', a.epochs, s) for s in a.seeds}
    for label,(opt,lr) in OPTS.items():
        acc,knn,ll = [],[],[]
        for s in a.seeds:
            set_seed(s)
            learn = bissl_learner(d, tiny_cnn, pretrained=pls[s], lower_opt_func=opt, lower_lr=lr)
            with learn.no_bar(), learn.no_logging(): learn.fit_bilevel(alternations=a.alternations)
            row = dict(zip(learn.recorder.metric_names[1:], learn.recorder.values[-1]))
            acc.append(row['accuracy']); ll.append(row['lower_loss']); knn.append(knn_accuracy(learn.lower_backbone, d))
        f = lambda xs: ' / '.join(f'{float(x):.3f}' for x in xs)
        print(f'| {label} | {f(acc)} | {f(knn)} | {f(ll)} |', flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('study', choices=['pretexts', 'lower_opt'])
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--alternations', type=int, default=3)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    dict(pretexts=pretexts, lower_opt=lower_opt)[a.study](a)
