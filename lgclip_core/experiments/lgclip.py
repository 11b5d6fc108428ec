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
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import protocols, zoo
from ..cache import ArtifactCache, default_cache, process_state
from ..errors import BadInputError, check_class_names
from ..generator import generate_images, jpeg_roundtrip
from ..multiscale import MultiScaleEncoder
from ..prompts import write_prompts
from ..prototypes import HybridClassifier, PrototypeClassifier, PseudoLabelClassifier, fit_logistic_regression, l2n
from .common import Timer, cached_features, environment, write_json

if TYPE_CHECKING:
    from ..alignment import LiTAligner
    from ..data import ImageDataset
    from ..encoders import ImageEncoder, TextEncoder
    from ..generator import Generator
    from ..prompts import PromptWriter

ACCURACY_KEYS = ("lgclip", "prototypes_only", "llm_only", "multiscale_only", "text_zero_shot", "hybrid",
                 "real_1shot", "real_10shot", "real_class_means", "linear_probe_real")
PAPER_TEMPLATE = "A photo of a {}."
TEST = "test"  # the test images' key among the feature sets (the others are prompt modes)


# The settings a profile runs when a field is left None. PAPER_SETTINGS: the paper's N = 10 images per class and
# S = 10 crop scales with the encoder's and the generator's own defaults. The offline profile's: the backbone's
# native input (Lite0: 224 px; zoo.NATIVE_INPUT_SIZE) and one crop scale come from the accuracy/time frontier
# of full runs (chapter 06: at 224 px the extra scales cost accuracy and 3x the time); N = 100, guidance 2.0
# and the self-training fraction were chosen on held-out real TRAIN images, never on the test set, and every
# run measures those choices again on both
# (``ablations["guidance_scale"]`` and ``["self_training_fraction"]``).
PAPER_SETTINGS: dict[str, Any] = {"input_size": None, "n_per_class": 10, "n_max": 20, "n_scales": 10,
                                  "guidance_scale": None, "ablation_guidance": (), "unlabeled_pool": 0}
SETTINGS = ("profile", "paper")
PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    "offline": {"input_size": "native", "n_per_class": 100, "n_max": 100, "n_scales": 1, "guidance_scale": 2.0,
                "ablation_guidance": (1.5, 2.0, 3.0), "unlabeled_pool": 5000},
}


@dataclass
class LGCLIPConfig:
    """Sizes and seeds of one run. ``quick()`` and ``full()`` are the two named presets. A field left None takes
    its value from ``settings``: "profile" (``PROFILE_SETTINGS[profile]``, else the paper's) or "paper"
    (``PAPER_SETTINGS`` on any profile; offline: the encoder's 112-px default input)."""

    profile: str = "offline"
    dataset: str | None = None  # None: the profile's default
    backbone: str | None = None
    input_size: int | str | None = None  # encoder input in pixels; "native": the backbone's (paper settings: the zoo's)
    generator: str | None = None
    prompt_writer: str | None = None
    n_test: int | None = None  # None: the whole test split; else a stratified subset
    n_per_class: int | None = None  # N, generated images per class in a prototype (the paper: 10; <= n_max)
    n_max: int | None = None  # images generated per class and prompt mode (for the N ablation)
    n_descriptions: int = 10
    n_scales: int | None = None  # S, crop scales of the multi-scale module (the paper: 10)
    guidance_scale: float | None = None  # classifier-free guidance of the generator (paper settings: its own)
    seed: int = 2024
    lit_per_class: int = 60  # generated images (with varied captions) to train the offline LiT projections
    real_per_class: int = 500  # real TRAIN images per class for the real-image references and the validation
    kshot_draws: int = 5
    ablation_n: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)  # values above n_max are left out
    ablation_scales: tuple[int, ...] = (1, 2, 3, 5, 10)  # values above n_scales are left out
    ablation_sizes: tuple[int, ...] = (56, 112, 224)
    ablation_size_n_test: int = 1000
    ablation_guidance: tuple[float, ...] | None = None  # guidance scales measured on validation and test images
    hybrid_weight: float = 0.5
    unlabeled_pool: int | None = None  # real TRAIN images whose labels are never read, for self-training (0: off)
    self_training_fraction: float = 0.4  # the most confident pseudo-labels kept, as a fraction of the pool
    ablation_self_training: tuple[float, ...] = (0.1, 0.2, 0.4, 1.0)  # fractions measured on validation and test
    # the paper's S = 10 scales against one, on the size ablation's test subset, per image (the grid turns it on
    # where the run's own S is 1; ``multiscale_effect``)
    ablation_paper_scales: bool = False
    protocol: str | None = None  # "authors" | "clean"; None: protocols.default_protocol(profile)
    settings: str = "profile"  # where fields left None come from: "profile" or "paper"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.settings not in SETTINGS:
            raise BadInputError(f"settings={self.settings!r}: expected one of {', '.join(SETTINGS)}")
        chosen = PAPER_SETTINGS if self.settings == "paper" else PROFILE_SETTINGS.get(self.profile, PAPER_SETTINGS)
        n_given = self.n_per_class is not None
        for key, value in chosen.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.input_size == "native":  # the backbone's training resolution (offline: Lite0 224, Lite1 240, ...)
            self.input_size = zoo.NATIVE_INPUT_SIZE.get(zoo.resolve("image_encoder", self.backbone, self.profile).name)
        if not n_given:  # the settings' N, at most the images generated
            self.n_per_class = min(self.n_per_class, self.n_max)
        if self.n_per_class > self.n_max:
            raise BadInputError(f"n_per_class = {self.n_per_class} images per class but n_max = {self.n_max} are "
                                "generated: raise n_max or lower n_per_class")

    @classmethod
    def quick(cls, **kw: Any) -> LGCLIPConfig:
        base = dict(n_test=1000, n_per_class=10, n_max=10, lit_per_class=20, real_per_class=100,
                    ablation_size_n_test=200)
        cfg = cls(**{**base, **{k: v for k, v in kw.items() if v is not None}})  # None: the preset's
        if kw.get("unlabeled_pool") is None:  # the settings' pool (none with the paper's), at most 1,000
            cfg.unlabeled_pool = min(cfg.unlabeled_pool, 1000)
        return cfg

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


