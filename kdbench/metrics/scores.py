"""Accuracy and proper scoring rules on the predictive distribution.

NLL clamps p at ``EPS = 1e-12`` before the log. Brier is the sum over classes (range [0, 2]);
Ovadia et al. 2019's released numbers are ours − 1, libraries that divide by K report ours / K.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validation import check_probs

EPS = 1e-12


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


