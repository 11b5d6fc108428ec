"""One interface over text-to-image diffusion pipelines: ``generate(prompts, seeds) -> uint8 images``.

The offline generator is a small member of the Stable Diffusion family (a ``UNet2DConditionModel`` with
cross-attention on text-encoder token states, a diffusers scheduler, classifier-free guidance), packaged as a
diffusers ``DiffusionPipeline`` so that chapters use the same code path offline and with Stable Diffusion.
Image ``i`` gets its own ``torch.Generator`` seeded with ``seeds[i]``, so an image depends only on its prompt
and seed, never on batch composition: cached generation can stop and resume anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from tqdm.auto import tqdm

from ..cache import ArtifactCache, default_cache, sha256_file, shared_chunks
from ..errors import BadInputError, MissingAssetError, check_prompts
from ..precision import resolve_precision
from ..tokenizers import build_directory
from ..zoo import ASSETS, HubModel, asset_path, from_hub

TEXT_MAX_LENGTH = 32  # MiniLM tokens fed to cross-attention
GENERATOR_CARD = "lgclip_generator.json"  # crop, sampling defaults, training record and metrics


# ------------------------------------------------------------------------------ our offline pipeline
class TextToImagePixelPipeline(DiffusionPipeline):
    """Pixel-space text-to-image diffusion: MiniLM token states -> cross-attention UNet; pooled MiniLM
    embedding -> the UNet's class-embedding path (the way SDXL adds pooled text to the time embedding).

    ``text_encoder``/``tokenizer`` are optional components: the committed pipeline stores only the UNet and
    scheduler (small), and the MiniLM text encoder comes from its own offline asset at load time.
    """

    model_cpu_offload_seq = "text_encoder->unet"
    _optional_components = ["text_encoder", "tokenizer"]

    def __init__(self, unet: UNet2DConditionModel, scheduler: Any, text_encoder: Any = None, tokenizer: Any = None,
                 crop: int | None = None, space_to_depth: int = 1):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        # registered config (model_index.json) so from_pretrained of the folder alone yields the final image size
        self.register_to_config(crop=crop, space_to_depth=space_to_depth)

    @torch.no_grad()
    def encode_prompt(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token states (B, L, 384), attention mask (B, L) and pooled L2-normalised embedding (B, 384)."""
        if self.text_encoder is None or self.tokenizer is None:  # folder loaded alone: MiniLM from its offline asset
            text_encoder, tokenizer = _minilm_parts()
            self.register_modules(text_encoder=text_encoder.to(self.device), tokenizer=tokenizer)
        return encode_text_condition(self.text_encoder, self.tokenizer, list(prompts), self.device)

    @torch.no_grad()
    def __call__(self, prompt: str | list[str], num_inference_steps: int = 20, guidance_scale: float = 3.0,
                 generator: torch.Generator | list[torch.Generator] | None = None, output_type: str = "np",
                 negative_prompt: str = "", return_dict: bool = True, progress: bool = False):
        prompts = check_prompts([prompt] if isinstance(prompt, str) else prompt)
        b = len(prompts)
        gens = generator if isinstance(generator, list) else [generator] * b
        if len(gens) != b:
            raise BadInputError(f"{len(gens)} generators for {b} prompts; pass one torch.Generator per prompt")
        size, ch = self.unet.config.sample_size, self.unet.config.in_channels
        latents = torch.stack([torch.randn((ch, size, size), generator=g, dtype=torch.float32) for g in gens])
        latents = latents.to(self.device) * self.scheduler.init_noise_sigma
        states, mask, pooled = self.encode_prompt(prompts)
        use_cfg = guidance_scale > 1.0
        if use_cfg:
            u_states, u_mask, u_pooled = self.encode_prompt([negative_prompt] * b)
            states, mask, pooled = torch.cat([u_states, states]), torch.cat([u_mask, mask]), torch.cat([u_pooled,
                                                                                                        pooled])
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        for t in tqdm(self.scheduler.timesteps, disable=not progress, leave=False, desc="denoise"):
            x_in = torch.cat([latents] * 2) if use_cfg else latents
            x_in = self.scheduler.scale_model_input(x_in, t)
            out = self.unet(x_in, t, encoder_hidden_states=states, encoder_attention_mask=mask,
                            class_labels=pooled).sample
            if use_cfg:
                u, c = out.chunk(2)
                out = u + guidance_scale * (c - u)
            latents = self.scheduler.step(out, t, latents).prev_sample
        f = self.config.space_to_depth or 1
        if f > 1:
            latents = F.pixel_shuffle(latents, f)
            size = size * f
        images = ((latents.clamp(-1, 1) + 1) / 2).cpu()
        crop = self.config.crop
        if crop:
            off = (size - crop) // 2
            images = images[:, :, off:off + crop, off:off + crop]
        if output_type == "pt":
            result = images
        else:
            result = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
            if result.shape[-1] == 1:
                result = np.repeat(result, 3, axis=-1)
        if not return_dict:
            return (result,)
        return ImagePipelineOutput(images=result)


