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

from ..errors import BadInputError

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
                   title: str = "per-class accuracy", ylabel: str = "accuracy") -> Any:
    """Grouped bars: ``accuracy[method][class] -> accuracy`` (which classes a method wins or loses); any other
    per-class value in 0..1 (``ylabel`` names it)."""
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
        ax.set_ylabel(ylabel)
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


# ------------------------------------------------------------------------------------- chapter figures
@_styled
def pipeline_diagram(path: str | Path | None = None) -> Any:
    """The two papers' pipelines as boxes and arrows (chapter 00): text (blue) -> generation (yellow) ->
    encoding / learning (green) -> output (pink); each box is a module of the package and a chapter."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(13, 5.2))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.2)
    ax.axis("off")

    def box(x: float, y: float, text: str, color: str, w: float = 1.85, h: float = 0.95) -> None:
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, fc=color, ec="0.25", lw=1.2,
                                    boxstyle="round,pad=0.04,rounding_size=0.12"))
        ax.text(x, y, text, ha="center", va="center", fontsize=12)

    def arrow(x0: float, y0: float, x1: float, y1: float, label: str = "") -> None:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3, color="0.2"))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.13, label, ha="center", va="bottom", fontsize=11,
                    color="0.25", style="italic")

    text_c, gen_c, enc_c, out_c = "#dbeafe", "#fde68a", "#d1fae5", "#fbcfe8"
    xs = [1.1, 3.2, 5.3, 7.4, 9.5]
    ax.text(0.1, 4.9, "LGCLIP: zero-shot classification, training-free", fontsize=14, weight="bold")
    for x, text, c in zip(xs, ["class names", "descriptions\n(LLM)", "synthetic images\n(diffusion)",
                               "image features\n(multi-scale)", "class prototypes\n(mean)"],
                          [text_c, text_c, gen_c, enc_c, enc_c], strict=True):
        box(x, 4.0, text, c)
    box(11.75, 3.45, "predicted class\n(nearest prototype)", out_c, w=2.1)
    for a, b in zip(xs, xs[1:], strict=False):
        arrow(a + 0.93, 4.0, b - 0.93, 4.0)
    box(7.4, 2.85, "real test image\n→ its feature", enc_c)
    arrow(9.5 + 0.93, 3.85, 11.75 - 1.05, 3.6)
    arrow(7.4 + 0.93, 2.85, 11.75 - 1.05, 3.3, "cosine similarity")
    ys = 1.05
    ax.text(0.1, 1.95, "T2I-PAL: multi-label recognition, trained on synthetic images only", fontsize=14,
            weight="bold")
    for x, text, c in zip(xs[:4], ["captions that\nname classes", "labels from\ncaption nouns",
                                   "synthetic scenes\n(diffusion)", "global + local\nCLIP features"],
                          [text_c, text_c, gen_c, enc_c], strict=True):
        box(x, ys, text, c)
    box(xs[4], ys, "prompts, heatmaps,\nprototypes, adapter\n(trained)", enc_c, w=2.0, h=1.1)
    box(11.75, ys, "multi-label scores\non real images (mAP)", out_c, w=2.1)
    for a, b in zip(xs[:3], xs[1:4], strict=False):
        arrow(a + 0.93, ys, b - 0.93, ys)
    arrow(xs[3] + 0.93, ys, xs[4] - 1.0, ys)
    arrow(xs[4] + 1.0, ys, 11.75 - 1.05, ys)
    ax.text(13, 0.05, "blue: text  ·  yellow: generation  ·  green: encoding / learning  ·  pink: output",
            ha="right", fontsize=10, color="0.4")
    return _finish(fig, path)


@_styled
def class_samples(images: Any, labels: np.ndarray, names: Sequence[str], per_class: int, seed: int,
                  title: str = "", path: str | Path | None = None) -> Any:
    """``per_class`` images of each class drawn at random (seeded), one column per class."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    fig, axes = plt.subplots(per_class, len(names), figsize=(1.3 * len(names), 1.3 * per_class + 0.5),
                             squeeze=False)
    for c, name in enumerate(names):
        for r, i in enumerate(rng.choice(np.flatnonzero(labels == c), per_class, replace=False)):
            img = np.asarray(images[i])
            axes[r, c].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            axes[r, c].axis("off")
        axes[0, c].set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def feature_overview(feats: np.ndarray, labels: np.ndarray, names: Sequence[str], title: str = "", seed: int = 0,
                     path: str | Path | None = None) -> Any:
    """Left: 2-D PCA of the features coloured by class (PCA never sees the labels). Right: cosine similarity of
    the L2-normalised class-mean features (a prototype classifier works when the diagonal stands out)."""
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=seed).fit_transform(feats)
    means = np.stack([feats[labels == c].mean(0) for c in range(len(names))])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    with style():
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
        sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=[names[c] for c in labels], hue_order=list(names), s=12,
                        alpha=0.75, linewidth=0, ax=a0)
        a0.set(title=title, xlabel="PC 1", ylabel="PC 2")
        a0.legend(fontsize=7.5, markerscale=1.5, loc="best")
        sns.heatmap(means @ means.T, ax=a1, cmap="viridis", square=True, xticklabels=list(names),
                    yticklabels=list(names), cbar_kws={"fraction": 0.046})
        a1.set_xticklabels(a1.get_xticklabels(), rotation=60, ha="right", fontsize=8)
        a1.set_title("cosine similarity of class-mean features")
        return _finish(fig, path)


