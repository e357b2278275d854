"""``kd``: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network".

loss = α·CE_labelled(y, softmax(z)) + (1 − α)·T²·KL(q_T ‖ softmax(z / T)),

where z are the student's logits and q_T the teacher's target at temperature T. The T² factor
keeps the soft-target gradients at the scale of the hard-label ones (Hinton et al. §2). For a
teacher with S samples p_s the target is one of (option ``target``):

* ``"members"`` (default): heat each sample, then average, q_T = mean_s softmax(log p_s / T).
  This is how Hinton et al. distil an ensemble (the arithmetic mean of the members' soft
  targets) and how the EnD² authors' ensemble-distillation baseline computes it
  (PriorNetworks, ``prior_networks/ensembles/losses.py``, ``EnDLoss``: softmax of each member's
  logits / T, then the mean over members).
* ``"mean"``: average, then heat, q_T = softmax(log p̄ / T), p̄ = mean_s p_s.

Both are equal at T = 1 or S = 1. The default follows the references; it differs from
``"mean"`` in that a member that is confident alone keeps its dark knowledge at T > 1 instead of
being heated only after being averaged away. q_T is computed once from the cached teacher
outputs.

Labels may be −1 (unlabelled auxiliary images of the transfer set): `labelled_ce`, the one
label term of every method, ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from ..metrics.scores import EPS  # the one probability floor, 1e-12 (docs/metrics.md)
from .base import METHODS, Method
from .options import OneOf, Real
from .. import device as devices
from ..train import Loss

Target = Literal["members", "mean"]
TARGETS = ("members", "mean")


def labelled_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled examples of a batch (labels ≥ 0; −1 = unlabelled);
    0 when the batch has none. ``logits`` ``(B, K)``, ``labels`` ``(B,)``.

    (``F.cross_entropy(..., ignore_index=-1)`` would return NaN on an all-unlabelled batch.)
    On the CPU the labelled rows are selected (``logits[keep]``), the op the committed results
    were made with; elsewhere the same mean is taken with a mask — Σ_i keep_i·CE_i / max(1, Σ_i
    keep_i) — so no host read of the device (``keep.any()``, a data-dependent shape) is needed
    and the step never waits (`kdbench.train`).
    """
    keep = labels >= 0
    if not devices.cpu_exact(logits.device):
        nll = F.cross_entropy(logits, labels.clamp_min(0), reduction="none")
        return (nll * keep).sum() / keep.sum().clamp_min(1)
    if not bool(keep.any()):
        return logits.sum() * 0.0  # keeps the graph (and the dtype/device)
    return F.cross_entropy(logits[keep], labels[keep])


def soften(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(log p / T) over the last axis: probabilities at temperature T."""
    return torch.softmax(probs.clamp_min(EPS).log() / temperature, -1)


def soft_target(teacher_probs: torch.Tensor, temperature: float, target: Target) -> torch.Tensor:
    """The KD target ``(N, K)`` from teacher samples ``(S, N, K)`` (see the module docstring)."""
    if target == "members":
        return soften(teacher_probs, temperature).mean(0)
    return soften(teacher_probs.mean(0), temperature)


def soft_kl(logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(soft ‖ softmax(z / T)), batch mean; ``soft`` ``(B, K)`` already softened."""
    log_q = F.log_softmax(logits / temperature, -1)
    kl = (soft * (soft.clamp_min(EPS).log() - log_q)).sum(-1).mean()
    return temperature**2 * kl


def hinton_loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, alpha: float,
                temperature: float) -> torch.Tensor:
    """α·CE_labelled(y, z) + (1 − α)·T²·KL(soft ‖ softmax(z / T)), batch mean; ``soft``
    ``(B, K)`` are the already softened targets."""
    return alpha * labelled_ce(logits, labels) + (1 - alpha) * soft_kl(logits, soft, temperature)


@METHODS.register("kd")
@dataclass(frozen=True)
class HintonKD(Method):
    """Hinton KD with weight ``alpha`` on the label loss, temperature ``temperature`` and the
    ensemble target ``target`` ("members": heat, then average; "mean": average, then heat)."""

    NAME: ClassVar[str] = "kd"
    CHECKS: ClassVar[dict] = {"alpha": Real(0.0, 1.0), "temperature": Real(0.0, closed="neither"),
                              "target": OneOf(TARGETS)}
    alpha: float = 0.1
    temperature: float = 4.0
    target: Target = "members"

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soft_target(teacher_probs, self.temperature, self.target)

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return hinton_loss(logits, labels, soft[index], self.alpha, self.temperature)

        return loss
