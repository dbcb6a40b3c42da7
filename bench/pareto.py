"""The implicit gradient's cost against its accuracy: one Pareto table over real operators, from `bench/hypergrad.py` runs.

Each configuration (arch, pretext) runs `bench/hypergrad.py` on the library's own stage-1 model trained on the digits, over
`--batches` successive upper stages (20 lower steps apart), with every candidate variant of `--variants` (see hypergrad.py's
modifiers: `:hN` a Hessian sub-batch of 1/N of the images, `:branch` one view's branch, `:cl` channels-last, `:compile`).
Accuracy is the cosine with the converged solve (MINRES to 1e-4) on the *full* pretext batch, the minimum over right-hand
sides and stages. The table gives, per configuration, each variant's CPU seconds per upper stage (mean over stages, one thread; `:compile` rows exclude the compile, which hypergrad.py's log reports),
its HVPs, its minimum cosine (and each stage's), and whether it is on the Pareto front (no other variant is both faster and more accurate).
Each run's own output is kept beside the table (`OUT/<config>.md`); a rerun reuses them (delete one to rerun it).

    OMP_NUM_THREADS=1 python bench/pareto.py                     # ResNet-18 (standard stem, 32 px, 2×64 views) and tiny_cnn
    python bench/pareto.py --configs tiny_cnn:simclr --batches 2 # one configuration
"""
import argparse, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ('first-order,lanczos-5,lanczos-10,lanczos-15,lanczos-10:h2,lanczos-15:h2,lanczos-5:h4,lanczos-8:h4,lanczos-10:h4,'
            'lanczos-15:h4,lanczos-8:h8,lanczos-15:h8,cg-2:h4,recycle-5,recycle-5:h4,recycle-8:h4,lanczos-10:cl,lanczos-10:compile')
# per arch: the hypergrad.py settings (ResNet-18 as bench/alternation.py's side-by-side setting; tiny_cnn as the main job's)
ARCH = {'resnet18': ['--arch', 'resnet18', '--no-small-stem', '--size', '32', '--bs', '64', '--pretrain', '8'],
        'tiny_cnn': ['--arch', 'tiny_cnn', '--size', '16', '--bs', '128', '--pretrain', '30']}
BRANCH = ('byol', 'moco')   # pretexts whose symmetry gives a one-branch Hessian
COMPILE = ('tiny_cnn',)     # archs whose `:compile` rows run: on one CPU thread a ResNet's compiled double backward takes minutes per stage

def rows(text):
    "{variant: (CPU s / stage, HVPs, min cosine vs converged, per-stage minima)} from a hypergrad.py table"
    res = {}
    for m in re.finditer(r'^\| ([a-z0-9:-]+) \| (.*) \|$', text, re.M):
        if m.group(1) in ('variant', '---'): continue
        c = m.group(2).split(' | ')
        res[m.group(1)] = (float(c[2]), int(c[4]), float(c[6]), c[9])
    return res

def pareto(rs):
    "The variants no other variant beats in both time and cosine"
    return {k for k,(s,_,c,_) in rs.items() if not any(s2 < s and c2 >= c or s2 <= s and c2 > c for k2,(s2,_,c2,_) in rs.items() if k2 != k)}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument('--configs', nargs='+', default=['resnet18:simclr', 'resnet18:byol', 'resnet18:vicreg', 'tiny_cnn:simclr',
                                                    'tiny_cnn:byol', 'tiny_cnn:vicreg'], help='arch:pretext pairs')
    p.add_argument('--variants', default=VARIANTS)
    p.add_argument('--batches', type=int, default=3, help='successive upper stages measured')
    p.add_argument('--truth-rhs', type=int, default=2, help='right-hand sides per stage solved to convergence')
    p.add_argument('--out', default=str(ROOT/'bench'/'out'/'pareto'))
    p.add_argument('--extra', default='', help='more hypergrad.py arguments, e.g. "--reps 2"')
    p.add_argument('--table', default=str(ROOT/'bench'/'pareto.md'), help='where the combined table goes (also OUT/pareto.md)')
    a = p.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    tables = []
    for cfg in a.configs:
        arch, pretext = cfg.split(':')
        f = out/f'{arch}_{pretext}.md'
        vs = ','.join(v for v in a.variants.split(',') if (':branch' not in v or pretext in BRANCH) and (':compile' not in v or arch in COMPILE))
        if pretext in BRANCH: vs += ',lanczos-10:branch,lanczos-15:branch,lanczos-15:branch:h2'
        if not f.exists():
            cmd = [sys.executable, str(ROOT/'bench'/'hypergrad.py'), *ARCH[arch], '--pretext', pretext, '--batches', str(a.batches),
                   '--truth-rhs', str(a.truth_rhs), '--variants', vs, *a.extra.split()]
            print(' '.join(cmd[1:]), flush=True)
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if r.returncode: sys.exit(f'{cfg} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}')
            f.write_text(r.stdout)
        text = f.read_text()
        rs, head = rows(text), next((l for l in text.splitlines() if l.startswith(arch)), cfg)
        front = pareto(rs)
        lines = [f'**{head.split(":")[0]}**', '', '| variant | CPU s / stage | HVPs / stage | cosine vs converged, full batch (min) | per stage | Pareto front |',
                 '| --- | --- | --- | --- | --- | --- |']
        lines += [f'| {k} | {s:.2f} | {n} | {c:.4f} | {st} | {"yes" if k in front else ""} |' for k,(s,n,c,st) in sorted(rs.items(), key=lambda kv: kv[1][0])]
        tables.append('\n'.join(lines))
    res = (f'# The implicit gradient: cost against accuracy\n\n`{" ".join(["python bench/pareto.py", *(argv or sys.argv[1:])])}` '
           f'(OMP_NUM_THREADS=1); each configuration\'s full output, with its Ritz values and converged solves, is in {os.path.relpath(a.out, ROOT)}/ (not kept in git).\n\n'
           + '\n\n'.join(tables) + '\n')
    (out/'pareto.md').write_text(res); Path(a.table).write_text(res)
    print(res)

if __name__ == '__main__': main()
