"""The offline generator: training mechanics on a tiny config, the committed pipeline, bad prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lgclip_core import zoo
from lgclip_core.errors import BadInputError
from lgclip_core.generator import GENERATOR_CARD, load_offline_generator
from lgclip_core.generator.captions import build_captions
from lgclip_core.generator.card import write_model_card
from lgclip_core.generator.training import CONFIGS, TrainConfig, train


def test_tiny_training_runs_resumes_and_exports(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**CONFIGS["tiny"].__dict__})
    out = tmp_path / "run"
    path = train(out, cfg, n_train=32, progress=False)
    card = json.loads((path / GENERATOR_CARD).read_text())
    assert card["training"]["steps"] == cfg.max_steps and card["training"]["n_train_images"] == 32
    assert len(card["loss_log"]) == cfg.max_steps and all(np.isfinite(r["loss"]) for r in card["loss_log"])
    assert (path / "README.md").read_text().startswith("# lgclip-fmnist-ddpm")
    # resuming with a larger budget continues from the last checkpoint instead of starting over
    cfg.max_steps += 2
    path = train(out, cfg, n_train=32, progress=False)
    log = json.loads((path / GENERATOR_CARD).read_text())["loss_log"]
    assert [r["step"] for r in log] == list(range(1, cfg.max_steps + 1))
    images = load_offline_generator("tiny", path=path, steps=2).generate(["a bag", "a coat"], [0, 1])
    assert images.shape == (2, 28, 28, 3) and images.dtype == np.uint8


def test_captions_vary_and_name_their_class() -> None:
    caps = build_captions(seed=0, per_class=30)
    assert len(caps) == 10 and all(len(set(c)) == 30 for c in caps)
    assert build_captions(seed=0, per_class=30) == caps


@pytest.mark.slow
def test_committed_pipeline_generates_deterministically_per_seed() -> None:
    gen = zoo.load("generator")
    card = json.loads((zoo.asset_path("lgclip-fmnist-generator") / GENERATOR_CARD).read_text())
    assert card["training"]["data"].startswith("Fashion-MNIST train")
    a = gen.generate(["A photo of a sneaker.", "A photo of a bag.", "A photo of a sneaker."], [3, 4, 3])
    assert a.shape == (3, 28, 28, 3)
    np.testing.assert_array_equal(a[0], a[2])  # same prompt + seed -> same image, whatever the batch
    np.testing.assert_array_equal(a[1], gen.generate(["A photo of a bag."], [4])[0])
    assert not np.array_equal(a[0], gen.generate(["A photo of a sneaker."], [5])[0])


def test_pipeline_folder_alone_gives_the_wrappers_28x28_pixels() -> None:
    """Crop and space-to-depth live in the pipeline's registered config (model_index.json), not a side file."""
    import torch

    from lgclip_core.generator import TextToImagePixelPipeline

    path = zoo.asset_path("lgclip-fmnist-generator")
    pipe = TextToImagePixelPipeline.from_pretrained(path, local_files_only=True, use_safetensors=True)
    assert (pipe.config.crop, pipe.config.space_to_depth) == (28, 2)
    prompts, seeds = ["A photo of a bag.", "A photo of a sneaker."], [4, 3]
    direct = pipe(prompts, num_inference_steps=3, guidance_scale=3.0,
                  generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
    assert direct.shape == (2, 28, 28, 3) and direct.dtype == np.uint8
    wrapped = load_offline_generator("fmnist", steps=3, guidance_scale=3.0, precision="fp32").generate(prompts, seeds)
    np.testing.assert_array_equal(direct, wrapped)


@pytest.mark.parametrize("prompts, match", [([], "empty"), (["ok", 3], "must be a str"), ("a bag", "list"),
                                            (["a bag", " "], "empty")])
def test_bad_prompt_lists_are_clear_errors(prompts: object, match: str) -> None:
    gen = zoo.load("generator", profile="tiny")
    with pytest.raises(BadInputError, match=match):
        gen.generate(prompts, [0] * 2)  # type: ignore[arg-type]


def test_one_seed_per_prompt() -> None:
    with pytest.raises(BadInputError, match="one seed per prompt"):
        zoo.load("generator", profile="tiny").generate(["a", "b"], [0])


def test_with_sampling_is_a_new_wrapper_and_names_its_precision() -> None:
    from lgclip_core.generator import load_offline_generator

    gen = load_offline_generator("lgclip-fmnist-ddpm", precision="fp32")
    other = gen.with_sampling(steps=3, precision="bf16")
    assert (gen.steps, gen.precision) != (3, "bf16") and (other.steps, other.precision) == (3, "bf16")
    assert other.pipe is gen.pipe  # the same weights, no copy
    assert "precision" not in gen.config() and other.config()["precision"] == "bf16"
    a = gen.with_sampling(steps=3).generate(["A photo of a bag."], [0])
    b = other.generate(["A photo of a bag."], [0])
    assert a.shape == b.shape == (1, 28, 28, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 4  # bf16 changes pixels by a few grey levels at most


def test_the_committed_model_card_is_rendered_from_its_record(tmp_path: Path) -> None:
    """README.md is written from lgclip_generator.json; a file changed since (a hash, a metric) shows here."""
    committed = zoo.asset_path("lgclip-fmnist-generator")
    (tmp_path / GENERATOR_CARD).write_text((committed / GENERATOR_CARD).read_text())
    assert write_model_card(tmp_path).read_text() == (committed / "README.md").read_text(), \
        "the model card is stale: run generator.card.write_model_card on the committed pipeline"


def test_generator_steps_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from lgclip_core.generator import load_offline_generator

    monkeypatch.setenv("LGCLIP_GENERATOR_STEPS", "3")
    assert load_offline_generator("lgclip-fmnist-ddpm").steps == 3
    monkeypatch.setenv("LGCLIP_GENERATOR_STEPS", "three")
    with pytest.raises(BadInputError, match="LGCLIP_GENERATOR_STEPS must be a whole number"):
        load_offline_generator("lgclip-fmnist-ddpm")


def test_the_digits_generator_renders_8x8_digits_and_its_card_says_what_it_saw() -> None:
    """The second offline generator: the same pipeline class and card, trained on the digits' train split."""
    path = zoo.asset_path("lgclip-digits-generator")
    card = json.loads((path / GENERATOR_CARD).read_text())
    assert card["dataset"] == "digits" and card["training"]["n_train_images"] == 898
    assert "handwritten digits" in (path / "README.md").read_text().split("\n")[2]
    gen = zoo.load("generator", "lgclip-digits-ddpm")
    a = gen.generate(["handwritten digit seven", "handwritten digit one", "handwritten digit seven"], [1, 2, 1])
    assert a.shape == (3, 8, 8, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[0], a[2])


def test_digit_captions_name_every_class_and_keep_fashion_mnist_unchanged() -> None:
    caps = build_captions(seed=2024, per_class=60, dataset="digits")
    assert [len(c) for c in caps] == [60] * 10
    assert any("seven" in c or "7" in c for c in caps[7]) and not any("seven" in c for c in caps[1])
    assert build_captions(seed=0, per_class=30) == build_captions(seed=0, per_class=30, dataset="fashion-mnist")