def encode_text_condition(text_encoder: Any, tokenizer: Any, prompts: list[str], device: torch.device | str,
                          max_length: int = TEXT_MAX_LENGTH) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MiniLM conditioning as the generator sees it (shared by training and sampling)."""
    tok = tokenizer(prompts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
    ids, mask = tok["input_ids"].to(device), tok["attention_mask"].to(device)
    states = text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(states.dtype)
    pooled = F.normalize((states * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)
    return states, mask, pooled


def _minilm_parts() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = asset_path("minilm-l6-v2")
    return (AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval(),
            AutoTokenizer.from_pretrained(path, local_files_only=True))


# ---------------------------------------------------------------------------------- the common wrapper
_WARNED: set[tuple[str, str, str]] = set()  # (generator, template, text) already warned about in this process


class Generator:
    """``generate(prompts, seeds) -> uint8 (N, H, W, 3)`` over any diffusers text-to-image pipeline."""

    def __init__(self, pipe: Any, name: str, revision: str, steps: int, guidance_scale: float,
                 batch_size: int = 50, extra: dict[str, Any] | None = None, precision: str = "fp32"):
        self.pipe, self.name, self.revision = pipe, name, revision
        self.steps, self.guidance_scale, self.batch_size = steps, guidance_scale, batch_size
        self.extra = extra or {}
        self.precision = precision  # "bf16": the denoising network under bf16 autocast (latents stay fp32)

    def config(self) -> dict[str, Any]:
        """What determines an image besides its prompt and seed (cache keys, manifests); fp32 is not named, so
        earlier fp32 cache entries stay valid."""
        cfg = {"name": self.name, "revision": self.revision, "steps": self.steps,
               "guidance_scale": self.guidance_scale, **self.extra}
        return cfg if self.precision == "fp32" else {**cfg, "precision": self.precision}

    def with_sampling(self, steps: int | None = None, precision: str | None = None,
                      guidance_scale: float | None = None) -> Generator:
        """A second wrapper over the same pipeline with other sampling settings (this one is left as it is)."""
        if guidance_scale is not None and not guidance_scale >= 1.0:
            raise BadInputError(f"guidance_scale must be >= 1 (1: no guidance), got {guidance_scale}")
        guidance = self.guidance_scale if guidance_scale is None else float(guidance_scale)
        return Generator(self.pipe, self.name, self.revision, steps or self.steps, guidance,
                         self.batch_size, self.extra, precision or self.precision)

    def warn_text_limits(self, texts: Sequence[str], template: str = "{}", lengths: bool = False) -> list[str]:
        """``TextLimitWarning`` for each text this generator will not read as written, once per text and generator
        in a process; returns the new messages. Prompts (``generate``, ``generate_images``: cached or not) are
        checked for characters its text encoder's vocabulary lacks; class names (``warn_class_names``) also for
        its token limit. Long descriptions are not flagged: the offline generator reads their first 32 tokens by
        design (``TEXT_MAX_LENGTH``)."""
        import warnings

        from ..errors import TextLimitWarning, text_limit_messages

        tokenizer = getattr(self.pipe, "tokenizer", None)
        if tokenizer is None:
            return []
        limit = TEXT_MAX_LENGTH if isinstance(self.pipe, TextToImagePixelPipeline) else tokenizer.model_max_length
        new = [t for t in dict.fromkeys(texts) if (self.name, template, t) not in _WARNED]
        _WARNED.update((self.name, template, t) for t in new)
        model = f"the text encoder of generator {self.name!r}"
        messages = text_limit_messages([template.format(t) for t in new], tokenizer, limit if lengths else None,
                                       model) if new else []
        for message in messages:
            warnings.warn(message, TextLimitWarning, stacklevel=3)
        return messages

    def warn_class_names(self, names: Sequence[str]) -> list[str]:
        """Class names this generator cannot read as written in the paper's template "A photo of a {name}.":
        cut at its token limit or with unknown characters (``TextLimitWarning``, once per name)."""
        return self.warn_text_limits(names, "A photo of a {}.", lengths=True)

    def generate(self, prompts: Sequence[str], seeds: Sequence[int], progress: bool = False,
                 batch_size: int | None = None) -> np.ndarray:
        prompts = check_prompts(prompts)
        self.warn_text_limits(prompts)
        seeds = [int(s) for s in seeds]
        if len(seeds) != len(prompts):
            raise BadInputError(f"{len(prompts)} prompts but {len(seeds)} seeds; give one seed per prompt")
        bs = batch_size or self.batch_size
        device = self.pipe.device
        out = []
        for i in tqdm(range(0, len(prompts), bs), desc=f"generate {self.name}", disable=not progress, leave=False):
            # CPU generators for every pipeline: the same seed gives the same noise on any device (diffusers'
            # reproducibility advice); the latents are drawn on the CPU and moved to the device
            gens = [torch.Generator("cpu").manual_seed(s) for s in seeds[i:i + bs]]
            kwargs: dict[str, Any] = {"num_inference_steps": self.steps, "guidance_scale": self.guidance_scale,
                                      "generator": gens, "output_type": "np"}
            if not isinstance(self.pipe, TextToImagePixelPipeline):
                kwargs.update(self.extra.get("call_kwargs", {}))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                imgs = self.pipe(prompt=list(prompts[i:i + bs]), **kwargs).images
            imgs = np.asarray(imgs)
            if imgs.dtype != np.uint8:
                imgs = (np.clip(imgs, 0, 1) * 255).round().astype(np.uint8)
            out.append(imgs)
        return np.concatenate(out)


def generate_images(generator: Generator, prompts: Sequence[str], seeds: Sequence[int],
                    cache: ArtifactCache | None = None, chunk: int = 50, progress: bool = True) -> np.ndarray:
    """Cached, resumable generation: one cache entry per chunk of (prompt, seed) pairs; under ``accelerate
    launch`` the processes share the chunks (see ``cache.shared_chunks``)."""
    prompts = check_prompts(prompts)
    if len(seeds) != len(prompts):
        raise BadInputError(f"{len(prompts)} prompts but {len(seeds)} seeds; give one seed per prompt")
    generator.warn_text_limits(prompts)
    cache = cache or default_cache()
    starts = range(0, len(prompts), chunk)
    parts = [{"generator": generator.config(), "prompts": list(prompts[i:i + chunk]),
              "seeds": [int(x) for x in seeds[i:i + chunk]]} for i in starts]
    out = shared_chunks(cache, "images", parts, lambda j: {"images": generator.generate(parts[j]["prompts"],
                                                                                          parts[j]["seeds"])},
                        progress, f"images ({generator.name})")
    return np.concatenate([o["images"] for o in out])


# ------------------------------------------------------------------------------------------- loaders
def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_offline_generator(name: str, path: str | os.PathLike | None = None, steps: int | None = None,
                           guidance_scale: float | None = None, precision: str | None = None,
                           asset: str = "lgclip-fmnist-generator") -> Generator:
    """Our committed pipeline (UNet + scheduler) + the MiniLM asset, from local files only; ``asset``: which
    committed pipeline (one per offline data set, ``zoo.OFFLINE_GENERATORS``), ``path``: another copy of it.

    ``precision`` (or ``$LGCLIP_GENERATOR_PRECISION``): "auto" (default) runs the UNet under bf16 autocast
    where the hardware has native bf16 (speed and CAS per setting: `lgclip eval-generator --curve`),
    fp32 elsewhere. ``steps`` (or ``$LGCLIP_GENERATOR_STEPS``): DPM-Solver steps, default the card's."""
    path = Path(path) if path else asset_path(asset)
    ASSETS[asset].verify(path)  # an explicit copy too: its card's SHA-256s (IntegrityError)
    text_encoder, tokenizer = _minilm_parts()
    pipe = TextToImagePixelPipeline.from_pretrained(path, text_encoder=text_encoder, tokenizer=tokenizer,
                                                    local_files_only=True, use_safetensors=True)
    pipe.to(_device())
    pipe.set_progress_bar_config(disable=True)
    if not (path / GENERATOR_CARD).is_file():  # its sampling defaults live there: never guess them
        raise MissingAssetError(asset, ASSETS[asset].fix(), f"{path} has no {GENERATOR_CARD} (the card holds the "
                                                         "sampling defaults and the files' hashes)")
    card = json.loads((path / GENERATOR_CARD).read_text())
    defaults = card.get("sampling_defaults", {})
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    revision = sha256_file(weights)[:16] if weights.exists() else "unsaved"
    env_steps = os.environ.get("LGCLIP_GENERATOR_STEPS", "")
    if env_steps and not env_steps.strip().isdigit():
        raise BadInputError(f"$LGCLIP_GENERATOR_STEPS must be a whole number >= 1, got {env_steps!r}")
    steps = steps or int(env_steps or defaults.get("steps", 20))
    if steps < 1:
        raise BadInputError(f"generator steps must be >= 1, got {steps} (argument or $LGCLIP_GENERATOR_STEPS)")
    return Generator(pipe, name, revision, steps,
                     float(guidance_scale if guidance_scale is not None else defaults.get("guidance_scale", 3.0)),
                     batch_size=100, precision=resolve_precision(precision, env="LGCLIP_GENERATOR_PRECISION"))


