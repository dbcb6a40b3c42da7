"""Execute notebooks on the CPU and save their outputs in place, stamped with a hash of their code cells.
`python tools/run_nbs.py [-j 2] [NB_OR_FOLDER ...]` (default: every notebook under nbs/, recursively).
Cells are skipped as `nbdev_test` skips them: settings.ini's `tst_flags`, `#| eval: false`, and whole notebooks whose
front matter says `skip_exec: true` (those are stamped, with no outputs); a cell marked `#| exec_docs` runs here even so
(the home page's quick start: too long for the suite, which runs it shortened, but its output belongs on the page). Each notebook runs in its own process with a
fresh `CaptureShell`; figures are PNG in the project's style (`STYLE`: 100 dpi, text ≥ 9 pt). The result is cleaned
as `nbdev_clean` cleans, so `nbdev_clean` leaves it unchanged, and the stamp `metadata.bissl_fast` (kept by settings.ini's `allowed_metadata_keys`) holds `code_hash`
and what the notebook ran on. tests/test_docs.py fails when a notebook's code no longer matches its stamp."""
import argparse, hashlib, json, os, platform, re, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor, as_completed
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY, MAX_BYTES = 'bissl_fast', 1_000_000
# Run before the notebook: the project's one figure style (100 dpi, text of 9 pt or more: readable on the site, modest
# PNGs), and no torch.jit deprecation notice from an import on every page (as the CLI).
STYLE = {'figure.dpi': 100, 'savefig.dpi': 100, 'font.size': 10, 'axes.titlesize': 11, 'axes.labelsize': 10,
         'xtick.labelsize': 9, 'ytick.labelsize': 9, 'legend.fontsize': 9, 'figure.titlesize': 12,
         'figure.max_open_warning': 0}
SETUP = f"""import matplotlib as _mpl, warnings as _w
_mpl.rcParams.update({STYLE!r})
_w.filterwarnings('ignore', message='`torch.jit.', category=FutureWarning)"""

def cfg():
    "settings.ini's [DEFAULT] section"
    c = ConfigParser(delimiters=['=']); c.read(ROOT/'settings.ini', encoding='utf-8')
    return c['DEFAULT']

def notebooks(paths=()):
    "The notebooks in `paths` (files or folders; default nbs/), sorted, without checkpoints or `_`/`.` folders"
    res = []
    for p in map(Path, paths or [ROOT/'nbs']):
        fs = [p] if p.suffix == '.ipynb' else p.rglob('*.ipynb')
        res += [f.resolve() for f in fs if not any(s.startswith(('_', '.')) for s in f.relative_to(p).parts[:-1])]
    return sorted(set(res))

def src(cell):
    "A cell's source as one string"
    s = cell.get('source', '')
    return s if isinstance(s, str) else ''.join(s)

def code_hash(nb):
    "sha256 of the notebook's code cells' sources, in order: what its outputs were made from"
    codes = [src(c) for c in nb['cells'] if c['cell_type'] == 'code']
    return hashlib.sha256(json.dumps(codes).encode()).hexdigest()

def front_matter(nb):
    "The `key: value` lines of the notebook's front matter: its first raw or markdown cell, between `---` lines"
    first = next((c for c in nb['cells'] if c['cell_type'] in ('markdown', 'raw')), None)
    m = first is not None and re.match(r'\s*---\n(.*?)\n---', src(first), re.S)
    return dict(re.findall(r'^(\w+):\s*(.*?)\s*$', m[1], re.M)) if m else {}

def skip_exec(nb):
    "Does the notebook's front matter say `skip_exec: true`?"
    return front_matter(nb).get('skip_exec') == 'true'

def directives(s):
    "The `#| name args` lines opening a cell, as {name: args}"
    d = {}
    for line in s.splitlines():
        m = re.match(r'\s*#\s*\|\s*(\S+)(.*)', line)
        if m: d[m[1]] = m[2].split()
        elif line.strip(): break
    return d

def no_eval(cell, flags, docs=False):
    "Is `cell` one that `nbdev_test` does not run? With `docs`, a cell marked `#| exec_docs` runs all the same"
    if cell['cell_type'] != 'code' or 'nbdev_export'+'(' in src(cell): return True
    d = directives(src(cell))
    if docs and 'exec_docs' in d: return False
    return d.get('eval:', [''])[0].lower() == 'false' or bool(set(flags) & d.keys())

def _crunch(text):
    "Stream text as a terminal shows it: each line keeps what follows its last carriage return"
    return ''.join(re.sub(r'^.*\r(?!\n)', '', l) for l in text.splitlines(True))

def _tidy(cell):
    "Collapse progress bars' carriage returns in `cell`'s stream outputs"
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream':
            t = _crunch(src(dict(source=o['text'])))
            o['text'] = t.splitlines(True)

