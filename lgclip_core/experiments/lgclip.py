"""Reproduce LGCLIP: prompts -> generated prototypes -> multi-scale features -> classification, with baselines.

Every method in one run sees the same test images and the same features. Zero-shot methods use no real
labelled image; the real-image references (k-shot prototypes, class means, a linear probe) are there for scale.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import zoo
from ..cache import ArtifactCache, default_cache, process_state
from ..errors import check_class_names
from ..generator import generate_images
from ..multiscale import MultiScaleEncoder
from ..prompts import write_prompts
from ..prototypes import HybridClassifier, PrototypeClassifier, l2n
from .common import Timer, cached_features, environment, write_json

ACCURACY_KEYS = ("lgclip", "prototypes_only", "llm_only", "multiscale_only", "text_zero_shot", "hybrid",
                 "real_1shot", "real_10shot", "real_class_means", "linear_probe_real")
PAPER_TEMPLATE = "A photo of a {}."


@dataclass
class LGCLIPConfig:
    """Sizes and seeds of one run. ``quick()`` and ``full()`` are the two named presets."""

    profile: str = "offline"
    dataset: str | None = None  # None: the profile's default
    backbone: str | None = None
    generator: str | None = None
    prompt_writer: str | None = None
    n_test: int | None = None  # None: the whole test split; else a stratified subset
    n_per_class: int = 10  # the paper's N
    n_max: int = 20  # images generated per class and prompt mode (for the N ablation)
    n_descriptions: int = 10
    n_scales: int = 10
    seed: int = 2024
    lit_per_class: int = 60  # generated images (with varied captions) to train the offline LiT projections
    real_per_class: int = 500  # real TRAIN images per class for the real-image references
    kshot_draws: int = 5
    ablation_n: tuple[int, ...] = (1, 2, 5, 10, 20)
    ablation_scales: tuple[int, ...] = (1, 2, 3, 5, 10)
    ablation_sizes: tuple[int, ...] = (56, 112, 224)
    ablation_size_n_test: int = 1000
    hybrid_weight: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, **kw: Any) -> LGCLIPConfig:
        base = dict(n_test=1000, n_max=10, lit_per_class=20, real_per_class=100, ablation_n=(1, 2, 5, 10),
                    ablation_size_n_test=200)
        return cls(**{**base, **kw})

    @classmethod
    def full(cls, **kw: Any) -> LGCLIPConfig:
        return cls(**kw)


def prompt_sets(names: list[str], llm: dict[str, list[str]], n: int) -> dict[str, list[list[str]]]:
    """Per prompt mode, the prompt of image i of each class (image i always gets seed i)."""
    return {
        "template": [[PAPER_TEMPLATE.format(c)] * n for c in names],
        "llm_first": [[llm[c][0]] * n for c in names],  # the paper's code: the FIRST description for all N
        "llm_per_image": [[llm[c][i % len(llm[c])] for i in range(n)] for c in names],
    }


def _first_n(labels: np.ndarray, n: int, n_max: int) -> np.ndarray:
    """Indices of images 0..n-1 of each class in a (class-major, n_max per class) layout."""
    k = len(labels) // n_max
    return np.concatenate([np.arange(c * n_max, c * n_max + n) for c in range(k)])


def run_lgclip(cfg: LGCLIPConfig, out: str | Path | None = None, cache: ArtifactCache | None = None,
               progress: bool = True) -> dict[str, Any]:
    t_start = time.perf_counter()
    timer = Timer()
    cache = cache or default_cache()
    rng_seed = cfg.seed
    with timer("load_models"):
        ds = zoo.load("dataset", cfg.dataset, cfg.profile, split="test")
        test = ds.stratified(cfg.n_test // len(ds.classnames) if cfg.n_test else None, seed=rng_seed)
        names = check_class_names(ds.prompt_names)
        k = len(names)
        encoder = zoo.load("image_encoder", cfg.backbone, cfg.profile)
        generator = zoo.load("generator", cfg.generator, cfg.profile)
        template_writer = zoo.load("prompt_writer", "template", cfg.profile)
        llm_writer = zoo.load("prompt_writer", cfg.prompt_writer, cfg.profile)

    with timer("prompts"):
        llm = write_prompts(llm_writer, names, n=cfg.n_descriptions, seed=rng_seed, cache=cache)
        templates = write_prompts(template_writer, names, n=1, seed=rng_seed, cache=cache)
    sets = prompt_sets(names, llm, cfg.n_max)
    gen_labels = np.repeat(np.arange(k), cfg.n_max)
    seeds = np.tile(np.arange(cfg.n_max), k)  # image i of every class uses seed i

    images: dict[str, np.ndarray] = {}
    with timer("generation"):
        for mode, prompts in sets.items():
            flat = [p for row in prompts for p in row]
            images[mode] = generate_images(generator, flat, seeds.tolist(), cache=cache, chunk=cfg.n_max,
                                           progress=progress)

    ms = MultiScaleEncoder(encoder, cfg.n_scales, seed=rng_seed)
    enc_cfg = encoder.config()

    def single(imgs: np.ndarray, desc: str) -> np.ndarray:
        return cached_features(cache, {"kind": "global", "encoder": enc_cfg}, imgs,
                               lambda x, i: encoder.encode(x), progress=progress, desc=desc)

    def per_scale(imgs: np.ndarray, desc: str) -> np.ndarray:  # (S, N, D)
        f = cached_features(cache, {"kind": "multiscale", "ms": ms.config()}, imgs,
                            lambda x, i: ms.encode_per_scale(x, start_index=i).transpose(1, 0, 2),
                            progress=progress, desc=desc, chunk=250)
        return f.transpose(1, 0, 2)

    def fuse(ps: np.ndarray, scales: list[int]) -> np.ndarray:
        w = np.asarray(scales, np.float32) / sum(scales)
        return l2n(np.tensordot(w, ps[[s - 1 for s in scales]], axes=1))

    all_scales = list(range(1, cfg.n_scales + 1))
    with timer("features_generated"):
        g_single = {m: single(x, f"features {m}") for m, x in images.items()}
        g_ps = {m: per_scale(x, f"multi-scale {m}") for m, x in images.items()}
    with timer("features_test"):
        t_single = single(test.images, "features test")
        t_ps = per_scale(test.images, "multi-scale test")
    t_multi = fuse(t_ps, all_scales)
    g_multi = {m: fuse(v, all_scales) for m, v in g_ps.items()}
    y = test.labels

    def proto(gen_feats: np.ndarray, test_feats: np.ndarray, n: int = cfg.n_per_class, m: int = 1,
              center: bool = False) -> float:
        idx = _first_n(gen_labels, n, cfg.n_max)
        clf = PrototypeClassifier(n_prototypes=m, classes=np.arange(k), center=center).fit(gen_feats[idx],
                                                                                            gen_labels[idx])
        return float(clf.score(test_feats, y))

    acc: dict[str, float] = {}
    with timer("classify"):
        acc["lgclip"] = proto(g_multi["llm_first"], t_multi)
        acc["prototypes_only"] = proto(g_single["template"], t_single)
        acc["llm_only"] = proto(g_single["llm_first"], t_single)
        acc["multiscale_only"] = proto(g_multi["template"], t_multi)
        lgclip_clf = PrototypeClassifier(classes=np.arange(k)).fit(
            g_multi["llm_first"][_first_n(gen_labels, cfg.n_per_class, cfg.n_max)],
            gen_labels[_first_n(gen_labels, cfg.n_per_class, cfg.n_max)])
        lgclip_pred = lgclip_clf.predict(t_multi)

    with timer("text_zero_shot"):
        text_scores, text_info = _text_zero_shot(cfg, names, llm, templates, encoder, generator, t_single,
                                                 cache, progress)
        acc["text_zero_shot"] = float(np.mean(text_scores.argmax(1) == y))
        hyb = HybridClassifier(cfg.hybrid_weight, classes=np.arange(k))
        idx = _first_n(gen_labels, cfg.n_per_class, cfg.n_max)
        hyb.fit(g_multi["llm_first"][idx], gen_labels[idx])
        acc["hybrid"] = hyb.score(t_multi, y, text_scores)

    with timer("real_references"):
        real = _real_references(cfg, encoder, single, t_single, y, k)
    acc.update(real)
    # beyond the paper, reported next to it
    acc["lgclip_llm_per_image"] = proto(g_multi["llm_per_image"], t_multi)
    acc["lgclip_3_prototypes"] = proto(g_multi["llm_per_image"], t_multi, n=cfg.n_max, m=3)
    acc["lgclip_centered"] = proto(g_multi["llm_first"], t_multi, center=True)  # transductive: the test mean

    with timer("ablations"):
        ablations = {
            "n_per_class": {str(n): {"lgclip": proto(g_multi["llm_first"], t_multi, n=n),
                                     "prototypes_only": proto(g_single["template"], t_single, n=n)}
                            for n in cfg.ablation_n if n <= cfg.n_max},
            "prompts": {m: {"single_scale": proto(g_single[m], t_single), "multiscale": proto(g_multi[m], t_multi)}
                        for m in sets},
            "n_scales": {str(s): proto(fuse(g_ps["llm_first"], all_scales[-s:]), fuse(t_ps, all_scales[-s:]))
                         for s in cfg.ablation_scales if s <= cfg.n_scales},
            "hybrid_weight": {str(w): HybridClassifier(w, classes=np.arange(k)).fit(
                g_multi["llm_first"][idx], gen_labels[idx]).score(t_multi, y, text_scores)
                for w in (0.0, 0.25, 0.5, 0.75, 1.0)},
            "input_size": _size_ablation(cfg, encoder, images["template"], gen_labels, test, cache, progress),
        }

    result: dict[str, Any] = {
        "profile": cfg.profile, "dataset": test.name, "backbone": encoder.name, "generator": generator.name,
        "prompt_writer": llm_writer.config().get("name", cfg.prompt_writer), "n_test": int(len(test)),
        "n_per_class": cfg.n_per_class, "n_classes": k, "classnames": ds.classnames,
        "accuracy": acc, "ablations": ablations, "text_zero_shot": text_info,
        "timings_s": {**timer.times, "total": round(time.perf_counter() - t_start, 2)},
        "config": asdict(cfg),
        "manifest": {
            "models": {"image_encoder": enc_cfg, "generator": generator.config(),
                       "prompt_writer": llm_writer.config(), "template_writer": template_writer.config()},
            "dataset": {"name": test.name, "split": "test", "protocol": ds.protocol, "n": int(len(test))},
            "seeds": {"global": cfg.seed, "image_i_seed": "i", "multiscale_crops": cfg.seed},
            "cache": cache.manifest(), "environment": environment(),
        },
        "prompts": {"llm": llm, "template": templates},
    }
    if cfg.profile == "paper-shapes":  # random weights: costs and memory per role, never accuracies or figures
        from ..paper_shapes import stamp_result

        stamp_result(result, paper="lgclip", settings=asdict(cfg))
        if out is not None and process_state()[0] == 0:
            Path(out).mkdir(parents=True, exist_ok=True)
            write_json(Path(out) / "lgclip.json", result)
        return result
    if out is not None and process_state()[0] == 0:  # under accelerate launch: process 0 writes
        _write_outputs(Path(out), result, lgclip_pred, y, images, gen_labels, names, t_single, t_multi,
                       g_multi["llm_first"], cfg)
    return result


def _text_zero_shot(cfg: LGCLIPConfig, names: list[str], llm: dict[str, list[str]],
                    templates: dict[str, list[str]], encoder: Any, generator: Any, test_single: np.ndarray,
                    cache: ArtifactCache, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """Text zero-shot scores (N, K). Paper profile: CLIP's own text tower. Offline: a LiT-style aligner trained on
    GENERATED images and their captions (no real image), then class prompts -> text space."""
    from ..prompts import load_template_writer

    text_encoder = zoo.load("text_encoder", cfg.backbone if cfg.profile != "offline" else None, cfg.profile)
    imagenet = load_template_writer("clip-imagenet-templates", template="openai_imagenet")
    class_prompts = imagenet.write(names, n=80, seed=cfg.seed)

    def class_text(prompts: dict[str, list[str]], embed: Any) -> np.ndarray:
        return l2n(np.stack([embed(text_encoder.encode(prompts[c])).mean(0) for c in names]))

    if cfg.profile != "offline":  # image features are already in CLIP's joint space
        t = class_text(class_prompts, lambda f: f)
        return test_single @ t.T, {"method": "CLIP text tower, 80 ImageNet templates averaged"}
    from ..alignment import LiTAligner

    k = len(names)
    per = cfg.lit_per_class
    caps = [[(llm[c] + class_prompts[c][:per])[i % (len(llm[c]) + min(per, 80))] for i in range(per)] for c in names]
    flat = [p for row in caps for p in row]
    seeds = np.tile(np.arange(1000, 1000 + per), k).tolist()  # disjoint from the prototype seeds 0..n_max-1
    imgs = generate_images(generator, flat, seeds, cache=cache, chunk=per, progress=progress)
    feats = cached_features(cache, {"kind": "global", "encoder": encoder.config()}, imgs,
                            lambda x, i: encoder.encode(x), progress=progress, desc="features LiT")
    tfeats = text_encoder.encode(flat)
    groups = np.repeat(np.arange(k), per)
    aligner = LiTAligner(seed=cfg.seed).fit(feats, tfeats, groups, progress=progress)
    t = class_text(class_prompts, aligner.embed_texts)
    scores = aligner.embed_images(test_single) @ t.T
    return scores, {"method": "LiT projections (EfficientNet-Lite0 + MiniLM, locked) trained on generated images",
                    "n_pairs": len(flat), "final_loss": aligner.loss_history[-1], "config": aligner.config()}


def _real_references(cfg: LGCLIPConfig, encoder: Any, single: Any, t_single: np.ndarray, y: np.ndarray,
                     k: int) -> dict[str, float]:
    """Not zero-shot, for scale: real k-shot prototypes (mean of draws), class means, a linear probe."""
    from sklearn.linear_model import LogisticRegression

    train = zoo.load("dataset", cfg.dataset, cfg.profile, split="train").stratified(cfg.real_per_class,
                                                                                    seed=cfg.seed)
    f = single(train.images, "features real train")
    out: dict[str, float] = {}
    for shots in (1, 10):
        accs = []
        for d in range(cfg.kshot_draws):
            rng = np.random.default_rng(cfg.seed + d)
            # a class with fewer than `shots` real images (tiny data sets) contributes all it has
            idx = np.concatenate([rng.choice(pool, min(shots, len(pool)), replace=False)
                                  for pool in (np.flatnonzero(train.labels == c) for c in range(k))])
            accs.append(PrototypeClassifier(classes=np.arange(k)).fit(f[idx], train.labels[idx]).score(t_single, y))
        out[f"real_{shots}shot"] = float(np.mean(accs))
    out["real_class_means"] = float(PrototypeClassifier(classes=np.arange(k)).fit(f, train.labels).score(t_single, y))
    lr = LogisticRegression(max_iter=2000, C=1.0)
    out["linear_probe_real"] = float(lr.fit(f, train.labels).score(t_single, y))
    return out


def _size_ablation(cfg: LGCLIPConfig, encoder: Any, gen_images: np.ndarray, gen_labels: np.ndarray, test: Any,
                   cache: ArtifactCache, progress: bool) -> dict[str, float]:
    """Prototypes-only accuracy at several encoder input resolutions (single scale, a test subset)."""
    if not hasattr(encoder, "with_input_size"):
        return {}
    sub = test.stratified(cfg.ablation_size_n_test // len(test.classnames), seed=cfg.seed + 1)
    idx = _first_n(gen_labels, cfg.n_per_class, cfg.n_max)
    original = encoder.input_size
    out = {}
    try:
        for size in cfg.ablation_sizes:
            encoder.with_input_size(size)
            what = {"kind": "global", "encoder": encoder.config()}
            g = cached_features(cache, what, gen_images[idx], lambda x, i: encoder.encode(x), progress=False)
            t = cached_features(cache, what, sub.images, lambda x, i: encoder.encode(x), progress=progress,
                                desc=f"features {size}px")
            clf = PrototypeClassifier(classes=np.arange(len(test.classnames))).fit(g, gen_labels[idx])
            out[str(size)] = float(clf.score(t, sub.labels))
    finally:
        encoder.with_input_size(original)
    return out


def _write_outputs(out: Path, result: dict[str, Any], pred: np.ndarray, y: np.ndarray,
                   images: dict[str, np.ndarray], gen_labels: np.ndarray, names: list[str], t_single: np.ndarray,
                   t_multi: np.ndarray, protos: np.ndarray, cfg: LGCLIPConfig) -> None:
    from .. import figures

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "lgclip.json", result)
    with open(out / "lgclip.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "accuracy", "zero_shot"])
        for m, a in result["accuracy"].items():
            w.writerow([m, f"{a:.4f}", "no" if m.startswith(("real_", "linear_probe")) else "yes"])
    figures.confusion_matrix(y, pred, names, out / "confusion_lgclip.png",
                             title=f"LGCLIP on {result['dataset']} (top-1 {result['accuracy']['lgclip']:.3f})")
    idx = _first_n(gen_labels, min(8, cfg.n_per_class), cfg.n_max)
    figures.image_grid(images["llm_first"][idx], rows=len(names), labels=names, path=out / "prototypes_grid.png")
    figures.feature_map(t_multi, y, protos[_first_n(gen_labels, cfg.n_per_class, cfg.n_max)],
                        gen_labels[_first_n(gen_labels, cfg.n_per_class, cfg.n_max)], names,
                        out / "feature_map.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="offline", choices=sorted(zoo.PROFILES))
    p.add_argument("--dataset", default=None, help="a dataset name registered in the zoo (default: the profile's)")
    p.add_argument("--backbone", default=None, help="an image encoder name registered in the zoo")
    p.add_argument("--quick", action="store_true", help="1,000 test images and smaller ablations (~5 min)")
    p.add_argument("--n-per-class", type=int, default=10)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--out", required=True, help="output directory (lgclip.json, lgclip.csv, figures)")


def run(args: argparse.Namespace) -> int:
    from ..params import validate_run  # one-line errors in seconds for wrong values (types, ranges, names)

    validate_run("lgclip", profile=args.profile, dataset=args.dataset, backbone=args.backbone,
                 n_per_class=args.n_per_class, n_test=args.n_test, seed=args.seed)
    for role, name in (("dataset", args.dataset), ("image_encoder", args.backbone)):
        if name:
            zoo.resolve(role, name, args.profile)  # unknown names fail fast, listing the registered ones
    kw = dict(profile=args.profile, dataset=args.dataset, backbone=args.backbone, n_per_class=args.n_per_class,
              seed=args.seed)
    if args.n_test:
        kw["n_test"] = args.n_test
    if args.profile == "paper-shapes" and args.quick:  # few classes, images and steps; real resolutions
        from ..paper_shapes import LGCLIP_QUICK

        kw.update(LGCLIP_QUICK)
    cfg = LGCLIPConfig.quick(**kw) if args.quick else LGCLIPConfig.full(**kw)
    result = run_lgclip(cfg, out=args.out)
    if args.profile == "paper-shapes":
        from ..paper_shapes import print_summary

        print_summary(result, Path(args.out) / "lgclip.json")
        return 0
    width = max(len(m) for m in result["accuracy"])
    for m, a in result["accuracy"].items():
        print(f"{m:<{width}}  {a:.4f}")
    print(f"wrote {Path(args.out) / 'lgclip.json'} in {result['timings_s']['total']:.0f} s")
    return 0
