"""Build the docs site from the notebooks, offline: `python tools/build_docs.py [--nbs nbs] [--dest _docs]`.
Every notebook under nbs/ becomes one HTML page through nbconvert's JupyterLab template, stripped of its CDN scripts
(require.js, MathJax, mermaid), with a sidebar of all pages: Home (index), Lessons, Tutorials, Results and the module
Reference. nbdev's directives are honoured (`#| hide` cells are left out, directive lines are not shown), LaTeX is
rendered to MathML by latex2mathml (Chromium draws MathML itself), and links to `.ipynb` go to the `.html` pages.
Each exported public name (functions, classes and `@patch`ed methods) gets nbdev's `show_doc` block under its cell;
a backticked name in the prose links to that block (as nbdev's doclinks do), and a search box in the sidebar finds pages,
headings and API names (the index is a script, `search.js`, so it works from `file://` too).
Why this stack: nbconvert is what renders notebooks everywhere else (GitHub, Jupyter), so a page shows exactly the
saved outputs, and a build is a pure function of the notebooks: no Quarto, no extra Markdown dialect, no network."""
import argparse, ast, importlib, json, re, shutil, sys, time, warnings
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from run_nbs import notebooks, src, skip_exec, directives, front_matter

SECTIONS = ('Home', 'Lessons', 'Tutorials', 'Results', 'Reference')
ASSETS = ('.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp')

def section(rel):
    "The sidebar section of the notebook at `rel` (a path relative to nbs/)"
    if rel.parts[0] in ('lessons', 'tutorials'): return rel.parts[0].capitalize()
    return {'index': 'Home', 'results': 'Results'}.get(rel.stem, 'Reference')

def title(nb, rel):
    "The notebook's first `# heading`, or its file name"
    for c in nb['cells']:
        if c['cell_type'] == 'markdown' and (m := re.search(r'^#\s+(.+)$', src(c), re.M)): return m[1].strip()
    return rel.stem

def pages(nbs_dir):
    "[(rel, html_rel, title, section, nb)] for every notebook under `nbs_dir`, in sidebar order"
    import nbformat
    res = []
    for f in notebooks([nbs_dir]):
        rel = f.relative_to(Path(nbs_dir).resolve())
        nb = nbformat.read(f, as_version=4)
        res.append((rel, rel.with_suffix('.html'), title(nb, rel), section(rel), nb))
    return sorted(res, key=lambda p: (SECTIONS.index(p[3]), _number(p[4]), str(p[0])))

def _number(nb):
    "A tutorial's place in the reading order (its `*Tutorial N of M*` line), else 0"
    for c in nb['cells']:
        if c['cell_type'] == 'markdown' and (m := re.search(r'\*Tutorial (\d+) of \d+', src(c))): return int(m[1])
    return 0

def _math(md, store):
    "Replace `$..$` and `$$..$$` outside code in `md` by placeholders for MathML kept in `store`"
    from latex2mathml.converter import convert
    def sub(m):
        tex, block = (m[1], True) if m[1] is not None else (m[2], False)
        tex = re.sub(r'\\arg(?![a-zA-Z])', r'\\operatorname{arg}', tex)
        try: store.append(convert(tex.strip(), display='block' if block else 'inline'))
        except Exception: store.append(f'<code class="tex">{escape(tex)}</code>')
        return f'BISSLMATH{len(store)-1}X'
    parts = re.split(r'(```.*?```|`[^`\n]*`)', md, flags=re.S)
    return ''.join(p if i % 2 else re.sub(r'\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$', sub, p, flags=re.S) for i,p in enumerate(parts))

def _public(code):
    "Names of the public functions, classes and `@patch`ed methods (as `Class.name`) that `code` defines at top level"
    try: tree = ast.parse(code)
    except SyntaxError: return []
    def owner(n):
        "The class a `@patch`ed function is added to, '' for a plain function, None for one we can't tell"
        if not any(re.match(r'patch\b', ast.unparse(d)) for d in n.decorator_list): return ''
        a = n.args.args[0].annotation if n.args.args else None
        return ast.unparse(a) if isinstance(a, (ast.Name, ast.Attribute)) else None
    res = []
    for n in tree.body:
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or n.name.startswith('_'): continue
        if re.fullmatch(r'(before|after)_\w+', n.name): continue  # a callback's events: its notebook's prose says what they do
        o = '' if isinstance(n, ast.ClassDef) else owner(n)
        if o is not None: res.append(f'{o}.{n.name}' if o else n.name)
    return res

