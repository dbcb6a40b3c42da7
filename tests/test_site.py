"""The docs site in a real browser: headless Debian Chromium loads every page (tools/check_site.py). The checker is
shown to catch each kind of problem on a broken page; a small generated site goes through the whole path (execute,
stamp, nbdev_clean, build, browser); the real site is built from nbs/ into a temporary folder, checked page by page,
and three screenshots are saved in _docs/screenshots/: the home page, lesson 3's hand-written alternation and an API
block. Development set only (selenium; tools/test.sh)."""
import json, re, shutil, struct, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from check_site import check_site, report, browser, link_problem
from build_docs import build, section, _public, doclinks
from run_nbs import stale

SHOTS = ROOT/'_docs'/'screenshots'
PNG1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

def test_checker_finds_each_problem(tmp_path):
    tmp_path = tmp_path.resolve()
    (tmp_path/'ok.html').write_text(f'''<html><head><meta name="bissl-page" data-executed="true"></head><body>
<h2 id="top">ok</h2><a href="bad.html#top">b</a> <a href="#top">t</a> <a href="https://example.org">external link</a>
<div class="jp-CodeCell"><div class="jp-OutputArea-output">1</div></div><img src="data:image/png;base64,{PNG1}">
<div id="bissl-end" hidden></div></body></html>''')
    (tmp_path/'bad.html').write_text(f'''<html><head><meta name="bissl-page" data-executed="true"></head><body><h2 id="top">bad</h2>
<img src="nope.png"> <a href="missing.html">m</a> <a href="ok.html#nowhere">n</a> <div class="jp-CodeCell"></div>
<div class="jp-InputArea" style="width:200px; overflow:hidden"><pre>{'x = 1; ' * 60}</pre></div>
<script src="https://cdn.invalid/x.js"></script><script>throw new Error('boom')</script></body></html>''')
    shots = {tmp_path/'shots'/'ok.png': (tmp_path/'ok.html', '#top'),
             tmp_path/'shots'/'bad.png': (tmp_path/'bad.html', '#nope')}
    res = check_site(tmp_path, shots)
    assert res[tmp_path/'ok.html'] == [] and all(p.stat().st_size for p in shots)
    bad = '\n'.join(res[tmp_path/'bad.html'])
    for want in ("screenshot bad.png: nothing matches '#nope'",
                 'missing image: nope.png', 'broken link: missing.html', 'broken link: ok.html#nowhere (no such anchor)',
                 'network resource: https://cdn.invalid/x.js', 'Uncaught Error: boom', 'no outputs: 1 code cells',
                 'page cut short', '1 code or text blocks wider than the page'):
        assert want in bad, f'{want!r} not reported in:\n{bad}'

def _nb(path, *cells):
    "Write a notebook of ('md'|'code', source) cells to `path`"
    cs = [dict(cell_type='markdown' if k == 'md' else 'code', source=s, metadata={}, id=f'c{i}',
               **({} if k == 'md' else dict(outputs=[], execution_count=None))) for i, (k, s) in enumerate(cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(cells=cs, metadata={}, nbformat=4, nbformat_minor=5), indent=1))

def _png_width(b64):
    "The width of a base64 PNG"
    import base64
    return struct.unpack('>I', base64.b64decode(b64)[16:20])[0]

