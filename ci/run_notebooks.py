#!/usr/bin/env python
"""Execute the book's notebooks into the staging tree that jupyter-book builds from.

    python ci/run_notebooks.py              # every notebooks/*.py, CI parameters from ci/params/<stem>.yml
    python ci/run_notebooks.py --full       # every notebook with its own (full-size) defaults
    python ci/run_notebooks.py --only 00_overview 05_lgclip_classification
    python ci/run_notebooks.py --only 00_overview --set N_IMAGES=500 --set PROFILE=paper
    python ci/run_notebooks.py --copy-only  # refresh prose pages, _config.yml, _toc.yml; execute nothing

Sources are the jupytext percent-format files ``notebooks/<stem>.py``; each is converted to ipynb in memory
and run by papermill (cwd = ``notebooks/``) into ``_stage/notebooks/<stem>.ipynb``. ``_stage/`` mirrors the
book: ``_config.yml``, ``_toc.yml``, ``book/`` and non-code files under ``notebooks/`` are copied as they are.
A notebook fails if a cell raises, times out, or leaves an error output; a failed run is kept in
``_build/failed/<stem>.ipynb`` for inspection and never reaches the book. Exit status 1 if any notebook
failed, 2 for a configuration error (e.g. a notebook that _toc.yml does not list).

A staged notebook whose inputs have not changed since it ran is not executed again (``--force`` re-executes):
its key hashes the chapter's source and parameters, the package (``lgclip_core/``), ``results/``, ``book/data/``,
the lock file, the ``LGCLIP_*`` environment and the key of the chapter before it (a chapter may read what an
earlier one wrote, e.g. 06 reads 05's ``notebooks/results/``, so a re-executed chapter re-executes every later
one); it is stored in the staged notebook's metadata. A chapter that measures time shows its last run's numbers.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# Environment of the kernels (a value already set in the environment wins). Progress bars are switched off
# (TQDM_DISABLE: tqdm's default; an explicit tqdm(disable=False) still shows) and tqdm.auto's "IProgress not
# found" warning is filtered: both are noise in a book. Other warnings stay visible.
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1",
              "HF_HUB_DISABLE_PROGRESS_BARS": "1",
              "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore:IProgress not found",
              "JUPYTER_PREFER_ENV_PATH": "1"}  # the venv's python3 kernel, not a user-wide one
# Always set, whatever the caller exported: matplotlib's headless Agg renderer behind the inline backend.
# (MPLBACKEND=Agg itself would make plt.show() in a kernel display nothing, so no figure reached the book.)
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"
PROSE_ITEMS = ["_config.yml", "_toc.yml", "book"]


class ConfigError(Exception):
    pass


# ------------------------------------------------------------------------------------------------ the toc
def toc_files(toc_path: Path) -> list[str]:
    """Every ``file:`` entry of a jupyter-book ``_toc.yml`` (root included), in order."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text())
    out = [toc["root"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                out.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".md", ".ipynb", ".py") else f for f in out]


