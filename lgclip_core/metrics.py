"""Classification metrics on plain arrays: top-1 accuracy (LGCLIP) with bootstrap intervals, mAP, CF1 and OF1
(T2I-PAL).

Plain numpy in, Python floats out, so that every method of the book is scored by the same few lines.

* ``scores`` is ``(N, C)``: any real-valued score, higher = more likely; ``targets`` is ``(N, C)`` in
  {0, 1}, with -1 marking a VOC "difficult-only" entry. ``difficult`` says what such an entry is:
  ``"ignore"`` (left out of AP, CF1 and OF1 alike; our default) or ``"negative"`` (counted as absent, what
  TaI-DPT's evaluator does for mAP and ML-GCN's for CF1/OF1; ``protocols`` key ``t2ipal.voc_difficult``).
* AP of one class is scikit-learn's ``average_precision_score``: sum over distinct thresholds of
  (R_n - R_{n-1}) * P_n, without interpolation; tied scores form one threshold.
* CF1 is the harmonic mean of the per-class precision and recall averaged over classes (CP, CR); OF1 the F1
  of the counts pooled over classes (OP, OR). A label is predicted when its score is at least ``threshold``,
  or, with ``top_k``, when it is one of the image's ``top_k`` highest scores — and, with ``min_score`` too,
  at least ``min_score`` (ML-GCN's top-3 rule is ``top_k=3, min_score=0``; see ``F1_RULES``). A class that
  is predicted for no image has precision 0 (ML-GCN counts it so).
* **Classes without a positive** (after ``difficult`` is applied) are left out of all three metrics: mAP,
  CP/CR and OP/OR are computed over the classes that have at least one positive test label, as if the others
  were not in the label set (predictions are still made over every class, so a top-k slot spent on such a
  class is simply lost). Why: their AP and recall are undefined, and leaving a class out of mAP while CF1
  counts it with recall 0 would make the metrics of one report describe different label sets. The authors'
  code has no convention to follow: TaI-DPT's evaluator counts such a class as AP 0 (it divides by
  n_pos + 1e-8) and ML-GCN's divides by zero; on the full VOC/COCO/NUS test sets every class has positives,
  so the rule matters only for small test sets such as ours (``evaluated_classes`` says which were kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BadInputError, UnknownNameError

__all__ = ["top1_accuracy", "average_precision", "per_class_ap", "mean_average_precision", "multilabel_f1",
           "multilabel_report", "evaluated_classes", "f1_rule", "F1_RULES", "DIFFICULT"]

# Named rules for CF1/OF1 (``protocols`` key ``t2ipal.f1_rule``): keyword arguments of ``multilabel_f1``.
F1_RULES: dict[str, dict[str, Any]] = {
    "top3_nonnegative": {"top_k": 3, "min_score": 0.0},  # ML-GCN util.py overall_topk: top-3 AND score >= 0
    "top3": {"top_k": 3},  # the image's 3 highest scores, whatever their sign
}
DIFFICULT = ("ignore", "negative")


def f1_rule(name: str) -> dict[str, Any]:
    """Keyword arguments of ``multilabel_f1`` for a named rule."""
    if name not in F1_RULES:
        raise UnknownNameError("F1 rule", name, list(F1_RULES))
    return dict(F1_RULES[name])


def _check_pair(scores: object, targets: object, difficult: str = "ignore") -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets)
    if s.ndim != 2 or t.shape != s.shape:
        raise BadInputError(f"scores and targets must both be (N, C) arrays of the same shape, got {s.shape} and "
                            f"{t.shape}")
    if not np.isfinite(s).all():
        raise BadInputError("scores contain NaN or inf values")
    if not np.isin(t, (-1, 0, 1)).all():
        raise BadInputError("targets must hold 0 (absent), 1 (present) or -1 (difficult: ignore or negative)")
    if difficult not in DIFFICULT:
        raise UnknownNameError("difficult-entry rule", difficult, DIFFICULT)
    t = t.astype(np.int64)
    if difficult == "negative":
        t = np.where(t == -1, 0, t)
    return s, t


def evaluated_classes(targets: object, difficult: str = "ignore") -> np.ndarray:
    """Boolean (C,): the classes every metric is computed over (those with at least one positive)."""
    t = np.asarray(targets)
    _, t = _check_pair(np.zeros(t.shape), t, difficult)
    return (t == 1).any(0)


def top1_accuracy(scores_or_predictions: object, labels: object) -> float:
    """Fraction of samples whose arg-max score (or given predicted label, for a 1-D input) equals the label."""
    x = np.asarray(scores_or_predictions)
    y = np.asarray(labels)
    pred = x.argmax(1) if x.ndim == 2 else x
    if pred.shape != y.shape or y.ndim != 1 or len(y) == 0:
        raise BadInputError(f"need (N, C) scores or (N,) predictions and (N,) labels, got {x.shape} and {y.shape}")
    return float(np.mean(pred == y))


def average_precision(scores: object, targets: object) -> float:
    """AP of one class (1-D scores and 0/1 targets); NaN if there is no positive."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(targets).ravel().astype(np.int64)
    if s.shape != t.shape:
        raise BadInputError(f"scores {s.shape} and targets {t.shape} differ in length")
    n_pos = int((t == 1).sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    tp = np.cumsum(t == 1)
    fp = np.cumsum(t != 1)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the end of each group of tied scores
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_class_ap(scores: object, targets: object, difficult: str = "ignore") -> np.ndarray:
    """AP per class (C,), NaN for classes without a positive; -1 entries per ``difficult``."""
    s, t = _check_pair(scores, targets, difficult)
    out = np.empty(s.shape[1])
    for c in range(s.shape[1]):
        keep = t[:, c] >= 0
        out[c] = average_precision(s[keep, c], t[keep, c])
    return out


def mean_average_precision(scores: object, targets: object, difficult: str = "ignore") -> float:
    """mAP: the mean AP over the classes that have at least one positive (``evaluated_classes``)."""
    ap = per_class_ap(scores, targets, difficult)
    if np.isnan(ap).all():
        raise BadInputError("no class has a positive target: mAP is undefined")
    return float(np.nanmean(ap))


def _predictions(s: np.ndarray, threshold: float | None, top_k: int | None,
                 min_score: float | None = None) -> np.ndarray:
    if (threshold is None) == (top_k is None):
        raise BadInputError("give exactly one of threshold= (score >= threshold) or top_k= (k best per image)")
    if top_k is not None:
        if not 1 <= top_k <= s.shape[1]:
            raise BadInputError(f"top_k must be in 1..{s.shape[1]}, got {top_k}")
        pred = np.zeros(s.shape, dtype=bool)
        idx = np.argsort(-s, axis=1, kind="mergesort")[:, :top_k]  # ties: the lower class index first
        np.put_along_axis(pred, idx, True, axis=1)
        return pred & (s >= min_score) if min_score is not None else pred
    if min_score is not None:
        raise BadInputError("min_score= goes with top_k= (a threshold rule already has its own minimum)")
    return s >= threshold


def multilabel_f1(scores: object, targets: object, threshold: float | None = None, top_k: int | None = None,
                  min_score: float | None = None, difficult: str = "ignore") -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 over the classes with a positive (module docstring: the conventions)."""
    s, t = _check_pair(scores, targets, difficult)
    pred = _predictions(s, threshold, top_k, min_score)
    cols = (t == 1).any(0)  # the evaluated classes: the same set as mAP's
    if not cols.any():
        raise BadInputError("no class has a positive target: CF1 and OF1 are undefined")
    pred, t = pred[:, cols], t[:, cols]
    valid = t >= 0
    pos = t == 1
    tp = (pred & pos).sum(0).astype(np.float64)
    n_pred = (pred & valid).sum(0).astype(np.float64)
    n_pos = pos.sum(0).astype(np.float64)
    cp = float(np.mean(np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)))
    cr = float(np.mean(tp / n_pos))
    op = float(tp.sum() / n_pred.sum()) if n_pred.sum() else 0.0
    orr = float(tp.sum() / n_pos.sum())

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    return {"CP": cp, "CR": cr, "CF1": f1(cp, cr), "OP": op, "OR": orr, "OF1": f1(op, orr)}


def multilabel_report(scores: object, targets: object, rule: str | None = "top3", threshold: float | None = None,
                      difficult: str = "ignore") -> dict[str, float]:
    """mAP plus CP, CR, CF1, OP, OR, OF1 under a named rule of ``F1_RULES`` (or at ``threshold``)."""
    kw = {"threshold": threshold} if threshold is not None else f1_rule(rule or "top3")
    out = {"mAP": mean_average_precision(scores, targets, difficult)}
    out.update(multilabel_f1(scores, targets, difficult=difficult, **kw))
    return out


def bootstrap_interval(correct: object, baseline: object | None = None, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> dict[str, float]:
    """Accuracy (or, with ``baseline``, the paired accuracy difference ``correct - baseline``) with a percentile
    bootstrap interval over test images: the same resampled images score both methods, so the interval of a
    difference is not widened by the images' own difficulty. ``correct``: 0/1 per test image."""
    a = np.asarray(correct, dtype=np.float64).ravel()
    if a.size == 0:
        raise BadInputError("bootstrap_interval: no test images")
    b = a if baseline is None else np.asarray(baseline, dtype=np.float64).ravel()
    if b.shape != a.shape:
        raise BadInputError(f"bootstrap_interval: {a.size} images but the baseline has {b.size}")
    d = a if baseline is None else a - b
    if not 0 < level < 1:
        raise BadInputError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for i in range(0, n_boot, 256):  # resampling in blocks keeps memory small on 10,000 images
        idx = rng.integers(0, d.size, (min(256, n_boot - i), d.size))
        means[i:i + len(idx)] = d[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"estimate": float(d.mean()), "low": float(lo), "high": float(hi), "level": level, "n_boot": n_boot,
            "n": int(d.size)}
