#!/usr/bin/env bash
# Installs what the tests need beyond Rust: Mesa's lavapipe (a Vulkan driver
# that runs on the CPU) so the wgpu backend can be tested without a GPU,
# python3 for the benchmark scripts' own tests, Debian's chromium to render
# the HTML reports in a headless browser, and the rustfmt/clippy
# components. Safe to run twice.
set -euo pipefail

have_lavapipe() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1
}

packages=()
have_lavapipe || packages+=(mesa-vulkan-drivers)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
# CI checks the deployment scripts (deploy/slurm) and these with shellcheck.
command -v shellcheck >/dev/null 2>&1 || packages+=(shellcheck)

if [ ${#packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "setup: installing ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "setup: no apt-get; install ${packages[*]} yourself (a Vulkan driver such as Mesa lavapipe runs the wgpu tests)" >&2
  fi
fi

# The browser backs one check, which skips itself (with a message) without
# it, unless USAM_BROWSER_TESTS=1 makes it mandatory (as CI does): then a
# failed install fails the setup.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: installing chromium (headless check of the HTML reports)"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    if [ "${USAM_BROWSER_TESTS:-auto}" = 1 ]; then
      echo "setup: chromium could not be installed, and USAM_BROWSER_TESTS=1 requires it" >&2
      exit 1
    fi
    echo "setup: chromium could not be installed; the report's browser check will be skipped" >&2
  fi
fi
# A variable set to 1 makes its tests mandatory: what they need must be here.
require() { # VARIABLE COMMAND...
  local var=$1
  shift
  [ "${!var:-auto}" = 1 ] || return 0
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 && return 0; done
  echo "setup: $var=1 requires $1, which is not installed" >&2
  exit 1
}
require USAM_PYTHON_TESTS python3
require USAM_BROWSER_TESTS chromium chromium-browser google-chrome

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
echo "setup: done"