@_styled
def titled_images(images: Sequence[np.ndarray], titles: Sequence[str], rows: int = 2, title: str = "",
                  scale: float = 1.8, path: str | Path | None = None) -> Any:
    """A grid of images (uint8, grey or RGB) with a title over each one."""
    cols = int(np.ceil(len(images) / rows))
    fig, axes = plt.subplots(rows, cols, figsize=(scale * cols, (scale + 0.7) * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            img = np.asarray(images[i])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(titles[i], fontsize=7.5)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


@_styled
def crop_scales(img: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], crops: np.ndarray,
                weights: np.ndarray, title: str = "", path: str | Path | None = None) -> Any:
    """Left: the image with each scale's crop box (top, left, h, w); right: the crops (N, H, W, 3 in 0..1) as the
    encoder receives them, with the scale's share of the area and its fusion weight."""
    from matplotlib.patches import Rectangle

    n = len(boxes)
    fig = plt.figure(figsize=(13, 3.6))
    ax0 = fig.add_axes((0.0, 0.05, 0.25, 0.85))
    ax0.imshow(img, cmap="gray" if img.ndim == 2 else None)
    cmap = plt.get_cmap("viridis")
    for s, (top, left, h, wd) in enumerate(boxes, start=1):
        ax0.add_patch(Rectangle((left - 0.5, top - 0.5), wd, h, fill=False, lw=1.2, color=cmap(s / n)))
    ax0.set_title(title, fontsize=9)
    ax0.axis("off")
    cols = int(np.ceil(n / 2))
    for j in range(n):
        ax = fig.add_axes((0.28 + (j % cols) * 0.72 / cols, 0.5 - (j // cols) * 0.47, 0.68 / cols, 0.38))
        ax.imshow(crops[j])
        ax.set_title(f"s={j + 1}: {(j + 1) / n:.0%} area\nw={weights[j]:.3f}", fontsize=8)
        ax.axis("off")
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def scale_similarity(per_scale: np.ndarray, fused: np.ndarray, path: str | Path | None = None) -> Any:
    """Left: each scale's feature against the full view and the fused feature; right: cosine between scales."""
    scales = np.arange(1, len(per_scale) + 1)
    sim = per_scale @ per_scale.T
    with style():
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
        sns.lineplot(x=scales, y=sim[-1], marker="o", label="cosine to the full view (s = S)", ax=a0)
        sns.lineplot(x=scales, y=per_scale @ fused, marker="s", label="cosine to the fused feature", ax=a0)
        a0.set(xlabel="scale s", ylabel="cosine similarity")
        sns.heatmap(sim, ax=a1, cmap="viridis", square=True, xticklabels=list(scales), yticklabels=list(scales),
                    cbar_kws={"fraction": 0.046})
        a1.set_title("cosine similarity between scales", fontsize=10)
        return _finish(fig, path)


def label_counts(targets: np.ndarray, names: Sequence[str], item: str = "items", path: str | Path | None = None
                 ) -> Any:
    """Multi-label targets (N, C): how many labels an item has, and how often each class is a label."""
    per_item = np.asarray(targets).sum(1).astype(int)
    k, counts = np.unique(per_item, return_counts=True)
    with style():
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 3.2))
        sns.barplot(x=k, y=counts, ax=a0, color="C0")
        a0.set(xlabel="classes named", ylabel=item, title=f"{len(per_item)} {item}: {per_item.mean():.2f} labels on "
                                                          "average")
        sns.barplot(x=list(names), y=np.asarray(targets).sum(0), ax=a1, color="C0")
        a1.set_xticks(a1.get_xticks(), list(names), rotation=45, ha="right")
        a1.set_title("how often each class is a label")
        return _finish(fig, path)


def training_curves(records: Mapping[str, Mapping[str, Sequence[float]]], title: str = "",
                    path: str | Path | None = None) -> Any:
    """``records[method]`` with ``epoch_losses`` and ``step_losses``: epoch means (left) and a moving mean of
    the per-step loss over about 1/50 of the run (right)."""
    with style():
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 3.6))
        for m, r in records.items():
            ep = np.asarray(r["epoch_losses"], dtype=float)
            sns.lineplot(x=np.arange(1, len(ep) + 1), y=ep, marker="o", markersize=4, label=m, ax=a0)
            steps = np.asarray(r["step_losses"], dtype=float)
            w = max(1, len(steps) // 50)
            sns.lineplot(x=np.arange(len(steps) - w + 1), y=np.convolve(steps, np.ones(w) / w, mode="valid"),
                         label=m, lw=1, ax=a1)
        a0.set(xlabel="epoch", ylabel="loss (epoch mean)")
        a1.set(xlabel="step", ylabel="loss (moving mean)", title="per step")
        fig.suptitle(title, fontsize=10)
        return _finish(fig, path)


def method_bars(values: Mapping[str, float], errors: Mapping[str, float] | None = None,
                groups: Mapping[str, str] | None = None, ylabel: str = "", title: str = "",
                path: str | Path | None = None) -> Any:
    """One bar per method (mean, with +- ``errors`` as error bars), coloured by ``groups[method]``."""
    methods = list(values)
    v = np.array([values[m] for m in methods], dtype=float)
    group = [(groups or {}).get(m, "") for m in methods]
    with style():
        fig, ax = plt.subplots(figsize=(10, 3.4))
        sns.barplot(x=methods, y=v, hue=group if groups else None, dodge=False, ax=ax)
        if errors is not None:
            ax.errorbar(np.arange(len(methods)), v, yerr=[errors[m] for m in methods], fmt="none", ecolor="0.2",
                        capsize=4)
        ax.set_ylim(max(0.0, v.min() - 10), v.max() + 5)
        ax.set(ylabel=ylabel, title=title)
        ax.set_xticks(ax.get_xticks(), methods, rotation=20)
        return _finish(fig, path)


@_styled
def scene_heatmaps(images: Sequence[np.ndarray], heatmaps: np.ndarray, scores: np.ndarray, targets: np.ndarray,
                   names: Sequence[str], max_present: int = 4, path: str | Path | None = None) -> Any:
    """One row per scene: the scene, then the heatmap (upsampled to the scene, ``heatmaps`` (N, C, H, W)) of each
    class on it and of the best-scoring class NOT on it, over the scene; one colour scale per row."""
    cols = 2 + max_present
    fig, axes = plt.subplots(len(images), cols, figsize=(1.9 * cols, 2.0 * len(images)), squeeze=False)
    for row, img in enumerate(images):
        present = [int(c) for c in np.flatnonzero(np.asarray(targets[row]) == 1)][:max_present]
        absent = [int(c) for c in np.argsort(-scores[row]) if c not in present][:1]
        axes[row, 0].imshow(img, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_title("real test scene", fontsize=8)
        hm = heatmaps[row]
        lo, hi = hm[present + absent].min(), hm[present + absent].max()
        for j, c in enumerate(present + [None] * (max_present - len(present)) + absent):
            ax = axes[row, 1 + j]
            ax.axis("off")
            if c is None:
                continue
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.imshow(hm[c], cmap="jet", alpha=0.45, vmin=lo, vmax=hi)
            ax.set_title(f"{names[c]} ({'on it' if c in present else 'NOT on it'})\nscore {scores[row, c]:.2f}",
                         fontsize=7.5)
        axes[row, 0].axis("off")
    return _finish(fig, path)


@_styled
def paper_vs_ours(main: Any, paper_col: str, ours_col: str, offline: Mapping[str, float], offline_title: str = "",
                  real_label_methods: Sequence[str] = (), path: str | Path | None = None) -> Any:
    """Left: the paper's numbers per dataset (bars, one per backbone) with our paper-profile runs (diamonds);
    ``main`` has columns dataset, backbone, ``paper_col``, ``ours_col``. Right: our offline numbers per method,
    grey for ``real_label_methods`` (they use real labelled images), green for the zero-shot ones."""
    datasets = list(dict.fromkeys(main["dataset"]))
    backbones = sorted(main["backbone"].dropna().unique())
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1.6, 1]})
    width = 0.8 / max(1, len(backbones))
    for j, bb in enumerate(backbones):
        sub = main[main["backbone"] == bb].set_index("dataset")
        x = np.arange(len(datasets)) + (j - (len(backbones) - 1) / 2) * width
        a0.bar(x, [sub[paper_col].get(d, np.nan) for d in datasets], width, alpha=0.55, label=f"paper, {bb}")
        a0.scatter(x, [sub[ours_col].get(d, np.nan) for d in datasets], color="k", marker="D", s=18, zorder=3,
                   label="ours, paper profile" if j == 0 else None)
    a0.set_xticks(np.arange(len(datasets)), datasets, rotation=20)
    a0.set_ylabel("top-1 (%)")
    a0.set_title("LGCLIP: paper (quoted, unverified) and our paper-profile runs (diamonds)", fontsize=10)
    a0.legend(fontsize=7, ncol=2)
    if offline:
        names = list(offline)
        a1.barh(names, [offline[m] for m in names],
                color=["0.7" if m in real_label_methods else "#10b981" for m in names])
        a1.invert_yaxis()
        a1.set_xlabel("top-1 (%)")
        a1.set_title(offline_title, fontsize=10)
        a1.tick_params(axis="y", labelsize=8)
    else:
        a1.axis("off")
        a1.text(0.5, 0.5, "offline: not run", ha="center", va="center")
    return _finish(fig, path)


