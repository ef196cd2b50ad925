#!/usr/bin/env bash
# Writes the usam output that the Python scripts' tests read:
#   bench-steps.json   usam bench steps --json (scripts/compare_steps.py)
#   guard-on/ guard-off/  two tiny sweeps in the guard study's layout
#                      (scripts/guard_study.py table and ratios)
# into DIR (default scripts/fixtures, the committed copy). The Rust test
# `python_scripts_read_real_usam_output` runs this script into a temporary
# directory with USAM set to the binary under test, so a change to usam's
# output schema fails there; rerun it here to refresh the committed copy.
#   scripts/regen-fixtures.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-scripts/fixtures}
# USAM: the usam command (a binary path, or the cargo default below).
read -r -a usam <<< "${USAM:-cargo run --release -q -p experiments --}"
mkdir -p "$out"
rm -rf "$out/guard-on" "$out/guard-off" "$out/bench-steps.json"
"${usam[@]}" bench steps --model mlp --batch 8 --steps 2 --warmup 0 \
  --methods sgd,frob --json "$out/bench-steps.json" >/dev/null
"${usam[@]}" sweep --config scripts/fixtures/guard-tiny.toml --out "$out/guard-on" >/dev/null
"${usam[@]}" sweep --config scripts/fixtures/guard-tiny.toml --out "$out/guard-off" \
  --set optimizer.guard.max_ratio=off >/dev/null
# Keep the fixture small: the reports and checkpoints are not read.
find "$out/guard-on" "$out/guard-off" \( -name 'report*' -o -name '*.mpk' -o -name '*.png' -o -name '*.svg' \) -exec rm -rf {} +
echo "regen-fixtures: wrote $out"
