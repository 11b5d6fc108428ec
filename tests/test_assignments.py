"""The course assignments on nbgrader: the committed student versions are what nbgrader releases from the sources,
they score 0 of the autograded points, the solutions score full points, and a synthetic class (correct, empty,
raising, hanging, unreadable) grades to the expected gradebook with a feedback line for each failure."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from lgclip_core.book import assignments as A
from lgclip_core.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "assignments"
IDS = ["01_multiscale_fusion", "02_prototype_classifier", "03_map_and_loss"]
POINTS = {"01_multiscale_fusion": {"test_fusion_weights": 3, "test_crop_area_fractions": 2, "test_fuse": 5},
          "02_prototype_classifier": {"test_fit": 4, "test_decision_function_and_predict": 4,
                                      "test_labels_and_score": 2},
          "03_map_and_loss": {"test_average_precision": 4, "test_mean_average_precision": 2,
                              "test_ranking_loss": 4, "test_ranking_loss_without_pairs": 2}}
TIMEOUT = 15  # seconds per cell in the synthetic class (graded cells take < 4 s on a busy 2-core machine)


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_bodies(source_nb) -> dict[str, str]:
    """grade_id -> the solution cell's code as a student would write it (nbgrader's markers removed)."""
    return {meta(c)["grade_id"]: "\n".join(line for line in c.source.splitlines()
                                          if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
            for c in source_nb.cells if meta(c).get("solution")}


def submission(assignment: str, edit=None):
    """The released notebook with every solution cell answered (``edit`` may change the answer's code)."""
    nb = nbformat.read(COURSE / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = solution_bodies(nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4))
    for cell in nb.cells:
        if meta(cell).get("solution"):
            cell.source = edit(answers[meta(cell)["grade_id"]]) if edit else answers[meta(cell)["grade_id"]]
    return nb


# ----------------------------------------------------------------------------------------- cheap checks
def test_sources_are_jupytext_pairs_with_points_and_hidden_tests():
    assert A.assignment_ids() == IDS
    for a in IDS:
        md, ipynb = (COURSE / "source" / a / f"{a}{s}" for s in (".md", ".ipynb"))
        summary = [(c.cell_type, c.source, meta(c)) for c in jupytext.read(ipynb).cells]
        assert summary == [(c.cell_type, c.source, meta(c)) for c in jupytext.read(md).cells], \
            f"run: .venv/bin/jupytext --sync {md.relative_to(ROOT)}"
        graded = {meta(c)["grade_id"]: meta(c)["points"] for c in jupytext.read(md).cells if meta(c).get("grade")}
        assert graded == POINTS[a]
        text = md.read_text()
        assert text.count("### BEGIN HIDDEN TESTS") >= 3 and "### BEGIN SOLUTION" in text


def test_release_is_nbgraders_student_version_without_solutions_or_hidden_tests():
    for a in IDS:
        nb = nbformat.read(COURSE / "release" / a / f"{a}.ipynb", as_version=4)
        text = json.dumps(nb)
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "np.tensordot", "np.unique(y)", "torch.relu"):
            assert marker not in text, f"{a}: the student version contains {marker!r}"
        stubs = [c for c in nb.cells if meta(c).get("solution")]
        assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        # every def of the solution survives with its signature and docstring
        source = nbformat.read(COURSE / "source" / a / f"{a}.ipynb", as_version=4)
        defs = re.compile(r'^\s*def .*?:\n\s*""".*?"""', re.M | re.S)
        for sol, stub in zip([c for c in source.cells if meta(c).get("solution")], stubs, strict=True):
            assert defs.findall(sol.source) == defs.findall(stub.source)


def test_book_links_the_student_versions_to_colab():
    text = (ROOT / "book" / "assignments.md").read_text()
    prefix = "https://colab.research.google.com/github/lgclip-book/lgclip-book/blob/main/"
    linked = set(re.findall(re.escape(prefix) + r"([\w/.-]+\.ipynb)", text))
    assert linked == {f"assignments/release/{a}/{a}.ipynb" for a in IDS}
    assert all((ROOT / path).exists() for path in linked)
    assert "assignments/source/" not in "".join(re.findall(r"https?://\S+", text)), "a link shows the solutions"


def test_grade_refuses_the_repository_course(tmp_path):
    with pytest.raises(A.BadInputError, match="--course"):
        A.grade(tmp_path, COURSE)


def test_one_file_per_student_needs_one_assignment(tmp_path):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.ipynb").write_text("{}")
    with pytest.raises(A.BadInputError, match="--assignment"):
        A.stage_submissions(tmp_path / "subs", tmp_path / "course", IDS)
    (tmp_path / "nobody").mkdir()
    with pytest.raises(A.BadInputError, match="no student"):
        A.stage_submissions(tmp_path / "nobody", tmp_path / "course", IDS[:1])


