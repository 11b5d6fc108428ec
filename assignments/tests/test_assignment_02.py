"""Autograder for assignment 2 (nearest-prototype classifier): compared with lgclip_core.prototypes."""

from __future__ import annotations

import numpy as np
import pytest

from lgclip_core.assignments import load_assignment
from lgclip_core.prototypes import PrototypeClassifier


@pytest.fixture(scope="module")
def nb():
    return load_assignment("02_prototype_classifier")


def clustered(seed: int, n_classes: int = 5, per_class: int = 12, dim: int = 24):
    """Random features around random class centres (so that predictions are not all ties)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * 2
    y = np.repeat(np.arange(n_classes), per_class)
    X = centres[y] + rng.standard_normal((len(y), dim))
    perm = rng.permutation(len(y))
    return X[perm].astype(np.float32), y[perm], rng


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prototypes_match_reference(nb, seed):
    X, y, _ = clustered(seed)
    mine = nb.NearestPrototypeClassifier().fit(X, y)
    ref = PrototypeClassifier().fit(X, y)
    np.testing.assert_array_equal(np.asarray(mine.classes_), ref.classes_)
    np.testing.assert_allclose(np.asarray(mine.prototypes_), ref.prototypes_, atol=1e-5)


def test_fit_returns_self(nb):
    X, y, _ = clustered(4)
    clf = nb.NearestPrototypeClassifier()
    assert clf.fit(X, y) is clf


@pytest.mark.parametrize("seed", [0, 5])
def test_decision_function_and_predict_match_reference(nb, seed):
    X, y, rng = clustered(seed)
    X_test = rng.standard_normal((40, X.shape[1])).astype(np.float32) * 3
    mine = nb.NearestPrototypeClassifier().fit(X, y)
    ref = PrototypeClassifier().fit(X, y)
    scores = np.asarray(mine.decision_function(X_test))
    assert scores.shape == (40, 5)
    np.testing.assert_allclose(scores, ref.decision_function(X_test), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(mine.predict(X_test)), ref.predict(X_test))
    assert mine.score(X_test, ref.predict(X_test)) == pytest.approx(1.0)


def test_string_and_sparse_labels(nb):
    X, y, rng = clustered(7, n_classes=3)
    names = np.array(["shirt", "bag", "sneaker"])[y]
    mine = nb.NearestPrototypeClassifier().fit(X, names)
    ref = PrototypeClassifier().fit(X, names)
    np.testing.assert_array_equal(np.asarray(mine.classes_), ["bag", "shirt", "sneaker"])
    np.testing.assert_array_equal(np.asarray(mine.predict(X)), ref.predict(X))
    sparse = np.array([3, 42, 7])[y]
    got = np.asarray(nb.NearestPrototypeClassifier().fit(X, sparse).predict(X))
    np.testing.assert_array_equal(got, PrototypeClassifier().fit(X, sparse).predict(X))


def test_prototypes_ignore_feature_scale(nb):
    """Features are L2-normalised before averaging: rescaling one sample must not move its prototype."""
    X, y, _ = clustered(8)
    X2 = X.copy()
    X2[0] *= 100.0
    p1 = np.asarray(nb.NearestPrototypeClassifier().fit(X, y).prototypes_)
    p2 = np.asarray(nb.NearestPrototypeClassifier().fit(X2, y).prototypes_)
    np.testing.assert_allclose(p1, p2, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(p1, axis=1), 1.0, atol=1e-6)


def test_score_is_accuracy(nb):
    X, y, _ = clustered(9)
    clf = nb.NearestPrototypeClassifier().fit(X, y)
    flipped = y.copy()
    flipped[:6] = (flipped[:6] + 1) % 5
    expected = float(np.mean(np.asarray(clf.predict(X)) == flipped))
    assert clf.score(X, flipped) == pytest.approx(expected)
