"""`Prediction`: the one type every model answers with.

A prediction holds either probability samples ``probs`` of shape ``(S, N, K)`` — S=1 for a
single network, S=M ensemble members, S=T MC-dropout passes, S=H heads — or Dirichlet
concentrations ``alphas`` of shape ``(N, K)``. Uncertainty is in nats (natural log):

* total (predictive) entropy  H[E_s p_s]
* expected entropy (aleatoric) E_s H[p_s]
* mutual information (epistemic) = total - expected  (>= 0 by Jensen)

For a Dirichlet(α) with α0 = Σα_k and mean p = α/α0 the expected entropy has the closed form
E[H] = ψ(α0 + 1) − Σ_k p_k ψ(α_k + 1)  (Malinin & Gales 2018, eq. 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.special import digamma

from .metrics.scores import EPS  # the one clamp inside log(p); see docs/metrics.md


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats over the last axis; 0·log 0 = 0."""
    return -(p * np.log(np.clip(p, EPS, None))).sum(-1)


@dataclass(frozen=True)
class Prediction:
    """Predictive samples ``probs`` ``(S, N, K)`` or Dirichlet ``alphas`` ``(N, K)``, float64."""

    probs: np.ndarray | None = None
    alphas: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.probs is None) == (self.alphas is None):
            raise ValueError("Prediction needs exactly one of probs (S, N, K) or alphas (N, K)")
        if self.probs is not None:
            p = np.asarray(self.probs, dtype=np.float64)
            if p.ndim != 3:
                raise ValueError(f"Prediction.probs must have shape (S, N, K); found {p.shape}")
            object.__setattr__(self, "probs", p)
        else:
            a = np.asarray(self.alphas, dtype=np.float64)
            if a.ndim != 2 or not np.all(a > 0):
                raise ValueError("Prediction.alphas must have shape (N, K) with all entries > 0")
            object.__setattr__(self, "alphas", a)

    @property
    def n_samples(self) -> int:
        """S for sample predictions, 0 for a Dirichlet."""
        return 0 if self.probs is None else self.probs.shape[0]

    def mean(self) -> np.ndarray:
        """Predictive distribution ``(N, K)``: the sample mean, or α/α0."""
        if self.probs is not None:
            return self.probs.mean(0)
        return self.alphas / self.alphas.sum(-1, keepdims=True)

    def total_entropy(self) -> np.ndarray:
        """H[mean] per example ``(N,)`` in nats."""
        return _entropy(self.mean())

    def expected_entropy(self) -> np.ndarray:
        """Aleatoric part E[H[p]] per example ``(N,)`` in nats (closed form for a Dirichlet)."""
        if self.probs is not None:
            return _entropy(self.probs).mean(0)
        a0 = self.alphas.sum(-1)
        return digamma(a0 + 1) - (self.alphas / a0[:, None] * digamma(self.alphas + 1)).sum(-1)

    def mutual_information(self) -> np.ndarray:
        """Epistemic part total − expected entropy ``(N,)``, clipped at 0 against round-off."""
        return np.clip(self.total_entropy() - self.expected_entropy(), 0.0, None)

    def variation_ratio(self) -> np.ndarray:
        """1 − (fraction of samples voting for the modal class) per example ``(N,)``, in
        [0, 1 − 1/min(S, K)] (Freeman 1965); needs samples, not a Dirichlet."""
        if self.probs is None:
            raise ValueError("variation_ratio needs probability samples; this Prediction is a Dirichlet")
        s, n, k = self.probs.shape
        votes = np.zeros((n, k))
        np.add.at(votes, (np.arange(n)[None].repeat(s, 0), self.probs.argmax(-1)), 1.0)
        return 1.0 - votes.max(1) / s

    def subset(self, index: np.ndarray | slice) -> Prediction:
        """The prediction for examples ``index`` (along N)."""
        if self.probs is not None:
            return Prediction(probs=self.probs[:, index])
        return Prediction(alphas=self.alphas[index])


class Predictor(Protocol):
    """What the evaluation path (`kdbench.jobs.evaluate_predictor`) calls: a teacher, a student
    or a model of the user's (`kdbench.evaluate_model`) answering a batch of images ``x``
    ``(N, C, H, W)`` float32 in [0, 1] with a `Prediction` of N rows."""

    def predict(self, x: Any) -> Prediction: ...  # x: torch.Tensor (N, C, H, W)
