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
# **Your task.** Implement `average_precision`, `mean_average_precision` (numpy in, Python float out) and
# `ranking_loss` (torch tensors in, a scalar tensor out, differentiable) in the cell marked *Your code here*.
# The autograder compares them with scikit-learn and with the package's `lgclip_core.metrics` and
# `lgclip_core.t2ipal.losses`, including tied scores and gradients. Cells tagged `skip-grader` are not run by
# the grader.

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

# %% tags=["solution"]
import numpy as np
import torch


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class: 1-D scores and 0/1 targets; tied scores form one threshold; nan without a positive."""
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


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean AP over the classes (columns) that have at least one positive."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    aps = [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    return float(np.nanmean(aps))


def ranking_loss(logits: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean over images (with >= 1 positive and >= 1 negative) of the mean hinge over (positive, negative) pairs."""
    y = targets.to(logits.dtype)
    hinge = torch.relu(margin - logits[:, :, None] + logits[:, None, :])  # [b, i, j] = m - s_i + s_j
    pairs = y[:, :, None] * (1 - y)[:, None, :]
    n_pairs = pairs.sum(dim=(1, 2))
    per_image = (hinge * pairs).sum(dim=(1, 2)) / n_pairs.clamp_min(1)
    valid = n_pairs > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return per_image[valid].mean()


# %% [markdown]
# ## Demo: mAP of better and worse scorers
#
# Random 0/1 targets; scores are the targets plus Gaussian noise of growing strength. mAP falls from 1 (perfect
# ranking) towards the fraction of positives (random ranking). The ranking loss, with the same scores as logits,
# rises as the ranking gets worse.

# %% tags=["skip-grader"]
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

# %% tags=["skip-grader"]
from sklearn.metrics import average_precision_score

scores = np.round(targets + rng.standard_normal(targets.shape), 1)
ours = [average_precision(scores[:, c], targets[:, c]) for c in range(N_CLASSES)]
sk = [average_precision_score(targets[:, c], scores[:, c]) for c in range(N_CLASSES)]
print(f"max |yours - scikit-learn| over {N_CLASSES} classes: {np.max(np.abs(np.subtract(ours, sk))):.2e}")
