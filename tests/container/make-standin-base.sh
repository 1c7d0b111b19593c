#!/usr/bin/env bash
# Makes a local stand-in for the python:3.11-slim base image (Docker Hub is unreachable here):
# Debian bookworm minbase + Debian's python3, pip and CA certificates, imported into the
# containers storage that buildah and podman share.
#
#   tests/container/make-standin-base.sh IMAGE_NAME
#
# The rootfs tarball is cached under $F5_CONTAINER_CACHE (default ~/.cache/f5-container-test),
# so only the first run pays for debootstrap (~40 s). Needs root (debootstrap, chroot).
set -euo pipefail

image=${1:?usage: make-standin-base.sh IMAGE_NAME}
cache=${F5_CONTAINER_CACHE:-$HOME/.cache/f5-container-test}
tarball=$cache/bookworm-python3.tar
# The mirror apt uses on this machine; debootstrap must use the same one.
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

if podman image exists "$image"; then
  exit 0
fi

if [[ ! -s $tarball ]]; then
  mkdir -p "$cache"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  echo "make-standin-base: debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
  # Look like python:3.11-slim: no package caches or docs, and pip may install into the
  # system interpreter (the official image has no PEP 668 marker).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/lib/python3.11/EXTERNALLY-MANAGED
  tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi

podman import --quiet "$tarball" "$image" >/dev/null
