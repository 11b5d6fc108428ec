"""pyproject's dependencies and extras name exactly what requirements.txt (the pinned setup) installs, so
``pip install "lgclip_core[book]"`` gets what the checkout's setup gets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\s\[#]", s.strip(), maxsplit=1)[0].lower().replace("_", "-") for s in specs if s.strip()}


def test_pyproject_and_requirements_name_the_same_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras) == {"book", "course", "test"}
    declared = _names(project["dependencies"]) | {n for v in extras.values() for n in _names(v)}
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    required = _names(lines) | {"torch", "torchvision"}  # setup.sh pins these two on its own line
    assert declared == required, f"pyproject only: {declared - required}; requirements only: {required - declared}"


def test_the_base_install_leaves_out_the_book_course_and_test_tools() -> None:
    base = _names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert not base & {"jupyter-book", "papermill", "nbgrader", "pytest", "sentence-transformers"}
    assert {"seaborn", "matplotlib"} <= base  # `lgclip reproduce` draws a run's figures
