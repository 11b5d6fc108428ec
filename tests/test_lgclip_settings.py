"""The LGCLIP run's settings per profile, the guidance and self-training steps, and the pseudo-label classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lgclip_core import zoo
from lgclip_core.cache import ArtifactCache
from lgclip_core.errors import BadInputError
from lgclip_core.experiments.lgclip import (
    PAPER_SETTINGS,
    PROFILE_SETTINGS,
    SETTINGS,
    FeatureExtractor,
    LGCLIPConfig,
    run_lgclip,
)
from lgclip_core.multiscale import MultiScaleEncoder
from lgclip_core.params import RULES, ParameterError, validate_parameters
from lgclip_core.prototypes import PseudoLabelClassifier

TINY = dict(profile="tiny", n_test=12, n_max=4, n_per_class=2, n_descriptions=2, lit_per_class=2,
            real_per_class=4, kshot_draws=2, ablation_n=(1, 2), ablation_sizes=(32,), ablation_size_n_test=6)


# ----------------------------------------------------------------------------------------------- settings
def test_a_field_left_none_takes_the_profile_setting_or_the_paper_one() -> None:
    offline = LGCLIPConfig()
    for key, value in PROFILE_SETTINGS["offline"].items():
        if key != "input_size":  # "native": the backbone's own resolution
            assert getattr(offline, key) == value, key
    assert (offline.input_size, offline.n_per_class, offline.n_scales, offline.guidance_scale) == (224, 100, 1, 2.0)
    assert [LGCLIPConfig(backbone=f"efficientnet-lite{v}").input_size for v in (0, 1, 2)] == [224, 240, 260]
    assert LGCLIPConfig(backbone="efficientnet-lite2", input_size=112).input_size == 112  # a given size stays
    paper = LGCLIPConfig(settings="paper")
    for key, value in PAPER_SETTINGS.items():
        assert getattr(paper, key) == value, key
    assert LGCLIPConfig(profile="tiny").n_scales == PAPER_SETTINGS["n_scales"]  # no entry: the paper's
    assert LGCLIPConfig(n_scales=3, input_size=112).n_scales == 3  # given values stay


def test_n_per_class_defaults_to_at_most_the_images_generated() -> None:
    assert LGCLIPConfig(n_max=10).n_per_class == 10
    assert LGCLIPConfig.quick().n_per_class == 10 and LGCLIPConfig.quick(n_per_class=None).n_per_class == 10
    assert LGCLIPConfig.quick().unlabeled_pool == 1000 and LGCLIPConfig.quick(settings="paper").unlabeled_pool == 0
    with pytest.raises(BadInputError, match="raise n_max or lower n_per_class"):
        LGCLIPConfig(n_per_class=20, n_max=10)
    with pytest.raises(BadInputError, match="profile, paper"):
        LGCLIPConfig(settings="best")


def test_chapter_parameters_know_the_settings_and_none_only_where_the_run_resolves_it() -> None:
    assert RULES["SETTINGS"].choices() == list(SETTINGS)
    validate_parameters({"N_MAX": None, "N_PER_CLASS": None, "GUIDANCE_SCALE": None}, experiment="lgclip")
    with pytest.raises(ParameterError, match="N_SCALES"):
        validate_parameters({"N_SCALES": None})  # chapter 04 draws crops with it: it needs a number
    with pytest.raises(ParameterError, match="GUIDANCE_SCALE"):
        validate_parameters({"GUIDANCE_SCALE": 0.5}, experiment="lgclip")


def test_guidance_override_is_a_new_wrapper_and_part_of_the_cache_key(tiny_generator: Any) -> None:
    other = tiny_generator.with_sampling(guidance_scale=1.5)
    assert other.guidance_scale == 1.5 and tiny_generator.guidance_scale != 1.5
    assert other.config()["guidance_scale"] == 1.5 and other.config() != tiny_generator.config()
    a = tiny_generator.generate(["a circle"], [0])
    b = other.generate(["a circle"], [0])
    assert not np.array_equal(a, b)  # guidance changes the image
    with pytest.raises(BadInputError, match="guidance_scale must be >= 1"):
        tiny_generator.with_sampling(guidance_scale=0.5)


def test_one_scale_reuses_the_single_view(tiny_encoder: Any, tmp_cache: ArtifactCache) -> None:
    images = zoo.load("dataset", profile="tiny", split="test").images[:5]
    calls = []
    one = FeatureExtractor(tiny_encoder, MultiScaleEncoder(tiny_encoder, 1), "squash", tmp_cache, progress=False)
    one._encode_per_scale = lambda *a: calls.append(a)  # type: ignore[method-assign]
    views = one.views(images, "test")
    assert not calls and views.per_scale.shape == (1, 5, views.single.shape[1])
    np.testing.assert_allclose(views.multi, views.single, atol=1e-6)  # the fusion re-normalises
    three = FeatureExtractor(tiny_encoder, MultiScaleEncoder(tiny_encoder, 3), "squash", tmp_cache, progress=False)
    assert three.views(images, "test").per_scale.shape[0] == 3


# ------------------------------------------------------------------------------------------ pseudo-labels
def _blobs(n: int, k: int = 3, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    centers = np.random.default_rng(99).normal(size=(k, dim))
    y = np.repeat(np.arange(k), n)
    return (centers[y] + 0.6 * np.random.default_rng(seed).normal(size=(len(y), dim))).astype(np.float32), y


def test_pseudo_labels_from_noisy_scores_train_a_better_classifier() -> None:
    X, y = _blobs(200)
    Xt, yt = _blobs(100, seed=1)
    rng = np.random.default_rng(0)
    scores = np.eye(3)[y] * 1.0 + rng.normal(scale=0.9, size=(len(y), 3))  # a weak zero-shot classifier
    zero_shot = float(np.mean(scores.argmax(1) == y))
    clf = PseudoLabelClassifier(confident_fraction=0.4).fit(X, scores)
    assert clf.n_pseudo_labelled_ == 3 * int(0.4 * len(X) / 3)
    assert zero_shot < 0.8 and clf.score(Xt, yt) > 0.95  # the pool's structure fixes most mistakes
    np.testing.assert_array_equal(clf.pseudo_labels_, scores.argmax(1))
    # the kept images are each class's most confident ones
    few = PseudoLabelClassifier(confident_fraction=0.03).fit(X, scores)
    assert few.n_pseudo_labelled_ == 3 * 6


def test_pseudo_label_errors_name_the_fix() -> None:
    X, y = _blobs(10)
    scores = np.eye(3)[np.zeros_like(y)]  # every image scored as class 0
    with pytest.raises(BadInputError, match="no pool image is pseudo-labelled as class 1"):
        PseudoLabelClassifier().fit(X, scores)
    with pytest.raises(BadInputError, match="one row of class scores per image"):
        PseudoLabelClassifier().fit(X, np.eye(3)[y][:-1])
    with pytest.raises(BadInputError, match=r"confident_fraction must be in \(0, 1\]"):
        PseudoLabelClassifier(confident_fraction=0.0).fit(X, np.eye(3)[y])


def test_unlabeled_pool_is_seeded_and_leaves_out_the_validation_images() -> None:
    train = zoo.load("dataset", profile="tiny", split="train")
    val = train.stratified_indices(4, seed=1)
    np.testing.assert_array_equal(train.subset(val).labels, train.stratified(4, seed=1).labels)
    pool = train.unlabeled_indices(8, seed=3, exclude=val)
    np.testing.assert_array_equal(pool, train.unlabeled_indices(8, seed=3, exclude=val))
    assert len(set(pool)) == 8 and not set(pool) & set(val)
    assert not np.array_equal(pool, train.unlabeled_indices(8, seed=4, exclude=val))
    with pytest.raises(BadInputError, match="ask for fewer"):
        train.unlabeled_indices(len(train) - len(val) + 1, exclude=val)


# ----------------------------------------------------------------------------------------------- the run
@pytest.fixture(scope="module")
def tiny_settings_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("settings")
    cfg = LGCLIPConfig(**TINY, n_scales=1, ablation_guidance=(1.5, 7.5), unlabeled_pool=12,
                       ablation_self_training=(0.4, 1.0))
    return run_lgclip(cfg, out=root / "out", cache=ArtifactCache(root / "cache"), progress=False)


def test_run_measures_guidance_on_validation_and_test(tiny_settings_run: dict[str, Any]) -> None:
    r = tiny_settings_run
    assert set(r["ablations"]["guidance_scale"]) == {"1.5", "7.5"}
    for row in r["ablations"]["guidance_scale"].values():
        assert set(row) == {"validation", "test"} and all(0.0 <= v <= 1.0 for v in row.values())
    # the run's own guidance (the tiny generator's 7.5) reuses the run's images: LGCLIP's single-view prototypes
    assert r["ablations"]["guidance_scale"]["7.5"]["test"] == r["accuracy"]["llm_only"]
    assert r["ablations"]["n_scales"] == {"1": r["accuracy"]["lgclip"]}
    # at one scale the multi-scale view is the single one: LGCLIP is the single-view LLM prototypes
    assert r["accuracy"]["lgclip"] == r["accuracy"]["llm_only"]
    assert {"self_training", "ablation_guidance"} <= set(r["timings_s"])


def test_self_training_is_skipped_with_the_reason_when_a_class_gets_no_pseudo_label(
        tiny_settings_run: dict[str, Any]) -> None:
    """The tiny profile's random-init models never pick some class on its 12-image pool: the run goes on and says
    why (the offline run's self-training is executed by chapter 05 in CI and committed in results/offline)."""
    r = tiny_settings_run
    st = r["self_training"]
    assert st["pool"] == 12 and 0.0 <= st["pseudo_label_accuracy"] <= 1.0
    assert st["hybrid_test_accuracy"] == r["accuracy"]["hybrid"]
    assert "no pool image is pseudo-labelled as class(es)" in st["skipped"]
    assert "larger unlabelled pool" in st["skipped"]
    assert "hybrid_self_trained" not in r["accuracy"] and "self_training_fraction" not in r["ablations"]


def test_the_runs_guidance_reaches_the_generator_and_its_manifest(tmp_path: Path) -> None:
    from lgclip_core import protocols
    from lgclip_core.experiments.lgclip import load_generator

    proto = protocols.resolve(None, "lgclip", "tiny")
    assert load_generator(LGCLIPConfig(profile="tiny", guidance_scale=1.5), proto).guidance_scale == 1.5
    assert load_generator(LGCLIPConfig(profile="tiny"), proto).guidance_scale == 7.5  # the backend's own


def test_another_input_size_is_cached_as_the_eager_run_it_is(tmp_cache: ArtifactCache,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled encoder runs other sizes eager: their cache key must not be the one a compiled encoder of that
    size writes (its features differ in the last bits)."""
    from lgclip_core.experiments import lgclip as experiment

    class Compiled:
        input_size, feature_dim = 32, 4

        def config(self) -> dict[str, Any]:
            return {"name": "stub", "input_size": self.input_size, "backend": "inductor"}

        def encode(self, images: np.ndarray, resize: str = "squash", size: int | None = None) -> np.ndarray:
            return np.ones((len(images), 4), np.float32)

    keys: list[dict[str, Any]] = []
    real = experiment.cached_features
    monkeypatch.setattr(experiment, "cached_features", lambda cache, what, *a, **kw: keys.append(what["encoder"])
                        or real(cache, what, *a, **kw))
    enc = Compiled()
    fx = FeatureExtractor(enc, MultiScaleEncoder(enc, 1), "squash", tmp_cache, progress=False)
    images = np.zeros((3, 8, 8), np.uint8)
    fx.single(images, "own size", size=32)
    fx.single(images, "other size", size=64)
    assert keys[0] == enc.config()  # its own size: the compiled package, the run's usual key
    assert keys[1] == {"name": "stub", "input_size": 64, "backend": "eager"}


def test_a_small_train_split_is_shared_between_references_and_the_pool() -> None:
    """Fashion-MNIST's 6,000 per class hold the configured sizes; the digits' ~90 per class give the references
    half of the smallest class and the unlabelled pool the rest, never the same image twice."""
    from lgclip_core.experiments.lgclip import train_split_sizes

    big = np.repeat(np.arange(10), 6000)
    assert train_split_sizes(LGCLIPConfig(), big) == (500, 5000)
    small = np.repeat(np.arange(10), [89, 91, 88, 92, 90, 91, 90, 90, 87, 90])
    per_class, pool = train_split_sizes(LGCLIPConfig(), small)
    assert per_class == 43 and pool == len(small) - 430
    assert train_split_sizes(LGCLIPConfig(unlabeled_pool=0), small) == (87, 0)  # no pool: every class's smallest


def test_the_grid_runs_missing_cells_once_and_summarises_them_with_intervals(tmp_path: Path) -> None:
    import json

    from lgclip_core.experiments.grid import GRID_EFFECTS, cell_status, run_grid, summarize_grid

    kw = {k: v for k, v in TINY.items() if k != "n_test"}  # a cell is the whole test split
    assert cell_status(tmp_path, "tiny-shapes", "tiny-clip") == "missing"
    summary = run_grid(tmp_path, ("tiny-shapes",), ("tiny-clip",), progress=False, **kw)
    assert summary["missing"] == [] and list(summary["driver_seconds_this_run"]) == ["tiny-shapes_tiny-clip"]
    cell = summary["cells"]["tiny-shapes_tiny-clip"]
    saved = json.loads((tmp_path / "tiny-shapes_tiny-clip" / "lgclip.json").read_text())
    for m, iv in cell["accuracy"].items():
        assert iv["low"] <= iv["estimate"] <= iv["high"] and iv["estimate"] == pytest.approx(saved["accuracy"][m])
        assert iv["n"] == saved["n_test"] == 24
    assert set(cell["effects"]) == {name for name, *_ in GRID_EFFECTS} | {"multiscale_paper_s"}
    e = cell["effects"]["llm_prompts"]
    assert e["estimate"] == pytest.approx(saved["accuracy"]["llm_only"] - saved["accuracy"]["prototypes_only"])
    assert json.loads((tmp_path / "grid.json").read_text())["cells"].keys() == summary["cells"].keys()
    assert run_grid(tmp_path, ("tiny-shapes",), ("tiny-clip",), progress=False, **kw)[
        "driver_seconds_this_run"] == {}  # done cells are not run again
    saved["accuracy"]["lgclip"] += 0.25  # a result that its per-image file does not support is refused
    (tmp_path / "tiny-shapes_tiny-clip" / "lgclip.json").write_text(json.dumps(saved))
    with pytest.raises(BadInputError, match="re-run the cell"):
        summarize_grid(tmp_path, ("tiny-shapes",), ("tiny-clip",))
