"""The efficiency experiment behind chapter 07: each step measures one cost and returns a table.

The primitives (parameter counts, timing, memory probes, cost models) live in ``lgclip_core.efficiency``; this
module wires them to the zoo's roles and returns ``pandas`` DataFrames, so the chapter only calls, plots and
discusses. Nothing here knows a number in advance: every value is measured when a function runs.
``lgclip measure-efficiency --out DIR`` runs every step (``measure``) and writes ``efficiency.json`` with the
machine's load per step; the book shows the committed file, measured on an idle machine (a book built on a busy
one would show its neighbours' load), and CI measures at small sizes to prove the code runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import efficiency as eff
from .. import zoo
from ..cache import ArtifactCache
from ..multiscale import MultiScaleEncoder
from ..prompts import load_template_writer
from .common import Timer, environment, write_json

__all__ = ["MB", "LIT_DIM", "tower_sizes", "architecture_sizes", "memory_table", "encode_memory", "speed_table",
           "multiscale_table", "generation_speed", "cache_costs", "cost_table", "summary", "paper_shapes_tables",
           "Towers", "CacheCosts", "load_towers", "EfficiencySettings", "Measurements", "measure",
           "load_measurements"]

MB = 2**20
LIT_DIM = 256  # offline text zero-shot compares images and texts through LiT projections of this size


@dataclass
class Towers:
    """The image and text towers of one model, with the label the tables show."""

    model: str
    image: Any
    text: Any


def tower_sizes(towers: list[Towers]) -> pd.DataFrame:
    """Parameters and MB (parameters + buffers at their loaded dtype) of each model's two towers."""
    return pd.DataFrame([{"model": t.model, "tower": tower, "name": enc.name,
                          "parameters": eff.count_parameters(enc), "MB": eff.parameter_bytes(enc) / MB}
                         for t in towers for tower, enc in (("image", t.image), ("text", t.text))])


def architecture_sizes(archs: list[str]) -> pd.DataFrame:
    """Image- and text-tower parameters of open_clip architectures (random init: nothing downloaded)."""
    rows = []
    for arch in archs:
        n = eff.clip_tower_parameters(arch)
        rows.append({"architecture": arch, "image tower": n["image"], "text tower": n["text"],
                     "image share": n["image"] / (n["image"] + n["text"])})
    return pd.DataFrame(rows, columns=["architecture", "image tower", "text tower", "image share"])


def memory_table(scenarios: list[str], profile: str, batch: int, n_prompts: int, seed: int) -> pd.DataFrame:
    """Peak RSS of a fresh process per scenario (``efficiency.fresh_process_memory``), and its excess over the
    ``baseline`` process when that scenario is among them."""
    rows = []
    for scenario in scenarios:
        r = eff.fresh_process_memory(scenario, profile=profile, batch=batch, image_size=224, n_prompts=n_prompts,
                                     seed=seed)
        rows.append({"scenario": scenario, "peak RSS (MB)": r["peak_rss_bytes"] / MB,
                     "weights (MB)": r["parameter_bytes"] / MB, "seconds": r["seconds"]})
    memory = pd.DataFrame(rows, columns=["scenario", "peak RSS (MB)", "weights (MB)", "seconds"])
    base = memory.loc[memory.scenario == "baseline", "peak RSS (MB)"]
    memory["over baseline (MB)"] = memory["peak RSS (MB)"] - (base.iloc[0] if len(base) else 0.0)
    return memory


def encode_memory(encoder: Any, images: np.ndarray) -> eff.MemoryReport:
    """Memory of one ``encoder.encode`` call on ``images`` inside this process."""
    _, report = eff.peak_memory(lambda: encoder.encode(images, batch_size=len(images)))
    return report


