#!/usr/bin/env bash
# The GPU check: correctness of CUDA and wgpu against the f64 reference and
# the CPU backend, then benchmark figures. Runs the bundle of
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
step 90 "selftest cuda" $U selftest --backend cuda
step 45 "bench steps cuda mlp b128" $U bench steps --backend cuda --model mlp --batch 128 --steps 30 --warmup 5
step 100 "bench steps cuda resnet18 b128" $U bench steps --backend cuda --model resnet18 --batch 128 --steps 8 --warmup 2
# The rest (HVP cost, wgpu on Vulkan) with USAM_GPU_CHECK=full.
if [ "${USAM_GPU_CHECK:-}" = full ]; then
  step 40 "bench hessian cuda mlp b128" $U bench hessian --backend cuda --model mlp --batch 128 --steps 5 --warmup 1 --probes 128
  step 60 "bench hessian cuda resnet18 b8" $U bench hessian --backend cuda --model resnet18 --batch 8 --steps 3 --warmup 1
  step 60 "selftest wgpu (vulkan)" $U selftest --backend wgpu
  step 80 "bench steps wgpu resnet18 b128" $U bench steps --backend wgpu --model resnet18 --batch 128 --steps 5 --warmup 2
fi
echo; echo "=== done"
