"""Measuring what a method costs at inference: parameters, memory, throughput, and one-time work amortised.

Used by the *Efficiency* chapter. Every function measures something real on this machine; nothing here knows
any number in advance.

* ``count_parameters`` / ``parameter_bytes``: size of a ``torch.nn.Module`` (the weights a process must hold).
* ``throughput(fn, batch, repeats)``: wall-clock seconds per call of ``fn(batch)`` (median of ``repeats``
  after ``warmup`` untimed calls) and items per second.
* ``peak_memory(fn)``: the Python-heap peak seen by ``tracemalloc`` (numpy arrays register there; torch's CPU
  tensors do not) and the process's resident-set-size high-water mark during the call, sampled by a thread
  (torch allocations included). On a GPU, torch's own peak-allocation counter is reported too.
* ``fresh_process_memory(scenario, ...)``: loads a set of models in a *new* Python process, runs one batch, and
  reports that process's peak RSS, so that models loaded earlier in the caller cannot blur the comparison.
* ``clip_tower_parameters(arch)``: image- and text-tower sizes of an open_clip architecture, built with random
  weights (no download): parameter counts depend on the architecture only.
* ``total_cost`` / ``break_even``: linear cost models ``one_time + n * per_item`` and where two of them cross.
* ``count_flops`` / ``paper_run_costs``: FLOPs of one forward (``FlopCounterMode``, meta tensors welcome), and what
  the papers' full runs cost from measured seconds per item and counted FLOPs scaled to a Colab T4 and an A100
  (``paper_shapes`` feeds them; the paper-shapes results JSON carries the table).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import BadInputError, MeasurementError

__all__ = ["count_parameters", "parameter_bytes", "throughput", "Throughput", "peak_memory", "MemoryReport",
           "current_rss", "fresh_process_memory", "clip_tower_parameters", "total_cost", "break_even",
           "amortisation_point", "timed", "count_flops", "paper_run_costs", "DEVICE_PEAKS"]


# --------------------------------------------------------------------------------------------- parameters
def count_parameters(module: Any, trainable_only: bool = False) -> int:
    """Number of parameters of a ``torch.nn.Module`` (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return int(total)


def parameter_bytes(module: Any, include_buffers: bool = True) -> int:
    """Bytes of a module's parameters (and buffers, e.g. batch-norm statistics) at their current dtype."""
    tensors = list(module.parameters()) + (list(module.buffers()) if include_buffers else [])
    seen: set[int] = set()
    total = 0
    for t in tensors:
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return int(total)


# --------------------------------------------------------------------------------------------- throughput
@dataclass
class Throughput:
    """Timings of ``repeats`` calls on ``items`` items each."""

    items: int
    seconds: list[float]

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.seconds))

    @property
    def items_per_s(self) -> float:
        return self.items / self.median_s if self.median_s > 0 else float("inf")

    @property
    def s_per_item(self) -> float:
        return self.median_s / self.items

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median_s": self.median_s, "items_per_s": self.items_per_s,
                "s_per_item": self.s_per_item, "min_s": min(self.seconds), "max_s": max(self.seconds)}


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def throughput(fn: Callable[[Any], Any], batch: Any, repeats: int = 5, warmup: int = 1,
               n_items: int | None = None) -> Throughput:
    """Time ``fn(batch)``: ``warmup`` untimed calls, then ``repeats`` timed ones (CUDA synchronised)."""
    if repeats < 1:
        raise BadInputError(f"repeats must be >= 1, got {repeats}: time at least one call")
    items = int(n_items if n_items is not None else len(batch))
    for _ in range(max(0, warmup)):
        fn(batch)
    _sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(batch)
        _sync()
        times.append(time.perf_counter() - t0)
    return Throughput(items, times)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)`` (CUDA synchronised)."""
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------ memory
def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import psutil

        return int(psutil.Process().memory_info().rss)


@dataclass
class MemoryReport:
    """Memory used by one call: Python-heap peak (tracemalloc), RSS before/peak, CUDA peak when on a GPU."""

    python_peak_bytes: int
    rss_before_bytes: int
    rss_peak_bytes: int
    seconds: float
    cuda_peak_bytes: int | None = None

    @property
    def rss_increase_bytes(self) -> int:
        return max(0, self.rss_peak_bytes - self.rss_before_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rss_increase_bytes": self.rss_increase_bytes}


def peak_memory(fn: Callable[[], Any], interval_s: float = 0.002) -> tuple[Any, MemoryReport]:
    """Run ``fn()`` and return ``(result, MemoryReport)``.

    The RSS peak is sampled every ``interval_s`` by a thread, so a spike shorter than that can be missed; the
    Python-heap peak is exact for what tracemalloc tracks (Python objects and numpy buffers, not torch's CPU
    allocator). Memory already held before the call (loaded models) is in ``rss_before_bytes``.
    """
    import torch

    gc.collect()
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = current_rss()
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], current_rss())
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    thread.start()
    t0 = time.perf_counter()
    try:
        result = fn()
        if cuda:
            torch.cuda.synchronize()
    finally:
        seconds = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        if not was_tracing:
            tracemalloc.stop()
        stop.set()
        thread.join()
    peak[0] = max(peak[0], current_rss())
    report = MemoryReport(int(py_peak), int(before), int(peak[0]), seconds,
                          int(torch.cuda.max_memory_allocated()) if cuda else None)
    return result, report


# The code a fresh process runs for each scenario; it prints one JSON line. ``image``/``text`` load the
# profile's towers (or the named backends) and encode one batch / the class prompts.
_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, torch
cfg = json.loads(sys.argv[1])
torch.manual_seed(cfg["seed"])
if cfg["threads"]:
    torch.set_num_threads(cfg["threads"])
from lgclip_core import zoo
from lgclip_core.efficiency import count_parameters, parameter_bytes
out = {"scenario": cfg["scenario"], "parameters": 0, "parameter_bytes": 0}
rng = np.random.default_rng(cfg["seed"])
if "image" in cfg["scenario"]:
    enc = zoo.load("image_encoder", cfg["image_encoder"], cfg["profile"])
    out["parameters"] += count_parameters(enc); out["parameter_bytes"] += parameter_bytes(enc)
    images = rng.integers(0, 256, (cfg["batch"], cfg["image_size"], cfg["image_size"], 3), dtype=np.uint8)
    feats = enc.encode(images)
    out["image_feature_shape"] = list(feats.shape)
if "text" in cfg["scenario"]:
    txt = zoo.load("text_encoder", cfg["text_encoder"], cfg["profile"])
    out["parameters"] += count_parameters(txt); out["parameter_bytes"] += parameter_bytes(txt)
    prompts = [f"A photo of a class {i}." for i in range(cfg["n_prompts"])]
    out["text_feature_shape"] = list(txt.encode(prompts).shape)
out["seconds"] = time.perf_counter() - t0
try:  # Linux: this process's own high-water mark (ru_maxrss keeps the parent's across fork + exec)
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    out["peak_rss_bytes"] = int(hwm.split()[1]) * 1024
except OSError:
    kib = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib
print("LGCLIP_MEMORY " + json.dumps(out))
"""


