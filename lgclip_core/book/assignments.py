"""Course assignments, graded with nbgrader: a thin front door for a class-sized batch.

``assignments/`` is an nbgrader course directory. ``source/<NN_name>/<NN_name>.ipynb`` (paired with its jupytext
``.py``) holds the solutions between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, graded test cells with their
points and ``### BEGIN HIDDEN TESTS`` blocks; ``nbgrader generate_assignment`` writes the student versions to
``release/``. nbgrader itself releases, autogrades (per-cell timeout, a failing cell never stops the batch), keeps
the gradebook database and writes the HTML feedback. This module adds what a class needs around it:

    lgclip assignments release                               # = nbgrader generate_assignment, every assignment
    lgclip assignments grade SUBMISSIONS --course DIR        # folder of students -> gradebook.csv + feedback

``grade`` takes one subfolder per student (``SUBMISSIONS/<student>/<NN_name>.ipynb``) or, for one assignment,
one file per student (``SUBMISSIONS/<student>.ipynb``), stages them into ``DIR/submitted/`` (an unreadable notebook
is recorded, not staged), runs ``nbgrader autograde`` and ``generate_feedback``, exports points per question and
student with :class:`QuestionCsvExport` (an nbgrader export plugin), and writes ``DIR/feedback/<student>/
summary.txt``: one line per question and one line per error, timeout or unreadable file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..checkout import checkout, checkout_candidates
from ..errors import BadInputError

__all__ = ["course_dir", "assignment_ids", "release", "stage_submissions", "grade",
           "add_arguments", "run"]

PROFILE_ENV = "LGCLIP_ASSIGNMENT_PROFILE"  # the notebooks' demo cells read it; grading uses the tiny models


def course_dir() -> Path:
    """The checkout's nbgrader course directory ``assignments/`` (sources with solutions, release): the sources
    ship with the repository, not the package, so a wheel install names its clone in ``$LGCLIP_CHECKOUT``."""
    return checkout() / "assignments"


def assignment_ids(course: str | os.PathLike | None = None) -> list[str]:
    """The assignments of a course: folders ``source/<id>/`` that hold ``<id>.ipynb``, sorted."""
    src = Path(course or course_dir()) / "source"
    return sorted(p.name for p in src.glob("*") if (p / f"{p.name}.ipynb").is_file())


def _env(timeout: int | None = None) -> dict[str, str]:
    # nbgrader runs `alembic` for its database and the kernel `python3` from the venv: both from this python's bin
    env = {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault(PROFILE_ENV, "tiny")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, not a headless one that swallows figures
    return env


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one ``nbgrader`` command in a course directory (its output is passed through)."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=_env(), text=True,
                          capture_output=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    if check and proc.returncode:
        raise BadInputError(f"`nbgrader {' '.join(args)}` failed in {course} (exit {proc.returncode}); its log is "
                            "above: fix the course directory or rerun with --force")
    return proc


def release(course: str | os.PathLike | None = None, assignments: list[str] | None = None) -> list[Path]:
    """Write the student versions ``release/<id>/<id>.ipynb`` (and fill the gradebook with the source cells)."""
    course = Path(course or course_dir())
    ids = assignments or assignment_ids(course)
    if not ids:
        raise BadInputError(f"no assignment in {course}/source: each needs source/<id>/<id>.ipynb")
    for pattern in _patterns(course, ids):
        nbgrader(course, "generate_assignment", pattern, "--force")
    return [course / "release" / a / f"{a}.ipynb" for a in ids]


def _patterns(course: Path, ids: list[str]) -> list[str]:
    """nbgrader assignment arguments for ``ids``: one glob for all of them (one process, not one per assignment)."""
    return ["*"] if sorted(ids) == assignment_ids(course) else list(ids)


def _new_course(course: Path) -> None:
    """A course directory for grading: the repository's config and sources, released once (fills the database)."""
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "source").exists():
        shutil.copytree(course_dir() / "source", course / "source")
    if not (course / "nbgrader_config.py").exists():
        shutil.copy(course_dir() / "nbgrader_config.py", course / "nbgrader_config.py")
    if not (course / "gradebook.db").exists():
        release(course)


# ------------------------------------------------------------------------------------------------- intake
@dataclass
class Intake:
    """What was staged: students, and the (student, assignment) pairs with a problem instead of a notebook."""

    students: list[str] = field(default_factory=list)
    staged: dict[str, list[str]] = field(default_factory=dict)  # assignment -> students
    problems: dict[tuple[str, str], str] = field(default_factory=dict)


def _check_notebook(path: Path) -> str | None:
    import nbformat

    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as exc:  # any reason a notebook cannot be graded: say it in the student's feedback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{path.name} could not be read as a Jupyter notebook ({type(exc).__name__}: {first[:160]})"
    return None


