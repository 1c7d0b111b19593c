#!/usr/bin/env bash
# Starts the image with Docker: the launcher answers, and reads an empty volume.
#
#   container/smoke-test.sh IMAGE
set -euo pipefail

image=${1:?usage: container/smoke-test.sh IMAGE}
volume=$(mktemp -d)
trap 'rm -rf "$volume"' EXIT

# The entrypoint is `f5-bootstrap run`, which would build the runtime: call other commands.
docker run --rm --entrypoint f5-bootstrap "$image" --version
docker run --rm --entrypoint f5-bootstrap --volume "$volume:/runpod-volume" "$image" status
echo "smoke-test: $image starts" >&2
