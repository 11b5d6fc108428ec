"""Content-addressed artifact store: every expensive arrow's output (prompts, images, features) is kept here.

Why: generation and encoding are the slow steps of the book. An entry's key is a hash of everything that
determines it (model id + revision, prompt, seed, parameters), so a changed input can never return a stale
result. Writes are atomic (temp file + rename), each payload's SHA-256 is recorded in a sidecar manifest and
checked on every read, so a corrupt or half-written entry is detected and rebuilt instead of silently used.
Work done in chunks (one entry per chunk) therefore resumes where an interrupted run stopped.

Shared caches (a course server): files and folders are written with the user's umask (``0o666 & ~umask``;
``mkstemp`` alone would make them private), so a group can read what one member computed. A cache that is
read-only for this user is still read; new entries then go to an *overlay* folder (``$LGCLIP_CACHE_OVERLAY``, else
``~/.cache/lgclip-overlay/<hash of the cache path>``), which is read first. When no folder can be written, a
one-line ``CacheNotWritableError`` names ``LGCLIP_CACHE`` and ``LGCLIP_CACHE_OVERLAY``.

Model files are checked against recorded SHA-256s before they are loaded (``verify_files``); a check is
remembered per (path, inode, size, mtime, ctime) under ``<cache>/verified/``, so a file is hashed once, not on
every load, and any later change to it (which always changes its ctime) is hashed again.
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
from safetensors.numpy import load_file, save

from .errors import CacheNotWritableError, IntegrityError, MissingAssetError

__all__ = ["ArtifactCache", "default_cache", "stable_hash", "sha256_file", "verify_files", "file_mode", "dir_mode"]


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


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: the classic set-and-restore (not thread-safe, but only on such systems)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new cache file: what ``open()`` would give (``0o666 & ~umask``), e.g. 0o644 or 0o664."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new cache folder: what ``mkdir`` would give (``0o777 & ~umask``)."""
    return 0o777 & ~current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600 files: a shared cache must follow the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_WRITE_ERRORS = (PermissionError, OSError)


