"""Profile ``paper-shapes``: the ``paper`` profile's backends and loading code at TRUE size, with random weights.

Why: the hub models of the ``paper`` profile cannot be downloaded here, and the ``tiny`` models are too small to
show shape, dtype, memory and preprocessing bugs (a 16-px tiny SD never meets a 512-px VAE, an 8-px latent never
costs seconds per UNet call). So the profile runs the paper profile's own backends (``from_pretrained`` at the
pinned commits, open_clip's openai weights with QuickGELU) on a local hub fixture (``hub_fixture``: real configs
and tokenizers, random weights, built once into the model cache at true size, or ``$LGCLIP_HUB_CACHE``), and
meters every role (``instrument``): seconds and items per call, the RSS peak while the role runs, what loading
it cost, and the machine load (``os.getloadavg``) next to every timing. There is one code path: what runs here
is what a GPU reader runs, minus the downloads.

Roles at true size: Stable Diffusion 2.1-base (``UNet2DConditionModel`` 865.9 M, ``AutoencoderKL`` 83.7 M,
the OpenCLIP-ViT-H text encoder 340 M, ``PNDMScheduler``, 512-px renders; float32 on a CPU as the loader runs it),
open_clip RN50 / ViT-B-32 / ViT-B-16 / ViT-L-14, and Qwen2.5-1.5B-Instruct (all 28 layers; its tokenizer is
SmolLM2's stand-in, see ``hub_fixture``). ``unet_dtype_benchmark`` measures one UNet call per dtype on the machine.

Results are never accuracies: the weights are random, and the experiment scripts print a warning instead.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .zoo import PACKAGE_DIR

__all__ = ["ASSET_DIR", "WEIGHTS", "WARNING", "METER", "RoleMeter", "config", "instrument", "qwen_config",
           "unet_dtype_benchmark", "role_flops", "LGCLIP_QUICK",
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
                                    generator="sd-2-1-base-2-steps")
T2IPAL_QUICK: dict[str, Any] = dict(n_template=4, n_llm=2, n_test=8, epochs=2, seeds=1, batch_size=8,
                                    generator="sd-2-1-base-2-steps")

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


# ------------------------------------------------------------------------------------------------ meter
def _rss() -> int:
    from .efficiency import current_rss

    return current_rss()


def _cuda() -> Any:
    """``torch.cuda`` when a GPU is in use, else None (GPU peaks are measured only there)."""
    import torch

    return torch.cuda if torch.cuda.is_available() else None


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

    def record_load(self, role: str, **info: Any) -> None:
        self._role(role)["load"] = info

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
        cuda = _cuda()
        if cuda is not None:
            cuda.synchronize()
            cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            if cuda is not None:
                cuda.synchronize()
            dt = time.perf_counter() - t0
            stop.set()
            thread.join()
            with self._lock:
                r = self._role(role)
                r["calls"] += 1
                r["items"] += int(items)
                r["seconds"] += dt
                r["rss_peak_bytes"] = max(r["rss_peak_bytes"], peak[0], _rss())
                if cuda is not None:  # the GPU memory this role's calls reached (all models resident included)
                    r["gpu_peak_bytes"] = max(r.get("gpu_peak_bytes", 0), int(cuda.max_memory_allocated()))
                if len(r["loadavg_per_call"]) < 200:
                    r["loadavg_per_call"].append({"items": int(items), "seconds": round(dt, 3), "loadavg": load})

    def wrap(self, obj: Any, method: str, role: str, count: Callable[..., int], from_result: bool = False) -> None:
        """Meter ``obj.method``: ``obj`` becomes an instance of a subclass whose ``method`` measures the call and
        runs the class's own (nothing else changes). ``count(*args, **kwargs)`` gives the items of a call, or
        ``count(result, *args, **kwargs)`` when ``from_result`` (e.g. generated tokens). Copies of ``obj`` (T2I-PAL's
        bf16 text-tower twin, an encoder with another pooling) keep the subclass: they are metered as themselves."""
        meter, cls = self, type(obj)

        def metered(inst: Any, *args: Any, **kwargs: Any) -> Any:
            inner = getattr(super(sub, inst), method)
            if not from_result:
                return meter.measure(role, count(*args, **kwargs), lambda: inner(*args, **kwargs))
            box: list[Any] = []
            meter.measure(role, 0, lambda: box.append(inner(*args, **kwargs)))
            meter.add_items(role, int(count(box[0], *args, **kwargs)))
            return box[0]

        sub = type(cls.__name__, (cls,), {method: metered, "__module__": cls.__module__,
                                          "__qualname__": cls.__qualname__})
        obj.__class__ = sub

    def add_items(self, role: str, n: int) -> None:
        with self._lock:
            r = self._role(role)
            r["items"] += n
            if r["calls"] <= len(r["loadavg_per_call"]):  # the call's own entry (the list is capped)
                r["loadavg_per_call"][-1]["items"] = n

    def report(self) -> dict[str, Any]:
        out = {}
        for role, r in self.roles.items():
            per = r["seconds"] / r["items"] if r["items"] else None
            out[role] = {**r, "seconds": round(r["seconds"], 3), "seconds_per_item": per,
                         "rss_peak_gib": round(r["rss_peak_bytes"] / 2**30, 3),
                         **({"gpu_peak_gib": round(r["gpu_peak_bytes"] / 2**30, 3)} if "gpu_peak_bytes" in r else {})}
        return {"roles": out, "process_max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                           / 2**20, 3), "loadavg_now": _load()}

    def reset(self) -> None:
        self.roles.clear()


METER = RoleMeter()


# ------------------------------------------------------------------------------------------ instrument
_METHODS = {"image_encoder": "forward_features", "text_encoder": "encode_embeddings"}


def instrument(role: str, backend: Any, model: Any, info: dict[str, Any]) -> Any:
    """The profile's hook on every model the zoo loads: record what loading cost and meter its calls per item
    (images, texts, UNet and VAE calls, generated tokens). The model itself is not changed."""
    from .efficiency import count_parameters

    load = {"seconds": round(info["seconds"], 3), "rss_increase_bytes": max(0, _rss() - info.get("rss_before", 0)),
            "loadavg": _load(), "backend": backend.name, "hub": backend.kwargs["hub"].manifest()
            if "hub" in backend.kwargs else None}
    if role == "generator":
        pipe = model.pipe
        load.update(dtype=str(pipe.unet.dtype).replace("torch.", ""), parameters={
            k: count_parameters(getattr(pipe, k)) for k in ("unet", "vae", "text_encoder")})
        METER.wrap(pipe.unet, "forward", "sd_unet", lambda sample, *a, **k: sample.shape[0])
        METER.wrap(pipe.vae, "decode", "sd_vae_decode", lambda z, *a, **k: z.shape[0])
        METER.wrap(pipe.text_encoder, "forward", "sd_text_encoder",
                   lambda input_ids=None, *a, **k: input_ids.shape[0] if input_ids is not None else 0)
        METER.wrap(model, "generate", "generator", lambda prompts, *a, **k: len(prompts))
    elif role in _METHODS:
        load.update(arch=backend.kwargs.get("arch"), parameters=count_parameters(model))
        METER.wrap(model, _METHODS[role], role, lambda x, *a, **k: x.shape[0])
    elif role == "prompt_writer" and hasattr(model, "model"):
        cfg = model.model.config
        load.update(architecture=type(model.model).__name__, layers=cfg.num_hidden_layers,
                    parameters=count_parameters(model.model))
        # every caller (descriptions, T2I-PAL's captions) samples through the writer's decode: items = row-steps
        METER.wrap(model, "decode", "prompt_writer", _row_steps, from_result=True)
    else:
        return model
    METER.record_load(role, **load)
    return model


def _row_steps(out: Any, *args: Any, **kwargs: Any) -> int:
    """Token positions a decode computed (``Decoded.row_steps``: rows still in the batch, summed over steps)."""
    return int(out.row_steps)


def qwen_config(layers: int | None = None, **overrides: Any) -> Any:
    """``Qwen2Config`` of Qwen2.5-1.5B-Instruct, depth cut to ``layers`` (None: all 28), for FLOP counts."""
    from transformers import Qwen2Config

    cfg = config("qwen2.5-1.5b-instruct.json")
    cfg.pop("architectures", None)
    if layers is not None:
        cfg["num_hidden_layers"] = int(layers)
        cfg["max_window_layers"] = min(cfg["max_window_layers"], int(layers))
    cfg.update(overrides)
    return Qwen2Config(**cfg)


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


def role_flops(clip_archs: tuple[str, ...] = CLIP_ARCHS, llm_prompt_tokens: int = LLM_PROMPT_TOKENS,
               llm_layers_ran: int = 28) -> dict[str, Any]:
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
        llm_cut = Qwen2ForCausalLM(qwen_config(llm_layers_ran))
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
        out["prompt_writer_cut"] = {"flops": f / llm_prompt_tokens,
                                    "per": f"one token at the {llm_layers_ran} layers that ran"}
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
    counted FLOPs. A prompt writer that ran at fewer than 28 layers has its CPU time scaled to full depth by FLOPs."""
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
                           "items; prompt_writer scaled by FLOPs from the layers that ran to 28",
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
    layers = report["roles"].get("prompt_writer", {}).get("load", {}).get("layers") or 28
    flops = role_flops(llm_layers_ran=int(layers))
    result["resources"] = report
    result["flops_per_item"] = flops
    result["paper_run_costs"] = paper_costs(paper, report, flops)
    from .hub_fixture import fixture_info

    fixture = fixture_info()
    true_size = fixture is None or fixture["size"] == "true"
    if not true_size:  # a cut fixture's timings say nothing about the true models
        result["warning"] = WARNING + " This run used a CUT fixture: its timings are not the true models' either."
    if dtype_probe if dtype_probe is not None else paper == "lgclip" and true_size:
        result["unet_dtype_on_this_machine"] = unet_dtype_benchmark()
    result.setdefault("manifest", {})["paper_shapes"] = {"weights": WEIGHTS, "assets": sorted(
        str(p.relative_to(ASSET_DIR)) for p in ASSET_DIR.rglob("*.json")), "settings": settings,
        "hub_fixture": fixture}
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