def check_toc(root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """({stem: problem} for notebooks/*.py that _toc.yml does not list, [pages it lists that do not exist])."""
    listed = toc_files(root / "_toc.yml")
    unlisted = {stem: f"notebooks/{stem}.py is not listed in _toc.yml: add the line "
                      f"'      - file: notebooks/{stem}' to its part"
                for stem in sorted(p.stem for p in (root / "notebooks").glob("*.py"))
                if f"notebooks/{stem}" not in listed}
    missing = [f"_toc.yml lists {entry!r} but neither {entry}.md nor {entry}.py exists" for entry in listed
               if not any((root / f"{entry}{suffix}").exists() for suffix in (".md", ".py", ".ipynb"))]
    return unlisted, missing


# ------------------------------------------------------------------------------------------- notebooks
def read_notebook(path: Path):
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.get("jupytext", {}).pop("formats", None)  # the staged copy is a plain ipynb
    return nb


def parameter_names(nb) -> list[str] | None:
    """Names assigned in the cell tagged ``parameters`` (None when there is no such cell)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            names = []
            for node in ast.parse(cell.source).body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return None


def load_params(stem: str, params_dir: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    if params_dir is not None and (params_dir / f"{stem}.yml").exists():
        params = yaml.safe_load((params_dir / f"{stem}.yml").read_text()) or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{params_dir / f'{stem}.yml'} must be a mapping NAME: value")
    return {**params, **overrides}


def problems_in_outputs(nb) -> tuple[list[str], list[str]]:
    """(errors, warnings) found in an executed notebook's outputs (at most one warning per cell)."""
    errors, warnings = [], []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out.get("text", "")
                if "Traceback (most recent call last)" in text:
                    errors.append(f"cell {i}: traceback printed to stderr")
                elif text.strip() and not any(w.startswith(f"cell {i}:") for w in warnings):
                    warnings.append(f"cell {i}: stderr: {text.strip().splitlines()[0][:100]}")
    return errors, warnings


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def without_widgets(nb):
    """The notebook with its Jupyter-widget outputs reduced to their text (a library's progress bar becomes
    its last text line): widget views make jupyter-book load require.js and the widget manager from a CDN,
    and the book must work offline."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
    return nb


def pairing_warnings(py: Path) -> list[str]:
    """The committed ``<stem>.ipynb`` (Colab's copy) must exist, carry no outputs and match the .py."""
    import jupytext

    ipynb = py.with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{ipynb.relative_to(ROOT)} is missing: run `jupytext --to ipynb {py.relative_to(ROOT)}`"]
    paired = jupytext.read(ipynb)
    warns = []
    if any(c.get("outputs") for c in paired.cells if c.cell_type == "code"):
        warns.append(f"{ipynb.relative_to(ROOT)} has outputs: strip them (jupyter nbconvert --clear-output)")
    if [c.source for c in paired.cells] != [c.source for c in jupytext.read(py).cells]:
        warns.append(f"{ipynb.relative_to(ROOT)} differs from its .py: "
                     f"run `jupytext --sync {py.relative_to(ROOT)}`")
    return warns


# What a chapter's outputs depend on besides its own source and parameters (folders hashed file by file).
KEY_INPUTS = ["lgclip_core", "results", "book/data", "requirements-lock.txt"]


def shared_inputs_digest() -> str:
    """sha256 of what every chapter depends on: the files of ``KEY_INPUTS`` and the ``LGCLIP_*`` environment
    (computed once per run: chapters write under ``notebooks/results/``, never into these)."""
    h = hashlib.sha256(json.dumps(sorted((k, v) for k, v in os.environ.items() if k.startswith("LGCLIP_"))).encode())
    for item in KEY_INPUTS:
        path = ROOT / item
        files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts) \
            if path.is_dir() else [path] if path.exists() else []
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def execution_key(py: Path, params: dict[str, Any], previous: str = "", shared: str | None = None) -> str:
    """sha256 of everything a chapter's outputs depend on: its source and parameters, the shared inputs
    (``shared_inputs_digest()``, computed here when not given) and the previous chapter's key ``previous``."""
    h = hashlib.sha256(previous.encode())
    h.update(py.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update((shared if shared is not None else shared_inputs_digest()).encode())
    return h.hexdigest()


def up_to_date(out_path: Path, key: str) -> dict[str, Any] | None:
    """The staged notebook's record of its last run when it ran with this key, else None."""
    import nbformat

    if not out_path.exists():
        return None
    try:
        record = nbformat.read(out_path, as_version=4).metadata.get("lgclip_execution") or {}
    except Exception:  # an unreadable staged notebook is simply executed again
        return None
    return dict(record) if record.get("key") == key else None


def execute(py: Path, stage: Path, params: dict[str, Any], timeout: int, verbose: bool,
            force: bool = True, previous_key: str = "", shared: str | None = None) -> dict[str, Any]:
    import nbformat
    import papermill as pm

    stem = py.stem
    nb = read_notebook(py)
    names = parameter_names(nb)
    if params and names is None:
        raise ConfigError(f"{stem}: parameters {sorted(params)} given but no cell is tagged 'parameters'")
    unknown = sorted(set(params) - set(names or []))
    if unknown:
        raise ConfigError(f"{stem}: unknown parameter(s) {unknown}; the parameters cell defines {names}")
    failed_dir = ROOT / "_build" / "failed"
    out_path = stage / "notebooks" / f"{stem}.ipynb"
    tmp_path = stage / "notebooks" / f".runs-{os.getpid()}" / f"{stem}.ipynb"
    tmp_path.parent.mkdir(parents=True, exist_ok=True)
    key = execution_key(py, params, previous_key, shared)
    record = None if force else up_to_date(out_path, key)
    if record:
        return {"notebook": stem, "status": "ok", "seconds": 0.0, "parameters": params, "key": key,
                "figures": record.get("figures", 0), "detail": f"(unchanged since its run of {record['created']}, "
                f"{record['seconds']:.0f} s; --force re-executes)", "stderr_outputs": [], "cached": True}
    t0 = time.perf_counter()
    status, detail = "ok", ""
    try:
        pm.execute_notebook(nb, str(tmp_path), parameters=params, kernel_name="python3", language="python",
                            cwd=str(py.parent), execution_timeout=timeout, start_timeout=300,
                            progress_bar=False, log_output=verbose)
    except Exception as exc:  # PapermillExecutionError, timeouts, dead kernels
        status = "FAILED"
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and set(ln.strip()) - set("-=")]
        timed_out = [ln for ln in lines if "timed out" in ln]
        detail = f"{type(exc).__name__}: {(timed_out or lines or [''])[-1][:300]}"
    seconds = time.perf_counter() - t0
    warnings: list[str] = []
    n_figures = 0
    if tmp_path.exists():
        executed = nbformat.read(tmp_path, as_version=4)
        errors, warnings = problems_in_outputs(executed)
        n_figures = sum("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
                        for c in executed.cells for o in c.get("outputs", []))
        if errors and status == "ok":
            status, detail = "FAILED", "error output: " + "; ".join(errors[:3])
    elif status == "ok":
        status, detail = "FAILED", "papermill wrote no output notebook"
    if status == "ok":
        executed = without_widgets(nbformat.read(tmp_path, as_version=4))
        executed.metadata["lgclip_execution"] = {"key": key, "seconds": round(seconds, 1), "figures": n_figures,
                                                 "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        nbformat.write(executed, tmp_path)
        os.replace(tmp_path, out_path)
    else:
        out_path.unlink(missing_ok=True)  # never let the book show outputs of an older version
    if status != "ok" and tmp_path.exists():
        failed_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp_path), failed_dir / f"{stem}.ipynb")
        detail += f"  (executed notebook kept in {(failed_dir / f'{stem}.ipynb').relative_to(ROOT)})"
    return {"notebook": stem, "status": status, "seconds": round(seconds, 1), "parameters": params, "key": key,
            "figures": n_figures, "detail": detail, "stderr_outputs": warnings}


