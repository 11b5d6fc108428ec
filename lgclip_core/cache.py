"""Content-addressed artifact store: every expensive arrow's output (prompts, images, features) is kept here.

Why: generation and encoding are the slow steps of the book. An entry's key is a hash of everything that
determines it (model id + revision, prompt, seed, parameters), so a changed input can never return a stale
result. Writes are atomic (temp file + rename), each payload's SHA-256 is recorded in a sidecar manifest and
checked on every read, so a corrupt or half-written entry is detected and rebuilt instead of silently used.
Work done in chunks (one entry per chunk) therefore resumes where an interrupted run stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

__all__ = ["ArtifactCache", "default_cache", "stable_hash", "sha256_file"]


def stable_hash(parts: Any) -> str:
    """SHA-256 (hex, 24 chars) of a JSON-canonical rendering of ``parts``."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactCache:
    """A directory of ``<kind>/<key>.<ext>`` payloads, each with a ``<key>.json`` manifest.

    Two payload types cover the project: ``arrays`` (a dict of numpy arrays, stored as safetensors) and
    ``json`` (prompts, metrics). ``hits``/``misses`` and ``used`` record what a run read, for result manifests.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        root = root or os.environ.get("LGCLIP_CACHE") or Path.home() / ".cache" / "lgclip"
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self.rebuilt = 0
        self.used: dict[str, str] = {}  # "kind/key" -> payload sha256

    # -- paths -------------------------------------------------------------------------------------
    def _paths(self, kind: str, key: str, ext: str) -> tuple[Path, Path]:
        d = self.root / kind
        return d / f"{key}.{ext}", d / f"{key}.json"

    def _read_verified(self, kind: str, key: str, ext: str) -> Path | None:
        payload, meta = self._paths(kind, key, ext)
        if not payload.exists() or not meta.exists():
            return None
        try:
            recorded = json.loads(meta.read_text())["sha256"]
        except (ValueError, KeyError):
            recorded = None
        actual = sha256_file(payload)
        if recorded != actual:
            warnings.warn(f"cache entry {kind}/{key} is corrupt (hash mismatch); rebuilding it", stacklevel=3)
            payload.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            self.rebuilt += 1
            return None
        self.used[f"{kind}/{key}"] = actual
        return payload

    def _write(self, kind: str, key: str, ext: str, data: bytes, parts: Any, seconds: float) -> None:
        payload, meta = self._paths(kind, key, ext)
        atomic_write_bytes(payload, data)
        digest = hashlib.sha256(data).hexdigest()
        info = {"kind": kind, "key": key, "sha256": digest, "parts": parts, "build_seconds": round(seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_bytes(meta, json.dumps(info, indent=1, default=str).encode())
        self.used[f"{kind}/{key}"] = digest

    # -- public API --------------------------------------------------------------------------------
    def has(self, kind: str, parts: Any, ext: str = "safetensors") -> bool:
        payload, meta = self._paths(kind, stable_hash(parts), ext)
        return payload.exists() and meta.exists()

    def arrays(self, kind: str, parts: Any, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Return the arrays stored under ``parts``, calling ``build()`` (and storing) on a miss."""
        key = stable_hash(parts)
        path = self._read_verified(kind, key, "safetensors")
        if path is not None:
            self.hits += 1
            return dict(load_file(str(path)))
        self.misses += 1
        t0 = time.perf_counter()
        value = build()
        arrays = {k: np.ascontiguousarray(v) for k, v in value.items()}
        fd, tmp = tempfile.mkstemp(suffix=".safetensors")
        os.close(fd)
        try:
            save_file(arrays, tmp)
            data = Path(tmp).read_bytes()
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._write(kind, key, "safetensors", data, parts, time.perf_counter() - t0)
        return arrays

    def json(self, kind: str, parts: Any, build: Callable[[], Any]) -> Any:
        """Return the JSON value stored under ``parts``, calling ``build()`` (and storing) on a miss."""
        key = stable_hash(parts)
        path = self._read_verified(kind, key, "data.json")
        if path is not None:
            self.hits += 1
            return json.loads(path.read_text())
        self.misses += 1
        t0 = time.perf_counter()
        value = build()
        data = json.dumps(value, indent=1, ensure_ascii=False).encode()
        self._write(kind, key, "data.json", data, parts, time.perf_counter() - t0)
        return json.loads(data)

    def directory(self, kind: str, parts: Any) -> Path:
        """A stable directory for artifacts that are folders (e.g. a converted model); caller fills it."""
        d = self.root / kind / stable_hash(parts)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def manifest(self) -> dict[str, Any]:
        return {"root": str(self.root), "hits": self.hits, "misses": self.misses, "rebuilt": self.rebuilt,
                "entries": dict(sorted(self.used.items()))}


_DEFAULT: ArtifactCache | None = None


def default_cache() -> ArtifactCache:
    """The process-wide cache (``$LGCLIP_CACHE`` or ``~/.cache/lgclip``)."""
    global _DEFAULT
    root = os.environ.get("LGCLIP_CACHE")
    if _DEFAULT is None or (root and Path(root).expanduser() != _DEFAULT.root):
        _DEFAULT = ArtifactCache(root)
    return _DEFAULT


def process_state() -> tuple[int, int, Callable[[], None]]:
    """(index, count, barrier) of this process under ``accelerate launch``; (0, 1, no-op) otherwise."""
    try:
        import torch
        from accelerate import PartialState

        # cpu=True lets accelerate form a gloo group of CPU processes (MULTI_CPU) when launched without GPUs
        st = PartialState(cpu=not torch.cuda.is_available())
        return st.process_index, st.num_processes, st.wait_for_everyone
    except Exception:  # accelerate missing or not launched: a single process
        return 0, 1, lambda: None


def shared_chunks(cache: ArtifactCache, kind: str, parts: list[Any],
                  build: Callable[[int], dict[str, np.ndarray]], progress: bool = True,
                  desc: str = "chunks") -> list[dict[str, np.ndarray]]:
    """Cache entries ``cache.arrays(kind, parts[j], lambda: build(j))`` for every chunk j, shared by processes.

    Under ``accelerate launch`` process r builds chunks j = r, r + world, ..., waits for the others, then every
    process reads all chunks. Each chunk is a pure function of its parts, so the result is identical to one
    process; an interrupted run resumes from the chunks already written.
    """
    from tqdm.auto import tqdm

    rank, world, barrier = process_state()
    mine: dict[int, dict[str, np.ndarray]] = {}
    for j in tqdm(range(len(parts)), desc=desc, disable=not progress or len(parts) < 2, leave=False):
        if j % world == rank:
            mine[j] = cache.arrays(kind, parts[j], lambda j=j: build(j))
    barrier()
    return [mine[j] if j in mine else cache.arrays(kind, parts[j], lambda j=j: build(j)) for j in range(len(parts))]
