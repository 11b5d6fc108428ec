"""The shared figures: what they draw is the data they were given, in one style that leaves the caller's alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402

from lgclip_core.book import figures  # noqa: E402
from lgclip_core.errors import BadInputError  # noqa: E402


def test_style_is_scoped_to_the_figures_drawn_inside() -> None:
    before = dict(plt.rcParams)
    with figures.style():
        assert plt.rcParams["axes.grid"]  # seaborn's whitegrid
    after = dict(plt.rcParams)
    assert {k: v for k, v in after.items() if before.get(k) != v and k != "backend"} == {}


def test_confusion_matrix_heatmap_shows_the_row_normalised_counts(tmp_path: Path) -> None:
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    fig = figures.confusion_matrix(y_true, y_pred, ["a", "b", "c"], path=tmp_path / "cm.png", title="t")
    mesh = next(c for c in fig.axes[0].collections if isinstance(c, QuadMesh))
    want = np.array([[0.75, 0.25, 0], [0, 1, 0], [0.5, 0, 0.5]])
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 3), want)
    texts = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())
    assert texts == ["0.25", "0.50", "0.50", "0.75", "1.00"]  # zero cells stay blank
    assert (tmp_path / "cm.png").stat().st_size > 0


def test_ablation_curve_has_a_seed_band_only_where_there_are_seeds() -> None:
    banded = figures.ablation_curve({"lgclip": {1: [0.5, 0.6, 0.7], 5: [0.7, 0.8, 0.9]}}, xlabel="N")
    assert any(isinstance(c, PolyCollection) for c in banded.axes[0].collections)
    line = banded.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 5])
    np.testing.assert_allclose(line.get_ydata(), [0.6, 0.8])  # the mean over seeds
    single = figures.ablation_curve({"lgclip": {1: 0.5, 5: 0.8}, "prototypes": {1: 0.4, 5: 0.6}}, xlabel="N")
    assert not any(isinstance(c, PolyCollection) for c in single.axes[0].collections)
    assert len(single.axes[0].lines) >= 2
    plt.close("all")


def test_per_class_bars_heights_are_the_accuracies() -> None:
    fig = figures.per_class_bars({"lgclip": {"cat": 0.9, "dog": 0.4}, "text": {"cat": 0.5, "dog": 0.7}})
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_height() > 0)
    assert heights == [0.4, 0.5, 0.7, 0.9]
    plt.close("all")


@pytest.mark.parametrize("draw", [lambda: figures.ablation_curve({}), lambda: figures.per_class_bars({"m": {}})])
def test_empty_input_is_a_one_line_error(draw) -> None:  # noqa: ANN001
    with pytest.raises(BadInputError, match="pass"):
        draw()


def test_matplotlib_figures_keep_their_signatures(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    figures.image_grid(images, rows=2, labels=["a", "b"], path=tmp_path / "grid.png", title="g")
    figures.bar_chart({"a": 0.5, "b": 0.7}, path=tmp_path / "bar.png", highlight=["b"])
    figures.loss_curve(range(10), np.linspace(1, 0, 10), path=tmp_path / "loss.png", smooth=3)
    rng = np.random.default_rng(1)
    figures.feature_map(rng.normal(size=(20, 4)), np.repeat([0, 1], 10), rng.normal(size=(4, 4)),
                        np.array([0, 0, 1, 1]), ["a", "b"], path=tmp_path / "map.png")
    for name in ("grid.png", "bar.png", "loss.png", "map.png"):
        assert (tmp_path / name).stat().st_size > 0


# ------------------------------------------------------------------------------------- chapter figures
def _heatmap(ax) -> np.ndarray:  # noqa: ANN001
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    return np.asarray(mesh.get_array())


def test_pipeline_diagram_draws_both_papers() -> None:
    fig = figures.pipeline_diagram()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"class names", "descriptions\n(LLM)", "multi-label scores\non real images (mAP)"} <= texts
    assert any(t.startswith("LGCLIP") for t in texts) and any(t.startswith("T2I-PAL") for t in texts)
    plt.close("all")


def test_class_samples_puts_each_class_in_its_column() -> None:
    labels = np.repeat([0, 1, 2], 5)
    images = np.repeat((labels * 100)[:, None, None], 4, 1).repeat(4, 2).astype(np.uint8)  # class c: value 100c
    fig = figures.class_samples(images, labels, ["a", "b", "c"], per_class=2, seed=0)
    axes = np.array(fig.axes).reshape(2, 3)
    for c in range(3):
        assert axes[0, c].get_title() == "abc"[c]
        for r in range(2):
            assert np.asarray(axes[r, c].images[0].get_array()).max() == 100 * c
    plt.close("all")


def test_feature_overview_heatmap_is_the_class_mean_cosine() -> None:
    feats = np.array([[1, 0], [1, 0.2], [0, 1], [0.1, 1], [1, 1], [1, 0.9]], dtype=float)
    labels = np.array([0, 0, 1, 1, 2, 2])
    fig = figures.feature_overview(feats, labels, ["a", "b", "c"])
    means = np.stack([feats[labels == c].mean(0) for c in range(3)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(_heatmap(fig.axes[1]).reshape(3, 3), means @ means.T, rtol=1e-6)
    plt.close("all")


def test_scale_similarity_and_crops() -> None:
    rng = np.random.default_rng(0)
    per_scale = rng.normal(size=(4, 6))
    per_scale /= np.linalg.norm(per_scale, axis=1, keepdims=True)
    fused = per_scale.mean(0) / np.linalg.norm(per_scale.mean(0))
    fig = figures.scale_similarity(per_scale, fused)
    np.testing.assert_allclose(_heatmap(fig.axes[1]).reshape(4, 4), per_scale @ per_scale.T, rtol=1e-6)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), per_scale[-1] @ per_scale.T, rtol=1e-6)
    img = np.zeros((10, 10), np.uint8)
    fig = figures.crop_scales(img, [(0, 0, 5, 5), (0, 0, 10, 10)], rng.random((2, 4, 4, 3)), np.array([1, 2]) / 3)
    assert [ax.get_title() for ax in fig.axes[1:]] == ["s=1: 50% area\nw=0.333", "s=2: 100% area\nw=0.667"]
    plt.close("all")


def test_label_counts_method_bars_and_training_curves() -> None:
    targets = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [1, 0, 0]])
    fig = figures.label_counts(targets, ["a", "b", "c"])
    assert [p.get_height() for p in fig.axes[0].patches] == [2, 1, 1]  # 1, 2 and 3 labels
    assert [p.get_height() for p in fig.axes[1].patches] == [3, 2, 2]
    fig = figures.method_bars({"zero": 50.0, "ours": 70.0}, {"zero": 1.0, "ours": 2.0},
                              {"zero": "baseline", "ours": "T2I-PAL"})
    assert sorted(p.get_height() for p in fig.axes[0].patches if p.get_height() > 0) == [50.0, 70.0]
    fig = figures.training_curves({"m": {"epoch_losses": [3.0, 2.0, 1.0], "step_losses": list(range(100))}})
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [3, 2, 1])
    plt.close("all")


def test_titled_images_and_scene_heatmaps() -> None:
    imgs = [np.full((8, 8), v, np.uint8) for v in (0, 255)]
    fig = figures.titled_images(imgs, ["x", "y"], rows=1)
    assert [ax.get_title() for ax in fig.axes] == ["x", "y"]
    heat = np.random.default_rng(0).random((2, 3, 8, 8))
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.3]])
    fig = figures.scene_heatmaps(imgs, heat, scores, np.array([[1, 0, 0], [0, 1, 1]]), ["a", "b", "c"],
                                 max_present=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert "a (on it)\nscore 0.90" in titles and "c (NOT on it)\nscore 0.50" in titles
    assert "c (on it)\nscore 0.30" in titles and "a (NOT on it)\nscore 0.20" in titles
    plt.close("all")


def test_paper_vs_ours_bars_and_offline_colours() -> None:
    import pandas as pd

    main = pd.DataFrame({"dataset": ["d1", "d2"], "backbone": ["b", "b"], "paper": [40.0, 60.0],
                         "ours": [41.0, np.nan]})
    fig = figures.paper_vs_ours(main, "paper", "ours", {"lgclip": 70.0, "real_1shot": 50.0},
                                real_label_methods=["real_1shot"])
    assert [p.get_height() for p in fig.axes[0].patches] == [40.0, 60.0]
    bars = fig.axes[1].patches
    assert [p.get_width() for p in bars] == [70.0, 50.0]
    assert bars[0].get_facecolor() != bars[1].get_facecolor()  # zero-shot green, real labels grey
    plt.close("all")


def test_speed_quality_curve_labels_every_point_and_break_even_adds_to_the_total() -> None:
    import pandas as pd

    rows = [{"precision": p, "steps": s, "images_per_s": r, "cas": c}
            for p, s, r, c in [("fp32", 6, 25.0, 0.96), ("fp32", 12, 12.6, 0.968), ("bf16", 6, 52.0, 0.958)]]
    fig = figures.speed_quality_curve(rows)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["12", "6", "6"]  # one label per point
    assert ax.get_legend() is not None
    plt.close(fig)
    costs = pd.DataFrame({"method": ["a", "b"], "one-time s": [10.0, 0.0], "per image s": [1.0, 2.0],
                          "images until one-time is half the cost": [10.0, 0.0]})
    fig = figures.break_even(costs, 1000)
    total_a = fig.axes[0].get_lines()[0].get_ydata()
    n = fig.axes[0].get_lines()[0].get_xdata()
    np.testing.assert_allclose(total_a, 10.0 + 1.0 * n)  # one-time + per image x images
    share = fig.axes[1].get_lines()[1].get_ydata()
    np.testing.assert_allclose(share, 0.0)  # nothing spent once
    plt.close(fig)
    with pytest.raises(BadInputError, match="no rows"):
        figures.speed_quality_curve([])
