"""Property tests of the data constructors: every input either builds loaders whose batches have the documented
shapes and ranges, or raises `ValueError`/`TypeError` with a message. Nothing else (no other exception, no NaN)."""
import os, tempfile, warnings
from pathlib import Path
import numpy as np, torch, pytest
from hypothesis import given, settings, event, HealthCheck, strategies as st
from functools import partial
from fastai.vision.all import Normalize, set_seed
from PIL import Image
from bissl_fast.data import BilevelDataLoaders
from bissl_fast.images import to_uint8_images

os.environ.setdefault('BISSL_CACHE', tempfile.mkdtemp())  # keep the verification cache out of the home folder
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
DTYPES = [torch.uint8, torch.float32, torch.float64, torch.float16, torch.int64, torch.int8, torch.bool]

def mostly(good, *bad, ok=False):
    "A strategy drawing `good` three times in four, else one of `bad`; always `good` if `ok`"
    return st.sampled_from([1, 2, 3, 0]).flatmap(lambda i: good if i else st.sampled_from(bad)) if bad and not ok else good

@st.composite
def images(draw, c=None, n_max=10, ok=False):
    "An image tensor: mostly (`ok`: always) valid, uint8 or float in [0, 1] with 1 or 3 channels; else any of `DTYPES`, 0-5 channels, values out of range, NaN/inf"
    mostly_ = partial(mostly, ok=ok)
    n = draw(mostly_(st.integers(4, n_max), 0, 1))
    c = ifnone(c, draw(mostly_(st.sampled_from([1, 3]), 0, 2, 4, 5)))
    h,w = draw(mostly_(st.integers(1, 9), 0)),draw(mostly_(st.integers(1, 9), 0))
    dtype = draw(mostly_(st.sampled_from(DTYPES[:3]), *DTYPES[3:]))
    shape = (n, h, w) if draw(st.booleans()) and c == 1 else (n, c, h, w)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    if dtype.is_floating_point:
        lo,hi = draw(mostly_(st.just(0.), -0.5, 0.5)),draw(mostly_(st.just(1.), 0., 2.))
        x = (torch.rand(shape, generator=g, dtype=torch.float64)*(hi-lo)+lo).to(dtype)
        if x.numel() and not ok and draw(st.integers(0, 7)) == 0: x.view(-1)[0] = draw(st.sampled_from([float('nan'), float('inf')]))
        return x
    if dtype == torch.bool: return torch.rand(shape, generator=g) > 0.5
    hi = 256 if dtype in (torch.uint8, torch.int64) else 128
    return torch.randint(0, hi, shape, generator=g).to(dtype)

def ifnone(a, b): return b if a is None else a

def check_batch(x, n, size, dl):
    "`n` normalized 3-channel float images of `size`, finite, in [0, 1] once the loader's normalization is undone"
    assert x.shape == (n, 3, size, size) and x.dtype == torch.float32, (x.shape, x.dtype)
    assert torch.isfinite(x).all()
    norm = [t for t in dl.after_batch.fs if isinstance(t, Normalize)][0]
    raw = x*norm.std + norm.mean
    assert raw.min() > -1e-4 and raw.max() < 1+1e-4, (raw.min(), raw.max())

def check_dls(dls, bs, pretext_bs, size, n_classes):
    set_seed(0)
    xb,yb = dls.one_batch()
    check_batch(xb, bs, size, dls.train)
    assert yb.shape == (bs,) and yb.dtype == torch.int64 and 0 <= yb.min() and yb.max() < n_classes
    xv,yv = dls.valid.one_batch()
    check_batch(xv, min(len(dls.valid_ds), 2*bs), size, dls.valid)
    v1,v2 = dls.pretext_batch()
    for v in (v1, v2): check_batch(v, pretext_bs, size, dls.pretext)

def must_fail_clearly(e):
    event(f'refused: {str(e)[:40]}')
    assert isinstance(e, (ValueError, TypeError)), f'{type(e).__name__}: {e}'
    assert len(str(e)) > 20, f'an unhelpful message: {e!r}'

@FAST
@given(x=images())
def test_to_uint8_images(x):
    try: u = to_uint8_images(x)
    except Exception as e: return must_fail_clearly(e)
    event('built')
    assert u.dtype == torch.uint8 and u.ndim == 4 and u.shape[1] in (1, 3) and len(u) == len(x) and u.numel() > 0
    if x.dtype != torch.uint8:  # floats in [0, 1], rounded to 0..255
        assert x.is_floating_point() and torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
        assert (u.float()/255 - x.reshape(u.shape).float()).abs().max() <= 0.5/255 + 1e-3

@FAST
@given(data=st.data())
def test_from_tensors(data):
    ok = data.draw(st.booleans())  # half the time every argument is valid, else each may be wrong
    c = data.draw(mostly(st.sampled_from([1, 3]), None, ok=ok))  # None: each set draws its own channel count
    xp,xt,xv = (data.draw(images(c, ok=ok)) for _ in range(3))
    n_classes = data.draw(st.integers(1, 4))
    label = mostly(st.integers(0, n_classes-1), -1, n_classes, ok=ok)
    labels = lambda x: torch.tensor(data.draw(st.lists(label, min_size=len(x), max_size=len(x))), dtype=torch.long)
    yt,yv = labels(xt),labels(xv)
    bs,pretext_bs = (data.draw(mostly(st.integers(1, 4), 0, 11, ok=ok)) for _ in range(2))
    size = data.draw(mostly(st.integers(1, 12), 0, ok=ok))
    vocab = [str(i) for i in range(n_classes)]
    try: dls = BilevelDataLoaders.from_tensors(xp, xt, yt, xv, yv, vocab=vocab, size=size, bs=bs, pretext_bs=pretext_bs, device='cpu')
    except Exception as e: return must_fail_clearly(e)
    event('built'); check_dls(dls, bs, pretext_bs, size, n_classes)

MODES = ['L', 'RGB', 'RGBA', 'P', '1', 'I;16', 'LA']

@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(modes=st.lists(st.sampled_from(MODES), min_size=1, max_size=3), n=st.integers(1, 3), hw=st.tuples(st.integers(1, 24), st.integers(1, 24)),
       size=st.integers(1, 12), bs=st.integers(1, 4), broken=st.booleans(), skip_bad=st.booleans())
def test_from_folders(modes, n, hw, size, bs, broken, skip_bad):
    d = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    for split,k in (('train', n), ('valid', 1)):
        for c in ('a', 'b'):
            (d/split/c).mkdir(parents=True)
            for i in range(k):
                arr = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
                Image.fromarray(arr).convert(modes[i % len(modes)]).save(d/split/c/f'{i}.png')
    if broken: (d/'train'/'a'/'x.png').write_bytes(b'broken')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            dls = BilevelDataLoaders.from_folders(d, size=size, bs=bs, pretext_bs=bs, device='cpu', skip_bad=skip_bad)
    except Exception as e:
        must_fail_clearly(e)
        if broken and not skip_bad: assert 'x.png' in str(e)
        return
    assert not (broken and not skip_bad), 'an unreadable file must stop the constructor'
    event('built'); check_dls(dls, bs, bs, size, 2)
