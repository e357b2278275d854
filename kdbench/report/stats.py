"""The statistics behind every claim of the report, the leaderboard and the figures.

Conventions
-----------
* The unit of replication is the **seed**: a seed trains its own teachers and students
  (docs/design.md, "Seeds"), so the spread of a metric across seeds is the spread a reader
  would see on re-running the benchmark. Per-example bootstrap intervals (``ci_low`` /
  ``ci_high`` in ``metrics.csv``) only describe the finite test set of one run; they are
  shown, marked as such, only when there is a single seed.
* ``seed_interval``: the mean over seeds with a two-sided 95% Student-t interval,
  ``mean ± t_{0.975, n-1} · sd / sqrt(n)`` (sd with ddof = 1). With one seed the interval
  is undefined (NaN).
* ``paired_difference``: ``a − b`` per seed, over the seeds both have, then
  ``seed_interval`` of the differences (a paired t-interval). Pairing removes the
  seed-to-seed variation the two models share (same data order, same teacher).
* ``verdict``: a difference "beats" / "is worse than" only when its interval excludes 0;
  otherwise "no significant difference"; with one seed no seed-level claim is made.

NaN values (a failed job) are dropped before anything is computed; ``n`` counts what is left.

Reference: Student-t confidence interval for a mean (e.g. Wasserman, *All of Statistics*,
§10); paired comparisons across seeds as recommended by Bouthillier et al. 2021,
"Accounting for variance in machine learning benchmarks" (MLSys).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95

Verdict = Literal["better", "worse", "no significant difference", "single seed", "missing"]


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values,
                     dtype=float).ravel()
    return arr[np.isfinite(arr)]


def seed_interval(values: Iterable[float] | pd.Series, *, level: float = LEVEL
                  ) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)`` of per-seed values: the mean and its two-sided ``level``
    Student-t interval ``mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)`` (sd with ddof = 1).

    NaN values are dropped; with no value left all three are NaN and ``n = 0``; with one
    value ``lo = hi = NaN`` (no spread across seeds can be estimated).

    >>> seed_interval([1.0, 2.0, 3.0])  # doctest: +ELLIPSIS
    (2.0, -0.484..., 4.484..., 3)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), found {level}")
    v = _finite(values)
    n = int(v.size)
    if n == 0:
        return (float("nan"), float("nan"), float("nan"), 0)
    mean = float(v.mean())
    if n == 1:
        return (mean, float("nan"), float("nan"), 1)
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return (mean, mean - half, mean + half, n)


def paired_difference(a_by_seed: Mapping[int, float] | pd.Series,
                      b_by_seed: Mapping[int, float] | pd.Series, *, level: float = LEVEL
                      ) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)`` of the per-seed differences ``a[s] − b[s]`` over the seeds where
    both are finite, with the t-interval of `seed_interval` (a paired t-interval)."""
    a, b = pd.Series(a_by_seed, dtype=float), pd.Series(b_by_seed, dtype=float)
    common = a.index.intersection(b.index)
    diff = (a.loc[common] - b.loc[common]).to_numpy()
    return seed_interval(diff, level=level)


def verdict(mean: float, lo: float, hi: float, n: int, *, higher_is_better: bool) -> Verdict:
    """How ``a`` compares with ``b`` given ``paired_difference(a, b)``: "better" / "worse"
    only when the interval excludes 0, "no significant difference" when it contains 0,
    "single seed" with n = 1 (no seed-level claim), "missing" with n = 0."""
    if n == 0 or not np.isfinite(mean):
        return "missing"
    if n == 1 or not (np.isfinite(lo) and np.isfinite(hi)):
        return "single seed"
    if lo > 0 or hi < 0:
        return "better" if (lo > 0) == higher_is_better else "worse"
    return "no significant difference"


def half_width(lo: float, hi: float) -> float:
    """Half the width of an interval (NaN when either end is)."""
    return (hi - lo) / 2


def format_interval(mean: float, lo: float, hi: float, *, digits: int = 3,
                    signed: bool = False) -> str:
    """'0.123 [0.100, 0.146]' (or '+0.123 [...]' with ``signed``), '0.123' without an
    interval, '—' when the mean is missing. Minus signs are U+2212."""
    if mean is None or not np.isfinite(mean):
        return "—"
    f = f"{{:{'+' if signed else ''}.{digits}f}}"

    def g(v: float) -> str:
        return f.format(v).replace("-", "−")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return g(mean)
    return f"{g(mean)} [{g(lo)}, {g(hi)}]"
