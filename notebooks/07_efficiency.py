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
# # Efficiency: what "image encoder only" saves, and what generation costs
#
# LGCLIP's title asks whether synthetic images are *efficient* class prototypes. At test time the method runs
# only CLIP's image encoder: the text encoder and the language model shaped the prototypes once, before the
# first test image arrived. This chapter measures, on the machine that builds the book, what that buys and
# what it costs:
#
# 1. **size** — parameters and bytes of the image tower against the image + text towers;
# 2. **memory** — the peak resident memory of a process that loads only the image tower, against one that
#    loads both towers;
# 3. **speed** — images per second of image-only inference, against inference that also runs the text tower;
# 4. **the multi-scale module** — LGCLIP encodes every image at ten crop scales: what that multiplies;
# 5. **generation** — seconds per prototype image, and how the artifact cache turns that into a one-time cost;
# 6. **break-even** — total cost against the number of classified images.
#
# Offline, the "CLIP" is EfficientNet-Lite0 (image) + all-MiniLM-L6-v2 (text), the towers that the offline
# profile uses everywhere in the book; the tiny random-initialised open_clip model runs the papers' code path
# (its speed means nothing about real CLIP, its code path is the same), and the sizes of the papers' CLIP
# architectures are counted from the architectures themselves. Every number below is measured when this page
# is built; timings depend on the machine, printed first.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
#
# This cell is tagged `parameters`; e.g. `python ci/run_notebooks.py --only 07_efficiency --set BATCH=128`.

# %% tags=["parameters"]
PROFILE = "auto"  # "offline" | "paper"; "auto": "paper" in Colab with a GPU, otherwise "offline"
DATASET = "fashion-mnist"  # real images to time the encoders on (content does not change the cost)
BATCH = 64  # images per encoder call in the throughput measurements
REPEATS = 5  # timed calls per measurement (the median is reported); one untimed warm-up call before
TEXT_PROMPTS_PER_CLASS = 80  # class prompts a text zero-shot classifier encodes (CLIP's 80 ImageNet templates)
N_MULTISCALE_IMAGES = 128  # images encoded per multi-scale measurement
SCALE_COUNTS = [1, 2, 5, 10]  # numbers of scales to time (the largest scales are kept, as in the ablation)
N_SCALES = 10  # LGCLIP's S
N_PER_CLASS = 10  # prototype images per class (the paper's N) generated for the cache measurement
GEN_BATCH_SIZES = [1, 10]  # generator batch sizes timed for seconds per image
MEMORY_SCENARIOS = ["baseline", "image", "image+text"]  # fresh-process memory probes ([] to skip)
PAPER_ARCHS = ["RN50", "ViT-B-32", "ViT-B-16", "ViT-L-14"]  # open_clip architectures whose towers are counted
MAX_CLASSIFIED = 1_000_000  # right end of the break-even plot (number of classified images)
SEED = 2024  # seeds the random images of the probes, the multi-scale crops and the generator seeds

# %%
from lgclip_core.params import validate_parameters

validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import platform

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from lgclip_core import efficiency as eff
from lgclip_core import zoo
from lgclip_core.experiments import efficiency as exp
from lgclip_core.report import repo_path

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"profile {PROFILE}; device {device}; {platform.processor() or platform.machine()}, "
      f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")

# %% [markdown]
# ## 1. Size: the towers a classifier has to hold
#
# A text zero-shot classifier needs both towers at inference time whenever a class list can change (new class
# names must be encoded); LGCLIP needs the image tower only. Parameters and bytes (parameters + buffers at their
# loaded dtype) of the towers that this profile loads, and of the tiny open_clip model; then the papers' CLIP
# backbones, counted from the open_clip architectures (random weights, nothing downloaded: a parameter count
# depends on the architecture only; the text tower is everything outside `visual` except the logit scale).

