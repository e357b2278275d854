"""Bootstrap confidence intervals for any scalar metric of (probs, labels).

Resampling is seeded (``numpy.random.default_rng(seed)``) and vectorised: the n resamples are
drawn once per (N, n, seed) as multinomial counts W ``(n, N)`` and reused. For accuracy, NLL, Brier and ECE (equal-width
bins) the resampled values come from one matrix product W @ per-example statistics; any other
metric is called on each resample. The interval is the percentile interval
[q_{(1−level)/2}, q_{(1+level)/2}] (Efron & Tibshirani 1993).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from . import calibration, scores
from .validation import check_probs


def _stats(metric: Callable, p: np.ndarray, y: np.ndarray):
    """Per-example statistics A (N, m) and a reducer of W @ A, for decomposable metrics."""
    n = len(y)
    rows = np.arange(n)
    if metric is scores.accuracy:
        return (p.argmax(1) == y)[:, None].astype(float), lambda s: s[:, 0] / n
    if metric is scores.nll:
        return -np.log(np.clip(p[rows, y], scores.EPS, None))[:, None], lambda s: s[:, 0] / n
    if metric is scores.brier:
        return ((p**2).sum(1) - 2 * p[rows, y] + 1)[:, None], lambda s: s[:, 0] / n
    if metric is calibration.ece:
        conf, correct = p.max(1), (p.argmax(1) == y).astype(float)
        idx = calibration.bin_index(conf, 15)
        onehot = np.zeros((n, 15))
        onehot[rows, idx] = 1.0
        a = np.concatenate([onehot * conf[:, None], onehot * correct[:, None]], 1)
        return a, lambda s: np.abs(s[:, 15:] - s[:, :15]).sum(1) / n
    return None


@lru_cache(maxsize=8)
def _weights(m: int, n: int, seed: int) -> np.ndarray:
    """Multinomial resample counts ``(n, m)``, cached: splits of equal size share them."""
    w = np.random.default_rng(seed).multinomial(m, np.full(m, 1.0 / m), size=n).astype(float)
    w.setflags(write=False)
    return w


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
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); found {level}")
    if n < 2:
        raise ValueError(f"n must be >= 2 resamples; found {n}")
    p, y = check_probs(probs, labels)
    m = len(y)
    w = _weights(m, n, seed)
    fast = _stats(metric, p, y)
    if fast is not None:
        a, reduce = fast
        values = reduce(w @ a)
    else:
        idx = [np.repeat(np.arange(m), row.astype(int)) for row in w]
        values = np.array([metric(p[i], y[i]) for i in idx])
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
