"""Reproduce LGCLIP: prompts -> generated prototypes -> multi-scale features -> classification, with baselines.

Every method in one run sees the same test images and the same features. Zero-shot methods use no real
labelled image; the real-image references (k-shot prototypes, class means, a linear probe) are there for scale.

Where the authors' released code and ours differ, the run reads the choice from ``protocols`` (paper
"lgclip"): ``LGCLIPConfig.protocol`` / ``--protocol`` "authors" or "clean" (None: the profile's default). The
result names the protocol and its choices; a second run with the other protocol into the same folder keeps the
first one's headline accuracies under ``by_protocol``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import protocols, zoo
from ..cache import ArtifactCache, default_cache, process_state
from ..errors import BadInputError, check_class_names
from ..generator import generate_images, jpeg_roundtrip
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
    input_size: int | None = None  # the encoder's input resolution in pixels (None: the zoo's, 112 for Lite0)
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
    protocol: str | None = None  # "authors" | "clean"; None: protocols.default_protocol(profile)
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


@dataclass
class GeneratedSet:
    """One prompt mode's generated images with what made each: class label, seed and prompt (row i = image i)."""

    mode: str
    images: np.ndarray
    labels: np.ndarray
    seeds: np.ndarray
    prompts: list[str]
    n_max: int  # images per class; class c holds rows c * n_max .. (c + 1) * n_max - 1, image i with seed i

    def first(self, n: int) -> np.ndarray:
        """Rows of images 0..n-1 of every class."""
        return np.flatnonzero(self.seeds < n)


@dataclass
class FeatureSet:
    """One image collection's features in every view: single scale (N, D) and per crop scale (S, N, D)."""

    single: np.ndarray
    per_scale: np.ndarray

    def fused(self, scales: list[int]) -> np.ndarray:
        """The paper's weighted fusion of the given scales (weights s / sum(scales)), L2-normalised."""
        w = np.asarray(scales, np.float32) / sum(scales)
        return l2n(np.tensordot(w, self.per_scale[[s - 1 for s in scales]], axes=1))


def generate_sets(generator: Any, names: list[str], llm: dict[str, list[str]], n_max: int, finish: Callable,
                  cache: ArtifactCache, progress: bool) -> dict[str, GeneratedSet]:
    """Step: n_max images per class and prompt mode; image i of every class uses seed i."""
    k = len(names)
    labels, seeds = np.repeat(np.arange(k), n_max), np.tile(np.arange(n_max), k)
    out = {}
    for mode, prompts in prompt_sets(names, llm, n_max).items():
        flat = [p for row in prompts for p in row]
        images = finish(generate_images(generator, flat, seeds.tolist(), cache=cache, chunk=n_max,
                                        progress=progress))
        out[mode] = GeneratedSet(mode, images, labels, seeds, flat, n_max)
    return out


def top_n_by_text(scores: np.ndarray, n: int, pool: int, n_max: int) -> np.ndarray:
    """The authors' choice of n of a class's images 0..pool-1 (class-major layout, n_max per class).

    ``scores`` (N, K): each generated image's similarity to every class's text feature. Images that the text
    classifies as their own class come first, each group by descending similarity to the own class's text
    (LG-CLIP text_gen_Ngen_made.py:191-217); ties keep the image order.
    """
    scores = np.asarray(scores)
    k = len(scores) // n_max
    if not 1 <= n <= pool <= n_max or scores.shape[1] != k:
        raise BadInputError(f"need 1 <= n <= pool <= n_max and scores of shape (k * n_max, k); got n={n}, "
                            f"pool={pool}, n_max={n_max}, scores {scores.shape}")
    out = []
    for c in range(k):
        idx = np.arange(c * n_max, c * n_max + pool)
        own, correct = scores[idx, c], scores[idx].argmax(1) == c
        out.append(idx[np.lexsort((-own, ~correct))[:n]])  # the last key sorts first: correct, then similarity
    return np.concatenate(out)


