"""LGCLIP's method on plain arrays and its experiment on the tiny profile (mechanics only, never results).

Covers: the prototype classifiers as scikit-learn estimators, the errors users hit, the multi-scale module
(fusion weights, torchvision-identical crops, batching/sharding invariance), the seed-per-image rule of
generation, the LiT aligner, and one end-to-end ``run_lgclip`` whose rerun is served from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone

from lgclip_core import zoo
from lgclip_core.alignment import LiTAligner
from lgclip_core.cache import ArtifactCache
from lgclip_core.errors import BadInputError, UnknownNameError, check_class_names
from lgclip_core.experiments.lgclip import ACCURACY_KEYS, LGCLIPConfig, run_lgclip
from lgclip_core.multiscale import MultiScaleEncoder, crop_box, fusion_weights, hash_seed, multiscale_crops
from lgclip_core.prototypes import HybridClassifier, PrototypeClassifier

# The smallest run that still exercises every branch of run_lgclip (tiny random-init models, 3 classes).
TINY = dict(profile="tiny", n_test=12, n_max=4, n_per_class=2, n_descriptions=2, n_scales=3, lit_per_class=2,
            real_per_class=4, kshot_draws=2, ablation_n=(1, 2), ablation_scales=(1, 3), ablation_sizes=(32,),
            ablation_size_n_test=6)


def _blobs(n_per_class: int = 30, dim: int = 8, k: int = 3, seed: int = 0,
           noise: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """k Gaussian blobs with fixed centres; ``seed`` draws the noise (so two seeds give train and test sets)."""
    centers = np.random.default_rng(1234).normal(size=(k, dim))
    y = np.repeat(np.arange(k), n_per_class)
    x = centers[y] + noise * np.random.default_rng(seed).normal(size=(len(y), dim))
    return x.astype(np.float32), y


# ------------------------------------------------------------------------------------ prototype classifier
def test_prototype_classifier_is_a_sklearn_estimator() -> None:
    X, y = _blobs()
    Xt, yt = _blobs(seed=1, n_per_class=10)
    clf = PrototypeClassifier().fit(X, y)
    assert clf.prototypes_.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(clf.prototypes_, axis=1), 1.0, rtol=1e-5)
    assert clf.score(Xt, yt) > 0.95
    proba = clf.predict_proba(Xt)
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), clf.predict(Xt))
    # string labels come back as given
    names = np.array(["cat", "dog", "owl"])
    np.testing.assert_array_equal(PrototypeClassifier().fit(X, names[y]).predict(Xt), names[clf.predict(Xt)])
    twin = clone(PrototypeClassifier(n_prototypes=2, temperature=0.05, random_state=3))
    assert twin.get_params() == {"n_prototypes": 2, "classes": None, "temperature": 0.05, "random_state": 3,
                                 "center": False, "normalize_prototypes": True}
    assert not hasattr(twin, "prototypes_")


def test_prototype_is_the_class_mean_and_prediction_the_nearest_by_cosine() -> None:
    X = np.array([[1, 0], [0.8, 0.2], [0, 1], [0.1, 0.9]], np.float32)
    clf = PrototypeClassifier().fit(X, [0, 0, 1, 1])
    m0 = X[:2] / np.linalg.norm(X[:2], axis=1, keepdims=True)
    expected = m0.mean(0) / np.linalg.norm(m0.mean(0))
    np.testing.assert_allclose(clf.prototypes_[0], expected, rtol=1e-5)
    # scale does not matter (cosine similarity), direction does
    np.testing.assert_array_equal(clf.predict(np.array([[10.0, 1.0], [0.01, 0.3]])), [0, 1])


def test_multi_prototype_mode_handles_a_two_mode_class() -> None:
    """Class 0 lies along e1 and along e2; class 1 along their bisector. The single mean of class 0 is the
    bisector (so it collides with class 1); two k-means prototypes per class separate them."""
    rng = np.random.default_rng(0)
    e1, e2 = np.eye(2)[0], np.eye(2)[1]
    bis = (e1 + e2) / np.sqrt(2)
    x0 = np.concatenate([e1 + 0.05 * rng.normal(size=(20, 2)), e2 + 0.05 * rng.normal(size=(20, 2))])
    x1 = bis + 0.05 * rng.normal(size=(40, 2))
    X, y = np.concatenate([x0, x1]).astype(np.float32), np.repeat([0, 1], 40)
    one = PrototypeClassifier(n_prototypes=1).fit(X, y)
    two = PrototypeClassifier(n_prototypes=2, random_state=0).fit(X, y)
    assert len(two.prototypes_) == 4 and sorted(two.prototype_class_.tolist()) == [0, 0, 1, 1]
    assert two.score(X, y) > 0.95 > one.score(X, y) + 0.2
    np.testing.assert_allclose(two.predict_proba(X).sum(1), 1.0, rtol=1e-5)


def test_centering_removes_a_shared_domain_offset() -> None:
    """Test features = training features + one large offset (a domain gap): the plain cosine is pulled towards
    whichever prototype points along the offset; subtracting each domain's own mean undoes it exactly."""
    X, y = _blobs(noise=0.3)
    Xt, yt = _blobs(seed=1, n_per_class=20, noise=0.3)
    offset = 8.0 * np.random.default_rng(7).normal(size=X.shape[1]).astype(np.float32)
    plain = PrototypeClassifier().fit(X, y)
    centered = PrototypeClassifier(center=True).fit(X, y)
    assert centered.score(Xt + offset, yt) > 0.95 > plain.score(Xt + offset, yt) + 0.2
    # the batch's own mean is removed, so the offset does not matter at all
    np.testing.assert_array_equal(centered.predict(Xt + offset), centered.predict(Xt))
    with pytest.raises(BadInputError, match="whole test set"):
        centered.predict(Xt[:1])


