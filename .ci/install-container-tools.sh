#!/usr/bin/env bash
# Installs what the container test needs (buildah, podman, debootstrap) on a Debian machine:
# only what is missing, quietly, so calling it on every CI run costs nothing once installed.
set -euo pipefail

# command -> Debian package that provides it
declare -A wanted=(
  [buildah]=buildah
  [podman]=podman
  [debootstrap]=debootstrap
  [newuidmap]=uidmap          # rootless user namespaces for buildah/podman
  [fuse-overlayfs]=fuse-overlayfs
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# debootstrap checks Debian's signatures (already there on Debian; not on Ubuntu).
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  # Not fatal: without buildah the container tests skip and say why.
  echo "install-container-tools: not root, cannot install: ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-container-tools: installed ${missing[*]}"
