"""Write README.md from nbs/index.ipynb (Quarto-free `nbdev_readme`): markdown cells as they are (raw front matter left out), code cells fenced
without their `#|` directive lines and followed by their saved text output, folded; `#| hide` cells left out. Links and images relative to nbs/ (`results.ipynb`,
`images/bissl.png`) are made relative to the repository root, so they work in the notebook, the docs site and on
GitHub alike. `--check` only compares."""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def rebase_links(md, prefix='nbs/'):
    "`md` with its relative link and image targets prefixed by `prefix` (absolute URLs and `#anchors` kept)"
    return re.sub(r'(\]\()(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^)\s]+\))', lambda m: m[1]+prefix+m[2], md)

def _output(cell):
    "A code cell's saved text output, folded (`<details>`) under the code; empty if it has none"
    text = ''.join(''.join(o['text']) for o in cell.get('outputs', []) if o.get('output_type') == 'stream').strip('\n')
    return f'\n\n<details><summary>Output</summary>\n\n```text\n{text}\n```\n</details>' if text else ''

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    "README text from the index notebook"
    out = []
    for c in json.loads(nb_path.read_text())['cells']:
        src = ''.join(c['source']).strip('\n')
        if c['cell_type'] == 'markdown': out.append(rebase_links(src))
        elif c['cell_type'] == 'code' and src and not src.lstrip().startswith('#| hide'):
            code = '\n'.join(l for l in src.splitlines() if not re.match(r'\s*#\s*\|', l)).strip('\n')
            out.append('```python\n' + code + '\n```' + _output(c))
    return '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text: sys.exit('README.md is out of step with nbs/index.ipynb: run `python tools/make_readme.py`')
    else: readme.write_text(text)