# %%
towers = exp.load_towers(PROFILE)
sizes = exp.tower_sizes(towers)
archs = exp.architecture_sizes(PAPER_ARCHS)
display(sizes.style.format({"parameters": "{:,}", "MB": "{:.2f}"}).hide(axis="index"))
display(archs.style.format({"image tower": "{:,}", "text tower": "{:,}", "image share": "{:.1%}"})
        .hide(axis="index"))

# %%
labels = [f"{m}\n{n}" for m, n in sizes[sizes.tower == "image"][["model", "name"]].values] + list(archs.architecture)
img_p = np.r_[sizes[sizes.tower == "image"].parameters, archs["image tower"]] / 1e6
txt_p = np.r_[sizes[sizes.tower == "text"].parameters, archs["text tower"]] / 1e6
fig, ax = plt.subplots(figsize=(9, 3.6))
ax.barh(labels, img_p, color="#10b981", label="image tower (LGCLIP at test time)")
ax.barh(labels, txt_p, left=img_p, color="#93c5fd", label="text tower (text zero-shot also needs it)")
ax.set(xscale="symlog", xlabel="parameters (millions, symlog scale)", title="Parameters an inference process holds")
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# ## 2. Memory: a fresh process per configuration
#
# Inside this notebook every model loaded so far stays in memory, so the comparison runs each configuration in
# a **new Python process** that imports the package, loads the towers, encodes one batch of `BATCH` random
# images (and, with text, `TEXT_PROMPTS_PER_CLASS` prompts for each of ten classes), and reports its kernel-measured
# peak resident set size (`ru_maxrss`). `baseline` loads no model: Python, numpy, torch and the package alone.
#
# What is measured is the code as it is: with open_clip (profile `paper`) the image tower comes from a full CLIP
# checkpoint, so an image-only process still reads the text tower's weights from disk once; offline, the two
# towers are separate models and an image-only process never touches the text model.

# %%
memory = exp.memory_table(MEMORY_SCENARIOS, PROFILE, BATCH, 10 * TEXT_PROMPTS_PER_CLASS, SEED)
display(memory.style.format(precision=1).hide(axis="index"))
if len(memory):
    ax = memory.plot.barh(x="scenario", y="peak RSS (MB)", legend=False, figsize=(6.5, 2.8), color="#10b981")
    ax.bar_label(ax.containers[0], fmt=" %.0f MB", fontsize=9)
    ax.set(xlabel="peak resident memory of the process (MB)", title=f"Peak memory, fresh process ({PROFILE})")
    plt.show()

# %% [markdown]
# Within one process, `peak_memory` separates two kinds of memory of a single encoder call: the Python heap that
# `tracemalloc` sees (Python objects and the arrays numpy allocates itself) and the growth of the resident set,
# which also includes torch's activations and the feature arrays that torch allocates and numpy merely wraps
# (torch's CPU allocator is invisible to tracemalloc, so the first number stays small).

# %%
ds = zoo.load("dataset", DATASET, split="test")
real = ds.images[np.random.default_rng(SEED).permutation(len(ds))[:max(BATCH, N_MULTISCALE_IMAGES)]]
rep = exp.encode_memory(towers[0].image, real[:BATCH])
print(f"one encode call on {BATCH} images: python heap peak {rep.python_peak_bytes / exp.MB:.2f} MB, resident set "
      f"grew by {rep.rss_increase_bytes / exp.MB:.1f} MB (already resident: {rep.rss_before_bytes / exp.MB:.0f} MB)")

# %% [markdown]
# ## 3. Speed: image-only against image + text inference
#
# Three ways to score a batch of `BATCH` real images against ten classes:
#
# * **image tower only** — LGCLIP: encode the images, multiply with the (precomputed) prototypes;
# * **image tower + cached class texts** — a text zero-shot classifier whose class embeddings were computed once:
#   per image, exactly the same work;
# * **image + text towers per call** — a text zero-shot classifier that encodes its class prompts
#   (`TEXT_PROMPTS_PER_CLASS` per class) with every batch, as an open-vocabulary service with a changing class
#   list must.
#
# The first two differ only by a matrix product; the third shows what running the text tower costs.

