"""Every labelled-split metric of one prediction in one fused pass after one validation.

`labelled_set` validates ``probs``/``labels`` once (`check_probs`), computes the top-label
confidence and correctness once, then calls the unvalidated cores that the public metric
functions share (`calibration.calibration_set`, `selective.cumulative_errors` /
`selective.selective_set`, `bootstrap.bootstrap_set`). Each value equals its public function
(``accuracy``, ``calibration_metrics``, ``aurc``/``eaurc``/``augrc``, ``bootstrap_ci``) on
the same input; the tests check that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bootstrap import FAST, bootstrap_set, check_bootstrap_options
from .calibration import calibration_set, check_bins, top_label
from .selective import cumulative_errors, selective_set
from .validation import check_probs


def labelled_set(probs: Any, labels: Any, *, n_bins: int = 15, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``{metric: (value, ci_low, ci_high)}`` for accuracy, the calibration set (ece, ece_l2,
    adaptive_ece, mce, classwise_ece, ece_debiased, ece_floor, nll, brier) and aurc, eaurc, augrc, in that
    order. Accuracy, NLL, Brier and ECE carry percentile-bootstrap intervals (``n_boot``
    resamples, one resample matrix for all four; `kdbench.metrics.bootstrap`; ``n_boot = 0``:
    no intervals), the others NaN.

    ``probs`` ``(N, K)``, ``labels`` ``(N,)``; raises `ValueError` like every metric.
    """
    b = check_bins(n_bins)
    if n_boot:
        check_bootstrap_options(n_boot, level)
    p, y = check_probs(probs, labels)
    conf, correct = top_label(p, y)
    values = {"accuracy": float(np.mean(correct)), **calibration_set(p, y, conf, correct, b),
              **selective_set(cumulative_errors(conf, 1.0 - correct))}
    ci = bootstrap_set(p, y, conf, correct, names=FAST, n=n_boot, level=level, seed=seed,
                       n_bins=b) if n_boot else {}
    nan = (float("nan"), float("nan"))
    return {name: (v, *ci.get(name, nan)) for name, v in values.items()}
