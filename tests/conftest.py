"""Shared by the tests: the Agg backend, the `gpu` marker, command-line runs shared by the tests of a session
(`shared_cli`), and the order in which `tools/test.sh` hands the tests to its two xdist workers (`--dist loadgroup`)."""
import hashlib, json, os, shutil, subprocess, tempfile
from pathlib import Path
import pytest
os.environ.setdefault('MPLBACKEND', 'Agg')

def pytest_configure(config):
    config.addinivalue_line('markers', 'gpu: checks a CUDA path; skipped without CUDA unless BISSL_TEST_DEVICE is set '
                                       '(tests/test_gpu.py)')
    # keep the order `pytest_collection_modifyitems` gives (longest first), not xdist's "most tests first"
    if hasattr(config.option, 'loadscopereorder'): config.option.loadscopereorder = False
    if getattr(config.option, 'dist', 'no') == 'loadgroup' and not os.environ.get('PYTEST_XDIST_WORKER'):
        os.environ['BISSL_TEST_UNITS'] = str(Path(tempfile.mkdtemp(prefix='bissl_units_'))/'units.json')  # to workers

@pytest.fixture(scope='session')
def shared_cli(tmp_path_factory):
    """`shared_cli('pretrain', *options)`: `bissl_fast pretrain *options --out FOLDER`, run once a session for each
    set of options by whichever test (on whichever xdist worker) asks first; (FOLDER, the finished process). Tests read
    FOLDER, or copy it to write beside it. Per session, not across: a stage 1 is never older than the code under test."""
    from cli_run import run
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'): root = root.parent  # the session's folder, above each worker's own
    def get(*args):
        args = [*map(str, args)]
        d = root/'shared_cli'/hashlib.sha1(json.dumps(args).encode()).hexdigest()[:16]
        d.mkdir(parents=True, exist_ok=True)
        with open(d/'lock', 'w') as lock:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits for the first one's run
            if not (d/'result.json').exists():
                r = run(*args, '--out', d/'run')
                res = dict(args=r.args, returncode=r.returncode, stdout=r.stdout, stderr=r.stderr)
                (d/'result.json').write_text(json.dumps(res))
        return d/'run', subprocess.CompletedProcess(**json.loads((d/'result.json').read_text()))
    return get

# Scheduling. xdist's `loadfile` makes each file one unit of work, so a file with several slow tests (the notebooks, the
# command line) runs on one worker while the other idles. Under `loadgroup` each test is its own unit, except the tests
# of a file that share a module-scoped fixture (built once per worker): they stay together.
# The units go out longest first (the last run's durations, from pytest's cache; else `SLOW` below), so that the two
# workers finish together.

NB = 'tests/test_notebooks.py::test_notebook'
SLOW = {  # seconds on an idle 2-core machine (a file: all its tests), for a first run with no cache yet
    'tests/test_mission.py': 95, 'tests/test_gpu_script.py::test_gpu_script_smoke': 85, 'tests/test_compare.py': 110,
    'tests/test_procs.py': 150, 'tests/test_memory.py': 150, 'tests/test_distributed.py': 70, 'tests/test_site.py': 40,
    'tests/test_cli.py': 120, 'tests/test_files.py': 30, 'tests/test_lessons.py': 25, 'tests/test_bench_hypergrad.py': 48,
    'tests/test_ranges.py': 15, 'tests/test_ranges.py::test_cli_subprocess': 13, 'tests/test_wheel.py': 15,
    'tests/test_quickstart.py::test_quickstart_runs_with_fewer_epochs': 12,
    f'{NB}[05_compare.ipynb]': 77, f'{NB}[lessons/03_bissl_end_to_end.ipynb]': 46, f'{NB}[lessons/answers.ipynb]': 24,
    f'{NB}[tutorials/pipeline.ipynb]': 28, f'{NB}[02_pretext.ipynb]': 18, f'{NB}[04_learner.ipynb]': 16,
    f'{NB}[tutorials/pretexts.ipynb]': 14}