def stage_submissions(submissions: str | os.PathLike, course: Path, assignments: list[str]) -> Intake:
    """Copy ``SUBMISSIONS/<student>/<id>.ipynb`` (or ``SUBMISSIONS/<student>.ipynb`` for one assignment) into
    ``course/submitted/<student>/<id>/<id>.ipynb``; unreadable notebooks are recorded, not copied."""
    root = Path(submissions)
    if not root.is_dir():
        raise BadInputError(f"{root} is not a folder: pass the folder with one subfolder or .ipynb per student")
    intake = Intake(staged={a: [] for a in assignments})
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            student, files = entry.name, {a: entry / f"{a}.ipynb" for a in assignments}
        elif entry.suffix == ".ipynb":
            if len(assignments) != 1:
                raise BadInputError(f"{entry.name}: one file per student needs one assignment: add "
                                    "--assignment <id> (or use one subfolder per student)")
            student, files = entry.stem, {assignments[0]: entry}
        else:
            continue
        intake.students.append(student)
        for a, path in files.items():
            if not path.exists():
                continue
            dest = course / "submitted" / student / a / f"{a}.ipynb"
            if dest.parent.exists():
                shutil.rmtree(dest.parent)
            problem = _check_notebook(path)
            if problem:
                intake.problems[(student, a)] = problem
                continue
            dest.parent.mkdir(parents=True)
            shutil.copy(path, dest)
            intake.staged[a].append(student)
    if not intake.students:
        raise BadInputError(f"no student in {root}: expected <student>/<id>.ipynb or <student>.ipynb")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in intake.students:
            gb.update_or_create_student(student)
    return intake


# ------------------------------------------------------------------------------------------------ export
def _gradebook_rows(gb, assignments: list[str], students: list[str]) -> tuple[list[str], list[list]]:
    """Header and rows (max points first, then one per student): points per question, per assignment, total."""
    from nbgrader.api import MissingEntry

    questions = {a: [c for nb in gb.find_assignment(a).notebooks for c in nb.grade_cells] for a in assignments}
    header, maxima = ["student_id"], ["max_points"]
    for a, cells in questions.items():
        header += [f"{a}:{c.name}" for c in cells] + [f"{a}:total"]
        maxima += [float(c.max_score) for c in cells] + [float(sum(c.max_score for c in cells))]
    header.append("total")
    maxima.append(float(sum(m for h, m in zip(header[1:], maxima[1:], strict=False) if h.endswith(":total"))))
    rows = [maxima]
    for student in students:
        row: list = [student]
        total = 0.0
        for a, cells in questions.items():
            subtotal = 0.0
            for c in cells:
                try:
                    score = float(gb.find_grade(c.name, c.notebook.name, a, student).score)
                except MissingEntry:  # not submitted, unreadable, or not graded: zero
                    score = 0.0
                row.append(score)
                subtotal += score
            row.append(subtotal)
            total += subtotal
        rows.append([*row, total])
    return header, rows


