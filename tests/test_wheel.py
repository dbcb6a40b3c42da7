"""A wheel built from the repository works outside it: `pip wheel .` builds it, it installs offline (`--no-deps`) into a
fresh virtual environment that sees only the development set's packages, and there, in a folder with no clone in sight,
the home page's quick start runs in test mode (1 pretext epoch, 2 alternations, 1 fine-tuning epoch) on the digits that
ship with the installed packages (scikit-learn's `load_digits`, a runtime requirement). Development set only: it needs the development set's site-packages."""
import os, shutil, subprocess, sys, sysconfig, venv
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from quickstart import quickstart_code, shorten

def _run(*cmd, **kw):
    "Run `cmd`, failing the test with its output if it fails"
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f'{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r


def test_wheel_installs_and_trains_outside_the_clone(tmp_path):
    src,wheels = tmp_path/'src',tmp_path/'wheels'  # built from a copy: setuptools writes build/ beside setup.py
    src.mkdir()
    for f in ('setup.py', 'settings.ini', 'pyproject.toml', 'README.md'): shutil.copy(ROOT/f, src/f)
    shutil.copytree(ROOT/'bissl_fast', src/'bissl_fast', ignore=shutil.ignore_patterns('__pycache__'))
    _run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), str(src))
    whl, = wheels.glob('bissl_fast-*.whl')
    env_dir = tmp_path/'env'
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir/'bin'/'python'
    site = Path(_run(str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])').stdout.strip())
    # the development set's packages, appended after the environment's own: its editable bissl_fast finder is not run
    (site/'dev_set.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    _run(sys.executable, '-m', 'pip', '--python', str(py), 'install', '--no-deps', '--no-index', '-q', str(whl))
    work = tmp_path/'elsewhere'; work.mkdir()
    env = {k:v for k,v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    found = Path(_run(str(py), '-c', 'import bissl_fast; print(bissl_fast.__file__)', cwd=work, env=env).stdout.strip())
    assert found.is_relative_to(site), f'bissl_fast came from {found}, not from the installed wheel'
    code = shorten(quickstart_code()) + '\nprint("final accuracy", ft.recorder.values[-1][-1])\n'
    r = _run(str(py), '-c', code, cwd=work, env={**env, 'OMP_NUM_THREADS': '1'})
    acc = float(r.stdout.strip().splitlines()[-1].split()[-1])
    assert acc > 0.2, f'the quick start from the wheel reached {acc}, chance is 0.1'