def test_sample_site(tmp_path):
    "Execute, stamp, clean and build a tiny docs set; every page passes the browser checks"
    nbs = tmp_path/'nbs'
    _nb(nbs/'index.ipynb', ('md', '# Home\n> A sample.\n\nSee [the plot](tutorials/plot.ipynb) and $\\lambda^2$.'), ('code', 'print(1+1)'))
    _nb(nbs/'tutorials'/'plot.ipynb', ('md', '# A plot\n\n*Tutorial 1 of 2*\n\n$$\\frac{1}{2}h\\theta^2$$'),
        ('code', 'import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);'), ('code', '#| slow\nraise ValueError'),
        ('md', '[Home](../index.ipynb#Home)'))
    _nb(nbs/'tutorials'/'gpu.ipynb', ('md', '# Needs a GPU\n\n*Tutorial 2 of 2*'), ('code', 'raise RuntimeError("not run for the docs")'))
    nb = json.loads((nbs/'tutorials'/'gpu.ipynb').read_text())
    nb['cells'].insert(0, dict(cell_type='raw', source='---\nskip_exec: true\nskip_why: it needs a GPU\n---', metadata={}, id='fm'))
    (nbs/'tutorials'/'gpu.ipynb').write_text(json.dumps(nb))
    shutil.copy(ROOT/'settings.ini', tmp_path/'settings.ini')
    subprocess.run([sys.executable, str(ROOT/'tools'/'run_nbs.py'), '-j', '2', str(nbs)], check=True, capture_output=True)
    assert stale([nbs]) == {}
    nb = json.loads((nbs/'tutorials'/'plot.ipynb').read_text())
    png = nb['cells'][1]['outputs'][-1]['data']['image/png']
    assert _png_width(png) <= 600 and nb['cells'][2]['outputs'] == []
    before = {p: p.read_bytes() for p in nbs.rglob('*.ipynb')}
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean')], cwd=tmp_path, check=True, capture_output=True)
    assert {p: p.read_bytes() for p in nbs.rglob('*.ipynb')} == before, 'nbdev_clean changed an executed notebook'
    pages = build(nbs, tmp_path/'site')
    assert sorted(p.relative_to(tmp_path/'site').as_posix() for p in pages) == ['index.html', 'tutorials/gpu.html', 'tutorials/plot.html']
    gpu = (tmp_path/'site'/'tutorials'/'gpu.html').read_text()
    assert 'not executed for the docs (it needs a GPU)' in gpu and 'skip_exec: true' in gpu
    assert gpu.index("tutorials/plot.html") < gpu.index("tutorials/gpu.html"), 'tutorials in reading order (Tutorial N of M), not by name'
    html = (tmp_path/'site'/'tutorials'/'plot.html').read_text()
    assert 'data:image/png' in html and '<math' in html and 'href="../index.html#Home"' in html
    res = check_site(tmp_path/'site')
    assert not any(res.values()), report(res, tmp_path/'site')

def test_api_names_and_doclinks():
    "Functions, classes and `@patch`ed methods get API blocks (callback events don't); backticked names link to them"
    code = '@patch\ndef fit_bilevel(self:BilevelLearner, n): pass\ndef f(): pass\nclass C: pass\ndef _g(): pass\n' \
           '@patch\ndef after_batch(self:C): pass\n@patch(as_prop=True)\ndef lower(self:C): pass'
    assert _public(code) == ['BilevelLearner.fit_bilevel', 'f', 'C', 'C.lower']
    body = ('<p><code>f</code> and <code>f()</code>, <a href="x"><code>f</code></a>, <code>nope</code></p>'
            '<pre><code>f</code></pre><h3 id="f">f <code>f</code></h3>')
    out = doclinks(body, {'f': (Path('a.html'), 'f')}, Path('tutorials/b.html'))
    assert out.count('class="doclink"') == 2 and out.count('href="../a.html#f"') == 2, out
    assert '<pre><code>f</code></pre>' in out and '<h3 id="f">f <code>f</code></h3>' in out and '<code>nope</code></p>' in out

def test_failing_notebook_is_left_alone(tmp_path):
    "A cell that raises fails the command, names the notebook, and leaves the file as it was"
    f = tmp_path/'nbs'/'bad.ipynb'
    _nb(f, ('md', '# Bad'), ('code', 'print(1)'), ('code', 'raise ValueError("broken cell")'), ('code', 'print(2)'))
    before = f.read_bytes()
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'run_nbs.py'), str(f)], capture_output=True, text=True)
    assert r.returncode != 0 and 'broken cell' in r.stdout + r.stderr and 'bad.ipynb' in r.stderr
    assert f.read_bytes() == before

def test_sections():
    "Pages are grouped by where their notebook lives, so new lessons and the Results page need no list"
    got = [section(Path(p)) for p in ('index.ipynb', 'results.ipynb', 'lessons/01_ssl.ipynb', 'tutorials/simclr.ipynb', '04a_checkpoint.ipynb')]
    assert got == ['Home', 'Results', 'Lessons', 'Tutorials', 'Reference']

def _pick(pages, site, *prefer, section=None):
    "The first of `prefer` that was built, else the first page in `section`"
    rels = [p.relative_to(site).as_posix() for p in pages]
    return site/next((r for r in prefer if r in rels), next((r for r in rels if section is None or r.startswith(section)), rels[0]))

def test_docs_site(tmp_path):
    "The site from nbs/: every page loads without a problem; screenshots in _docs/screenshots/"
    site = tmp_path/'site'
    pages = build(ROOT/'nbs', site)
    ref = [p for p in pages if p.parent == site and p.name[0].isdigit()]
    shots = {SHOTS/'home.png': site/'index.html',
             SHOTS/'lesson3_by_hand.png': (site/'lessons'/'03_bissl_end_to_end.html', '[id="One-alternation-by-hand"]'),
             SHOTS/'api.png': (_pick(ref or pages, site, '04_learner.html'), '[id^="cell-id=api-"]')}
    res = check_site(site, shots)
    assert len(res) == len(pages)
    lines = report(res, site).splitlines()
    assert not lines, f'{len(lines)} problems (`bash tools/docs.sh` makes missing outputs):\n' + '\n'.join(lines[:30])
    assert all(p.exists() for p in shots)
    _check_search_and_links(site)

