#!/usr/bin/env bash
# Starts the image with Docker through its real ENTRYPOINT and CMD, as RunPod does.
#
#   container/smoke-test.sh IMAGE
#
# 1. `docker run IMAGE ARGS`: the entrypoint (f5-bootstrap) with a command instead of CMD
#    (how a pod's start command reaches it): --version, and status on an empty volume.
# 2. `docker run IMAGE` with no arguments: the real ENTRYPOINT + CMD (`f5-bootstrap run`) as
#    a serverless worker (RUNPOD_ENDPOINT_ID set) without a volume. The slim image must stop
#    at once with exit code 3 and say that no volume is mounted (it never builds on container
#    disk). An image with the env built in (.runpod/Dockerfile) finds that env instead: its
#    worker runs the RunPod Hub's test job (dummy weights) once and exits 0.
set -euo pipefail

image=${1:?usage: container/smoke-test.sh IMAGE}
volume=$(mktemp -d)
out=$(mktemp)
trap 'rm -rf "$volume" "$out"' EXIT

docker run --rm "$image" --version
docker run --rm --volume "$volume:/runpod-volume" "$image" status

repo=$(cd "$(dirname "$0")/.." && pwd)
job=$(python3 -c 'import json, sys; test = json.load(open(sys.argv[1]))["tests"][0]
print(json.dumps({"input": test["input"]}))' "$repo/.runpod/tests.json")
baked=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image" \
  | sed -n 's/^F5_IMAGE_ROOT=//p')
set +e
if [[ -n $baked ]]; then
  docker run --rm --env RUNPOD_ENDPOINT_ID=smoke-test --env F5_LOAD_FORMAT=dummy \
    --env F5_TTS_MODEL=tiny "$image" run -- --test_input "$job" >"$out" 2>&1
else
  docker run --rm --env RUNPOD_ENDPOINT_ID=smoke-test "$image" >"$out" 2>&1
fi
code=$?
set -e
tail -n 20 "$out"
if [[ -n $baked ]]; then
  [[ $code -eq 0 ]] || { echo "smoke-test: the baked env's worker failed ($code)" >&2; exit 1; }
else
  [[ $code -eq 3 ]] && grep -q "no network volume is mounted" "$out" \
    || { echo "smoke-test: run without a volume must stop with code 3 ($code)" >&2; exit 1; }
fi
echo "smoke-test: $image starts" >&2