# ------------------------------------------------------------------------------------------- containers
@dataclass
class Roles:
    """Every model and data set of one run, each resolved through the zoo (the text tower: see ``_text_space``)."""

    dataset: ImageDataset  # the whole test split (its protocol goes into the manifest)
    test: ImageDataset  # the evaluated images: a stratified subset when ``n_test`` is set
    names: list[str]  # the classes' prompt names, in label order
    encoder: ImageEncoder
    generator: Generator
    template_writer: PromptWriter
    llm_writer: PromptWriter
    imagenet_writer: PromptWriter  # open_clip's 80 ImageNet templates: the zero-shot text classifier's prompts

    @property
    def k(self) -> int:
        return len(self.names)

    def imagenet_prompts(self, seed: int) -> dict[str, list[str]]:
        return self.imagenet_writer.write(self.names, n=80, seed=seed)


@dataclass
class WrittenPrompts:
    """Per class, the prompt writer's descriptions and the plain template's prompt."""

    llm: dict[str, list[str]]
    template: dict[str, list[str]]


@dataclass
class GeneratedSet:
    """One prompt mode's generated images with what made each: class label, seed and prompt (row i = image i)."""

    mode: str
    images: np.ndarray
    labels: np.ndarray
    seeds: np.ndarray
    prompts: list[str]
    n_max: int  # images per class; class c holds rows c * n_max .. (c + 1) * n_max - 1

    def first(self, n: int) -> np.ndarray:
        """Rows of images 0..n-1 of every class."""
        return np.flatnonzero(np.arange(len(self.labels)) % self.n_max < n)


@dataclass
class FeatureSet:
    """One image collection's features in every view: single scale (N, D) and per crop scale (S, N, D)."""

    single: np.ndarray
    per_scale: np.ndarray

    def fused(self, scales: list[int]) -> np.ndarray:
        """The paper's weighted fusion of the given scales (weights s / sum(scales)), L2-normalised."""
        w = np.asarray(scales, np.float32) / sum(scales)
        return l2n(np.tensordot(w, self.per_scale[[s - 1 for s in scales]], axes=1))

    @cached_property
    def multi(self) -> np.ndarray:
        """LGCLIP's view: the fusion of all S scales."""
        return self.fused(list(range(1, len(self.per_scale) + 1)))


@dataclass
class FeatureExtractor:
    """The run's two views of an image collection, each cached per chunk: the encoder's single view (resized
    as ``lgclip.single_view_resize`` says) and the multi-scale module's per-scale features."""

    encoder: ImageEncoder
    multiscale: MultiScaleEncoder
    resize: str
    cache: ArtifactCache
    progress: bool = True

    def single(self, images: Any, desc: str, size: int | None = None) -> np.ndarray:
        """(N, D); ``size``: another input resolution for this call only (the encoder is never changed). A
        compiled encoder runs other sizes eager, and the cache key says so: an encoder built for that size would
        run its compiled package, whose features differ in the last bits."""
        config = self.encoder.config()
        if size is not None and int(size) != self.encoder.input_size:
            config = {**config, "input_size": int(size), **({"backend": "eager"} if "backend" in config else {})}
        return cached_features(self.cache, {"kind": "global", "encoder": config, "resize": self.resize}, images,
                               partial(self._encode_single, size=size), progress=self.progress, desc=desc)

    def per_scale(self, images: Any, desc: str) -> np.ndarray:
        """(S, N, D), crops seeded by each image's index (so a chunk's features do not depend on the others)."""
        f = cached_features(self.cache, {"kind": "multiscale", "ms": self.multiscale.config()}, images,
                            self._encode_per_scale, progress=self.progress, desc=desc, chunk=250)
        return f.transpose(1, 0, 2)

    def views(self, images: Any, desc: str) -> FeatureSet:
        """Both views. With one scale the module's only crop is the whole image, so the single view serves as
        the multi-scale view too (one encoder pass per image instead of two)."""
        single = self.single(images, f"features {desc}")
        if self.multiscale.n_scales == 1:
            return FeatureSet(single, single[None])
        return FeatureSet(single, self.per_scale(images, f"multi-scale {desc}"))

    def _encode_single(self, images: Any, start: int, size: int | None = None) -> np.ndarray:
        if size is None:  # the call earlier runs' cache entries were computed with
            return self.encoder.encode(images, resize=self.resize)
        return self.encoder.encode(images, resize=self.resize, size=size)

    def _encode_per_scale(self, images: Any, start: int) -> np.ndarray:  # (N, S, D): chunks concatenate on N
        return self.multiscale.encode_per_scale(images, start_index=start).transpose(1, 0, 2)