def speed_table(towers: list[Towers], images: np.ndarray, class_names: list[str], prompts_per_class: int,
                repeats: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Images per second of three inference modes per model, and the one-time cost of encoding the class prompts.

    Modes: image tower only (LGCLIP: prototypes precomputed), image tower + cached class texts, image + text
    towers per call (the class prompts re-encoded with every batch). Prototypes and LiT projections are random
    stand-ins of the real shapes: their values do not change the cost. Returns (speed, text_once, prompts).
    """
    rng = np.random.default_rng(seed)
    k = len(class_names)
    templates = load_template_writer("clip-imagenet-templates", template="openai_imagenet")
    prompts = [p for ps in templates.write(class_names, n=prompts_per_class, seed=seed).values() for p in ps]
    rows, once = [], []
    for t in towers:
        img, txt = t.image, t.text

        def class_text(txt: Any = txt) -> np.ndarray:
            return txt.encode(prompts).reshape(k, prompts_per_class, -1).mean(1)

        # Scores are computed with torch, as the encoders are: a numpy matmul between two encoder calls wakes
        # OpenBLAS's own threads, which keep spinning and slowed the next encoder call by ~1.5x on 2 cores.
        cached = class_text()
        same_space = img.feature_dim == cached.shape[1]  # open_clip: one joint space; offline: LiT projections
        w_img = None if same_space else torch.from_numpy(
            rng.standard_normal((img.feature_dim, LIT_DIM)).astype(np.float32))
        w_txt = None if same_space else torch.from_numpy(
            rng.standard_normal((cached.shape[1], LIT_DIM)).astype(np.float32))
        protos = torch.from_numpy(rng.standard_normal((k, img.feature_dim)).astype(np.float32))

        def with_text(x: np.ndarray, text: np.ndarray, img: Any = img, same_space: bool = same_space,
                      w_img: Any = w_img, w_txt: Any = w_txt) -> torch.Tensor:
            f, t = torch.from_numpy(img.encode(x, batch_size=len(x))), torch.from_numpy(text)
            return f @ t.T if same_space else (f @ w_img) @ (t @ w_txt).T

        def image_only(x: np.ndarray, img: Any = img, protos: torch.Tensor = protos) -> torch.Tensor:
            return torch.from_numpy(img.encode(x, batch_size=len(x))) @ protos.T

        modes = {"image tower only": image_only,
                 "image + cached class texts": lambda x, c=cached, wt=with_text: wt(x, c),
                 "image + text towers per call": lambda x, ct=class_text, wt=with_text: wt(x, ct())}
        text_once = eff.throughput(lambda p, txt=txt: txt.encode(p), prompts, repeats=repeats)
        for how, fn in modes.items():
            r = eff.throughput(fn, images, repeats=repeats)
            rows.append({"model": t.model, "inference": how, "images/s": r.items_per_s, "ms/batch": 1e3 * r.median_s})
        once.append({"model": t.model, "text tower": txt.name, "prompts": len(prompts), "seconds": text_once.median_s})
    return pd.DataFrame(rows), pd.DataFrame(once), prompts


def multiscale_table(encoder: Any, images: np.ndarray, scale_counts: list[int], n_scales: int, batch: int,
                     repeats: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Images per second of multi-scale encoding with the largest ``s`` of ``n_scales`` scales, batched (all
    scales in one forward pass) or one pass per scale, against a single view; and the largest difference between
    the batched and per-scale features (they must agree)."""
    single = eff.throughput(lambda x: encoder.encode(x, batch_size=batch), images, repeats=repeats)
    rows = [{"scales": 1, "mode": "single view (no cropping)", "images/s": single.items_per_s}]
    for s in sorted(set(scale_counts) | {n_scales}):
        for batched in (True, False):
            m = MultiScaleEncoder(encoder, n_scales, seed=seed, scales=list(range(n_scales - s + 1, n_scales + 1)),
                                  batched=batched)
            t = eff.throughput(lambda x, m=m: m.encode(x, batch_size=batch), images, repeats=repeats)
            rows.append({"scales": s, "mode": "batched" if batched else "one pass per scale",
                         "images/s": t.items_per_s})
    ms = pd.DataFrame(rows)
    ms["slowdown vs single view"] = single.items_per_s / ms["images/s"]
    a = MultiScaleEncoder(encoder, n_scales, seed=seed, batched=True).encode(images[:16], batch_size=batch)
    b = MultiScaleEncoder(encoder, n_scales, seed=seed, batched=False).encode(images[:16], batch_size=batch)
    return ms, float(np.abs(a - b).max())


def generation_speed(generator: Any, class_names: list[str], batch_sizes: list[int], repeats: int) -> pd.DataFrame:
    """Seconds per generated image at each generator batch size (one prompt and one seed per image)."""
    rows = []
    for bs in batch_sizes:
        prompts = [f"A photo of a {class_names[i % len(class_names)]}." for i in range(bs)]
        t = eff.throughput(lambda p, bs=bs: generator.generate(p, list(range(10_000, 10_000 + bs)), batch_size=bs),
                           prompts, repeats=repeats)
        rows.append({"batch size": bs, "s/image": t.s_per_item, "images/s": t.items_per_s})
    return pd.DataFrame(rows)


@dataclass
class CacheCosts:
    """Two identical ``generate_images`` calls on an empty cache: the first generates, the second reads."""

    n_images: int
    image_shape: tuple[int, ...]
    first_s: float
    second_s: float
    hits: int
    misses: int
    cache_bytes: int
    identical: bool
    table: pd.DataFrame = field(repr=False)


def cache_costs(generator: Any, class_names: list[str], n_per_class: int) -> CacheCosts:
    """Generate ``n_per_class`` prototype images per class twice through a fresh temporary cache."""
    from ..generator import generate_images

    prompts = [f"A photo of a {c}." for c in class_names for _ in range(n_per_class)]
    seeds = np.tile(np.arange(n_per_class), len(class_names)).tolist()  # image i of every class uses seed i
    with tempfile.TemporaryDirectory() as tmp:
        cache = ArtifactCache(Path(tmp))

        def call() -> np.ndarray:
            return generate_images(generator, prompts, seeds, cache=cache, chunk=n_per_class, progress=False)

        first, t_first = eff.timed(call)
        second, t_second = eff.timed(call)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        hits, misses = cache.hits, cache.misses
    table = pd.DataFrame([{"call": "first (generates)", "seconds": t_first, "s/image": t_first / len(first)},
                          {"call": "second (cache hit)", "seconds": t_second, "s/image": t_second / len(first)}])
    return CacheCosts(len(first), tuple(first.shape[1:]), t_first, t_second, hits, misses, size,
                      bool(np.array_equal(first, second)), table)


def cost_table(ms: pd.DataFrame, n_scales: int, cache: CacheCosts, text_once_s: float) -> pd.DataFrame:
    """One-time and per-image seconds of LGCLIP (cold / warm cache), single-scale prototypes and text zero-shot,
    from the measurements above, with the number of images after which the one-time part is half the total."""
    single = ms[ms.scales.eq(1) & ms["mode"].eq("single view (no cropping)")]["images/s"].iloc[0]
    per_ms = 1 / ms[ms.scales.eq(n_scales) & ms["mode"].eq("batched")]["images/s"].iloc[0]
    per_single = 1 / single
    n = cache.n_images
    costs = pd.DataFrame([
        {"method": "LGCLIP, cold cache", "one-time s": cache.first_s + n * per_ms, "per image s": per_ms},
        {"method": "LGCLIP, warm cache", "one-time s": cache.second_s + n * per_ms, "per image s": per_ms},
        {"method": "prototypes only, warm cache", "one-time s": cache.second_s + n * per_single,
         "per image s": per_single},
        {"method": "text zero-shot (both towers)", "one-time s": text_once_s, "per image s": per_single},
    ])
    costs["images until one-time is half the cost"] = [eff.amortisation_point(o, p) for o, p in
                                                       zip(costs["one-time s"], costs["per image s"], strict=True)]
    return costs


def summary(sizes: pd.DataFrame, archs: pd.DataFrame, memory: pd.DataFrame, speed: pd.DataFrame, n_prompts: int,
            batch: int, ms: pd.DataFrame, n_scales: int, gen: pd.DataFrame, cache: CacheCosts,
            costs: pd.DataFrame) -> list[str]:
    """Markdown bullet points whose wording follows the measured numbers (the first model of each table)."""
    own = sizes[sizes.model == sizes.model.iloc[0]].set_index("tower")
    img_mb, txt_mb = own.MB["image"], own.MB["text"]
    ips = speed[speed.model == speed.model.iloc[0]].set_index("inference")["images/s"]
    at = ms[ms.scales == n_scales].set_index("mode")["slowdown vs single view"]
    cold, text = costs.iloc[0], costs.iloc[3]
    n_half = cold["images until one-time is half the cost"]
    lines = [f"* **Size.** At test time LGCLIP holds the {own.name['image']} image tower ({img_mb:.1f} MB of "
             f"weights) and not the {own.name['text']} text tower ({txt_mb:.1f} MB): "
             f"{txt_mb / (img_mb + txt_mb):.0%} of the two towers' weights are never loaded."]
    if len(archs):
        share = archs.set_index("architecture")["image share"]
        lines[0] += (" For the papers' CLIP backbones the text tower's share ranges from "
                     f"{1 - share.max():.0%} ({share.idxmax()}) to {1 - share.min():.0%} ({share.idxmin()}).")
    if {"image", "image+text"} <= set(memory.scenario):
        m = memory.set_index("scenario")["peak RSS (MB)"]
        lines.append(f"* **Memory.** A fresh process with the image tower peaked at {m['image']:.0f} MB, one with "
                     f"both towers at {m['image+text']:.0f} MB ({m['image+text'] - m['image']:+.0f} MB).")
    be = eff.break_even(cold["one-time s"], cold["per image s"], text["one-time s"], text["per image s"])
    lines += [
        f"* **Speed per image.** Image-only inference ran at "
        f"{ips['image tower only'] / ips['image + text towers per call']:.1f}x the throughput of inference that "
        f"re-encodes the {n_prompts} class prompts with every batch of {batch}, but at "
        f"{ips['image tower only'] / ips['image + cached class texts']:.2f}x that of a text zero-shot classifier with "
        "cached class embeddings: once class texts are cached, both do one image-tower pass per image.",
        f"* **Multi-scale.** {n_scales} scales made encoding {at['batched']:.1f}x slower than a single view when all "
        f"scales share one forward pass, {at['one pass per scale']:.1f}x with one pass per scale (identical "
        "features).",
        f"* **Generation** took {gen['s/image'].min():.3f} s per image at best (batch "
        f"{int(gen.loc[gen['s/image'].idxmin(), 'batch size'])}); the cache returned the same {cache.n_images} "
        f"images {cache.first_s / cache.second_s:.0f}x faster on the second call, so generation is paid once per "
        f"class set. With a cold cache its one-time work is half of the total after {n_half:,.0f} classified images; "
        + ("LGCLIP and text zero-shot never cross: LGCLIP costs more per image and more up front." if be is None
           else f"LGCLIP and text zero-shot cost the same in total at {be:,.0f} images."),
    ]
    return lines


def paper_shapes_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, float] | None:
    """Per-role measurements and full-run cost estimates from the ``paper-shapes`` results JSONs in ``folder``
    (written by ``lgclip reproduce lgclip|t2ipal --profile paper-shapes``); None when there are none.

    Returns (roles, full runs, assumed utilisation of the devices' peak).
    """
    shapes = {p.stem: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))}
    if not shapes:
        return None
    roles, runs = [], []
    for paper, res in shapes.items():
        for role, r in res["resources"]["roles"].items():
            loads = [c["loadavg"][0] for c in r.get("loadavg_per_call", [])]
            roles.append({"run": paper, "role": role, "items": r["items"], "s / item": r["seconds_per_item"],
                          "peak RSS (GiB)": r.get("rss_peak_gib"), **({"peak GPU (GiB)": r["gpu_peak_gib"]}
                                                                      if "gpu_peak_gib" in r else {}),
                          "load average (1 min)": f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""})
        for plan, p in res["paper_run_costs"]["plans"].items():
            t = p["total"]
            runs.append({"run": paper, "full run": plan, "CPU hours (this machine)": t["cpu_hours"],
                         "Colab T4 hours": t["colab-t4_hours"], "A100 hours": t["a100_hours"],
                         "UNet share of FLOPs": (p["roles"].get("sd_unet", {}).get("flops") or 0) / t["flops"]})
    util = float(next(iter(shapes.values()))["paper_run_costs"]["utilisation"])
    return pd.DataFrame(roles).round(3), pd.DataFrame(runs).round(2), util


