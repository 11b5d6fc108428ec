"""Finding the repository checkout: an editable install, ``$LGCLIP_CHECKOUT``, or a clear error (a wheel install)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgclip_core import checkout
from lgclip_core.book import assignments, report
from lgclip_core.errors import MissingAssetError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def installed_as_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The package as a wheel puts it: in site-packages, no checkout above it; run from an unrelated folder."""
    monkeypatch.setattr(checkout, "__file__", str(tmp_path / "site-packages" / "lgclip_core" / "checkout.py"))
    monkeypatch.delenv(checkout.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_editable_install_finds_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(checkout.ENV, raising=False)
    assert checkout.checkout() == ROOT
    assert report.repo_path("book/data/paper_lgclip.csv") == ROOT / "book" / "data" / "paper_lgclip.csv"
    assert assignments.course_dir() == ROOT / "assignments"


def test_a_wheel_without_a_checkout_says_how_to_name_one(installed_as_wheel: Path) -> None:
    for find in (lambda: report.repo_path("results"), assignments.course_dir):
        with pytest.raises(MissingAssetError, match=r"git clone .* export LGCLIP_CHECKOUT="):
            find()


def test_a_wheel_reads_the_checkout_named_in_the_environment(installed_as_wheel: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(checkout.ENV, str(ROOT))
    assert report.repo_path("results") == ROOT / "results"
    assert assignments.course_dir() == ROOT / "assignments"
    monkeypatch.setenv(checkout.ENV, str(installed_as_wheel))  # not a checkout: said, not guessed around
    with pytest.raises(MissingAssetError, match="does not hold book"):
        checkout.checkout()


def test_a_chapter_folder_finds_its_checkout(installed_as_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "notebooks")  # Colab's clone: the chapter runs in notebooks/
    assert checkout.checkout() == ROOT
