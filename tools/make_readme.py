"Write README.md from nbs/index.ipynb (Quarto-free `nbdev_readme`): markdown cells as they are, code cells fenced. `--check` only compares."
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    "README text from the index notebook"
    out = []
    for c in json.loads(nb_path.read_text())['cells']:
        src = ''.join(c['source']).strip('\n')
        if c['cell_type'] == 'markdown': out.append(src)
        elif src and not src.lstrip().startswith('#| hide'): out.append('```python\n' + src + '\n```')
    return '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text: sys.exit('README.md is out of step with nbs/index.ipynb: run `python tools/make_readme.py`')
    else: readme.write_text(text)
