#!/usr/bin/env bash
# Installs what the web page test needs (Debian's chromium and its chromedriver) on a Debian
# machine: only what is missing, so calling it on every CI run costs nothing once installed.
set -euo pipefail

# command -> Debian package that provides it
declare -A wanted=(
  [chromium]=chromium
  [chromedriver]=chromium-driver
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  # Not fatal: without chromium the browser test skips and says why.
  echo "install-browser: not root, cannot install: ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-browser: installed ${missing[*]}"
