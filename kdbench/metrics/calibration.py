"""Calibration metrics: one binning core, thin metrics on top (netcal's structure).

Top-label metrics bin the confidence c_i = max_k p_ik with correctness 1[argmax p_i = y_i].
Bins are right-closed, (lo, hi]; a value exactly on an edge belongs to the lower bin and a
value of exactly 0 (possible for class-wise probabilities) to the first bin.

* equal-width bins: edges b/B, b = 0..B (Guo et al. 2017);
* equal-mass ("adaptive") bins: edges at the empirical quantiles j/B of the confidences (linear
  interpolation, first edge 0, last edge 1), netcal's ``equal_intervals=False`` convention
  (Nixon et al. 2019).

ECE = Σ_b (n_b/N) |acc_b − conf_b| ("l1"); the "l2" norm gives the RMS calibration error
sqrt(Σ_b (n_b/N)(acc_b − conf_b)²). MCE = max_b |acc_b − conf_b| over non-empty bins.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .validation import check_probs


def _check_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; found {n_bins!r}")
    return int(n_bins)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the right-closed bin (edges[b], edges[b+1]] holding each value."""
    return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)


def binned(values: np.ndarray, targets: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-bin count, sum of values and sum of targets — the core every metric reduces."""
    idx = bin_index(values, edges)
    b = len(edges) - 1
    return (np.bincount(idx, minlength=b).astype(np.float64),
            np.bincount(idx, weights=values, minlength=b),
            np.bincount(idx, weights=targets, minlength=b))


def _gap(count: np.ndarray, s_val: np.ndarray, s_tgt: np.ndarray, n: int,
         norm: Literal["l1", "l2"]) -> float:
    if norm == "l1":
        return float(np.abs(s_tgt - s_val).sum() / n)
    full = count > 0
    return float(np.sqrt(((s_tgt[full] - s_val[full]) ** 2 / count[full]).sum() / n))


def _top_label(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = check_probs(probs, labels)
    return p.max(1), (p.argmax(1) == y).astype(np.float64)


def equal_width_edges(n_bins: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, _check_bins(n_bins) + 1)


def equal_mass_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.quantile(values, np.linspace(0.0, 1.0, _check_bins(n_bins) + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return edges


def _check_norm(norm: str) -> None:
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2'; found {norm!r}")


def reliability_bins(probs: Any, labels: Any, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin statistics of top-label confidence, equal-width right-closed bins on (0, 1].

    Returns arrays of length ``n_bins``: ``lo``, ``hi``, ``count``, ``confidence`` (mean
    confidence, NaN for empty bins) and ``accuracy`` (NaN for empty bins). These are what the
    reliability diagrams draw and what ``results/<suite>/reliability.csv`` stores.
    """
    conf, correct = _top_label(probs, labels)
    edges = equal_width_edges(n_bins)
    count, s_conf, s_acc = binned(conf, correct, edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"lo": edges[:-1], "hi": edges[1:], "count": count,
                "confidence": s_conf / count, "accuracy": s_acc / count}


def ece(probs: Any, labels: Any, n_bins: int = 15, *, norm: Literal["l1", "l2"] = "l1") -> float:
    """Expected calibration error (Guo et al. 2017), top-label, equal-width bins (lo, hi].

    ECE = Σ_b (n_b / N) |acc_b − conf_b| in [0, 1]; ``norm="l2"`` gives the RMS version.
    Equals netcal's ``ECE(bins=n_bins).measure`` for K > 2 (netcal treats K = 2 as binary).
    """
    _check_norm(norm)
    conf, correct = _top_label(probs, labels)
    return _gap(*binned(conf, correct, equal_width_edges(n_bins)), len(conf), norm)


def adaptive_ece(probs: Any, labels: Any, n_bins: int = 15, *,
                 norm: Literal["l1", "l2"] = "l1") -> float:
    """ECE with equal-mass bins (edges at confidence quantiles; Nixon et al. 2019).

    Equals netcal's ``ECE(bins=n_bins, equal_intervals=False)`` when no confidence lies
    exactly on a quantile edge.
    """
    _check_norm(norm)
    conf, correct = _top_label(probs, labels)
    return _gap(*binned(conf, correct, equal_mass_edges(conf, n_bins)), len(conf), norm)


def mce(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Maximum calibration error (Naeini et al. 2015): max_b |acc_b − conf_b|, non-empty bins."""
    conf, correct = _top_label(probs, labels)
    count, s_conf, s_acc = binned(conf, correct, equal_width_edges(n_bins))
    full = count > 0
    return float(np.max(np.abs(s_acc[full] - s_conf[full]) / count[full]))


def classwise_ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Class-wise ECE (Kull et al. 2019): for every class k, the equal-width-binned ECE of
    p_k against 1[y = k] over all N examples, averaged over the K classes."""
    p, y = check_probs(probs, labels)
    edges = equal_width_edges(n_bins)
    n, k = p.shape
    total = 0.0
    for c in range(k):
        total += _gap(*binned(p[:, c], (y == c).astype(np.float64), edges), n, "l1")
    return total / k


def ece_debiased(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Debiased RMS calibration error (Kumar, Liang & Ma 2019, "Verified Uncertainty
    Calibration"), equal-mass bins.

    CE² = Σ_b (n_b/N) [(acc_b − conf_b)² − acc_b(1 − acc_b)/(n_b − 1)] removes the upward bias
    of the plug-in estimate from sampling noise in acc_b; returns sqrt(max(CE², 0)). Bins with
    n_b = 1 get no correction. This is an L2 quantity: compare it with ``ece(norm="l2")``.
    """
    conf, correct = _top_label(probs, labels)
    count, s_conf, s_acc = binned(conf, correct, equal_mass_edges(conf, n_bins))
    full = count > 0
    n_b, acc, cf = count[full], s_acc[full] / count[full], s_conf[full] / count[full]
    var = np.where(n_b > 1, acc * (1 - acc) / np.maximum(n_b - 1, 1), 0.0)
    ce2 = float(np.sum(n_b / len(conf) * ((acc - cf) ** 2 - var)))
    return float(np.sqrt(max(ce2, 0.0)))
