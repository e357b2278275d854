"""Calibration metrics: one binning core, thin metrics on top (netcal's structure).

Equal-width bin b of B holds the values v in (b/B, (b+1)/B], the edges as doubles (``b / B``).
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


def check_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; found {n_bins!r}")
    return int(n_bins)


def bin_index(values: np.ndarray, edges: np.ndarray | int) -> np.ndarray:
    """Index of the right-closed bin (edges[b], edges[b+1]] holding each value.

    ``edges`` may be an integer B for the equal-width edges b/B (the doubles ``b / B``, as
    ``np.linspace(0, 1, B + 1)`` gives them): the index is then ceil(v·B) − 1 computed in
    floating point (no search), clipped to [0, B − 1], and moved by one where the rounding of
    v·B put a value within an ulp of an edge on the wrong side of that edge's double (e.g. the
    double just above 11/15, whose product with 15 rounds to 11).
    """
    if isinstance(edges, (int, np.integer)):
        b = int(edges)
        idx = np.ceil(values * b)
        idx -= 1
        np.clip(idx, 0, b - 1, out=idx)
        idx = idx.astype(np.int64)
        grid = np.arange(b + 1) / b
        idx += values > grid[idx + 1]   # above its bin's right edge: the next bin
        idx -= (values <= grid[idx]) & (idx > 0)  # on or below its left edge: the bin before
        return idx
    return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)


def binned(values: np.ndarray, targets: np.ndarray,
           edges: np.ndarray | int) -> tuple[np.ndarray, ...]:
    """Per-bin count, sum of values and sum of targets — the core every metric reduces.
    ``edges``: bin edges, or an integer B for B equal-width bins."""
    idx = bin_index(values, edges)
    b = edges if isinstance(edges, (int, np.integer)) else len(edges) - 1
    return (np.bincount(idx, minlength=b).astype(np.float64),
            np.bincount(idx, weights=values, minlength=b).astype(np.float64),
            np.bincount(idx, weights=targets, minlength=b).astype(np.float64))


def _gap(count: np.ndarray, s_val: np.ndarray, s_tgt: np.ndarray, n: int,
         norm: Literal["l1", "l2"]) -> float:
    if norm == "l1":
        return float(np.abs(s_tgt - s_val).sum() / n)
    full = count > 0
    return float(np.sqrt(((s_tgt[full] - s_val[full]) ** 2 / count[full]).sum() / n))


def top_label(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence max_k p_k and correctness 1[argmax p = y] of validated arrays."""
    pred = p.argmax(1)
    return np.take_along_axis(p, pred[:, None], 1)[:, 0], (pred == y).astype(np.float64)


