"""Glue shared by the experiments: cached feature extraction, sharding over processes, manifests."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import ArtifactCache, shared_chunks, stable_hash


def images_key(images: Any) -> str:
    """A content hash of an image collection (what the features of these images depend on)."""
    if isinstance(images, np.ndarray):
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:24] + str(images.shape)
    return stable_hash([images_key(np.asarray(im)) for im in images])


def cached_features(cache: ArtifactCache, what: dict[str, Any], images: Any,
                    compute: Callable[[Any, int], np.ndarray], chunk: int = 500, progress: bool = True,
                    desc: str = "features") -> np.ndarray:
    """Features of ``images`` in cached chunks. Under ``accelerate launch`` each process fills its share of the
    chunks, then every process reads them all: results are identical to one process because every chunk is a
    pure function of (what, images in it, start index)."""
    starts = list(range(0, len(images), chunk))
    parts = [{**what, "images": images_key(images[i:i + chunk]), "start": i} for i in starts]
    out = shared_chunks(cache, "features", parts, lambda j: {"x": compute(images[starts[j]:starts[j] + chunk],
                                                                           starts[j])}, progress, desc)
    return np.concatenate([o["x"] for o in out])


class Timer:
    """Named wall-clock timings for the results JSON."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t0, 2)


def environment() -> dict[str, str]:
    import diffusers
    import open_clip
    import sklearn
    import torch
    import transformers

    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "open_clip": open_clip.__version__, "scikit-learn": sklearn.__version__,
            "cuda": str(torch.cuda.is_available())}


def write_json(path: Path, data: dict[str, Any]) -> None:
    from ..cache import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(data, indent=1, default=float).encode())