def _ran_on():
    "What the outputs were made on"
    import torch
    return dict(device='cpu', python=platform.python_version(), torch=torch.__version__,
                threads=torch.get_num_threads(), machine=platform.machine())

def execute(fn):
    "Run notebook `fn` in this process, then write it back with its outputs and stamp; raises on a failing cell"
    from execnb.nbio import read_nb, write_nb, dict2nb
    from execnb.shell import CaptureShell
    from nbdev.clean import clean_nb
    c = cfg()
    fn = Path(fn).resolve()
    nb = read_nb(fn)
    for cell in nb.cells:
        if cell.cell_type == 'code': cell.outputs, cell.execution_count = [], None
    start = time.time()
    if not skip_exec(nb):
        sys.path.insert(0, str(ROOT)); os.chdir(fn.parent)
        sh = CaptureShell(fn, mpl_format='png')
        sh.run(SETUP)
        flags = c['tst_flags'].split('|')
        try: sh.run_all(nb, exc_stop=True, preproc=lambda cell: no_eval(cell, flags, docs=True),
                   postproc=_tidy)
        except Exception: raise RuntimeError(sh.prettytb(fname=fn)) from None
    nb = json.loads(json.dumps(nb))
    clean_nb(nb, False, c.get('allowed_metadata_keys', '').split(), c.get('allowed_cell_metadata_keys', '').split(),
             c.get('clean_ids', 'True') == 'True')
    nb['metadata'][KEY] = dict(code_hash=code_hash(nb), executed=not skip_exec(nb), seconds=round(time.time()-start, 1), **_ran_on())
    write_nb(dict2nb(nb), fn)

def problems(fn):
    "Why notebook `fn`'s saved outputs are not fresh: a list of reasons, empty when they are"
    nb, res = json.loads(Path(fn).read_text(encoding='utf-8')), []
    stamp = nb.get('metadata', {}).get(KEY, {})
    if not stamp.get('code_hash'): res.append('never executed (no stamp)')
    elif stamp['code_hash'] != code_hash(nb): res.append('code changed since its outputs were made')
    codes = [c for c in nb['cells'] if c['cell_type'] == 'code']
    if codes and not skip_exec(nb) and not any(c.get('outputs') for c in codes): res.append('no outputs')
    if Path(fn).stat().st_size > MAX_BYTES: res.append(f'over {MAX_BYTES/1e6:.0f} MB')
    return res

def stale(paths=()):
    "{notebook: reasons} for the notebooks in `paths` whose outputs are missing, stale or too big"
    return {f: r for f in notebooks(paths) if (r := problems(f))}

def _one(fn, threads):
    "Execute `fn` in a child process; (name, ok, seconds, message)"
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    env.pop('IN_TEST', None)
    start = time.time()
    r = subprocess.run([sys.executable, __file__, '--one', str(fn)], env=env, capture_output=True, text=True)
    secs, name = time.time()-start, str(fn.relative_to(ROOT)) if fn.is_relative_to(ROOT) else str(fn)
    size = fn.stat().st_size
    msg = f'{secs:7.1f}s {size/1e3:7.0f} kB  {name}'
    if r.returncode: return name, False, secs, msg + '  FAILED\n' + r.stdout[-3000:] + r.stderr[-6000:]
    if size > MAX_BYTES: return name, False, secs, msg + f'  TOO BIG: over {MAX_BYTES/1e6:.0f} MB, make its figures smaller or fewer'
    return name, True, secs, msg

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('paths', nargs='*', help='notebooks or folders (default: nbs/)')
    p.add_argument('-j', '--jobs', type=int, default=2, help='notebooks run at once')
    p.add_argument('--check', action='store_true', help='only list the notebooks whose outputs are missing or stale')
    p.add_argument('--one', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        try: return execute(a.one)
        except RuntimeError as e: sys.exit(str(e))
    if a.check:
        bad = stale(a.paths)
        for f, r in bad.items(): print(f'{f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}: {"; ".join(r)}')
        sys.exit(1 if bad else 0)
    nbs = notebooks(a.paths)
    threads = os.environ.get('OMP_NUM_THREADS') or max(1, (os.cpu_count() or 1)//a.jobs)
    print(f'executing {len(nbs)} notebooks, {a.jobs} at a time, {threads} thread(s) each', flush=True)
    start, bad = time.time(), []
    with ThreadPoolExecutor(a.jobs) as ex:
        for fut in as_completed([ex.submit(_one, f, threads) for f in nbs]):
            name, ok, secs, msg = fut.result()
            print(msg, flush=True)
            if not ok: bad.append(name)
    print(f'{time.time()-start:7.1f}s in all')
    if bad: sys.exit(f'run_nbs: {len(bad)} notebook(s) failed or are too big: {" ".join(bad)}')

if __name__ == '__main__': main()
