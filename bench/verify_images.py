"""Seconds to verify a folder of image files before training (`find_bad_images`, as `from_folders` does): a first pass
that opens every file, then a rerun served from the per-folder cache.

python bench/verify_images.py --n 2000 --px 96"""
import argparse, os, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=2000, help='JPEG files to write')
    p.add_argument('--px', type=int, default=96, help='their side in pixels')
    a = p.parse_args()
    os.environ['BISSL_CACHE'] = tempfile.mkdtemp()  # a fresh cache
    from fastai.vision.all import get_image_files
    from bissl_fast.data import find_bad_images
    d,rng = Path(tempfile.mkdtemp()),np.random.default_rng(0)
    for i in range(a.n): Image.fromarray(rng.integers(0, 255, (a.px, a.px, 3), dtype=np.uint8)).save(d/f'{i}.jpg', quality=90)
    (d/'bad.jpg').write_bytes(b'not a jpeg')
    fs = get_image_files(d)
    t0 = time.perf_counter(); bad = find_bad_images(fs, d); t1 = time.perf_counter(); find_bad_images(fs, d); t2 = time.perf_counter()
    print(f'{len(fs)} JPEGs of {a.px}x{a.px} px on {os.cpu_count()} cores: first pass {t1-t0:.2f}s, cached rerun {t2-t1:.2f}s; '
          f'unreadable: {[f.name for f in bad]}')

if __name__ == '__main__': main()