# --------------------------------------------------------------------------------------------- staging
def copy_prose(stage: Path) -> None:
    """Mirror the book's non-executed files into the staging tree (replacing older copies)."""
    stage.mkdir(parents=True, exist_ok=True)
    for item in PROSE_ITEMS:
        src, dst = ROOT / item, stage / item
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)
    # assets next to the notebooks (figures, small data files): everything but the notebooks themselves
    (stage / "notebooks").mkdir(exist_ok=True)
    for src in NOTEBOOKS.rglob("*"):
        rel = src.relative_to(NOTEBOOKS)
        if src.is_file() and src.suffix not in (".py", ".ipynb") and not any(
                p in (".ipynb_checkpoints", "__pycache__") or p.startswith(".") for p in rel.parts):
            (stage / "notebooks" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, stage / "notebooks" / rel)
    # staged notebooks whose source is gone would otherwise linger
    for staged in (stage / "notebooks").glob("*.ipynb"):
        if not (NOTEBOOKS / f"{staged.stem}.py").exists():
            staged.unlink()


def placeholder(py: Path, stage: Path) -> bool:
    """Stage an unexecuted copy of a notebook that has never been run, so that a partial build still works."""
    out = stage / "notebooks" / f"{py.stem}.ipynb"
    if out.exists():
        return False
    import nbformat

    nbformat.write(read_notebook(py), out)
    return True