def _search(site, query, page='index.html'):
    "The search box's hits for `query` on `page`, as (text, href)"
    drv = browser()
    try:
        drv.get((site/page).resolve().as_uri())
        drv.find_element('id', 'search').send_keys(query)
        return [(a.text, a.get_attribute('href')) for a in drv.find_elements('css selector', '#search-results a')]
    finally: drv.quit()

def _check_search_and_links(site):
    "The search index points at real anchors, the box finds an API name, names link to their API blocks"
    js = (site/'search.js').read_text(encoding='utf-8')
    entries = json.loads(js[js.index('=')+1:].strip().rstrip(';'))
    bad = [e['h'] for e in entries if link_problem(e['h'], site/'search.js', site, set())]
    assert not bad, f'search entries pointing nowhere: {bad[:10]}'
    api = {e['t'] for e in entries if e['k'] == 'api'}
    assert {'bissl_learner', 'BilevelCallback', 'BilevelLearner.fit_bilevel', 'Learner.checkpoint_state'} <= api
    hits = _search(site, 'fit_bilevel', 'tutorials/simclr.html')
    assert hits and hits[0][0].startswith('BilevelLearner.fit_bilevel') and hits[0][1].endswith('#BilevelLearner.fit_bilevel'), hits
    learner = (site/'04_learner.html').read_text(encoding='utf-8')
    bilevel = (site/'03b_bilevel.html').read_text(encoding='utf-8')
    assert '<a class="doclink" href="#BilevelCallback"><code>BilevelCallback</code></a>' in bilevel  # on its own page
    assert re.search(r'<a class="doclink" href="[^"#]*03b_bilevel\.html#BilevelCallback">', learner), 'and from another'
    assert 'not executed for the docs' not in (site/'index.html').read_text(encoding='utf-8'), 'the home page needs no banner'
    nav = learner[learner.index('<h4>Tutorials</h4>'):learner.index('<h4>Results</h4>')]
    order = [re.search(r'\*Tutorial (\d+) of', (ROOT/'nbs'/'tutorials'/f'{n}.ipynb').read_text())[1]
             for n in re.findall(r'href="tutorials/(\w+)\.html"', nav)]
    assert order == sorted(order, key=int), f'tutorials out of reading order: {order}'

def _png(w, h, blank=False):
    "A base64 PNG of `w`×`h` pixels: white, or with a black bar unless `blank`"
    import base64, io
    from PIL import Image
    im = Image.new('L', (w, h), 255)
    if not blank: im.paste(0, (0, 0, w//2, h//4))
    b = io.BytesIO(); im.save(b, 'PNG')
    return base64.b64encode(b.getvalue()).decode()

def test_figures_finds_each_problem():
    "tools/figures.py flags a narrow picture, a blank one, a low median, a warning and a machine path in saved outputs"
    from figures import all_stats, problems, scan, table
    def nb(*outs): return json.dumps(dict(cells=[dict(cell_type='code', source='', outputs=list(outs))]))
    img = lambda b64: dict(output_type='display_data', data={'image/png': b64})
    texts = {'nbs/a.ipynb': nb(img(_png(250, 100)), img(_png(700, 300, blank=True))),
             'nbs/b.ipynb': nb(dict(output_type='stream', name='stderr', text='x.py:3: UserWarning: careful\n'),
                               dict(output_type='stream', name='stdout', text='saved /tmp/tmpab12/models/m.pth\n'))}
    st = all_stats(texts)
    assert (st['nbs/a.ipynb']['pictures'], st['nbs/a.ipynb']['smallest'], st['nbs/a.ipynb']['blank']) == (2, 250, [0])
    bad = '\n'.join(problems(st))
    for want in ('a picture 250 px wide', 'median width 475 px', 'cell 0 shows a blank picture'):
        assert want in bad, bad
    assert [k for _, k, _ in scan(texts)['nbs/b.ipynb']] == ['warning', 'path'] and 'nbs/a.ipynb' not in scan(texts)
    assert '| a.ipynb | 0 → 2 | – → 475 / 250 |' in table({'nbs/a.ipynb': all_stats({'x': nb()})['x']}, st, 'REV')

def test_pictures_are_readable():
    "Every saved picture of nbs/ is 300 px wide or more and not blank, their median 600 px or more, each notebook < 1 MB"
    from figures import all_stats, problems, tree_notebooks
    bad = problems(all_stats({n: (ROOT/n).read_text(encoding='utf-8') for n in tree_notebooks()}))
    assert not bad, 'python tools/figures.py --check:\n' + '\n'.join(bad)
