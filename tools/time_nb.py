"Time each code cell of a notebook: `python tools/time_nb.py nbs/04_learner.ipynb`"
import sys, time, os
from pathlib import Path
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
os.environ['IN_TEST'] = '1'
nb = read_nb(sys.argv[1])
sh = CaptureShell()
os.chdir(Path(sys.argv[1]).parent)
for i, c in enumerate(nb.cells):
    if c.cell_type != 'code' or 'default_exp' in c.source: continue
    t = time.time(); sh.run(c.source)
    if sh.exc: print(f'cell {i} failed: {sh.exc!r}'); break
    print(f'{time.time()-t:7.2f}s  cell {i}: {c.source.splitlines()[0][:70]}')