def api_docs(mod, names):
    "nbdev's `show_doc` markdown for `names` in module `mod`, as nbdev's docs insert it after each exported cell"
    from nbdev.showdoc import show_doc
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = importlib.import_module(mod)
    out = []
    for n in names:
        o = m
        for part in n.split('.'): o = getattr(o, part, None)
        if o is None: continue
        md = show_doc(o, title_level=3)._repr_markdown_()
        out.append(re.sub(r'\A\s*---\s*\n+\[source\]\([^)]*\)\{[^}]*\}\s*\n', '', md))
    return '\n\n'.join(out)

def prepare(nb, store, lib='bissl_fast'):
    "Apply nbdev's directives, the API docs of exported names and the math placeholders to `nb` in place"
    from nbformat.v4 import new_markdown_cell
    mod = next((f'{lib}.{d["default_exp"][0]}' for c in nb.cells if c.cell_type == 'code' and (d := directives(src(c))).get('default_exp')), None)
    cells = []
    for c in nb.cells:
        s = src(c)
        if c.cell_type == 'raw' and s.lstrip().startswith('---'): continue
        if c.cell_type == 'markdown': c.source = _math(re.sub(r'\A---\n.*?\n---\n?', '', s, flags=re.S), store)
        if c.cell_type == 'code':
            d = directives(s)
            if 'hide' in d or 'nbdev_export'+'(' in s: continue
            c.source = '\n'.join(l for l in s.splitlines() if not re.match(r'\s*#\s*\|', l)).strip('\n')
            if not c.source and not c.get('outputs'): continue
            if d.get('echo:', [''])[0] == 'false': c.transient = {'remove_source': True}
            if d.get('output:', [''])[0] == 'false': c.outputs = []
            for o in c.get('outputs', []):
                if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = _math(src(dict(source=o.data['text/markdown'])), store)
        cells.append(c)
        if c.cell_type == 'code' and mod and 'export' in d and (names := _public(c.source)):
            cells.append(new_markdown_cell(api_docs(mod, names), id=f'api-{len(cells)}'))
    nb.cells = cells

def nav(ps, here):
    "The sidebar's HTML for the page at `here`"
    up = '../' * (len(here.parts) - 1)
    out, cur = [f'<nav class="sidebar"><a class="brand" href="{up}index.html">bissl_fast</a>',
                f'<input id="search" type="search" placeholder="Search pages and API" data-root="{up}" autocomplete="off">',
                '<ul id="search-results"></ul>'], None
    for rel, html, t, sec, _ in ps:
        if sec != cur:
            if cur: out.append('</ul>')
            out.append(f'<h4>{sec}</h4><ul>'); cur = sec
        cls = ' class="current"' if html == here else ''
        out.append(f'<li><a{cls} href="{_rel(html, here)}">{escape(t)}</a></li>')
    return '\n'.join(out + ['</ul></nav>'])

def _rel(target, here):
    "`target` (relative to the site root) as a link from the page `here`"
    up = '../' * (len(here.parts) - 1)
    return up + target.as_posix()

def _links(html):
    "Point relative `.ipynb` links at the `.html` pages"
    return re.sub(r'href="(?![a-z]+:|#)([^"#]*?)\.ipynb(#[^"]*)?"', lambda m: f'href="{m[1]}.html{m[2] or ""}"', html)

def _api_heading(body, name):
    "Is `<h3 id=name>` on the page `body` the heading of an API block (a `show_doc` cell)?"
    i = body.find(f'<h3 id="{name}"')
    return i >= 0 and body.startswith('id="cell-id=api-', body.rfind('id="cell-id=', 0, i))

def learner_aliases(api):
    "`fit_bilevel` for `BilevelLearner.fit_bilevel`: the learners' own methods by their short names, where unambiguous"
    from fastai.learner import Learner
    res = {}
    for a in api:
        cls, _, m = a.rpartition('.')
        fastais = getattr(getattr(Learner, m, None), '__module__', 'bissl_fast').startswith('fastai')
        if cls.endswith('Learner') and m not in api and not fastais: res.setdefault(m, []).append(api[a])
    return {m: v[0] for m, v in res.items() if len(v) == 1}

