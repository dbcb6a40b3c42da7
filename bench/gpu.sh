#!/usr/bin/env bash
# Every CUDA path of bissl_fast in one command, for a GPU lent for a few minutes: the GPU tests and the benchmarks.
#
#   bash bench/gpu.sh [--data DIR] OUT_DIR           # on a CUDA machine: at most TOTAL_S seconds (560 s, 9.3 minutes)
#   bash bench/gpu.sh --smoke OUT_DIR                # the same script on the CPU at tiny sizes (tests/test_gpu_script.py)
#
# Nothing is installed: the repository goes on PYTHONPATH, the Python is $PYTHON (default python3) and must already import
# torch, torchvision, fastai, fastcore and pytest. Fashion-MNIST (the four IDX files, .gz or not) comes from --data DIR, else
# $FASHION_MNIST, else data/fashion-mnist, else /usr/share/datasets/fashion-mnist; without it the study is skipped.
# The smoke run writes a tiny fake Fashion-MNIST instead, so that it reads the data the same way.
#
# OUT_DIR receives exactly these 8 files (flat, each far below 16 MiB):
#   summary.md      status and seconds of every part, the GPU tests' measured figures, and every table: ready for nbs/results.ipynb
#   env.txt         date, nvidia-smi, Python/torch/CUDA/cuDNN/fastai versions, CPU and memory
#   log.txt         timestamped progress, and the last lines of the error output of each part that failed or timed out
#   tests.txt       `pytest -m gpu tests/test_gpu.py -v -rA` output
#   hypergrad.md    bench/hypergrad.py: one upper stage every way, the reference procedure vs ours (ResNet-50, 96 px, 2x256),
#                   and the solvers' accuracy against a converged solve on SimCLR- and BYOL-pretrained ResNet-18s (32 px)
#   alternation.md  bench/alternation.py: seconds per alternation and images/s, ResNet-18 and ResNet-50, fp32 and bf16, the
#                   ratio to the official trainer's, and per lower step the aten ops, kernels launched and GPU-busy fraction
#   pretext.md      bench/pretext.py: pretext images/s, fp32 vs bf16
#   study.md        a short ResNet-18 Fashion-MNIST study (`bissl_fast compare`), sized to the time left
#
# Time budget per part, in seconds (each part runs under its own `timeout`, cut further to what is left of TOTAL_S; a part
# that fails or times out is recorded and the next one runs):
TOTAL_S=${TOTAL_S:-560}   # the whole script: under 9.5 minutes (less when the device time left is less)
SKIP=${SKIP:-}       # parts to leave out, e.g. SKIP='hypergrad-r50 pretext' (recorded as skipped)
B_ENV=20             # env.txt
B_TESTS=100          # GPU tests: 6 short fits, overflow checks, resume, bf16 HVPs, views, one ResNet-50 alternation (45 s on an H100)
B_HG50=110           # hypergrad, ResNet-50 96 px 2x256 (3 stage-1 epochs): one upper stage every way, reference included
B_HG18=85            # hypergrad, each of SimCLR and BYOL: ResNet-18 32 px 2x32 after 8 stage-1 epochs, 3 successive stages
                     #   (20 lower steps apart), every solver against a converged MINRES solve (the accuracy table of the solvers)
B_ALTERNATION=100    # 1 warm-up + 1 timed alternation (20 lower + 8 upper steps), ResNet-18 then ResNet-50, fp32 then bf16,
                     #   Lanczos-8 recycling 15 pairs; then 3 profiled lower steps each (kernels launched, GPU-busy fraction)
B_PRETEXT=30         # 8 configurations (SimCLR/BYOL x ResNet-18/50 x fp32/bf16), 5 warm-up + 20 timed steps each
B_STUDY=240          # what is left, at most this: a short study from 100 s, a longer one from 220 s; skipped under 100 s
                     # (estimated on an H100: ~6 s per ResNet-18 alternation at 32 px, ~12 s per pretext epoch)
RESERVE_S=8          # kept for summary.md
set -uo pipefail     # no `set -e`: a failing part must not stop the others

SMOKE=0; DATA=${FASHION_MNIST:-}; OUT=
while (( $# )); do
  case $1 in
    --smoke) SMOKE=1 ;;
    --data) DATA=${2:?--data needs a folder}; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    -*) echo "bench/gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) OUT=$1 ;;
  esac
  shift
