#!/usr/bin/env bash
# Builds the image without a Docker engine, with buildah (or podman) and chroot isolation.
#
#   container/build-local.sh TAG [DOCKERFILE]
#
# DOCKERFILE: container/Dockerfile (default: the slim image, env on the volume) or
# .runpod/Dockerfile (the env built into the image, for endpoints without a volume).
# The image is always linux/amd64, what RunPod runs (an arm64 image built on a Mac fails there).
#
# Environment:
#   BASE_IMAGE   base image (default: the Dockerfile's, python:3.11.13-slim-bookworm pinned by digest)
#   BASE_PYTHON  the base's interpreter when it is not /usr/local/bin/python3.11
#                (Debian's own python3: /usr/bin/python3.11)
#
# The bootstrap and its locked dependencies are prepared outside the build
# (container/prepare-wheels.sh), so the build itself needs no network access.
set -euo pipefail

tag=${1:?usage: container/build-local.sh TAG [DOCKERFILE]}
repo=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$(realpath "${2:-$repo/container/Dockerfile}")

if command -v buildah >/dev/null 2>&1; then
  build=(buildah bud --isolation chroot)
elif command -v podman >/dev/null 2>&1; then
  build=(podman build --isolation chroot)
else
  echo "build-local: needs buildah or podman (Debian: apt-get install buildah)" >&2
  exit 2
fi

wheels=$repo/container/wheels
trap 'rm -rf "$wheels"' EXIT
"$repo/container/prepare-wheels.sh" "$wheels"

args=(--platform linux/amd64 --file "$dockerfile" --tag "$tag")
[[ -n ${BASE_IMAGE:-} ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[[ -n ${BASE_PYTHON:-} ]] && args+=(--build-arg "BASE_PYTHON=$BASE_PYTHON")

echo "build-local: ${build[*]} ${args[*]} $repo" >&2
"${build[@]}" "${args[@]}" "$repo"

size=$(podman image inspect --format '{{.Size}}' "$tag" 2>/dev/null || true)
echo "build-local: built $tag${size:+ ($((size / 1000000)) MB uncompressed)}" >&2
