"""The pictures and sizes of the notebooks, before and after: `python tools/figures.py [REV] [--check] [--scan]`.
Per notebook under nbs/: the count of pictures saved in its outputs, their widths in pixels (median, smallest), and
the file's size, for the working tree and, given a git revision `REV`, for that revision (read with
`git show REV:path`), as a markdown table "before → after". `--check` fails (exit 1) where a picture is under 300 px
wide, the median width is under 600 px, a picture is blank (a single colour: an empty figure) or a notebook is over
1 MB. `--scan` lists the saved outputs that hold a warning or an absolute machine path (`/tmp/`, `/work/`, `/root/`,
`/home/`)."""
import argparse, base64, io, json, re, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIN_W, MEDIAN_W, MAX_BYTES = 300, 600, 1_000_000
IMAGES = ('image/png', 'image/jpeg')
WARNING = re.compile(r'\b\w*Warning\b[:(]|^\s*warnings\.warn', re.M)
MACHINE_PATH = re.compile(r'(?<![\w.])/(?:tmp|work|root|home)/[^\s\'"]*')

def pictures(nb):
    "The (cell index, mime type, raw bytes) of every picture in notebook `nb`'s outputs"
    return [(i, m, base64.b64decode(''.join(o['data'][m]))) for i, c in enumerate(nb['cells'])
            for o in c.get('outputs', []) for m in IMAGES if m in o.get('data', {})]

def width(img):
    "The width in pixels of a PNG or JPEG picture"
    from PIL import Image
    return Image.open(io.BytesIO(img)).size[0]

def blank(img):
    "Is the picture a single colour (an empty figure)?"
    from PIL import Image
    lo, hi = Image.open(io.BytesIO(img)).convert('L').getextrema()
    return hi - lo < 8

def summary(ws, nbytes):
    "{pictures, median, smallest, bytes} of the widths `ws` and a size"
    return dict(pictures=len(ws), median=statistics.median(ws) if ws else None, smallest=min(ws) if ws else None,
                bytes=nbytes, widths=ws)

def stats(raw):
    "`summary` of a notebook's JSON text `raw`, with the cells of its blank pictures"
    pics = pictures(json.loads(raw))
    return dict(summary([width(b) for _, _, b in pics], len(raw.encode('utf-8'))),
                blank=[i for i, _, b in pics if blank(b)])

def tree_notebooks():
    "The notebooks under nbs/ in the working tree, relative to the repo"
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/'nbs').rglob('*.ipynb')
                  if not any(s.startswith(('_', '.')) for s in p.relative_to(ROOT/'nbs').parts[:-1]))

def rev_notebooks(rev):
    "{path: JSON text} of the notebooks under nbs/ at git revision `rev`"
    git = lambda *a: subprocess.run(['git', *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = git('ls-tree', '-r', '--name-only', rev, 'nbs').split()
    names = [n for n in names if n.endswith('.ipynb') and not any(s.startswith(('_', '.')) for s in n.split('/')[1:-1])]
    return {n: git('show', f'{rev}:{n}') for n in names}

def _w(s): return '–' if s is None or s['median'] is None else f"{s['median']:.0f} / {s['smallest']}"
def _n(s): return '–' if s is None else str(s['pictures'])
def _kb(s): return '–' if s is None else f"{s['bytes']/1e3:.0f}"
def _arrow(a, b): return b if a == b else f'{a} → {b}'

def table(before, after, rev=None):
    "The markdown table of `before` and `after` ({path: stats}; before may be empty)"
    head = ('| notebook | pictures | width px, median / smallest | kB |' if not rev else
            f'| notebook | pictures ({rev} → now) | width px, median / smallest | kB |')
    rows = [head, '| --- | --- | --- | --- |']
    for n in sorted(set(before) | set(after)):
        b, a = before.get(n) if rev else None, after.get(n)
        if rev: rows.append(f'| {n[4:]} | {_arrow(_n(b), _n(a))} | {_arrow(_w(b), _w(a))} | {_arrow(_kb(b), _kb(a))} |')
        else: rows.append(f'| {n[4:]} | {_n(a)} | {_w(a)} | {_kb(a)} |')
    def total(d): return summary([w for s in d.values() for w in s['widths']], sum(s['bytes'] for s in d.values()))
    b, a = total(before), total(after)
    if rev: rows.append(f'| **all** | {_arrow(_n(b), _n(a))} | {_arrow(_w(b), _w(a))} | {_arrow(_kb(b), _kb(a))} |')
    else: rows.append(f'| **all** | {_n(a)} | {_w(a)} | {_kb(a)} |')
    return '\n'.join(rows)

def all_stats(texts):
    "{path: stats} of {path: JSON text}"
    return {n: stats(raw) for n, raw in texts.items()}

def problems(after):
    "What breaks the picture rules, one line each"
    ws = [w for s in after.values() for w in s['widths']]
    res = [f'{n}: a picture {w} px wide (under {MIN_W})' for n, s in after.items() for w in s['widths'] if w < MIN_W]
    if ws and statistics.median(ws) < MEDIAN_W:
        res.append(f'median width {statistics.median(ws):.0f} px (under {MEDIAN_W})')
    res += [f'{n}: cell {i} shows a blank picture' for n, s in after.items() for i in s['blank']]
    res += [f'{n}: {s["bytes"]/1e6:.2f} MB (over {MAX_BYTES/1e6:.0f} MB)'
            for n, s in after.items() if s['bytes'] > MAX_BYTES]
    return res

def output_text(o):
    "The text of one output: streams, errors and text/plain or text/html data"
    if 'text' in o: return ''.join(o['text'])
    if o.get('output_type') == 'error': return '\n'.join(o.get('traceback', []))
    d = o.get('data', {})
    return ''.join(''.join(d[m]) for m in ('text/plain', 'text/html', 'text/markdown') if m in d)

def scan(texts):
    "{path: [(cell, 'warning'|'path', excerpt)]} of the saved outputs holding a warning or a machine path"
    res = {}
    for n, raw in texts.items():
        hits = []
        for i, c in enumerate(json.loads(raw)['cells']):
            for o in c.get('outputs', []):
                t = output_text(o)
                if o.get('name') == 'stderr' and 'warn' in t.lower() or WARNING.search(t):
                    m = WARNING.search(t) or re.search('warn', t, re.I)
                    hits.append((i, 'warning', t[max(0, m.start()-60):m.end()+60].replace('\n', ' ')))
                hits += [(i, 'path', m[0][:80]) for m in MACHINE_PATH.finditer(t)]
        if hits: res[n] = list(dict.fromkeys(hits))
    return res

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('rev', nargs='?', help='git revision for the "before" column')
    p.add_argument('--check', action='store_true', help='fail where a picture rule is broken')
    p.add_argument('--scan', action='store_true', help='list saved outputs with a warning or a machine path')
    a = p.parse_args()
    now = {n: (ROOT/n).read_text(encoding='utf-8') for n in tree_notebooks()}
    after = all_stats(now)
    before = all_stats(rev_notebooks(a.rev)) if a.rev else {}
    print(table(before, after, a.rev))
    bad = problems(after)
    if a.check: print('\n' + ('\n'.join(bad) if bad else 'pictures: no rule broken'))
    if a.scan:
        found = scan(now)
        print('\n' + ('\n'.join(f'{n}: cell {i}: {k}: {x}' for n, hs in found.items() for i, k, x in hs)
                      if found else 'saved outputs: no warning, no machine path'))
        bad += [n for n in found]
    if (a.check or a.scan) and bad: sys.exit(1)

if __name__ == '__main__': main()
