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
* ``paired_t_pvalue``: the two-sided p-value of the paired t-test of the same differences,
  ``t = mean / (sd / sqrt(n))`` on ``n − 1`` degrees of freedom (as ``scipy.stats.ttest_rel``);
  with fewer than two seeds there is no test (NaN).
* ``two_level``: a paired difference whose uncertainty has two sources — the seeds (which
  networks were trained) and the test images (which examples were drawn; every seed and every
  corrupted split reuse the same test images, so this part does not average out over seeds).
  Variance of the mean difference = ``sd_seed² / n + var_example / N``: the first term from the
  per-seed differences as in ``paired_difference``; the second from the per-example
  differences averaged over the seeds, ``var_example`` their variance over the ``N`` examples
  (`kdbench.collect.example_pairs`). Interval ``mean ± t_{0.975, ν} · se`` and the two-sided
  t p-value on ν degrees of freedom, ν the Welch–Satterthwaite value for a sum of two variance
  estimates, ``ν = (A + B)² / (A²/(n − 1) + B²/(N − 1))`` with ``A = sd_seed²/n``,
  ``B = var_example/N`` (Satterthwaite 1946): ν = n − 1 when the seeds dominate, up to
  n − 1 + N − 1 when the examples do. The interval is never narrower, nor the p-value
  smaller, than those of the seed part alone (`paired_difference`): with few seeds the larger
  ν of an added, well-estimated example part could otherwise shrink the t quantile more than
  the part widens the standard error. The report uses it wherever the metric is
  a mean over examples (accuracy, NLL, Brier of the ID, corruption and shift families) and the
  results hold the per-example part; elsewhere (ECE, OOD AUROC: not means over examples) the
  interval is over seeds only, and the tables say which.
* ``holm``: Holm–Bonferroni adjusted p-values over one *family* of statements. The report's
  families are one metric (column) x one reference kind ("labels-only", "labels-only (TS)",
  "teacher", "teacher (TS)"): all students compared with that reference on that metric.
* ``verdict``: a difference "beats" / "is worse than" only when it is significant: with a
  (Holm-adjusted) p-value, when ``p < ALPHA``; without one, when its interval excludes 0;
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
ALPHA = 1 - LEVEL

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


def paired_t_pvalue(a_by_seed: Mapping[int, float] | pd.Series,
                    b_by_seed: Mapping[int, float] | pd.Series) -> float:
    """Two-sided p-value of the paired t-test of ``a − b`` over the seeds where both are
    finite (the test behind the interval of `paired_difference`; equals
    ``scipy.stats.ttest_rel(a, b).pvalue``). NaN with fewer than two paired seeds. With
    identical differences (sd = 0) the p-value is 0 when their mean is not 0, else 1."""
    a, b = pd.Series(a_by_seed, dtype=float), pd.Series(b_by_seed, dtype=float)
    common = a.index.intersection(b.index)
    return _t_pvalue(_finite((a.loc[common] - b.loc[common]).to_numpy()))


def _t_pvalue(diff: np.ndarray) -> float:
    n = int(diff.size)
    if n < 2:
        return float("nan")
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    if sd == 0 or not np.isfinite(sd):
        return 0.0 if mean != 0 else 1.0
    t = mean / (sd / np.sqrt(n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def two_level(a_by_seed: Mapping[int, float] | pd.Series, b_by_seed: Mapping[int, float] | pd.Series,
              var_example: float, n_examples: int, *, level: float = LEVEL
              ) -> tuple[float, float, float, int, float]:
    """``(mean, lo, hi, n, p)`` of the paired difference ``a − b`` over seeds and test
    examples (module docstring, ``two_level``): the seed part from the per-seed values, the
    example part ``var_example / n_examples``. With one seed, or a non-finite example part,
    the interval and p-value are those of `paired_difference` / `paired_t_pvalue` alone
    (NaN with one seed)."""
    a, b = pd.Series(a_by_seed, dtype=float), pd.Series(b_by_seed, dtype=float)
    common = a.index.intersection(b.index)
    diff = _finite((a.loc[common] - b.loc[common]).to_numpy())
    n = int(diff.size)
    if n < 2 or not (np.isfinite(var_example) and n_examples > 0):
        mean, lo, hi, n = seed_interval(diff, level=level)
        return mean, lo, hi, n, _t_pvalue(diff)
    mean = float(diff.mean())
    a_part, b_part = float(diff.var(ddof=1)) / n, float(var_example) / n_examples
    se = float(np.sqrt(a_part + b_part))
    if se == 0:
        return mean, mean, mean, n, (0.0 if mean != 0 else 1.0)
    df = satterthwaite_df(a_part, n - 1, b_part, n_examples - 1)
    q = (1 + level) / 2
    # never narrower, nor its p-value smaller, than the seed part alone on n − 1 df
    half = max(float(stats.t.ppf(q, df) * se), float(stats.t.ppf(q, n - 1) * np.sqrt(a_part)))
    p = max(float(2 * stats.t.sf(abs(mean) / se, df)), _t_pvalue(diff))
    return mean, mean - half, mean + half, n, p


def satterthwaite_df(a: float, df_a: int, b: float, df_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of ``a + b``, two independent variance estimates
    on ``df_a`` and ``df_b`` degrees of freedom: ``(a + b)² / (a²/df_a + b²/df_b)``."""
    den = (a * a / df_a if df_a > 0 else 0.0) + (b * b / df_b if df_b > 0 else 0.0)
    return float((a + b) ** 2 / den) if den > 0 else float(max(df_a, 1))


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values of one family of tests, in the input order.

    With the ``m`` finite p-values sorted ``p_(1) ≤ … ≤ p_(m)``, the adjusted value of the
    ``i``-th smallest is ``max_{j ≤ i} min(1, (m − j + 1) · p_(j))``; rejecting where the
    adjusted value is below ``α`` controls the family-wise error rate at ``α`` under any
    dependence between the tests (Holm 1979, "A simple sequentially rejective multiple test
    procedure", Scand. J. Statist. 6:65–70). NaN entries (no test, e.g. one seed) are left NaN
    and do not count towards ``m``.

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(list(pvalues), dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def verdict(mean: float, lo: float, hi: float, n: int, *, higher_is_better: bool,
            p: float | None = None, alpha: float = ALPHA) -> Verdict:
    """How ``a`` compares with ``b`` given ``paired_difference(a, b)``: "better" / "worse"
    only when the difference is significant — with ``p`` (e.g. a Holm-adjusted paired-t
    p-value) when ``p < alpha``, without it when the interval excludes 0 —, otherwise "no
    significant difference"; "single seed" with n = 1 (no seed-level claim), "missing" with
    n = 0."""
    if n == 0 or not np.isfinite(mean):
        return "missing"
    if n == 1 or not (np.isfinite(lo) and np.isfinite(hi)):
        return "single seed"
    if p is not None:
        if np.isfinite(p) and p < alpha and mean != 0:
            return "better" if (mean > 0) == higher_is_better else "worse"
        return "no significant difference"
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
