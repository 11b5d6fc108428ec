# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The offline generator: a small Stable Diffusion of our own
#
# LGCLIP renders its class prototypes with Stable Diffusion 2.1. No pretrained text-to-image weights can be
# installed without the internet, so the offline profile ships a generator trained by this project's own script,
# `lgclip train-generator`. It is built the way Stable Diffusion is built — a `UNet2DConditionModel` denoiser with
# cross-attention on text-encoder token states, a diffusers noise scheduler, classifier-free guidance — only small,
# and packaged as a diffusers `DiffusionPipeline` so that every chapter calls it exactly as it would call
# Stable Diffusion: `generator.generate(prompts, seeds)`.
#
# **What it has seen.** The generator was trained on the Fashion-MNIST *train* split with varied captions; the
# test split is never shown to it. Like Stable Diffusion, which has seen billions of web images, the generator
# "has seen the world". The LGCLIP classifier built on top of it never sees a labelled real image.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
# The generator chapter always shows the offline generator (Stable Diffusion needs no chapter of its own).

# %% tags=["parameters"]
PER_CLASS = 8  # images per class in each grid
SEED = 2024  # seed of the LLM prompts; image i uses seed i
STEPS = None  # sampling steps (None: the pipeline's default)
GUIDANCE = None  # classifier-free guidance scale (None: the pipeline's default)
GUIDANCE_SWEEP = (1.0, 2.0, 3.0, 5.0)  # guidance scales shown side by side
CURVE_JSON = "results/offline/generator_curve.json"  # written by `lgclip eval-generator --curve`

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from lgclip_core import zoo
from lgclip_core.book import figures
from lgclip_core.book.report import repo_path
from lgclip_core.generator import GENERATOR_CARD, load_offline_generator
from lgclip_core.generator.captions import build_captions
from lgclip_core.prompts import write_prompts

card_dir = zoo.asset_path("lgclip-fmnist-generator")
card = json.loads((card_dir / GENERATOR_CARD).read_text())
train = card["training"]
print(f"UNet parameters: {train['unet_parameters'] / 1e6:.2f} M; steps: {train['steps']} "
      f"({train['epochs']} epochs of {train['n_train_images']} images); wall time: {train['wall_time_s'] / 60:.1f} min")

# %% [markdown]
# ## The recipe
#
# * **Pixel space, no VAE.** A 28×28 image is padded to 32×32 and *space-to-depth* rearranged into 16×16×4: a
#   lossless, parameter-free stand-in for Stable Diffusion's latent space that makes every convolution 4× cheaper.
# * **Text conditioning.** all-MiniLM-L6-v2 (the offline text tower) turns the caption into 32 token states, which
#   the UNet reads through cross-attention, and one pooled sentence embedding, added to the time embedding (the
#   way SDXL adds its pooled text embedding).
# * **Training objective.** v-prediction on a cosine noise schedule; 10% of captions are replaced by the empty
#   caption so the same network also learns the unconditional model needed for classifier-free guidance; the
#   weights are an exponential moving average of the training weights.
# * **Sampling.** DPM-Solver++ in a few steps, guidance `u + w (c - u)`.
#
# The captions vary templates, synonyms and attributes, so that a prompt the generator has never seen (such as
# an LLM's description) still lands near its class:

# %%
captions = build_captions(seed=train["seed"], per_class=train["captions_per_class"][0])
pd.DataFrame({"class": [c[0] for c in train["caption_examples"]],
              "three of its training captions": ["; ".join(c[:3]) for c in captions]})

# %% [markdown]
# ## Training loss (from the saved log, not a re-run)

# %%
log = card["loss_log"]
figures.loss_curve([r["step"] for r in log], [r["loss"] for r in log], smooth=4,
                   title="v-prediction MSE during training (EMA of 4 log points)")
plt.show()

# %% [markdown]
# ## Images per class: template prompts and LLM prompts
#
# Each row is a class; column *i* uses seed *i* in both grids, so the two grids differ only by the prompt.

# %%
gen = load_offline_generator("lgclip-fmnist-ddpm", steps=STEPS, guidance_scale=GUIDANCE)
ds = zoo.load("dataset", split="test")
names = ds.prompt_names
llm = write_prompts(zoo.load("prompt_writer"), names, n=10, seed=SEED)
seeds = [i for _ in names for i in range(PER_CLASS)]
template_images = gen.generate([f"A photo of a {c}." for c in names for _ in range(PER_CLASS)], seeds)
llm_images = gen.generate([llm[c][0] for c in names for _ in range(PER_CLASS)], seeds)
figures.image_grid(template_images, rows=len(names), labels=names, title='template: "A photo of a {class}."')
plt.show()
figures.image_grid(llm_images, rows=len(names), labels=names, title="LLM: the first description of each class")
plt.show()
pd.DataFrame({"class": names, "LLM prompt used": [llm[c][0] for c in names]})

# %% [markdown]
# Real test images, for comparison (the classifier will be asked to recognise these):

# %%
real = ds.stratified(PER_CLASS, seed=0)
figures.image_grid(real.images[np.argsort(real.labels, kind="stable")], rows=len(names), labels=names,
                   title="real Fashion-MNIST test images")
