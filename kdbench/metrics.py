"""Metrics: pure functions over probabilities, numpy or torch in, float out.

Conventions (docs/metrics.md has the full list):

* Inputs are probabilities ``probs`` ``(N, K)`` (rows sum to 1 within 1e-3) and integer
  ``labels`` ``(N,)`` in ``[0, K)``. One validation helper, `check_probs`, guards the door and
  raises `ValueError` saying what was expected and what was found.
* Natural log; NLL clamps probabilities at ``EPS = 1e-12`` before the log.
* Brier = Σ_k (p_k − y_k)², averaged over examples, range [0, 2]. (Ovadia et al. 2019's
  released numbers are ours − 1; libraries that divide by K report ours / K.)
* ECE (Guo et al. 2017): top-label confidence, ``n_bins`` equal-width bins on (0, 1] that are
  right-closed, (lo, hi]; ECE = Σ_b (n_b / N) |acc_b − conf_b|. MCE = max_b |acc_b − conf_b|
  over non-empty bins.
* OOD: OOD is the positive class and a higher score means "more likely OOD".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

EPS = 1e-12
ROW_SUM_TOL = 1e-3


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be an array or tensor; found {type(x).__name__}") from e


def check_probs(probs: Any, labels: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate and convert ``probs`` ``(N, K)`` and optional ``labels`` ``(N,)``.

    Returns float64 probabilities and int64 labels. Raises `ValueError` for a wrong shape,
    NaN/inf, negative entries, rows that do not sum to 1 (tolerance 1e-3), non-integer labels,
    labels out of range, or N = 0.
    """
    p = _to_numpy(probs, "probs")
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, K); found shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must have N >= 1 examples and K >= 1 classes; found {p.shape}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains NaN or infinite values")
    if p.min() < 0:
        raise ValueError(f"probs must be non-negative; found minimum {p.min():.3g}")
    sums = p.sum(1)
    bad = np.abs(sums - 1) > ROW_SUM_TOL
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {ROW_SUM_TOL}); row {i} sums to {sums[i]:.6g}"
            " — pass probabilities, not logits"
        )
    if labels is None:
        return p, None
    y = _to_numpy(labels, "labels")
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must have shape ({p.shape[0]},) to match probs; found {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("labels must be integers")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers; found dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(
            f"labels must lie in [0, {p.shape[1] - 1}]; found range [{y.min()}, {y.max()}]"
        )
    return p, y


def check_scores(scores: Any, name: str) -> np.ndarray:
    """Validate a 1-D finite score vector with at least one entry."""
    s = _to_numpy(scores, name).astype(np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; found shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return s


# --- proper scores and accuracy -----------------------------------------------------------

def accuracy(probs: Any, labels: Any) -> float:
    """Top-1 accuracy in [0, 1]; ties in the top class go to the lowest class index (argmax)."""
    p, y = check_probs(probs, labels)
    return float(np.mean(p.argmax(1) == y))


def nll(probs: Any, labels: Any) -> float:
    """Mean negative log-likelihood of the true class, −mean log max(p_y, 1e-12), in nats."""
    p, y = check_probs(probs, labels)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], EPS, None))))


def brier(probs: Any, labels: Any) -> float:
    """Brier score Σ_k (p_k − 1[y=k])² averaged over examples, in [0, 2] (Brier 1950)."""
    p, y = check_probs(probs, labels)
    sq = (p**2).sum(1) - 2 * p[np.arange(len(y)), y] + 1
    return float(np.mean(sq))


def entropy(probs: Any) -> float:
    """Mean Shannon entropy of the rows of ``probs`` in nats, in [0, log K].

    Per-example values (and the aleatoric/epistemic split of samples) come from
    `kdbench.prediction.Prediction`.
    """
    p, _ = check_probs(probs)
    return float(np.mean(-(p * np.log(np.clip(p, EPS, None))).sum(1)))


# --- calibration ----------------------------------------------------------------------------

def reliability_bins(probs: Any, labels: Any, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin statistics of top-label confidence, equal-width right-closed bins on (0, 1].

    Bin b covers (b/n_bins, (b+1)/n_bins]; a confidence exactly on an edge falls in the lower
    bin. Returns arrays of length ``n_bins``: ``lo``, ``hi``, ``count``, ``confidence`` (mean
    confidence, NaN for empty bins) and ``accuracy`` (NaN for empty bins).
    """
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; found {n_bins!r}")
    p, y = check_probs(probs, labels)
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {"lo": edges[:-1], "hi": edges[1:], "count": count,
            "confidence": mean_conf, "accuracy": mean_acc}


def ece(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017), top-label, equal-width right-closed bins.

    ECE = Σ_b (n_b / N) |acc_b − conf_b|, in [0, 1].
    """
    b = reliability_bins(probs, labels, n_bins)
    full = b["count"] > 0
    w = b["count"][full] / b["count"].sum()
    return float(np.sum(w * np.abs(b["accuracy"][full] - b["confidence"][full])))


def mce(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """Maximum calibration error: the largest |acc_b − conf_b| over non-empty bins."""
    b = reliability_bins(probs, labels, n_bins)
    full = b["count"] > 0
    return float(np.max(np.abs(b["accuracy"][full] - b["confidence"][full])))


# --- OOD detection --------------------------------------------------------------------------

def auroc(scores_in: Any, scores_out: Any) -> float:
    """Area under the ROC curve for detecting OOD (positive) from ID (negative) examples.

    Higher score = more likely OOD. Equals P(s_out > s_in) + ½ P(s_out = s_in) (the
    Mann–Whitney U statistic with ties counted one half, as scikit-learn's ``roc_auc_score``).
    """
    s_in = check_scores(scores_in, "scores_in")
    s_out = check_scores(scores_out, "scores_out")
    ranks = rankdata(np.concatenate([s_in, s_out]))
    n_in, n_out = len(s_in), len(s_out)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))
