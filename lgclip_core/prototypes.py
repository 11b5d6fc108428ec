"""Prototype classifiers on plain feature arrays (scikit-learn estimators).

LGCLIP's classifier: a class prototype is the mean of that class's (generated-image) features; a test feature is
assigned to the most similar prototype (cosine similarity; ``normalize_prototypes=False`` gives the authors'
released score, the dot product with the unnormalised mean). ``n_prototypes > 1`` keeps several prototypes per
class (k-means within the class) and scores a class by its best prototype; ``HybridClassifier`` adds text
zero-shot scores to image-prototype scores and ``PseudoLabelClassifier`` self-trains on unlabelled images (both
beyond the paper; reported next to it, never instead of it).

``center=True`` (beyond the paper) removes each domain's mean before comparing: prototypes are built from
generated features minus the generated mean, and a batch of test features is compared after subtracting ITS
mean. Generated and real images sit in different regions of feature space; subtracting the shared offset lets
the cosine compare what differs between classes. It is transductive — a prediction depends on the batch it
comes with (use whole test sets, not single images) — but uses no label.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .errors import BadInputError, check_class_names


def _check_classes(classes: np.ndarray | list) -> np.ndarray:
    """The estimator's ``classes`` checked like every other entry point: names with ``check_class_names`` (empty,
    blank or duplicate names are refused), other labels (class indices) for exact duplicates."""
    listed = list(np.asarray(classes).tolist())
    if listed and all(isinstance(c, str) for c in listed):
        check_class_names(listed)
    elif len(set(listed)) != len(listed):
        dup = next(c for c in listed if listed.count(c) > 1)
        raise BadInputError(f"duplicate class label {dup!r} in `classes`; every class must be listed once")
    return np.asarray(classes)


def l2n(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_logistic_regression(X: np.ndarray, y: np.ndarray, C: float = 1.0, max_iter: int = 1000):
    """scikit-learn's LogisticRegression (lbfgs) fitted with one BLAS thread: its products of a few thousand
    rows with K columns run ~3x faster on one thread than on two on a 2-core CPU (and much faster still where
    the process runs at real-time priority, where OpenBLAS's spinning threads starve each other)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return LogisticRegression(C=C, max_iter=max_iter).fit(X, y)


def _check_features(x: object, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise BadInputError(f"{what} must be a 2-D array (n_samples, n_features), got shape {x.shape}")
    if len(x) == 0:
        raise BadInputError(f"{what} is empty: pass at least one feature vector")
    if not np.isfinite(x).all():
        raise BadInputError(f"{what} contains NaN or inf values")
    return x


class PrototypeClassifier(ClassifierMixin, BaseEstimator):
    """Nearest-prototype classifier with cosine similarity.

    Parameters
    ----------
    n_prototypes: prototypes per class (1 = the class mean, as in LGCLIP; >1 = k-means centroids).
    classes: the full list of class labels to expect; a listed class with no training sample is an error
        (a class the generator produced no image for cannot be predicted).
    temperature: softmax temperature for ``predict_proba`` (CLIP's 0.01).
    random_state: seeds k-means.
    center: subtract the training features' mean before building prototypes and each predicted batch's own
        mean before comparing (domain centering, transductive; see the module docstring).
    normalize_prototypes: True (ours) L2-normalises each prototype, so a class scores the cosine; False keeps
        the mean of the L2-normalised training features as it is, so a class scores ||m_c|| * cos — the
        authors' released code (LG-CLIP mega.py: ``torch.mean(gen_f, dim=1)`` then ``test_f @ prototypes.T``);
        a class whose images agree with each other (longer mean) is favoured.
    """

    def __init__(self, n_prototypes: int = 1, classes: np.ndarray | list | None = None,
                 temperature: float = 0.01, random_state: int = 0, center: bool = False,
                 normalize_prototypes: bool = True):
        self.n_prototypes = n_prototypes
        self.classes = classes
        self.temperature = temperature
        self.random_state = random_state
        self.center = center
        self.normalize_prototypes = normalize_prototypes

    def fit(self, X: np.ndarray, y: np.ndarray) -> PrototypeClassifier:
        X = l2n(_check_features(X, "X"))
        if self.center:
            X = l2n(X - X.mean(0))
        y = np.asarray(y)
        if len(y) != len(X):
            raise BadInputError(f"X has {len(X)} rows but y has {len(y)} labels")
        classes = np.unique(y) if self.classes is None else _check_classes(self.classes)
        if len(classes) < 2:
            raise BadInputError(f"{len(classes)} class(es) {classes.tolist()}: a classifier needs at least 2 "
                                "(add another class, e.g. a 'background' or 'other' class)")
        missing = [c for c in classes if not np.any(y == c)]
        if missing:
            raise BadInputError(f"class(es) {missing} have zero training samples (zero generated images?); "
                                "generate images for every class or drop the class from `classes`")
        extra = sorted(set(np.unique(y).tolist()) - set(classes.tolist()))
        if extra:
            raise BadInputError(f"labels {extra} are not in `classes`")
        protos, owners = [], []
        for k, c in enumerate(classes):
            xc = X[y == c]
            m = min(self.n_prototypes, len(xc))
            if m <= 1:
                centers = xc.mean(0, keepdims=True)
            else:
                from sklearn.cluster import KMeans

                centers = KMeans(m, n_init=4, random_state=self.random_state).fit(xc).cluster_centers_
            protos.append(l2n(centers) if self.normalize_prototypes else np.asarray(centers, np.float32))
            owners += [k] * len(centers)
        self.classes_ = classes
        self.prototypes_ = np.concatenate(protos).astype(np.float32)
        self.prototype_class_ = np.asarray(owners)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Similarity of each sample to each class (its best prototype): (N, n_classes). The cosine, or with
        ``normalize_prototypes=False`` the dot product of the L2-normalised sample with the unnormalised mean."""
        check_is_fitted(self, "prototypes_")
        X = _check_features(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise BadInputError(f"X has {X.shape[1]} features but the prototypes have {self.n_features_in_}: "
                                "encode test and prototype images with the same encoder")
        X = l2n(X)
        if self.center:
            if len(X) < 2:
                raise BadInputError("center=True compares a batch after subtracting its mean: pass the whole "
                                    "test set (at least 2 samples), or use center=False for single images")
            X = l2n(X - X.mean(0))
        sims = X @ self.prototypes_.T
        out = np.full((len(X), len(self.classes_)), -np.inf, np.float32)
        for k in range(len(self.classes_)):
            out[:, k] = sims[:, self.prototype_class_ == k].max(1)
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self.decision_function(X) / self.temperature)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(1)]


def standardize_scores(s: np.ndarray) -> np.ndarray:
    """Per-sample z-scores of class similarities, so scores from different spaces can be added."""
    s = np.asarray(s, dtype=np.float32)
    return (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True).clip(1e-6)


class HybridClassifier(ClassifierMixin, BaseEstimator):
    """Image prototypes + text zero-shot: score = w * z(image sims) + (1 - w) * z(text sims).

    ``fit(X_proto, y)`` as ``PrototypeClassifier``; ``text_scores`` (N, K) are passed at prediction time
    because the text side lives in another space (CLIP's joint space, or our LiT projections).
    """

    def __init__(self, image_weight: float = 0.5, n_prototypes: int = 1, classes: np.ndarray | list | None = None):
        self.image_weight = image_weight
        self.n_prototypes = n_prototypes
        self.classes = classes

    def fit(self, X: np.ndarray, y: np.ndarray) -> HybridClassifier:
        if not 0.0 <= self.image_weight <= 1.0:
            raise BadInputError(f"image_weight must be in [0, 1], got {self.image_weight}")
        self.prototypes_ = PrototypeClassifier(self.n_prototypes, self.classes).fit(X, y)
        self.classes_ = self.prototypes_.classes_
        return self

    def decision_function(self, X: np.ndarray, text_scores: np.ndarray) -> np.ndarray:
        img = self.prototypes_.decision_function(X)
        text = np.asarray(text_scores, dtype=np.float32)
        if text.shape != img.shape:
            raise BadInputError(f"text_scores has shape {text.shape}, expected {img.shape} (samples x classes)")
        return self.image_weight * standardize_scores(img) + (1 - self.image_weight) * standardize_scores(text)

    def predict(self, X: np.ndarray, text_scores: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X, text_scores).argmax(1)]

    def score(self, X: np.ndarray, y: np.ndarray, text_scores: np.ndarray | None = None) -> float:  # type: ignore[override]
        if text_scores is None:
            raise BadInputError("HybridClassifier.score needs text_scores")
        return float(np.mean(self.predict(X, text_scores) == np.asarray(y)))


class PseudoLabelClassifier(ClassifierMixin, BaseEstimator):
    """Self-training on unlabelled images (beyond the paper): a zero-shot classifier's scores label a pool of
    unlabelled images, and a logistic regression learns from the most confident of them.

    ``fit(X, scores)``: ``X`` (N, D) the pool's features, ``scores`` (N, K) the zero-shot scores of the same images
    (e.g. the hybrid's). Each image gets its best class as a pseudo-label; per class the ``confident_fraction * N /
    K`` images with the highest per-image z-scored score for that class (all when fewer) train the regression.
    No label of the pool is read; the class structure of the real images is what the pool adds.
    """

    def __init__(self, confident_fraction: float = 0.4, C: float = 1.0, max_iter: int = 1000):
        self.confident_fraction = confident_fraction
        self.C = C
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, scores: np.ndarray) -> PseudoLabelClassifier:
        X = l2n(_check_features(X, "X"))
        scores = _check_features(scores, "scores")
        if len(scores) != len(X):
            raise BadInputError(f"X has {len(X)} rows but scores has {len(scores)}: one row of class scores per image")
        if not 0.0 < self.confident_fraction <= 1.0:
            raise BadInputError(f"confident_fraction must be in (0, 1], got {self.confident_fraction}")
        k = scores.shape[1]
        z, pseudo = standardize_scores(scores), scores.argmax(1)
        per_class = max(1, int(self.confident_fraction * len(X) / k))
        keep = []
        for c in range(k):
            rows = np.flatnonzero(pseudo == c)
            if len(rows) == 0:
                raise BadInputError(f"no pool image is pseudo-labelled as class {c}: the zero-shot scores never "
                                    "pick it; use a larger pool of unlabelled images")
            keep.append(rows[np.argsort(-z[rows, c], kind="stable")[:per_class]])
        keep_rows = np.concatenate(keep)
        self.model_ = fit_logistic_regression(X[keep_rows], pseudo[keep_rows], self.C, self.max_iter)
        self.classes_ = np.arange(k)
        self.n_pseudo_labelled_ = len(keep_rows)
        self.pseudo_labels_ = pseudo
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.decision_function(l2n(_check_features(X, "X")))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(1)]
