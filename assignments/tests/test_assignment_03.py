"""Autograder for assignment 3 (mAP and ranking loss): compared with scikit-learn, lgclip_core.metrics and
lgclip_core.t2ipal.losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from lgclip_core.assignments import load_assignment
from lgclip_core.metrics import mean_average_precision
from lgclip_core.t2ipal.losses import ranking_loss


@pytest.fixture(scope="module")
def nb():
    return load_assignment("03_map_and_loss")


def random_problem(seed: int, n: int = 60, c: int = 8, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.int64)
    targets[0, :] = 1  # every class has a positive
    scores = targets * rng.uniform(0, 2) + rng.standard_normal((n, c))
    if decimals is not None:
        scores = np.round(scores, decimals)  # many ties
    return scores, targets


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_sklearn(nb, seed):
    scores, targets = random_problem(seed)
    for c in range(scores.shape[1]):
        got = nb.average_precision(scores[:, c], targets[:, c])
        assert got == pytest.approx(average_precision_score(targets[:, c], scores[:, c]), abs=1e-9)


@pytest.mark.parametrize("decimals", [0, 1])
def test_average_precision_with_ties(nb, decimals):
    scores, targets = random_problem(10 + decimals, decimals=decimals)
    for c in range(scores.shape[1]):
        got = nb.average_precision(scores[:, c], targets[:, c])
        assert got == pytest.approx(average_precision_score(targets[:, c], scores[:, c]), abs=1e-9)


def test_average_precision_without_positive_is_nan(nb):
    assert math.isnan(nb.average_precision(np.array([0.3, 0.2, 0.9]), np.array([0, 0, 0])))


def test_average_precision_perfect_and_worst(nb):
    t = np.array([1, 1, 0, 0, 0])
    assert nb.average_precision(np.array([5.0, 4, 3, 2, 1]), t) == pytest.approx(1.0)
    assert nb.average_precision(np.array([1.0, 2, 3, 4, 5]), t) == pytest.approx(
        average_precision_score(t, [1.0, 2, 3, 4, 5]))


@pytest.mark.parametrize("seed", range(3))
def test_map_matches_reference(nb, seed):
    scores, targets = random_problem(20 + seed, decimals=1 if seed == 2 else None)
    targets[:, -1] = 0  # a class without a positive is left out of the mean
    assert nb.mean_average_precision(scores, targets) == pytest.approx(mean_average_precision(scores, targets),
                                                                       abs=1e-9)


def logits_and_targets(seed: int, b: int = 16, c: int = 6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g, dtype=torch.float64)
    targets = (torch.rand(b, c, generator=g) < 0.4).long()
    targets[0] = 0  # no positive: does not count
    targets[1] = 1  # no negative: does not count
    return logits, targets


@pytest.mark.parametrize("seed,margin", [(0, 1.0), (1, 1.0), (2, 0.5), (3, 2.0)])
def test_ranking_loss_value(nb, seed, margin):
    logits, targets = logits_and_targets(seed)
    got = nb.ranking_loss(logits, targets, margin=margin)
    assert torch.is_tensor(got) and got.ndim == 0
    assert float(got) == pytest.approx(float(ranking_loss(logits, targets, margin=margin)), abs=1e-9)


@pytest.mark.parametrize("seed", [4, 5])
def test_ranking_loss_gradient(nb, seed):
    logits, targets = logits_and_targets(seed)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    nb.ranking_loss(a, targets).backward()
    ranking_loss(b, targets).backward()
    assert a.grad is not None
    torch.testing.assert_close(a.grad, b.grad)


def test_ranking_loss_without_pairs_is_zero_and_differentiable(nb):
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    loss = nb.ranking_loss(logits, targets)
    assert float(loss) == 0.0
    loss.backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0
