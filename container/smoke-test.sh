#!/usr/bin/env bash
# Starts the image with Docker: the launcher answers, and reads an empty volume.
#
#   container/smoke-test.sh IMAGE
set -euo pipefail

image=${1:?usage: container/smoke-test.sh IMAGE}
volume=$(mktemp -d)
trap 'rm -rf "$volume"' EXIT

# The default command (`run`) would build the runtime: call other commands, naming the
# entrypoint explicitly so the check holds whatever the image's CMD is.
docker run --rm --entrypoint f5-bootstrap "$image" --version
docker run --rm --entrypoint f5-bootstrap --volume "$volume:/runpod-volume" "$image" status
echo "smoke-test: $image starts" >&2
