#!/usr/bin/env bash
# Builds, on any Linux machine (no CUDA toolkit needed), what the GPU check
# runs on an NVIDIA machine: the `usam` binary with CUDA and wgpu, into gpu/
# (git-ignored). Then run, on the GPU machine,
# from the repository root:  ./scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# CUDA 13 bindings; the libraries are loaded at run time.
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
cargo build --release -p experiments --features cuda
mkdir -p gpu
cp target/release/usam gpu/usam
strip gpu/usam 2>/dev/null || true
# A compressed copy for machines reached through a size-limited transfer;
# scripts/gpu-check.sh unpacks it.
gzip -9 -kf gpu/usam
ls -la gpu