def _writable(d: Path) -> bool:
    """Whether this user can create files in ``d`` (creating it if needed); never raises."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".probe-")
        os.close(fd)
        os.unlink(tmp)
        return True
    except _WRITE_ERRORS:
        return False


class ArtifactCache:
    """A directory of ``<kind>/<key>.<ext>`` payloads, each with a ``<key>.json`` manifest.

    Two payload types cover the project: ``arrays`` (a dict of numpy arrays, stored as safetensors) and
    ``json`` (prompts, metrics). ``hits``/``misses`` and ``used`` record what a run read, for result manifests.
    ``overlay``: a writable folder read before ``root`` and written instead of it (see the module docstring).
    """

    def __init__(self, root: str | os.PathLike | None = None, overlay: str | os.PathLike | None = None):
        root = root or os.environ.get("LGCLIP_CACHE") or Path.home() / ".cache" / "lgclip"
        self.root = Path(root).expanduser()
        overlay = overlay or os.environ.get("LGCLIP_CACHE_OVERLAY")
        self.overlay: Path | None = Path(overlay).expanduser() if overlay else None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except _WRITE_ERRORS:
            pass  # a read-only place: read what is there, write to the overlay
        self.hits = 0
        self.misses = 0
        self.rebuilt = 0
        self.used: dict[str, str] = {}  # "kind/key" -> payload sha256
        self._write_root: Path | None = None

    # -- layers ------------------------------------------------------------------------------------
    def read_roots(self) -> list[Path]:
        """Folders searched for an entry, first match wins: the overlay (when there is one), then the cache."""
        auto = self._auto_overlay()
        layers = [self.overlay] if self.overlay else ([auto] if auto.is_dir() else [])
        return [*layers, self.root]

    def _auto_overlay(self) -> Path:
        return Path.home() / ".cache" / "lgclip-overlay" / stable_hash(str(self.root.resolve()))[:12]

    def write_root(self) -> Path:
        """The folder new entries go to: the overlay when set, else the cache, else a per-user overlay."""
        if self._write_root is not None:
            return self._write_root
        candidates = [self.overlay] if self.overlay else [self.root, self._auto_overlay()]
        for c in candidates:
            if _writable(c):
                if c != self.root and not self.overlay:
                    warnings.warn(f"cache {self.root} is read-only for this user: reading it, writing new entries "
                                  f"to {c} (set LGCLIP_CACHE_OVERLAY to choose the folder)", stacklevel=3)
                self._write_root = c
                return c
        raise CacheNotWritableError(
            f"cannot write to the cache {self.root}" + (f" nor to the overlay {candidates[-1]}" if len(candidates) > 1
                                                       or self.overlay else "")
            + ": set LGCLIP_CACHE to a folder you can write, or keep it and set LGCLIP_CACHE_OVERLAY to one")

    # -- paths -------------------------------------------------------------------------------------
    def _paths(self, kind: str, key: str, ext: str, root: Path | None = None) -> tuple[Path, Path]:
        d = (root or self.root) / kind
        return d / f"{key}.{ext}", d / f"{key}.json"

    def _read_verified(self, kind: str, key: str, ext: str) -> Path | None:
        for root in self.read_roots():
            payload, meta = self._paths(kind, key, ext, root)
            if not payload.exists() or not meta.exists():
                continue
            try:
                recorded = json.loads(meta.read_text())["sha256"]
                actual = sha256_file(payload)
            except (ValueError, KeyError, OSError):
                recorded, actual = None, ""
            if recorded != actual:
                warnings.warn(f"cache entry {kind}/{key} is corrupt (hash mismatch); rebuilding it", stacklevel=3)
                try:
                    payload.unlink(missing_ok=True)
                    meta.unlink(missing_ok=True)
                except _WRITE_ERRORS:
                    pass  # someone else's read-only copy: skipped; the rebuilt entry goes to the overlay
                self.rebuilt += 1
                continue
            self.used[f"{kind}/{key}"] = actual
            return payload
        return None

    def _write(self, kind: str, key: str, ext: str, data: bytes, parts: Any, seconds: float) -> None:
        root = self.write_root()
        payload, meta = self._paths(kind, key, ext, root)
        try:
            atomic_write_bytes(payload, data)
        except PermissionError:
            if root != self.root or self.overlay:
                raise
            # the cache root is writable but this kind's folder belongs to someone else: use the overlay
            self._write_root = None
            root = self._auto_overlay()
            if not _writable(root / kind):
                raise CacheNotWritableError(f"cannot write {kind}/ in the cache {self.root} nor in {root}: set "
                                            "LGCLIP_CACHE to a folder you can write, or set LGCLIP_CACHE_OVERLAY to one"
                                            ) from None
            self._write_root = root
            payload, meta = self._paths(kind, key, ext, root)
            atomic_write_bytes(payload, data)
        digest = hashlib.sha256(data).hexdigest()
        info = {"kind": kind, "key": key, "sha256": digest, "parts": parts, "build_seconds": round(seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_bytes(meta, json.dumps(info, indent=1, default=str).encode())
        self.used[f"{kind}/{key}"] = digest

    # -- public API --------------------------------------------------------------------------------
    def has(self, kind: str, parts: Any, ext: str = "safetensors") -> bool:
        key = stable_hash(parts)
        return any(all(p.exists() for p in self._paths(kind, key, ext, r)) for r in self.read_roots())

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
        data = save(arrays)  # the file's bytes, written once by _write (atomic)
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
        """A stable, writable directory for artifacts that are folders (e.g. a converted model); caller fills it.
        Finished folders are looked up with ``existing_directories`` (they may sit in a read-only layer)."""
        root = self.write_root()
        d = root / kind / stable_hash(parts)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            if root != self.root or self.overlay:
                raise CacheNotWritableError(f"cannot create {d}: set LGCLIP_CACHE_OVERLAY to a folder you can "
                                            "write (or LGCLIP_CACHE to another cache)") from None
            self._write_root = self._auto_overlay()
            return self.directory(kind, parts)
        return d

    def existing_directories(self, kind: str, parts: Any) -> list[Path]:
        """The folders for ``parts`` that exist in any layer, overlay first."""
        return [d for r in self.read_roots() if (d := r / kind / stable_hash(parts)).is_dir()]

    def manifest(self) -> dict[str, Any]:
        out = {"root": str(self.root), "hits": self.hits, "misses": self.misses, "rebuilt": self.rebuilt,
               "entries": dict(sorted(self.used.items()))}
        if self._write_root is not None and self._write_root != self.root:
            out["overlay"] = str(self._write_root)
        return out


# ------------------------------------------------------------------------------------------ integrity
_VERIFIED: dict[tuple, str] = {}  # (path, inode, size, mtime_ns, ctime_ns) -> sha256, this process


def _verification_dir() -> list[Path]:
    """Where verification records live: the model cache, its overlay (read and written like cache entries)."""
    root = os.environ.get("LGCLIP_MODEL_CACHE") or os.environ.get("LGCLIP_CACHE") or Path.home() / ".cache" / "lgclip"
    cache = ArtifactCache.__new__(ArtifactCache)  # layer logic only: no folder is created here
    cache.root = Path(root).expanduser()
    overlay = os.environ.get("LGCLIP_CACHE_OVERLAY")
    cache.overlay = Path(overlay).expanduser() if overlay else None
    return [r / "verified" for r in cache.read_roots()] + [cache._auto_overlay() / "verified"]


def file_sha256_remembered(path: Path, recheck: bool = False) -> str:
    """SHA-256 of ``path``, hashed only when the file changed since it was last hashed (or ``recheck``)."""
    st = path.stat()
    ident = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if not recheck and ident in _VERIFIED:
        return _VERIFIED[ident]
    name = stable_hash(list(ident)) + ".json"
    dirs = _verification_dir()
    if not recheck:
        for d in dirs:
            try:
                rec = json.loads((d / name).read_text())
                if rec.get("ident") == list(ident):
                    _VERIFIED[ident] = rec["sha256"]
                    return rec["sha256"]
            except (OSError, ValueError, KeyError):
                continue
    digest = sha256_file(path)
    _VERIFIED[ident] = digest
    record = json.dumps({"ident": list(ident), "sha256": digest, "checked": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime())}).encode()
    for d in dirs:
        try:
            atomic_write_bytes(d / name, record)
            break
        except _WRITE_ERRORS:
            continue  # read-only everywhere: the check is still done, just not remembered across processes
    return digest


def verify_files(root: Path, expected: dict[str, str], asset: str, fix: str, recheck: bool = False) -> None:
    """Refuse (``IntegrityError``) any file under ``root`` whose SHA-256 differs from ``expected[relpath]``.

    ``root`` may be the file itself (then the key is its name). A missing expected file is a
    ``MissingAssetError``, unless its uncompressed twin (``name`` without ``.gz``) is there instead.
    """
    for rel, sha in expected.items():
        f = root if root.is_file() and rel == root.name else root / rel
        if not f.is_file():
            if rel.endswith(".gz") and (f.parent / f.name[:-3]).is_file():
                continue
            raise MissingAssetError(asset, fix, f"{f} does not exist")
        actual = file_sha256_remembered(f, recheck)
        if actual != sha:
            raise IntegrityError(f, asset, sha, actual, fix)


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
