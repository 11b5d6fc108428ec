#!/usr/bin/env bash
# Both papers through the `paper` profile's own loading code (pinned hub snapshots, QuickGELU, the protocol's
# dtypes) on a local hub fixture with random weights: seconds per item and peak RAM / GPU memory per role.
#   bash scripts/gpu_check.sh                       # CUDA if present, true-size fixture -> results/gpu-check/<device>
#   bash scripts/gpu_check.sh --size cut --device cpu --out DIR    # CI: the cut fixture on the CPU (~4 min)
# The protocol is `clean` (fp16 Stable Diffusion on a GPU, 25 steps; the --quick runs sample 2 steps). Chapter 07
# reads results/gpu-check/*/ when it exists. Nothing here is an accuracy: the weights are random.
set -euo pipefail
cd "$(dirname "$0")/.."
size=true device=auto out=""
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: gpu_check.sh [--size true|cut] [--device auto|cpu|cuda] [--out DIR]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ "$device" = cpu ]; then export CUDA_VISIBLE_DEVICES=""; fi
if [ "$device" = auto ]; then
  device=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
fi
out=${out:-results/gpu-check/$device}
fixture=${LGCLIP_FIXTURE_DIR:-${TMPDIR:-/tmp}/lgclip-hub-fixture-$size}
start=$(date +%s)
"$PY" -m lgclip_core.cli hub-fixture "$fixture" --size "$size"
export HF_HUB_OFFLINE=1 LGCLIP_HUB_CACHE="$fixture/hub" LGCLIP_DATA="$fixture/data"
"$PY" -m lgclip_core.cli reproduce lgclip --profile paper-shapes --quick --protocol clean --out "$out"
"$PY" -m lgclip_core.cli reproduce t2ipal --profile paper-shapes --quick --protocol clean --out "$out"
echo "gpu_check: $device, $size fixture, $(( $(date +%s) - start )) s -> $out"
