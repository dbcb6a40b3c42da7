"""How the baseline-vs-BiSSL gap depends on the fine-tuning protocol: fine-tune a run folder's pretext (baseline) and
BiSSL backbones with each `lr,freeze_epochs` pair, same seeds, and print a markdown table.

A sensitivity analysis, not a way to choose settings: by default (`--on test`) every protocol is scored on the test split,
so picking the best row is picking on the test set. `--on tuning` scores them on the held-out 30% of the labeled training
images that `compare --tune` uses (trained on the other 70%): choices read from that table are fair. `bissl_fast compare
--tune N` does the choosing per pipeline by itself.

After `bash tools/main.sh`:                   python bench/ft_protocols.py --out runs/digits
After `bash bench/fashion_mnist_cpu.sh`:      python bench/ft_protocols.py --out runs/fashion_mnist_cpu --data fashion_mnist \\
                                                --arch tiny_cnn --size 28 --device cpu
Each fine-tune is cached under <out>/protocols/, so a rerun only prints. `OMP_NUM_THREADS=1` is best on a small CPU."""
import argparse, re, warnings
from pathlib import Path
import numpy as np
from fastai.learner import defaults
from fastai.callback.progress import ProgressCallback
from bissl_fast.cli import get_dls_fn, presets
from bissl_fast.compare import finetune, labeled_split

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='run folder holding pretext.pth and bissl.pth')
    p.add_argument('--backbones', nargs='+', default=['baseline=pretext.pth', 'BiSSL=bissl.pth'],
                   help='name=file pairs, files relative to --out; the gap is last minus first')
    p.add_argument('--protocols', nargs='+', default=['0.1,1', '0.1,5', '0.3,1', '0.3,5', '0.3,10', '0.5,5', '1,5'],
                   help='lr,freeze_epochs pairs of `fine_tune`')
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--lr_mult', type=float, default=10.)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--data', default='digits')
    p.add_argument('--arch', default=None)
    p.add_argument('--size', type=int, default=None)
    p.add_argument('--device', default=None)
    p.add_argument('--on', choices=['test', 'tuning'], default='test',
                   help="score on the test split, or on compare --tune's held-out part of the labeled training images")
    p.add_argument('--tune_pct', type=float, default=0.3)
    p.add_argument('--tune_seed', type=int, default=0)
    a = p.parse_args()
    warnings.filterwarnings('ignore')
    defaults.callbacks = [c for c in defaults.callbacks if c is not ProgressCallback]  # the table only
    out,dls_fn = Path(a.out),get_dls_fn(a.data, size=a.size, device=a.device)
    arch = a.arch or presets.get(a.data, presets['folder'])['arch']
    data = labeled_split(dls_fn(), a.tune_pct, a.tune_seed) if a.on == 'tuning' else dls_fn
    sub = 'protocols' if a.on == 'test' else f'protocols_tuning{a.tune_pct:g}_{a.tune_seed}'
    bbs = [b.split('=', 1) for b in a.backbones]
    for _,f in bbs:
        if not (out/f).exists(): raise SystemExit(f'no backbone at {out/f}: run the study first')
    where = 'the TEST split (a sensitivity analysis: do not pick settings from it)' if a.on == 'test' else \
            f'the held-out {a.tune_pct:.0%} of the labeled training images (split seed {a.tune_seed})'
    print(f'{out}: `fine_tune` {a.epochs} epochs, lr_mult {a.lr_mult}, seeds {a.seeds}; accuracy mean ± std on {where}\n')
    print('| lr | frozen epochs | ' + ' | '.join(n for n,_ in bbs) + f' | {bbs[-1][0]} − {bbs[0][0]} (points) |')
    print('|' + ' --- |'*(len(bbs)+3))
    for pr in a.protocols:
        lr,fz = float(pr.split(',')[0]),int(pr.split(',')[1])
        accs = [[finetune(data, out/f, a.epochs, lr, seed=s, arch=arch, freeze_epochs=fz, lr_mult=a.lr_mult, out=out,
                          name=f"{sub}/{re.sub(r'[^A-Za-z0-9.]+', '_', n)}_lr{lr}_freeze{fz}_seed{s}", tag=str(out/f))['acc']
                 for s in a.seeds] for n,f in bbs]
        cells = [f'{np.mean(x):.4f} ± {np.std(x, ddof=1) if len(x) > 1 else 0:.4f}' for x in accs]
        print(f'| {lr:g} | {fz} | ' + ' | '.join(cells) + f' | {(np.mean(accs[-1])-np.mean(accs[0]))*100:+.2f} |', flush=True)

if __name__ == '__main__': main()
