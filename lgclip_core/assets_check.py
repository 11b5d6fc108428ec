"""``lgclip assets``: load every offline asset for real and say, per asset, whether it works.

Why load instead of checking that files exist: a truncated download, a wrong package version or a changed
parameter layout only shows up when the weights are used. Before loading, every file is hashed and compared
with the SHA-256 recorded in the zoo (the generator: in its card); a mismatch is reported as CORRUPT with the
reinstall command, and the file is never loaded. Each check runs the asset through the same loader
the book uses and checks that the output makes sense (a palace photo is classified as a palace, "dog" is
closer to "puppy" than to "soup", ...). Exit status 0 only when every asset loads.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import zoo
from .errors import IntegrityError, MissingAssetError, UnknownNameError

__all__ = ["CHECKS", "AssetResult", "check_asset", "check_all", "add_arguments", "run"]


@dataclass
class AssetResult:
    """One asset's outcome: status ``ok`` | ``missing`` | ``corrupt`` (a file's SHA-256 differs) | ``failed``."""

    name: str
    status: str
    detail: str
    seconds: float
    install: str

    def line(self, width: int = 24) -> str:
        if self.status == "ok":
            return f"ok      {self.name:<{width}}  {self.detail}; {self.seconds:.1f} s"
        if self.status == "missing":
            return f"MISSING {self.name:<{width}}  {self.install}"
        if self.status == "corrupt":
            return f"CORRUPT {self.name:<{width}}  {self.detail}"
        return f"FAILED  {self.name:<{width}}  {self.detail} (reinstall: {self.install})"


class CheckFailed(AssertionError):
    """The asset loaded but its output is not what the real weights give."""


def _fresh(role: str, name: str, **kwargs: object) -> Any:
    """Load through the backend's own loader, bypassing ``zoo.load``'s per-process reuse: the point is to
    read the files on disk now, even when this process already holds a copy."""
    return zoo.resolve(role, name).load(**kwargs)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def _check_smollm2() -> str:
    from .prompts import PREFIX

    writer = _fresh("prompt_writer", "smollm2-135m-instruct")
    text = writer.write_class("cat", 0, 1, 0)[0]
    _require(text.startswith(PREFIX.format("cat")) and len(text) > len(PREFIX.format("cat")) + 3,
             f"generated text does not follow the format: {text!r}")
    short = text if len(text) <= 70 else text[:67] + "..."
    return f"wrote {short!r}"


_NATIVE_SIZE = {0: 224, 1: 240, 2: 260}
PALACE = 698  # ImageNet-1k index of "palace": scikit-learn's china.jpg shows a Chinese palace


def _check_efficientnet(variant: int) -> Callable[[], str]:
    def check() -> str:
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
        from sklearn.datasets import load_sample_image

        image = load_sample_image("china.jpg")  # (427, 640, 3) uint8, ships with scikit-learn
        h, w = image.shape[:2]
        s = min(h, w)
        square = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        enc = _fresh("image_encoder", f"efficientnet-lite{variant}", input_size=_NATIVE_SIZE[variant])
        probs = enc.imagenet_logits(square[None]).softmax(-1)[0]
        top5 = probs.topk(5).indices.tolist()
        feats = enc.encode(square[None])
        _require(bool(np.isfinite(feats).all()) and abs(float(np.linalg.norm(feats[0])) - 1) < 1e-4,
                 "features are not finite unit vectors")
        _require(PALACE in top5, f"china.jpg top-5 {[IMAGENET_CLASSNAMES[i] for i in top5]} lacks 'palace'")
        return (f"china.jpg -> {IMAGENET_CLASSNAMES[top5[0]]} ({probs[top5[0]]:.2f}) at "
                f"{_NATIVE_SIZE[variant]} px, {feats.shape[1]}-d features")

    return check


def _check_minilm() -> str:
    enc = _fresh("text_encoder", "minilm-l6-v2")
    f = enc.encode(["a photo of a dog", "a photo of a puppy", "a bowl of soup"])
    near, far = float(f[0] @ f[1]), float(f[0] @ f[2])
    _require(f.shape == (3, 384) and near > far, f"cos(dog, puppy)={near:.2f} <= cos(dog, soup)={far:.2f}")
    return f"cos(dog, puppy)={near:.2f} > cos(dog, soup)={far:.2f}"


def _check_clip_bpe() -> str:
    import open_clip

    from .tokenizers import CLIP_VOCAB_SIZE, clip_tokenizer

    oc = open_clip.get_tokenizer("ViT-B-32")
    hf = clip_tokenizer()
    text = "A photo of a sneaker, which has white laces."
    a = oc([text])[0]
    a = a[a != 0].tolist()
    b = hf(text)["input_ids"]
    _require(oc.vocab_size == CLIP_VOCAB_SIZE and hf.vocab_size == CLIP_VOCAB_SIZE,
             f"vocabulary sizes {oc.vocab_size} / {hf.vocab_size}, expected {CLIP_VOCAB_SIZE}")
    _require(a == b, f"open_clip and transformers tokenise differently: {a} vs {b}")
    return f"{CLIP_VOCAB_SIZE} tokens (open_clip and transformers.CLIPTokenizer agree)"


def _check_fashion_mnist() -> str:
    train = _fresh("dataset", "fashion-mnist", split="train")
    test = _fresh("dataset", "fashion-mnist", split="test")
    for ds, n in ((train, 60000), (test, 10000)):
        _require(ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8, f"{ds.split}: {ds.images.shape}")
        _require(np.bincount(ds.labels, minlength=10).tolist() == [n // 10] * 10, f"{ds.split}: unbalanced labels")
    return "train (60000, 28, 28), test (10000, 28, 28), 10 balanced classes"


def _check_generator(asset: str, backend: str, prompt: str) -> Callable[[], str]:
    def check() -> str:
        zoo.asset_path(asset)  # MissingAssetError with the install hint when absent
        gen = _fresh("generator", backend, steps=4)
        images = gen.generate([prompt], [0])
        _require(images.dtype == np.uint8 and images.ndim == 4 and images.shape[0] == 1 and images.shape[-1] == 3,
                 f"generated {images.dtype} {images.shape}, expected uint8 (1, H, W, 3)")
        return f"1 image {images.shape[1]}x{images.shape[2]} in 4 steps, revision {gen.revision}"
    return check


CHECKS: dict[str, Callable[[], str]] = {
    "smollm2-135m-instruct": _check_smollm2,
    **{f"efficientnet-lite{v}": _check_efficientnet(v) for v in (0, 1, 2)},
    "minilm-l6-v2": _check_minilm,
    "clip-bpe-vocab": _check_clip_bpe,
    "fashion-mnist": _check_fashion_mnist,
    "lgclip-fmnist-generator": _check_generator("lgclip-fmnist-generator", "lgclip-fmnist-ddpm",
                                                "bag, which has a long strap."),
    "lgclip-digits-generator": _check_generator("lgclip-digits-generator", "lgclip-digits-ddpm",
                                                "handwritten digit seven, which has a slanted stroke."),
}


def check_asset(name: str) -> AssetResult:
    """Load one asset; never raises (the outcome is in the result)."""
    asset = zoo.ASSETS[name]
    t0 = time.perf_counter()
    try:
        asset.path(recheck=True)  # hash every file now (loads only reuse a remembered check)
        detail = CHECKS[name]()
        status = "ok"
    except MissingAssetError as exc:
        status, detail = "missing", str(exc)
    except IntegrityError as exc:
        status, detail = "corrupt", str(exc)
    except Exception as exc:  # noqa: BLE001 - report every failure, keep checking the other assets
        status = "failed"
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if not isinstance(exc, CheckFailed):
            detail += " | " + traceback.format_exc(limit=-1).strip().splitlines()[-1][:200]
    return AssetResult(name, status, detail, round(time.perf_counter() - t0, 2), asset.install)


def check_all(names: list[str] | None = None, echo: bool = False) -> list[AssetResult]:
    results = []
    for name in names or list(CHECKS):
        r = check_asset(name)
        if echo:
            print(r.line(), flush=True)
        results.append(r)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="ASSET",
                        help=f"assets to check (default: all): {', '.join(CHECKS)}")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text lines")


def run(args: argparse.Namespace) -> int:
    for name in args.names:
        if name not in CHECKS:
            raise UnknownNameError("offline asset", name, list(CHECKS))
    results = check_all(list(args.names) or None, echo=not args.json)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.status == "ok" for r in results) else 1
