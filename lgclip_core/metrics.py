"""Classification metrics on plain arrays: top-1 accuracy (LGCLIP), mAP, CF1 and OF1 (T2I-PAL).

Plain numpy in, Python floats out, so that every method of the book is scored by the same few lines.
Conventions (the multi-label literature's, e.g. ML-GCN, TaI-DPT, DualCoOp):

* ``scores`` is ``(N, C)``: any real-valued score, higher = more likely; ``targets`` is ``(N, C)`` in
  {0, 1}, with -1 marking an entry to ignore (VOC's "difficult"-only objects).
* AP of one class is scikit-learn's ``average_precision_score``: sum over distinct thresholds of
  (R_n - R_{n-1}) * P_n, without interpolation; tied scores form one threshold. mAP is the mean over the
  classes that have at least one positive (a class without positives has no defined AP).
* CF1 is the harmonic mean of the per-class precision and recall averaged over classes (CP, CR); OF1 the F1
  of the counts pooled over all classes (OP, OR). A prediction is positive when its score is at least
  ``threshold``, or, with ``top_k``, when it is one of the image's ``top_k`` highest scores.
"""

from __future__ import annotations

import numpy as np

from .errors import BadInputError

__all__ = ["top1_accuracy", "average_precision", "per_class_ap", "mean_average_precision", "multilabel_f1",
           "multilabel_report"]


def _check_pair(scores: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets)
    if s.ndim != 2 or t.shape != s.shape:
        raise BadInputError(f"scores and targets must both be (N, C) arrays of the same shape, got {s.shape} and "
                            f"{t.shape}")
    if not np.isfinite(s).all():
        raise BadInputError("scores contain NaN or inf values")
    if not np.isin(t, (-1, 0, 1)).all():
        raise BadInputError("targets must hold 0 (absent), 1 (present) or -1 (ignore)")
    return s, t.astype(np.int64)


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


def per_class_ap(scores: object, targets: object) -> np.ndarray:
    """AP per class (C,), NaN for classes without a positive; entries marked -1 are left out of their class."""
    s, t = _check_pair(scores, targets)
    out = np.empty(s.shape[1])
    for c in range(s.shape[1]):
        keep = t[:, c] >= 0
        out[c] = average_precision(s[keep, c], t[keep, c])
    return out


def mean_average_precision(scores: object, targets: object) -> float:
    """mAP: the mean AP over classes that have at least one positive."""
    ap = per_class_ap(scores, targets)
    if np.isnan(ap).all():
        raise BadInputError("no class has a positive target: mAP is undefined")
    return float(np.nanmean(ap))


def _predictions(s: np.ndarray, threshold: float | None, top_k: int | None) -> np.ndarray:
    if (threshold is None) == (top_k is None):
        raise BadInputError("give exactly one of threshold= (score >= threshold) or top_k= (k best per image)")
    if top_k is not None:
        if not 1 <= top_k <= s.shape[1]:
            raise BadInputError(f"top_k must be in 1..{s.shape[1]}, got {top_k}")
        pred = np.zeros(s.shape, dtype=bool)
        idx = np.argsort(-s, axis=1, kind="mergesort")[:, :top_k]
        np.put_along_axis(pred, idx, True, axis=1)
        return pred
    return s >= threshold


def multilabel_f1(scores: object, targets: object, threshold: float | None = None,
                  top_k: int | None = None) -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 at a threshold or top-k rule (a 0/0 precision or recall counts as 0)."""
    s, t = _check_pair(scores, targets)
    pred = _predictions(s, threshold, top_k)
    valid = t >= 0
    pos = (t == 1) & valid
    tp = (pred & pos).sum(0).astype(np.float64)
    n_pred = (pred & valid).sum(0).astype(np.float64)
    n_pos = pos.sum(0).astype(np.float64)
    cp = float(np.mean(np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)))
    cr = float(np.mean(np.divide(tp, n_pos, out=np.zeros_like(tp), where=n_pos > 0)))
    op = float(tp.sum() / n_pred.sum()) if n_pred.sum() else 0.0
    orr = float(tp.sum() / n_pos.sum()) if n_pos.sum() else 0.0

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    return {"CP": cp, "CR": cr, "CF1": f1(cp, cr), "OP": op, "OR": orr, "OF1": f1(op, orr)}


def multilabel_report(scores: object, targets: object, threshold: float | None = None,
                      top_k: int | None = 3) -> dict[str, float]:
    """mAP plus CF1/OF1 (default rule: the top-3 scores of each image, as TaI-DPT/DualCoOp report on COCO)."""
    out = {"mAP": mean_average_precision(scores, targets)}
    out.update(multilabel_f1(scores, targets, threshold=threshold, top_k=None if threshold is not None else top_k))
    return out
