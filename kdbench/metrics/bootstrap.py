"""Bootstrap confidence intervals for any scalar metric of (probs, labels).

Resampling is seeded (``numpy.random.default_rng(seed)``) and vectorised: the n resamples are
drawn once per (N, n, seed) as multinomial counts W ``(n, N)`` (W_ri = how often example i is
in resample r; the resample index matrix in count form) and reused by every metric and every
split of that size. Accuracy, NLL, Brier and ECE (equal-width bins) are decomposable: each is a
reduction of per-bin or per-example sums, so all of them come from ONE matrix product
W @ A with the per-example statistics A ``(N, m)`` side by side — correctness, −log p_y,
Σ_k (p_k − y_k)², and for ECE the gap correct_i − conf_i one-hot in its bin
(ECE_r = Σ_b |Σ_{i∈b} W_ri (correct_i − conf_i)| / N; empty bins dropped). Any other metric is
called on each resample. The interval is the percentile interval [q_{(1−level)/2},
q_{(1+level)/2}] (Efron & Tibshirani 1993), ``numpy.quantile``'s linear interpolation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from . import calibration, scores
from .validation import check_probs

FAST = ("accuracy", "nll", "brier", "ece")


def _columns(names: tuple[str, ...], p: np.ndarray, y: np.ndarray, conf: np.ndarray,
             correct: np.ndarray, n_bins: int):
    """Per-example statistics A (N, m) and, per name, a reducer of the column block of W @ A
    (validated arrays; ``conf``/``correct`` from `calibration.top_label`)."""
    n = len(y)
    cols, reducers = [], {}
    p_true = p[np.arange(n), y] if ("nll" in names or "brier" in names) else None
    for name in names:
        start = sum(c.shape[1] for c in cols)
        if name == "accuracy":
            cols.append(correct[:, None])
        elif name == "nll":
            cols.append(-np.log(np.clip(p_true, scores.EPS, None))[:, None])
        elif name == "brier":
            cols.append((np.einsum("ij,ij->i", p, p) - 2 * p_true + 1)[:, None])
        elif name == "ece":
            idx = calibration.bin_index(conf, n_bins)
            full, idx = np.unique(idx, return_inverse=True)  # non-empty bins only
            gap = np.zeros((n, len(full)))
            gap[np.arange(n), idx] = correct - conf
            cols.append(gap)
            stop = start + len(full)
            reducers[name] = lambda s, a=start, b=stop: np.abs(s[:, a:b]).sum(1) / n
            continue
        reducers[name] = lambda s, a=start: s[:, a] / n
    return np.concatenate(cols, 1), reducers


@lru_cache(maxsize=8)
def _weights(m: int, n: int, seed: int) -> np.ndarray:
    """Multinomial resample counts ``(n, m)``, cached: splits of equal size share them."""
    w = np.random.default_rng(seed).multinomial(m, np.full(m, 1.0 / m), size=n).astype(float)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=8)
def _weights_t(m: int, n: int, seed: int) -> np.ndarray:
    """``_weights(m, n, seed).T`` stored contiguous ``(m, n)``: A.T @ W.T is about twice as
    fast as W @ A for the few columns of A here (OpenBLAS, measured)."""
    w = np.ascontiguousarray(_weights(m, n, seed).T)
    w.setflags(write=False)
    return w


def check_bootstrap_options(n: int, level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); found {level}")
    if n < 2:
        raise ValueError(f"n must be >= 2 resamples; found {n}")


def bootstrap_set(p: np.ndarray, y: np.ndarray, conf: np.ndarray, correct: np.ndarray, *,
                  names: tuple[str, ...] = FAST, n: int = 1000, level: float = 0.95,
                  seed: int = 0, n_bins: int = 15) -> dict[str, tuple[float, float]]:
    """Percentile intervals of several decomposable metrics (``FAST``) from one W @ A, on
    arrays already validated by `check_probs` (no check here: the fused evaluation path).
    Each interval equals ``bootstrap_ci(<metric>, p, y, n=n, level=level, seed=seed)``."""
    a, reducers = _columns(names, p, y, conf, correct, n_bins)
    s = (np.ascontiguousarray(a.T) @ _weights_t(len(y), n, seed)).T  # = W @ A, (n, m)
    values = np.stack([reducers[name](s) for name in names], 1)
    q = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {name: (float(q[0, j]), float(q[1, j])) for j, name in enumerate(names)}


_FAST_FUNCTIONS = {scores.accuracy: "accuracy", scores.nll: "nll", scores.brier: "brier",
                   calibration.ece: "ece"}


def bootstrap_ci(metric: Callable[..., float], probs: Any, labels: Any, *, n: int = 1000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` of ``metric(probs, labels)``.

    >>> import numpy as np
    >>> from kdbench.metrics import accuracy, bootstrap_ci
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> low, high = bootstrap_ci(accuracy, p, np.array([0, 1, 1, 1]), n=200)
    >>> 0.0 <= low <= 0.75 <= high <= 1.0
    True
    """
    check_bootstrap_options(n, level)
    p, y = check_probs(probs, labels)
    name = _FAST_FUNCTIONS.get(metric)
    if name is not None:
        conf, correct = calibration.top_label(p, y)
        return bootstrap_set(p, y, conf, correct, names=(name,), n=n, level=level, seed=seed)[name]
    m = len(y)
    w = _weights(m, n, seed)
    idx = [np.repeat(np.arange(m), row.astype(int)) for row in w]
    values = np.array([metric(p[i], y[i]) for i in idx])
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