def load_towers(profile: str) -> list[Towers]:
    """The profile's towers and the tiny random-initialised open_clip model (the papers' code path)."""
    return [Towers(f"{profile} profile", zoo.load("image_encoder", profile=profile),
                   zoo.load("text_encoder", profile=profile)),
            Towers("tiny open_clip (random init)", zoo.load("image_encoder", profile="tiny"),
                   zoo.load("text_encoder", profile="tiny"))]


@dataclass
class EfficiencySettings:
    """What ``measure`` times, and how often. The defaults are the book's; ``quick()`` is CI's size."""

    profile: str = "offline"
    dataset: str = "fashion-mnist"  # real images to time the encoders on (content does not change the cost)
    batch: int = 64
    repeats: int = 5
    text_prompts_per_class: int = 80
    n_multiscale_images: int = 128
    scale_counts: list[int] = field(default_factory=lambda: [1, 2, 5, 10])
    n_scales: int = 10
    n_per_class: int = 10
    gen_batch_sizes: list[int] = field(default_factory=lambda: [1, 10])
    memory_scenarios: list[str] = field(default_factory=lambda: ["baseline", "image", "image+text"])
    paper_archs: list[str] = field(default_factory=lambda: ["RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14"])
    seed: int = 2024

    @classmethod
    def quick(cls, **kw: Any) -> EfficiencySettings:
        base = dict(batch=32, repeats=3, text_prompts_per_class=8, n_multiscale_images=32, scale_counts=[1, 5, 10],
                    n_per_class=2, gen_batch_sizes=[1, 4], paper_archs=["RN50", "ViT-B-32"])
        return cls(**{**base, **kw})


