#!/usr/bin/env bash
# Builds the image without a Docker engine, with buildah (or podman) and chroot isolation.
#
#   container/build-local.sh TAG
#
# Environment:
#   BASE_IMAGE   base image (default python:3.11-slim, as on GitHub and RunPod's Hub)
#   BASE_PYTHON  the base's interpreter, when not /usr/local/bin/python3.11 (e.g. Debian's
#                /usr/bin/python3.11)
#
# The bootstrap's wheel and its locked dependencies are prepared here, outside the build, in
# container/wheels/ (the Dockerfile installs from there when present), so the build itself
# needs no network. Needs uv (the project's), and pip (python3 -m pip, else via uvx).
set -euo pipefail

tag=${1:?usage: container/build-local.sh TAG}
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=$repo/container/wheels
export UV_PYTHON_DOWNLOADS=never

if command -v buildah >/dev/null 2>&1; then
  build=(buildah bud --isolation chroot)
elif command -v podman >/dev/null 2>&1; then
  build=(podman build --isolation chroot)
else
  echo "build-local: needs buildah or podman (Debian: apt-get install buildah)" >&2
  exit 2
fi

if python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  pip=(uvx pip)
fi

rm -rf "$wheels"
mkdir -p "$wheels"
echo "build-local: preparing wheels in $wheels" >&2
uv build --quiet --wheel --out-dir "$wheels" "$repo/packages/f5-bootstrap"
(cd "$repo" && uv export --quiet --frozen --package f5-bootstrap --no-dev \
  --no-emit-workspace --output-file "$wheels/requirements.txt")
# Wheels for the image's platform, whatever the host: the lock targets linux x86_64.
"${pip[@]}" download --quiet --no-deps --require-hashes --only-binary=:all: \
  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  --dest "$wheels" -r "$wheels/requirements.txt"

args=(--file "$repo/container/Dockerfile" --tag "$tag")
[[ -n ${BASE_IMAGE:-} ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[[ -n ${BASE_PYTHON:-} ]] && args+=(--build-arg "BASE_PYTHON=$BASE_PYTHON")

echo "build-local: ${build[*]} ${args[*]} $repo" >&2
"${build[@]}" "${args[@]}" "$repo"
rm -rf "$wheels"

size=$(podman image inspect --format '{{.Size}}' "$tag" 2>/dev/null || true)
echo "build-local: built $tag${size:+ ($((size / 1000000)) MB uncompressed)}" >&2
