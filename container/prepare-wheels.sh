#!/usr/bin/env bash
# Prepares container/wheels/ for the image build: f5-bootstrap's wheel, plus its dependencies
# exactly as uv.lock pins them (hashed requirements.txt and their wheels). The Dockerfile
# installs from there when the folder is present, so the build itself needs no network.
#
#   container/prepare-wheels.sh [DIR]     (default: container/wheels)
#
# Needs uv, and pip (python3 -m pip, else run through uvx).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=${1:-$repo/container/wheels}
export UV_PYTHON_DOWNLOADS=${UV_PYTHON_DOWNLOADS:-never}

if python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  pip=(uvx pip)
fi

rm -rf "$wheels"
mkdir -p "$wheels"
uv build --quiet --wheel --out-dir "$wheels" "$repo/packages/f5-bootstrap"
(cd "$repo" && uv export --quiet --frozen --package f5-bootstrap --no-dev \
  --no-emit-workspace --output-file "$wheels/requirements.txt")
# Wheels for the image's platform, whatever the host: the lock targets linux x86_64.
"${pip[@]}" download --quiet --no-deps --require-hashes --only-binary=:all: \
  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  --dest "$wheels" -r "$wheels/requirements.txt"
echo "prepare-wheels: $(find "$wheels" -name '*.whl' | wc -l) wheels in $wheels" >&2
