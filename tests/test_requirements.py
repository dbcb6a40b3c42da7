"The runtime requirements are ranges that the installed set (development or latest) and the development pins satisfy."
import importlib.metadata as md, shlex
from configparser import ConfigParser
from pathlib import Path
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
REQS = {r.name: r for r in map(Requirement, shlex.split(cfg['DEFAULT']['requirements']))}
CORE = ('torch', 'torchvision', 'fastai', 'fastcore')

def test_ranges_not_pins():
    for n in CORE:
        assert not any(s.operator in ('==', '===') for s in REQS[n].specifier), f'{n} is pinned: {REQS[n]}'
        assert any(s.operator in ('<', '<=', '~=') for s in REQS[n].specifier), f'{n} has no upper bound: {REQS[n]}'
    assert not any(n.startswith('nbdev') for n in REQS), 'nbdev is a development requirement, not a runtime one'
    dev = shlex.split(cfg['DEFAULT']['dev_requirements'])
    assert any(r.startswith('nbdev') for r in dev) and 'fastcore<2' in dev

def test_installed_set_in_ranges():
    for n,r in REQS.items(): assert r.specifier.contains(md.version(n), prereleases=True), f'{n} {md.version(n)} is outside {r}'

def test_dev_pins_in_ranges():
    pins = [Requirement(l.split('#')[0]) for l in (ROOT/'tools/pins-dev.txt').read_text().splitlines() if l.split('#')[0].strip()]
    for p in pins:
        if p.name in REQS and any(s.operator == '==' for s in p.specifier):
            v = next(s.version for s in p.specifier if s.operator == '==')
            assert REQS[p.name].specifier.contains(v), f'the development pin {p} is outside the supported range {REQS[p.name]}'

def _pins(f): return {r.name: r for r in (Requirement(l.split('#')[0]) for l in (ROOT/f).read_text().splitlines() if l.split('#')[0].strip())}

def test_oldest_pins_are_the_floors():
    "CI's oldest set (tools/pins-oldest.txt) is exactly settings.ini's floors, so every floor is a tested version"
    old = _pins('tools/pins-oldest.txt')
    for n,r in REQS.items():
        floor = [s.version for s in r.specifier if s.operator == '>=']
        if not floor: continue
        assert n in old, f'{n} has the floor {floor[0]} but no pin in tools/pins-oldest.txt'
        pin = [s.version for s in old[n].specifier if s.operator == '==']
        assert pin and Version(pin[0]) == Version(floor[0]), f'{n}: settings.ini floor {floor[0]}, oldest set {old[n]}'
