"""Resident memory (RSS) per training step of stage 1 on the CPU, for each pretext, with glibc's default heap and with
`set_mmap_threshold` (what the CLI does): digits 16 px, tiny_cnn, each pretext's default head, Adam, `fit_one_cycle`.
Each run is a fresh process, so that one run's heap does not shape the next one's.

  python bench/memory.py                     # markdown table: RSS (MB) at a few steps, per pretext and heap
  python bench/memory.py --steps 400 --pretexts vicreg barlow_twins --heaps default env
  python bench/memory.py --run vicreg --heap flat --steps 300   # one run, here: JSON {rss_mb: [...], cpu_s, wall_s}

Heaps: `default` (glibc's sliding mmap threshold), `flat` (`set_mmap_threshold()` called first, as `bissl_fast`'s
`main` does), `env` (`MALLOC_MMAP_THRESHOLD_=1048576` in the environment, as an API user would set it)."""
import argparse, json, os, subprocess, sys, time, warnings
from pathlib import Path

PAGE = os.sysconf('SC_PAGE_SIZE')
def rss_mb(): return int(Path('/proc/self/statm').read_text().split()[1])*PAGE/2**20

def run(pretext, steps, heap, pretext_bs, seed=0):
    "Train `steps` stage-1 steps in this process; RSS in MB after each, CPU and wall seconds"
    if heap == 'flat':
        from bissl_fast.pretext import set_mmap_threshold
        set_mmap_threshold()
    warnings.filterwarnings('ignore')
    from fastai.vision.all import set_seed, Callback, CancelFitException
    from bissl_fast.datasets import digits_dls
    from bissl_fast.pretext import tiny_cnn, pretext_learner
    class RSS(Callback):
        "RSS after each training step; stops the fit after `steps`"
        def __init__(self): self.mb = []
        def after_batch(self):
            if not self.training: return
            self.mb.append(round(rss_mb(), 1))
            if len(self.mb) >= steps: raise CancelFitException()
    set_seed(seed)
    dls = digits_dls(bs=12, pretext_bs=pretext_bs, size=16, n_labeled_per_class=10, seed=seed, device='cpu')
    learn,rec = pretext_learner(dls, tiny_cnn, pretext, metrics=[]),RSS()
    epochs = -(-steps // len(learn.dls.train)) + 1
    t,c = time.perf_counter(),time.process_time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 3e-3, cbs=rec)
    return dict(rss_mb=rec.mb, cpu_s=round(time.process_time()-c, 1), wall_s=round(time.perf_counter()-t, 1))

def run_fresh(pretext, steps, heap, pretext_bs=16, threads=1, timeout=None):
    "`run` in a new Python process (so that earlier runs leave no heap behind); its result"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop('MALLOC_MMAP_THRESHOLD_', None)
    if heap == 'env': env['MALLOC_MMAP_THRESHOLD_'] = str(1 << 20)
    cmd = [sys.executable, __file__, '--run', pretext, '--heap', heap, '--steps', str(steps), '--pretext_bs', str(pretext_bs)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode: raise RuntimeError(f'{" ".join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}')
    return json.loads(p.stdout.strip().splitlines()[-1])

def growth(mb, start=50):
    "How far RSS rose above its value at step `start` (the warm-up's allocations done)"
    return max(mb[start:]) - mb[start-1]

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pretexts', nargs='+', default=['simclr', 'byol', 'vicreg', 'barlow_twins', 'moco'])
    p.add_argument('--heaps', nargs='+', default=['default', 'flat'], choices=['default', 'flat', 'env'])
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--pretext_bs', type=int, default=16, help='images per view (the CLI default for digits is 128)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--run', help='one run in this process, printing JSON (used by the table and tests/test_memory.py)')
    p.add_argument('--heap', default='default', choices=['default', 'flat', 'env'])
    a = p.parse_args()
    if a.run: print(json.dumps(run(a.run, a.steps, a.heap, a.pretext_bs))); return
    at = sorted({1, 50, *range(100, a.steps+1, 100), a.steps})
    print(f'digits 16 px, tiny_cnn, default heads, {a.pretext_bs} images per view, {a.threads} thread(s), '
          f'{a.steps} steps; RSS in MB after step k\n')
    print(f'| pretext | heap | {" | ".join(f"step {k}" for k in at)} | growth after step 50 | CPU s / step |')
    print('| --- | --- | ' + '--- | '*(len(at)+2))
    for pt in a.pretexts:
        for h in a.heaps:
            r = run_fresh(pt, a.steps, h, a.pretext_bs, a.threads)
            mb = r['rss_mb']
            print(f'| {pt} | {h} | {" | ".join(f"{mb[k-1]:.0f}" for k in at)} | {growth(mb):+.0f} | '
                  f'{r["cpu_s"]/len(mb):.3f} |', flush=True)

if __name__ == '__main__': main()
