#!/usr/bin/env bash
# Builds, on any Linux machine (no CUDA toolkit needed), what the GPU check
# runs on an NVIDIA machine: the `usam` binary with CUDA and wgpu, and the
# Hessian benchmark, into gpu/ (git-ignored). Then run, on the GPU machine,
# from the repository root:  ./scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# CUDA 13 bindings; the libraries are loaded at run time.
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
cargo build --release -p experiments --features cuda
bench=$(cargo bench -p sam-burn --features cuda --bench hessian --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*hessian[^"]*"' | tail -n 1 | cut -d'"' -f4)
mkdir -p gpu
cp target/release/usam gpu/usam
[ -n "$bench" ] && cp "$bench" gpu/hessian-bench
strip gpu/usam gpu/hessian-bench 2>/dev/null || true
# Compressed copies for machines reached through a size-limited transfer;
# scripts/gpu-check.sh unpacks them.
gzip -9 -kf gpu/usam
[ -f gpu/hessian-bench ] && gzip -9 -kf gpu/hessian-bench
ls -la gpu
