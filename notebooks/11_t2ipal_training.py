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
# # T2I-PAL, part 2: the model and its training
#
# The previous chapter produced captions with labels and generated multi-label scenes. This one shows the
# model that learns from them, and trains it. There is no official code: the design below is ours, made
# from the paper's description and TaI-DPT's public recipe, and each choice is explained in
# `lgclip_core/t2ipal/model.py`.
#
# **The frozen "CLIP".** An image tower and a text tower that share one space. Offline: EfficientNet-Lite0
# and MiniLM with two linear LiT projections fitted on generated data (chapter 10). Paper profile: CLIP RN50.
#
# **What is learned** (everything else is frozen):
#
# * **prompts, global + local** — context vectors replacing "X X X X" in "X X X X {class}." (CoOp); one set is
#   scored against the global image feature, one against every local feature (TaI-DPT's double-grained
#   prompts). Why: tune the *text* side to the task without touching CLIP.
# * **class-wise heatmaps** — the cosine of every local feature to each class's local text embedding; a spatial
#   softmax of it weights the positions. Why: find *where* a class is; the local score is the heatmap-weighted
#   similarity.
# * **learnable prototypes** — one vector per class in the image space, started at the class's text embedding
#   and scored against the heatmap-pooled region feature. Why: text embeddings stay on the text side of the
#   modality gap; prototypes can move to where *image* features of a class lie.
# * **adapter** — x' = normalize(alpha·x + (1−alpha)·(x + MLP(x))) on global and local image features, the MLP's
#   last layer starting at zero. Why: adapt image features to the synthetic→real task while alpha keeps CLIP's
#   prior.
#
# The score of a class is the mean of the active branch cosines (global, local, prototype) times a fixed
# logit scale; the loss is TaI-DPT's **ranking loss** (every positive class of an image should outscore every
# negative one by a margin), used for every method so that comparisons are about data and modules, not losses.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
#
# The same sizes as chapter 10 (one shared cache); `SEED` is the training seed shown here.

# %% tags=["parameters"]
PROFILE = "offline"  # "offline" | "tiny" (mechanics only)
N_TEMPLATE = 400  # template captions (as in chapter 10)
N_LLM = 64  # LLM captions (as in chapter 10)
N_TEST = 400  # real test scenes (as in chapter 10)
EPOCHS = 12  # training epochs
SEEDS = 3  # training seeds of the full comparison (chapter 12)
DATA_SEED = 2024  # the data draw (as in chapter 10)
SEED = 0  # the training seed of this chapter's runs

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals(), experiment="t2ipal")  # a wrong value stops here, in seconds, with one line naming it

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from lgclip_core.book import figures
from lgclip_core.experiments.t2ipal import Settings, describe_methods, evaluate, prepare, train_method
from lgclip_core.t2ipal import METHODS, T2IPAL
from lgclip_core.t2ipal.model import context_drift

settings = Settings.sized(quick=True, profile=PROFILE, n_template=N_TEMPLATE, n_llm=N_LLM, n_test=N_TEST,
                          epochs=EPOCHS, seeds=SEEDS, data_seed=DATA_SEED)
prep = prepare(settings, progress=False)
print(f"joint space: {prep.joint.dim}-d; training captions: {len(prep.captions)}; test scenes: {len(prep.test)}")

# %% [markdown]
# ## The methods: one model, switches on and off
#
# Every baseline and ablation of chapter 12 is the same `T2IPAL` module with parts switched off; only TaI is
# trained on a different kind of data (caption **text** features instead of images: TaI-DPT's "texts as
# images", where the token features of a caption play the role of an image's local features).

# %%
display(pd.DataFrame(describe_methods(prep, seed=SEED)).set_index("method"))

# %% [markdown]
# ## Training T2I-PAL and TaI
#
# Features of the frozen towers are computed once and cached, so an epoch is a few passes of the text tower
# over the class prompts plus matrix products. AdamW with a warm-up epoch and a cosine schedule (TaI-DPT's
# schedule; Adam instead of SGD because we have ~40x fewer steps). Both models start at the zero-shot prompt.

# %%
records = {}
models = {}
for m in ["t2ipal", "tai", "prompt_only", "adapter_only"]:
    models[m], records[m] = train_method(prep, m, seed=SEED, progress=False)
    print(f"{m:13s} trained on {records[m]['n_train']} samples in {records[m]['train_seconds']:.1f} s; "
          f"loss {records[m]['epoch_losses'][0]:.4f} -> {records[m]['epoch_losses'][-1]:.4f}")

# %%
figures.training_curves(records, title=f"training curves (ranking loss), seed {SEED}")
plt.show()

# %% [markdown]
# TaI's loss is measured on caption text, T2I-PAL's on generated scenes, so the two curves are not comparable
# in height: each model is fitted to its own data. What matters is how well each transfers to **real** images.
# A first look on the real test scenes (chapter 12 does it for all methods and seeds):

# %%
zero = T2IPAL(prep.joint, prep.classnames, METHODS["zero_shot"], seed=SEED)
res = {"zero_shot": evaluate(zero, prep.test_feats)} | {m: evaluate(models[m], prep.test_feats) for m in models}
display(pd.DataFrame({m: {"mAP": r["map"], "CF1 (top-3)": r["cf1"], "OF1 (top-3)": r["of1"]}
                      for m, r in res.items()}).T.round(4))

# %% [markdown]
# ## What did the prompts learn?
#
# The learned context vectors live in the text tower's input-embedding space. Their nearest vocabulary tokens
# (cosine) give a rough reading — usually not words that make a sentence, as CoOp also found.

# %%
start = T2IPAL(prep.joint, prep.classnames, METHODS["t2ipal"], seed=SEED).prompts  # the initial context
display(pd.DataFrame(context_drift(models["t2ipal"].prompts, start)).T)
