"""The course assignments: stubs keep the interface, and the autograder passes on the solutions and fails on the
student versions (run in a subprocess, as an instructor would)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jupytext
import nbformat
import pytest

from lgclip_core import assignments as A
from lgclip_core.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "assignments"


def run_grader(assignment_dir: Path | None, junit: Path, *select: str) -> tuple[int, dict[str, int]]:
    env = dict(os.environ)
    env.pop("ASSIGNMENT_DIR", None)
    if assignment_dir is not None:
        env["ASSIGNMENT_DIR"] = str(assignment_dir)
    tests = [str(SOLUTIONS / "tests" / s) for s in select] or [str(SOLUTIONS / "tests")]
    proc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return proc.returncode, counts


def function_signatures(source: str) -> dict[str, list[str]]:
    """name (Class.method for methods) -> argument names, for every def in the source."""
    out: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        items = [(node.name, node)] if isinstance(node, ast.FunctionDef) else (
            [(f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, ast.FunctionDef)]
            if isinstance(node, ast.ClassDef) else [])
        for name, fn in items:
            out[name] = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    return out


def test_there_are_at_least_three_assignments():
    sources = A.assignment_sources()
    assert len(sources) >= 3
    for src in sources:
        nb = jupytext.read(src)
        assert any("solution" in c.metadata.get("tags", []) for c in nb.cells), src.name


def test_stub_source_keeps_signatures_and_docstrings():
    source = '''import numpy as np
CONSTANT = 3


@staticmethod
def f(x: int,
      y: float = 2.0) -> float:
    """Add.

    More text."""
    z = x + y
    return z


def g(a): return a


class C:
    """A class."""
    size = 4

    def m(self, q):
        # no docstring
        return q * 2
'''
    stub = A.stub_source(source)
    tree = ast.parse(stub)
    assert "import numpy as np" in stub and "CONSTANT" not in stub and "z = x + y" not in stub
    assert "return" not in stub and "size = 4" in stub and "@staticmethod" in stub
    assert function_signatures(stub) == function_signatures(source)
    fns = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert ast.get_docstring(fns["f"]) == "Add.\n\nMore text."
    assert ast.get_docstring(next(n for n in tree.body if isinstance(n, ast.ClassDef))) == "A class."
    for fn in fns.values():
        last = fn.body[-1]
        assert isinstance(last, ast.Raise) and ast.unparse(last) == "raise NotImplementedError('your code here')"
    namespace: dict = {}
    exec(compile(stub, "stub", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="your code here"):
        namespace["f"](1)
    with pytest.raises(NotImplementedError):
        namespace["C"]().m(1)


def test_stub_source_rejects_a_cell_without_definitions():
    with pytest.raises(A.BadInputError):
        A.stub_source("x = 1\nprint(x)\n")


def test_strip_command_writes_student_versions(tmp_path):
    out = tmp_path / "student"
    assert cli_main(["assignments", "strip", "--out", str(out)]) == 0
    for src in A.assignment_sources():
        solution = jupytext.read(src)
        for suffix in (".py", ".ipynb"):
            student = jupytext.read(out / f"{src.stem}{suffix}")
            assert len(student.cells) == len(solution.cells)
            for s_cell, c_cell in zip(solution.cells, student.cells, strict=True):
                s_tags, c_tags = s_cell.metadata.get("tags", []), c_cell.metadata.get("tags", [])
                if "solution" in s_tags:
                    assert "solution" not in c_tags and "exercise" in c_tags
                    assert 'raise NotImplementedError("your code here")' in c_cell.source
                    assert function_signatures(c_cell.source) == function_signatures(s_cell.source)
                else:
                    assert c_cell.source == s_cell.source
        raw = nbformat.read(out / f"{src.stem}.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in raw.cells if c.cell_type == "code")


def test_strip_refuses_to_overwrite_the_solutions():
    with pytest.raises(A.BadInputError):
        A.strip_assignments(SOLUTIONS)


def test_loader_skips_skip_grader_cells_and_prefers_ipynb(tmp_path):
    nb = jupytext.reads('# %%\nVALUE = 1\n\n# %% tags=["skip-grader"]\nraise RuntimeError("demo only")\n\n'
                        '# %%\n%matplotlib inline\nDOUBLE = 2 * VALUE\n', fmt="py:percent")
    jupytext.write(nb, tmp_path / "09_demo.py", fmt="py:percent")
    module = A.load_assignment("09_demo", tmp_path)
    assert module.DOUBLE == 2
    nb.cells[0].source = "VALUE = 5"
    jupytext.write(nb, tmp_path / "09_demo.ipynb", fmt="ipynb")
    assert A.load_assignment("09_demo", tmp_path).DOUBLE == 10
    with pytest.raises(A.BadInputError, match="ASSIGNMENT_DIR"):
        A.load_assignment("10_missing", tmp_path)


@pytest.mark.slow
def test_autograder_passes_on_the_solutions(tmp_path):
    rc, counts = run_grader(None, tmp_path / "junit.xml")
    assert rc == 0, counts
    assert counts["tests"] >= 20 and counts["failures"] == counts["errors"] == 0


@pytest.mark.slow
def test_autograder_fails_on_the_student_versions(tmp_path):
    student = tmp_path / "student"
    A.strip_assignments(student)
    rc, counts = run_grader(student, tmp_path / "junit.xml")
    assert rc != 0
    assert counts["tests"] >= 20
    assert counts["failures"] + counts["errors"] == counts["tests"], f"a test passed on a stub: {counts}"


@pytest.mark.slow
def test_autograder_catches_a_wrong_implementation(tmp_path):
    """Uniform fusion weights (a plausible student mistake) must fail assignment 1's grader."""
    src = (SOLUTIONS / "01_multiscale_fusion.py").read_text()
    wrong = src.replace("    return s / s.sum()\n", "    return np.full(n_scales, 1.0 / n_scales)\n", 1)
    assert wrong != src
    (tmp_path / "01_multiscale_fusion.py").write_text(wrong)
    rc, counts = run_grader(tmp_path, tmp_path / "junit.xml", "test_assignment_01.py")
    assert rc != 0 and 0 < counts["failures"] < counts["tests"], counts
