"""Round-trip notebooks and 'percent' scripts, an authoring aid: `nbpct.py to-py NB.ipynb` / `nbpct.py to-nb FILE.py NB.ipynb`.
In the script, `# %%` opens a code cell, `# %% [raw]` a raw cell (e.g. `skip_exec` front matter) and `# %% [markdown]`
a markdown cell whose lines are written with a leading `# `."""
import difflib, json, sys
from pathlib import Path

def nb2pct(nb_path):
    "Notebook -> percent text"
    out = []
    for c in json.loads(Path(nb_path).read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown': out.append('# %% [markdown]\n' + '\n'.join(('# '+l).rstrip() for l in src.split('\n')))
        else: out.append(('# %% [raw]\n' if c['cell_type'] == 'raw' else '# %%\n') + src)
    return '\n\n'.join(out) + '\n'

def pct2nb(text):
    "Percent text -> notebook dict"
    cells, cur = [], None
    for line in text.split('\n'):
        if line.startswith('# %%'):
            if cur: cells.append(cur)
            cur = {'type': 'markdown' if '[markdown]' in line else 'raw' if '[raw]' in line else 'code', 'lines': []}
        elif cur is not None: cur['lines'].append(line[2:] if cur['type']=='markdown' and line.startswith('# ') else ('' if cur['type']=='markdown' and line=='#' else line))
    if cur: cells.append(cur)
    nb_cells = []
    for c in cells:
        src = '\n'.join(c['lines']).strip('\n')
        cell = {'cell_type': c['type'], 'metadata': {}, 'source': src.splitlines(keepends=True)}
        if c['type'] == 'code': cell.update(execution_count=None, outputs=[])
        nb_cells.append(cell)
    return {'cells': nb_cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
            'nbformat': 4, 'nbformat_minor': 5}

def keep_ids(new, old):
    "Give the cells of notebook dict `new` the ids of `old`'s matching cells (same source, or changed in place), so diffs stay small"
    src = lambda c: ''.join(c['source'])
    o, n = old['cells'], new['cells']
    sm = difflib.SequenceMatcher(None, [src(c) for c in o], [src(c) for c in n], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag in ('equal', 'replace'):
            for i, j in zip(range(i1, i2), range(j1, j2)):
                if 'id' in o[i]: n[j]['id'] = o[i]['id']
    return new

if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    if cmd == 'to-py': print(nb2pct(args[0]), end='')
    elif cmd == 'to-nb':
        nb, out = pct2nb(Path(args[0]).read_text()), Path(args[1])
        if out.exists(): nb = keep_ids(nb, json.loads(out.read_text()))
        out.write_text(json.dumps(nb, indent=1) + '\n')
    else: sys.exit(__doc__)