# %%
names = list(ds.prompt_names)
speed, text_once, class_prompts = exp.speed_table(towers, real[:BATCH], names, TEXT_PROMPTS_PER_CLASS, REPEATS, SEED)
display(speed.style.format({"images/s": "{:.1f}", "ms/batch": "{:.1f}"}).hide(axis="index"))
display(text_once.style.format({"seconds": "{:.3f}"}).hide(axis="index"))

# %%
fig, axes = plt.subplots(1, len(towers), figsize=(12, 3.2))
for ax, (model, grp) in zip(axes, speed.groupby("model", sort=False), strict=True):
    ax.barh(grp.inference, grp["images/s"], color=["#10b981", "#6ee7b7", "#93c5fd"])
    ax.bar_label(ax.containers[0], fmt=" %.0f", fontsize=9)
    ax.set(xlim=(0, grp["images/s"].max() * 1.25), title=model, xlabel=f"images per second (batch {BATCH})")
    ax.invert_yaxis()
plt.show()

# %% [markdown]
# ## 4. The multi-scale module: what ten scales cost
#
# LGCLIP encodes every image (prototype and test) at `N_SCALES` crop scales and fuses the features. That is
# `N_SCALES` encoder passes per image plus the cropping. `MultiScaleEncoder(batched=True)` sends all scales of a
# batch through the encoder in one forward pass; `batched=False` runs one pass per scale. Both give the same
# features (checked below); only the speed differs.