def test_hybrid_weight_endpoints_are_image_only_and_text_only() -> None:
    X, y = _blobs()
    text = np.random.default_rng(1).normal(size=(len(y), 3)).astype(np.float32)
    image_only = HybridClassifier(image_weight=1.0).fit(X, y)
    text_only = HybridClassifier(image_weight=0.0).fit(X, y)
    np.testing.assert_array_equal(image_only.predict(X, text), PrototypeClassifier().fit(X, y).predict(X))
    np.testing.assert_array_equal(text_only.predict(X, text), text.argmax(1))
    with pytest.raises(BadInputError, match="image_weight"):
        HybridClassifier(image_weight=1.5).fit(X, y)
    with pytest.raises(BadInputError, match="text_scores"):
        image_only.predict(X, text[:, :2])


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("names", "match"), [([], "empty"), (["cat", "Cat "], "duplicate"), (["cat", " "], "blank")])
def test_bad_class_names(names: list[str], match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        check_class_names(names)


def test_class_with_zero_generated_images_is_an_error() -> None:
    X, y = _blobs(k=2)
    with pytest.raises(BadInputError, match="zero training samples"):
        PrototypeClassifier(classes=[0, 1, 2]).fit(X, y)


def test_mismatched_feature_dimensions_are_an_error() -> None:
    X, y = _blobs(dim=8)
    clf = PrototypeClassifier().fit(X, y)
    with pytest.raises(BadInputError, match="9 features but the prototypes have 8"):
        clf.predict(np.zeros((2, 9), np.float32))
    with pytest.raises(BadInputError, match="2-D"):
        clf.predict(np.zeros(8, np.float32))
    with pytest.raises(BadInputError, match="rows"):
        PrototypeClassifier().fit(X, y[:-1])


@pytest.mark.parametrize(("field", "listed"), [("backbone", "efficientnet-lite0"), ("dataset", "fashion-mnist")])
def test_unknown_backbone_or_dataset_lists_registered_names(field: str, listed: str) -> None:
    with pytest.raises(UnknownNameError, match=listed) as err:
        run_lgclip(LGCLIPConfig(profile="tiny", **{field: "no-such-name"}), progress=False)
    assert "'no-such-name'" in str(err.value)


# ------------------------------------------------------------------------------------------ multi-scale
def test_fusion_weights_are_s_over_55() -> None:
    w = fusion_weights(10)
    np.testing.assert_allclose(w, np.arange(1, 11) / 55)
    assert w.sum() == pytest.approx(1.0) and w.argmax() == 9
    with pytest.raises(BadInputError):
        fusion_weights(0)


@pytest.mark.parametrize(("height", "width"), [(28, 28), (28, 40), (375, 500)])
def test_crop_box_matches_torchvision_random_resized_crop(height: int, width: int) -> None:
    from torchvision.transforms import RandomResizedCrop

    img = torch.zeros(3, height, width)
    for seed in range(5):
        for s in range(1, 11):
            torch.manual_seed(seed)
            expected = RandomResizedCrop.get_params(img, scale=[s / 10, s / 10], ratio=[3 / 4, 4 / 3])
            got = crop_box(height, width, s / 10, torch.Generator().manual_seed(seed))
            assert got == tuple(int(v) for v in expected), (seed, s)


def test_crop_area_is_the_scale_fraction_and_deterministic() -> None:
    for s in range(1, 10):
        boxes = {crop_box(224, 224, s / 10, torch.Generator().manual_seed(s)) for _ in range(3)}
        assert len(boxes) == 1  # same seed, same crop
        top, left, h, w = boxes.pop()
        assert h * w / 224**2 == pytest.approx(s / 10, abs=0.01)
        assert 0 <= top <= 224 - h and 0 <= left <= 224 - w
    top, left, h, w = crop_box(224, 224, 1.0, torch.Generator().manual_seed(0))  # s = 10: (about) all of it
    assert h * w / 224**2 > 0.99
    a = multiscale_crops(np.full((2, 28, 28), 7, np.uint8), 3, 10, 16, seed=1)
    assert a.shape == (2, 3, 16, 16)


def test_bilinear_crops_are_one_resized_crop_per_image() -> None:
    """Crops resized together (grouped by shape, grey resized before it becomes RGB) equal torchvision's
    resized_crop of each image on its own."""
    from torchvision.transforms.v2.functional import resized_crop

    rng = np.random.default_rng(3)
    images = ([rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(12)]
              + [rng.integers(0, 256, (30, 41, 3), dtype=np.uint8) for _ in range(3)])
    for s in (2, 7, 10):
        got = multiscale_crops(images, s, 10, 56, seed=5, start_index=4)
        for i, img in enumerate(images):
            box = crop_box(*img.shape[:2], s / 10, torch.Generator().manual_seed(hash_seed(5, s, 4 + i)))
            x = torch.from_numpy(img.astype(np.float32) / 255)
            x = x[None].expand(3, -1, -1) if x.ndim == 2 else x.permute(2, 0, 1)
            ref = resized_crop(x, *box, [56, 56], antialias=True).clamp(0, 1)
            torch.testing.assert_close(got[i], ref, rtol=0, atol=1e-6)


def test_multiscale_features_independent_of_batching_and_sharding(tiny_encoder: Any) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 36), dtype=np.uint8)  # non-square, grey
    ref = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=11, batched=True).encode_per_scale(images, batch_size=5)
    loop = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=11, batched=False).encode_per_scale(images,
                                                                                                batch_size=5)
    small = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=11).encode_per_scale(images, batch_size=2)
    shard = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=11).encode_per_scale(images[3:], start_index=3)
    assert ref.shape == (4, 5, tiny_encoder.feature_dim)
    for other in (loop, small, shard):
        np.testing.assert_allclose(other, ref[:, -other.shape[1]:], atol=1e-5)
    other_seed = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=12).encode_per_scale(images)
    assert np.abs(other_seed[:3] - ref[:3]).max() > 1e-3  # crops (scales < S) move with the seed
    ms = MultiScaleEncoder(tiny_encoder, n_scales=4, seed=11)
    fused = ms.encode(images)
    manual = np.tensordot(np.arange(1, 5) / 10, ref, axes=1)
    np.testing.assert_allclose(fused, manual / np.linalg.norm(manual, axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(BadInputError, match="scales"):
        MultiScaleEncoder(tiny_encoder, n_scales=4, scales=[5])


# ------------------------------------------------------------------------------------------- generation
def test_image_depends_only_on_its_prompt_and_seed(tiny_generator: Any) -> None:
    a, b = "a red circle", "a blue square"
    pair = tiny_generator.generate([a, b], [5, 5])
    np.testing.assert_array_equal(pair[0], tiny_generator.generate([a], [5])[0])  # batch mates do not matter
    np.testing.assert_array_equal(pair[1], tiny_generator.generate([b, a, a], [5, 1, 2])[0])
    assert not np.array_equal(pair[0], tiny_generator.generate([a], [6])[0])  # the seed does matter


def test_generate_images_caches_chunks(tiny_generator: Any, tmp_cache: ArtifactCache) -> None:
    from lgclip_core.generator import generate_images

    prompts, seeds = ["a red circle"] * 3 + ["a blue square"] * 3, [0, 1, 2, 0, 1, 2]
    first = generate_images(tiny_generator, prompts, seeds, cache=tmp_cache, chunk=3, progress=False)
    assert (tmp_cache.hits, tmp_cache.misses) == (0, 2)
    again = generate_images(tiny_generator, prompts, seeds, cache=tmp_cache, chunk=3, progress=False)
    assert (tmp_cache.hits, tmp_cache.misses) == (2, 2)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(BadInputError, match="seeds"):
        generate_images(tiny_generator, prompts, seeds[:-1], cache=tmp_cache)


# ---------------------------------------------------------------------------------------------- LiT
def _toy_pairs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images and texts of 4 groups in two unrelated spaces (16-d and 12-d): only training can align them."""
    rng = np.random.default_rng(seed)
    ci, ct = rng.normal(size=(4, 16)), rng.normal(size=(4, 12))
    g = np.repeat(np.arange(4), 40)
    xi = ci[g] + 0.3 * rng.normal(size=(len(g), 16))
    xt = ct[g] + 0.3 * rng.normal(size=(len(g), 12))
    return xi.astype(np.float32), xt.astype(np.float32), g, ct.astype(np.float32)


def test_lit_aligner_learns_to_align_and_round_trips(tmp_path: Path) -> None:
    xi, xt, g, class_text = _toy_pairs()
    untrained = LiTAligner(dim=8, epochs=0, batch_size=32, seed=0).fit(xi, xt, g)
    trained = LiTAligner(dim=8, epochs=40, batch_size=32, lr=1e-2, seed=0).fit(xi, xt, g)
    acc = float(np.mean(trained.zero_shot_scores(xi, class_text).argmax(1) == g))
    chance = float(np.mean(untrained.zero_shot_scores(xi, class_text).argmax(1) == g))
    assert acc > 0.9 and acc > chance + 0.3
    # multi-positive InfoNCE cannot reach 0 (10 positives per row in a batch of 32): ask for a clear drop
    assert np.mean(trained.loss_history[-5:]) < 0.9 * np.mean(trained.loss_history[:5])
    trained.save(tmp_path / "lit.safetensors")
    back = LiTAligner.load(tmp_path / "lit.safetensors")
    np.testing.assert_allclose(back.embed_images(xi), trained.embed_images(xi), atol=1e-6)
    np.testing.assert_allclose(back.embed_texts(xt), trained.embed_texts(xt), atol=1e-6)
    assert float(back.logit_scale) == pytest.approx(float(trained.logit_scale))
    with pytest.raises(BadInputError, match="not fitted"):
        LiTAligner().embed_images(xi)
    with pytest.raises(BadInputError, match="aligned pairs"):
        LiTAligner().fit(xi, xt[:-1])


# -------------------------------------------------------------------------------------- the experiment
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lgclip")
    cache = ArtifactCache(root / "cache")
    first = run_lgclip(LGCLIPConfig(**TINY), out=root / "out", cache=cache, progress=False)
    misses, hits = cache.misses, cache.hits
    second = run_lgclip(LGCLIPConfig(**TINY), cache=cache, progress=False)
    return {"first": first, "second": second, "out": root / "out", "cache": cache, "misses": misses,
            "hits": hits}


def test_run_lgclip_writes_results_with_every_key(tiny_run: dict[str, Any]) -> None:
    out: Path = tiny_run["out"]
    saved = json.loads((out / "lgclip.json").read_text())
    for key in ("profile", "dataset", "backbone", "n_test", "n_per_class", "accuracy", "ablations", "timings_s",
                "manifest"):
        assert key in saved, key
    assert (saved["profile"], saved["dataset"]) == ("tiny", "tiny-shapes")
    assert saved["backbone"] == zoo.load("image_encoder", profile="tiny").name
    assert saved["n_test"] == 12 and saved["n_per_class"] == 2
    assert set(ACCURACY_KEYS) <= set(saved["accuracy"])
    assert all(0.0 <= v <= 1.0 for v in saved["accuracy"].values())
    assert set(saved["ablations"]) == {"n_per_class", "prompts", "n_scales", "hybrid_weight", "input_size"}
    assert set(saved["ablations"]["n_per_class"]) == {"1", "2"}
    assert set(saved["ablations"]["prompts"]) == {"template", "llm_first", "llm_per_image"}
    assert saved["timings_s"]["total"] > 0
    assert saved["manifest"]["seeds"]["global"] == 2024 and saved["manifest"]["cache"]["entries"]
    for name in ("lgclip.csv", "confusion_lgclip.png", "prototypes_grid.png", "feature_map.png"):
        assert (out / name).stat().st_size > 0, name


def test_image_i_of_every_class_uses_seed_i(tiny_run: dict[str, Any]) -> None:
    from lgclip_core.experiments.lgclip import prompt_sets

    cache: ArtifactCache = tiny_run["cache"]
    metas = [json.loads(p.read_text()) for p in (cache.root / "images").glob("*.json")]
    chunks = [m["parts"] for m in metas if m["parts"]["seeds"][0] < 1000]  # the LiT images use seeds 1000+
    assert chunks and all(p["seeds"] == [0, 1, 2, 3] for p in chunks)  # one class per chunk, image i: seed i
    llm = tiny_run["first"]["prompts"]["llm"]
    expected = {tuple(row) for rows in prompt_sets(list(llm), llm, 4).values() for row in rows}
    assert {tuple(p["prompts"]) for p in chunks} == expected


def test_second_run_is_served_from_the_cache(tiny_run: dict[str, Any]) -> None:
    cache: ArtifactCache = tiny_run["cache"]
    assert tiny_run["misses"] > 0
    assert cache.misses == tiny_run["misses"]  # nothing was computed again
    assert cache.hits > tiny_run["hits"]
    first, second = tiny_run["first"]["accuracy"], tiny_run["second"]["accuracy"]
    assert first == second  # same inputs, same seeds: same numbers


# Recorded from the tiny profile's default protocol BEFORE run_lgclip was split into steps and the input-size
# ablation stopped mutating the encoder (commit 7e0c266): a refactor must leave every number where it was.
PRE_REFACTOR_ACCURACY = {'lgclip': 0.333333,
                         'prototypes_only': 0.333333,
                         'llm_only': 0.333333,
                         'multiscale_only': 0.416667,
                         'text_zero_shot': 0.333333,
                         'hybrid': 0.333333,
                         'real_1shot': 0.625,
                         'real_10shot': 0.666667,
                         'real_class_means': 0.666667,
                         'linear_probe_real': 0.75,
                         'lgclip_llm_per_image': 0.333333,
                         'lgclip_3_prototypes': 0.416667,
                         'lgclip_centered': 0.333333}
PRE_REFACTOR_ABLATIONS = {'n_per_class': {'1': {'lgclip': 0.333333, 'prototypes_only': 0.333333},
                                          '2': {'lgclip': 0.333333, 'prototypes_only': 0.333333}},
                          'prompts': {'template': {'single_scale': 0.333333, 'multiscale': 0.416667},
                                      'llm_first': {'single_scale': 0.333333, 'multiscale': 0.333333},
                                      'llm_per_image': {'single_scale': 0.333333, 'multiscale': 0.333333}},
                          'n_scales': {'1': 0.333333, '3': 0.333333},
                          'hybrid_weight': {'0.0': 0.333333, '0.25': 0.333333, '0.5': 0.333333, '0.75': 0.333333,
                                            '1.0': 0.333333},
                          'input_size': {'32': 0.333333}}


def test_tiny_run_numbers_equal_the_pre_refactor_ones(tiny_run: dict[str, Any]) -> None:
    result = tiny_run["first"]
    assert result["protocol"]["name"] == "clean"
    assert set(result["accuracy"]) == set(PRE_REFACTOR_ACCURACY)
    for key, value in PRE_REFACTOR_ACCURACY.items():
        assert result["accuracy"][key] == pytest.approx(value, abs=1e-6), key

    def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
        out: dict[str, float] = {}
        for k, v in tree.items():
            out.update(flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    got, want = flat(result["ablations"]), flat(PRE_REFACTOR_ABLATIONS)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


def test_size_ablation_passes_the_size_per_call_and_skips_sizes_the_tower_cannot_take(
        tmp_cache: ArtifactCache) -> None:
    """A tower with a fixed positional-embedding grid (CLIP ViT) fails at other sizes: skipped with the reason,
    and the shared encoder is never changed."""
    from lgclip_core.experiments.lgclip import FeatureExtractor, _size_ablation
    from lgclip_core.prototypes import PrototypeClassifier

    class FixedGridEncoder:
        name, input_size = "fixed-grid", 32

        def config(self) -> dict[str, Any]:
            return {"name": self.name, "revision": "", "input_size": self.input_size}

        def encode(self, images: np.ndarray, resize: str = "squash", size: int | None = None) -> np.ndarray:
            if (size or self.input_size) != 32:
                raise RuntimeError("The size of tensor a (50) must match the size of tensor b (197)\nmore")
            return np.asarray(images, np.float32).reshape(len(images), -1)[:, :4] + 1e-3

    test = zoo.load("dataset", profile="tiny", split="test")
    enc = FixedGridEncoder()
    cfg = LGCLIPConfig(**{**TINY, "ablation_sizes": (32, 64)})
    gen = test.stratified(2, seed=0)
    features = FeatureExtractor(enc, MultiScaleEncoder(enc, 1), "squash", tmp_cache, progress=False)
    out, skipped = _size_ablation(cfg, features, gen.images, gen.labels, test,
                                  lambda: PrototypeClassifier(classes=np.arange(3)))
    assert set(out) == {"32"} and 0.0 <= out["32"] <= 1.0
    assert set(skipped) == {"64"} and "fixed-grid cannot take 64px" in skipped["64"] and "\n" not in skipped["64"]
    assert enc.input_size == 32
