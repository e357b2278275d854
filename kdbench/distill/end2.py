"""``end2``: Ensemble Distribution Distillation (Malinin, Mlodozeniec & Gales, ICLR 2020).

The student's outputs z parameterise a Dirichlet with concentrations α = exp(z / T). The loss
is the negative log-likelihood of every teacher sample's probability vector π_s under that
Dirichlet, averaged over samples and examples:

    −log Dir(π | α) = −log Γ(α0) + Σ_k log Γ(α_k) − Σ_k (α_k − 1) log π_k,   α0 = Σ_k α_k.

As in the paper's reference code, the teacher's samples are smoothed toward uniform,
π ← (1 − ε)·π + ε/K (ε = ``smoothing``, 1e-3), and both sides are "heated" with a temperature
annealed linearly from ``temperature`` (default 2.5) down to 1 over the first ``anneal`` share
of training (default 0.5): π_T = softmax(log π / T), α = exp(z / T). At test time T = 1 and the
student answers with a Dirichlet `Prediction` (closed-form expected entropy and MI).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import METHODS, Method
from ..prediction import Prediction
from ..predictors import CHANNELS_LAST, batches
from ..train import Loss

MAX_LOG_ALPHA = 20.0  # exp(20) ~ 5e8: keeps lgamma finite in float32


class DirichletNet:
    """A network whose logits z give Dirichlet concentrations α = exp(z); S = 0 (Dirichlet)."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net.eval().to(memory_format=CHANNELS_LAST)

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [self.net(b) for b in batches(x)]
        alphas = torch.cat(out).double().clamp(max=MAX_LOG_ALPHA).exp()
        return Prediction(alphas=alphas.numpy())


def dirichlet_nll(log_alpha: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """−log Dir(π | α) for ``log_alpha`` ``(B, K)`` and samples ``log_pi`` ``(S, B, K)``;
    returns ``(S, B)``."""
    alpha = log_alpha.exp()
    return (-torch.lgamma(alpha.sum(-1)) + torch.lgamma(alpha).sum(-1)
            - ((alpha - 1) * log_pi).sum(-1))


@dataclass(frozen=True)
class EnD2(Method):
    temperature: float = 2.5
    anneal: float = 0.5
    smoothing: float = 1e-3
    needs_samples = True

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        k = teacher_probs.shape[-1]
        log_pi = ((1 - self.smoothing) * teacher_probs + self.smoothing / k).log()  # (S, N, K)

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            t = 1.0 + (self.temperature - 1.0) * max(0.0, 1.0 - progress / self.anneal) \
                if self.anneal > 0 else 1.0
            target = torch.log_softmax(log_pi[:, index] / t, -1)
            log_alpha = (logits / t).clamp(max=MAX_LOG_ALPHA)
            return dirichlet_nll(log_alpha, target).mean()

        return loss

    def predictor(self, net: nn.Module) -> DirichletNet:
        return DirichletNet(net)


@METHODS.register("end2")
def end2(*, temperature: float = 2.5, anneal: float = 0.5, smoothing: float = 1e-3) -> Method:
    """Ensemble distribution distillation into a Dirichlet student."""
    if not temperature >= 1:
        raise ValueError(f"end2 temperature must be >= 1 (it is annealed down to 1); found {temperature}")
    if not 0 <= anneal <= 1:
        raise ValueError(f"end2 anneal must lie in [0, 1] (share of training); found {anneal}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"end2 smoothing must lie in [0, 1); found {smoothing}")
    return EnD2(temperature=float(temperature), anneal=float(anneal), smoothing=float(smoothing))
