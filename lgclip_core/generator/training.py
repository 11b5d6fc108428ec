"""Train an offline generator: a small text-conditioned diffusion model on one data set's TRAIN images only.

Like Stable Diffusion, the generator has seen the world (here: a data set's training images and varied captions);
the LGCLIP classifier never sees a labelled real image. One named config per offline data set (``CONFIGS``:
Fashion-MNIST ``small``, handwritten ``digits``). The recipe: pixel space (Fashion-MNIST: 28x28 padded to 32x32),
``UNet2DConditionModel`` with cross-attention on MiniLM token states and the pooled MiniLM embedding added to the
time embedding, v-prediction on a cosine noise schedule, 10% condition dropout for classifier-free guidance,
EMA weights, and DPM-Solver++ for sampling. Training is resumable: a checkpoint (model, EMA, optimizer, step)
is written atomically every few hundred steps and picked up on restart; batches and noise are a function of
(seed, step), so a resumed run follows the same path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from diffusers.training_utils import EMAModel
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..cache import sha256_file
from ..zoo import PACKAGE_DIR
from .captions import build_captions
from .card import write_model_card
from .pipeline import GENERATOR_CARD, TEXT_MAX_LENGTH, TextToImagePixelPipeline, _minilm_parts, encode_text_condition


# ---------------------------------------------------------------------------------------------- config
@dataclass
class TrainConfig:
    dataset: str = "fashion-mnist"  # a zoo data set: its train split and its caption recipe
    image_size: int = 28  # the data set's images (square, grey)
    canvas: int = 32  # padded with background to this size (a multiple of space_to_depth x 2^(blocks-1))
    name: str = "lgclip-fmnist-ddpm"  # the zoo's generator backend the export becomes
    data_title: str = "Fashion-MNIST"  # how the model card names the data it saw
    space_to_depth: int = 2  # 32x32x1 pixels <-> 16x16x4: a lossless, parameter-free "latent" space
    block_out_channels: tuple[int, ...] = (48, 96, 144)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    layers_per_block: int = 1
    attention_head_dim: int = 8
    norm_num_groups: int = 16
    batch_size: int = 64
    lr: float = 5e-4
    warmup_steps: int = 100
    max_steps: int = 20000
    max_minutes: float = 60.0
    cond_drop: float = 0.1
    ema_decay: float = 0.999
    seed: int = 2024
    checkpoint_every: int = 250
    log_every: int = 25
    captions_per_class: int = 120
    prediction_type: str = "v_prediction"
    # 6 DPM-Solver steps: what `lgclip eval-generator --curve` measured as the speed/CAS choice (generator card)
    sampling_defaults: dict[str, Any] = field(default_factory=lambda: {"steps": 6, "guidance_scale": 3.0})


CONFIGS: dict[str, TrainConfig] = {
    "small": TrainConfig(),
    "tiny": TrainConfig(block_out_channels=(8, 16, 16), attention_head_dim=2, norm_num_groups=4, batch_size=8,
                        max_steps=4, max_minutes=5, checkpoint_every=2, log_every=1, captions_per_class=4,
                        warmup_steps=1),
    # 1,797 real 8x8 digits (898 in train): native pixels, a smaller UNet, more epochs
    "digits": TrainConfig(dataset="digits", image_size=8, canvas=8, name="lgclip-digits-ddpm",
                          data_title="handwritten digits (scikit-learn load_digits)", space_to_depth=1,
                          block_out_channels=(32, 64, 96), lr=1e-3, max_steps=4000, max_minutes=15.0,
                          captions_per_class=60),
}


def build_unet(cfg: TrainConfig) -> UNet2DConditionModel:
    torch.manual_seed(cfg.seed)
    f = cfg.space_to_depth
    return UNet2DConditionModel(
        sample_size=cfg.canvas // f, in_channels=f * f, out_channels=f * f, layers_per_block=cfg.layers_per_block,
        block_out_channels=cfg.block_out_channels, down_block_types=cfg.down_block_types,
        up_block_types=cfg.up_block_types, mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=384,
        attention_head_dim=cfg.attention_head_dim, norm_num_groups=cfg.norm_num_groups,
        class_embed_type="projection", projection_class_embeddings_input_dim=384)


def noise_scheduler(cfg: TrainConfig) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type=cfg.prediction_type, clip_sample=False)


def to_model_space(images: np.ndarray, space_to_depth: int = 2, canvas: int = 32) -> torch.Tensor:
    """uint8 (N, H, H) -> float (N, f*f, C/f, C/f) in [-1, 1]: padded with background (-1) to the C x C canvas,
    then pixel-unshuffled (the inverse of what the pipeline's ``pixel_shuffle`` does after sampling)."""
    x = torch.from_numpy(np.array(images, copy=True)).float().div_(127.5).sub_(1.0)[:, None]
    lo = (canvas - x.shape[-1]) // 2
    hi = canvas - x.shape[-1] - lo
    if lo < 0:
        raise ValueError(f"{x.shape[-1]}-px images do not fit a {canvas}-px canvas")
    return F.pixel_unshuffle(F.pad(x, (lo, hi, lo, hi), value=-1.0), space_to_depth)


# ---------------------------------------------------------------------------------------- checkpoints
def _save_checkpoint(out: Path, step: int, unet: torch.nn.Module, ema: EMAModel, opt: torch.optim.Optimizer,
                     log: list[dict[str, float]], elapsed: float) -> None:
    final = out / "checkpoints" / f"step-{step:07d}"
    if final.exists():
        return
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(tmp / "unet.safetensors"))
    save_file({f"p{i}": p.contiguous() for i, p in enumerate(ema.shadow_params)}, str(tmp / "ema.safetensors"))
    torch.save(opt.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "ema_optimization_step": ema.optimization_step,
                                                "elapsed_s": elapsed, "log": log}))
    tmp.rename(final)  # atomic: a checkpoint directory either is complete or does not exist
    for old in sorted((out / "checkpoints").glob("step-???????"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)


def _latest_checkpoint(out: Path) -> Path | None:
    done = sorted((out / "checkpoints").glob("step-???????"))
    return done[-1] if done else None


# -------------------------------------------------------------------------------------------- training
def train(out_dir: str | Path, cfg: TrainConfig, n_train: int | None = None, progress: bool = True,
          export_to: str | Path | None = None) -> Path:
    """Train (or resume) into ``out_dir``; export the EMA pipeline to ``export_to`` (default out/pipeline)."""
    from .. import zoo

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    ds = zoo.load("dataset", cfg.dataset, split="train")  # the TRAIN split only; the test split is never seen
    images, labels = ds.images, ds.labels
    if n_train:
        images, labels = images[:n_train], labels[:n_train]
    x_all = to_model_space(images, cfg.space_to_depth, cfg.canvas)
    text_encoder, tokenizer = _minilm_parts()
    captions = build_captions(cfg.seed, cfg.captions_per_class, cfg.dataset)
    flat = [""] + [c for caps in captions for c in caps]  # index 0 = the empty (unconditional) caption
    with torch.no_grad():
        parts = [encode_text_condition(text_encoder, tokenizer, flat[i:i + 256], "cpu", TEXT_MAX_LENGTH)
                 for i in range(0, len(flat), 256)]
    states, masks, pooled = (torch.cat([p[k] for p in parts]) for k in range(3))
    offsets = np.cumsum([1] + [len(c) for c in captions])[:-1]
    counts = np.asarray([len(c) for c in captions])

    unet = build_unet(cfg)
    sched = noise_scheduler(cfg)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.01)
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True, power=3 / 4)
    step, log, elapsed_before = 0, [], 0.0
    ckpt = _latest_checkpoint(out)
    if ckpt is not None:
        unet.load_state_dict(load_file(str(ckpt / "unet.safetensors")))
        shadow = load_file(str(ckpt / "ema.safetensors"))
        ema.shadow_params = [shadow[f"p{i}"].clone() for i in range(len(shadow))]
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        st = json.loads((ckpt / "state.json").read_text())
        step, log, elapsed_before = st["step"], st["log"], st["elapsed_s"]
        ema.optimization_step = st["ema_optimization_step"]
        print(f"resuming from {ckpt.name} (step {step})")
    n = len(x_all)
    steps_per_epoch = max(1, n // cfg.batch_size)
    t0 = time.perf_counter()
    budget = cfg.max_minutes * 60
    bar = tqdm(total=cfg.max_steps, initial=step, desc="train generator", disable=not progress)
    unet.train()
    running = []
    while step < cfg.max_steps and elapsed_before + (time.perf_counter() - t0) < budget:
        epoch, k = divmod(step, steps_per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        idx = perm[k * cfg.batch_size:(k + 1) * cfg.batch_size]
        g = torch.Generator().manual_seed(cfg.seed * 7919 + step)
        x0 = x_all[idx]
        y = labels[idx.numpy()]
        pick = torch.randint(0, 1 << 30, (len(idx),), generator=g).numpy()
        cap = offsets[y] + pick % counts[y]
        drop = torch.rand(len(idx), generator=g).numpy() < cfg.cond_drop
        cap = np.where(drop, 0, cap)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(idx),), generator=g)
        xt = sched.add_noise(x0, noise, t)
        target = sched.get_velocity(x0, noise, t) if cfg.prediction_type == "v_prediction" else noise
        lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        pred = unet(xt, t, encoder_hidden_states=states[cap], encoder_attention_mask=masks[cap],
                    class_labels=pooled[cap]).sample
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.step(unet.parameters())
        step += 1
        running.append(loss.item())
        bar.update(1)
        if step % cfg.log_every == 0:
            elapsed = elapsed_before + time.perf_counter() - t0
            log.append({"step": step, "loss": float(np.mean(running)), "lr": lr, "elapsed_s": round(elapsed, 1),
                        "epoch": round(step * cfg.batch_size / n, 3)})
            bar.set_postfix(loss=f"{np.mean(running):.4f}")
            running = []
        if step % cfg.checkpoint_every == 0:
            _save_checkpoint(out, step, unet, ema, opt, log, elapsed_before + time.perf_counter() - t0)
    bar.close()
    elapsed = elapsed_before + time.perf_counter() - t0
    _save_checkpoint(out, step, unet, ema, opt, log, elapsed)
    (out / "loss_log.json").write_text(json.dumps(log))
    ema.copy_to(unet.parameters())
    return export_pipeline(unet, cfg, Path(export_to) if export_to else out / "pipeline", log, step, elapsed,
                           n_train=len(x_all), captions=captions, data=ds.protocol)


