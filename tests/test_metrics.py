"""metrics.py against scikit-learn on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from lgclip_core.errors import BadInputError, UnknownNameError
from lgclip_core.metrics import (
    F1_RULES,
    average_precision,
    evaluated_classes,
    f1_rule,
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


def test_classes_without_positives_are_left_out_of_every_metric() -> None:
    """One convention for mAP, CF1 and OF1: computed over the classes that have a positive; predictions are
    still made over every class (a top-k slot spent on a class without positives is lost)."""
    s, y = _data(6, ties=False)
    y[:, 3] = 0  # class 3: no positive
    keep = evaluated_classes(y)
    assert keep.tolist() == [True, True, True, False, True]
    pred = np.zeros_like(y)
    np.put_along_axis(pred, np.argsort(-s, axis=1, kind="stable")[:, :2], 1, axis=1)  # top-2 over ALL classes
    assert pred[:, 3].sum() > 0  # the dropped class does take top-2 slots
    out = multilabel_f1(s, y, top_k=2)
    yk, pk = y[:, keep], pred[:, keep]
    cp = precision_score(yk, pk, average="macro", zero_division=0)
    cr = recall_score(yk, pk, average="macro", zero_division=0)
    assert out["CP"] == pytest.approx(cp) and out["CR"] == pytest.approx(cr)
    assert out["OF1"] == pytest.approx(f1_score(yk, pk, average="micro"))
    assert mean_average_precision(s, y) == pytest.approx(np.mean(
        [average_precision_score(y[:, c], s[:, c]) for c in np.flatnonzero(keep)]))
    # a class whose positives are all "difficult" (-1) has no positive under "ignore", one under "negative": none
    y2 = y.copy()
    y2[:4, 3] = -1
    assert not evaluated_classes(y2)[3] and not evaluated_classes(y2, "negative")[3]
    with pytest.raises(BadInputError, match="no class has a positive"):
        multilabel_f1(s, np.zeros_like(y), top_k=1)


def test_difficult_entries_ignored_or_negative() -> None:
    s, y = _data(7, ties=False)
    y[3:8, 1] = -1
    as_negative = np.where(y == -1, 0, y)
    assert mean_average_precision(s, y, difficult="negative") == pytest.approx(mean_average_precision(s, as_negative))
    assert multilabel_f1(s, y, top_k=3, difficult="negative") == pytest.approx(multilabel_f1(s, as_negative, top_k=3))
    keep = y[:, 1] >= 0
    ignored = multilabel_f1(s, y, threshold=0.5)
    pred = s >= 0.5
    tp1 = int((pred[keep, 1] & (y[keep, 1] == 1)).sum())
    assert ignored["CP"] == pytest.approx(np.mean([
        tp1 / pred[keep, 1].sum() if c == 1 else ((pred[:, c] & (y[:, c] == 1)).sum() / pred[:, c].sum())
        for c in range(y.shape[1])]))
    assert mean_average_precision(s, y) != pytest.approx(mean_average_precision(s, y, difficult="negative"))
    with pytest.raises(UnknownNameError, match="ignore, negative"):
        mean_average_precision(s, y, difficult="drop")


def test_named_f1_rules() -> None:
    s = np.array([[0.9, -0.1, -0.5, -0.7], [0.2, 0.8, 0.7, 0.1]])
    y = np.array([[1, 1, 0, 0], [0, 1, 1, 1]])
    assert set(F1_RULES) == {"top3", "top3_nonnegative"}
    top3 = multilabel_f1(s, y, **f1_rule("top3"))  # image 0 predicts {0, 1, 2}; image 1 {1, 2, 0}
    nonneg = multilabel_f1(s, y, **f1_rule("top3_nonnegative"))  # image 0 predicts {0} only (-0.1, -0.5 < 0)
    assert top3["OP"] == pytest.approx(4 / 6) and top3["OR"] == pytest.approx(4 / 5)  # tp: {0, 1} and {1, 2}
    assert nonneg["OP"] == pytest.approx(3 / 4) and nonneg["OR"] == pytest.approx(3 / 5)  # tp: {0} and {1, 2}
    assert multilabel_report(s, y, rule="top3_nonnegative")["OF1"] == pytest.approx(nonneg["OF1"])
    with pytest.raises(UnknownNameError, match="top3_nonnegative"):
        f1_rule("top-3")
    with pytest.raises(BadInputError, match="min_score"):
        multilabel_f1(s, y, threshold=0.0, min_score=0.0)


def test_top1_and_errors() -> None:
    assert top1_accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), [1, 0, 0]) == pytest.approx(2 / 3)
    assert top1_accuracy(np.array([1, 0]), np.array([1, 1])) == pytest.approx(0.5)
    with pytest.raises(BadInputError, match="same shape"):
        mean_average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(BadInputError, match="exactly one"):
        multilabel_f1(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(BadInputError, match="0 .absent."):
        mean_average_precision(np.zeros((2, 2)), np.full((2, 2), 2))


def test_bootstrap_interval_covers_a_planted_accuracy_and_a_planted_difference() -> None:
    from lgclip_core.metrics import bootstrap_interval

    rng = np.random.default_rng(0)
    a = (rng.random(4000) < 0.7).astype(int)  # a method right on 70 % of images
    iv = bootstrap_interval(a, seed=1)
    assert iv["low"] < 0.7 < iv["high"] and iv["high"] - iv["low"] < 0.04 and iv["estimate"] == a.mean()
    b = a.copy()
    flip = np.flatnonzero(a == 0)[:200]  # b fixes 200 of a's mistakes: +5 points on the same images
    b[flip] = 1
    d = bootstrap_interval(b, a, seed=1)
    assert d["estimate"] == pytest.approx(0.05) and 0 < d["low"] < 0.05 < d["high"]
    # paired: narrower than the two accuracies' own intervals would suggest
    assert d["high"] - d["low"] < iv["high"] - iv["low"]
    same = bootstrap_interval(a, a)
    assert same["low"] == same["high"] == 0.0
    assert bootstrap_interval(a, seed=3) == bootstrap_interval(a, seed=3)  # seeded


def test_bootstrap_interval_refuses_bad_input() -> None:
    from lgclip_core.errors import BadInputError
    from lgclip_core.metrics import bootstrap_interval

    with pytest.raises(BadInputError, match="no test images"):
        bootstrap_interval([])
    with pytest.raises(BadInputError, match="baseline has"):
        bootstrap_interval([1, 0, 1], [1, 0])
