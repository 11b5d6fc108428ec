"""Autograder for assignment 1 (multi-scale fusion): compared with lgclip_core.multiscale."""

from __future__ import annotations

import numpy as np
import pytest

from lgclip_core.assignments import load_assignment
from lgclip_core.multiscale import MultiScaleEncoder, fusion_weights


@pytest.fixture(scope="module")
def nb():
    return load_assignment("01_multiscale_fusion")


def unit_features(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    f = rng.standard_normal(shape).astype(np.float32)
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


@pytest.mark.parametrize("n_scales", [1, 2, 3, 5, 10, 12])
def test_fusion_weights_match_reference(nb, n_scales):
    w = np.asarray(nb.fusion_weights(n_scales), dtype=np.float64)
    assert w.shape == (n_scales,)
    np.testing.assert_allclose(w, fusion_weights(n_scales), rtol=1e-9, atol=1e-12)


def test_fusion_weights_for_ten_scales_are_s_over_55(nb):
    np.testing.assert_allclose(np.asarray(nb.fusion_weights(10)) * 55, np.arange(1, 11), rtol=1e-9)


def test_fusion_weights_reject_no_scale(nb):
    with pytest.raises(ValueError):
        nb.fusion_weights(0)


@pytest.mark.parametrize("n_scales", [1, 4, 10])
def test_crop_area_fractions(nb, n_scales):
    a = np.asarray(nb.crop_area_fractions(n_scales), dtype=np.float64)
    np.testing.assert_allclose(a, np.arange(1, n_scales + 1) / n_scales, rtol=1e-12)
    assert a[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fuse_all_scales_matches_multiscale_encoder(nb, seed):
    rng = np.random.default_rng(seed)
    n_scales, n, d = 10, int(rng.integers(1, 20)), int(rng.integers(2, 64))
    per_scale = unit_features(rng, (n_scales, n, d))
    reference = MultiScaleEncoder(None, n_scales=n_scales).fuse(per_scale)
    got = np.asarray(nb.fuse(per_scale))
    assert got.shape == (n, d)
    np.testing.assert_allclose(got, reference, atol=1e-5)


@pytest.mark.parametrize("scales", [[10], [8, 9, 10], [6, 7, 8, 9, 10], [1, 5, 10]])
def test_fuse_subset_of_scales(nb, scales):
    rng = np.random.default_rng(len(scales))
    per_scale = unit_features(rng, (len(scales), 7, 16))
    reference = MultiScaleEncoder(None, n_scales=10, scales=scales).fuse(per_scale)
    np.testing.assert_allclose(np.asarray(nb.fuse(per_scale, scales)), reference, atol=1e-5)


def test_fused_features_have_unit_length(nb):
    per_scale = unit_features(np.random.default_rng(3), (10, 25, 32))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(nb.fuse(per_scale)), axis=1), 1.0, atol=1e-6)