@dataclass
class TextSpace:
    """A joint image-text space: single-view image features and texts in, L2-normalised embeddings out.

    ``aligner`` None: CLIP's own text tower (its image features are already in the space); else the LiT
    projections trained on generated images."""

    text_encoder: TextEncoder
    aligner: LiTAligner | None
    info: dict[str, Any]
    _class_text: dict[tuple, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def embed_images(self, features: np.ndarray) -> np.ndarray:
        return features if self.aligner is None else self.aligner.embed_images(features)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        t = self.text_encoder.encode(texts)
        return t if self.aligner is None else self.aligner.embed_texts(t)

    def class_text(self, names: list[str], prompts: dict[str, list[str]]) -> np.ndarray:
        """One L2-normalised text feature per class: the mean of its prompts' features (K, D); computed once per
        set of prompts (the test images and the unlabelled pool are scored against the same classes)."""
        key = tuple((c, tuple(prompts[c])) for c in names)
        if key not in self._class_text:
            self._class_text[key] = l2n(np.stack([self.embed_texts(prompts[c]).mean(0) for c in names]))
        return self._class_text[key]


@dataclass(frozen=True)
class ClassifierFactory:
    """New prototype classifiers over the run's K classes, scored as ``lgclip.scoring`` says."""

    k: int
    scoring: str  # "cosine": prototypes L2-normalised; "unnormalised_mean": the authors' plain means

    def __call__(self, **kw: Any) -> PrototypeClassifier:
        return PrototypeClassifier(classes=np.arange(self.k), normalize_prototypes=self.scoring == "cosine", **kw)


@dataclass
class PrototypeSelector:
    """Which n generated images of each class become prototypes (protocols key ``lgclip.top_n``): the first n,
    or the authors' top n of the paper's N renders ranked in the text space (``top_n_by_text``)."""

    sets: dict[str, GeneratedSet]
    features: dict[str, FeatureSet]
    space: TextSpace
    ranking_text: np.ndarray  # the authors' ranking text 'A photo of a {class}.' in the joint space (K, D)
    rule: str  # the protocol's lgclip.top_n
    n_per_class: int  # the paper's N: the pool the authors rank in
    _scores: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def select(self, mode: str, n: int) -> np.ndarray:
        """Rows of ``sets[mode]`` kept for n prototypes per class."""
        g = self.sets[mode]
        pool = min(max(n, self.n_per_class), g.n_max)  # the authors rank within the paper's N (10) renders
        if self.rule == "first" or n >= pool:
            return g.first(n)
        if mode not in self._scores:  # ranked once per mode
            self._scores[mode] = self.space.embed_images(self.features[mode].single) @ self.ranking_text.T
        return top_n_by_text(self._scores[mode], n, pool, g.n_max)


@dataclass
class PrototypeEvaluator:
    """Prototype classifiers fitted on the selected generated images of one mode, scored on the test labels."""

    selector: PrototypeSelector
    classifiers: ClassifierFactory
    test_labels: np.ndarray
    n_per_class: int

    def fit(self, mode: str, gen_feats: np.ndarray, n: int | None = None, m: int = 1,
            center: bool = False) -> PrototypeClassifier:
        """``m`` prototypes per class from ``n`` (default: the paper's N) selected images of ``mode``."""
        idx = self.selector.select(mode, self.n_per_class if n is None else n)
        clf = self.classifiers(n_prototypes=m, center=center)
        return clf.fit(gen_feats[idx], self.selector.sets[mode].labels[idx])

    def accuracy(self, mode: str, gen_feats: np.ndarray, test_feats: np.ndarray, n: int | None = None,
                 m: int = 1, center: bool = False) -> float:
        return float(self.fit(mode, gen_feats, n, m, center).score(test_feats, self.test_labels))

    def hybrid(self, weight: float, gen_feats: np.ndarray) -> HybridClassifier:
        """LGCLIP's prototypes (``llm_first``, N per class), to be mixed with the text classifier's scores."""
        idx = self.selector.select("llm_first", self.n_per_class)
        hyb = HybridClassifier(weight, classes=np.arange(self.classifiers.k))
        return hyb.fit(gen_feats[idx], self.selector.sets["llm_first"].labels[idx])

    def hybrid_accuracy(self, weight: float, gen_feats: np.ndarray, test_feats: np.ndarray,
                        text_scores: np.ndarray) -> float:
        return self.hybrid(weight, gen_feats).score(test_feats, self.test_labels, text_scores)


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


def _load_encoder(cfg: LGCLIPConfig) -> ImageEncoder:
    """The zoo's image encoder, at ``cfg.input_size`` where set (towers with a fixed input size refuse it)."""
    if not cfg.input_size:
        return zoo.load("image_encoder", cfg.backbone, cfg.profile)
    if not zoo.resolve("image_encoder", cfg.backbone, cfg.profile).accepts("input_size"):
        raise BadInputError(f"input_size={cfg.input_size}: the encoder of profile {cfg.profile!r} has a fixed input "
                            "size (CLIP towers); leave --input-size out")
    return zoo.load("image_encoder", cfg.backbone, cfg.profile, input_size=int(cfg.input_size))


def load_generator(cfg: LGCLIPConfig, proto: protocols.Protocol) -> Generator:
    """The zoo's generator (offline: the one trained on the run's data set); a loader that takes ``sampling``
    (Stable Diffusion) gets the protocol's settings, and ``cfg.guidance_scale`` (when set) replaces the guidance
    either way."""
    name = cfg.generator or zoo.generator_for(cfg.profile, cfg.dataset)
    takes = zoo.resolve("generator", name, cfg.profile).accepts("sampling")
    kw = {"sampling": dict(proto["lgclip.sampling"])} if takes else {}
    generator = zoo.load("generator", name, cfg.profile, **kw)
    return generator if cfg.guidance_scale is None else generator.with_sampling(guidance_scale=cfg.guidance_scale)


# ------------------------------------------------------------------------------------------------ steps
def load_roles(cfg: LGCLIPConfig, proto: protocols.Protocol) -> Roles:
    """Step: the data set, its evaluated subset and every model, from the zoo, in the order of earlier runs
    (random-init tiny models seed and draw from torch's global generator)."""
    ds = zoo.load("dataset", cfg.dataset, cfg.profile, split="test")
    test = ds.stratified(cfg.n_test // len(ds.classnames) if cfg.n_test else None, seed=cfg.seed)
    names = check_class_names(ds.prompt_names, min_classes=2)
    encoder = _load_encoder(cfg)
    generator = load_generator(cfg, proto)
    generator.warn_class_names(names)  # where the names meet the model that must read them
    template_writer = zoo.load("prompt_writer", "template", cfg.profile)
    llm_writer = zoo.load("prompt_writer", cfg.prompt_writer, cfg.profile)
    if hasattr(llm_writer, "with_prompting"):  # a new writer: the zoo's shared one is left as it is
        llm_writer = llm_writer.with_prompting(proto["lgclip.prompting"])
    imagenet_writer = zoo.load("prompt_writer", "clip-imagenet-templates", cfg.profile)
    return Roles(ds, test, names, encoder, generator, template_writer, llm_writer, imagenet_writer)


def write_all_prompts(cfg: LGCLIPConfig, roles: Roles, cache: ArtifactCache, progress: bool = True
                      ) -> WrittenPrompts:
    """Step: ``n_descriptions`` descriptions per class from the prompt writer (a bar counts the classes as each
    is stored), and the plain template's prompt."""
    llm = write_prompts(roles.llm_writer, roles.names, n=cfg.n_descriptions, seed=cfg.seed, cache=cache,
                        progress=progress)
    return WrittenPrompts(llm, write_prompts(roles.template_writer, roles.names, n=1, seed=cfg.seed, cache=cache))


def generate_sets(generator: Generator, names: list[str], llm: dict[str, list[str]], n_max: int,
                  finish: Callable[[np.ndarray], np.ndarray], cache: ArtifactCache,
                  progress: bool) -> dict[str, GeneratedSet]:
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


def extract_features(features: FeatureExtractor, sets: dict[str, GeneratedSet], test_images: Any,
                     timer: Timer) -> dict[str, FeatureSet]:
    """Step: both views of every generated set (keyed by mode) and of the test images (key ``"test"``)."""
    with timer("features_generated"):
        out = {m: features.views(g.images, m) for m, g in sets.items()}
    with timer("features_test"):
        out[TEST] = features.views(test_images, "test")
    return out


def generate_caption_set(cfg: LGCLIPConfig, roles: Roles, llm: dict[str, list[str]],
                         finish: Callable[[np.ndarray], np.ndarray], cache: ArtifactCache,
                         progress: bool) -> GeneratedSet:
    """Step (offline profile): ``lit_per_class`` generated images per class with varied captions (the prompt
    writer's descriptions, then ImageNet templates), the pairs the LiT projections learn from."""
    class_prompts = roles.imagenet_prompts(cfg.seed)
    per = cfg.lit_per_class
    caps = [[(llm[c] + class_prompts[c][:per])[i % (len(llm[c]) + min(per, 80))] for i in range(per)]
            for c in roles.names]
    flat = [p for row in caps for p in row]
    seeds = np.tile(np.arange(1000, 1000 + per), roles.k)  # disjoint from the prototype seeds 0..n_max-1
    imgs = finish(generate_images(roles.generator, flat, seeds.tolist(), cache=cache, chunk=per, progress=progress))
    return GeneratedSet("lit_captions", imgs, np.repeat(np.arange(roles.k), per), seeds, flat, per)


def zero_shot_text_scores(space: TextSpace, roles: Roles, test: FeatureSet, seed: int,
                          prompts: str = "imagenet_80") -> np.ndarray:
    """Step: the text classifier's scores (N, K) of the test images (protocols key ``lgclip.text_prompts``):
    "imagenet_80", open_clip's 80 ImageNet templates per class averaged, or "single_template", the authors'
    one "A photo of a {class}." (vanilla_clip.py:42)."""
    if prompts == "single_template":
        class_prompts = {c: [PAPER_TEMPLATE.format(c)] for c in roles.names}
    elif prompts == "imagenet_80":
        class_prompts = roles.imagenet_prompts(seed)
    else:
        raise BadInputError(f"unknown lgclip.text_prompts {prompts!r}: expected 'imagenet_80' or 'single_template'")
    return space.embed_images(test.single) @ space.class_text(roles.names, class_prompts).T


def build_selector(cfg: LGCLIPConfig, proto: protocols.Protocol, roles: Roles, sets: dict[str, GeneratedSet],
                   feats: dict[str, FeatureSet], space: TextSpace) -> PrototypeSelector:
    """Step: the top-N rule of the protocol with the authors' ranking text embedded once."""
    ranking_text = space.embed_texts([PAPER_TEMPLATE.format(c) for c in roles.names])
    return PrototypeSelector(sets, feats, space, ranking_text, proto["lgclip.top_n"], cfg.n_per_class)


def method_predictions(ev: PrototypeEvaluator, feats: dict[str, FeatureSet], text_scores: np.ndarray,
                       hybrid_weight: float) -> dict[str, np.ndarray]:
    """Step: every test image's predicted class under the paper's methods (Table 1 rows): prototypes with or
    without LLM prompts and multi-scale features, the text classifier, and the hybrid of LGCLIP and text. Kept
    per image (``per_image.npz``), so that differences between methods get paired bootstrap intervals."""
    llm, tpl, test = feats["llm_first"], feats["template"], feats[TEST]
    return {
        "lgclip": ev.fit("llm_first", llm.multi).predict(test.multi),
        "prototypes_only": ev.fit("template", tpl.single).predict(test.single),
        "llm_only": ev.fit("llm_first", llm.single).predict(test.single),
        "multiscale_only": ev.fit("template", tpl.multi).predict(test.multi),
        "text_zero_shot": text_scores.argmax(1),
        "hybrid": ev.hybrid(hybrid_weight, llm.multi).predict(test.multi, text_scores),
    }


def beyond_paper_methods(ev: PrototypeEvaluator, feats: dict[str, FeatureSet], n_max: int) -> dict[str, float]:
    """Step: variants beyond the paper, reported next to it (``lgclip_centered`` is transductive)."""
    per_image, test = feats["llm_per_image"], feats[TEST]
    return {
        "lgclip_llm_per_image": ev.accuracy("llm_per_image", per_image.multi, test.multi),
        "lgclip_3_prototypes": ev.accuracy("llm_per_image", per_image.multi, test.multi, n=n_max, m=3),
        "lgclip_centered": ev.accuracy("llm_first", feats["llm_first"].multi, test.multi, center=True),
    }


def run_ablations(cfg: LGCLIPConfig, ev: PrototypeEvaluator, feats: dict[str, FeatureSet],
                  sets: dict[str, GeneratedSet], text_scores: np.ndarray, roles: Roles,
                  features: FeatureExtractor) -> dict[str, Any]:
    """Step: N per class, prompt mode, number of scales, hybrid weight and encoder input size."""
    llm, tpl, test = feats["llm_first"], feats["template"], feats[TEST]
    all_scales = list(range(1, cfg.n_scales + 1))
    ablations: dict[str, Any] = {
        "n_per_class": {str(n): {"lgclip": ev.accuracy("llm_first", llm.multi, test.multi, n=n),
                                 "prototypes_only": ev.accuracy("template", tpl.single, test.single, n=n)}
                        for n in cfg.ablation_n if n <= cfg.n_max},
        "prompts": {m: {"single_scale": ev.accuracy(m, feats[m].single, test.single),
                        "multiscale": ev.accuracy(m, feats[m].multi, test.multi)} for m in sets},
        "n_scales": {str(s): ev.accuracy("llm_first", llm.fused(all_scales[-s:]), test.fused(all_scales[-s:]))
                     for s in cfg.ablation_scales if s <= cfg.n_scales},
        "hybrid_weight": {str(w): ev.hybrid_accuracy(w, llm.multi, test.multi, text_scores)
                          for w in (0.0, 0.25, 0.5, 0.75, 1.0)},
    }
    keep = ev.selector.select("template", cfg.n_per_class)
    ablations["input_size"], skipped = _size_ablation(cfg, features, sets["template"].images[keep],
                                                      sets["template"].labels[keep], roles.test, ev.classifiers)
    if skipped:  # sizes the encoder's architecture cannot take, with the reason
        ablations["input_size_skipped"] = skipped
    return ablations


def build_result(cfg: LGCLIPConfig, proto: protocols.Protocol, roles: Roles, prompts: WrittenPrompts,
                 accuracy: dict[str, float], ablations: dict[str, Any], space: TextSpace, timer: Timer,
                 t_start: float, cache: ArtifactCache) -> dict[str, Any]:
    """Step: the result dict: accuracies, ablations, timings and the manifest (models, data, seeds, protocol)."""
    test = roles.test
    return {
        "profile": cfg.profile, "dataset": test.name, "backbone": roles.encoder.name,
        "generator": roles.generator.name, "prompt_writer": roles.llm_writer.config().get("name", cfg.prompt_writer),
        "n_test": int(len(test)), "n_per_class": cfg.n_per_class, "n_classes": roles.k,
        "classnames": roles.dataset.classnames, "protocol": proto.active(), "accuracy": accuracy,
        "ablations": ablations, "text_zero_shot": space.info,
        "timings_s": {**timer.times, "total": round(time.perf_counter() - t_start, 2)},
        "timings_load": timer.load,
        "config": asdict(cfg),
        "manifest": {
            "models": {"image_encoder": roles.encoder.config(), "text_encoder": space.text_encoder.config(),
                       "generator": roles.generator.config(),
                       "prompt_writer": roles.llm_writer.config(),
                       "template_writer": roles.template_writer.config()},
            "dataset": {"name": test.name, "split": "test", "protocol": roles.dataset.protocol,
                        "n": int(len(test))},
            "seeds": {"global": cfg.seed, "image_i_seed": "i", "multiscale_crops": cfg.seed},
            "protocol": proto.active(),
            "cache": cache.manifest(), "environment": environment(),
        },
        "prompts": {"llm": prompts.llm, "template": prompts.template},
    }


def save_result(cfg: LGCLIPConfig, result: dict[str, Any], out: str | Path | None, roles: Roles,
                sets: dict[str, GeneratedSet], feats: dict[str, FeatureSet], ev: PrototypeEvaluator,
                predictions: dict[str, np.ndarray] | None = None,
                ms_predictions: dict[str, np.ndarray] | None = None) -> None:
    """Step: the files in ``out`` (process 0 only, under ``accelerate launch``). A paper-shapes run has random
    weights: its result is stamped with costs and memory per role and gets no figures."""
    if zoo.PROFILES[cfg.profile].reports == "costs":
        from ..paper_shapes import stamp_result

        stamp_result(result, paper="lgclip", settings=asdict(cfg))
        if out is not None and process_state()[0] == 0:
            Path(out).mkdir(parents=True, exist_ok=True)
            write_json(Path(out) / "lgclip.json", result)
    elif out is not None and process_state()[0] == 0:
        _write_outputs(Path(out), result, roles, sets["llm_first"], feats, ev, predictions or {},
                       ms_predictions or {})


def run_lgclip(cfg: LGCLIPConfig, out: str | Path | None = None, cache: ArtifactCache | None = None,
               progress: bool = True) -> dict[str, Any]:
    """Prompts -> generated prototypes -> features -> every method and ablation on the same test images; the
    result dict (written to ``out`` when given). Each step is a function above."""
    t_start, timer, cache = time.perf_counter(), Timer(), cache or default_cache()
    proto = protocols.resolve(cfg.protocol, "lgclip", cfg.profile)
    scoring = proto["lgclip.scoring"]
    if scoring not in ("cosine", "unnormalised_mean"):
        raise BadInputError(f"unknown lgclip.scoring {scoring!r}: expected 'cosine' or 'unnormalised_mean'")
    finish = jpeg_roundtrip if proto["lgclip.jpeg_roundtrip"] else _as_generated
    with timer("load_models"):
        roles = load_roles(cfg, proto)
    with timer("prompts"):
        prompts = write_all_prompts(cfg, roles, cache, progress)
    with timer("generation"):
        sets = generate_sets(roles.generator, roles.names, prompts.llm, cfg.n_max, finish, cache, progress)
    ms = MultiScaleEncoder(roles.encoder, cfg.n_scales, seed=cfg.seed,
                           interpolation=proto["lgclip.multiscale_interpolation"])
    features = FeatureExtractor(roles.encoder, ms, proto["lgclip.single_view_resize"], cache, progress)
    feats = extract_features(features, sets, roles.test.images, timer)
    with timer("text_zero_shot"):  # first: the authors' top-N choice ranks generated images in the text space
        space = _text_space(cfg, roles, prompts.llm, features, finish, cache, progress)
        text_scores = zero_shot_text_scores(space, roles, feats[TEST], cfg.seed, proto["lgclip.text_prompts"])
    selector = build_selector(cfg, proto, roles, sets, feats, space)
    ev = PrototypeEvaluator(selector, ClassifierFactory(roles.k, scoring), roles.test.labels, cfg.n_per_class)
    with timer("classify"):
        predictions = method_predictions(ev, feats, text_scores, cfg.hybrid_weight)
        accuracy = {m: float(np.mean(pred == roles.test.labels)) for m, pred in predictions.items()}
    with timer("real_references"):
        real = real_train_features(cfg, features)
        accuracy.update(_real_references(cfg, real, ev.classifiers, feats[TEST], roles.test.labels))
    accuracy.update(beyond_paper_methods(ev, feats, cfg.n_max))
    with timer("ablations"):
        ablations = run_ablations(cfg, ev, feats, sets, text_scores, roles, features)
    trained = None
    if cfg.unlabeled_pool:
        with timer("self_training"):
            trained = self_training(cfg, roles, features, ev, feats, space, real, text_scores,
                                    proto["lgclip.text_prompts"])
        if trained.accuracy is not None:
            accuracy["hybrid_self_trained"] = trained.accuracy
            ablations["self_training_fraction"] = trained.by_fraction
    ms_predictions: dict[str, np.ndarray] = {}
    if cfg.ablation_paper_scales and cfg.n_scales < PAPER_SETTINGS["n_scales"]:
        with timer("ablation_paper_scales"):
            ablations["paper_scales"], ms_predictions = multiscale_effect(cfg, proto, roles, features, ev, sets)
    if cfg.ablation_guidance:
        with timer("ablation_guidance"):
            ablations["guidance_scale"] = guidance_ablation(cfg, roles, prompts.llm, features, finish, cache,
                                                            progress, ev.classifiers, real, feats, sets,
                                                            roles.test.labels)
    result = build_result(cfg, proto, roles, prompts, accuracy, ablations, space, timer, t_start, cache)
    if trained is not None:  # the pool and how right its pseudo-labels were
        result["self_training"] = trained.info
    save_result(cfg, result, out, roles, sets, feats, ev, predictions, ms_predictions)
    return result


def _as_generated(images: np.ndarray) -> np.ndarray:
    """The images as the generator made them (protocol without the authors' JPEG round trip)."""
    return images


def _text_space(cfg: LGCLIPConfig, roles: Roles, llm: dict[str, list[str]], features: FeatureExtractor,
                finish: Callable[[np.ndarray], np.ndarray], cache: ArtifactCache, progress: bool) -> TextSpace:
    """A joint image-text space for the text classifier and the authors' top-N ranking.

    Paper profile: CLIP's own text tower (image features are already in its space). Offline: a LiT-style aligner
    trained on GENERATED images and their captions (no real image)."""
    text_encoder = zoo.load("text_encoder", cfg.backbone if cfg.profile != "offline" else None, cfg.profile)
    if cfg.profile != "offline":
        return TextSpace(text_encoder, None, {"method": "CLIP text tower, 80 ImageNet templates averaged"})
    from ..alignment import LiTAligner

    pairs = generate_caption_set(cfg, roles, llm, finish, cache, progress)
    image_feats = features.single(pairs.images, "features LiT")
    text_feats = text_encoder.encode(pairs.prompts)
    aligner = LiTAligner(seed=cfg.seed).fit(image_feats, text_feats, pairs.labels, progress=progress)
    return TextSpace(text_encoder, aligner,
                     {"method": f"LiT projections ({roles.encoder.name} + MiniLM, locked) trained on generated "
                                "images",
                      "n_pairs": len(pairs.prompts), "final_loss": aligner.loss_history[-1],
                      "config": aligner.config()})


@dataclass
class RealTrain:
    """Single-view features of real labelled TRAIN images (``real_per_class`` per class): the real-image
    references' data, and the held-out validation set on which the offline settings were chosen."""

    features: np.ndarray
    labels: np.ndarray


def train_split_sizes(cfg: LGCLIPConfig, labels: np.ndarray) -> tuple[int, int]:
    """(real images per class for the references and validation, unlabelled pool size) that fit the TRAIN split.

    Fashion-MNIST's 6,000 per class hold ``real_per_class`` and the pool as configured; a small train split
    (the digits' ~90 per class) gives the references half of its smallest class and the pool the rest, so the
    two never share an image."""
    smallest = int(np.bincount(labels).min())
    per_class = cfg.real_per_class
    if per_class > smallest // 2 and cfg.unlabeled_pool:
        per_class = smallest // 2
    per_class = min(per_class, smallest)
    pool = min(int(cfg.unlabeled_pool or 0), len(labels) - per_class * (int(labels.max()) + 1))
    return per_class, max(pool, 0)


def real_train_features(cfg: LGCLIPConfig, features: FeatureExtractor) -> RealTrain:
    """Step: real TRAIN images per class (``train_split_sizes``; a seeded stratified draw), encoded once."""
    train = zoo.load("dataset", cfg.dataset, cfg.profile, split="train")
    train = train.stratified(train_split_sizes(cfg, train.labels)[0], seed=cfg.seed)
    return RealTrain(features.single(train.images, "features real train"), train.labels)


def _real_references(cfg: LGCLIPConfig, train: RealTrain, classifiers: ClassifierFactory, test: FeatureSet,
                     y: np.ndarray) -> dict[str, float]:
    """Not zero-shot, for scale: real k-shot prototypes (mean of draws), class means, a linear probe."""
    f, labels = train.features, train.labels
    out: dict[str, float] = {}
    for shots in (1, 10):
        accs = []
        for d in range(cfg.kshot_draws):
            rng = np.random.default_rng(cfg.seed + d)
            # a class with fewer than `shots` real images (tiny data sets) contributes all it has
            idx = np.concatenate([rng.choice(pool, min(shots, len(pool)), replace=False)
                                  for pool in (np.flatnonzero(labels == c) for c in range(classifiers.k))])
            accs.append(classifiers().fit(f[idx], labels[idx]).score(test.single, y))
        out[f"real_{shots}shot"] = float(np.mean(accs))
    out["real_class_means"] = float(classifiers().fit(f, labels).score(test.single, y))
    lr = fit_logistic_regression(f, labels, C=1.0, max_iter=2000)
    out["linear_probe_real"] = float(lr.score(test.single, y))
    return out


def guidance_ablation(cfg: LGCLIPConfig, roles: Roles, llm: dict[str, list[str]], features: FeatureExtractor,
                      finish: Callable[[np.ndarray], np.ndarray], cache: ArtifactCache, progress: bool,
                      classifiers: ClassifierFactory, validation: RealTrain, feats: dict[str, FeatureSet],
                      sets: dict[str, GeneratedSet], test_labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Step: LGCLIP's prototypes (first LLM description, images 0..N-1 of each class) rendered at each guidance
    scale of ``cfg.ablation_guidance``, scored on the validation images (real TRAIN, held out from the test
    set: where a guidance scale may be chosen) and on the test images, both at the single view. The run's own
    guidance reuses the run's images."""
    n, k = cfg.n_per_class, roles.k
    prompts = [p for row in prompt_sets(roles.names, llm, n)["llm_first"] for p in row]
    seeds, labels = np.tile(np.arange(n), k), np.repeat(np.arange(k), n)
    out, test = {}, feats[TEST]
    for g in cfg.ablation_guidance:
        if float(g) == roles.generator.guidance_scale:
            gen_feats = feats["llm_first"].single[sets["llm_first"].first(n)]
        else:
            generator = roles.generator.with_sampling(guidance_scale=g)
            images = finish(generate_images(generator, prompts, seeds.tolist(), cache=cache, chunk=n,
                                            progress=progress))
            gen_feats = features.single(images, f"features guidance {g}")
        clf = classifiers().fit(gen_feats, labels)
        out[str(float(g))] = {"validation": float(clf.score(validation.features, validation.labels)),
                              "test": float(clf.score(test.single, test_labels))}
    return out


@dataclass
class SelfTrained:
    """The self-training step's outcome: test accuracy at the configured fraction, what the pool was, and the
    validation and test accuracy of every fraction measured."""

    accuracy: float | None  # None: skipped (``info["skipped"]`` says why)
    info: dict[str, Any]
    by_fraction: dict[str, dict[str, float]]


def self_training(cfg: LGCLIPConfig, roles: Roles, features: FeatureExtractor, ev: PrototypeEvaluator,
                  feats: dict[str, FeatureSet], space: TextSpace, validation: RealTrain,
                  text_scores: np.ndarray, text_prompts: str = "imagenet_80") -> SelfTrained:
    """Step (beyond the paper, no real label): the hybrid labels ``unlabeled_pool`` real TRAIN images drawn
    without looking at a label and disjoint from the validation images; a logistic regression learns from the
    most confident of them (``PseudoLabelClassifier``). The fraction kept is measured on the validation images
    (where it may be chosen; their single view, which is the multi-scale view at one scale) and on the test
    images. The pool's labels are read only to report how right the pseudo-labels were."""
    train = zoo.load("dataset", cfg.dataset, cfg.profile, split="train")
    per_class, n_pool = train_split_sizes(cfg, train.labels)
    pool = train.subset(train.unlabeled_indices(n_pool, seed=cfg.seed,
                                                exclude=train.stratified_indices(per_class, seed=cfg.seed)))
    pool_feats = features.views(pool.images, "unlabelled pool")
    llm, test = feats["llm_first"], feats[TEST]
    hybrid = ev.hybrid(cfg.hybrid_weight, llm.multi)
    pool_text = zero_shot_text_scores(space, roles, pool_feats, cfg.seed, text_prompts)
    scores = hybrid.decision_function(pool_feats.multi, pool_text)
    info: dict[str, Any] = {"method": "hybrid pseudo-labels on unlabelled real TRAIN images -> logistic regression "
                                      "on the most confident", "pool": int(len(pool)),
                            "train_split": {"references_per_class": per_class, "pool": n_pool,
                                            "train_images": int(len(train))},
                            "confident_fraction": cfg.self_training_fraction,
                            "pseudo_label_accuracy": float(np.mean(scores.argmax(1) == pool.labels)),
                            "hybrid_test_accuracy": float(hybrid.score(test.multi, ev.test_labels, text_scores))}
    missing = sorted(set(range(roles.k)) - set(scores.argmax(1).tolist()))
    if missing:  # a class the hybrid never picks cannot be learned from its pseudo-labels
        return SelfTrained(None, {**info, "skipped": f"no pool image is pseudo-labelled as class(es) {missing}: "
                                                     "use a larger unlabelled pool"}, {})
    measured = {}
    for frac in sorted({*cfg.ablation_self_training, cfg.self_training_fraction}):
        clf = PseudoLabelClassifier(confident_fraction=frac).fit(pool_feats.multi, scores)
        measured[str(float(frac))] = {"validation": float(clf.score(validation.features, validation.labels)),
                                      "test": float(clf.score(test.multi, ev.test_labels))}
    return SelfTrained(measured[str(float(cfg.self_training_fraction))]["test"], info,
                       {k: v for k, v in measured.items() if float(k) in cfg.ablation_self_training})


def multiscale_effect(cfg: LGCLIPConfig, proto: protocols.Protocol, roles: Roles, features: FeatureExtractor,
                      ev: PrototypeEvaluator, sets: dict[str, GeneratedSet]
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Step (``ablation_paper_scales``): LGCLIP's prototypes at one scale (the single view) and fused over the
    paper's S = 10 scales, on the size ablation's stratified test subset; accuracies and per-image predictions
    (keys ``labels``, ``lgclip_1_scale``, ``lgclip_paper_scales``) for a paired interval of the module's effect."""
    s = PAPER_SETTINGS["n_scales"]
    sub = roles.test.stratified(cfg.ablation_size_n_test // roles.k, seed=cfg.seed + 1)
    paper = FeatureExtractor(roles.encoder, MultiScaleEncoder(roles.encoder, s, seed=cfg.seed,
                                                              interpolation=proto["lgclip.multiscale_interpolation"]),
                             features.resize, features.cache, features.progress)
    idx = ev.selector.select("llm_first", cfg.n_per_class)
    protos, labels = sets["llm_first"].images[idx], sets["llm_first"].labels[idx]
    gen, test = paper.views(protos, f"prototypes at {s} scales"), paper.views(sub.images, f"test subset at {s} scales")
    preds = {"labels": sub.labels,
             "lgclip_1_scale": ev.classifiers().fit(gen.single, labels).predict(test.single),
             "lgclip_paper_scales": ev.classifiers().fit(gen.multi, labels).predict(test.multi)}
    acc = {m: float(np.mean(p == sub.labels)) for m, p in preds.items() if m != "labels"}
    return {"n_scales": s, "n_test": int(len(sub)), "accuracy": acc,
            "what": f"LGCLIP prototypes (llm_first, N = {cfg.n_per_class}) at the single view vs fused over {s} "
                    "crop scales, on a stratified test subset"}, preds


def _size_ablation(cfg: LGCLIPConfig, features: FeatureExtractor, gen_images: np.ndarray, gen_labels: np.ndarray,
                   test: ImageDataset,
                   classifier: Callable[[], PrototypeClassifier]) -> tuple[dict[str, float], dict[str, str]]:
    """Prototypes-only accuracy at several encoder input resolutions (single scale, a test subset); the
    prototype images and their labels come already selected.

    The size goes with each call (``features.single(size=...)``): the shared encoder is never changed. A tower
    that cannot take a size (CLIP's ViTs and attention-pooled ResNets have a fixed grid of positional
    embeddings) is skipped at that size; the second dict says which sizes and why."""
    sub = test.stratified(cfg.ablation_size_n_test // len(test.classnames), seed=cfg.seed + 1)
    encoder = features.encoder
    out: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for size in cfg.ablation_sizes:
        try:
            encoder.encode(sub.images[:1], resize=features.resize, size=size)
        except RuntimeError as e:  # a positional-embedding grid of another size: the architecture's limit
            skipped[str(size)] = f"{encoder.name} cannot take {size}px input: {str(e).splitlines()[0][:160]}"
            continue
        g = features.single(gen_images, f"features {size}px prototypes", size=size)
        t = features.single(sub.images, f"features {size}px", size=size)
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


def _write_outputs(out: Path, result: dict[str, Any], roles: Roles, prototypes: GeneratedSet,
                   feats: dict[str, FeatureSet], ev: PrototypeEvaluator, predictions: dict[str, np.ndarray],
                   ms_predictions: dict[str, np.ndarray]) -> None:
    """lgclip.json (merged with another protocol's run, see ``merge_protocol_results``), lgclip.csv of the top
    level, and the figures of this run (LGCLIP's confusion matrix, its prototypes) when it is the top level."""
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
    write_per_image(out / PER_IMAGE, roles.test.labels, predictions)
    if ms_predictions:
        labels = ms_predictions.pop("labels")
        write_per_image(out / PER_IMAGE_MULTISCALE, labels, ms_predictions)
    names, y, test, gen = roles.names, roles.test.labels, feats[TEST], feats[prototypes.mode]
    pred = ev.fit(prototypes.mode, gen.multi).predict(test.multi)
    figures.confusion_matrix(y, pred, names, out / "confusion_lgclip.png",
                             title=f"LGCLIP on {result['dataset']} (top-1 {result['accuracy']['lgclip']:.3f})")
    grid = ev.selector.select(prototypes.mode, min(8, ev.n_per_class))
    figures.image_grid(prototypes.images[grid], rows=len(names), labels=names, path=out / "prototypes_grid.png")
    idx = ev.selector.select(prototypes.mode, ev.n_per_class)
    figures.feature_map(test.multi, y, gen.multi[idx], prototypes.labels[idx], names, out / "feature_map.png")


PER_IMAGE = "per_image.npz"  # every test image's label and each paper method's prediction
PER_IMAGE_MULTISCALE = "per_image_multiscale.npz"  # the same for ``multiscale_effect``'s test subset


def write_per_image(path: Path, labels: np.ndarray, predictions: dict[str, np.ndarray]) -> None:
    """The test labels and each method's predicted class per image, written atomically (``np.savez``)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, labels=np.asarray(labels, np.int16),
                        **{m: np.asarray(p, np.int16) for m, p in predictions.items()})
    tmp.replace(path)


def read_per_image(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(labels, {method: 0/1 correct per test image}) from a run's ``per_image.npz``."""
    with np.load(path) as z:
        labels = z["labels"]
        return labels, {m: (z[m] == labels).astype(np.int8) for m in z.files if m != "labels"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="offline", choices=sorted(zoo.PROFILES))
    p.add_argument("--dataset", default=None, help="a dataset name registered in the zoo (default: the profile's)")
    p.add_argument("--backbone", default=None, help="an image encoder name registered in the zoo")
    p.add_argument("--quick", action="store_true",
                   help="1,000 test images and smaller ablations (cold cache, 2 CPU cores, measured 3 Dec 2026: "
                        "3.5-4.5 min; with --protocol authors about 5 min, 2-2.5 min of it the authors' one "
                        "list request per class)")
    p.add_argument("--settings", default="profile", choices=SETTINGS,
                   help="defaults of the options below: 'profile' (offline: the backbone's native size, Lite0 "
                        "224 px, N = 100, 1 scale, guidance 2.0) or 'paper' (N = 10, 10 scales, the encoder's "
                        "and generator's own defaults)")
    p.add_argument("--n-per-class", type=int, default=None, help="N, generated images per class (the paper: 10)")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-scales", type=int, default=None, help="scales of the multi-scale module (the paper: 10)")
    p.add_argument("--input-size", type=int, default=None,
                   help="encoder input resolution in pixels (offline: the backbone's native size, Lite0 224 / "
                        "Lite1 240 / Lite2 260; paper settings: the zoo's, 112)")
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="the generator's classifier-free guidance (offline: 2.0; paper settings: its own)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--protocol", default=None, choices=protocols.PROTOCOLS,
                   help="'authors': as the LGCLIP authors' released code; 'clean': ours (default: the profile's, "
                        "see lgclip_core/protocols.py)")
    p.add_argument("--out", required=True, help="output directory (lgclip.json, lgclip.csv, figures)")


def run(args: argparse.Namespace) -> int:
    from ..params import validate_run  # one-line errors in seconds for wrong values (types, ranges, names)

    validate_run("lgclip", profile=args.profile, dataset=args.dataset, backbone=args.backbone,
                 n_per_class=args.n_per_class, n_test=args.n_test, seed=args.seed, n_scales=args.n_scales,
                 input_size=args.input_size, guidance_scale=args.guidance_scale)
    for role, name in (("dataset", args.dataset), ("image_encoder", args.backbone)):
        if name:
            zoo.resolve(role, name, args.profile)  # unknown names fail fast, listing the registered ones
    kw = dict(profile=args.profile, dataset=args.dataset, backbone=args.backbone, n_per_class=args.n_per_class,
              seed=args.seed, protocol=getattr(args, "protocol", None), n_scales=args.n_scales,
              input_size=args.input_size, guidance_scale=args.guidance_scale,
              settings=getattr(args, "settings", "profile"))
    if args.n_test:
        kw["n_test"] = args.n_test
    costs = zoo.PROFILES[args.profile].reports == "costs"
    if costs and args.quick:  # few classes, images and steps; real resolutions
        from ..paper_shapes import LGCLIP_QUICK

        kw.update(LGCLIP_QUICK)
    cfg = LGCLIPConfig.quick(**kw) if args.quick else LGCLIPConfig.full(**kw)
    result = run_lgclip(cfg, out=args.out)
    if costs:
        from ..paper_shapes import print_summary

        print_summary(result, Path(args.out) / "lgclip.json")
        return 0
    width = max(len(m) for m in result["accuracy"])
    for m, a in result["accuracy"].items():
        print(f"{m:<{width}}  {a:.4f}")
    print(f"wrote {Path(args.out) / 'lgclip.json'} in {result['timings_s']['total']:.0f} s")
    return 0