def _nbgrader_export_plugin():
    from nbgrader.plugins import ExportPlugin

    class _QuestionCsvExport(ExportPlugin):
        """nbgrader export plugin: one row per student, one column per graded cell (question), totals.

        ``nbgrader export --exporter lgclip_core.book.assignments.QuestionCsvExport --to gradebook.csv``
        """

        def export(self, gradebook) -> None:
            assignments = [str(a) for a in self.assignment] or sorted(a.name for a in gradebook.assignments)
            students = [str(s) for s in self.student] or sorted(s.id for s in gradebook.students)
            header, rows = _gradebook_rows(gradebook, assignments, students)
            dest = self.to or "gradebook.csv"
            with open(dest, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows([[r[0]] + [f"{v:g}" for v in r[1:]] for r in rows])
            self.log.info("Wrote points per question for %d students to %s", len(students), dest)

    _QuestionCsvExport.__name__ = _QuestionCsvExport.__qualname__ = "QuestionCsvExport"
    _QuestionCsvExport.__module__ = __name__
    return _QuestionCsvExport


def __getattr__(name: str):  # QuestionCsvExport imports nbgrader only when asked for (lgclip's CLI stays fast)
    if name == "QuestionCsvExport":
        cls = _nbgrader_export_plugin()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------- feedback
def _first_line(output) -> str:
    evalue = str(output.get("evalue", "")).strip().splitlines()
    return f"{output.get('ename', 'Error')}: {evalue[0][:200]}" if evalue else str(output.get("ename", "Error"))


def _explain(output, timeout: int) -> str:
    if output.get("ename") == "CellTimeoutError":
        return f"CellTimeoutError: the cell ran longer than {timeout} s and was interrupted"
    if output.get("ename") == "NotImplementedError" and not str(output.get("evalue", "")).strip():
        return "NotImplementedError: not written yet (the `raise NotImplementedError()` stub is still there)"
    return _first_line(output)


def notebook_summary(path: Path, timeout: int) -> tuple[list[str], dict[str, str]]:
    """(lines about errors in ungraded cells, {graded cell: its first error line}) of an autograded notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    notes, failures = [], {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        meta = cell.metadata.get("nbgrader", {})
        # a timeout shows as KeyboardInterrupt followed by CellTimeoutError: report the timeout
        err = next((o for o in errors if o.get("ename") == "CellTimeoutError"), errors[0])
        if meta.get("grade"):
            failures[meta.get("grade_id", f"cell {i}")] = _explain(err, timeout)
        elif meta.get("solution"):
            notes.append(f"  your code (cell {i}, {meta.get('grade_id')}): {_explain(err, timeout)}")
    return notes, failures


def write_summaries(course: Path, assignments: list[str], intake: Intake, header: list[str], rows: list[list],
                    timeout: int) -> list[Path]:
    """``feedback/<student>/summary.txt``: points per question, and one line for each thing that failed."""
    maxima = dict(zip(header[1:], rows[0][1:], strict=True))
    written = []
    for row in rows[1:]:
        student, points = row[0], dict(zip(header[1:], row[1:], strict=True))
        lines = [f"Feedback for {student}: {points['total']:g} / {maxima['total']:g} points", ""]
        for a in assignments:
            lines.append(f"{a}: {points[f'{a}:total']:g} / {maxima[f'{a}:total']:g}")
            nb = course / "autograded" / student / a / f"{a}.ipynb"
            notes: list[str] = []
            failures: dict[str, str] = {}
            if (student, a) in intake.problems:
                notes = [f"  not graded: {intake.problems[(student, a)]}; every question scores 0"]
            elif student not in intake.staged.get(a, []):
                notes = ["  not submitted: every question scores 0"]
            elif not nb.exists():
                notes = ["  not graded: nbgrader could not execute the notebook (see the grading log); every "
                         "question scores 0"]
            else:
                notes, failures = notebook_summary(nb, timeout)
            lines += notes
            for key in header[1:]:
                if key.startswith(f"{a}:") and not key.endswith(":total"):
                    q = key.split(":", 1)[1]
                    why = f"  <- {failures[q]}" if q in failures else ""
                    lines.append(f"  {q}: {points[key]:g} / {maxima[key]:g}{why}")
            html = course / "feedback" / student / a / f"{a}.html"
            if html.exists():
                lines.append(f"  details: {html.relative_to(course / 'feedback' / student)}")
            lines.append("")
        out = course / "feedback" / student / "summary.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines))
        written.append(out)
    return written


# ------------------------------------------------------------------------------------------------- grade
def grade(submissions: str | os.PathLike, course: str | os.PathLike, assignments: list[str] | None = None,
          timeout: int = 120) -> Path:
    """Grade a class: stage, ``nbgrader autograde``, ``generate_feedback``, export; returns the gradebook CSV."""
    course = Path(course).resolve()
    if any(course == (root / "assignments").resolve() for root in checkout_candidates()):
        raise BadInputError("--course must not be the repository's assignments/ folder: student work would land "
                            "next to the solutions; pass a new folder, e.g. --course ~/lgclip-course")
    _new_course(course)
    ids = assignments or assignment_ids(course)
    unknown = sorted(set(ids) - set(assignment_ids(course)))
    if unknown:
        raise BadInputError(f"unknown assignment(s) {unknown}: choose from {assignment_ids(course)}")
    intake = stage_submissions(submissions, course, ids)
    for pattern in _patterns(course, [a for a in ids if intake.staged[a]]) if any(intake.staged.values()) else []:
        # a cell that raises or exceeds the timeout scores zero; nbgrader goes on with the next cell and student
        nbgrader(course, "autograde", pattern, "--force", f"--Execute.timeout={timeout}", check=False)
        nbgrader(course, "generate_feedback", pattern, "--force", check=False)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        header, rows = _gradebook_rows(gb, ids, intake.students)
    out = course / "gradebook.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([[r[0]] + [f"{v:g}" for v in r[1:]] for r in rows])
    write_summaries(course, ids, intake, header, rows, timeout)
    (course / "intake.json").write_text(json.dumps(
        {"students": intake.students, "staged": intake.staged,
         "problems": {f"{s}/{a}": p for (s, a), p in intake.problems.items()}}, indent=1))
    return out


# --------------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("release", help="write the student versions (nbgrader generate_assignment)")
    r.add_argument("--course", default=None, help="nbgrader course directory (default: the repository's assignments/)")
    r.add_argument("--assignment", action="append", default=None, help="only this assignment (repeatable)")
    g = sub.add_parser("grade", help="grade a folder of student submissions: gradebook.csv + feedback per student")
    g.add_argument("submissions", help="folder with <student>/<id>.ipynb (or <student>.ipynb with one --assignment)")
    g.add_argument("--course", required=True, help="course directory for the grading state (created if missing)")
    g.add_argument("--assignment", action="append", default=None, help="only this assignment (repeatable)")
    g.add_argument("--timeout", type=int, default=120, help="seconds a cell may run before it is interrupted")


def run(args: argparse.Namespace) -> int:
    if args.action == "release":
        for path in release(args.course, args.assignment):
            print(f"released {path}")
        return 0
    out = grade(args.submissions, args.course, args.assignment, args.timeout)
    print(out.read_text())
    print(f"gradebook: {out}\nfeedback: {Path(args.course) / 'feedback'}/<student>/summary.txt (+ HTML per notebook)"
          f"\ndatabase: {Path(args.course) / 'gradebook.db'} (nbgrader)")
    return 0
