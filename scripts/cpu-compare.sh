#!/usr/bin/env bash
# usam (Burn's Flex CPU backend) against PyTorch on this machine's CPU, in
# one run: the same models, methods, batches and base optimizer, one tool
# after the other (never side by side: on a few cores they would steal each
# other's time). Prints both tables and the side-by-side one with per-image
# times. Needs the release build and a Python with torch:
#   cargo build --release -p experiments
#   PYTHON=/path/to/venv/bin/python scripts/cpu-compare.sh
# Run it on an idle machine; figures go to $OUT (default /tmp/cpu-compare).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/cpu-compare}
mkdir -p "$OUT"
U=target/release/usam
[ -x "$U" ] || { echo "build first: cargo build --release -p experiments" >&2; exit 2; }
"$PY" -c 'import torch' 2>/dev/null || { echo "$PY has no torch (pip install torch)" >&2; exit 2; }
# PyTorch's OpenMP threads otherwise spin after each parallel region
# (torch_baseline.py defaults to PASSIVE; said here for the record).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() { # run NAME MODEL BATCH STEPS WARMUP METHODS
  "$U" bench steps --backend cpu --model "$2" --batch "$3" --steps "$4" --warmup "$5" \
    --methods "$6" --json "$OUT/usam-$1.json" --force
  "$PY" scripts/torch_baseline.py --device cpu --model "$2" --batch "$3" --steps "$4" \
    --warmup "$5" --methods "$6" --json "$OUT/pytorch-$1.json"
}
run mlp-b128 mlp 128 50 5 sgd,sam,trace,frob,det
run resnet18-b32 resnet18 32 3 1 sgd,sam,trace,frob,det
run resnet18-b128 resnet18 128 3 1 sgd
"$PY" scripts/compare_steps.py --per-image "$OUT"/*.json
