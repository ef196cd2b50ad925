#!/usr/bin/env bash
# The GPU check: correctness of CUDA and wgpu (both with Burn's fusion and
# autotune) against the f64 reference and the CPU backend, then step times
# of usam on CUDA and wgpu and of PyTorch on the same card, in one table. Runs the bundle of
# scripts/gpu-bundle.sh; prints everything and copies it to $OUT/gpu-check.txt.
# Each step has its own time limit so partial results survive.
set -u
cd "$(dirname "$0")/.."
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
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(dirname "$(find / -name 'libnvrtc.so*' -not -path '*/proc/*' 2>/dev/null | head -n 1)" 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done

step() { # step SECONDS TITLE CMD...
  local t=$1 title=$2; shift 2
  echo; echo "=== $title ($(date -u +%H:%M:%S), limit ${t}s)"
  local start=$(date +%s)
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
step 120 "selftest cuda" $U selftest --backend cuda
step 120 "selftest wgpu (vulkan)" $U selftest --backend wgpu
# Warm-up rounds absorb kernel compilation and autotuning (cached under
# target/autotune for the next run); the table reports each first step.
bench cuda mlp 30 5 90
bench cuda resnet18 10 2 180
bench wgpu mlp 30 5 90
bench wgpu resnet18 8 2 180
# PyTorch on the same card, same models, methods and batch, when installed.
if python3 -c 'import torch' 2>/dev/null; then
  for m in mlp resnet18; do
    steps=30; [ $m = resnet18 ] && steps=10
    step 180 "pytorch $m b128" python3 scripts/torch_baseline.py --device cuda --model $m \
      --batch 128 --steps $steps --warmup 3 --json "$J/pytorch-cuda-$m.json"
  done
else
  echo; echo "=== pytorch: not installed here (python3 -c 'import torch' failed); no baseline"
fi
step 20 "usam vs PyTorch, ms per step" python3 scripts/compare_steps.py "$J"/*.json
# The rest (HVP cost) with USAM_GPU_CHECK=full.
if [ "${USAM_GPU_CHECK:-}" = full ]; then
  step 40 "bench hessian cuda mlp b128" $U bench hessian --backend cuda --model mlp --batch 128 --steps 5 --warmup 1 --probes 128
  step 60 "bench hessian cuda resnet18 b8" $U bench hessian --backend cuda --model resnet18 --batch 8 --steps 3 --warmup 1
  step 60 "bench hessian wgpu resnet18 b8" $U bench hessian --backend wgpu --model resnet18 --batch 8 --steps 3 --warmup 1
fi
echo; echo "=== done"
