"""Generator metrics on image features: classification accuracy score (CAS), Frechet distance, throughput.

Also prompt sensitivity; ``experiments/generator.py`` computes the features with the classifier's encoder.

CAS: a logistic regression trained on features of REAL train images classifies generated images as their
prompt's class. FD(generated, test) is compared with FD(train, test), the floor for the same sample size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg

from ..experiments.common import machine_load


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def measure_throughput(gen: Any, prompts: list[str], first_seed: int = 10_000) -> tuple[float, dict[str, Any]]:
    """Images per second of ``gen.generate`` on ``prompts`` (after a 10-image warm-up), and the conditions.

    A number measured on a busy machine says so: the load before and after the timed call, and how many CPU
    seconds this process got per wall second (about torch_threads when it had the cores to itself).
    """
    gen.generate(prompts[:10], list(range(10)))  # warm-up
    load_before = machine_load()
    t0, c0 = time.perf_counter(), time.process_time()
    gen.generate(prompts, list(range(first_seed, first_seed + len(prompts))))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    load_after = machine_load()
    return len(prompts) / wall, {
        "load_before": load_before, "load_after": load_after, "wall_s": round(wall, 3),
        "process_cpu_per_wall": round(cpu / max(wall, 1e-9), 2),
        "busy": bool(load_before["busy"] or load_after["busy"]),
        "device": str(getattr(getattr(gen, "pipe", None), "device", "unknown"))}


def cas_classifier(f_train: np.ndarray, y_train: np.ndarray) -> Any:
    """CAS's judge: a logistic regression on features of REAL train images (scores generated images by class)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000).fit(f_train, y_train)


def score_generated(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, y_test: np.ndarray,
                    f_tmpl: np.ndarray, f_llm: np.ndarray, labels: np.ndarray, names: Sequence[str],
                    seed: int) -> dict[str, Any]:
    """CAS, FD and prompt sensitivity from features: real train/test, generated from the template and from the
    LLM's first description (same seeds, so ``f_tmpl[i]`` and ``f_llm[i]`` differ only in their prompt)."""
    k = len(names)
    clf = cas_classifier(f_train, y_train)
    cas = float(clf.score(f_tmpl, labels))
    cas_llm = float(clf.score(f_llm, labels))
    real_acc = float(clf.score(f_test, y_test))
    n = len(f_tmpl)
    rng = np.random.default_rng(seed)
    train_sub = f_train[rng.permutation(len(f_train))[:n]]
    fd_gen = frechet_distance(f_tmpl, f_test)
    fd_floor = frechet_distance(train_sub, f_test)
    sens = float(np.mean(1.0 - np.sum(f_tmpl * f_llm, axis=1)))
    per_class_cas = {names[c]: float(np.mean(clf.predict(f_tmpl[labels == c]) == c)) for c in range(k)}
    return {"cas": cas, "cas_llm_prompts": cas_llm, "cas_per_class": per_class_cas,
            "real_test_accuracy_of_cas_classifier": real_acc,
            "fd_generated_vs_test": fd_gen, "fd_train_vs_test": fd_floor, "prompt_sensitivity": sens,
            "n_generated": int(n)}
