#!/usr/bin/env bash
# usam (Burn's Flex CPU backend) against PyTorch on this machine's CPU, in
# one run: the same models, methods, batches and base optimizer, one tool
# after the other (never side by side: on a few cores they would steal each
# other's time). PyTorch runs twice: under its default OpenMP settings (the
# headline: what its users run) and with OMP_WAIT_POLICY=PASSIVE (a second,
# labelled column; it is 2x slower on an idle machine). Prints both tools'
# tables and the side-by-side one with per-image times. Needs the release
# build and a Python with torch:
#   cargo build --release -p experiments
#   PYTHON=/path/to/venv/bin/python scripts/cpu-compare.sh
# The machine must be idle: before each run the script waits (up to
# LOAD_WAIT seconds, default 300) for the 1-minute load to fall to MAX_LOAD
# (default 0.5; the previous tool's own run raises it, and it decays in
# about a minute), prints it, and refuses to go on if it stays above,
# unless ALLOW_LOAD=1, which records the load beside the figures instead.
# Figures go to $OUT (default /tmp/cpu-compare).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/cpu-compare}
MAX_LOAD=${MAX_LOAD:-0.5}
mkdir -p "$OUT"
U=target/release/usam
[ -x "$U" ] || { echo "build first: cargo build --release -p experiments" >&2; exit 2; }
"$PY" -c 'import torch' 2>/dev/null || { echo "$PY has no torch (pip install torch)" >&2; exit 2; }
# PyTorch's own default unless the caller set a policy for the headline.
unset OMP_WAIT_POLICY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
busy() { awk -v l="$1" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; }
idle() { # idle WHAT: wait for the 1-minute load to fall; print it; refuse above MAX_LOAD
  local load waited=0
  load=$(cut -d' ' -f1 /proc/loadavg)
  while busy "$load" && [ "$waited" -lt "${LOAD_WAIT:-300}" ]; do
    sleep 10
    waited=$((waited + 10))
    load=$(cut -d' ' -f1 /proc/loadavg)
  done
  if busy "$load"; then
    if [ "${ALLOW_LOAD:-0}" = 1 ]; then
      echo "load: $load before $1 (above $MAX_LOAD: these figures are from a busy machine)" | tee -a "$OUT/load.txt"
      return 0
    fi
    echo "cpu-compare: 1-minute load $load before $1 is above $MAX_LOAD; wait for an idle machine (or ALLOW_LOAD=1 to record it beside the figures)" >&2
    exit 3
  fi
  echo "load: $load before $1 (waited ${waited} s)" | tee -a "$OUT/load.txt"
}
: >"$OUT/load.txt"
run() { # run NAME MODEL BATCH STEPS WARMUP METHODS
  idle "usam $1"
  "$U" bench steps --backend cpu --model "$2" --batch "$3" --steps "$4" --warmup "$5" \
    --methods "$6" --json "$OUT/usam-$1.json" --force
  idle "PyTorch $1"
  "$PY" scripts/torch_baseline.py --device cpu --model "$2" --batch "$3" --steps "$4" \
    --warmup "$5" --methods "$6" --json "$OUT/pytorch-$1.json"
  idle "PyTorch (PASSIVE) $1"
  "$PY" scripts/torch_baseline.py --device cpu --model "$2" --batch "$3" --steps "$4" \
    --warmup "$5" --methods "$6" --omp-wait-policy passive --json "$OUT/pytorch-passive-$1.json"
}
run mlp-b128 mlp 128 50 5 sgd,sam,trace,frob,det
run resnet18-b32 resnet18 32 3 1 sgd,sam,trace,frob,det
run resnet18-b128 resnet18 128 3 1 sgd,frob
"$PY" scripts/compare_steps.py --per-image "$OUT"/*.json
