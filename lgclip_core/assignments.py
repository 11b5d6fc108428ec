"""Course assignments: write student versions of the assignment notebooks, and load a notebook for grading.

The assignments are jupytext notebooks ``assignments/<NN>_<name>.py`` (paired with ``.ipynb``). Cells tagged
``solution`` hold the reference implementation; cells tagged ``skip-grader`` (demos, plots, self-checks that
call the functions) are run in the book but not by the autograder.

    lgclip assignments strip --out DIR     # student versions: every solution cell becomes a stub cell
    lgclip assignments grade --dir DIR     # run the autograder (pytest assignments/tests) on DIR's notebooks

A stub keeps each function's ``def`` line (decorators, signature, type hints) and docstring and replaces the
body with ``raise NotImplementedError("your code here")``; a class keeps its header, docstring and class-level
assignments, with every method stubbed. Imports in a solution cell are kept; any other top-level statement
is dropped. The stub cell is tagged ``exercise`` instead of ``solution``.

The autograder (``assignments/tests``) calls ``load_assignment(stem)``: it reads ``$ASSIGNMENT_DIR/<stem>.ipynb``
(what students edit in Jupyter or Colab), else ``<stem>.py``, and executes its code cells, except those tagged
``skip-grader``, into a fresh module whose functions the tests then check. ``ASSIGNMENT_DIR`` defaults to the
solution folder ``assignments/`` of the checkout.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from .errors import BadInputError

__all__ = ["SOLUTION_TAG", "SKIP_TAG", "EXERCISE_TAG", "STUB_MESSAGE", "solution_dir", "assignment_sources",
           "stub_source", "strip_notebook", "strip_assignments", "load_assignment", "add_arguments", "run"]

SOLUTION_TAG, SKIP_TAG, EXERCISE_TAG = "solution", "skip-grader", "exercise"
STUB_MESSAGE = "your code here"
STUB_HEADER = "# Your code here: implement the functions below (keep their names and signatures; the autograder\n" \
              "# imports them). Delete each `raise NotImplementedError` line once the function is written.\n"


def solution_dir() -> Path:
    """The checkout's ``assignments/`` folder (the solutions)."""
    return Path(__file__).resolve().parent.parent / "assignments"


def assignment_sources(directory: str | os.PathLike | None = None) -> list[Path]:
    """The assignment notebooks ``NN_name.py`` of a folder (jupytext percent files), sorted."""
    d = Path(directory) if directory else solution_dir()
    return sorted(p for p in d.glob("[0-9][0-9]_*.py") if p.read_text().lstrip().startswith("# ---"))


# ------------------------------------------------------------------------------------------------ stubs
def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _raise_line(indent: int) -> str:
    return " " * indent + f'raise NotImplementedError("{STUB_MESSAGE}")'


def _has_docstring(node: ast.AST) -> bool:
    body = getattr(node, "body", [])
    return bool(body) and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                          ast.Constant) \
        and isinstance(body[0].value.value, str)


