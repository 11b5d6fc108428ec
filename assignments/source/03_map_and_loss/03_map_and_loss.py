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
# # Assignment 3: mean average precision and a multi-label ranking loss
#
# T2I-PAL is evaluated by **mAP** and trained (like TaI-DPT) with a **ranking loss**.
#
# **Average precision of one class.** Sort the images by decreasing score. Each *distinct* score value is a
# threshold $t$; at threshold $t$ the images with score $\ge t$ are predicted positive, giving precision $P_t$
# and recall $R_t$. Then
#
# $$ \mathrm{AP} = \sum_{t} (R_t - R_{t^-})\, P_t , $$
#
# summed over thresholds from the highest score down, where $R_{t^-}$ is the recall at the previous
# (higher) threshold (0 before the first). Tied scores form *one* threshold. This is scikit-learn's
# `average_precision_score` (no interpolation). A class without a positive image has no AP (return `nan`).
#
# **mAP** of a score matrix `(N, C)` with 0/1 targets `(N, C)` is the mean AP over the classes that have at least
# one positive.
#
# **Ranking loss.** For image $b$ with scores $s_{b,\cdot}$ over $C$ classes, positives $\mathcal P_b$ and
# negatives $\mathcal N_b$,
#
# $$ \ell_b = \frac{1}{|\mathcal P_b|\,|\mathcal N_b|} \sum_{i \in \mathcal P_b} \sum_{j \in \mathcal N_b}
#    \max(0,\ m - s_{b,i} + s_{b,j}), \qquad \mathcal L = \operatorname{mean}_{b:\ |\mathcal P_b||\mathcal N_b| > 0}
#    \ell_b , $$
#
# i.e. every positive class should outscore every negative class by the margin $m$; images without a positive
# or without a negative do not count, and a batch where no image counts has loss 0 (still a tensor connected to
# the logits, so that `backward()` works).
#
# **Your task (12 points).** Implement, replacing each `raise NotImplementedError()`:
#
# * `average_precision` (4 points) and `mean_average_precision` (2 points): numpy in, Python float out;
# * `ranking_loss` (6 points): torch tensors in, a scalar tensor out, differentiable.
#
# The test cells show a few of the autograder's checks; the autograder (nbgrader) runs more, hidden ones,
# comparing your functions with scikit-learn and with the package's `lgclip_core.metrics` and
# `lgclip_core.t2ipal.losses`, including tied scores and gradients. Do not edit the test cells: the autograder
# restores them.


# %%
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/lgclip-book/lgclip-book"],
                   check=True)

# %% tags=["parameters"]
SEED = 0  # seeds the random scores and targets of the demos
N_IMAGES = 200  # images in the demo score matrix
N_CLASSES = 10  # classes in the demo score matrix

# %%
import numpy as np
import torch

# %% nbgrader={"grade": false, "grade_id": "metric_and_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class: 1-D scores and 0/1 targets; tied scores form one threshold; nan without a positive."""
    ### BEGIN SOLUTION
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(targets).ravel().astype(np.int64)
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    tp, fp = np.cumsum(t), np.cumsum(1 - t)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the last image of each group of equal scores
    precision = tp[last] / (tp[last] + fp[last])
    recall = tp[last] / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    ### END SOLUTION


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean AP over the classes (columns) that have at least one positive."""
    ### BEGIN SOLUTION
    scores, targets = np.asarray(scores), np.asarray(targets)
    aps = [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    return float(np.nanmean(aps))
    ### END SOLUTION


def ranking_loss(logits: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean over images (with >= 1 positive and >= 1 negative) of the mean hinge over (positive, negative) pairs."""
    ### BEGIN SOLUTION
    y = targets.to(logits.dtype)
    hinge = torch.relu(margin - logits[:, :, None] + logits[:, None, :])  # [b, i, j] = m - s_i + s_j
    pairs = y[:, :, None] * (1 - y)[:, None, :]
    n_pairs = pairs.sum(dim=(1, 2))
    per_image = (hinge * pairs).sum(dim=(1, 2)) / n_pairs.clamp_min(1)
    valid = n_pairs > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return per_image[valid].mean()
    ### END SOLUTION


# %% [markdown]
# ## Tests
#
# Run the cells below: each one that finishes without an error shows that your functions pass the visible
# checks. The autograder gives the points of a cell only if all of its checks, visible and hidden, pass.

# %% nbgrader={"grade": false, "grade_id": "test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

from sklearn.metrics import average_precision_score

import lgclip_core.metrics as reference_metrics
import lgclip_core.t2ipal.losses as reference_losses


def random_problem(seed: int, n: int = 60, c: int = 8, decimals: int | None = None):
    """Random 0/1 targets (every class has a positive) and scores that favour the positives."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.int64)
    targets[0, :] = 1
    scores = targets * rng.uniform(0, 2) + rng.standard_normal((n, c))
    if decimals is not None:
        scores = np.round(scores, decimals)  # many ties
    return scores, targets


def logits_and_targets(seed: int, b: int = 16, c: int = 6):
    """Random float64 logits and 0/1 targets; image 0 has no positive and image 1 no negative."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g, dtype=torch.float64)
    targets = (torch.rand(b, c, generator=g) < 0.4).long()
    targets[0] = 0
    targets[1] = 1
    return logits, targets


# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# average_precision (4 points): a perfect ranking has AP 1, a class without a positive has no AP
_t = np.array([1, 1, 0, 0, 0])
assert abs(average_precision(np.array([5.0, 4, 3, 2, 1]), _t) - 1.0) < 1e-12
assert math.isnan(average_precision(np.array([0.3, 0.2, 0.9]), np.array([0, 0, 0])))
### BEGIN HIDDEN TESTS
assert abs(average_precision(np.array([1.0, 2, 3, 4, 5]), _t) - average_precision_score(_t, [1.0, 2, 3, 4, 5])) < 1e-9
for seed, decimals in [(0, None), (1, None), (2, None), (3, None), (4, None), (10, 0), (11, 1)]:  # ties too
    scores, targets = random_problem(seed, decimals=decimals)
    for c in range(scores.shape[1]):
        got = average_precision(scores[:, c], targets[:, c])
        expected = average_precision_score(targets[:, c], scores[:, c])
        assert abs(got - expected) < 1e-9, f"class {c} (seed {seed}): AP {got}, scikit-learn {expected}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mean_average_precision", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# mean_average_precision (2 points): the same as the package's; a class without a positive is left out
### BEGIN HIDDEN TESTS
for seed in range(3):
    scores, targets = random_problem(20 + seed, decimals=1 if seed == 2 else None)
    targets[:, -1] = 0
    got, expected = mean_average_precision(scores, targets), reference_metrics.mean_average_precision(scores, targets)
    assert abs(got - expected) < 1e-9, f"mAP {got}, package {expected}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ranking_loss", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# ranking_loss (4 points): a scalar tensor equal to the package's loss, with the same gradient
_logits, _targets = logits_and_targets(0)
_loss = ranking_loss(_logits, _targets)
assert torch.is_tensor(_loss) and _loss.ndim == 0, "ranking_loss must return a scalar tensor"
assert abs(float(_loss) - float(reference_losses.ranking_loss(_logits, _targets))) < 1e-9
### BEGIN HIDDEN TESTS
for seed, margin in [(1, 1.0), (2, 0.5), (3, 2.0)]:
    logits, targets = logits_and_targets(seed)
    got = float(ranking_loss(logits, targets, margin=margin))
    expected = float(reference_losses.ranking_loss(logits, targets, margin=margin))
    assert abs(got - expected) < 1e-9, f"margin {margin}: loss {got}, package {expected}"
for seed in [4, 5]:
    logits, targets = logits_and_targets(seed)
    a, b = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    ranking_loss(a, targets).backward()
    reference_losses.ranking_loss(b, targets).backward()
    assert a.grad is not None, "the loss is not connected to the logits"
    torch.testing.assert_close(a.grad, b.grad)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ranking_loss_without_pairs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# ranking_loss without a (positive, negative) pair (2 points): 0, and still differentiable
_logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
_loss = ranking_loss(_logits, torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]))
assert float(_loss.detach()) == 0.0
_loss.backward()
assert _logits.grad is not None and torch.count_nonzero(_logits.grad) == 0

# %% [markdown]
# ## Demo: mAP of better and worse scorers
#
# Random 0/1 targets; scores are the targets plus Gaussian noise of growing strength. mAP falls from 1 (perfect
# ranking) towards the fraction of positives (random ranking). The ranking loss, with the same scores as logits,
# rises as the ranking gets worse.

# %%
import matplotlib.pyplot as plt

rng = np.random.default_rng(SEED)
targets = (rng.random((N_IMAGES, N_CLASSES)) < 0.2).astype(np.int64)
noise = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
maps, losses = [], []
for sigma in noise:
    scores = targets + sigma * rng.standard_normal(targets.shape)
    maps.append(mean_average_precision(scores, targets))
    losses.append(float(ranking_loss(torch.tensor(scores), torch.tensor(targets))))
fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.2))
a0.plot(noise, maps, "o-")
a0.axhline(targets.mean(), color="0.6", ls=":", label="fraction of positives")
a0.set(xscale="symlog", xlabel="noise sigma", ylabel="mAP", title="mAP")
a0.legend(fontsize=8)
a1.plot(noise, losses, "s-", color="#dc2626")
a1.set(xscale="symlog", xlabel="noise sigma", ylabel="loss", title="ranking loss (margin 1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check against scikit-learn
#
# Ties included: scores rounded to one decimal place.

# %%
scores = np.round(targets + rng.standard_normal(targets.shape), 1)
ours = [average_precision(scores[:, c], targets[:, c]) for c in range(N_CLASSES)]
sk = [average_precision_score(targets[:, c], scores[:, c]) for c in range(N_CLASSES)]
print(f"max |yours - scikit-learn| over {N_CLASSES} classes: {np.max(np.abs(np.subtract(ours, sk))):.2e}")