def doclinks(body, api, here):
    "Link each backticked `name` (or `name()`) outside links and headings to its API block, as nbdev's doclinks do"
    def link(m):
        if m[2] not in api: return m[0]
        html, anchor = api[m[2]]
        href = (_rel(html, here) if html != here else '') + '#' + anchor
        return f'<a class="doclink" href="{href}">{m[1]}</a>'
    parts = re.split(r'(<a\b.*?</a>|<h[1-6]\b.*?</h[1-6]>|<pre\b.*?</pre>)', body, flags=re.S)
    sub = lambda p: re.sub(r'(<code>([A-Za-z_][\w.]*?)(?:\(\))?</code>)', link, p)
    return ''.join(p if i % 2 else sub(p) for i, p in enumerate(parts))

def search_entries(body, html, page_title):
    "The search index's entries of one page: the page, its headings and its API names"
    res = [dict(t=page_title, p=page_title, h=html.as_posix(), k='page')]
    for tag, anchor, text in re.findall(r'<(h[1-3]) id="([^"]+)"[^>]*>(.*?)</\1>', body, re.S):
        text = re.sub(r'<[^>]+>', '', text).replace('¶', '').strip()
        if text and text != page_title:
            k = 'api' if tag == 'h3' and re.fullmatch(r'[\w.]+', anchor) and _api_heading(body, anchor) else 'section'
            res.append(dict(t=text, p=page_title, h=f'{html.as_posix()}#{anchor}', k=k))
    return res

def lab_css():
    "nbconvert's JupyterLab styles (light theme), shared by all pages instead of inlined in each"
    from jupyter_core.paths import jupyter_path
    d = next(Path(p)/'lab'/'static' for p in jupyter_path('nbconvert', 'templates') if (Path(p)/'lab'/'static'/'index.css').exists())
    return '\n'.join((d/n).read_text(encoding='utf-8') for n in ('index.css', 'theme-light.css'))

def build(nbs_dir=ROOT/'nbs', dest=ROOT/'_docs'):
    "Build the site from the notebooks in `nbs_dir` into `dest`; returns the pages' paths"
    from nbconvert import HTMLExporter
    nbs_dir, dest = Path(nbs_dir).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ps = pages(nbs_dir)
    ex = HTMLExporter(extra_template_basedirs=[str(ROOT/'tools')], template_name='docs_template', exclude_anchor_links=False)
    bodies = {}
    for rel, html, t, sec, nb in ps:
        store = []
        skip, fm = skip_exec(nb), front_matter(nb)
        prepare(nb, store)
        res = dict(nav=nav(ps, html), css=_rel(Path('site.css'), html), lab_css=_rel(Path('lab.css'), html),
                   metadata=dict(name=f'{t} · bissl_fast'), section=sec, executed='false' if skip else 'true',
                   skip_note=skip and sec != 'Home', skip_why=fm.get('skip_why', ''),
                   search=_rel(Path('search.js'), html), search_box=_rel(Path('search_box.js'), html))
        body, _ = ex.from_notebook_node(nb, resources=res)
        bodies[html] = re.sub(r'BISSLMATH(\d+)X', lambda m: store[int(m[1])], _links(body))
    api = {a: (html, a) for html, b in bodies.items() for a in re.findall(r'<h3 id="([\w.]+)"', b) if _api_heading(b, a)}
    api |= learner_aliases(api)
    entries = []
    for html, body in bodies.items():
        body = doclinks(body, api, html)
        entries += search_entries(body, html, next(p[2] for p in ps if p[1] == html))
        (dest/html).parent.mkdir(parents=True, exist_ok=True)
        (dest/html).write_text(body, encoding='utf-8')
    (dest/'search.js').write_text('window.BISSL_SEARCH = ' + json.dumps(entries, ensure_ascii=False) + ';\n', encoding='utf-8')
    shutil.copy(ROOT/'tools'/'docs_template'/'search_box.js', dest/'search_box.js')
    shutil.copy(ROOT/'tools'/'docs_template'/'site.css', dest/'site.css')
    (dest/'lab.css').write_text(lab_css(), encoding='utf-8')
    for f in nbs_dir.rglob('*'):
        if f.suffix.lower() in ASSETS and not any(s.startswith(('_', '.')) for s in f.relative_to(nbs_dir).parts):
            (dest/f.relative_to(nbs_dir)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dest/f.relative_to(nbs_dir))
    return [dest/p[1] for p in ps]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--nbs', default=str(ROOT/'nbs')); p.add_argument('--dest', default=str(ROOT/'_docs'))
    a = p.parse_args()
    start = time.time()
    out = build(a.nbs, a.dest)
    print(f'{len(out)} pages in {a.dest} ({time.time()-start:.1f}s): open {Path(a.dest)/"index.html"}')

if __name__ == '__main__': main()
