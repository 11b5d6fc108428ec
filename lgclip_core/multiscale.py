"""LGCLIP's training-free multi-scale module.

For scales s = 1..S (S = 10 in the paper) an image is cropped with RandomResizedCrop(scale=(s/S, s/S)) — a
random crop covering s/S of its area — resized to the encoder's input size and encoded; the S features are fused
with weights s / sum(1..S) (s/55 for S = 10: the full view weighs most) and L2-normalised. The same module is
applied to real and generated images. Crop positions are drawn from a generator seeded with (seed, scale,
image index), so features are identical however images are batched or sharded.

Crops are resized with ``interpolation="bilinear"`` (ours: torch bilinear with antialiasing on the float crop) or
``"bicubic"`` (the authors' released code: torchvision ``RandomResizedCrop(224, scale=(s/10, s/10),
interpolation=BICUBIC)`` on a PIL image, LG-CLIP muti_scale_gen_feat.py:260-271 and vanilla_clip_ms.py:210-221;
on a PIL image torchvision resizes with PIL's bicubic filter, which always antialiases, and ``ToTensor`` then
quantises to uint8 / 255 — reproduced here exactly through PIL).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .encoders import ImageEncoder, Images, check_image
from .errors import BadInputError

RATIO = (3 / 4, 4 / 3)  # torchvision RandomResizedCrop's default aspect-ratio range
INTERPOLATIONS = ("bilinear", "bicubic")


def fusion_weights(n_scales: int = 10) -> np.ndarray:
    """w_s = s / sum(1..S); for S = 10 these are s/55."""
    if n_scales < 1:
        raise BadInputError(f"n_scales must be >= 1, got {n_scales}")
    s = np.arange(1, n_scales + 1, dtype=np.float64)
    return s / s.sum()


def crop_box(height: int, width: int, area_fraction: float, gen: torch.Generator,
             ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """(top, left, h, w) drawn exactly as torchvision's RandomResizedCrop.get_params, from ``gen``."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        # torchvision draws the area fraction even when scale=(f, f): the draw is kept so that the same seed
        # gives the same crop as RandomResizedCrop.get_params under torch.manual_seed.
        target_area = area * torch.empty(1).uniform_(area_fraction, area_fraction, generator=gen).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=gen)).item()
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=gen).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=gen).item())
            return top, left, h, w
    in_ratio = width / height  # fallback: central crop, as torchvision does
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def multiscale_crops(images: Images, scale: int, n_scales: int, size: int, seed: int,
                     start_index: int = 0, interpolation: str = "bilinear") -> torch.Tensor:
    """Crops covering scale/n_scales of each image's area, resized to ``size`` -> float (N, 3, size, size).

    Bilinear crops of the same shape are resized in one call (per image, the same numbers: the resize treats
    every image and channel on its own), and a grey image is resized once and then repeated to three channels.
    """
    _check_interpolation(interpolation)
    arrays = [np.asarray(img) for img in images]
    boxes = []
    for i, img in enumerate(arrays):
        height, width = check_image(img).shape[:2]
        gen = torch.Generator().manual_seed(hash_seed(seed, scale, start_index + i))
        boxes.append(crop_box(height, width, scale / n_scales, gen))
    if interpolation == "bicubic":
        return torch.cat([_pil_bicubic_crop(img, box, size) for img, box in zip(arrays, boxes, strict=True)])
    crops = [_native_float(img)[:, :, top:top + h, left:left + w]
             for img, (top, left, h, w) in zip(arrays, boxes, strict=True)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, crop in enumerate(crops):
        groups.setdefault(tuple(crop.shape[1:]), []).append(i)
    out = torch.empty(len(crops), 3, size, size)
    for rows in groups.values():
        resized = F.interpolate(torch.cat([crops[i] for i in rows]), size=(size, size), mode="bilinear",
                                antialias=True, align_corners=False)
        out[rows] = resized.expand(-1, 3, -1, -1)  # a grey image's one channel to RGB
    return out.clamp_(0, 1)


def _check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise BadInputError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    return interpolation


def _pil_bicubic_crop(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """What torchvision's resized_crop does to a PIL image (crop, then PIL bicubic resize) and ToTensor after
    it: (1, 3, size, size) float, uint8-quantised."""
    from PIL import Image

    top, left, h, w = box
    pil = Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img).convert("RGB")
    out = pil.crop((left, top, left + w, top + h)).resize((size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(out, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def _native_float(img: np.ndarray) -> torch.Tensor:
    """One uint8 image (H, W) or (H, W, 1|3) -> float (1, C, H, W) in [0, 1] with C = 1 (grey) or 3, not resized
    (so a crop's area fraction and aspect ratio refer to the original image, as RandomResizedCrop on a PIL image
    does)."""
    img = check_image(img)
    t = torch.from_numpy(np.array(img, dtype=np.float32)) / 255.0  # a copy: inputs may be read-only
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t[None]


def hash_seed(seed: int, scale: int, index: int) -> int:
    return (seed * 1_000_003 + scale * 10_007 + index) % (2**63 - 1)


class MultiScaleEncoder:
    """Wraps an ``ImageEncoder``: ``encode(images)`` returns fused multi-scale features (N, D).

    ``scales`` picks which of the S scales are used (the ablation on the number of scales keeps the largest
    ones: S'=1 is the full image); ``batched=True`` encodes all scales of a batch in one forward pass, the default
    ``batched=False`` one pass per scale (bench/bench_lgclip.py measured the loop faster on a 2-core CPU: the
    10x larger batch falls out of the caches). Both give the same features to 1e-4. ``interpolation`` resizes
    the crops ("bilinear" ours, "bicubic" the authors'; see the module docstring).
    """

    def __init__(self, encoder: ImageEncoder, n_scales: int = 10, seed: int = 2024,
                 scales: Sequence[int] | None = None, batched: bool = False, interpolation: str = "bilinear"):
        self.encoder, self.n_scales, self.seed, self.batched = encoder, n_scales, seed, batched
        self.interpolation = _check_interpolation(interpolation)
        self.scales = list(scales) if scales is not None else list(range(1, n_scales + 1))
        if not self.scales or any(not 1 <= s <= n_scales for s in self.scales):
            raise BadInputError(f"scales must be a non-empty subset of 1..{n_scales}, got {self.scales}")

    def config(self) -> dict:
        return {"encoder": self.encoder.config(), "n_scales": self.n_scales, "scales": self.scales,
                "seed": self.seed, "fusion": "s/sum(s), L2-normalised per scale and after fusion",
                "crop": "torchvision-get_params-v2", "interpolation": self.interpolation}

    def weights(self) -> np.ndarray:
        s = np.asarray(self.scales, dtype=np.float64)
        return s / s.sum()

    @torch.inference_mode()
    def encode_per_scale(self, images: Images, batch_size: int = 64, progress: bool = False,
                         start_index: int = 0) -> np.ndarray:
        """L2-normalised features per scale: (len(scales), N, D)."""
        enc = self.encoder.eval()
        n = len(images)
        per_scale = np.zeros((len(self.scales), n, enc.feature_dim), np.float32)
        for i in tqdm(range(0, n, batch_size), desc="multi-scale", disable=not progress, leave=False):
            chunk = images[i:i + batch_size]
            crops = [multiscale_crops(chunk, s, self.n_scales, enc.input_size, self.seed, start_index + i,
                                      self.interpolation) for s in self.scales]
            if self.batched:
                g, _ = enc.features(enc.normalize(torch.cat(crops)))
                feats = F.normalize(g, dim=1).cpu().view(len(self.scales), len(chunk), -1)
            else:
                feats = torch.stack([F.normalize(enc.features(enc.normalize(c))[0], dim=1).cpu()
                                     for c in crops])
            per_scale[:, i:i + len(chunk)] = feats.numpy()
        return per_scale

    def fuse(self, per_scale: np.ndarray) -> np.ndarray:
        fused = np.tensordot(self.weights().astype(np.float32), per_scale, axes=1)
        return fused / np.linalg.norm(fused, axis=1, keepdims=True).clip(1e-12)

    def encode(self, images: Images, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.fuse(self.encode_per_scale(images, batch_size, progress))
