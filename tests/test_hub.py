"""The paper profile's hub models: pinned commits, one loader with one-line errors, QuickGELU, and the local hub
fixture that runs the paper profile's own loading code offline."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

from lgclip_core import zoo
from lgclip_core.errors import HubModelError

COMMIT = re.compile(r"[0-9a-f]{40}")


def test_every_hub_backend_is_pinned_to_a_commit() -> None:
    hub_backends = [b for role in zoo.BACKENDS.values() for b in role.values()
                    if b.source == "hub" and b.role != "dataset"]
    assert len(hub_backends) >= 10
    for b in hub_backends:
        hub = b.kwargs.get("hub")
        assert isinstance(hub, zoo.HubModel), f"{b.role} {b.name} names no HubModel"
        assert COMMIT.fullmatch(hub.revision), f"{b.name}: revision {hub.revision!r} is not a commit"
        assert "hub_id" not in b.kwargs and "revision" not in b.kwargs  # one place holds repo and commit
    for name, others in zoo.HUB_FALLBACKS.items():
        assert name in zoo.HUB_MODELS and all(o in zoo.BACKENDS["generator"] for o in others)
    # SD 2.1-base comes from a mirror: the withdrawal is stated where the pin is
    assert "withdrew" in zoo.HUB_MODELS["sd-2-1-base"].origin


def test_openai_tags_are_built_with_quick_gelu() -> None:
    from lgclip_core.encoders import create_open_clip, openai_quick_gelu, uses_quick_gelu

    for arch in ("RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14"):
        assert openai_quick_gelu(arch, "openai")
    assert not openai_quick_gelu("ViT-B-32", None)
    assert not uses_quick_gelu(create_open_clip("ViT-B-32", None))  # plain config, random init: GELU


@pytest.fixture(scope="module")
def hub_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from lgclip_core.hub_fixture import write_hub_fixture

    root = tmp_path_factory.mktemp("hubfx")
    info = write_hub_fixture(root, "cut", ["sd-2-1-base", "sd-1-4", "sdxl-base", "clip-vit-b-32",
                                           "qwen2.5-1.5b-instruct"], progress=False)
    return info["use"]


def test_fixture_has_the_hub_cache_layout(hub_fixture: dict[str, str]) -> None:
    from pathlib import Path

    from lgclip_core.hub_fixture import snapshot_dir

    hub = Path(hub_fixture["LGCLIP_HUB_CACHE"])
    sd = snapshot_dir(hub, zoo.HUB_MODELS["sd-2-1-base"])
    assert sd.name == zoo.HUB_MODELS["sd-2-1-base"].revision
    assert (sd.parent.parent / "refs" / "main").read_text() == sd.name
    for rel in ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "text_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
                "scheduler/scheduler_config.json", "vae/config.json", "feature_extractor/preprocessor_config.json"):
        assert (sd / rel).is_file(), rel
    index = json.loads((sd / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "PNDMScheduler"] and index["unet"][1] == "UNet2DConditionModel"
    clip = snapshot_dir(hub, zoo.HUB_MODELS["clip-vit-b-32"])
    assert (clip / "open_clip_model.safetensors").is_file()
    manifest = json.loads((hub.parent / "FIXTURE.json").read_text())
    assert manifest["size"] == "cut" and "stand-in" in manifest["snapshots"]["qwen2.5-1.5b-instruct"]["tokenizer"]
    assert manifest["skipped"] == {}


@pytest.fixture()
def on_fixture(hub_fixture: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    from lgclip_core.encoders import _open_clip_model

    for k, v in hub_fixture.items():
        monkeypatch.setenv(k, v)
    zoo.clear_loaded()
    _open_clip_model.cache_clear()
    yield
    zoo.clear_loaded()
    _open_clip_model.cache_clear()


def test_paper_profile_loads_through_its_own_code(on_fixture: None) -> None:
    """The paper profile's loaders, at the pinned commits: QuickGELU without open_clip's mismatch warning, the
    SD pipeline's scheduler and tokenizer, the LLM's tokenizer, and repo + commit in every config."""
    from lgclip_core.encoders import uses_quick_gelu

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*QuickGELU.*")
        enc = zoo.load("image_encoder", None, "paper")
    assert uses_quick_gelu(enc.visual)
    hub = zoo.HUB_MODELS["clip-vit-b-32"]
    assert enc.config()["revision"] == f"{hub.repo_id}@{hub.revision}"
    text = zoo.load("text_encoder", None, "paper")
    assert text.encode(["a photo of a cat"]).shape == (1, enc.feature_dim)

    gen = zoo.load("generator", None, "paper", sampling={"steps": 2, "guidance": 7.5, "dtype": "float32"})
    assert type(gen.pipe.scheduler).__name__ == "PNDMScheduler" and len(gen.pipe.tokenizer) == 49408
    assert gen.config()["hub"]["revision"] == zoo.HUB_MODELS["sd-2-1-base"].revision
    a = gen.generate(["a red circle", "a blue square"], [0, 1])
    b = gen.generate(["a blue square"], [1])
    assert a.shape == (2, 512, 512, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, gen.generate(["a red circle", "a blue square"], [0, 1]))  # seeded
    # CPU generators: a seed's noise does not depend on its batch (pixels differ by batched float rounding only)
    assert np.abs(a[1].astype(int) - b[0]).max() <= 3

    writer = zoo.load("prompt_writer", None, "paper")
    cfg = writer.config()
    assert cfg["model"] == "Qwen/Qwen2.5-1.5B-Instruct" and COMMIT.fullmatch(cfg["revision"])
    # the fixture's embedding (151,936 rows) is larger than its tokenizer: no undecodable id is ever drawn
    out = writer.sample_chats([writer.chat_text("cat")], [0])
    assert isinstance(out[0][0] if isinstance(out[0], list) else out[0], str)


@pytest.mark.parametrize("name", ["sd-1-4", "sdxl-base"])
def test_sd14_and_sdxl_load_through_the_paper_loader(on_fixture: None, name: str) -> None:
    """SD 1.4 and SDXL from their snapshots (the hub's model_index.json and configs, cut) through the zoo: SD 1.4
    without the safety checker its model_index names (the loader passes None, so a reader never downloads it and
    the fixture has none), SDXL with its two text encoders and tokenizers (the second pads with "!") and the UNet's
    pooled-text + size conditioning, each at its own resolution."""
    import os
    from pathlib import Path

    from lgclip_core.hub_fixture import snapshot_dir

    hub = zoo.HUB_MODELS[name]
    snap = snapshot_dir(Path(os.environ["LGCLIP_HUB_CACHE"]), hub)
    index = json.loads((snap / "model_index.json").read_text())
    gen = zoo.load("generator", name, "paper", sampling={"steps": 2, "guidance": 7.5, "dtype": "float32"})
    pipe = gen.pipe
    assert gen.config()["hub"]["revision"] == hub.revision and index["_class_name"] == type(pipe).__name__
    assert pipe.tokenizer.pad_token == "<|endoftext|>" and len(pipe.tokenizer) == 49408
    if name == "sd-1-4":
        assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
        assert not (snap / "safety_checker").exists() and pipe.safety_checker is None
        assert type(pipe.scheduler).__name__ == "PNDMScheduler" and pipe.text_encoder.config.hidden_act == "quick_gelu"
        assert type(pipe.feature_extractor).__name__ == "CLIPImageProcessor"
        px = 512
    else:
        assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler" and index["force_zeros_for_empty_prompt"]
        assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
        assert pipe.tokenizer_2.pad_token == "!" and (snap / "tokenizer_2" / "vocab.json").is_file()
        unet, te, te2 = pipe.unet.config, pipe.text_encoder.config, pipe.text_encoder_2.config
        assert unet.cross_attention_dim == te.hidden_size + te2.hidden_size
        assert unet.projection_class_embeddings_input_dim == te2.projection_dim + 6 * unet.addition_time_embed_dim
        px = 1024
    images = gen.generate(["a red circle"], [0])
    assert images.shape == (1, px, px, 3) and images.dtype == np.uint8  # one image: SDXL decodes 1024 px on a CPU


def test_a_missing_hub_model_names_the_backend_repo_revision_and_fix(tmp_path, monkeypatch) -> None:
    from lgclip_core.encoders import _open_clip_model

    monkeypatch.setenv("LGCLIP_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_loaded()
    _open_clip_model.cache_clear()
    hub = zoo.HUB_MODELS["sd-2-1-base"]
    with pytest.raises(HubModelError) as e:
        zoo.load("generator", "sd-2-1-base", "paper")
    msg = str(e.value)
    assert "'sd-2-1-base'" in msg and hub.repo_id in msg and hub.revision in msg
    assert "lgclip hub-fixture" in msg and "--generator sd-2-1-base-manojb" in msg and "\n" not in msg
    with pytest.raises(HubModelError, match="timm/vit_base_patch32_clip_224.openai"):
        zoo.load("image_encoder", "clip-vit-b-32", "paper")
    with pytest.raises(HubModelError, match="Qwen/Qwen2.5-1.5B-Instruct"):
        zoo.load("prompt_writer", "qwen2.5-1.5b-instruct", "paper")
    zoo.clear_loaded()


def test_hub_problem_classification() -> None:
    class RepositoryNotFoundError(Exception):
        pass

    class GatedRepoError(Exception):
        pass

    assert zoo._hub_problem(RepositoryNotFoundError("404")) == "missing"
    assert zoo._hub_problem(GatedRepoError("401")) == "gated"
    wrapped = OSError("wrapper")
    wrapped.__cause__ = GatedRepoError("x")
    assert zoo._hub_problem(wrapped) == "gated"
    assert zoo._hub_problem(ValueError("a shape mismatch")) is None  # not about the files: re-raised as it is


def test_paper_shapes_builds_its_own_hub_when_none_is_named(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    from lgclip_core import hub_fixture

    built = []
    for var in ("LGCLIP_HUB_CACHE", "LGCLIP_DATA", "HF_HUB_OFFLINE"):  # recorded, so that teardown restores them
        monkeypatch.setenv(var, "x")
        monkeypatch.delenv(var)
    monkeypatch.setattr(hub_fixture, "cached_fixture", lambda size: built.append(size) or tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    zoo.PROFILES["paper-shapes"].activate()
    import os

    assert built == ["true"] and os.environ["LGCLIP_HUB_CACHE"] == str(tmp_path / "hub")
    assert os.environ["LGCLIP_DATA"] == str(tmp_path / "data") and huggingface_hub.constants.HF_HUB_OFFLINE
    zoo.PROFILES["paper"].activate()  # the paper profile downloads: it never points anywhere else
    assert built == ["true"]
