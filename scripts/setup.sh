#!/usr/bin/env bash
# Installs what the tests need beyond Rust: Mesa's lavapipe (a Vulkan driver
# that runs on the CPU) so the wgpu backend can be tested without a GPU, and
# the rustfmt/clippy components. Safe to run twice.
set -euo pipefail

have_lavapipe() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1
}

if ! have_lavapipe; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "setup: installing mesa-vulkan-drivers (lavapipe) for the wgpu tests"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  else
    echo "setup: no apt-get; install a Vulkan driver (Mesa lavapipe) yourself to run the wgpu tests" >&2
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
echo "setup: done"