# ------------------------------------------------------------------------------------------------ main
def known_failures(path: Path = ROOT / "ci" / "known_failures.txt") -> dict[str, str]:
    """Chapters whose failure is tracked as an open problem (``stem  # reason`` per line): they still execute and
    are reported, their page shows no outputs, but they do not fail the run. Keep the list empty."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        stem, _, reason = line.partition("#")
        if stem.strip():
            out[stem.strip()] = reason.strip() or "no reason given"
    return out


def parse_set(items: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--only", nargs="+", metavar="STEM", help="run only these notebooks (stem or path)")
    ap.add_argument("--params-dir", type=Path, default=ROOT / "ci" / "params",
                    help="folder of <stem>.yml parameter files (default: ci/params)")
    ap.add_argument("--full", action="store_true",
                    help="no CI parameters: the notebooks' own full-size defaults")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override one parameter for every selected notebook (YAML value)")
    ap.add_argument("--stage", type=Path, default=ROOT / "_stage", help="staging tree (default: _stage)")
    ap.add_argument("--timeout", type=int, default=int(os.environ.get("LGCLIP_CELL_TIMEOUT", 1800)),
                    help="kernel timeout per cell in seconds (default 1800, env LGCLIP_CELL_TIMEOUT)")
    ap.add_argument("--copy-only", action="store_true", help="stage prose/config only; execute nothing")
    ap.add_argument("--verbose", action="store_true", help="stream cell outputs to the log")
    ap.add_argument("--force", action="store_true",
                    help="execute every selected notebook, even those whose inputs are unchanged since their run")
    args = ap.parse_args(argv)
    stage = args.stage.resolve()

    sources = sorted(NOTEBOOKS.glob("*.py"))
    selected = sources
    if args.only:
        wanted = {Path(s).stem for s in args.only}
        missing = wanted - {p.stem for p in sources}
        if missing:
            print(f"run_notebooks: no notebooks/<stem>.py for {sorted(missing)}; "
                  f"have {[p.stem for p in sources]}", file=sys.stderr)
            return 2
        selected = [p for p in sources if p.stem in wanted]
    # Every notebook must be a page of the book: an unlisted notebook is an error when it would run (always,
    # in a full run); with --only, unlisted notebooks that are not selected only warn.
    unlisted, missing_pages = check_toc()
    problems = missing_pages + [unlisted[p.stem] for p in selected if p.stem in unlisted]
    if args.copy_only:
        problems = missing_pages
    for problem in unlisted.values():
        if problem not in problems:
            print(f"WARNING: {problem}")
    if problems:
        print("run_notebooks: _toc.yml and notebooks/ disagree:", *problems, sep="\n  ", file=sys.stderr)
        return 2

    for k, v in KERNEL_ENV.items():
        os.environ.setdefault(k, v)
    os.environ["MPLBACKEND"] = KERNEL_MPLBACKEND
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    copy_prose(stage)
    for py in sources:
        for w in pairing_warnings(py):
            print(f"WARNING: {w}")
    if args.copy_only:
        for py in sources:
            if placeholder(py, stage):
                print(f"WARNING: notebooks/{py.stem} was never executed; its page will show no outputs")
        print(f"staged prose and config in {stage}")
        return 0

    try:
        overrides = parse_set(args.set)
        params = {py.stem: load_params(py.stem, None if args.full else args.params_dir.resolve(), overrides)
                  for py in selected}
    except ConfigError as exc:
        print(f"run_notebooks: {exc}", file=sys.stderr)
        return 2
    mode = "full-size parameters" if args.full else f"CI parameters from {args.params_dir}"
    print(f"executing {len(selected)} notebook(s) with {mode}; cell timeout {args.timeout} s; stage {stage}",
          flush=True)
    results = []
    previous_key = ""  # chapters run in order; each key includes the one before (see execution_key)
    shared = shared_inputs_digest()
    t_all = time.perf_counter()
    for py in selected:
        print(f"--> {py.stem} {json.dumps(params[py.stem]) if params[py.stem] else '(defaults)'}", flush=True)
        try:
            r = execute(py, stage, params[py.stem], args.timeout, args.verbose, force=args.force,
                        previous_key=previous_key, shared=shared)
        except ConfigError as exc:
            r = {"notebook": py.stem, "status": "FAILED", "seconds": 0.0, "parameters": params[py.stem],
                 "figures": 0, "detail": str(exc), "stderr_outputs": []}
        results.append(r)
        previous_key = r.get("key", "") if r["status"] == "ok" else "failed"
        print(f"    {r['status']} in {r['seconds']:.1f} s {r['detail']}", flush=True)
    for py in sources:
        if placeholder(py, stage):
            print(f"WARNING: notebooks/{py.stem} has no successful run; its page will show no outputs")
    shutil.rmtree(stage / "notebooks" / f".runs-{os.getpid()}", ignore_errors=True)

    total = time.perf_counter() - t_all
    width = max(len(r["notebook"]) for r in results)
    print("\nnotebook summary")
    for r in results:
        note = f", {len(r['stderr_outputs'])} stderr output(s)" if r["stderr_outputs"] else ""
        note += " (unchanged: not re-executed)" if r.get("cached") else ""
        print(f"  {r['notebook']:<{width}}  {r['seconds']:8.1f} s  {r['status']:6s}  "
              f"{r['figures']} figure(s){note}")
        if r["status"] != "ok":
            print(f"  {'':<{width}}  {r['detail']}")
    known = known_failures()
    n_failed = sum(r["status"] != "ok" and r["notebook"] not in known for r in results)
    n_known = sum(r["status"] != "ok" and r["notebook"] in known for r in results)
    for r in results:
        if r["notebook"] in known:
            print(f"  NOTE {r['notebook']} is listed in ci/known_failures.txt ({known[r['notebook']]}): "
                  + ("it failed, which does not fail this run" if r["status"] != "ok"
                     else "it now passes: remove it from the list"))
    print(f"  {'total':<{width}}  {total:8.1f} s  {len(results) - n_failed - n_known} ok, {n_failed} failed, "
          f"{n_known} known failure(s)")
    summary_path = ROOT / "_build" / "run_notebooks.json"
    summary_path.parent.mkdir(exist_ok=True)
    summary_path.write_text(json.dumps({"mode": mode, "total_seconds": round(total, 1), "results": results},
                                       indent=1, default=str))
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