def export_pipeline(unet: UNet2DConditionModel, cfg: TrainConfig, path: Path, log: list[dict[str, float]],
                    step: int, elapsed: float, n_train: int, captions: list[list[str]], data: str = "") -> Path:
    """Save UNet + DPM-Solver++ scheduler as a diffusers pipeline, plus the training record (model card data)."""
    sampler = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                          prediction_type=cfg.prediction_type, algorithm_type="dpmsolver++",
                                          solver_order=2, use_karras_sigmas=False)
    pipe = TextToImagePixelPipeline(unet=unet.eval(), scheduler=sampler, crop=cfg.image_size,
                                    space_to_depth=cfg.space_to_depth)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    store_half_precision(tmp / "unet" / "diffusion_pytorch_model.safetensors")
    n_params = sum(p.numel() for p in unet.parameters())
    card = {
        "crop": cfg.image_size, "space_to_depth": cfg.space_to_depth, "sampling_defaults": cfg.sampling_defaults,
        "name": cfg.name, "dataset": cfg.dataset, "canvas": cfg.canvas, "data_title": cfg.data_title,
        "data_protocol": data,
        "training": {"data": f"{cfg.data_title} train split (its test split never seen)", "n_train_images": n_train,
                     "steps": step, "epochs": round(step * cfg.batch_size / n_train, 3), "wall_time_s": round(elapsed),
                     "seed": cfg.seed, "config": asdict(cfg), "unet_parameters": n_params,
                     "final_loss": log[-1]["loss"] if log else None, "torch": torch.__version__,
                     "captions_per_class": [len(c) for c in captions], "caption_examples": [c[:3] for c in captions]},
        "loss_log": log,
        "files": {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
    }
    (tmp / GENERATOR_CARD).write_text(json.dumps(card, indent=1))
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    write_model_card(path)
    return path


COMMITTED_PIPELINES = {"fashion-mnist": PACKAGE_DIR / "weights" / "fmnist-ddpm",
                       "digits": PACKAGE_DIR / "weights" / "digits-ddpm"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/generator", help="training directory (checkpoints, loss log)")
    p.add_argument("--config", default="small", choices=sorted(CONFIGS), help="named model/training config")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (default: the config's)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    shipped = ", ".join(str(d.relative_to(PACKAGE_DIR.parent)) for d in COMMITTED_PIPELINES.values())
    p.add_argument("--export", default=None, help=f"where to write the pipeline (default OUT/pipeline; "
                   f"the package ships {shipped})")


def run(args: argparse.Namespace) -> int:
    given = {"max_minutes": args.minutes, "max_steps": args.max_steps, "seed": args.seed}
    cfg = replace(CONFIGS[args.config], **{k: v for k, v in given.items() if v is not None})  # CONFIGS stay as named
    path = train(args.out, cfg, n_train=args.n_train, export_to=args.export)
    print(f"pipeline written to {path}")
    return 0


def store_half_precision(weights: Path) -> None:
    """Store weights as float16 (halves the committed size; the pipeline computes in float32 after loading)."""
    state = load_file(str(weights))
    save_file({k: v.half().contiguous() if v.is_floating_point() else v for k, v in state.items()}, str(weights),
              metadata={"format": "pt"})