done
[[ -n $OUT ]] || { echo 'usage: bash bench/gpu.sh [--smoke] [--data DIR] OUT_DIR' >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
[[ -n $DATA && -d $DATA ]] && DATA=$(cd "$DATA" && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg PYTHONUNBUFFERED=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bissl_gpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s); DEADLINE=$((START + TOTAL_S))
: > "$OUT/log.txt"; STATUS=()

if (( SMOKE )); then
  DEV=cpu; MODE='smoke (CPU, tiny sizes)'
  export BISSL_TEST_DEVICE=cpu OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  TESTS_K=(-k 'fp32-nchw or resume or views')
  HG50=(--device cpu --arch tiny_cnn --size 8 --bs 8 --nu 2 --iters 2 --truth-rhs 1 --truth-iters 20 --damping 100 --lower-steps 2
        --variants reference,first-order,cg,lanczos-4,recycle-2)
  HG18=(--device cpu --arch tiny_cnn --size 8 --bs 8 --nu 2 --iters 2 --truth-rhs 2 --truth-iters 20 --damping 100
        --batches 2 --lower-steps 2 --variants reference,first-order,cg,cg-tol,lanczos-2,lanczos-4,recycle-2)
  ALTERNATION=(--device cpu --archs tiny_cnn --size 16 --pretext-bs 8 --bs 8 --lower-steps 2 --upper-steps 2 --alternations 1
               --solvers lanczos cg)
  PRETEXT=(--device cpu --archs resnet18 --size 16 --bs 4 --steps 1 --warmup 0)
else
  DEV=cuda; MODE='GPU'
  export BISSL_TEST_DEVICE=cuda   # without CUDA the GPU tests fail loudly instead of skipping
  TESTS_K=()
  HG50=(--device cuda --arch resnet50 --size 96 --bs 256 --reps 1 --pretrain 3 --truth-rhs 1 --truth-iters 60 --verbose
        --variants reference,first-order,cg,lanczos-10,lanczos-15,recycle-10)
  HG18=(--device cuda --arch resnet18 --size 32 --bs 32 --pretrain 8 --batches 3 --truth-rhs 3 --truth-iters 200
        --variants reference,first-order,cg,lanczos-6,lanczos-8,lanczos-10,lanczos-15,recycle-6,recycle-8,recycle-10)
  ALTERNATION=(--device cuda --archs resnet18 resnet50 --alternations 1 --solvers lanczos --lanczos-steps 8 --recycle 15
               --precisions fp32 bf16)
  PRETEXT=(--device cuda --archs resnet18,resnet50 --pretexts simclr,byol --precisions fp32,bf16)
fi

log() { echo "$(date -u +%H:%M:%S) [$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/log.txt"; }
left() { echo $(( DEADLINE - RESERVE_S - $(date +%s) )); }

part() {  # part NAME BUDGET OUTFILE CMD...: run CMD under `timeout`, its stdout into OUTFILE; record status and seconds
  local name=$1 budget=$2 planned=$2 out=$3; shift 3
  if [[ " $SKIP " == *" $name "* ]]; then
    log "$name: skipped (SKIP)"; STATUS+=("| $name | skipped: SKIP | 0 | $planned |"); echo "(not run: SKIP)" > "$out"; return
  fi
  local l; l=$(left); (( budget > l )) && budget=$l
  if (( budget < 5 )); then
    log "$name: skipped, no time left"; STATUS+=("| $name | skipped: no time left | 0 | $planned |")
    echo "(not run: no time left)" > "$out"; return
  fi
  log "$name: start, budget ${budget}s: $*"
  local t0 rc=0; t0=$(date +%s)
  timeout -k 10 "$budget" "$@" > "$out" 2> "$WORK/$name.err" || rc=$?
  local dt=$(( $(date +%s) - t0 )) st
  case $rc in
    0) st=ok ;;
    124|137) st="timed out after ${budget}s" ;;
    *) st="failed (exit $rc)" ;;
  esac
  log "$name: $st in ${dt}s"
  if (( rc != 0 )); then
    local tailf="$WORK/$name.err"; [[ -s $tailf ]] || tailf=$out   # pytest reports failures on stdout
    { echo "--- $name: last lines of its output ---"; tail -n 40 "$tailf"; echo '---'; } >> "$OUT/log.txt"
    { echo; echo "**$name $st**: the tail of its output is in log.txt"; } >> "$out"
  fi
  STATUS+=("| $name | $st | $dt | $planned |")
  summary
}

env_info() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "mode: $MODE"
  echo "host: $(uname -srm), $(nproc --all) CPU cores, $(free -g 2>/dev/null | awk '/Mem:/{print $2" GiB RAM"}')"
  echo "repository: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
  echo; echo '## nvidia-smi'
  if command -v nvidia-smi >/dev/null; then
    timeout 15 nvidia-smi 2>&1
    timeout 15 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv 2>&1
  else echo '(no nvidia-smi)'; fi
  echo; echo '## Python'
  "$PY" - <<'EOF'
