"""Throughput of pretext training steps (SimCLR, BYOL): images/s for each arch and precision, as a markdown table.

One step = forward of both views, loss, backward, SGD step, `after_update` (BYOL's EMA); images/s counts both views.
On CUDA the defaults are the BiSSL setting: resnet18/resnet50, 96 px, 256 images per view, fp32 vs bf16 autocast,
channels_last. Without CUDA they shrink to a sanity run: 32 px, 8 images per view, 3 steps."""
import argparse, time
import torch
from torchvision import models
from bissl_fast.pretext import create_encoder, pretext_models

def get_args():
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--archs', default='resnet18,resnet50', help='torchvision model names, comma-separated')
    p.add_argument('--pretexts', default='simclr,byol', help='comma-separated: simclr, byol')
    p.add_argument('--precisions', default='fp32,bf16', help='comma-separated: fp32, bf16 (autocast), fp16 (autocast)')
    p.add_argument('--size', type=int, default=96 if cuda else 32, help='image side in px')
    p.add_argument('--bs', type=int, default=256 if cuda else 8, help='images per view')
    p.add_argument('--steps', type=int, default=20 if cuda else 3, help='timed steps')
    p.add_argument('--warmup', type=int, default=5 if cuda else 1, help='untimed steps first')
    p.add_argument('--device', default='cuda' if cuda else 'cpu')
    p.add_argument('--no-channels-last', dest='channels_last', action='store_false', help='keep NCHW on CUDA')
    return p.parse_args()

_dtypes = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def bench(arch, pretext, precision, a):
    "Seconds per training step and peak memory (GiB, CUDA only) of one configuration"
    dev = torch.device(a.device)
    torch.manual_seed(0)
    model = pretext_models[pretext](create_encoder(getattr(models, arch), small_stem=a.size <= 64)).to(dev)
    mf = torch.channels_last if a.channels_last and dev.type == 'cuda' else torch.contiguous_format
    model = model.to(memory_format=mf)
    v1,v2 = [torch.randn(a.bs, 3, a.size, a.size, device=dev).contiguous(memory_format=mf) for _ in range(2)]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9, weight_decay=1e-6)
    dt = _dtypes[precision]
    scaler = torch.amp.GradScaler(dev.type, enabled=dt == torch.float16)
    def step():
        with torch.autocast(dev.type, dtype=dt or torch.float32, enabled=dt is not None):
            loss = model.pretext_loss(v1, v2)
        scaler.scale(loss).backward()
        scaler.step(opt); scaler.update()
        opt.zero_grad(set_to_none=True)
        model.after_update()
    model.train()
    for _ in range(a.warmup): step()
    sync(dev)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    for _ in range(a.steps): step()
    sync(dev)
    mem = f'{torch.cuda.max_memory_allocated(dev)/2**30:.2f}' if dev.type == 'cuda' else '–'
    return (time.perf_counter()-t)/a.steps, mem

def main():
    a = get_args()
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads)'
    cl = a.channels_last and dev.type == 'cuda'
    print(f'{name}, torch {torch.__version__}, {a.size} px, {a.bs} images per view, {a.steps} steps after {a.warmup} warm-up'
          f'{", channels_last" if cl else ""}\n')
    print('| pretext | arch | precision | ms / step | images/s | peak GiB |')
    print('| --- | --- | --- | ---: | ---: | ---: |')
    for pretext in a.pretexts.split(','):
        for arch in a.archs.split(','):
            for prec in a.precisions.split(','):
                s,mem = bench(arch, pretext, prec, a)
                print(f'| {pretext} | {arch} | {prec} | {1000*s:.1f} | {2*a.bs/s:.0f} | {mem} |', flush=True)

if __name__ == '__main__': main()
