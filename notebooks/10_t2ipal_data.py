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
# # T2I-PAL, part 1: synthesizing multi-label training data
#
# T2I-PAL ("Text to image for multi-label image recognition with joint prompt-adapter learning",
# arXiv 2506.10575) trains a multi-label recogniser **without a single annotated image**. Its predecessor
# TaI-DPT ("texts as images") noticed that captions which mention class names are free multi-label training
# data: the classes a caption names are its labels, and CLIP puts texts and images in one space, so prompts
# tuned on caption features transfer to image features. The transfer is imperfect — text and image features
# of the same content sit in different regions of CLIP's space (the *modality gap*). T2I-PAL closes it by
# rendering the captions with a text-to-image model and training on the **images**.
#
# This chapter builds that training data offline, arrow by arrow:
#
# 1. **captions** — written by a chat LLM and by multi-object templates (offline there is no caption
#    corpus to mine), then **filtered** to those that name at least one class; labels = the classes named;
# 2. **renders** — our offline generator (trained on Fashion-MNIST *train*) draws each named item alone;
# 3. **scenes** — the compositor places a caption's renders on a 2x2 canvas: one multi-label training image.
#
# The evaluation scenes are built the same way from **real Fashion-MNIST test images** — the only real images
# the method ever sees, and only at test time. No official code exists; every design choice is written down
# in `lgclip_core/t2ipal/` and summarised here.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
#
# Papermill replaces these values when the chapter is re-run, e.g.
# `python ci/run_notebooks.py --only 10_t2ipal_data --set N_TEMPLATE=1000`. The three T2I-PAL chapters use the
# same sizes so that they share one cache: what this chapter generates, the next two reuse.

# %% tags=["parameters"]
PROFILE = "offline"  # "offline" (Fashion-MNIST scenes) | "tiny" (mechanics only); the paper profile needs a GPU
N_TEMPLATE = 400  # captions written from multi-object templates
N_LLM = 64  # captions written by the chat LLM (SmolLM2-135M-Instruct offline)
N_TEST = 400  # real test scenes
EPOCHS = 12  # training epochs (used by the next chapters; part of the shared settings)
SEEDS = 3  # training seeds (next chapters)
DATA_SEED = 2024  # captions, renders, the LiT projections: one fixed draw, like a released data set
N_SHOW = 12  # examples shown per grid

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals(), experiment="t2ipal")  # a wrong value stops here, in seconds, with one line naming it

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from lgclip_core.book import figures
from lgclip_core.experiments.t2ipal import Settings, prepare, single_item_zero_shot

settings = Settings.sized(quick=True, profile=PROFILE, n_template=N_TEMPLATE, n_llm=N_LLM, n_test=N_TEST,
                          epochs=EPOCHS, seeds=SEEDS, data_seed=DATA_SEED)
prep = prepare(settings, progress=False)
names = prep.classnames
print(f"classes ({len(names)}): {', '.join(names)}")
print("models:", {k: v.get("name", v) if isinstance(v, dict) else v for k, v in prep.models.items()
                  if k in ("image_encoder", "text_encoder", "generator")})

# %% [markdown]
# ## 1. Captions, and the filter that turns them into labels
#
# Two writers, one filter. The LLM is asked for "a one-sentence caption for a photo that shows a bag and a
# sneaker" (a seeded random set of 1–4 items). A 135M-parameter model often drops an item, adds one, or writes
# about something else — which is exactly the situation of mined captions. So the labels never come from the
# request: a caption's labels are the classes its text **names** (class names and the synonyms the generator
# knows, longest match first, so "dress shirt" is a shirt and not a dress). Captions that name no class, or
# more than four (the canvas has four cells), are dropped — the paper's filter, plus our canvas limit.

# %%
cap = prep.captions
display(pd.Series(cap.stats, name="captions").to_frame().T)
print(f"kept: {cap.sources.count('LLM')} of {N_LLM} LLM captions, {cap.sources.count('template')} of "
      f"{N_TEMPLATE} template captions")
show = [i for i, s in enumerate(cap.sources) if s == "LLM"][:N_SHOW // 2] + \
    [i for i, s in enumerate(cap.sources) if s == "template"][:N_SHOW // 2]
rows = [{"source": cap.sources[i], "caption": cap.texts[i],
         "labels (classes named)": ", ".join(names[c] for c, _ in cap.mentions[i]),
         "words used": ", ".join(w for _, w in cap.mentions[i])} for i in show]
with pd.option_context("display.max_colwidth", 120):
    display(pd.DataFrame(rows))

# %% [markdown]
# How many labels per caption, and how often each class is named:

# %%
figures.label_counts(cap.targets, names, item="kept captions")
plt.show()

# %% [markdown]
# ## 2. Renders: the generator draws every named item
#
# Each named item is rendered alone from "a photo of a {the caption's word}." with its own seed (the
# generator's outputs are cached per chunk of prompt/seed pairs, so re-running costs nothing). Stable
# Diffusion in the paper profile renders the *whole* caption instead; our 28x28 generator draws one object.

# %%
pick = np.linspace(0, len(prep.render_prompts) - 1, N_SHOW).astype(int)
figures.titled_images([prep.render_images[i] for i in pick],
                      [prep.render_prompts[i].removeprefix("a photo of a ").rstrip(".") for i in pick], scale=1.6,
                      title=f"{len(prep.render_prompts)} renders in all; a sample with their prompts")
plt.show()

# %% [markdown]
# ## 3. Scenes: renders composed on a canvas
#
# A caption's renders go into random distinct cells of a 2x2 canvas (56x56 px); the scene's target is the
# caption's label set. The placement depends on the training seed, so each seed trains on differently laid
# out scenes of the same renders. Below: training scenes of seed 0 (generated), then real test scenes.

# %%
train0 = prep.train_scenes(seed=0)
for scenes, title in [(train0, f"generated training scenes (seed 0): {len(train0)} in all"),
                      (prep.test, f"real test scenes: {len(prep.test)} ({prep.test.protocol})")]:
    figures.titled_images(scenes.images[:N_SHOW], ["\n".join(names[c] for c in np.flatnonzero(t == 1))
                                                   for t in scenes.targets[:N_SHOW]], title=title)
    plt.show()

# %% [markdown]
# Are the two label distributions alike? Training labels follow the captions (what the writers chose to
# name); test labels are uniform by construction.

# %%
figures.per_class_bars({"training scenes (generated)": dict(zip(names, train0.targets.mean(0), strict=True)),
                        "test scenes (real)": dict(zip(names, prep.test.targets.mean(0), strict=True))},
                       ylabel="fraction of scenes containing the class", title="label frequency")
plt.show()

# %% [markdown]
# ## The small offline "CLIP"
#
# T2I-PAL needs a CLIP: an image tower and a text tower in one space. Offline we have EfficientNet-Lite0
# (ImageNet) and MiniLM (sentences), frozen, and learn only two linear projections into a shared 256-d space
# (`alignment.LiTAligner`, LiT-style) on the renders above and their prompts — generated data only. A quick
# check that the joint space is usable: zero-shot top-1 on single **real** test items (one per scene cell),
# classifying each item by its nearest class prompt "a photo of a {class}.".

# %%
if PROFILE == "offline":
    print(f"zero-shot top-1 of the offline joint space on 1,000 real single test items: "
          f"{single_item_zero_shot(prep, 1000):.3f} (chance {1 / len(names):.3f})")