import sys, platform, importlib
print('python', sys.version.split()[0], platform.platform())
for m in ('torch', 'torchvision', 'fastai', 'fastcore', 'numpy', 'pytest', 'timm'):
    try: print(m, importlib.import_module(m).__version__)
    except Exception as e: print(m, 'not importable:', type(e).__name__, e)
import torch
print('CUDA', torch.version.cuda, '| cuDNN', torch.backends.cudnn.version(), '| cuda available', torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f'GPU {p.name}, {p.total_memory/2**30:.1f} GiB, capability {p.major}.{p.minor}, {torch.cuda.device_count()} device(s), '
          f'bf16 supported {torch.cuda.is_bf16_supported()}, TF32 conv {torch.backends.cudnn.allow_tf32}, TF32 matmul {torch.backends.cuda.matmul.allow_tf32}')
EOF
}

fake_fashion_mnist() {  # a tiny Fashion-MNIST look-alike in IDX format (60 train, 20 test images), for the smoke run
  "$PY" - "$1" <<'EOF'
import gzip, struct, sys
from pathlib import Path
import torch
d = Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(0)
def idx(name, t):
    with gzip.open(d/f'{name}.gz', 'wb') as f: f.write(struct.pack('>BBBB', 0, 0, 8, t.ndim) + struct.pack(f'>{t.ndim}I', *t.shape) + t.numpy().tobytes())
for split,n in (('train', 60), ('t10k', 20)):
    idx(f'{split}-images-idx3-ubyte', torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g))
    idx(f'{split}-labels-idx1-ubyte', (torch.arange(n) % 10).to(torch.uint8))
EOF
}

find_data() {
  if (( SMOKE )); then fake_fashion_mnist "$WORK/fashion-mnist" && echo "$WORK/fashion-mnist"; return; fi
  local d
  local d s
  for d in "$DATA" "$ROOT/data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    [[ -n $d ]] || continue
    for s in "" /FashionMNIST/raw /raw; do   # the layouts `fashion_mnist_path` accepts
      if ls "$d$s"/train-images-idx3-ubyte* "$d$s"/t10k-labels-idx1-ubyte* >/dev/null 2>&1; then echo "$d"; return; fi
    done
  done
}

study() {  # the study's settings follow the time it gets (its first argument); prints the settings, then results.md
  # The fair protocol at a small budget: each pipeline's fine-tuning and probe settings chosen on a stratified 30% of the
  # labeled training images (--tune), retrained on all of them, the test split read only then; paired seeds, 95% intervals.
  local budget=$1 data=$2 run=$WORK/study
  local args=(--data fashion_mnist --data_path "$data" --out "$run" --pretext simclr --device "$DEV")
  if (( SMOKE )); then
    args+=(--arch tiny_cnn --size 16 --labels 2 --bs 8 --pretext_bs 16 --pretext_epochs 1 --alternations 2 --lower_steps 2
           --upper_steps 2 --lanczos_steps 2 --head_warmup 1 --ft_epochs 1 --freeze_epochs 1 --seeds 0 1 --scratch
           --extra_control --tune 2 --probe_epochs 1 --short 0.5)
  elif (( budget >= 220 )); then   # ~200 s on an H100: 3 + 4 pretext epochs, 6 alternations, 3 pipelines x 3 seeds
    args+=(--arch resnet18 --size 32 --labels 100 --bs 64 --pretext_bs 256 --pretext_epochs 3 --pretext_lr 3e-3 --alternations 6
           --bissl_lr 0.03 --lower_lr 1e-3 --head_warmup 1 --ft_epochs 5 --lr_mult 10 --tune 3 --probe_epochs 2 --short 0.2
           --seeds 0 1 2 --extra_control)
  else                             # ~80 s
    args+=(--arch resnet18 --size 32 --labels 100 --bs 64 --pretext_bs 256 --pretext_epochs 1 --pretext_lr 3e-3 --alternations 3
           --bissl_lr 0.03 --lower_lr 1e-3 --head_warmup 1 --ft_epochs 3 --lr_mult 10 --tune 2 --probe_epochs 1 --short 0.34
           --seeds 0 1)
  fi
  echo "Fashion-MNIST from \`$data\`, budget ${budget}s: \`bissl_fast compare ${args[*]}\`"; echo
  local t0=$SECONDS
  "$PY" -m bissl_fast.cli compare "${args[@]}" > "$WORK/study.out" || { tail -n 30 "$WORK/study.out"; return 1; }
  cat "$run/results.md"
  echo; echo "Wall time of the study, imports included: $((SECONDS - t0)) s."
}