def _top_label(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    return top_label(*check_probs(probs, labels))


def equal_width_edges(n_bins: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, check_bins(n_bins) + 1)


def equal_mass_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.quantile(values, np.linspace(0.0, 1.0, check_bins(n_bins) + 1))
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
    count, s_conf, s_acc = binned(conf, correct, int(n_bins))
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
    return _gap(*binned(conf, correct, check_bins(n_bins)), len(conf), norm)


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
    count, s_conf, s_acc = binned(conf, correct, check_bins(n_bins))
    return _max_gap(count, s_conf, s_acc)


def _max_gap(count: np.ndarray, s_conf: np.ndarray, s_acc: np.ndarray) -> float:
    full = count > 0
    return float(np.max(np.abs(s_acc[full] - s_conf[full]) / count[full]))


def classwise_ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Class-wise ECE (Kull et al. 2019): for every class k, the equal-width-binned ECE of
    p_k against 1[y = k] over all N examples, averaged over the K classes."""
    p, y = check_probs(probs, labels)
    return _classwise(p, y, check_bins(n_bins))


def _classwise(p: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    n, k = p.shape
    # Only a probability above 1/B can leave the first bin, and a row holds fewer than B of
    # them (they sum to <= 1): bin those few exactly; everything else of class k is in bin 0,
    # whose sum is the column sum minus theirs. K/B times less binning work than binning all
    # N·K probabilities (the threshold sits a hair below 1/B so bin_index decides every edge).
    flat = np.flatnonzero(p > (1.0 - 1e-9) / n_bins)  # 1-D: far faster than 2-D nonzero
    cols = flat % k
    v = p.ravel()[flat]
    # astype: numpy returns integers from a weighted bincount of an empty selection (no
    # probability above 1/B, e.g. a near-uniform 100-class model), and += would then fail
    s_val = np.bincount(cols * n_bins + bin_index(v, n_bins), weights=v,
                        minlength=k * n_bins).astype(np.float64)
    s_val[::n_bins] += p.sum(0) - np.bincount(cols, weights=v, minlength=k).astype(np.float64)
    # targets: 1 at the true class, in the bin of p_iy
    s_tgt = np.bincount(n_bins * y + bin_index(p[np.arange(n), y], n_bins), minlength=k * n_bins)
    return float(np.abs(s_tgt - s_val).sum() / (n * k))


def calibration_metrics(probs: Any, labels: Any, n_bins: int = 15) -> dict[str, float]:
    """The full calibration set in one pass over validated input: ``ece``, ``ece_l2``,
    ``adaptive_ece``, ``mce``, ``classwise_ece``, ``ece_debiased``, ``ece_floor``
    (`ece_noise_floor`) — each equal to its own function — plus ``nll`` and ``brier`` (`kdbench.metrics.scores`)."""
    b = check_bins(n_bins)
    p, y = check_probs(probs, labels)
    return calibration_set(p, y, *top_label(p, y), b)


def calibration_set(p: np.ndarray, y: np.ndarray, conf: np.ndarray, correct: np.ndarray,
                    n_bins: int) -> dict[str, float]:
    """`calibration_metrics` on arrays already validated by `check_probs`, with their
    `top_label` ``conf``/``correct`` and a checked bin count: no validation here (the fused
    evaluation path validates once at its own door)."""
    from .scores import EPS  # local: scores imports calibration's top_label

    n = len(y)
    width = binned(conf, correct, n_bins)
    mass = binned(conf, correct, equal_mass_edges(conf, n_bins))
    p_true = p[np.arange(n), y]
    return {
        "ece": _gap(*width, n, "l1"), "ece_l2": _gap(*width, n, "l2"),
        "adaptive_ece": _gap(*mass, n, "l1"), "mce": _max_gap(*width),
        "classwise_ece": _classwise(p, y, n_bins), "ece_debiased": _debiased(*mass, n),
        "ece_floor": _noise_floor(conf, n_bins),
        "nll": float(-np.mean(np.log(np.clip(p_true, EPS, None)))),
        "brier": float(np.mean(np.einsum("ij,ij->i", p, p) - 2 * p_true + 1)),
    }


def ece_noise_floor(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """The ECE a perfectly calibrated model with these confidences would show on this many
    examples, from sampling noise alone: its expected value under the normal approximation,

        floor = (1/N) Σ_b sqrt(2/π · Σ_{i∈b} c_i (1 − c_i)),

    with the top-label confidences c_i in the 15 equal-width bins of `ece`: for a calibrated
    model the number correct in bin b minus Σ_{i∈b} c_i has mean 0 and variance
    Σ_{i∈b} c_i(1 − c_i), and E|X| = sqrt(2/π)·sd for a normal X. An ECE at or below its floor
    cannot be told apart from perfect calibration on this test set. ``labels`` are checked but do
    not enter the value."""
    conf, correct = _top_label(probs, labels)
    return _noise_floor(conf, check_bins(n_bins))


def _noise_floor(conf: np.ndarray, n_bins: int) -> float:
    var = np.bincount(bin_index(conf, n_bins), weights=conf * (1.0 - conf),
                      minlength=n_bins).astype(np.float64)
    return float(np.sum(np.sqrt(2.0 / np.pi * var)) / len(conf))


def ece_debiased(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Debiased RMS calibration error (Kumar, Liang & Ma 2019, "Verified Uncertainty
    Calibration"), equal-mass bins.

    CE² = Σ_b (n_b/N) [(acc_b − conf_b)² − acc_b(1 − acc_b)/(n_b − 1)] removes the upward bias
    of the plug-in estimate from sampling noise in acc_b; returns sqrt(max(CE², 0)). Bins with
    n_b = 1 get no correction. This is an L2 quantity: compare it with ``ece(norm="l2")``.
    """
    conf, correct = _top_label(probs, labels)
    return _debiased(*binned(conf, correct, equal_mass_edges(conf, n_bins)), len(conf))


def _debiased(count: np.ndarray, s_conf: np.ndarray, s_acc: np.ndarray, n: int) -> float:
    full = count > 0
    n_b, acc, cf = count[full], s_acc[full] / count[full], s_conf[full] / count[full]
    var = np.where(n_b > 1, acc * (1 - acc) / np.maximum(n_b - 1, 1), 0.0)
    ce2 = float(np.sum(n_b / n * ((acc - cf) ** 2 - var)))
    return float(np.sqrt(max(ce2, 0.0)))
