#!/usr/bin/env bash
# How many crates sam-burn adds to a fresh Burn project (issue: lean
# dependencies). Builds nothing: `cargo tree` on two throwaway projects, one
# with Burn alone (std, ndarray, autodiff), one with sam-burn added by path.
# Fails when sam-burn, with its default features, adds more than LIMIT.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
limit="${LIMIT:-15}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

count() { # $1: the [dependencies] lines
  mkdir -p "$tmp/p/src"
  printf '[package]\nname = "p"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n\n[dependencies]\n%s\n' "$1" > "$tmp/p/Cargo.toml"
  echo 'fn main() {}' > "$tmp/p/src/main.rs"
  # The workspace's lock file pins the same versions the project builds with.
  cp "$root/Cargo.lock" "$tmp/p/Cargo.lock"
  # The issue's measure, verbatim; the names list drops cargo's "(*)" marks.
  (cd "$tmp/p" && cargo tree -e normal --prefix none | sort -u) > "$tmp/$2"
  sed 's/ (\*)$//' "$tmp/$2" | sort -u > "$tmp/$2.names"
  wc -l < "$tmp/$2"
}

burn='burn = { version = "=0.21.0", default-features = false, features = ["std", "ndarray", "autodiff"] }'
before=$(count "$burn" before)
after=$(count "$burn
sam-burn = { path = \"$root/sam-burn\" }" after)
# Each count includes the project itself (and sam-burn and sam-core after).
added=$((after - before))
echo "added:"
comm -13 "$tmp/before.names" "$tmp/after.names" | grep -v '^p v' | sed 's/^/  /'

echo "crates in a fresh Burn project (std, ndarray, autodiff): $before"
echo "with sam-burn (default features):                         $after"
echo "added by sam-burn (itself and sam-core included):         $added (limit $limit)"
if [ "$added" -gt "$limit" ]; then
  echo "crate-count: sam-burn adds $added crates, more than $limit" >&2
  exit 1
fi
