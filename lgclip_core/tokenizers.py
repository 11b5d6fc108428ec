"""Tokenizers and converted model files built from offline assets, written once into a stable cache.

Why a separate module: the CLIP tokenizer that diffusers' Stable Diffusion pipelines expect
(``transformers.CLIPTokenizer``) normally comes from the hub; here it is rebuilt from the BPE vocabulary that
open_clip ships, so tiny pipelines and tests need no internet. Converting assets (the tokenizer files, the
GGUF chat model in ``prompts.py``) is slow or worth keeping, so they live in the *model cache*:
``$LGCLIP_MODEL_CACHE`` when set, else the artifact cache. Tests point ``LGCLIP_CACHE`` at a temporary
folder but keep the model cache stable, so a one-minute conversion happens once per machine, not per run.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .cache import (
    ArtifactCache,
    atomic_write_bytes,
    default_cache,
    dir_mode,
    file_mode,
    file_sha256_remembered,
    sha256_file,
    verify_files,
)
from .errors import IntegrityError, MissingAssetError
from .zoo import asset_path

__all__ = ["model_cache", "build_directory", "clip_tokenizer", "clip_tokenizer_files", "CLIP_VOCAB_SIZE"]

CLIP_VOCAB_SIZE = 49408
COMPLETE = "COMPLETE.json"  # sentinel written last (inside the temp dir, before the rename)


def model_cache() -> ArtifactCache:
    """The cache for converted model files: ``$LGCLIP_MODEL_CACHE`` or else the default artifact cache."""
    root = os.environ.get("LGCLIP_MODEL_CACHE")
    return ArtifactCache(root) if root else default_cache()


def _complete(d: Path) -> bool:
    """A built directory is usable when its sentinel exists and every listed file has its recorded size and
    SHA-256 (hashed once per file version, see ``cache.verify_files``); a damaged file makes it unusable."""
    sentinel = d / COMPLETE
    if not sentinel.is_file():
        return False
    try:
        info = json.loads(sentinel.read_text())
        files = info["files"]
    except (ValueError, KeyError, OSError):
        return False
    if not all((d / name).is_file() and (d / name).stat().st_size == size for name, size in files.items()):
        return False
    if not all(os.access(d / name, os.R_OK) for name in files):  # another user's private file: build our own
        return False
    hashes = info.get("sha256")
    if hashes is None:  # written before hashes were recorded: record them now (sizes matched), if we may
        hashes = {name: file_sha256_remembered(d / name) for name in files}
        try:
            atomic_write_bytes(sentinel, json.dumps({**info, "sha256": hashes}, indent=1, default=str).encode())
            for name in files:  # such builds left some files private (0600): share them as the umask allows
                if (d / name).stat().st_uid == os.getuid():
                    os.chmod(d / name, file_mode())
        except OSError:
            pass
        return True
    try:
        verify_files(d, hashes, f"{d.parent.parent.name} cache entry", "none needed, it is built again")
    except IntegrityError as exc:
        warnings.warn(str(exc), stacklevel=3)
        return False
    return True


def build_directory(kind: str, parts: Any, build: Callable[[Path], None], cache: ArtifactCache | None = None,
                    info: dict[str, Any] | None = None) -> Path:
    """Return ``<model cache>/<kind>/<hash(parts)>/files``, calling ``build(tmp_dir)`` on a miss.

    ``build`` fills a private temporary directory; only when it returns is a sentinel (file sizes and SHA-256s)
    written and the folder renamed into place, so an interrupted or failed build leaves nothing that a later call
    could mistake for a finished one (and two processes building at once cannot corrupt each other's output).
    A finished folder in a read-only shared cache is used as it is; a new build goes to the writable layer
    (the cache or its overlay, see ``cache.py``), with the user's umask.
    """
    cache = cache or model_cache()
    for root in cache.existing_directories(kind, parts):
        if _complete(root / "files"):
            return root / "files"
    root = cache.directory(kind, parts)
    final = root / "files"
    if final.exists():  # an unfinished or damaged earlier build: start again
        shutil.rmtree(final, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    os.chmod(tmp, dir_mode())  # mkdtemp makes it private; the cache is shared like any other cache folder
    try:
        build(tmp)
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        hashes = {name: sha256_file(tmp / name) for name in files}
        for q in tmp.rglob("*"):  # whatever ``build`` used to write them, files follow the umask too
            os.chmod(q, dir_mode() if q.is_dir() else file_mode())
        atomic_write_bytes(tmp / COMPLETE, json.dumps({"parts": parts, "files": files, "sha256": hashes,
                                                       **(info or {})}, indent=1, default=str).encode())
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first
            if not _complete(final):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_clip_files(bpe_path: Path, out: Path) -> None:
    """vocab.json + merges.txt in Hugging Face's CLIP format, from open_clip's ``bpe_simple_vocab_16e6``.

    Same construction as open_clip's ``SimpleTokenizer`` (and OpenAI's): 256 byte symbols, the same with
    ``</w>``, 48,894 merges, then the two special tokens, named as transformers' CLIPTokenizer expects.
    """
    from open_clip.tokenizer import bytes_to_unicode

    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    byte_symbols = list(bytes_to_unicode().values())
    vocab = byte_symbols + [s + "</w>" for s in byte_symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False),
                                    encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def clip_tokenizer_files() -> Path:
    """Folder holding vocab.json + merges.txt built from the CLIP BPE asset (built once, cached)."""
    import transformers

    bpe = asset_path("clip-bpe-vocab")
    parts = {"clip_bpe_sha256": sha256_file(bpe), "format": "hf-clip-v1", "transformers": transformers.__version__}
    return build_directory("tokenizer", parts, lambda d: _write_clip_files(bpe, d))


@lru_cache(maxsize=1)
def clip_tokenizer() -> Any:
    """A ``transformers.CLIPTokenizer`` (77 tokens, 49,408-token vocabulary) with no hub access."""
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(clip_tokenizer_files(), local_files_only=True, model_max_length=77)
    if len(tok) != CLIP_VOCAB_SIZE or tok.vocab_size != CLIP_VOCAB_SIZE:
        raise MissingAssetError("open_clip_torch's CLIP BPE vocabulary",
                                "pip install --force-reinstall open_clip_torch",
                                f"the tokenizer built from it has {len(tok)} tokens, expected {CLIP_VOCAB_SIZE}")
    return tok
