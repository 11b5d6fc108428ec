#!/usr/bin/env python
"""Open every chapter of the built book in headless Chromium and check that it renders.

    python ci/browser_check.py [--html _build/html] [--chromium /usr/bin/chromium]

For each page listed in _toc.yml, Chromium loads ``_build/html/<page>.html`` from disk (``--dump-dom``: the
DOM after scripts ran) and the check requires: the page's title as a heading, every ``<img>`` of the static
HTML still present, MathJax typeset wherever the page has math, and no error output (a traceback or error
output cell, "Traceback" text); stderr output cells (warnings) are reported, not failed. Two pages are
saved as screenshots in ``_build/screenshots/``. Chromium runs with a fresh profile and no network services;
install it with ``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import ROOT, toc_files  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--allow-file-access-from-files"]
# Classes that myst-nb puts on error output cells (stderr output cells get "output stderr": warnings only).
ERROR_MARKERS = ["output traceback", "output error", 'class="traceback', "Traceback (most recent"]


def chromium(binary: str, url: str, extra: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="lgclip-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000", *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def page_title(static_html: str) -> str:
    m = re.search(r"<h1[^>]*>(.*?)</h1>", static_html, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).replace("#", "").strip() if m else ""


def img_sources(doc: str) -> list[str]:
    return re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', doc)


def check_page(binary: str, page: Path) -> tuple[list[str], list[str]]:
    """(problems, warnings) of one built page."""
    static = page.read_text(errors="replace")
    proc = chromium(binary, page.as_uri(), ["--dump-dom"])
    dom = proc.stdout
    problems = []
    if proc.returncode != 0 or "<html" not in dom:
        return [f"chromium exited {proc.returncode}: {proc.stderr.strip()[-300:]}"], []
    title = page_title(static)
    if not title:
        problems.append("no <h1> title in the page")
    elif html.escape(title, quote=False) not in dom and title not in html.unescape(dom):
        problems.append(f"title {title!r} missing from the rendered DOM")
    body = dom.split('<article class="bd-article"', 1)[-1]
    missing = [s for s in img_sources(static.split('<article class="bd-article"', 1)[-1]) if s not in body]
    if missing:
        problems.append(f"{len(missing)} image(s) missing after rendering: {missing[:3]}")
    for src in img_sources(body):
        if not src.startswith("data:") and not (page.parent / src.split("?")[0]).exists():
            problems.append(f"image file not found: {src}")
    for marker in ERROR_MARKERS:
        if marker in body:
            problems.append(f"error output in the page ({marker!r})")
    if "mathjax" in static.lower() and ('class="math' in static) and "<mjx-container" not in dom:
        problems.append("the page has math but MathJax did not typeset it")
    n_stderr = body.count("output stderr")
    return problems, [f"{n_stderr} stderr output cell(s) (warnings printed by the code)"] if n_stderr else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    ap.add_argument("--shots", nargs="+", metavar="PAGE",
                    help="pages to screenshot, e.g. notebooks/00_overview (default: first and last chapter)")
    args = ap.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"browser_check: {args.chromium} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    pages = toc_files(ROOT / "_toc.yml")
    failed = 0
    t0 = time.perf_counter()
    for name in pages:
        page = args.html / f"{name}.html"
        if not page.exists():
            print(f"  FAIL {name}: {page} was not built")
            failed += 1
            continue
        t = time.perf_counter()
        try:
            problems, warnings = check_page(args.chromium, page)
        except subprocess.TimeoutExpired:
            problems, warnings = ["chromium timed out"], []
        failed += bool(problems)
        print(f"  {'ok  ' if not problems else 'FAIL'} {name} ({time.perf_counter() - t:.1f} s)"
              + "".join(f"\n       - {p}" for p in problems)
              + "".join(f"\n       - warning: {w}" for w in warnings), flush=True)

    args.screenshots.mkdir(parents=True, exist_ok=True)
    notebooks = [p for p in pages if p.startswith("notebooks/")]
    default = [notebooks[0], notebooks[-1]] if len(notebooks) >= 2 else notebooks[:1] + [pages[0]]
    shots = list(dict.fromkeys(args.shots or default))
    for name in shots:
        out = args.screenshots / f"{name.replace('/', '__')}.png"
        proc = chromium(args.chromium, (args.html / f"{name}.html").as_uri(),
                        [f"--screenshot={out}", "--window-size=1280,2000"])
        if proc.returncode != 0 or not out.exists():
            print(f"  FAIL screenshot of {name}: {proc.stderr.strip()[-300:]}")
            failed += 1
        else:
            print(f"  screenshot {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    print(f"browser check: {len(pages)} page(s), {failed} problem(s), {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