# ----------------------------------------------------------------------------- chapter 07 (efficiency)
@_styled
def tower_parameters(sizes: Any, archs: Any, path: str | Path | None = None) -> Any:
    """Stacked bars: image-tower and text-tower parameters of the loaded models (``sizes``, one row per tower)
    and of the papers' CLIP architectures (``archs``): what an inference process has to hold."""
    img = sizes[sizes.tower == "image"]
    labels = [f"{m}\n{n}" for m, n in img[["model", "name"]].values] + list(archs.architecture)
    img_p = np.r_[img.parameters, archs["image tower"]] / 1e6
    txt_p = np.r_[sizes[sizes.tower == "text"].parameters, archs["text tower"]] / 1e6
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.barh(labels, img_p, color="#10b981", label="image tower (LGCLIP at test time)")
    ax.barh(labels, txt_p, left=img_p, color="#93c5fd", label="text tower (text zero-shot also needs it)")
    ax.set(xscale="symlog", xlabel="parameters (millions, symlog scale)", title="Parameters an inference process holds")
    ax.legend(fontsize=8, loc="lower right")
    return _finish(fig, path)


@_styled
def throughput_bars(speed: Any, batch: int, path: str | Path | None = None) -> Any:
    """One panel per model: images/s of each inference mode (rows of ``speed``: model, inference, images/s)."""
    groups = list(speed.groupby("model", sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(12, 3.2), squeeze=False)
    for ax, (model, grp) in zip(axes[0], groups, strict=True):
        ax.barh(grp.inference, grp["images/s"], color=["#10b981", "#6ee7b7", "#93c5fd"][:len(grp)])
        ax.bar_label(ax.containers[0], fmt=" %.0f", fontsize=9)
        ax.set(xlim=(0, grp["images/s"].max() * 1.25), title=model, xlabel=f"images per second (batch {batch})")
        ax.invert_yaxis()
    return _finish(fig, path)


@_styled
def multiscale_speed(ms: Any, encoder_name: str, path: str | Path | None = None) -> Any:
    """Images/s against the number of scales, batched and looped, with the single view divided by the number of
    scales as the reference (rows of ``ms``: mode, scales, images/s; the first row is the single view)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for mode, style in [("batched", "o-"), ("one pass per scale", "s--")]:
        g = ms[ms["mode"] == mode]
        ax.plot(g.scales, g["images/s"], style, label=mode)
    single = ms["images/s"].iloc[0]
    ax.axhline(single, color="0.5", lw=1, ls=":", label="single view")
    ax.plot(g.scales, single / g.scales, color="0.75", lw=1, label="single view / number of scales")
    ax.set(xlabel="number of scales", ylabel="images per second", yscale="log", xticks=list(g.scales),
           title=f"Multi-scale encoding with {encoder_name}")
    ax.legend(fontsize=8)
    return _finish(fig, path)


@_styled
def break_even(costs: Any, max_classified: int, path: str | Path | None = None) -> Any:
    """Total cost (one-time + per image) against the number of classified images, and the share spent once
    (rows of ``costs``: method, one-time s, per image s, images until one-time is half the cost)."""
    from ..efficiency import total_cost

    n = np.logspace(0, np.log10(max_classified), 200)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 4.2))
    colours = ["#dc2626", "#f59e0b", "#10b981", "#3b82f6"]
    for r, c in zip(costs.itertuples(index=False), colours[:len(costs)], strict=True):
        total = total_cost(r[1], r[2], n)
        a0.plot(n, total, color=c, label=r.method)
        a1.plot(n, r[1] / total, color=c, label=r.method)
    a0.axvline(costs.iloc[0, 3], color="#dc2626", lw=0.8, ls=":")
    a0.set(xscale="log", yscale="log", xlabel="classified images", ylabel="total seconds",
           title="Total cost = one-time + per image (dotted: cold-cache one-time = half the total)")
    a1.set(xscale="log", ylim=(0, 1.02), xlabel="classified images", ylabel="share of the total spent once",
           title="How the one-time work amortises")
    a0.legend(fontsize=8)
    return _finish(fig, path)


@_styled
def grid_bars(cells: Sequence[Mapping[str, Any]], methods: Sequence[str], references: Sequence[str] = (),
              path: str | Path | None = None, title: str = "") -> Any:
    """The datasets x backbones table as grouped bars: one panel per data set, a group per backbone, a bar per
    method with its bootstrap interval (``cell["accuracy"][m]``: estimate/low/high), then the real-image
    references (``cell["references"][m]``, grey, hatched: they read labels)."""
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    if not datasets:
        raise BadInputError("grid_bars: no grid cells to draw (run `lgclip reproduce grid`)")
    bars = [*methods, *references]
    colours = dict(zip(methods, sns.color_palette("tab10", len(methods)), strict=True))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.6), squeeze=False, sharey=True)
    width = 0.8 / len(bars)
    for ax, d in zip(axes[0], datasets, strict=True):
        mine = [c for c in cells if c["dataset"] == d]
        for j, m in enumerate(bars):
            x = np.arange(len(mine)) - 0.4 + width * (j + 0.5)
            if m in methods:
                est = np.array([100 * c["accuracy"][m]["estimate"] for c in mine])
                err = np.array([[est[i] - 100 * c["accuracy"][m]["low"], 100 * c["accuracy"][m]["high"] - est[i]]
                                for i, c in enumerate(mine)]).T
                ax.bar(x, est, width, color=colours[m], label=m, yerr=err, capsize=2, ecolor="0.25")
            else:
                hatch = ("//", "..", "xx")[(j - len(methods)) % 3]
                ax.bar(x, [100 * c["references"][m] for c in mine], width, color="0.8", hatch=hatch,
                       edgecolor="0.4", label=f"{m} (real labels)")
        ax.set_xticks(np.arange(len(mine)), [f"{c['backbone'].replace('efficientnet-', '')}\n{c['input_size']} px"
                                             for c in mine])
        ax.set(title=d, ylabel="top-1 accuracy (%)" if ax is axes[0][0] else "", ylim=(0, 100))
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not on them
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