# --------------------------------------------------------------------------- the class (one nbgrader run)
@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Students: correct (all three), empty (the release, all three), raises, timeout, unreadable (assignment 1)."""
    subs = tmp_path_factory.mktemp("submissions")
    a1 = IDS[0]
    for student in ("correct", "empty", "raises", "timeout", "unreadable"):
        (subs / student).mkdir()
    for a in IDS:
        nbformat.write(submission(a), subs / "correct" / f"{a}.ipynb")
        released = nbformat.read(COURSE / "release" / a / f"{a}.ipynb", as_version=4)
        nbformat.write(released, subs / "empty" / f"{a}.ipynb")
    fuse_raises = submission(a1, lambda code: code.replace(
        "    per_scale = np.asarray(per_scale, dtype=np.float64)\n",
        "    per_scale = np.asarray(per_scale, dtype=np.float64)\n    per_scale = per_scale[len(per_scale)]\n"))
    assert "per_scale[len(per_scale)]" in json.dumps(fuse_raises)
    nbformat.write(fuse_raises, subs / "raises" / f"{a1}.ipynb")
    nbformat.write(submission(a1, lambda code: "import time\n\ntime.sleep(3600)  # forgot to remove\n" + code),
                   subs / "timeout" / f"{a1}.ipynb")
    (subs / "unreadable" / f"{a1}.ipynb").write_text('{"cells": [')
    course = tmp_path_factory.mktemp("course")
    t0 = time.time()
    assert cli_main(["assignments", "grade", str(subs), "--course", str(course), "--timeout", str(TIMEOUT)]) == 0
    print(f"graded the class in {time.time() - t0:.0f} s")
    return course


def test_gradebook_of_the_synthetic_class(graded_class):
    with open(graded_class / "gradebook.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    full = {a: sum(p.values()) for a, p in POINTS.items()}
    assert float(rows["max_points"]["total"]) == sum(full.values()) == 32
    expected = {  # student -> {assignment: points per question in POINTS order}
        "correct": {a: list(p.values()) for a, p in POINTS.items()},  # the solutions: full points
        "empty": {a: [0] * len(p) for a, p in POINTS.items()},  # the release: 0 of the autograded points
        "raises": {IDS[0]: [3, 2, 0], IDS[1]: [0, 0, 0], IDS[2]: [0, 0, 0, 0]},  # fuse raises IndexError
        "timeout": {IDS[0]: [0, 0, 0], IDS[1]: [0, 0, 0], IDS[2]: [0, 0, 0, 0]},
        "unreadable": {IDS[0]: [0, 0, 0], IDS[1]: [0, 0, 0], IDS[2]: [0, 0, 0, 0]},
    }
    assert set(rows) == {"max_points", *expected}
    for student, per_assignment in expected.items():
        for a, points in per_assignment.items():
            got = [float(rows[student][f"{a}:{q}"]) for q in POINTS[a]]
            assert got == points, f"{student} {a}: {got} != {points}"
            assert float(rows[student][f"{a}:total"]) == sum(points)
        assert float(rows[student]["total"]) == sum(sum(p) for p in per_assignment.values())


def test_nbgraders_database_holds_the_same_scores(graded_class):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_class / 'gradebook.db'}") as gb:
        assert gb.find_submission(IDS[0], "correct").score == 10
        assert gb.find_submission(IDS[0], "raises").score == 5
        assert gb.find_submission(IDS[2], "empty").score == 0
        assert {s.id for s in gb.students} >= {"correct", "empty", "raises", "timeout", "unreadable"}


def test_feedback_names_what_failed(graded_class):
    fb = graded_class / "feedback"
    summary = {s: (fb / s / "summary.txt").read_text() for s in ("correct", "empty", "raises", "timeout",
                                                                   "unreadable")}
    assert summary["correct"].startswith("Feedback for correct: 32 / 32 points")
    assert "<-" not in summary["correct"]
    assert "test_fuse: 0 / 5  <- IndexError" in summary["raises"]
    assert "test_fusion_weights: 3 / 3\n" in summary["raises"]
    assert f"CellTimeoutError: the cell ran longer than {TIMEOUT} s and was interrupted" in summary["timeout"]
    assert "NameError: name 'fusion_weights' is not defined" in summary["timeout"]
    assert "could not be read as a Jupyter notebook" in summary["unreadable"]
    assert "not submitted" in summary["raises"]  # assignments 2 and 3
    assert "NotImplementedError" in summary["empty"]
    for student in ("correct", "empty", "raises", "timeout"):  # nbgrader's HTML feedback of each graded notebook
        assert (fb / student / IDS[0] / f"{IDS[0]}.html").exists()
    assert "NotImplementedError" in (fb / "empty" / IDS[1] / f"{IDS[1]}.html").read_text()


def test_nbgrader_releases_what_is_committed(graded_class):
    """The grading course was released afresh from the sources: the committed student versions must match."""
    for a in IDS:
        fresh = nbformat.read(graded_class / "release" / a / f"{a}.ipynb", as_version=4)
        committed = nbformat.read(COURSE / "release" / a / f"{a}.ipynb", as_version=4)
        assert [(c.cell_type, c.source, meta(c)) for c in fresh.cells] == \
            [(c.cell_type, c.source, meta(c)) for c in committed.cells], \
            f"assignments/release/{a} is stale: run `lgclip assignments release`"
