#!/usr/bin/env bash
# Prepare, here (with network), what benchmarks/gpu_check.sh needs on a GPU machine that is not
# our image: its own Python and PyTorch, no network, at most 64 MiB carried with the tree.
#
#     bash benchmarks/gpu_wheels.sh                      # -> .gpu-wheels/ (ignored by git)
#     bash benchmarks/gpu_wheels.sh --python-version 3.11 --torchaudio 2.8.0 DIR   # (a check here)
#
# Downloads, without their dependencies, the wheels of the packages the engines import that such
# a machine lacks (it has torch, numpy, transformers, accelerate, scipy, numba, matplotlib,
# safetensors, huggingface-hub, pyyaml, requests, tqdm), at the versions of our uv.lock, for
# that machine's Python (cp312, manylinux). gpu_check.sh unpacks them there and puts them
# *after* the machine's own packages on the path, so they only fill its gaps; torchaudio is
# among them for a machine that lacks it (it must match the machine's torch: --torchaudio).
# wandb and datasets, which f5-tts's trainer imports and inference never uses, are replaced by
# stand-ins (benchmarks/gpu_standins/) rather than carried. Prints the set's size.
set -euo pipefail
cd "$(dirname "$0")/.."

python_version=3.12
torchaudio=2.11.0  # the GPU machines' torch is 2.11
dest=.gpu-wheels
while [ $# -gt 0 ]; do
    case "$1" in
        --python-version) python_version=$2; shift 2 ;;
        --torchaudio) torchaudio=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
        *) dest=$1; shift ;;
    esac
done

# What importing the engines needs beyond the machine's packages (read from the imports of
# f5_tts.model and .infer.utils_infer, vocos, whisperx.alignment and f5_runtime; check with
# gpu_check.sh, which names any module still missing).
packages=(
    f5-tts x-transformers ema-pytorch vocos encodec torchdiffeq einops einx frozendict
    torch-einops-utils loguru pypinyin rjieba pydub
    librosa soxr audioread lazy-loader msgpack joblib cloudpickle pooch platformdirs decorator
    soundfile cffi pycparser
    whisperx nltk click pandas
    num2words docopt
)
# Published as source only: built here into (pure-Python) wheels.
source_only=(encodec docopt)

pinned() {  # "name==version" from uv.lock (the versions the project tests with)
    local spec
    spec=$(grep -i "^$1==" "$requirements" || true)
    [ -n "$spec" ] || { echo "$1 is not in uv.lock" >&2; exit 1; }
    echo "$spec"
}

requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
uv export --frozen --no-hashes --no-dev --package f5-runtime --no-emit-workspace \
    | sed -e 's/ *;.*//' -e 's/ *\\$//' > "$requirements"

binary=("torchaudio==$torchaudio")
built=()
for name in "${packages[@]}"; do
    if [[ " ${source_only[*]} " == *" $name "* ]]; then
        built+=("$(pinned "$name")")
    else
        binary+=("$(pinned "$name")")
    fi
done

rm -rf "$dest"
mkdir -p "$dest"
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
           manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$tag")
done
python3 -m pip download --quiet --dest "$dest" --no-deps --only-binary=:all: \
    --python-version "$python_version" "${platforms[@]}" "${binary[@]}"
python3 -m pip wheel --quiet --wheel-dir "$dest" --no-deps "${built[@]}"

count=$(find "$dest" -name '*.whl' | wc -l)
bytes=$(du -cb "$dest"/*.whl | tail -1 | cut -f1)
echo "$count wheels in $dest: $(awk "BEGIN {printf \"%.1f\", $bytes / 1048576}") MiB (limit 64 MiB)"
[ "$bytes" -le $((64 * 1048576)) ] || { echo "over the 64 MiB a device run carries" >&2; exit 1; }
