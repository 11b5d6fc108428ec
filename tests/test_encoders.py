"""Image and text towers: normalised global features, local maps, determinism, input handling, MiniLM parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgclip_core import zoo
from lgclip_core.errors import BadInputError


def _images(n: int = 4, size: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def lite0():
    return zoo.load("image_encoder", "efficientnet-lite0")


@pytest.fixture(scope="module")
def tiny_clip():
    return zoo.load("image_encoder", "tiny-clip")


@pytest.mark.slow
def test_efficientnet_global_features(lite0) -> None:
    f = lite0.encode(_images())
    assert f.shape == (4, 1280) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(f, lite0.encode(_images()))  # deterministic
    assert not np.allclose(f[0], f[1])  # different images, different features
    assert lite0.config()["revision"].endswith(".pth") and lite0.config()["input_size"] == 112


@pytest.mark.slow
def test_efficientnet_local_maps(lite0) -> None:
    loc = lite0.encode_local(_images(2))
    assert loc.shape == (2, 1280, 4, 4)  # 112 px / stride 32, rounded up
    np.testing.assert_allclose(np.linalg.norm(loc, axis=1), 1.0, atol=1e-5)
    g, m = lite0.forward_features(lite0.normalize(torch.rand(1, 3, 112, 112)))
    torch.testing.assert_close(g, m.mean((2, 3)))  # global = mean of the local map (before normalising)


@pytest.mark.slow
def test_grey_equals_replicated_rgb_and_batching(lite0) -> None:
    grey = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    np.testing.assert_allclose(lite0.encode(grey), lite0.encode(rgb), atol=1e-6)
    one_by_one = np.concatenate([lite0.encode(rgb, batch_size=1)])
    np.testing.assert_allclose(one_by_one, lite0.encode(rgb, batch_size=3), atol=1e-5)
    mixed = [_images(1, 50)[0], _images(1, 30, seed=2)[0]]  # a list of different sizes
    assert lite0.encode(mixed).shape == (2, 1280)


def test_bad_images_are_rejected(tiny_clip) -> None:
    with pytest.raises(BadInputError, match="uint8"):
        tiny_clip.encode(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(BadInputError, match="shape"):
        tiny_clip.encode(np.zeros((2, 32, 32, 5), np.uint8))


def test_open_clip_tiny_end_to_end(tiny_clip) -> None:
    text = zoo.load("text_encoder", "tiny-clip")
    img = tiny_clip.encode(_images(3, 32))
    loc = tiny_clip.encode_local(_images(3, 32))
    t = text.encode(["a photo of a cat.", "a photo of a dog."])
    assert img.shape == (3, 32) and loc.shape == (3, 32, 4, 4) and t.shape == (2, 32)
    for a, axis in ((img, 1), (loc, 1), (t, 1)):
        np.testing.assert_allclose(np.linalg.norm(a, axis=axis), 1.0, atol=1e-5)
    np.testing.assert_array_equal(img, tiny_clip.encode(_images(3, 32)))
    assert (img @ t.T).shape == (3, 2)


def test_text_encoder_is_differentiable_for_prompt_learning() -> None:
    text = zoo.load("text_encoder", "tiny-clip")
    ids, mask = text.token_ids(["X X a photo of a cat."])
    emb = text.input_embeddings(ids).detach()
    ctx = torch.zeros(1, 2, emb.shape[-1], requires_grad=True)  # learned context replaces "X X"
    out = text.encode_embeddings(torch.cat([emb[:, :1], emb[:, 1:3] + ctx, emb[:, 3:]], 1), ids, mask)
    out.sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    torch.testing.assert_close(out.detach().cpu().numpy(), text.encode(["X X a photo of a cat."]), atol=1e-5,
                               rtol=0, check_dtype=False)


@pytest.mark.slow
def test_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    sentences = ["bag, which has a long leather strap.", "A photo of a sneaker.", "ankle boot",
                 "x " * 300]  # longer than the 256-token limit: both must truncate at the same place
    ours = zoo.load("text_encoder", "minilm-l6-v2").encode(sentences)
    ref = SentenceTransformer(str(zoo.asset_path("minilm-l6-v2")), device="cpu", local_files_only=True)
    theirs = ref.encode(sentences, convert_to_numpy=True, normalize_embeddings=True)
    assert ours.shape == theirs.shape == (4, 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_precision_names_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from lgclip_core.precision import PRECISION_ENV, native_bf16, resolve_precision

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    assert resolve_precision() == ("bf16" if native_bf16() else "fp32")  # "auto": bf16 only where native
    assert resolve_precision("FP32") == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    assert resolve_precision() == "bf16" and resolve_precision("fp32") == "fp32"  # the argument wins
    with pytest.raises(BadInputError, match=f"'auto' or one of.*\\${PRECISION_ENV}"):
        resolve_precision("fp8")


@pytest.mark.slow
def test_bf16_features_stay_close_to_fp32_and_are_named_in_the_key() -> None:
    from lgclip_core.encoders import EfficientNetLiteEncoder

    real = zoo.load("dataset", "fashion-mnist", split="test").stratified(10, seed=0).images
    fp32, bf16 = EfficientNetLiteEncoder(0, precision="fp32"), EfficientNetLiteEncoder(0, precision="bf16")
    assert "precision" not in fp32.config()  # fp32 is the reference: earlier cache keys stay valid
    assert bf16.config()["precision"] == "bf16"
    a, b = fp32.encode(real), bf16.encode(real)
    assert b.dtype == np.float32
    cos = (a * b).sum(1)
    assert cos.mean() > 0.99 and cos.min() > 0.95, (cos.mean(), cos.min())  # measured: 0.997 / 0.98
    assert not np.array_equal(a, b)  # bf16 really ran


def test_backend_choice_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from lgclip_core.precision import BACKEND_ENV, native_bf16, resolve_backend

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    compiler = any(shutil.which(c) for c in ("c++", "g++", "clang++"))
    expected = "inductor" if native_bf16() and compiler and not torch.cuda.is_available() else "eager"
    assert resolve_backend() == expected
    monkeypatch.setenv(BACKEND_ENV, "eager")
    assert resolve_backend() == "eager" and resolve_backend("INDUCTOR") == "inductor"  # the argument wins
    with pytest.raises(BadInputError, match="LGCLIP_ENCODER_BACKEND"):
        resolve_backend("onnx")


def test_auto_backend_runs_eager_where_the_compile_cache_is_not_writable(tmp_path, monkeypatch) -> None:
    from lgclip_core.precision import BACKEND_ENV, compile_cache_writable, resolve_backend

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "new" / "folder"))
    assert compile_cache_writable()  # a folder that does not exist yet but can be made
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr("os.access", lambda path, mode: not str(path).startswith(str(locked)))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(locked / "inductor"))
    assert not compile_cache_writable() and resolve_backend() == "eager"


@pytest.mark.slow
def test_compiled_backend_matches_eager_whatever_the_chunking_and_is_named_in_the_key() -> None:
    from lgclip_core.encoders import EfficientNetLiteEncoder

    real = zoo.load("dataset", "fashion-mnist", split="test").stratified(7, seed=0).images  # 70: 64 + a ragged 6
    eager = EfficientNetLiteEncoder(0, precision="bf16", backend="eager")
    compiled = EfficientNetLiteEncoder(0, precision="bf16", backend="inductor")
    assert "backend" not in eager.config() and compiled.config()["backend"] == "inductor"
    a, b = eager.encode(real), compiled.encode(real)
    cos = (a * b).sum(1)
    assert cos.min() > 0.998, cos.min()  # measured: 0.9999 (both run the same folded weights in bf16)
    assert not np.array_equal(a, b)  # the compiled kernels really ran
    chunked = np.concatenate([compiled.encode(real[i:i + 9], batch_size=9) for i in range(0, len(real), 9)])
    np.testing.assert_array_equal(chunked, b)  # padding and chunk position never change a row's features
    # another input size runs eager (no compilation for a few images) unless with_compiled_size names it
    np.testing.assert_array_equal(compiled.encode(real[:3], size=56), eager.encode(real[:3], size=56))
    at56 = compiled.with_compiled_size(56)
    assert at56.config()["compiled_sizes"] == [56] and "compiled_sizes" not in compiled.config()
    assert at56.compiled_sizes == {56, compiled.input_size} and compiled.compiled_sizes == {compiled.input_size}
    small = at56.encode(real[:3], size=56)
    assert not np.array_equal(small, eager.encode(real[:3], size=56))  # compiled kernels ran
    assert (small * eager.encode(real[:3], size=56)).sum(1).min() > 0.998
    np.testing.assert_array_equal(at56.encode(real), b)  # its own size: the same package as before
    from lgclip_core.encoders import EfficientNetLiteEncoder as Lite
    from lgclip_core.encoders import compiled_package as package_of

    loaded56 = Lite(0, precision="bf16", backend="inductor", input_size=56)  # an encoder loaded at 56 px
    assert package_of(loaded56) == package_of(at56, 56)  # shares the package
    # the package is built once per machine: a new encoder (a new process's) loads it, it is not rebuilt
    from lgclip_core.encoders import compiled_package

    package = compiled_package(compiled)
    stamp = package.stat().st_mtime_ns
    again = EfficientNetLiteEncoder(0, precision="bf16", backend="inductor")
    np.testing.assert_array_equal(again.encode(real), b)
    assert compiled_package(again) == package and package.stat().st_mtime_ns == stamp  # (damage: test_cache.py)


def test_folded_batchnorm_keeps_float32_features_and_brings_bf16_closer_to_them() -> None:
    from lgclip_core.encoders import EfficientNetLiteEncoder, pretrained_lite, to_float_batch

    folded = EfficientNetLiteEncoder(0, precision="fp32", backend="eager")
    assert folded.folded == 49 and folded.config()["batchnorm"] == "folded"  # every conv of Lite0 has one
    plain, _ = pretrained_lite(0)  # the same weights as shipped
    real = zoo.load("dataset", "fashion-mnist", split="test").stratified(2, seed=0).images
    x = folded.normalize(to_float_batch(real, 112))
    with torch.no_grad():
        ref = plain.forward_features(x).mean((2, 3))
        new = folded.forward_features(x)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain_bf16 = plain.forward_features(x).float().mean((2, 3))
            folded_bf16 = folded.forward_features(x)[0].float()
    torch.testing.assert_close(new, ref, rtol=1e-4, atol=1e-4)  # an exact rewrite in float32
    cos = torch.nn.functional.cosine_similarity
    assert cos(folded_bf16, ref).mean() > cos(plain_bf16, ref).mean()  # measured on 256 images: 0.9974 vs 0.9969

