"""Glue shared by the experiments: cached feature extraction, sharding over processes, manifests."""

from __future__ import annotations

import json
import os
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


def machine_load() -> dict[str, Any]:
    """How busy the machine is now: load averages next to the CPUs and threads this process may use.

    Why: a timing measured while other jobs compete for the cores is slower than on an idle machine (the
    generator's 0.52 images/s under load vs 12-14 idle). ``busy`` is True when the 1-minute load average exceeds
    the threads this process itself runs plus one, i.e. other work was competing; it includes this process's own
    threads, so an idle machine running one single-threaded timing shows about 1.
    """
    import torch

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        load = [float("nan")] * 3
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    threads = torch.get_num_threads()
    return {"loadavg_1m_5m_15m": load, "cpu_count": os.cpu_count(), "usable_cpus": usable,
            "torch_threads": threads, "torch_interop_threads": torch.get_num_interop_threads(),
            "busy": bool(load[0] > min(threads, usable) + 1)}


class Timer:
    """Named wall-clock timings for the results JSON, each with the machine load at its end (``load``)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.load: dict[str, dict[str, Any]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            self.times[name] = round(self.times.get(name, 0.0) + wall, 2)
            # CPU seconds per wall second of this process: near torch_threads when it had the cores to itself
            self.load[name] = {**machine_load(), "process_cpu_per_wall": round((time.process_time() - c0)
                                                                               / max(wall, 1e-9), 2)}

    def manifest(self) -> dict[str, Any]:
        """Timings and the load during each, for a results file's manifest."""
        return {"timings_s": dict(self.times), "load": dict(self.load)}


def environment() -> dict[str, Any]:
    """Versions, platform and the machine load when called (see ``machine_load``)."""
    import diffusers
    import open_clip
    import sklearn
    import torch
    import transformers

    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "open_clip": open_clip.__version__, "scikit-learn": sklearn.__version__,
            "cuda": str(torch.cuda.is_available()), "load": machine_load()}


def write_json(path: Path, data: dict[str, Any]) -> None:
    from ..cache import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(data, indent=1, default=float).encode())