@dataclass
class Measurements:
    """Every table of chapter 07 from one run, with its settings and the machine's load per step.

    ``to_json``/``from_json`` round-trip it, so a chapter shows a committed run exactly as a live one."""

    settings: EfficiencySettings
    sizes: pd.DataFrame
    archs: pd.DataFrame
    memory: pd.DataFrame
    encode_memory: dict[str, float]  # one encode call of ``batch`` images: python heap peak, RSS growth and before
    speed: pd.DataFrame
    text_once: pd.DataFrame
    n_prompts: int
    multiscale: pd.DataFrame
    multiscale_difference: float  # largest |batched - per-scale| feature difference (they must agree)
    generation: pd.DataFrame
    cache: CacheCosts
    costs: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)  # timings with the load during each, environment

    _TABLES = ("sizes", "archs", "memory", "speed", "text_once", "multiscale", "generation", "costs")

    def summary(self) -> list[str]:
        s = self.settings
        return summary(self.sizes, self.archs, self.memory, self.speed, self.n_prompts, s.batch, self.multiscale,
                       s.n_scales, self.generation, self.cache, self.costs)

    def to_json(self) -> dict[str, Any]:
        cache = {k: v for k, v in asdict(self.cache).items() if k != "table"}
        return {"what": "chapter 07's efficiency measurements (`lgclip measure-efficiency`)",
                "settings": asdict(self.settings), "encode_memory": self.encode_memory, "n_prompts": self.n_prompts,
                "multiscale_difference": self.multiscale_difference,
                "cache": {**cache, "table": self.cache.table.to_dict("records")},
                "tables": {t: getattr(self, t).to_dict("records") for t in self._TABLES},
                "manifest": self.manifest}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Measurements:
        cache = dict(d["cache"])
        cache = CacheCosts(**{**cache, "image_shape": tuple(cache["image_shape"]),
                              "table": pd.DataFrame(cache["table"])})
        tables = {t: pd.DataFrame(d["tables"][t]) for t in cls._TABLES}
        return cls(settings=EfficiencySettings(**d["settings"]), encode_memory=d["encode_memory"],
                   n_prompts=int(d["n_prompts"]), multiscale_difference=float(d["multiscale_difference"]),
                   cache=cache, manifest=d.get("manifest", {}), **tables)


