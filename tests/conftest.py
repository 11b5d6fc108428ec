"""Test session setup: offline, a throw-away artifact cache, a stable model cache, few threads.

The artifact cache (``LGCLIP_CACHE``) is a fresh temporary folder per session, so tests never read results a
previous run left behind. Converted model files (SmolLM2's GGUF -> safetensors, ~1 min; the CLIP tokenizer
files) go to the *model cache* instead, which stays put between sessions: ``$LGCLIP_MODEL_CACHE`` if set,
else the ``LGCLIP_CACHE`` the caller had (CI caches that folder), else ``~/.cache/lgclip``. Its entries are
keyed by the source file's sha256 and the transformers version and only used when complete, so reuse is safe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("LGCLIP_MODEL_CACHE", os.environ.get("LGCLIP_CACHE") or str(Path.home() / ".cache" / "lgclip"))
# The compiled encoder backend costs a build per machine (model cache); tests run eager, except the test that compares
# the two (tests/test_encoders.py), which names its backends.
os.environ.setdefault("LGCLIP_ENCODER_BACKEND", "eager")
_SESSION_CACHE = tempfile.mkdtemp(prefix="lgclip-test-cache-")
os.environ["LGCLIP_CACHE"] = _SESSION_CACHE

import pytest
import torch

torch.set_num_threads(int(os.environ.get("LGCLIP_TEST_THREADS", "2")))

DATA = Path(__file__).resolve().parent / "data"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture
def tmp_cache(tmp_path: Path):
    """An empty artifact cache of its own (for tests that count hits and misses)."""
    from lgclip_core.cache import ArtifactCache

    return ArtifactCache(tmp_path / "cache")


@pytest.fixture(scope="module")
def tiny_encoder():
    """The tiny profile's random-init image encoder (mechanics only)."""
    from lgclip_core import zoo

    return zoo.load("image_encoder", profile="tiny")


@pytest.fixture(scope="module")
def tiny_generator():
    """The tiny profile's random-init Stable Diffusion pipeline (mechanics only)."""
    from lgclip_core import zoo

    return zoo.load("generator", profile="tiny")