# %%
ms, ms_diff = exp.multiscale_table(towers[0].image, real[:N_MULTISCALE_IMAGES], SCALE_COUNTS, N_SCALES, BATCH,
                                   max(1, REPEATS // 2), SEED)
display(ms.style.format({"images/s": "{:.1f}", "slowdown vs single view": "{:.1f}x"}).hide(axis="index"))
print(f"batched and per-scale features agree: max |difference| = {ms_diff:.2e}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for mode, style in [("batched", "o-"), ("one pass per scale", "s--")]:
    g = ms[ms["mode"] == mode]
    ax.plot(g.scales, g["images/s"], style, label=mode)
single = ms["images/s"].iloc[0]
ax.axhline(single, color="0.5", lw=1, ls=":", label="single view")
ax.plot(g.scales, single / g.scales, color="0.75", lw=1, label="single view / number of scales")
ax.set(xlabel="number of scales", ylabel="images per second", yscale="log", xticks=list(g.scales),
       title=f"Multi-scale encoding with {towers[0].image.name}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. Generation: seconds per prototype image, paid once
#
# The profile's generator turns one prompt and one seed into one image. Below: seconds per image at several
# batch sizes, then the cache. `generate_images(gen, prompts, seeds, cache=...)` stores every chunk of images
# under a key made of the generator's configuration, the prompts and the seeds; the second identical call reads
# the stored images instead of sampling them again. The cache here is an empty temporary folder, so the first
# call really generates.

# %%
generator = zoo.load("generator", profile=PROFILE)
gen_speed = exp.generation_speed(generator, names, GEN_BATCH_SIZES, max(1, REPEATS // 2))
cache = exp.cache_costs(generator, names, N_PER_CLASS)
display(gen_speed.style.format({"s/image": "{:.3f}", "images/s": "{:.2f}"}).hide(axis="index"))
display(cache.table.style.format({"seconds": "{:.3f}", "s/image": "{:.5f}"}).hide(axis="index"))
print(f"{cache.n_images} prototype images of shape {cache.image_shape}; cache: {cache.misses} misses then "
      f"{cache.hits} hits, {cache.cache_bytes / 1024:.0f} KiB on disk; identical arrays: {cache.identical}")

# %% [markdown]
# ## 6. Break-even: total cost against the number of classified images
#
# Each method's cost is a one-time part plus a per-image part, both measured above:
#
# | method | one-time | per classified image |
# |---|---|---|
# | LGCLIP, cold cache | generate the prototype images + encode them at all scales | multi-scale encoding |
# | LGCLIP, warm cache | read the cached images + encode them at all scales | multi-scale encoding |
# | prototypes only (single scale), warm cache | read cached images + encode once | one encoder pass |
# | text zero-shot (image + text towers) | encode the class prompts | one encoder pass |
#
# (Offline, text zero-shot also needs the small image-text alignment that chapter 5 trains; that training is
# left out here, which flatters the text line.)

# %%
costs = exp.cost_table(ms, N_SCALES, cache, text_once.seconds.iloc[0])
display(costs.style.format({"one-time s": "{:.3f}", "per image s": "{:.2e}",
                            "images until one-time is half the cost": "{:,.0f}"}).hide(axis="index"))

# %%
n = np.logspace(0, np.log10(MAX_CLASSIFIED), 200)
fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 4.2))
for r, c in zip(costs.itertuples(index=False), ["#dc2626", "#f59e0b", "#10b981", "#3b82f6"], strict=True):
    total = eff.total_cost(r[1], r[2], n)
    a0.plot(n, total, color=c, label=r.method)
    a1.plot(n, r[1] / total, color=c, label=r.method)
a0.axvline(costs.iloc[0, 3], color="#dc2626", lw=0.8, ls=":")
a0.set(xscale="log", yscale="log", xlabel="classified images", ylabel="total seconds",
       title="Total cost = one-time + per image (dotted: cold-cache one-time = half the total)")
a1.set(xscale="log", ylim=(0, 1.02), xlabel="classified images", ylabel="share of the total spent once",
       title="How the one-time work amortises")
a0.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 7. The papers' models at their true size: what a full run costs
#
# The measurements above use the offline towers. The papers' own models — Stable Diffusion 2.1-base (UNet,
# VAE, OpenCLIP-H text encoder) rendering 512 px, open_clip CLIP at 224 px, a 1.5 B chat LLM — cannot be
# downloaded here, but their *architectures* can be built from their configs with random weights (profile
# `paper-shapes`). `lgclip reproduce lgclip|t2ipal --profile paper-shapes --quick` runs the whole pipeline
# with them at real resolutions and records, per role, seconds per item, peak memory and the machine's load
# average during each call. Their accuracies measure nothing and are not shown.
#
# From those measurements and the FLOPs counted on one forward pass of each role, `efficiency.paper_run_costs`
# works out what the papers' full runs cost: items x measured CPU seconds per item on this machine, and items x
# FLOPs at an assumed fraction of a Colab T4's and an A100's peak. The device hours are estimates of the right
# order (real utilisation depends on batch size and kernels), the CPU hours are measured rates times counts.

# %%
shapes = exp.paper_shapes_tables(repo_path("results") / "paper-shapes")
if shapes is None:
    print("No results/paper-shapes/*.json yet: run `lgclip reproduce lgclip --profile paper-shapes --quick "
          "--out results/paper-shapes` (and the same for `t2ipal`).")
else:
    roles, runs, util = shapes
    display(roles.style.hide(axis="index"))
    display(Markdown(f"The papers' full runs (authors' protocol), device hours at {util:.0%} of peak:"))
    display(runs.style.hide(axis="index"))

# %% [markdown]
# ## What the measurements say
#
# The summary below is written by the notebook from the measurements above (its wording follows the numbers).

# %%
display(Markdown("\n".join(exp.summary(sizes, archs, memory, speed, len(class_prompts), BATCH, ms, N_SCALES,
                                       gen_speed, cache, costs))))

# %% [markdown]
# In short: LGCLIP's efficiency is a memory and model-size argument at test time, not an images-per-second
# one, and its multi-scale module multiplies the encoder work per image by the number of scales. With the paper's
# Stable Diffusion the one-time generation is far more expensive than with the small offline generator; the
# same cells measure it when this chapter runs with `PROFILE="paper"` on a GPU.