def measure(settings: EfficiencySettings) -> Measurements:
    """Run every measurement of chapter 07 in order, timing each step with the machine's load next to it."""
    s, timer = settings, Timer()
    t0 = time.perf_counter()
    with timer("sizes"):
        towers = load_towers(s.profile)
        sizes, archs = tower_sizes(towers), architecture_sizes(s.paper_archs)
    with timer("memory"):
        memory = memory_table(s.memory_scenarios, s.profile, s.batch, 10 * s.text_prompts_per_class, s.seed)
        ds = zoo.load("dataset", s.dataset, split="test")
        real = ds.images[np.random.default_rng(s.seed).permutation(len(ds))[:max(s.batch, s.n_multiscale_images)]]
        rep = encode_memory(towers[0].image, real[:s.batch])
    with timer("speed"):
        speed, text_once, prompts = speed_table(towers, real[:s.batch], list(ds.prompt_names),
                                                s.text_prompts_per_class, s.repeats, s.seed)
    with timer("multiscale"):
        ms, ms_diff = multiscale_table(towers[0].image, real[:s.n_multiscale_images], s.scale_counts, s.n_scales,
                                       s.batch, max(1, s.repeats // 2), s.seed)
    with timer("generation"):
        generator = zoo.load("generator", profile=s.profile)
        gen = generation_speed(generator, list(ds.prompt_names), s.gen_batch_sizes, max(1, s.repeats // 2))
        cache = cache_costs(generator, list(ds.prompt_names), s.n_per_class)
    costs = cost_table(ms, s.n_scales, cache, text_once.seconds.iloc[0])
    manifest = {**timer.manifest(), "total_s": round(time.perf_counter() - t0, 2),
                "models": {"image_encoder": towers[0].image.config(), "text_encoder": towers[0].text.name,
                           "generator": generator.config()},
                "environment": environment(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    memory_report = {"python_peak_bytes": rep.python_peak_bytes, "rss_increase_bytes": rep.rss_increase_bytes,
                     "rss_before_bytes": rep.rss_before_bytes}
    return Measurements(s, sizes, archs, memory, memory_report, speed, text_once, len(prompts), ms, ms_diff, gen,
                        cache, costs, manifest)


def load_measurements(path: str | Path) -> Measurements:
    """A committed ``efficiency.json`` (written by ``lgclip measure-efficiency``)."""
    from ..errors import MissingAssetError

    path = Path(path)
    if not path.is_file():
        raise MissingAssetError(str(path), f"lgclip measure-efficiency --out {path.parent}",
                                "or set the chapter's RESULTS_JSON = None to measure now")
    return Measurements.from_json(json.loads(path.read_text()))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="directory for efficiency.json")
    p.add_argument("--quick", action="store_true", help="CI's sizes (about a minute)")
    p.add_argument("--profile", default="offline", choices=["offline", "paper"])
    p.add_argument("--seed", type=int, default=2024)


def run(args: argparse.Namespace) -> int:
    kw = dict(profile=args.profile, seed=args.seed)
    m = measure(EfficiencySettings.quick(**kw) if args.quick else EfficiencySettings(**kw))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "efficiency.json", m.to_json())
    print("\n".join(m.summary()))
    print(f"wrote {out / 'efficiency.json'} in {m.manifest['total_s']:.0f} s")
    return 0
