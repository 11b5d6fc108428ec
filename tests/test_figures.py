"""The shared figures: what they draw is the data they were given, in one style that leaves the caller's alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402

from lgclip_core import figures  # noqa: E402
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
