"""``kd``: Hinton, Vinyals & Dean (2015) knowledge distillation toward the teacher's mean.

loss = α·CE(y, softmax(z)) + (1 − α)·T²·KL(q_T ‖ softmax(z / T)),

where z are the student's logits and q_T is the teacher's predictive mean p̄ = mean_s p_s
softened at temperature T: q_T = softmax(log p̄ / T) (for a single network this equals
softmax(teacher logits / T)). The T² factor keeps the soft-target gradients at the scale of
the hard-label ones. q_T is computed once from the cached teacher outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import METHODS, Method
from ..train import Loss


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(log p / T) over the last axis: probabilities at temperature T."""
    return torch.softmax(probs.clamp_min(1e-12).log() / temperature, -1)


def hinton_loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, alpha: float,
                temperature: float) -> torch.Tensor:
    """α·CE(y, z) + (1 − α)·T²·KL(soft ‖ softmax(z / T)), batch mean; ``soft`` ``(B, K)`` are
    the already softened targets."""
    log_q = F.log_softmax(logits / temperature, -1)
    kl = (soft * (soft.clamp_min(1e-12).log() - log_q)).sum(-1).mean()
    return alpha * F.cross_entropy(logits, labels) + (1 - alpha) * temperature**2 * kl


@dataclass(frozen=True)
class HintonKD(Method):
    alpha: float = 0.1
    temperature: float = 4.0

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soften(teacher_probs.mean(0), self.temperature)

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return hinton_loss(logits, labels, soft[index], self.alpha, self.temperature)

        return loss


@METHODS.register("kd")
def kd(*, alpha: float = 0.1, temperature: float = 4.0) -> Method:
    """Hinton KD with weight ``alpha`` on the label loss and temperature ``temperature``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"kd alpha must lie in [0, 1]; found {alpha}")
    if not temperature > 0:
        raise ValueError(f"kd temperature must be > 0; found {temperature}")
    return HintonKD(alpha=float(alpha), temperature=float(temperature))