def _load_encoder(cfg: LGCLIPConfig) -> Any:
    """The zoo's image encoder, at ``cfg.input_size`` where set (towers with a fixed input size refuse it)."""
    if not cfg.input_size:
        return zoo.load("image_encoder", cfg.backbone, cfg.profile)
    if not zoo.resolve("image_encoder", cfg.backbone, cfg.profile).accepts("input_size"):
        raise BadInputError(f"input_size={cfg.input_size}: the encoder of profile {cfg.profile!r} has a fixed input "
                            "size (CLIP towers); leave --input-size out")
    return zoo.load("image_encoder", cfg.backbone, cfg.profile, input_size=int(cfg.input_size))


def _load_generator(cfg: LGCLIPConfig, proto: protocols.Protocol) -> Any:
    """The zoo's generator; a loader that takes ``sampling`` (Stable Diffusion) gets the protocol's settings."""
    takes = zoo.resolve("generator", cfg.generator, cfg.profile).accepts("sampling")
    kw = {"sampling": dict(proto["lgclip.sampling"])} if takes else {}
    return zoo.load("generator", cfg.generator, cfg.profile, **kw)


def run_lgclip(cfg: LGCLIPConfig, out: str | Path | None = None, cache: ArtifactCache | None = None,
               progress: bool = True) -> dict[str, Any]:
    t_start = time.perf_counter()
    timer = Timer()
    cache = cache or default_cache()
    rng_seed = cfg.seed
    proto = protocols.resolve(cfg.protocol, "lgclip", cfg.profile)
    resize, scoring = proto["lgclip.single_view_resize"], proto["lgclip.scoring"]
    if scoring not in ("cosine", "unnormalised_mean"):
        raise BadInputError(f"unknown lgclip.scoring {scoring!r}: expected 'cosine' or 'unnormalised_mean'")
    finish = jpeg_roundtrip if proto["lgclip.jpeg_roundtrip"] else (lambda x: x)

    def classifier(**kw: Any) -> PrototypeClassifier:
        return PrototypeClassifier(classes=np.arange(k), normalize_prototypes=scoring == "cosine", **kw)

    with timer("load_models"):
        ds = zoo.load("dataset", cfg.dataset, cfg.profile, split="test")
        test = ds.stratified(cfg.n_test // len(ds.classnames) if cfg.n_test else None, seed=rng_seed)
        names = check_class_names(ds.prompt_names, min_classes=2)
        k = len(names)
        encoder = _load_encoder(cfg)
        generator = _load_generator(cfg, proto)
        template_writer = zoo.load("prompt_writer", "template", cfg.profile)
        llm_writer = zoo.load("prompt_writer", cfg.prompt_writer, cfg.profile)
        if hasattr(llm_writer, "with_prompting"):  # a new writer: the zoo's shared one is left as it is
            llm_writer = llm_writer.with_prompting(proto["lgclip.prompting"])

    with timer("prompts"):
        llm = write_prompts(llm_writer, names, n=cfg.n_descriptions, seed=rng_seed, cache=cache)
        templates = write_prompts(template_writer, names, n=1, seed=rng_seed, cache=cache)
    with timer("generation"):
        gen = generate_sets(generator, names, llm, cfg.n_max, finish, cache, progress)
    gen_labels = gen["llm_first"].labels  # the same class-major labels in every mode

    ms = MultiScaleEncoder(encoder, cfg.n_scales, seed=rng_seed,
                           interpolation=proto["lgclip.multiscale_interpolation"])
    enc_cfg = encoder.config()

    def single(imgs: np.ndarray, desc: str) -> np.ndarray:
        return cached_features(cache, {"kind": "global", "encoder": enc_cfg, "resize": resize}, imgs,
                               lambda x, i: encoder.encode(x, resize=resize), progress=progress, desc=desc)

    def per_scale(imgs: np.ndarray, desc: str) -> np.ndarray:  # (S, N, D)
        f = cached_features(cache, {"kind": "multiscale", "ms": ms.config()}, imgs,
                            lambda x, i: ms.encode_per_scale(x, start_index=i).transpose(1, 0, 2),
                            progress=progress, desc=desc, chunk=250)
        return f.transpose(1, 0, 2)

    all_scales = list(range(1, cfg.n_scales + 1))
    with timer("features_generated"):  # single-scale features of every mode first, then the multi-scale ones
        g_single = {m: single(g.images, f"features {m}") for m, g in gen.items()}
        g_feats = {m: FeatureSet(g_single[m], per_scale(g.images, f"multi-scale {m}")) for m, g in gen.items()}
    with timer("features_test"):
        t_feats = FeatureSet(single(test.images, "features test"), per_scale(test.images, "multi-scale test"))
    t_single, t_multi = t_feats.single, t_feats.fused(all_scales)
    g_multi = {m: f.fused(all_scales) for m, f in g_feats.items()}
    y = test.labels

    with timer("text_zero_shot"):  # first: the authors' top-N choice ranks generated images in the text space
        embed_images, embed_texts, text_info = _text_space(cfg, names, llm, encoder, generator, single, finish,
                                                           cache, progress)
        text_scores = embed_images(t_single) @ _class_text(names, _imagenet_prompts(cfg, names), embed_texts).T
        acc_text = float(np.mean(text_scores.argmax(1) == y))
    template_text = embed_texts([PAPER_TEMPLATE.format(c) for c in names])  # the authors' ranking text
    rank_scores: dict[str, np.ndarray] = {}

    def keep(mode: str, n: int) -> np.ndarray:
        """Which n images of each class are used (protocols key lgclip.top_n)."""
        pool = min(max(n, cfg.n_per_class), cfg.n_max)  # the authors rank within the paper's N (10) renders
        if proto["lgclip.top_n"] == "first" or n >= pool:
            return gen[mode].first(n)
        if mode not in rank_scores:
            rank_scores[mode] = embed_images(g_single[mode]) @ template_text.T
        return top_n_by_text(rank_scores[mode], n, pool, cfg.n_max)

    def proto_acc(mode: str, gen_feats: np.ndarray, test_feats: np.ndarray, n: int = cfg.n_per_class,
                  m: int = 1, center: bool = False) -> float:
        idx = keep(mode, n)
        clf = classifier(n_prototypes=m, center=center).fit(gen_feats[idx], gen_labels[idx])
        return float(clf.score(test_feats, y))

    acc: dict[str, float] = {}
    idx = keep("llm_first", cfg.n_per_class)
    with timer("classify"):
        acc["lgclip"] = proto_acc("llm_first", g_multi["llm_first"], t_multi)
        acc["prototypes_only"] = proto_acc("template", g_single["template"], t_single)
        acc["llm_only"] = proto_acc("llm_first", g_single["llm_first"], t_single)
        acc["multiscale_only"] = proto_acc("template", g_multi["template"], t_multi)
        lgclip_pred = classifier().fit(g_multi["llm_first"][idx], gen_labels[idx]).predict(t_multi)
        acc["text_zero_shot"] = acc_text
        hyb = HybridClassifier(cfg.hybrid_weight, classes=np.arange(k))
        hyb.fit(g_multi["llm_first"][idx], gen_labels[idx])
        acc["hybrid"] = hyb.score(t_multi, y, text_scores)

    with timer("real_references"):
        real = _real_references(cfg, single, classifier, t_single, y, k)
    acc.update(real)
    # beyond the paper, reported next to it
    acc["lgclip_llm_per_image"] = proto_acc("llm_per_image", g_multi["llm_per_image"], t_multi)
    acc["lgclip_3_prototypes"] = proto_acc("llm_per_image", g_multi["llm_per_image"], t_multi, n=cfg.n_max, m=3)
    acc["lgclip_centered"] = proto_acc("llm_first", g_multi["llm_first"], t_multi, center=True)  # transductive

    with timer("ablations"):
        ablations = {
            "n_per_class": {str(n): {"lgclip": proto_acc("llm_first", g_multi["llm_first"], t_multi, n=n),
                                     "prototypes_only": proto_acc("template", g_single["template"], t_single, n=n)}
                            for n in cfg.ablation_n if n <= cfg.n_max},
            "prompts": {m: {"single_scale": proto_acc(m, g_single[m], t_single),
                            "multiscale": proto_acc(m, g_multi[m], t_multi)} for m in gen},
            "n_scales": {str(s): proto_acc("llm_first", g_feats["llm_first"].fused(all_scales[-s:]),
                                           t_feats.fused(all_scales[-s:]))
                         for s in cfg.ablation_scales if s <= cfg.n_scales},
            "hybrid_weight": {str(w): HybridClassifier(w, classes=np.arange(k)).fit(
                g_multi["llm_first"][idx], gen_labels[idx]).score(t_multi, y, text_scores)
                for w in (0.0, 0.25, 0.5, 0.75, 1.0)},
        }
        ablations["input_size"], size_skipped = _size_ablation(
            cfg, encoder, gen["template"].images[keep("template", cfg.n_per_class)],
            gen_labels[keep("template", cfg.n_per_class)], test, resize, classifier, cache, progress)
        if size_skipped:  # sizes the encoder's architecture cannot take, with the reason
            ablations["input_size_skipped"] = size_skipped

    result: dict[str, Any] = {
        "profile": cfg.profile, "dataset": test.name, "backbone": encoder.name, "generator": generator.name,
        "prompt_writer": llm_writer.config().get("name", cfg.prompt_writer), "n_test": int(len(test)),
        "n_per_class": cfg.n_per_class, "n_classes": k, "classnames": ds.classnames,
        "protocol": proto.active(), "accuracy": acc, "ablations": ablations, "text_zero_shot": text_info,
        "timings_s": {**timer.times, "total": round(time.perf_counter() - t_start, 2)},
        "timings_load": timer.load,
        "config": asdict(cfg),
        "manifest": {
            "models": {"image_encoder": enc_cfg, "generator": generator.config(),
                       "prompt_writer": llm_writer.config(), "template_writer": template_writer.config()},
            "dataset": {"name": test.name, "split": "test", "protocol": ds.protocol, "n": int(len(test))},
            "seeds": {"global": cfg.seed, "image_i_seed": "i", "multiscale_crops": cfg.seed},
            "protocol": proto.active(),
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
        _write_outputs(Path(out), result, lgclip_pred, y, gen["llm_first"].images, gen_labels, names, t_multi,
                       g_multi["llm_first"], idx, keep("llm_first", min(8, cfg.n_per_class)))
    return result


def _imagenet_prompts(cfg: LGCLIPConfig, names: list[str]) -> dict[str, list[str]]:
    from ..prompts import load_template_writer

    return load_template_writer("clip-imagenet-templates", template="openai_imagenet").write(names, n=80,
                                                                                            seed=cfg.seed)


def _class_text(names: list[str], prompts: dict[str, list[str]], embed_texts: Callable) -> np.ndarray:
    """One L2-normalised text feature per class: the mean of its prompts' features (K, D)."""
    return l2n(np.stack([embed_texts(prompts[c]).mean(0) for c in names]))


def _text_space(cfg: LGCLIPConfig, names: list[str], llm: dict[str, list[str]], encoder: Any, generator: Any,
                single: Callable, finish: Callable, cache: ArtifactCache,
                progress: bool) -> tuple[Callable, Callable, dict[str, Any]]:
    """A joint image-text space: (single-view image features -> joint, texts -> joint, info), both L2-normalised.

    Paper profile: CLIP's own text tower (image features are already in its space). Offline: a LiT-style aligner
    trained on GENERATED images and their captions (no real image)."""
    text_encoder = zoo.load("text_encoder", cfg.backbone if cfg.profile != "offline" else None, cfg.profile)
    if cfg.profile != "offline":
        return (lambda f: f), text_encoder.encode, {"method": "CLIP text tower, 80 ImageNet templates averaged"}
    from ..alignment import LiTAligner

    class_prompts = _imagenet_prompts(cfg, names)
    k = len(names)
    per = cfg.lit_per_class
    caps = [[(llm[c] + class_prompts[c][:per])[i % (len(llm[c]) + min(per, 80))] for i in range(per)] for c in names]
    flat = [p for row in caps for p in row]
    seeds = np.tile(np.arange(1000, 1000 + per), k).tolist()  # disjoint from the prototype seeds 0..n_max-1
    imgs = finish(generate_images(generator, flat, seeds, cache=cache, chunk=per, progress=progress))
    feats = single(imgs, "features LiT")
    tfeats = text_encoder.encode(flat)
    groups = np.repeat(np.arange(k), per)
    aligner = LiTAligner(seed=cfg.seed).fit(feats, tfeats, groups, progress=progress)
    return (aligner.embed_images, lambda texts: aligner.embed_texts(text_encoder.encode(texts)),
            {"method": "LiT projections (EfficientNet-Lite0 + MiniLM, locked) trained on generated images",
             "n_pairs": len(flat), "final_loss": aligner.loss_history[-1], "config": aligner.config()})


def _real_references(cfg: LGCLIPConfig, single: Callable, classifier: Callable, t_single: np.ndarray,
                     y: np.ndarray, k: int) -> dict[str, float]:
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
            accs.append(classifier().fit(f[idx], train.labels[idx]).score(t_single, y))
        out[f"real_{shots}shot"] = float(np.mean(accs))
    out["real_class_means"] = float(classifier().fit(f, train.labels).score(t_single, y))
    lr = LogisticRegression(max_iter=2000, C=1.0)
    out["linear_probe_real"] = float(lr.fit(f, train.labels).score(t_single, y))
    return out


def _size_ablation(cfg: LGCLIPConfig, encoder: Any, gen_images: np.ndarray, gen_labels: np.ndarray, test: Any,
                   resize: str, classifier: Callable, cache: ArtifactCache,
                   progress: bool) -> tuple[dict[str, float], dict[str, str]]:
    """Prototypes-only accuracy at several encoder input resolutions (single scale, a test subset); the
    prototype images and their labels come already selected.

    The size goes with each call (``encode(size=...)``): the shared encoder is never changed. A tower that
    cannot take a size (CLIP's ViTs and attention-pooled ResNets have a fixed grid of positional embeddings)
    is skipped at that size; the second dict says which sizes and why."""
    sub = test.stratified(cfg.ablation_size_n_test // len(test.classnames), seed=cfg.seed + 1)
    out: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for size in cfg.ablation_sizes:
        try:
            encoder.encode(sub.images[:1], resize=resize, size=size)
        except RuntimeError as e:  # a positional-embedding grid of another size: the architecture's limit
            skipped[str(size)] = f"{encoder.name} cannot take {size}px input: {str(e).splitlines()[0][:160]}"
            continue
        # the key the encoder's config() had at this size (kept identical to earlier runs' cache entries)
        what = {"kind": "global", "encoder": {**encoder.config(), "input_size": int(size)}, "resize": resize}

        def compute(x: np.ndarray, i: int, size: int = size) -> np.ndarray:
            return encoder.encode(x, resize=resize, size=size)

        g = cached_features(cache, what, gen_images, compute, progress=False)
        t = cached_features(cache, what, sub.images, compute, progress=progress, desc=f"features {size}px")
        out[str(size)] = float(classifier().fit(g, gen_labels).score(t, sub.labels))
    return out, skipped


def merge_protocol_results(previous: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """What ``lgclip.json`` holds after ``result`` is written over ``previous`` (the file's content or None).

    ``by_protocol[name]`` keeps each protocol's headline accuracies and choices for the same profile, dataset
    and test size; the top level is the profile's default protocol's full result when the folder has one,
    else this run's."""
    name = result["protocol"]["name"]
    by = {}
    if previous and all(previous.get(f) == result.get(f) for f in ("profile", "dataset", "n_test")):
        by = dict(previous.get("by_protocol") or {})
        if "protocol" in previous:  # the previous top level is one protocol's run
            by.setdefault(previous["protocol"]["name"], _headline(previous))
    else:
        previous = None
    by[name] = _headline(result)
    default = protocols.default_protocol(result["profile"], "lgclip")
    keep_previous = (previous is not None and name != default and "protocol" in previous
                     and previous["protocol"]["name"] == default)
    top = {k: v for k, v in (previous if keep_previous else result).items() if k != "by_protocol"}
    return {**top, "by_protocol": dict(sorted(by.items()))}


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    """A protocol's accuracies with the models that produced them (runs of different protocols may be from
    different days: the encoder's precision or the generator's steps say whether they are comparable)."""
    models = result.get("manifest", {}).get("models", {})
    return {"protocol": result["protocol"], "accuracy": {k: result["accuracy"][k] for k in ACCURACY_KEYS
                                                         if k in result["accuracy"]},
            "image_encoder": models.get("image_encoder"), "generator": models.get("generator")}


def _write_outputs(out: Path, result: dict[str, Any], pred: np.ndarray, y: np.ndarray, images: np.ndarray,
                   gen_labels: np.ndarray, names: list[str], t_multi: np.ndarray, protos: np.ndarray,
                   proto_idx: np.ndarray, grid_idx: np.ndarray) -> None:
    """lgclip.json (merged with another protocol's run, see ``merge_protocol_results``), lgclip.csv of the top
    level, and the figures of this run when it is the top level."""
    from ..book import figures

    out.mkdir(parents=True, exist_ok=True)
    path = out / "lgclip.json"
    merged = merge_protocol_results(json.loads(path.read_text()) if path.exists() else None, result)
    write_json(path, merged)
    with open(out / "lgclip.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "accuracy", "zero_shot"])
        for m, a in merged["accuracy"].items():
            w.writerow([m, f"{a:.4f}", "no" if m.startswith(("real_", "linear_probe")) else "yes"])
    if merged["protocol"]["name"] != result["protocol"]["name"]:
        return  # the folder's figures stay those of the default protocol's run
    figures.confusion_matrix(y, pred, names, out / "confusion_lgclip.png",
                             title=f"LGCLIP on {result['dataset']} (top-1 {result['accuracy']['lgclip']:.3f})")
    figures.image_grid(images[grid_idx], rows=len(names), labels=names, path=out / "prototypes_grid.png")
    figures.feature_map(t_multi, y, protos[proto_idx], gen_labels[proto_idx], names, out / "feature_map.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="offline", choices=sorted(zoo.PROFILES))
    p.add_argument("--dataset", default=None, help="a dataset name registered in the zoo (default: the profile's)")
    p.add_argument("--backbone", default=None, help="an image encoder name registered in the zoo")
    p.add_argument("--quick", action="store_true", help="1,000 test images and smaller ablations (~5 min)")
    p.add_argument("--n-per-class", type=int, default=10)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-scales", type=int, default=10, help="scales of the multi-scale module (the paper: 10)")
    p.add_argument("--input-size", type=int, default=None,
                   help="encoder input resolution in pixels (default: the zoo's; EfficientNet-Lite0: 112)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--protocol", default=None, choices=protocols.PROTOCOLS,
                   help="'authors': as the LGCLIP authors' released code; 'clean': ours (default: the profile's, "
                        "see lgclip_core/protocols.py)")
    p.add_argument("--out", required=True, help="output directory (lgclip.json, lgclip.csv, figures)")


def run(args: argparse.Namespace) -> int:
    from ..params import validate_run  # one-line errors in seconds for wrong values (types, ranges, names)

    validate_run("lgclip", profile=args.profile, dataset=args.dataset, backbone=args.backbone,
                 n_per_class=args.n_per_class, n_test=args.n_test, seed=args.seed, n_scales=args.n_scales,
                 input_size=args.input_size)
    for role, name in (("dataset", args.dataset), ("image_encoder", args.backbone)):
        if name:
            zoo.resolve(role, name, args.profile)  # unknown names fail fast, listing the registered ones
    kw = dict(profile=args.profile, dataset=args.dataset, backbone=args.backbone, n_per_class=args.n_per_class,
              seed=args.seed, protocol=getattr(args, "protocol", None), n_scales=args.n_scales,
              input_size=args.input_size)
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
