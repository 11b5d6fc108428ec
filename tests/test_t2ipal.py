"""T2I-PAL mechanics on the tiny profile: losses, captions, scenes, model shapes, determinism, training, the
paper datasets' loaders and the experiment glue (tiny models only: mechanics, never results)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lgclip_core import zoo
from lgclip_core.errors import BadInputError
from lgclip_core.t2ipal import (
    METHODS,
    T2IPAL,
    ClassVocabulary,
    FeatureSet,
    JointSpace,
    T2IPALConfig,
    TrainConfig,
    asymmetric_loss,
    compose,
    compose_scenes,
    filter_captions,
    make_test_scenes,
    predict,
    ranking_loss,
    render_prompts,
    sample_layouts,
    template_captions,
    train,
)


# ------------------------------------------------------------------------------------------------ losses
def test_ranking_loss_known_values() -> None:
    logits = torch.tensor([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    targets = torch.tensor([[1, 0, 1], [1, 0, 0], [1, 1, 1]])
    # image 0: pairs (0,1): 1-0+1 = 2, (2,1): 1-0.5+1 = 1.5 -> 1.75; image 1: (0,1): 0, (0,2): 0 -> 0;
    # image 2: no negative -> not counted
    assert float(ranking_loss(logits, targets)) == pytest.approx((1.75 + 0.0) / 2)
    assert float(ranking_loss(logits[:1], targets[:1], margin=0.0)) == pytest.approx((1.0 + 0.5) / 2)
    assert float(ranking_loss(logits[2:], targets[2:])) == 0.0
    # TaI-DPT's reduction: the sum over an image's pairs, the mean over every image of the batch
    assert float(ranking_loss(logits, targets, reduction="sum")) == pytest.approx((3.5 + 0.0 + 0.0) / 3)


def test_asymmetric_loss_known_values() -> None:
    logits = torch.zeros(1, 2)
    targets = torch.tensor([[1, 0]])
    pos = -math.log(0.5)  # gamma_pos = 0
    neg = -math.log(1 - 0.45) * 0.45 ** 4  # probability shifted by clip = 0.05, focal gamma_neg = 4
    assert float(asymmetric_loss(logits, targets)) == pytest.approx(pos + neg, rel=1e-5)
    with pytest.raises(BadInputError, match="both be"):
        asymmetric_loss(logits, torch.zeros(1, 3))


# ----------------------------------------------------------------------------------------------- captions
def test_vocabulary_longest_match_and_filter() -> None:
    vocab = ClassVocabulary(["t-shirt", "shirt", "dress", "trousers"],
                            {"shirt": ["dress shirt"], "trousers": ["jeans", "pants"], "t-shirt": ["top"]})
    assert vocab.find("A dress shirt and blue jeans.") == [(1, "dress shirt"), (3, "jeans")]
    assert vocab.find("two T-shirts on top of a dress") == [(0, "t-shirt"), (2, "dress")]  # "top" is ambiguous
    kept = filter_captions(["a cat on a mat.", "a shirt and pants.", "a shirt and pants.", "a dress"], vocab)
    assert kept.texts == ["a shirt and pants.", "a dress"]
    assert kept.stats == {"input": 4, "no_class": 1, "too_many": 0, "duplicate": 1, "kept": 2}
    assert kept.targets.tolist() == [[0, 1, 0, 1], [0, 0, 1, 0]]
    prompts, classes, groups = render_prompts(kept)
    assert prompts == ["a photo of a shirt.", "a photo of a pants.", "a photo of a dress."]
    assert classes.tolist() == [1, 3, 2] and groups == [[0, 1], [2]]


def test_template_captions_deterministic_and_parseable() -> None:
    vocab = ClassVocabulary(["circle", "square", "triangle"])
    a, b = template_captions(vocab, 20, seed=1), template_captions(vocab, 20, seed=1)
    assert a == b and a != template_captions(vocab, 20, seed=2)
    kept = filter_captions(a, vocab)
    assert len(kept) >= 15 and kept.targets.sum(1).min() >= 1  # every caption names what it was built from


# ------------------------------------------------------------------------------------------------- scenes
def test_layouts_and_compose() -> None:
    lay = sample_layouts(30, 10, seed=3)
    assert lay == sample_layouts(30, 10, seed=3) and lay != sample_layouts(30, 10, seed=4)
    for classes, cells in lay:
        assert 1 <= len(classes) <= 4 and len(set(classes)) == len(classes) and len(set(cells)) == len(cells)
    items = np.stack([np.full((4, 4), 10, np.uint8), np.full((4, 4), 200, np.uint8)])
    canvas = compose(items, [3, 0])
    assert canvas.shape == (8, 8) and canvas[4:, 4:].min() == 10 and canvas[:4, :4].min() == 200
    assert canvas[:4, 4:].max() == 0
    with pytest.raises(BadInputError, match="distinct cells"):
        compose(items, [1, 1])


def test_test_scenes_use_test_items_only_and_are_seeded() -> None:
    test = zoo.load("dataset", profile="tiny", split="test")
    a, b = make_test_scenes(test, 20, seed=5, max_items=3), make_test_scenes(test, 20, seed=5, max_items=3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.images, make_test_scenes(test, 20, seed=6, max_items=3).images)
    h, w = test.images.shape[1:]
    for img, row, items in zip(a.images, a.targets, a.items, strict=True):
        assert sorted(np.flatnonzero(row).tolist()) == sorted(c for c, _, _ in items)
        for cls, src, cell in items:
            r, c = divmod(cell, 2)
            assert test.labels[src] == cls
            assert np.array_equal(img[r * h:(r + 1) * h, c * w:(c + 1) * w], test.images[src])
    train_split = zoo.load("dataset", profile="tiny", split="train")
    with pytest.raises(BadInputError, match="test split"):
        make_test_scenes(train_split, 5, seed=0)


def test_compose_scenes_targets_follow_renders() -> None:
    renders = np.stack([np.full((6, 6, 3), v, np.uint8) for v in (50, 100, 150)])
    s = compose_scenes(renders, [0, 2, 1], [[0, 1], [2]], ["a", "b", "c"], seed=0)
    assert s.images.shape == (2, 12, 12)
    assert s.targets.tolist() == [[1, 0, 1], [0, 1, 0]]
    assert s.images[0].max() == 100 and sorted(np.unique(s.images[0]).tolist()) == [0, 50, 100]


# -------------------------------------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def tiny_joint() -> JointSpace:
    return JointSpace(zoo.load("image_encoder", profile="tiny"), zoo.load("text_encoder", profile="tiny"))


@pytest.fixture(scope="module")
def tiny_data(tiny_joint: JointSpace) -> tuple[FeatureSet, list[str]]:
    test = zoo.load("dataset", profile="tiny", split="test")
    scenes = make_test_scenes(test, 24, seed=0, max_items=3)
    g, loc, grid = tiny_joint.encode_images(scenes.images)
    return FeatureSet(g, loc, scenes.targets, grid=grid), test.classnames


def test_shapes_through_the_model(tiny_joint: JointSpace, tiny_data: tuple[FeatureSet, list[str]]) -> None:
    data, names = tiny_data
    n, p, d = data.local_feats.shape
    assert data.global_feats.shape == (n, d) and p == data.grid[0] * data.grid[1]
    np.testing.assert_allclose(np.linalg.norm(data.local_feats, axis=-1), 1.0, atol=1e-5)
    model = T2IPAL(tiny_joint, names, T2IPALConfig(), seed=0)
    logits, parts = model(*data.batch(np.arange(5))[:3], return_parts=True)
    assert logits.shape == (5, len(names))
    assert set(parts) == {"global", "local", "prototype", "heatmap"} and parts["heatmap"].shape == (5, len(names), p)
    assert model.heatmaps(torch.from_numpy(data.local_feats[:2]), data.grid).shape == (2, len(names), *data.grid)
    # text "images" (TaI): token features with a padding mask
    pooled, tokens, mask = tiny_joint.encode_text_tokens(["a circle and a square.", "a triangle"], max_length=16)
    assert pooled.shape == (2, d) and tokens.shape == (2, 16, d) and mask.shape == (2, 16)
    assert mask[1].sum() < mask[0].sum() and np.all(tokens[mask == 0] == 0)
    text_model = T2IPAL(tiny_joint, names, METHODS["tai"], seed=0)
    assert text_model(torch.from_numpy(pooled), torch.from_numpy(tokens), torch.from_numpy(mask)).shape == (2, 3)


def test_zero_shot_prompt_equals_hand_written_prompt(tiny_joint: JointSpace) -> None:
    names = ["circle", "square", "triangle"]
    model = T2IPAL(tiny_joint, names, METHODS["zero_shot"], seed=0)
    t_g, _ = model.prompts()
    expected = tiny_joint.encode_texts([f"a photo of a {c}." for c in names])
    np.testing.assert_allclose(t_g.numpy(), expected, atol=1e-5)
    assert model.trainable_parameters() == []


def test_adapter_starts_at_identity_and_alpha_checked(tiny_joint: JointSpace) -> None:
    from lgclip_core.t2ipal import ResidualAdapter

    x = torch.nn.functional.normalize(torch.randn(4, 32), dim=-1)
    torch.testing.assert_close(ResidualAdapter(32, alpha=0.3)(x), x)
    with pytest.raises(BadInputError, match="alpha"):
        ResidualAdapter(32, alpha=1.5)
    with pytest.raises(Exception, match="clip_adapter"):
        ResidualAdapter(32, convention="clip-adapter")
    # CLIP-Adapter's convention starts from a random MLP: not the identity
    assert not torch.allclose(ResidualAdapter(32, convention="clip_adapter")(x), x)


def test_training_reduces_loss_and_is_deterministic(tiny_joint: JointSpace,
                                                    tiny_data: tuple[FeatureSet, list[str]]) -> None:
    data, names = tiny_data
    cfg = TrainConfig(epochs=6, batch_size=8, lr=5e-3, warmup_epochs=0)

    def run(seed: int) -> tuple[list[float], np.ndarray]:
        model = T2IPAL(tiny_joint, names, T2IPALConfig(), seed=seed)
        res = train(model, data, cfg, seed=seed, progress=False)
        return res.epoch_losses, predict(model, data)

    losses, scores = run(0)
    assert losses[-1] < losses[0]
    losses2, scores2 = run(0)
    assert losses == losses2 and np.array_equal(scores, scores2)
    _, scores3 = run(1)
    assert not np.array_equal(scores, scores3)


def test_bf16_training_uses_a_twin_and_evaluates_in_fp32(tiny_joint: JointSpace,
                                                         tiny_data: tuple[FeatureSet, list[str]]) -> None:
    """``TrainConfig(precision="bf16")`` trains through a bf16 copy of the text tower; the frozen tower stays
    fp32, the model is back on it after training (also after an error) and the run is deterministic."""
    data, names = tiny_data
    cfg = TrainConfig(epochs=4, batch_size=8, lr=5e-3, warmup_epochs=0, precision="bf16")
    tower = tiny_joint.text_encoder
    dtype = next(tower.parameters()).dtype

    def run() -> tuple[list[float], np.ndarray]:
        model = T2IPAL(tiny_joint, names, T2IPALConfig(), seed=0)
        res = train(model, data, cfg, seed=0, progress=False)
        assert model.prompts.tower_precision == "fp32"
        return res.epoch_losses, predict(model, data)

    losses, scores = run()
    assert losses[-1] < losses[0] and np.isfinite(scores).all()
    assert run()[0] == losses
    twin = tiny_joint.text_tower("bf16")
    assert twin is tiny_joint.text_tower("bf16") and twin is not tower
    assert next(twin.parameters()).dtype == torch.bfloat16 and next(tower.parameters()).dtype == dtype
    assert not any(k.startswith("_twins") for k in tiny_joint.state_dict())
    with pytest.raises(Exception, match="fp32"):
        tiny_joint.text_tower("fp16")
    model = T2IPAL(tiny_joint, names, T2IPALConfig(), seed=0)
    with pytest.raises(Exception, match="fp32"):  # refused before the first step
        train(model, data, TrainConfig(epochs=1, precision="fp16"), progress=False)
    assert model.prompts.tower_precision == "fp32"
    with pytest.raises(RuntimeError), model.prompts.tower("bf16"):
        assert model.prompts.tower_precision == "bf16"
        raise RuntimeError("a failing step")
    assert model.prompts.tower_precision == "fp32"  # back on the frozen tower after an error


# ------------------------------------------------------------------------------------- paper datasets
def _jpeg(path: Path, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def test_coco_and_nus_wide_loaders(tmp_path: Path) -> None:
    from lgclip_core.t2ipal.scenes import load_coco, load_nus_wide

    coco = tmp_path / "coco"
    for i in (1, 2):
        _jpeg(coco / "val2014" / f"im{i}.jpg", 40 * i)
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_val2014.json").write_text(json.dumps({
        "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
        "images": [{"id": 2, "file_name": "im2.jpg"}, {"id": 1, "file_name": "im1.jpg"}],
        "annotations": [{"image_id": 1, "category_id": 3}, {"image_id": 2, "category_id": 1},
                        {"image_id": 2, "category_id": 3}]}))
    ds = load_coco(tmp_path)
    assert ds.classnames == ["person", "car"] and ds.targets.tolist() == [[0, 1], [1, 1]]
    assert ds.images[0].shape == (8, 8, 3)

    nus = tmp_path / "nus-wide"
    (nus / "ImageList").mkdir(parents=True)
    (nus / "TrueLabel").mkdir()
    (nus / "Concepts81.txt").write_text("sky\nwater\n")
    (nus / "ImageList" / "TestImagelist.txt").write_text("a\\x.jpg\na\\missing.jpg\nb\\y.jpg\n")
    (nus / "TrueLabel" / "Labels_sky_Test.txt").write_text("1\n0\n0\n")
    (nus / "TrueLabel" / "Labels_water_Test.txt").write_text("1\n1\n1\n")
    _jpeg(nus / "images" / "a" / "x.jpg", 10)
    _jpeg(nus / "images" / "b" / "y.jpg", 20)
    ds = load_nus_wide(tmp_path)
    assert ds.classnames == ["sky", "water"] and ds.targets.tolist() == [[1, 1], [0, 1]]
    assert "1 listed images missing" in ds.protocol
    with pytest.raises(Exception, match="coco"):
        load_coco(tmp_path / "nowhere")


def _fake_voc(root: Path) -> None:
    voc = root / "VOCdevkit" / "VOC2007"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "Annotations").mkdir()
    objects = {"000001": [("dog", 0), ("person", 1)], "000002": [("car", 0), ("dog", 0)]}
    (voc / "ImageSets" / "Main" / "test.txt").write_text("\n".join(objects) + "\n")
    for name, objs in objects.items():
        _jpeg(voc / "JPEGImages" / f"{name}.jpg", 100)
        body = "".join(f"<object><name>{o}</name><difficult>{d}</difficult></object>" for o, d in objs)
        (voc / "Annotations" / f"{name}.xml").write_text(f"<annotation><filename>{name}.jpg</filename>{body}"
                                                         "</annotation>")


def test_voc_loader_marks_difficult_as_ignored(tmp_path: Path) -> None:
    from lgclip_core.t2ipal.scenes import VOC_CLASSES, load_voc2007

    _fake_voc(tmp_path)
    ds = load_voc2007(tmp_path)
    dog, person, car = (VOC_CLASSES.index(c) for c in ("dog", "person", "car"))
    assert ds.targets[0, dog] == 1 and ds.targets[0, person] == -1 and ds.targets[1, car] == 1
    assert ds.targets.shape == (2, 20)


# ------------------------------------------------------------------------------------- the experiment
def test_experiment_tiny_profile_both_data_paths(tmp_path: Path) -> None:
    from lgclip_core.experiments.t2ipal import Settings, run_experiment

    methods = ["zero_shot", "tai", "t2ipal", "adapter_only"]
    s = Settings(profile="tiny", n_template=16, n_llm=0, n_test=12, epochs=2, seeds=2, batch_size=8,
                 scene_size=32, methods=methods)
    res = run_experiment(s, tmp_path / "scenes", progress=False)
    saved = json.loads((tmp_path / "scenes" / "t2ipal.json").read_text())
    assert set(saved["map"]) == set(methods) and all(0 <= v <= 1 for v in saved["map"].values())
    assert saved["map_std"]["zero_shot"] == 0.0 and len(saved["map_per_seed"]["t2ipal"]) == 2
    assert {"cf1", "of1", "timings_s", "manifest"} <= set(saved) and saved["manifest"]["cache"]["entries"]
    assert saved["protocol"]["name"] == "clean" == saved["manifest"]["protocol"]["name"]  # the tiny default
    again = run_experiment(s, None, progress=False)  # cached: same numbers
    assert again["map"] == res["map"]
    # the paper's data path (whole-caption renders, a real multi-label set on disk) with tiny models
    _fake_voc(tmp_path / "data")
    s2 = Settings(profile="tiny", dataset="voc2007", compose=False, data_root=str(tmp_path / "data"),
                  n_template=12, n_llm=0, n_test=2, epochs=1, seeds=1, batch_size=4, scene_size=32,
                  methods=["zero_shot", "t2ipal"])
    res2 = run_experiment(s2, None, progress=False)
    assert res2["data"]["n_test_scenes"] == 2 and len(res2["classnames"]) == 20


def test_filter_keeps_each_captions_source() -> None:
    vocab = ClassVocabulary(["shirt", "dress"])
    kept = filter_captions(["a shirt.", "a cat.", "a dress.", "a shirt."], vocab,
                           sources=["template", "template", "LLM", "LLM"])
    assert kept.texts == ["a shirt.", "a dress."] and kept.sources == ["template", "LLM"]
    with pytest.raises(BadInputError, match="one source per caption"):
        filter_captions(["a shirt."], vocab, sources=[])


def test_context_reading_of_the_initial_prompt(tiny_joint: JointSpace) -> None:
    from lgclip_core.t2ipal.model import PromptLearner, context_drift, nearest_tokens

    te = tiny_joint.text_encoder
    ids = te.token_ids(["photo"])[0][0, 1:2]
    assert "photo" in "".join(nearest_tokens(te, te.input_embeddings(ids)))  # a token's own row is nearest
    learner = PromptLearner(tiny_joint, ["a", "b"], n_ctx=4)
    drift = context_drift(learner, learner)
    assert drift["ctx_global"]["cosine to the initial context"] == [1.0] * 4
    assert len(drift["ctx_local"]["nearest tokens"]) == 4


def test_chapter_helpers_on_a_tiny_run() -> None:
    from lgclip_core.experiments.t2ipal import (
        METHOD_ORDER,
        Settings,
        describe_methods,
        heatmap_examples,
        prepare,
        single_item_zero_shot,
        train_method,
    )

    s = Settings(profile="tiny", n_template=16, n_llm=0, n_test=12, epochs=1, seeds=1, batch_size=8, scene_size=32)
    prep = prepare(s, progress=False)
    assert prep.captions.sources == ["template"] * len(prep.captions)  # n_llm=0: every caption from templates
    rows = describe_methods(prep)
    assert [r["method"] for r in rows] == METHOD_ORDER
    by = {r["method"]: r for r in rows}
    assert by["zero_shot"]["trainable parameters"] == 0 and by["zero_shot"]["trained on"] == "—"
    assert by["tai"]["trained on"] == "caption text" and by["t2ipal"]["trained on"] == "generated scenes"
    model, _ = train_method(prep, "t2ipal", seed=0, progress=False)
    ex = heatmap_examples(prep, model, 3, seed=1)
    assert ex["heatmaps"].shape == (3, len(prep.classnames), *ex["images"][0].shape[:2])
    assert ex["scores"].shape == ex["targets"].shape == (3, len(prep.classnames))
    again = heatmap_examples(prep, model, 3, seed=1)
    assert np.array_equal(again["heatmaps"], ex["heatmaps"])  # the same scenes for the same seed
    assert 0.0 <= single_item_zero_shot(prep, 20) <= 1.0


def test_the_digits_vocabulary_finds_digits_but_not_counts() -> None:
    """A digit is named by two or more words ("digit 7", "number seven"); a bare count is not a class."""
    from lgclip_core.t2ipal.captions import VOCABULARIES

    vocab = VOCABULARIES["digits"]()
    assert vocab.classnames[7] == "handwritten digit seven"
    found = vocab.find("two handwritten digit sevens, a digit 3 and 4 more next to a number one")
    assert [c for c, _ in found] == [7, 3, 1]
    assert vocab.find("three of them") == []
