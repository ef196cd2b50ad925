#!/usr/bin/env bash
# The GPU check: correctness of CUDA and wgpu (both with Burn's fusion and
# autotune) against the f64 reference and the CPU backend, then step times
# of usam on CUDA and wgpu and of PyTorch on the same card, in one table. Runs the bundle of
# scripts/gpu-bundle.sh; prints everything and copies it to $OUT/gpu-check.txt.
# Each step has its own time limit so partial results survive.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
log="$OUT/gpu-check.txt"
exec > >(tee -a "$log") 2>&1

# Vulkan loader for wgpu (carried as .deb files) and NVIDIA's ICD.
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
# NVRTC for CubeCL's kernels: the toolkit's, else PyTorch's wheel.
# (searched where toolkits and wheels live: a find over / can take minutes)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(dirname "$(find /usr/local /opt /usr/lib -name 'libnvrtc.so*' 2>/dev/null | head -n 1)" 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done

step() { # step SECONDS TITLE CMD...
  local t=$1 title=$2; shift 2
  echo; echo "=== $title ($(date -u +%H:%M:%S), limit ${t}s)"
  local start
  start=$(date +%s)
  timeout "$t" "$@"; echo "--- exit $? after $(( $(date +%s) - start )) s"
}

echo "=== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
nproc
# The bundle may be gzipped to fit a transfer limit.
[ -f gpu/usam.gz ] && [ ! -x gpu/usam ] && gunzip -k gpu/usam.gz && chmod +x gpu/usam
U=gpu/usam
J=$OUT/steps   # JSON step timings, merged into one table at the end
mkdir -p "$J"
bench() { # bench BACKEND MODEL STEPS WARMUP: usam bench steps at batch 128
  step "$5" "bench steps $1 $2 b128" $U bench steps --backend "$1" --model "$2" --batch 128 \
    --steps "$3" --warmup "$4" --json "$J/usam-$1-$2.json" --force
}
# Most important first, so a time limit cuts only the rest: CUDA's
# correctness, then CUDA against PyTorch (ResNet18, then the MLP), then wgpu.
# Warm-up rounds absorb kernel compilation and autotuning (cached under
# target/autotune for the next run); the table reports each first step.
have_torch=0; python3 -c 'import torch' 2>/dev/null && have_torch=1
torch_bench() { # torch_bench MODEL STEPS LIMIT
  if [ $have_torch = 1 ]; then
    step "$3" "pytorch $1 b128" python3 scripts/torch_baseline.py --device cuda --model "$1" \
      --batch 128 --steps "$2" --warmup 3 --json "$J/pytorch-cuda-$1.json"
  else
    echo; echo "=== pytorch: not installed here (python3 -c 'import torch' failed); no baseline"
  fi
}
step 120 "selftest cuda" $U selftest --backend cuda
bench cuda resnet18 10 2 150
torch_bench resnet18 10 90
bench cuda mlp 30 5 60
torch_bench mlp 30 60
step 20 "usam vs PyTorch, ms per step" python3 scripts/compare_steps.py "$J"/*.json
step 120 "selftest wgpu (vulkan)" $U selftest --backend wgpu
bench wgpu resnet18 8 2 150
bench wgpu mlp 30 5 60
step 20 "usam (CUDA and wgpu) vs PyTorch, ms per step" python3 scripts/compare_steps.py "$J"/*.json
# Data parallel, when the machine has more than one GPU: the scaling bench
# (the same global batch on one GPU and on all) and a short run on all.
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
if [ "$gpus" -gt 1 ]; then
  all=$(seq -s, 0 $((gpus - 1)))
  step 240 "bench parallel cuda resnet18 b$((128 * gpus)) on $gpus GPUs" $U bench parallel --backend cuda \
    --devices "$all" --model resnet18 --batch $((128 * gpus)) --steps 8 --warmup 2 --methods sgd,sam,frob
  step 180 "train mnist-10k, frob, on $gpus GPUs" $U train --backend cuda --devices "$all" --method frob \
    --epochs 1 --batch-size $((64 * gpus)) --set steps_per_epoch=20 --quiet --out "$OUT/ddp-run"
else
  echo; echo "=== data parallel: one GPU here, nothing to scale over"
fi
# The rest (HVP cost) with USAM_GPU_CHECK=full.
if [ "${USAM_GPU_CHECK:-}" = full ]; then
  step 40 "bench hessian cuda mlp b128" $U bench hessian --backend cuda --model mlp --batch 128 --steps 5 --warmup 1 --probes 128
  step 60 "bench hessian cuda resnet18 b8" $U bench hessian --backend cuda --model resnet18 --batch 8 --steps 3 --warmup 1
  step 60 "bench hessian wgpu resnet18 b8" $U bench hessian --backend wgpu --model resnet18 --batch 8 --steps 3 --warmup 1
fi
echo; echo "=== done"
