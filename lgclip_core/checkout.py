"""Where the repository checkout is: the folder with ``book/data/``, ``results/`` and ``assignments/``.

The package itself works without it, but the book helpers read files that ship only with the repository. An
editable install finds the checkout above the package; a wheel (``pip install`` from git, as in Colab) does not,
so the checkout is named explicitly by ``$LGCLIP_CHECKOUT`` (``book.colab.setup`` sets it to its clone) or found as the
working folder or its parent (a chapter runs in ``notebooks/``). Nothing is guessed beyond that: when no checkout
is found, the error says how to name one.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MissingAssetError

ENV = "LGCLIP_CHECKOUT"
REPOSITORY = "https://github.com/lgclip-book/lgclip-book"
MARKERS = ("book", "notebooks", "pyproject.toml")  # what a checkout of the repository holds at its top


def is_checkout(folder: Path) -> bool:
    """Whether ``folder`` is the top of a checkout of the repository."""
    return all((folder / m).exists() for m in MARKERS)


def checkout_candidates() -> list[Path]:
    """Where a checkout may be, in order: ``$LGCLIP_CHECKOUT``, the folder above the package (an editable
    install), the working folder and its parent. Only folders that hold a checkout are listed."""
    if os.environ.get(ENV):
        root = Path(os.environ[ENV]).expanduser().resolve()
        if not is_checkout(root):
            raise MissingAssetError("repository checkout", f"git clone {REPOSITORY}, then export {ENV}=<the clone>",
                                    f"${ENV}={root} does not hold {', '.join(MARKERS)}")
        return [root]
    here = [Path(__file__).resolve().parent.parent, Path.cwd(), Path.cwd().parent]
    return list(dict.fromkeys(p for p in here if is_checkout(p)))


def checkout() -> Path:
    """The repository checkout, or a ``MissingAssetError`` that says how to get one and name it."""
    found = checkout_candidates()
    if not found:
        raise MissingAssetError("repository checkout", f"git clone {REPOSITORY} && export {ENV}=$PWD/lgclip-book",
                                "the book's data, results and assignments ship with the repository, not the package")
    return found[0]
