#!/usr/bin/env bash
# The book: set up (idempotent), execute every chapter, build the HTML.
#   bash scripts/book.sh          full-size parameters (each notebook's own defaults)
#   bash scripts/book.sh --ci     the reduced sizes of ci/params/<stem>.yml, as continuous integration runs them
# Any other arguments are passed to ci/run_notebooks.py (e.g. --only 00_overview).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(--full)
args=()
for a in "$@"; do
  if [ "$a" = "--ci" ]; then mode=(); else args+=("$a"); fi
done
bash scripts/setup.sh
t0=$(date +%s)
.venv/bin/python ci/run_notebooks.py "${mode[@]}" "${args[@]}"
t1=$(date +%s)
bash ci/build_book.sh
t2=$(date +%s)
echo "notebooks: $((t1 - t0)) s, book build: $((t2 - t1)) s"
echo "The book is at $(pwd)/_build/html/index.html"
