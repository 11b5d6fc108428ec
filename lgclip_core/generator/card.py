"""The offline generator's model card: its JSON record (training, files, metrics) and the README rendered from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .pipeline import GENERATOR_CARD


def write_model_card(pipeline_dir: str | Path) -> Path:
    """Render README.md (the model card) from the pipeline's JSON record: data, captions, architecture, steps,
    wall time, seed, file hashes and, once ``lgclip eval-generator --write-card`` ran, the metrics."""
    d = Path(pipeline_dir)
    card = json.loads((d / GENERATOR_CARD).read_text())
    tr, cfg = card["training"], card["training"]["config"]
    # cards written before the digits generator existed lack these keys: they are Fashion-MNIST's
    name, title = card.get("name", "lgclip-fmnist-ddpm"), card.get("data_title", "Fashion-MNIST")
    crop, canvas, f = card["crop"], card.get("canvas", 32), card["space_to_depth"]
    padded = f"{crop}x{crop} grey padded to {canvas}x{canvas}" if canvas != crop else f"{crop}x{crop} grey (native)"
    s2d = f", space-to-depth x{f} ({canvas // f}x{canvas // f}x{f * f}, lossless, no VAE)" if f > 1 else \
        " (no VAE)"
    loss = f"{tr['final_loss']:.4f}" if tr.get("final_loss") is not None else "not logged"
    lines = [
        f"# {name}: the offline text-to-image generator", "",
        f"A small member of the Stable Diffusion family, trained by `lgclip train-generator` on the {title} "
        "**train** split only (the test split is never seen). Like Stable Diffusion, the generator has seen the "
        "world; the LGCLIP classifier never sees a labelled real image.", "",
        "## Architecture",
        f"- diffusers `UNet2DConditionModel`, {tr['unet_parameters'] / 1e6:.2f} M parameters, channels "
        f"{cfg['block_out_channels']}, blocks {cfg['down_block_types']}, cross-attention on all-MiniLM-L6-v2 "
        "token states (32 tokens) + the pooled MiniLM embedding added to the time embedding",
        f"- pixel space: {padded}{s2d}",
        f"- {cfg['prediction_type']} on a cosine (squaredcos_cap_v2) schedule, 1000 steps; sampling with "
        f"DPM-Solver++ ({card['sampling_defaults']['steps']} steps, classifier-free guidance "
        f"{card['sampling_defaults']['guidance_scale']}; condition dropout {cfg['cond_drop']} in training)", "",
        "## Training",
        f"- data: {tr['data']}, {tr['n_train_images']} images; captions per class: {tr['captions_per_class']} "
        "(templates x synonyms x attributes, e.g. " + "; ".join(tr["caption_examples"][0]) + ")",
        f"- steps: {tr['steps']} (batch {cfg['batch_size']}, {tr['epochs']} epochs), AdamW lr {cfg['lr']}, "
        f"EMA {cfg['ema_decay']}, seed {tr['seed']}, wall time {tr['wall_time_s']} s on 2 CPU cores, "
        f"final loss {loss}, torch {tr['torch']}", "",
        "## Metrics (`lgclip eval-generator --out DIR`)",
    ]
    m = card.get("metrics")
    if m:
        lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in m.items()]
    else:
        lines.append("- not measured yet: run `lgclip eval-generator --out DIR --write-card`")
    lines += ["", "## Files (sha256)"] + [f"- `{k}`: `{v}`" for k, v in card["files"].items()]
    path = d / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


METRIC_KEYS = ("cas", "cas_llm_prompts", "fd_generated_vs_test", "fd_train_vs_test", "prompt_sensitivity",
               "images_per_s", "throughput_conditions", "n_generated", "n_real_train", "n_test", "sampling")


def record_metrics(pipeline_dir: str | Path, result: dict[str, Any]) -> Path:
    """Store ``lgclip eval-generator``'s metrics in the pipeline's JSON record and re-render README.md from it."""
    card_path = Path(pipeline_dir) / GENERATOR_CARD
    card = json.loads(card_path.read_text())
    card["metrics"] = {k: result[k] for k in METRIC_KEYS}
    card["metrics"]["command"] = "lgclip eval-generator --out DIR"
    card_path.write_text(json.dumps(card, indent=1))
    write_model_card(card_path.parent)
    return card_path
