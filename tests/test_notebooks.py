"""Notebook hygiene: every chapter and assignment is a jupytext pair (.py source + output-free .ipynb for Colab)
whose two halves agree, has a `parameters` cell, and every chapter is in the book's table of contents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks",)  # assignments/ are nbgrader sources, tested in test_assignments.py


def notebook_sources() -> list[Path]:
    """Jupytext percent sources: .py files in the notebook folders that start with a jupytext header."""
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.py")
                  if p.read_text().lstrip().startswith("# ---") and "jupytext" in p.read_text()[:400])


def committed_ipynbs() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def cell_summary(nb: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source, tuple(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


def run_notebooks() -> Any:
    """ci/run_notebooks.py (a script, not a package module), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "ci" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_entries() -> set[str]:
    """The book's pages as the CI runner reads _toc.yml (one walk of the table of contents, not two)."""
    return set(run_notebooks().toc_files(ROOT / "_toc.yml"))


def test_there_are_notebooks():
    assert any(p.parent.name == "notebooks" for p in notebook_sources())


@pytest.mark.parametrize("py", notebook_sources(), ids=rel)
def test_source_has_its_paired_ipynb(py):
    assert py.with_suffix(".ipynb").exists(), f"run: .venv/bin/jupytext --to ipynb {rel(py)}"


@pytest.mark.parametrize("ipynb", committed_ipynbs(), ids=rel)
def test_ipynb_matches_its_py_source(ipynb):
    py = ipynb.with_suffix(".py")
    assert py.exists(), f"{rel(ipynb)} has no .py source"
    assert cell_summary(jupytext.read(ipynb)) == cell_summary(jupytext.read(py)), \
        f"{rel(ipynb)} differs from its .py: run `.venv/bin/jupytext --sync {rel(py)}` (or --to ipynb)"


@pytest.mark.parametrize("ipynb", committed_ipynbs(), ids=rel)
def test_ipynb_has_no_outputs(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{rel(ipynb)}: cells {dirty} carry outputs or execution counts; clear them " \
                      f"(jupyter nbconvert --clear-output --inplace {rel(ipynb)})"


@pytest.mark.parametrize("py", notebook_sources(), ids=rel)
def test_notebook_has_a_parameters_cell(py):
    cells = [c for c in jupytext.read(py).cells
             if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{rel(py)} needs exactly one code cell tagged 'parameters', has {len(cells)}"
    compile(cells[0].source, rel(py), "exec")


@pytest.mark.parametrize("py", [p for p in notebook_sources() if p.parent.name == "notebooks"], ids=rel)
def test_chapter_is_in_the_toc(py):
    assert f"notebooks/{py.stem}" in toc_entries(), \
        f"add '      - file: notebooks/{py.stem}' to its part in _toc.yml"


def test_toc_entries_exist():
    for entry in toc_entries():
        assert any((ROOT / f"{entry}{s}").exists() for s in (".md", ".py", ".ipynb")), f"_toc.yml lists {entry}"


def test_staged_notebooks_keep_no_widget_views():
    """A library's progress-bar widget would make the book load require.js from a CDN (offline build fails)."""
    runner = run_notebooks()
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    nb.cells.append(nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "display_data", data={runner.WIDGET_VIEW: {"model_id": "m"}, "text/plain": "Loading 0/2"})]))
    out = runner.without_widgets(nb)
    assert "widgets" not in out.metadata
    assert out.cells[0].outputs[0]["data"] == {"text/plain": "Loading 0/2"}


def test_execution_key_follows_every_input_and_up_to_date_reads_it(tmp_path, monkeypatch):
    """A re-run skips a chapter only when nothing it depends on changed: its source, parameters, the package,
    results, book data, the LGCLIP_* environment and the chapter before it (whose outputs it may read)."""
    runner = run_notebooks()
    root = tmp_path / "repo"
    for item in ("lgclip_core/a.py", "results/r.json", "book/data/d.csv", "notebooks/results/x/o.json"):
        (root / item).parent.mkdir(parents=True, exist_ok=True)
        (root / item).write_text("1")
    py = root / "notebooks" / "01_x.py"
    py.write_text("# %%\nprint(1)\n")
    monkeypatch.setattr(runner, "ROOT", root)
    monkeypatch.delenv("LGCLIP_ENCODER_PRECISION", raising=False)
    key = runner.execution_key(py, {"N": 1})
    assert runner.execution_key(py, {"N": 1}) == key
    changed = {runner.execution_key(py, {"N": 2})}
    for item in ("lgclip_core/a.py", "results/r.json", "book/data/d.csv", "notebooks/01_x.py"):
        before = (root / item).read_text()
        (root / item).write_text(before + "2")
        changed.add(runner.execution_key(py, {"N": 1}))
        (root / item).write_text(before)
    monkeypatch.setenv("LGCLIP_ENCODER_PRECISION", "fp32")
    changed.add(runner.execution_key(py, {"N": 1}))
    monkeypatch.delenv("LGCLIP_ENCODER_PRECISION")
    changed.add(runner.execution_key(py, {"N": 1}, previous="the chapter before re-executed"))
    assert key not in changed and len(changed) == 7

    staged = tmp_path / "staged.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"lgclip_execution": {"key": key, "seconds": 3.0, "figures": 1,
                                                                  "created": "2026-11-28 07:00 UTC"}})
    nbformat.write(nb, staged)
    assert runner.up_to_date(staged, key)["figures"] == 1
    assert runner.up_to_date(staged, "another key") is None
    assert runner.up_to_date(tmp_path / "missing.ipynb", key) is None