def _start(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([d.lineno for d in decorators] + [node.lineno])  # type: ignore[attr-defined]


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> list[str]:
    body0 = node.body[0]
    if body0.lineno == node.lineno:  # one-line def: rebuild it with ast instead of slicing lines
        stub = copy.deepcopy(node)
        stub.body = [ast.parse(_raise_line(0)).body[0]]
        indent = " " * node.col_offset
        return [indent + line for line in ast.unparse(stub).splitlines()]
    if _has_docstring(node):
        keep = lines[_start(node) - 1:body0.end_lineno]  # type: ignore[operator]
    else:
        keep = lines[_start(node) - 1:body0.lineno - 1]
        while keep and not keep[-1].strip():  # blank lines before the body: keep none
            keep.pop()
    return [*keep, _raise_line(body0.col_offset)]


def _stub_class(node: ast.ClassDef, lines: list[str]) -> list[str]:
    body0 = node.body[0]
    if body0.lineno == node.lineno:
        raise BadInputError(f"class {node.name}: write its body on the lines after the class statement")
    out = lines[_start(node) - 1:body0.lineno - 1]
    while out and not out[-1].strip():
        out.pop()
    kept = 0
    for i, item in enumerate(node.body):
        if i == 0 and _has_docstring(node):
            out += lines[item.lineno - 1:item.end_lineno]
        elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            out += ["", *_stub_function(item, lines)]
            kept += 1
        elif isinstance(item, ast.Assign | ast.AnnAssign):
            out += lines[item.lineno - 1:item.end_lineno]
            kept += 1
    if not kept and not _has_docstring(node):
        out.append(" " * body0.col_offset + "pass")
    return out


def stub_source(source: str) -> str:
    """The student version of a solution cell's source (see the module docstring)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise BadInputError(f"a solution cell does not parse: {exc}") from exc
    lines = source.splitlines()
    imports: list[str] = []
    blocks: list[list[str]] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports += lines[node.lineno - 1:node.end_lineno]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            blocks.append(_stub_function(node, lines))
        elif isinstance(node, ast.ClassDef):
            blocks.append(_stub_class(node, lines))
    if not blocks:
        raise BadInputError("a cell tagged 'solution' defines no function or class: there is nothing to stub")
    head = STUB_HEADER.rstrip("\n") + ("\n" + "\n".join(imports) if imports else "")
    text = "\n\n\n".join([head, *("\n".join(b) for b in blocks)])
    ast.parse(text)  # the stub must itself be valid Python
    return text


def strip_notebook(nb: Any) -> Any:
    """A copy of a notebook with every ``solution`` cell replaced by its stub and all outputs cleared."""
    out = copy.deepcopy(nb)
    n = 0
    for cell in out.cells:
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        tags = _tags(cell)
        if SOLUTION_TAG in tags:
            if cell.cell_type != "code":
                raise BadInputError("only code cells can be tagged 'solution'")
            cell.source = stub_source(cell.source)
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG] + [EXERCISE_TAG]
            n += 1
    if n == 0:
        raise BadInputError("the notebook has no cell tagged 'solution'")
    return out


def strip_assignments(out_dir: str | os.PathLike, source_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write ``<stem>.py`` and ``<stem>.ipynb`` student versions of every assignment into ``out_dir``."""
    import jupytext

    sources = assignment_sources(source_dir)
    if not sources:
        raise BadInputError(f"no assignment notebooks NN_name.py in {source_dir or solution_dir()}")
    out = Path(out_dir)
    if out.resolve() == (Path(source_dir) if source_dir else solution_dir()).resolve():
        raise BadInputError("--out must not be the solution folder: the solutions would be overwritten")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        student = strip_notebook(jupytext.read(src))
        for fmt, suffix in (("py:percent", ".py"), ("ipynb", ".ipynb")):
            path = out / f"{src.stem}{suffix}"
            jupytext.write(student, path, fmt=fmt)
            written.append(path)
    return written


# ----------------------------------------------------------------------------------------------- grading
def _notebook_path(stem: str, directory: str | os.PathLike | None) -> Path:
    d = Path(directory or os.environ.get("ASSIGNMENT_DIR") or solution_dir())
    for suffix in (".ipynb", ".py"):
        if (d / f"{stem}{suffix}").exists():
            return d / f"{stem}{suffix}"
    raise BadInputError(f"no {stem}.ipynb or {stem}.py in {d} (set ASSIGNMENT_DIR to the folder of the "
                        "notebooks to grade)")


def load_assignment(stem: str, directory: str | os.PathLike | None = None) -> types.ModuleType:
    """Execute a notebook's code cells, except those tagged ``skip-grader``, into a new module."""
    import jupytext

    path = _notebook_path(stem, directory)
    nb = jupytext.read(path)
    module = types.ModuleType(f"assignment_{stem.replace('-', '_')}")
    module.__file__ = str(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or SKIP_TAG in _tags(cell):
            continue
        # IPython magics and shell escapes are notebook-only; the grader runs plain Python
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        exec(compile(source, f"{path.name} (cell {i})", "exec"), module.__dict__)
    return module


# --------------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("strip", help="write the student versions (solution cells -> stubs)")
    s.add_argument("--out", required=True, help="output folder for <stem>.py and <stem>.ipynb")
    s.add_argument("--source", default=None, help="folder of the solution notebooks (default: assignments/)")
    g = sub.add_parser("grade", help="run the autograder on a folder of notebooks")
    g.add_argument("--dir", required=True, help="folder with the notebooks to grade (<stem>.ipynb or .py)")
    g.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (e.g. -k 01)")


def run(args: argparse.Namespace) -> int:
    if args.action == "strip":
        written = strip_assignments(args.out, args.source)
        for path in written:
            print(f"wrote {path}")
        print(f"{len(written) // 2} assignment(s) stripped into {args.out}")
        return 0
    tests = solution_dir() / "tests"
    env = {**os.environ, "ASSIGNMENT_DIR": str(Path(args.dir).resolve())}
    return subprocess.call([sys.executable, "-m", "pytest", str(tests), "-q", *args.pytest_args], env=env,
                           cwd=str(solution_dir().parent))
