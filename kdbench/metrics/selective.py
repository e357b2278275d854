"""Selective prediction: accept the most confident examples, measure the risk on them.

Coverage k/N for k = 1..N, accepting examples in order of decreasing confidence (default
max_k p_k). Ties are handled exactly: within a group of equal confidence the errors are spread
evenly (the expectation over random tie-breaking), so the result does not depend on example
order. Risk(k) = errors among the k accepted / k; generalised risk(k) = errors among the k
accepted / N (Traub et al. 2024).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validation import check_probs, check_scores


def _cumulative_errors(probs: Any, labels: Any, confidence: Any | None) -> np.ndarray:
    p, y = check_probs(probs, labels)
    conf = p.max(1) if confidence is None else check_scores(confidence, "confidence")
    if len(conf) != len(y):
        raise ValueError(f"confidence must have shape ({len(y)},); found ({len(conf)},)")
    return cumulative_errors(conf, (p.argmax(1) != y).astype(np.float64))


def cumulative_errors(conf: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Errors among the k most confident, k = 1..N, ties spread evenly (validated arrays)."""
    order = np.argsort(-conf, kind="mergesort")
    conf, wrong = conf[order], wrong[order]
    # tie groups: spread each group's errors evenly over its positions
    starts = np.r_[0, np.flatnonzero(np.diff(conf)) + 1]
    sizes = np.diff(np.r_[starts, len(conf)])
    group_err = np.add.reduceat(wrong, starts)
    return np.cumsum(np.repeat(group_err / sizes, sizes))


def selective_set(errors: np.ndarray) -> dict[str, float]:
    """``aurc``, ``eaurc`` and ``augrc`` from one `cumulative_errors` curve (no validation:
    the fused evaluation path); each equals its own function."""
    n = len(errors)
    k = np.arange(1, n + 1)
    risk = errors / k
    optimal = np.clip(k - (n - int(round(errors[-1]))), 0, None) / k
    return {"aurc": float(risk.mean()), "eaurc": float(risk.mean() - optimal.mean()),
            "augrc": float((errors / n).mean())}


def risk_coverage(probs: Any, labels: Any, *, confidence: Any | None = None) -> dict[str, np.ndarray]:
    """The risk–coverage curve: arrays ``coverage`` (k/N) and ``risk`` (errors/k), k = 1..N."""
    errors = _cumulative_errors(probs, labels, confidence)
    k = np.arange(1, len(errors) + 1)
    return {"coverage": k / len(k), "risk": errors / k}


def aurc(probs: Any, labels: Any, *, confidence: Any | None = None) -> float:
    """Area under the risk–coverage curve, (1/N) Σ_k risk(k) (Geifman et al. 2019)."""
    return selective_set(_cumulative_errors(probs, labels, confidence))["aurc"]


def eaurc(probs: Any, labels: Any, *, confidence: Any | None = None) -> float:
    """Excess AURC: AURC minus the AURC of an oracle that accepts all correct examples first
    (Geifman et al. 2019); 0 for a perfect ranking."""
    return selective_set(_cumulative_errors(probs, labels, confidence))["eaurc"]


def augrc(probs: Any, labels: Any, *, confidence: Any | None = None) -> float:
    """Area under the generalised risk–coverage curve (Traub et al. 2024):
    (1/N) Σ_k errors(k)/N, the mean joint probability of accepting and being wrong."""
    return selective_set(_cumulative_errors(probs, labels, confidence))["augrc"]
