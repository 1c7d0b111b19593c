#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): start to ready, RTF at NFE 32/16/7, time to first
# audio, 1/4/16 concurrent jobs, peak GPU memory; a markdown table per section as it completes,
# then one JSON line (also $OUT/gpu_check.json when OUT is set). Real-size models with random
# weights: nothing is downloaded. Fits in 8 minutes on one H100-class GPU.
#
#     bash benchmarks/gpu_check.sh            # a GPU
#     bash benchmarks/gpu_check.sh --smoke    # CPU, tiny models (a test runs this)
#
# The runtime runs from this tree's source, with the machine's own python (PYTHON, default
# python3) and torch; what the machine lacks comes from .gpu-wheels/ (benchmarks/gpu_wheels.sh,
# run beforehand where there is network), unpacked into .gpu-site/ (F5_GPU_WHEELS and
# F5_GPU_SITE name others).
set -euo pipefail
F5_GPU_CHECK_STARTED=$(date +%s.%N)  # start to ready is measured from here
export F5_GPU_CHECK_STARTED
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD/packages/f5-runtime/src:$PWD/packages/f5-bootstrap/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export F5_LOAD_FORMAT=dummy  # random weights of the real sizes
if [ "${1:-}" = "--smoke" ]; then
    export F5_TTS_MODEL=tiny F5_DEVICE=cpu
else
    export F5_DEVICE=cuda
fi
exec "${PYTHON:-python3}" benchmarks/gpu_check.py \
    --wheels "${F5_GPU_WHEELS:-.gpu-wheels}" --site "${F5_GPU_SITE:-.gpu-site}" "$@"
