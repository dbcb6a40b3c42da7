"""Load every page of the docs site in headless Chromium and list what is wrong: `python tools/check_site.py [_docs]`.
Problems: a missing image or file, a broken internal link (file or `#anchor`), a JavaScript error (console errors and
uncaught exceptions), a resource fetched from the network, a notebook page whose code cells show no outputs, a code or
text block wider than the page (its lines cut off), and a page cut short (without the template's end marker).
Uses Debian's `chromium` and `chromium-driver` through selenium; nothing is downloaded."""
import re, shutil, sys, time
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')

def browser(width=1280, height=900):
    "Headless Debian Chromium under selenium, keeping the console log"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    if not (CHROMIUM and DRIVER): raise RuntimeError('needs Debian `chromium` and `chromium-driver` (bash tools/setup.sh installs them)')
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', f'--window-size={width},{height}'):
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(DRIVER), options=o)

PAGE_JS = """return {
  images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => (i.getAttribute('src') || '').slice(0, 80)),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  external: Array.from(document.querySelectorAll('script[src], link[href], img[src], iframe[src]'))
    .map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^(https?:)?\\/\\//.test(u)),
  executed: (document.querySelector('meta[name="bissl-page"]') || {dataset: {}}).dataset.executed,
  code: document.querySelectorAll('.jp-CodeCell').length,
  outputs: document.querySelectorAll('.jp-CodeCell .jp-OutputArea-output').length,
  end: !!document.getElementById('bissl-end'),
  cut: Array.from(document.querySelectorAll('.jp-InputArea pre, .jp-OutputArea-output pre')).filter(p => p.scrollWidth > p.clientWidth + 1).length,
  errors: window.__errors || []}"""

# Collects errors thrown before the checker asks: added to every page through the DevTools protocol.
CATCH_JS = "window.__errors = []; window.addEventListener('error', e => window.__errors.push(String(e.message)));"

def _ids(page):
    "The ids and anchor names in the HTML file `page`"
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', page.read_text(encoding='utf-8', errors='replace')))

def link_problem(href, page, root, ids):
    "What is wrong with the link `href` on `page` (a file under `root`), or None"
    u = urlsplit(href)
    if u.scheme in ('http', 'https', 'mailto', 'data', 'javascript') or href.startswith('//'): return None
    page = page.resolve()
    target = (page.parent/unquote(u.path)).resolve() if u.path else page
    if u.path and target.is_dir(): target = target/'index.html'
    if not target.is_file(): return f'broken link: {href}'
    if not target.is_relative_to(root.resolve()): return f'link out of the site: {href}'
    known = ids if target == page else _ids(target) if u.fragment else set()
    if u.fragment and target.suffix == '.html' and not {u.fragment, unquote(u.fragment)} & known:
        return f'broken link: {href} (no such anchor)'
    return None

def check_page(drv, page, root):
    "The problems of the HTML file `page` of the site in `root`, loaded in `drv`"
    drv.get_log('browser')
    drv.get(page.resolve().as_uri())
    t0 = time.monotonic()  # the whole page, under load too
    while drv.execute_script('return document.readyState') != 'complete' and time.monotonic()-t0 < 30: time.sleep(0.1)
    r, res = drv.execute_script(PAGE_JS), []
    if r['cut']: res.append(f"{r['cut']} code or text blocks wider than the page: their lines are cut off")
    if not r['end']: res.append("page cut short: no end marker (<div id='bissl-end'>, the template's last element)")
    res += [f'missing image: {s}' for s in r['images']]
    res += [f'network resource: {u}' for u in r['external']]
    ids = _ids(page)
    res += sorted({p for h in r['links'] if (p := link_problem(h, page, root, ids))})
    for e in drv.get_log('browser'):
        if e['level'] != 'SEVERE': continue
        m = e['message']
        if 'Failed to load resource' in m: res.append(f'missing file: {m.split(" ")[0]}')
        else: res.append(f'javascript error: {m[:200]}')
    res += [f'javascript error: {m[:200]}' for m in r['errors'] if not any(m[:60] in x for x in res)]
    if r['executed'] == 'true' and r['code'] and not r['outputs']: res.append(f'no outputs: {r["code"]} code cells, none with output')
    return res

def check_site(root, shots=None, width=1280, height=900):
    "{page: problems} for every HTML page under `root`; `shots` maps a PNG path to a page, or to (page, CSS selector to scroll to)"
    root, shots = Path(root).resolve(), shots or {}
    drv = browser(width, height)
    try:
        drv.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': CATCH_JS})
        res = {}
        for page in sorted(root.rglob('*.html')):
            res[page] = check_page(drv, page, root)
            for png, p in shots.items():
                p, sel = p if isinstance(p, tuple) else (p, None)
                if Path(p).resolve() != page.resolve(): continue
                if sel and not drv.execute_script('const e = document.querySelector(arguments[0]); '
                                                  'if (e) e.scrollIntoView(); return !!e', sel):
                    res[page].append(f'screenshot {Path(png).name}: nothing matches {sel!r} to scroll to')
                Path(png).parent.mkdir(parents=True, exist_ok=True); drv.save_screenshot(str(png))
        return res
    finally: drv.quit()

def report(res, root):
    "The problems in `res` as text, one line each"
    return '\n'.join(f'{p.relative_to(Path(root).resolve())}: {x}' for p, xs in res.items() for x in xs)

if __name__ == '__main__':
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]/'_docs')
    res = check_site(root)
    txt = report(res, root)
    print(txt or f'{len(res)} pages, no problems')
    sys.exit(1 if txt else 0)