def fresh_process_memory(scenario: str, profile: str = "offline", image_encoder: str | None = None,
                         text_encoder: str | None = None, batch: int = 32, image_size: int = 224,
                         n_prompts: int = 10, seed: int = 0, threads: int | None = None,
                         timeout_s: float = 600) -> dict[str, Any]:
    """Peak RSS of a new Python process that loads the named towers and encodes one batch.

    ``scenario``: ``"baseline"`` (imports only: Python, numpy, torch, the package), ``"image"`` (image tower,
    one batch of ``batch`` random images), ``"text"`` or ``"image+text"`` (also the text tower on ``n_prompts``
    class prompts). The peak is that process's own high-water mark (``VmHWM``; ``ru_maxrss`` where there is no
    /proc): Linux's ``ru_maxrss`` carries the parent's peak across fork and exec.
    """
    if scenario not in ("baseline", "image", "text", "image+text"):
        raise BadInputError(f"unknown scenario {scenario!r}: use baseline | image | text | image+text")
    cfg = {"scenario": scenario, "profile": profile, "image_encoder": image_encoder, "text_encoder": text_encoder,
           "batch": batch, "image_size": image_size, "n_prompts": n_prompts, "seed": seed, "threads": threads}
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "TOKENIZERS_PARALLELISM": "false",
           "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cfg)], capture_output=True, text=True,
                          timeout=timeout_s, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("LGCLIP_MEMORY "):
            return json.loads(line.split(" ", 1)[1])
    last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "no error output")
    raise MeasurementError(f"memory probe {scenario!r} failed (exit {proc.returncode}); fix the child's error and "
                           f"measure again: {last[:300]}", stderr=proc.stderr)


