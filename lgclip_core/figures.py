"""Figures shared by the CLI and the chapters: image grids, confusion matrices, feature maps, loss curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def image_grid(images: np.ndarray, rows: int, labels: Sequence[str] | None = None, path: str | Path | None = None,
               scale: float = 0.9, title: str | None = None) -> Any:
    """Row-major grid; row r gets ``labels[r]`` on its left."""
    n = len(images)
    cols = int(np.ceil(n / rows))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * scale, rows * scale), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
        if i < n:
            img = images[i]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        if labels is not None and i % cols == 0 and i // cols < len(labels):
            ax.set_ylabel(labels[i // cols], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], path: str | Path | None = None,
                     title: str = "") -> Any:
    from sklearn.metrics import confusion_matrix as cm

    m = cm(y_true, y_pred, labels=np.arange(len(names)), normalize="true")
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            if m[i, j] >= 0.05:
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def feature_map(real: np.ndarray, real_labels: np.ndarray, protos: np.ndarray, proto_labels: np.ndarray,
                names: Sequence[str], path: str | Path | None = None, max_real: int = 2000, seed: int = 0) -> Any:
    """2-D PCA of real test features (dots) and generated prototype features (stars), coloured by class."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(real))[:max_real]
    pca = PCA(2, random_state=seed).fit(np.concatenate([real[idx], protos]))
    r, p = pca.transform(real[idx]), pca.transform(protos)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(names):
        m = real_labels[idx] == c
        ax.scatter(r[m, 0], r[m, 1], s=4, alpha=0.35, color=cmap(c % 10))
        q = proto_labels == c
        ax.scatter(p[q, 0], p[q, 1], s=70, marker="*", edgecolor="black", linewidth=0.5, color=cmap(c % 10),
                   label=name)
    ax.legend(fontsize=7, markerscale=0.8, loc="best")
    ax.set_title("real test images (dots) vs generated images (stars), PCA", fontsize=10)
    return _finish(fig, path)


def loss_curve(steps: Sequence[float], losses: Sequence[float], path: str | Path | None = None,
               xlabel: str = "step", title: str = "training loss", smooth: int = 1) -> Any:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    y = np.asarray(losses, dtype=float)
    if smooth > 1 and len(y) > smooth:
        y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        steps = np.asarray(steps)[smooth - 1:]
    ax.plot(steps, y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def bar_chart(values: dict[str, float], path: str | Path | None = None, title: str = "", ylabel: str = "",
              highlight: Sequence[str] = ()) -> Any:
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(values)), 3.4))
    keys = list(values)
    colors = ["tab:orange" if k in highlight else "tab:blue" for k in keys]
    ax.bar(range(len(keys)), [values[k] for k in keys], color=colors)
    ax.set_xticks(range(len(keys)), keys, rotation=50, ha="right", fontsize=8)
    for i, k in enumerate(keys):
        ax.text(i, values[k], f"{values[k]:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)
