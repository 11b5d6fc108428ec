"""metrics.py against scikit-learn on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from lgclip_core.errors import BadInputError
from lgclip_core.metrics import (
    average_precision,
    mean_average_precision,
    multilabel_f1,
    multilabel_report,
    per_class_ap,
    top1_accuracy,
)


def _data(seed: int = 0, n: int = 60, c: int = 5, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.35).astype(int)
    y[0] = 1  # every class has a positive
    s = rng.normal(size=(n, c)) + 1.5 * y
    if ties:
        s = np.round(s, 1)  # many tied scores: AP must group them like scikit-learn
    return s, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_matches_sklearn(seed: int) -> None:
    s, y = _data(seed)
    for c in range(y.shape[1]):
        assert average_precision(s[:, c], y[:, c]) == pytest.approx(average_precision_score(y[:, c], s[:, c]))
    expected = np.mean([average_precision_score(y[:, c], s[:, c]) for c in range(y.shape[1])])
    assert mean_average_precision(s, y) == pytest.approx(expected)


def test_ap_known_value() -> None:
    # ranking: pos, neg, pos -> precision at the two positives 1 and 2/3 -> AP = (1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(average_precision([0.1, 0.2], [0, 0]))


def test_map_skips_classes_without_positive_and_ignored_entries() -> None:
    s, y = _data(3)
    y[:, 2] = 0  # class 2: no positive -> left out of the mean
    y2 = y.copy()
    y2[5:9, 1] = -1  # ignored entries of class 1
    ap = per_class_ap(s, y2)
    assert np.isnan(ap[2])
    keep = y2[:, 1] >= 0
    assert ap[1] == pytest.approx(average_precision_score(y[keep, 1], s[keep, 1]))
    assert mean_average_precision(s, y2) == pytest.approx(np.nanmean(ap))


@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.2])
def test_cf1_of1_match_sklearn(threshold: float) -> None:
    s, y = _data(4, ties=False)
    pred = (s >= threshold).astype(int)
    out = multilabel_f1(s, y, threshold=threshold)
    cp = precision_score(y, pred, average="macro", zero_division=0)
    cr = recall_score(y, pred, average="macro", zero_division=0)
    assert out["CP"] == pytest.approx(cp)
    assert out["CR"] == pytest.approx(cr)
    assert out["CF1"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert out["OF1"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert out["OP"] == pytest.approx(precision_score(y, pred, average="micro"))


def test_top_k_rule() -> None:
    s = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7]])
    y = np.array([[1, 0, 0], [0, 1, 1]])
    out = multilabel_f1(s, y, top_k=2)  # predicted: {0, 2} and {1, 2}: tp = 3 of 4 predictions, 3 positives
    assert out["OP"] == pytest.approx(3 / 4)
    assert out["OR"] == pytest.approx(1.0)
    assert out["OF1"] == pytest.approx(2 * 0.75 / 1.75)
    assert multilabel_report(s, y)["mAP"] == pytest.approx(1.0)  # every positive outranks every negative


def test_top1_and_errors() -> None:
    assert top1_accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), [1, 0, 0]) == pytest.approx(2 / 3)
    assert top1_accuracy(np.array([1, 0]), np.array([1, 1])) == pytest.approx(0.5)
    with pytest.raises(BadInputError, match="same shape"):
        mean_average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(BadInputError, match="exactly one"):
        multilabel_f1(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(BadInputError, match="0 .absent."):
        mean_average_precision(np.zeros((2, 2)), np.full((2, 2), 2))