# -------------------------------------------------------------------------------------- architectures
def clip_tower_parameters(arch: str) -> dict[str, int]:
    """Parameter counts of an open_clip architecture's image tower and text tower (random init, no download).

    The text tower is everything that is not ``visual`` and not the logit scale/bias: token and positional
    embeddings, the transformer, the final layer norm and the text projection.
    """
    import torch

    from .encoders import create_open_clip

    torch.manual_seed(0)
    model = create_open_clip(arch, None)
    image = count_parameters(model.visual)
    visual_ids = {id(p) for p in model.visual.parameters()}
    skip = {id(getattr(model, n)) for n in ("logit_scale", "logit_bias") if getattr(model, n, None) is not None}
    text = sum(p.numel() for p in model.parameters() if id(p) not in visual_ids and id(p) not in skip)
    del model
    gc.collect()
    return {"image": int(image), "text": int(text)}


# ------------------------------------------------------------------------------------------ cost models
def total_cost(one_time_s: float, per_item_s: float, n: Sequence[float] | np.ndarray) -> np.ndarray:
    """Total seconds to classify ``n`` items: ``one_time_s + n * per_item_s``."""
    return float(one_time_s) + np.asarray(n, dtype=np.float64) * float(per_item_s)


def break_even(one_time_a: float, per_item_a: float, one_time_b: float, per_item_b: float) -> float | None:
    """The number of items at which method A's total cost equals method B's (None if the lines never cross
    at a positive count)."""
    d_per = per_item_b - per_item_a
    if d_per == 0:
        return None
    n = (one_time_a - one_time_b) / d_per
    return float(n) if n > 0 else None


def amortisation_point(one_time_s: float, per_item_s: float, share: float = 0.5) -> float:
    """The number of items after which the one-time work is only ``share`` of the total cost."""
    if not 0 < share < 1:
        raise BadInputError(f"share must be in (0, 1), got {share}: pass a fraction such as 0.5")
    if per_item_s <= 0:
        return float("inf")
    return float(one_time_s * (1 - share) / (share * per_item_s))


# ----------------------------------------------------------------------------- FLOPs and the papers' runs
DEVICE_PEAKS = {"colab-t4": {"peak_flops": 65e12, "precision": "fp16 tensor cores"},
                "a100": {"peak_flops": 312e12, "precision": "bf16 tensor cores"}}


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()`` as ``torch.utils.flop_counter.FlopCounterMode`` counts them (matmuls, convolutions,
    attention; 2 FLOPs per multiply-add). Works on meta tensors, so a true-size model costs no memory."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def paper_run_costs(plans: dict[str, dict[str, float]], per_item_s: dict[str, float | None],
                    flops_per_item: dict[str, float], utilisation: float = 0.4,
                    devices: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What full runs cost: for each plan (role -> number of items), items x measured CPU seconds per item, and
    items x FLOPs per item turned into seconds on each device at ``utilisation`` of its peak.

    ``per_item_s`` are measurements on this machine (None where a role was not measured); ``flops_per_item`` are
    counted (``count_flops``). The device times are lower bounds of the right order, not measurements: real
    utilisation depends on batch size, kernels and memory traffic.
    """
    if not 0 < utilisation <= 1:
        raise BadInputError(f"utilisation must be in (0, 1], got {utilisation}: pass a fraction such as 0.4")
    devices = devices or DEVICE_PEAKS
    out: dict[str, Any] = {"utilisation": utilisation,
                           "devices": {d: {**v, "assumed_flops_per_s": v["peak_flops"] * utilisation}
                                       for d, v in devices.items()}, "plans": {}}
    for plan, items in plans.items():
        rows = {}
        for role, n in items.items():
            cpu = per_item_s.get(role)
            flops = flops_per_item.get(role)
            rows[role] = {"items": float(n), "cpu_seconds_per_item": cpu,
                          "cpu_hours": None if cpu is None else float(n) * cpu / 3600,
                          "flops": None if flops is None else float(n) * flops,
                          **{f"{d}_hours": None if flops is None else float(n) * flops
                             / (v["peak_flops"] * utilisation) / 3600 for d, v in devices.items()}}
        total = {k: float(sum(r[k] for r in rows.values() if r[k] is not None))
                 for k in ("cpu_hours", "flops", *(f"{d}_hours" for d in devices))}
        total["roles_without_cpu_measurement"] = [r for r, v in rows.items() if v["cpu_hours"] is None]
        out["plans"][plan] = {"roles": rows, "total": total}
    return out