CACHE_KEY = 'bissl_fast/durations'
_ALL,_DURATIONS = [],{}  # the collected node ids; this run's seconds per test

def _estimate(nodeid, known):
    "Seconds `nodeid` is expected to take: its last run, else the longest matching prefix in `SLOW`, else .5"
    if nodeid in known: return known[nodeid]
    keys = [k for k in SLOW if nodeid.startswith(k)]
    if not keys: return .5
    k = max(keys, key=len)
    return SLOW[k] / (1 if '::' in k else sum(1 for o in _ALL if o.startswith(k)))

def _shared_fixtures(item):
    "Names of the module-scoped (or wider) fixtures that `item` uses and its own file defines"
    info = getattr(item, '_fixtureinfo', None)
    if info is None: return set()
    mod = item.nodeid.split('::')[0]
    return {n for n,defs in info.name2fixturedefs.items() for d in defs
            if d.scope != 'function' and (d.baseid or '').split('::')[0] == mod}

def _units(items):
    "{unit name: its items}: a test alone, or the tests of a file joined by the module fixtures they share"
    parent = {}
    def find(k):
        while parent.setdefault(k, k) != k: k = parent[k]
        return k
    for item in items:
        mod,fs = item.nodeid.split('::')[0],sorted(_shared_fixtures(item))
        for f in fs[1:]: parent[find((mod, f))] = find((mod, fs[0]))
    units = {}
    for item in items:
        mod,fs = item.nodeid.split('::')[0],sorted(_shared_fixtures(item))
        units.setdefault('::'.join(find((mod, fs[0]))) if fs else item.nodeid, []).append(item)
    return units

@pytest.hookimpl(wrapper=True)  # before the other plugins' implementations (`-k`, xdist's)
def pytest_collection_modifyitems(session, config, items):
    "Order the units of work longest first; on an xdist worker, tell the controller's scheduler what they are"
    _ALL[:] = [i.nodeid for i in items]
    known = config.cache.get(CACHE_KEY, {}) if getattr(config, 'cache', None) else {}
    units = _units(items)
    order = sorted(units.values(), key=lambda its: -sum(_estimate(i.nodeid, known) for i in its))  # stable sort
    items[:] = [i for its in order for i in its]
    if f := os.environ.get('BISSL_TEST_UNITS'):  # each worker writes the same map; the last one stays
        Path(f'{f}.{os.getpid()}').write_text(json.dumps({i.nodeid: n for n,its in units.items() for i in its}))
        os.replace(f'{f}.{os.getpid()}', f)
    return (yield)

# xdist's own `loadgroup` reads `xdist_group` marks through `item._nodeid`, which pytest 9 no longer uses: the units
# reach the controller's scheduler through a file instead.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    "Under `--dist loadgroup`: xdist's scope scheduler over our units, in the collected order"
    if config.getvalue('dist') != 'loadgroup': return None
    from xdist.scheduler import LoadScopeScheduling
    f,units = os.environ['BISSL_TEST_UNITS'],{}
    class Units(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if not units: units.update(json.loads(Path(f).read_text()))
            return units.get(nodeid, nodeid)
    return Units(config, log)

def pytest_runtest_logreport(report):
    "Add up each test's seconds (setup, call, teardown) for the next run's order"
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.) + report.duration

def pytest_sessionfinish(session):
    "Save this run's seconds per test (the controller's, under xdist) in pytest's cache"
    if os.environ.get('PYTEST_XDIST_WORKER'): return
    if f := os.environ.pop('BISSL_TEST_UNITS', None): shutil.rmtree(Path(f).parent, ignore_errors=True)
    cache = getattr(session.config, 'cache', None)
    if not _DURATIONS or cache is None: return
    cache.set(CACHE_KEY, {**cache.get(CACHE_KEY, {}), **{k: round(v, 2) for k,v in _DURATIONS.items()}})