def build_tiny_sd_pipeline(directory: Path) -> Path:
    """Write a random-init tiny StableDiffusionPipeline to ``directory`` (mechanics tests only)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..tokenizers import clip_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=8, attention_head_dim=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), latent_channels=4,
                        norm_num_groups=8, sample_size=16)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, vocab_size=49408, max_position_embeddings=77))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(directory, safe_serialization=True)
    return directory


def load_stable_diffusion(name: str, hub: HubModel | None = None, tiny: bool = False, xl: bool = False,
                          steps: int = 25, guidance_scale: float = 7.5, size: int | None = None,
                          dtype: str = "float16", sampling: dict[str, Any] | None = None,
                          fixed_steps: int | None = None) -> Generator:
    """Stable Diffusion through diffusers' ``from_pretrained`` at the pinned commit (SD 2.1-base: 512 px).

    ``sampling`` ({"steps", "guidance", "dtype"}, from ``protocols`` key ``lgclip.sampling``) overrides
    ``steps``/``guidance_scale``/``dtype``. The LGCLIP authors' llm_sd_gen.py calls the pipeline with diffusers'
    defaults (50 steps, guidance 7.5, float32); 25 steps appear only in their SDXL branch. Our clean protocol
    samples 25 steps in float16. float16 needs a GPU: on a CPU it runs in float32 (the config says which).
    ``fixed_steps``: sampling steps whatever ``sampling`` says (cost runs of the paper-shapes profile).
    """
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if sampling:
        steps, guidance_scale = int(sampling.get("steps", steps)), float(sampling.get("guidance", guidance_scale))
        dtype = str(sampling.get("dtype", dtype))
    steps = int(fixed_steps or steps)
    device = _device()
    if tiny:
        # atomic: an interrupted build is never mistaken for a finished one
        d = build_directory("tiny-sd", {"tiny-sd": 1, "diffusers": __import__("diffusers").__version__},
                            build_tiny_sd_pipeline)
        pipe = StableDiffusionPipeline.from_pretrained(d, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        return Generator(pipe.to(device), name, "random-init", steps=2, guidance_scale=guidance_scale,
                         batch_size=4, extra={"call_kwargs": {"height": 16, "width": 16}})
    if hub is None:
        raise BadInputError(f"generator {name!r} names no hub model: register it with a HubModel in the zoo")
    if dtype not in ("float16", "float32"):
        raise BadInputError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    run_dtype = "float16" if dtype == "float16" and device == "cuda" else "float32"
    cls = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
    kwargs: dict[str, Any] = {"dtype": getattr(torch, run_dtype), "use_safetensors": True}
    if not xl:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    pipe = from_hub("generator", name, hub, lambda repo, kw: cls.from_pretrained(repo, **kw, **kwargs)).to(device)
    pipe.set_progress_bar_config(disable=True)
    px = size or (1024 if xl else 512)
    return Generator(pipe, name, f"{hub.repo_id}@{hub.revision}", steps, guidance_scale, batch_size=8,
                     extra={"call_kwargs": {"height": px, "width": px}, "dtype": run_dtype, "hub": hub.manifest()})


def jpeg_roundtrip(images: np.ndarray) -> np.ndarray:
    """Save each uint8 image as a JPEG with PIL's defaults (quality 75, 4:2:0) and read it back, as the LGCLIP
    authors' code stores every generated image (llm_sd_gen.py: ``ToPILImage()(x).save(path, "JPEG")``) and
    re-opens it for encoding (``Image.open(path).convert('RGB')``). Works for any generator's output."""
    import io

    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise BadInputError(f"images must be uint8 (N, H, W) or (N, H, W, 3), got {images.dtype} {images.shape}")
    out = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img).save(buf, "JPEG")
        buf.seek(0)
        back = Image.open(buf)
        out.append(np.asarray(back.convert("RGB") if img.ndim == 3 else back.convert("L")))
    return np.stack(out)
