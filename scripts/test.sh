#!/usr/bin/env bash
# The test command: set up (idempotent), then the unit tests and the linter.
#   bash scripts/test.sh [extra pytest arguments]      e.g.  bash scripts/test.sh -m "not slow"
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }
status=0
start=$(date +%s)
# pytest exits 5 when it collects no test: that is a failure here too.
HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg .venv/bin/python -m pytest -q "$@" || status=1
echo "pytest: $(( $(date +%s) - start )) s"
.venv/bin/ruff check . || status=1
if [ "$status" = 0 ]; then echo "test.sh: all passed"; else echo "test.sh: FAILED" >&2; fi
exit $status
