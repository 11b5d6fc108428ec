"""`lgclip eval-generator`: wires dataset, prompt writer, generator and image encoder into the generator's metrics.

All metrics are on EfficientNet-Lite0 features, so the numbers speak the classifier's language; the metric
functions themselves live in ``generator/evaluation.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .. import zoo
from ..cache import ArtifactCache, default_cache
from ..generator import generate_images
from ..generator.card import record_metrics
from ..generator.evaluation import cas_classifier, measure_throughput, score_generated
from ..prompts import write_prompts
from .common import Timer, cached_features, environment, write_json

TEMPLATE = "A photo of a {}."


def _features(enc: Any, images: np.ndarray, cache: ArtifactCache, progress: bool, desc: str = "") -> np.ndarray:
    """Cached single-view features of the classifier's encoder (the space every metric is computed in)."""
    return cached_features(cache, {"kind": "global", "encoder": enc.config()}, images,
                           lambda x, i: enc.encode(x), progress=progress, desc=desc)


def _per_class_set(names: list[str], per_class: int) -> tuple[list[str], list[int], np.ndarray]:
    """Template prompts, seeds (0..per_class-1 in every class) and labels of a class-major generated set."""
    k = len(names)
    return ([TEMPLATE.format(c) for c in names for _ in range(per_class)], np.tile(np.arange(per_class), k).tolist(),
            np.repeat(np.arange(k), per_class))


def _throughput_prompts(names: list[str], n: int = 100) -> list[str]:
    return [TEMPLATE.format(names[i % len(names)]) for i in range(n)]


