"""LGCLIP under protocol="authors" vs "clean": parity with the authors' released formulas, written out here
independently (LG-CLIP mega.py, text_gen_Ngen_made.py, muti_scale_gen_feat.py, clip.py's preprocess,
llm_sd_gen.py), the registry's differences, and the protocol in a run's results."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from lgclip_core import protocols, zoo
from lgclip_core.cache import ArtifactCache
from lgclip_core.encoders import to_float_batch
from lgclip_core.experiments.lgclip import LGCLIPConfig, merge_protocol_results, run_lgclip, top_n_by_text
from lgclip_core.generator import jpeg_roundtrip
from lgclip_core.multiscale import MultiScaleEncoder, hash_seed, multiscale_crops
from lgclip_core.prompts import LLMWriter, parse_description_list
from lgclip_core.prototypes import PrototypeClassifier

MY_KEYS = ("lgclip.prompting", "lgclip.sampling", "lgclip.jpeg_roundtrip", "lgclip.single_view_resize",
           "lgclip.multiscale_interpolation", "lgclip.scoring", "lgclip.top_n")
TINY = dict(profile="tiny", n_test=12, n_max=4, n_per_class=2, n_descriptions=2, n_scales=3, lit_per_class=2,
            real_per_class=4, kshot_draws=2, ablation_n=(1, 2), ablation_scales=(1, 3), ablation_sizes=(32,),
            ablation_size_n_test=6)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------------ registry
def test_protocols_differ_exactly_where_the_registry_says() -> None:
    authors, clean = protocols.resolve("authors", "lgclip"), protocols.resolve("clean", "lgclip")
    for key in MY_KEYS:
        assert (authors[key] != clean[key]) == protocols.CHOICE_BY_KEY[key].differs, key
    assert protocols.resolve(None, "lgclip", "paper").name == "authors"
    assert protocols.resolve(None, "lgclip", "tiny").name == "clean"


# ------------------------------------------------------------------------------------------------- scoring
def test_authors_scoring_is_the_dot_product_with_the_unnormalised_mean() -> None:
    rng = np.random.default_rng(0)
    k, n, d = 4, 5, 16
    gen = rng.normal(size=(k * n, d)).astype(np.float32)
    gen[:n] += 3 * rng.normal(size=d).astype(np.float32)  # class 0's images agree: its mean is longer
    test = rng.normal(size=(30, d)).astype(np.float32)
    labels = np.repeat(np.arange(k), n)
    # mega.py: gen_f (C, Ngen, D) L2-normalised, prototypes = torch.mean(gen_f, dim=1), scores = test_f @ protos.T
    gen_f = torch.nn.functional.normalize(torch.from_numpy(gen), dim=-1).view(k, n, d)
    test_f = torch.nn.functional.normalize(torch.from_numpy(test), dim=-1)
    expected = (test_f @ torch.mean(gen_f, dim=1).T).numpy()
    authors = PrototypeClassifier(normalize_prototypes=False).fit(gen, labels)
    np.testing.assert_allclose(authors.decision_function(test), expected, atol=1e-5)
    np.testing.assert_array_equal(authors.predict(test), expected.argmax(1))
    clean = PrototypeClassifier().fit(gen, labels)
    cosine = test_f.numpy() @ _unit(gen_f.mean(1).numpy()).T
    np.testing.assert_allclose(clean.decision_function(test), cosine, atol=1e-5)
    assert (clean.predict(test) != authors.predict(test)).any()  # the norm of a mean can change the argmax
    assert PrototypeClassifier(normalize_prototypes=False).get_params()["normalize_prototypes"] is False


# ----------------------------------------------------------------------------------------------- top-N
def _authors_top_n(scores: np.ndarray, n: int, n_all: int) -> list[int]:
    """text_gen_Ngen_made.py, restated: per class, correctly classified images first, each group sorted by
    the own-class similarity (descending), the first n kept."""
    kept = []
    for c in range(scores.shape[1]):
        images = [{"i": c * n_all + j, "p": float(scores[c * n_all + j, c])} for j in range(n_all)]
        correct = [im for im in images if int(scores[im["i"]].argmax()) == c]
        incorrect = [im for im in images if im not in correct]
        selected = sorted(correct, key=lambda x: x["p"], reverse=True)[:n]
        if len(selected) < n:
            selected += sorted(incorrect, key=lambda x: x["p"], reverse=True)[:n - len(selected)]
        kept += [im["i"] for im in selected]
    return kept


@pytest.mark.parametrize("n", [1, 3, 5, 10])
def test_top_n_is_the_authors_selection(n: int) -> None:
    rng = np.random.default_rng(n)
    k, n_all = 6, 10
    scores = rng.normal(size=(k * n_all, k)).astype(np.float32)
    scores[np.arange(k * n_all), np.repeat(np.arange(k), n_all)] += 0.8  # most, not all, images are "correct"
    ours = top_n_by_text(scores, n, pool=n_all, n_max=n_all)
    assert ours.tolist() == _authors_top_n(scores, n, n_all)
    # a larger generated pool (n_max) ranks only the first `pool` images of each class
    wide = np.concatenate([np.concatenate([scores[c * n_all:(c + 1) * n_all], np.full((5, k), 9.0)])
                           for c in range(k)])
    np.testing.assert_array_equal(top_n_by_text(wide, n, pool=n_all, n_max=n_all + 5),
                                  [i // n_all * (n_all + 5) + i % n_all for i in ours])


# ------------------------------------------------------------------------------------------- multi-scale
@pytest.mark.parametrize("shape", [(48, 64, 3), (70, 50), (32, 32, 3)])
def test_bicubic_crops_are_torchvisions_random_resized_crop_on_pil(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    seed, size, n_scales = 5, 24, 10
    for scale in (1, 4, 10):
        ours = multiscale_crops([img], scale, n_scales, size, seed, interpolation="bicubic")
        # muti_scale_gen_feat.py: RandomResizedCrop(224, scale=(s/10, s/10), BICUBIC) + ToTensor on a PIL image
        tv = T.Compose([T.RandomResizedCrop(size, scale=(scale / n_scales,) * 2,
                                            interpolation=T.InterpolationMode.BICUBIC), T.ToTensor()])
        torch.manual_seed(hash_seed(seed, scale, 0))  # the crop position drawn from the same RNG state
        ref = tv(Image.fromarray(img).convert("RGB"))
        torch.testing.assert_close(ours[0], ref, atol=0, rtol=0)
        if scale < n_scales:
            ours_bilinear = multiscale_crops([img], scale, n_scales, size, seed)
            assert (ours_bilinear - ours).abs().max() > 1e-3
    tiny = zoo.load("image_encoder", profile="tiny")
    assert MultiScaleEncoder(tiny, interpolation="bicubic").config() != MultiScaleEncoder(tiny).config()


# ------------------------------------------------------------------------------------- single-view resize
@pytest.mark.parametrize("shape", [(40, 64, 3), (64, 40, 3), (28, 28), (300, 200, 3), (20, 20, 3)])
def test_clip_resize_is_torchvisions_resize_and_center_crop(shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    size = 32
    # clip.py _transform: Resize(n_px, BICUBIC), CenterCrop(n_px), RGB, ToTensor (Normalize is the encoder's)
    tv = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size), T.ToTensor()])
    ref = tv(Image.fromarray(img).convert("RGB"))
    torch.testing.assert_close(to_float_batch([img], size, resize="clip")[0], ref, atol=0, rtol=0)
    batch = np.stack([img, img[::-1].copy()])
    assert to_float_batch(batch, size, resize="clip").shape == (2, 3, size, size)
    if shape[0] != shape[1]:
        assert (to_float_batch([img], size)[0] - ref).abs().max() > 1e-2  # squash keeps what clip cuts off


# ------------------------------------------------------------------------------------------------- JPEG
def test_jpeg_roundtrip_is_pil_default_save_and_read() -> None:
    imgs = np.random.default_rng(3).integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(imgs[1]).save(buf, "JPEG")  # llm_sd_gen.py: .save(path, "JPEG"), PIL's quality 75
    expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    out = jpeg_roundtrip(imgs)
    assert out.shape == imgs.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1], expected)
    assert np.abs(out.astype(int) - imgs).mean() > 1  # lossy
    assert jpeg_roundtrip(imgs[:, :, :, 0]).shape == (2, 16, 24)  # grey stays grey


# ------------------------------------------------------------------------------------------- SD sampling
def test_stable_diffusion_sampling_follows_the_protocol() -> None:
    from lgclip_core.generator import build_tiny_sd_pipeline, load_stable_diffusion
    from lgclip_core.tokenizers import build_directory

    folder = build_directory("tiny-sd", {"tiny-sd": 1, "diffusers": __import__("diffusers").__version__},
                             build_tiny_sd_pipeline)  # a local folder stands in for the hub repository
    hub = zoo.HubModel(str(folder), "0" * 40)  # a local folder stands in for the pinned repository
    cfgs = {p: load_stable_diffusion("sd", hub=hub, sampling=protocols.resolve(p, "lgclip")[
        "lgclip.sampling"]).config() for p in protocols.PROTOCOLS}
    assert (cfgs["authors"]["steps"], cfgs["authors"]["guidance_scale"], cfgs["authors"]["dtype"]) == \
        (50, 7.5, "float32")
    assert cfgs["clean"]["steps"] == 25
    assert cfgs["clean"]["dtype"] == ("float16" if torch.cuda.is_available() else "float32")


# ----------------------------------------------------------------------------------------------- prompting
def test_description_list_parsing() -> None:
    text = ("1. bag, which has a red leather body and two handles.\n"
            "2) Bag, which has a zip\n"
            "- bag, which has a red leather body and two handles.\n"  # a repeat
            "Here is another one:\n"
            "4. bag, which has\n"  # nothing after the prefix
            "\"bag, which has a canvas strap, seen from the side\"\n"
            "5. bag, which has" + " a red strap," * 30 + "\n")  # a loop: longer than SD's text context
    out = parse_description_list("bag", text)
    assert out[:2] == [
        "bag, which has a red leather body and two handles.", "bag, which has a canvas strap, seen from the side."]
    assert len(out) == 3 and out[2].endswith("a red strap.") and len(out[2].split()) == 3 + 60  # cut at 60 words


@pytest.mark.slow  # first use on a machine converts SmolLM2's GGUF for the tokenizer (~1 min), then < 1 s
def test_one_request_is_one_list_per_class_and_deterministic() -> None:
    base = zoo.load("prompt_writer", "tiny-llm")
    writer = LLMWriter(base.name, base.model, base.tokenizer, base.source, max_new_tokens=12)
    one = writer.with_prompting("one_request")
    assert writer.prompting == "per_description" and one.config() != writer.config()
    calls: list[int] = []
    original = one.decode

    def spy(groups, *args, follow=None, **kwargs):  # type: ignore[no-untyped-def]
        """Records the seed of every list request: the first ones and the re-draws that join the batch."""
        def recorded(g, texts):  # type: ignore[no-untyped-def]
            nxt = follow(g, texts)
            if nxt is not None:
                calls.append(nxt[2])
            return nxt

        calls.extend(seed for _, _, seed in groups)
        return original(groups, *args, follow=None if follow is None else recorded, **kwargs)

    one.decode = spy  # type: ignore[method-assign]
    a = one.write(["sneaker", "bag"], n=3, seed=7)
    assert a == one.write(["sneaker", "bag"], n=3, seed=7)
    assert calls[0] == 7 and all(s in (7, 8) or s > 1_000_000 for s in calls)  # re-draws use the next seed
    for c, prompts in a.items():
        assert len(prompts) == 3 and all(p.startswith(f"{c}, which has ") and "\n" not in p for p in prompts)


# -------------------------------------------------------------------------------------------- experiment
def test_merge_keeps_the_other_protocols_headline() -> None:
    def run(name: str, acc: float, profile: str = "offline") -> dict[str, Any]:
        return {"profile": profile, "dataset": "d", "n_test": 10, "accuracy": {"lgclip": acc, "hybrid": acc},
                "protocol": protocols.resolve(name, "lgclip").active(), "ablations": {"x": name}}

    clean, authors = run("clean", 0.7), run("authors", 0.6)  # offline: clean is the default protocol
    first = merge_protocol_results(None, authors)
    assert first["accuracy"]["lgclip"] == 0.6 and set(first["by_protocol"]) == {"authors"}
    both = merge_protocol_results(first, clean)
    assert both["protocol"]["name"] == "clean" and both["ablations"] == {"x": "clean"}
    assert both["by_protocol"]["authors"]["accuracy"]["lgclip"] == 0.6
    assert both["by_protocol"]["authors"]["protocol"]["choices"]["lgclip.scoring"] == "unnormalised_mean"
    again = merge_protocol_results(both, run("authors", 0.65))  # the default's full result stays on top
    assert again["protocol"]["name"] == "clean" and again["accuracy"]["lgclip"] == 0.7
    assert again["by_protocol"]["authors"]["accuracy"]["lgclip"] == 0.65
    other = merge_protocol_results(both, {**run("authors", 0.5), "n_test": 99})  # another test set: replaced
    assert set(other["by_protocol"]) == {"authors"} and other["accuracy"]["lgclip"] == 0.5


def test_authors_run_names_its_protocol(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    result = run_lgclip(LGCLIPConfig(**TINY, protocol="authors"), out=tmp_path / "out", cache=cache,
                        progress=False)
    saved = json.loads((tmp_path / "out" / "lgclip.json").read_text())
    active = protocols.resolve("authors", "lgclip").active()
    assert saved["protocol"] == active and saved["manifest"]["protocol"] == active
    assert saved["config"]["protocol"] == "authors" and set(saved["by_protocol"]) == {"authors"}
    assert saved["accuracy"] == pytest.approx(result["accuracy"])
    assert saved["manifest"]["models"]["prompt_writer"]["prompting"] == "one_request"
    keys = [json.loads(p.read_text())["parts"] for p in (cache.root / "features").glob("*.json")]
    assert any(k.get("resize") == "clip" for k in keys)
    assert any(k.get("ms", {}).get("interpolation") == "bicubic" for k in keys)


def test_text_baseline_prompts_follow_the_protocol() -> None:
    """authors: the one template 'A photo of a {c}.' (vanilla_clip.py:42); clean: open_clip's 80 templates."""
    from types import SimpleNamespace

    import numpy as np

    from lgclip_core.errors import BadInputError
    from lgclip_core.experiments.lgclip import FeatureSet, zero_shot_text_scores

    seen = {}

    class Space:
        def embed_images(self, x):
            return x

        def class_text(self, names, prompts):
            seen.update(prompts)
            return np.eye(len(names))

    roles = SimpleNamespace(names=["cat", "dog"], imagenet_prompts=lambda seed: {c: [f"t{i} {c}" for i in range(80)]
                                                                             for c in ["cat", "dog"]})
    feats = FeatureSet(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[None])
    authors = protocols.Protocol("authors", "lgclip")["lgclip.text_prompts"]
    zero_shot_text_scores(Space(), roles, feats, 0, authors)
    assert seen == {"cat": ["A photo of a cat."], "dog": ["A photo of a dog."]}
    zero_shot_text_scores(Space(), roles, feats, 0, protocols.Protocol("clean", "lgclip")["lgclip.text_prompts"])
    assert len(seen["cat"]) == 80
    with pytest.raises(BadInputError, match="text_prompts"):
        zero_shot_text_scores(Space(), roles, feats, 0, "nine")