plt.show()

# %% [markdown]
# ## Guidance: fidelity vs diversity
# Higher guidance pushes samples towards what the caption says (more prototypical, less varied).

# %%
row_prompts = [f"A photo of a {c}." for c in names[:5]]
sweep = [gen.pipe(prompt=row_prompts, num_inference_steps=gen.steps, guidance_scale=w,
                  generator=[__import__("torch").Generator().manual_seed(0) for _ in row_prompts]).images
         for w in GUIDANCE_SWEEP]
grid = np.stack(sweep, 1).reshape(-1, *sweep[0].shape[1:])
figures.image_grid(grid, rows=len(row_prompts), labels=names[:5],
                   title="guidance " + " / ".join(str(w) for w in GUIDANCE_SWEEP) + " (columns)")
plt.show()

# %% [markdown]
# ## Metrics, as `lgclip eval-generator` measured them
#
# *CAS* (classification accuracy score): a logistic regression trained on EfficientNet-Lite0 features of real
# train images classifies generated images as their prompt's class. *FD*: Fréchet distance between feature
# distributions (generated vs real test; real train vs real test is the floor for the same sample size).
# *Prompt sensitivity*: mean cosine distance between the features of images generated with the same seed from the
# template prompt and from the LLM prompt. The numbers below are read from the model card that the command wrote.

# %%
metrics = card.get("metrics")
if metrics is None:
    print("No metrics recorded yet: run `lgclip eval-generator --out DIR --write-card`.")
else:
    shown = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    display(pd.Series(shown, name="value").to_frame())
    load = metrics["throughput_conditions"]["load_before"]["loadavg_1m_5m_15m"][0]
    print(f"{metrics['images_per_s']:.1f} images/s at {metrics['sampling']['steps']} steps, measured at load "
          f"average {load:.1f} on the machine that ran the command")

# %% [markdown]
# ## What a second of sampling buys: precision and steps
# Each point is one sampling setting: the same prompts and seeds, the same CAS classifier. Fewer DPM-Solver steps
# are faster and a little less faithful; bf16 (where the processor computes it natively) is faster at the same
# number of steps. `lgclip eval-generator --curve` wrote the file read here;
# the pipeline's default is the point its card names.

# %%
curve_file = repo_path(CURVE_JSON)  # relative paths are relative to the repository
if not curve_file.exists():
    print(f"No {CURVE_JSON} yet: run `lgclip eval-generator --curve --out {Path(CURVE_JSON).parent}`.")
else:
    curve = json.loads(curve_file.read_text())
    figures.speed_quality_curve(curve["rows"], title="offline generator: CAS vs images/s (labels: steps)")
    plt.show()
    display(pd.DataFrame(curve["rows"]).drop(columns="throughput_conditions").round(3))
    by = {(r["precision"], r["steps"]): r for r in curve["rows"]}
    d = curve["default"]
    print(f"default: {d['steps']} steps, {d['precision']}")
    if ("fp32", d["steps"]) in by and ("bf16", d["steps"]) in by:
        a, b = by[("fp32", d["steps"])], by[("bf16", d["steps"])]
        print(f"at {d['steps']} steps bf16 runs {b['images_per_s'] / a['images_per_s']:.1f}x the fp32 images/s, "
              f"CAS {b['cas']:.3f} vs {a['cas']:.3f}")

# %% [markdown]
# ## A second generator: handwritten digits
#
# The offline grid (chapter 08) runs LGCLIP on a second real data set, scikit-learn's handwritten digits
# (real 8×8 grey digits; not natural images). Its generator is the same pipeline and recipe at the data's
# native 8×8 pixels, trained by `lgclip train-generator --config digits` on the digits' train split only; its
# card, read here, says what it saw and what `lgclip eval-generator --dataset digits` measured.

# %%
digits_dir = zoo.asset_path("lgclip-digits-generator")
digits_card = json.loads((digits_dir / GENERATOR_CARD).read_text())
dt = digits_card["training"]
print(f"{digits_card['name']}: {dt['unet_parameters'] / 1e6:.2f} M parameters, {dt['steps']} steps "
      f"({dt['epochs']:.0f} epochs of {dt['n_train_images']} images), {dt['wall_time_s'] / 60:.1f} min; "
      f"data: {dt['data']}")
dm = digits_card.get("metrics") or {}
if dm:
    print(f"CAS {dm['cas']:.3f} (template prompts), {dm['cas_llm_prompts']:.3f} (LLM prompts); FD generated vs "
          f"test {dm['fd_generated_vs_test']:.3f} (real train vs test: {dm['fd_train_vs_test']:.3f})")
digits_gen = zoo.load("generator", "lgclip-digits-ddpm")
digit_names = zoo.load("dataset", "digits", split="test").prompt_names
digit_images = digits_gen.generate([c for c in digit_names for _ in range(PER_CLASS)],
                                   [i for _ in digit_names for i in range(PER_CLASS)])
figures.image_grid(digit_images, rows=len(digit_names), labels=digit_names,
                   title="the digits generator: prompt = the class's name, image i = seed i")
plt.show()