def evaluate_generator(per_class: int = 100, real_per_class: int = 1000, n_test: int | None = None,
                       seed: int = 2024, generator_name: str | None = None, cache: ArtifactCache | None = None,
                       progress: bool = True, dataset: str | None = None) -> dict[str, Any]:
    """The generator trained on ``dataset`` (default: the profile's), scored against that data set's real images."""
    timer = Timer()
    cache = cache or default_cache()
    gen = zoo.load("generator", generator_name or zoo.generator_for("offline", dataset))
    enc = zoo.load("image_encoder")
    train = zoo.load("dataset", dataset, split="train").stratified(real_per_class, seed=seed)
    test = zoo.load("dataset", dataset, split="test")
    test = test.stratified(n_test // len(test.classnames) if n_test else None, seed=seed)
    names = train.prompt_names
    llm = write_prompts(zoo.load("prompt_writer"), names, n=10, seed=seed, cache=cache)

    prompts, seeds, labels = _per_class_set(names, per_class)
    with timer("generate"):
        tmpl = generate_images(gen, prompts, seeds, cache=cache, chunk=per_class, progress=progress)
        llm_imgs = generate_images(gen, [llm[c][0] for c in names for _ in range(per_class)], seeds, cache=cache,
                                   chunk=per_class, progress=progress)
    with timer("features"):
        f_train, f_test, f_tmpl, f_llm = (_features(enc, x, cache, progress, f"features {what}") for x, what in (
            (train.images, "real train"), (test.images, "real test"), (tmpl, "generated (template)"),
            (llm_imgs, "generated (LLM)")))
    with timer("metrics"):
        scores = score_generated(f_train, train.labels, f_test, test.labels, f_tmpl, f_llm, labels, names, seed)
    with timer("throughput"):
        ips, throughput_conditions = measure_throughput(gen, _throughput_prompts(names))
    n_generated = scores.pop("n_generated")
    return {
        **scores,
        "images_per_s": float(ips), "throughput_conditions": throughput_conditions,
        "n_generated": n_generated, "n_real_train": int(len(f_train)), "n_test": int(len(f_test)),
        "sampling": {"steps": gen.steps, "guidance_scale": gen.guidance_scale},
        "generator": gen.config(), "encoder": enc.config(), "dataset": test.name, "seed": seed,
        "timings_s": timer.times,
        "manifest": {"cache": cache.manifest(), "environment": environment(), "load_per_timing": timer.load,
                     "llm_prompts_first": {c: llm[c][0] for c in names}},
    }


def speed_cas_curve(steps: tuple[int, ...] = (4, 6, 8, 12, 20), precisions: tuple[str, ...] = ("fp32", "bf16"),
                    per_class: int = 50, real_per_class: int = 1000, seed: int = 2024,
                    cache: ArtifactCache | None = None, progress: bool = True,
                    dataset: str | None = None) -> dict[str, Any]:
    """CAS and images/s of the offline generator for each (precision, sampling steps): what each setting costs
    and what it buys. One CAS classifier (real train features), the same prompts and seeds for every setting."""
    from ..precision import native_bf16

    cache = cache or default_cache()
    base = zoo.load("generator", zoo.generator_for("offline", dataset))
    enc = zoo.load("image_encoder")
    train = zoo.load("dataset", dataset, split="train").stratified(real_per_class, seed=seed)
    clf = cas_classifier(_features(enc, train.images, cache, False), train.labels)
    prompts, seeds, labels = _per_class_set(train.prompt_names, per_class)
    rows = []
    for precision in precisions:
        if precision == "bf16" and not native_bf16():
            continue  # emulated bf16 is slower than fp32: not a point anyone would choose
        for n_steps in steps:
            gen = base.with_sampling(steps=n_steps, precision=precision)
            imgs = generate_images(gen, prompts, seeds, cache=cache, chunk=per_class, progress=progress)
            ips, cond = measure_throughput(gen, _throughput_prompts(train.prompt_names))
            rows.append({"precision": precision, "steps": n_steps,
                         "cas": float(clf.score(_features(enc, imgs, cache, False), labels)),
                         "images_per_s": float(ips), "throughput_conditions": cond})
    return {"what": "offline generator: CAS (template prompts) and images/s per precision and sampling steps",
            "rows": rows, "per_class": per_class, "real_per_class": real_per_class, "seed": seed,
            "guidance_scale": base.guidance_scale, "default": {"steps": base.steps, "precision": base.precision},
            "generator": {"name": base.name, "revision": base.revision}, "encoder": enc.config(),
            "manifest": {"cache": cache.manifest(), "environment": environment()}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="directory for generator.json")
    p.add_argument("--quick", action="store_true", help="20 images per class, 200 real per class, 2,000 test")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--dataset", default=None, choices=sorted(zoo.OFFLINE_GENERATORS),
                   help="the offline data set whose generator is measured (default: fashion-mnist)")
    p.add_argument("--curve", action="store_true",
                   help="instead: CAS and images/s per precision and sampling steps -> generator_curve.json")
    p.add_argument("--write-card", action="store_true",
                   help="also record the metrics in the committed pipeline's card (maintainers)")


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The metrics, then the conditions of the throughput number (flagged when the machine was busy)."""
    lines = [f"{key:<22} {result[key]:.4f}" for key in ("cas", "cas_llm_prompts", "fd_generated_vs_test",
                                                        "fd_train_vs_test", "prompt_sensitivity", "images_per_s")]
    cond = result["throughput_conditions"]
    lines.append(f"{'throughput measured':<22} load average {cond['load_before']['loadavg_1m_5m_15m'][0]:.2f} "
                 f"before, {cond['load_after']['loadavg_1m_5m_15m'][0]:.2f} after, "
                 f"{cond['load_before']['torch_threads']} torch threads on {cond['load_before']['usable_cpus']} CPUs"
                 + (" -- BUSY machine: re-measure on an idle one" if cond["busy"] else ""))
    return lines


def run(args: argparse.Namespace) -> int:
    if args.curve:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        curve = speed_cas_curve(dataset=args.dataset,
                                **(dict(steps=(4, 12), per_class=10, real_per_class=100) if args.quick else {}))
        write_json(out / "generator_curve.json", curve)
        for r in curve["rows"]:
            print(f"{r['precision']:>5} {r['steps']:>3} steps  CAS {r['cas']:.3f}  {r['images_per_s']:6.1f} images/s")
        print(f"wrote {out / 'generator_curve.json'}")
        return 0
    kw: dict[str, Any] = dict(per_class=20, real_per_class=200, n_test=2000) if args.quick else {}
    result = evaluate_generator(seed=args.seed, dataset=args.dataset, **kw)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "generator.json", result)
    print("\n".join(summary_lines(result)))
    if args.write_card and not args.quick:
        backend = zoo.resolve("generator", zoo.generator_for("offline", args.dataset))
        card_path = record_metrics(zoo.asset_path(backend.kwargs["asset"]), result)
        print(f"metrics recorded in {card_path}")
    print(f"wrote {out / 'generator.json'}")
    return 0
