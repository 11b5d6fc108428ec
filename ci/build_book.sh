#!/usr/bin/env bash
# Build the HTML book from the staging tree, never executing a notebook.
#   bash ci/build_book.sh            -> _build/html/index.html (at the repository root)
# Run `python ci/run_notebooks.py` first: it executes the notebooks into _stage/notebooks/. This script
# refreshes the prose pages and config in _stage/ (cheap), then runs jupyter-book 1.x with warnings as errors
# (-W), nitpicky references (-n) and --keep-going (report every warning, then fail), and finally checks that
# the HTML needs no CSS/JS from the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
JB=${JUPYTER_BOOK:-.venv/bin/jupyter-book}
start=$(date +%s)
# The How to run page's "What happens when" table is rendered from the cases that tests/test_robustness.py checks.
"$PY" tests/test_robustness.py --write book/_generated/what_happens_when.md
"$PY" ci/run_notebooks.py --copy-only
rm -rf _build/html _build/.doctrees _build/jupyter_execute
# --path-output . puts the output in ./_build (not _stage/_build); --all rebuilds every page so that
# warnings of unchanged pages are reported too.
"$JB" build _stage --path-output . --builder html --all -W -n --keep-going
# The book must work offline: no stylesheet or script may come from another host.
"$PY" - <<'PYEOF'
import re
import sys
from pathlib import Path

bad = {}
pattern = re.compile(r'<(?:script[^>]*\bsrc|link[^>]*\bhref)="((?:https?:)?//[^"]+)"[^>]*>')
for page in Path("_build/html").rglob("*.html"):
    for tag in re.finditer(r"<(?:script|link)\b[^>]*>", page.read_text(errors="replace")):
        m = pattern.match(tag.group(0))
        if m and (tag.group(0).startswith("<script") or 'rel="stylesheet"' in tag.group(0)
                  or "preload" in tag.group(0)):
            bad.setdefault(m.group(1), []).append(str(page))
if bad:
    print("build_book: the HTML loads CSS/JS from the internet:", file=sys.stderr)
    for url, pages in bad.items():
        print(f"  {url}  ({len(pages)} page(s), e.g. {pages[0]})", file=sys.stderr)
    sys.exit(1)
print("build_book: no external CSS/JS referenced")
PYEOF
echo "book built in $(( $(date +%s) - start )) s: $(pwd)/_build/html/index.html"
