"""Figures shared by the CLI and the chapters: image grids, confusion matrices, feature maps, curves, bars.

One look everywhere: every function draws inside ``style()`` (seaborn's theme, set per figure so a caller's
own matplotlib settings are left alone); seaborn draws what it is made for (heatmaps, lines with seed bands,
bars), matplotlib the rest (image grids, scatter of a projection).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .errors import BadInputError

THEME: dict[str, Any] = dict(context="notebook", style="whitegrid", palette="tab10", font_scale=0.8)


@contextmanager
def style() -> Iterator[None]:
    """The book's figure style for the figures drawn inside (restores the caller's rcParams afterwards)."""
    with plt.rc_context(), sns.axes_style(THEME["style"]), sns.plotting_context(THEME["context"],
                                                                                  THEME["font_scale"]):
        sns.set_palette(THEME["palette"])
        yield


def _styled(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Draw the whole figure inside ``style()`` (for functions that draw with matplotlib directly)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return draw(*args, **kwargs)

    return wrapper


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


@_styled
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
    """Row-normalised confusion matrix as a heatmap (cells under 0.05 left blank to keep the eye on errors)."""
    from sklearn.metrics import confusion_matrix as cm

    m = cm(y_true, y_pred, labels=np.arange(len(names)), normalize="true")
    annot = np.where(m >= 0.05, np.char.mod("%.2f", m), "")
    with style():
        fig, ax = plt.subplots(figsize=(6, 5))
        sns.heatmap(m, ax=ax, cmap="Blues", vmin=0, vmax=1, annot=annot, fmt="", annot_kws={"fontsize": 6},
                    xticklabels=list(names), yticklabels=list(names), square=True, cbar_kws={"fraction": 0.046})
        ax.set_xticklabels(ax.get_xticklabels(), rotation=60, ha="right", fontsize=8)
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=10)
        return _finish(fig, path)


def ablation_curve(runs: Mapping[str, Mapping[Any, Sequence[float] | float]], path: str | Path | None = None,
                   xlabel: str = "", ylabel: str = "accuracy", title: str = "", logx: bool = False) -> Any:
    """One line per method over an ablated setting; several values per point (seeds) give a band (mean +- sd).

    ``runs[method][x]`` is one accuracy or the accuracies of several seeds at setting ``x``."""
    rows = [(method, float(x), float(v)) for method, curve in runs.items() for x, vals in curve.items()
            for v in np.atleast_1d(np.asarray(vals, dtype=float))]
    if not rows:
        raise BadInputError("ablation_curve got no values: pass {method: {setting: accuracy or [per seed]}}")
    data = {"method": [r[0] for r in rows], xlabel or "x": [r[1] for r in rows], ylabel: [r[2] for r in rows]}
    seeds = any(np.size(vals) > 1 for curve in runs.values() for vals in curve.values())
    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        sns.lineplot(data=data, x=xlabel or "x", y=ylabel, hue="method", errorbar="sd" if seeds else None,
                     marker="o", ax=ax)
        if logx:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        return _finish(fig, path)


def per_class_bars(accuracy: Mapping[str, Mapping[str, float]], path: str | Path | None = None,
                   title: str = "per-class accuracy") -> Any:
    """Grouped bars: ``accuracy[method][class] -> accuracy`` (which classes a method wins or loses)."""
    rows = [(m, c, float(a)) for m, per in accuracy.items() for c, a in per.items()]
    if not rows:
        raise BadInputError("per_class_bars got no values: pass {method: {class name: accuracy}}")
    data = {"method": [r[0] for r in rows], "class": [r[1] for r in rows], "accuracy": [r[2] for r in rows]}
    n_classes = len({r[1] for r in rows})
    with style():
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * n_classes * max(1, len(accuracy)) ** 0.5), 3.4))
        sns.barplot(data=data, x="class", y="accuracy", hue="method", ax=ax)
        ax.set_xticks(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()], rotation=50, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=10)
        return _finish(fig, path)


@_styled
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


@_styled
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


@_styled
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


def speed_quality_curve(rows: Sequence[Mapping[str, Any]], path: str | Path | None = None, x: str = "images_per_s",
                        y: str = "cas", hue: str = "precision", label: str = "steps", title: str = "") -> Any:
    """One line per ``hue`` through (speed, quality) points, each point labelled (e.g. sampling steps): the
    frontier a reader picks a setting from."""
    if not rows:
        raise BadInputError("speed_quality_curve got no rows: pass [{x: ..., y: ..., hue: ..., label: ...}]")
    data = {k: [r[k] for r in rows] for k in (x, y, hue, label)}
    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        sns.lineplot(data=data, x=x, y=y, hue=hue, marker="o", ax=ax)
        for r in rows:
            ax.annotate(str(r[label]), (r[x], r[y]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_title(title, fontsize=10)
        return _finish(fig, path)