summary() {  # summary.md from what there is so far: rewritten after every part, so that a killed run still leaves one
  {
    echo "# bissl_fast on a GPU: measured by \`bench/gpu.sh\`"; echo
    grep -m1 '^date' "$OUT/env.txt" 2>/dev/null; echo
    echo "Mode: $MODE. Device: $(grep -m1 '^GPU ' "$OUT/env.txt" 2>/dev/null || echo "$DEV") "
    echo "Software: $(grep -m1 '^python' "$OUT/env.txt" 2>/dev/null | cut -d' ' -f1-2), $(grep -m1 '^torch ' "$OUT/env.txt" 2>/dev/null), $(grep -m1 '^CUDA' "$OUT/env.txt" 2>/dev/null | cut -d'|' -f1-2)"
    echo; echo '## Parts'; echo
    echo '| part | status | seconds | budget s |'; echo '| --- | --- | --- | --- |'
    printf '%s\n' "${STATUS[@]}"
    echo; echo "Total: $(( $(date +%s) - START )) s of $TOTAL_S s."
    echo; echo '## GPU tests'; echo
    grep -E '^(PASSED|FAILED|ERROR|SKIPPED)|^=+ .*(passed|failed|error|skipped)' "$OUT/tests.txt" 2>/dev/null | sed 's/^/    /'
    echo; echo 'Measured by the tests:'; echo
    cat "$WORK/records.md" 2>/dev/null || echo '(none recorded)'
    for f in hypergrad alternation pretext study; do
      echo; echo "## $f"; echo
      cat "$OUT/$f.md" 2>/dev/null
    done
  } > "$OUT/summary.md"
}

log "bench/gpu.sh, $MODE, output in $OUT, scratch in $WORK, python $PY"
(( SMOKE )) || timeout 30 "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' \
  || log "WARNING: torch sees no CUDA device (or $PY cannot import torch): the GPU parts will fail"
export -f env_info; export MODE ROOT PY DEV
part env "$B_ENV" "$OUT/env.txt" bash -c env_info
part tests "$B_TESTS" "$OUT/tests.txt" env BISSL_GPU_RECORD="$WORK/records.md" \
  "$PY" -m pytest -m gpu -v -rA -p no:cacheprovider tests/test_gpu.py "${TESTS_K[@]}"
hg_join() { cat "$WORK"/hg_*.md > "$OUT/hypergrad.md" 2>/dev/null; summary; }
part hypergrad-r50 "$B_HG50" "$WORK/hg_1.md" "$PY" bench/hypergrad.py "${HG50[@]}"; hg_join
part hypergrad-r18-simclr "$B_HG18" "$WORK/hg_2.md" "$PY" bench/hypergrad.py "${HG18[@]}" --pretext simclr; hg_join
part hypergrad-r18-byol "$B_HG18" "$WORK/hg_3.md" "$PY" bench/hypergrad.py "${HG18[@]}" --pretext byol; hg_join
part alternation "$B_ALTERNATION" "$OUT/alternation.md" "$PY" bench/alternation.py "${ALTERNATION[@]}"
part pretext "$B_PRETEXT" "$OUT/pretext.md" "$PY" bench/pretext.py "${PRETEXT[@]}"
FM=$(find_data)
SB=$(left); (( SB > B_STUDY )) && SB=$B_STUDY
if [[ -z $FM ]]; then
  log "study: skipped, no Fashion-MNIST IDX files (--data DIR, \$FASHION_MNIST, data/fashion-mnist, /usr/share/datasets/fashion-mnist)"
  echo '(not run: no Fashion-MNIST IDX files found)' > "$OUT/study.md"; STATUS+=("| study | skipped: no data | 0 | $B_STUDY |")
elif (( SB < 100 && ! SMOKE )); then
  log "study: skipped, only ${SB}s left"; echo "(not run: only ${SB}s left)" > "$OUT/study.md"
  STATUS+=("| study | skipped: ${SB}s left | 0 | $B_STUDY |")
else
  export -f study; export SMOKE WORK
  part study "$SB" "$OUT/study.md" bash -c 'study "$@"' study "$SB" "$FM"
fi

summary
log "done: $(printf '%s\n' "${STATUS[@]}" | grep -vc '| ok |') part(s) not ok; summary in $OUT/summary.md"
