"""``kd-std``: KD with logit standardisation (Sun, Ren, Li, Wang & Cao, "Logit Standardization in
Knowledge Distillation", CVPR 2024).

Reference code: github.com/sunshangquan/logit-standardization-KD, ``mdistiller/distillers/KD.py``
(``normalize``, ``kd_loss`` with ``logit_stand=True``). Teacher and student logits are each
z-scored per example before the heated softmax, so the student matches the teacher's logit
*relations*, not their range:

    Z(z) = (z − mean_k z) / (1e-7 + std_k z)      (std with Bessel's correction, torch's default)
    loss = w_CE·CE_labelled(y, softmax(z)) + w_KD·T²·KL(softmax(Z(z_t)/T) ‖ softmax(Z(z)/T)).

The paper's per-example temperature is T·std_k z; T is its "base temperature". Defaults are the
README's CIFAR-100 command ``--logit-stand --base-temp 2 --kd-weight 9`` with the KD config's
CE weight (that repository's ``mdistiller/engine/cfg.py``: ``CFG.KD.LOSS.CE_WEIGHT = 0.1``): w_CE = 0.1, w_KD = 9,
T = 2. The student predicts with softmax(z), its unstandardised logits, as in the reference.
With K classes a standardised logit is at most (K − 1)/√K (2.85 for K = 10), so at T = 2 the
targets are soft: the teacher's top class gets at most ≈ 0.35 for K = 10.

**Teacher logits are needed only up to a per-example constant** (`kdbench.distill.logits`):
z_t = log p + c for an unknown c(x), and Z(log p + c) = Z(log p) because the mean subtraction
removes c and the standard deviation does not see it. So `centred_logits` (log p minus its
mean) gives exactly the reference's standardised teacher logits. It floors p at float32's
smallest normal, not at `kd`'s 1e-12, because the z-score sees every class: the default suite's
caches hold probabilities down to 1e-34, and a 1e-12 floor would move the targets by a total
variation of 0.005 on average, up to 0.11.

Changed for kdbench, and why:

* **Multi-sample teachers** (option ``target``, as ``kd``): ``"members"`` standardises and heats
  each sample, then averages, mean_s softmax(Z(log p_s)/T); ``"mean"`` standardises the mean,
  softmax(Z(log p̄)/T). Both are built by `kd.soft_target` from softmax(Z(·)), whose heated
  softmax is softmax(Z(·)/T).
* **Unlabelled transfer images** (label −1): the KD term uses no label; the CE term ignores them
  (`kd.labelled_ce`, as in every method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import METHODS, Method
from ..train import Loss
from .kd import TARGETS, Target, labelled_ce, soft_kl, soft_target
from .logits import centred_logits
from .options import OneOf, Real

EPS = 1e-7


def standardise(z: torch.Tensor) -> torch.Tensor:
    """Z(z) = (z − mean) / (1e-7 + std) over the last axis (std with Bessel's correction) —
    the reference's ``normalize``."""
    return (z - z.mean(-1, keepdim=True)) / (EPS + z.std(-1, keepdim=True))


def standardised_target(teacher_probs: torch.Tensor, temperature: float,
                        target: Target) -> torch.Tensor:
    """The heated standardised teacher target ``(N, K)`` from samples ``(S, N, K)``: softmax(
    Z(log p_s)/T) averaged over s (``"members"``) or softmax(Z(log p̄)/T) (``"mean"``)."""
    probs = teacher_probs.mean(0, keepdim=True) if target == "mean" else teacher_probs
    return soft_target(torch.softmax(standardise(centred_logits(probs)), -1), temperature, target)


def kd_std_loss(logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(soft ‖ softmax(Z(z)/T)), batch mean; ``soft`` ``(B, K)`` from `standardised_target`."""
    z = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 -> fp32
    return soft_kl(standardise(z), soft, temperature)


@METHODS.register("kd-std")
@dataclass(frozen=True)
class KDStd(Method):
    """KD on z-scored logits: label weight ``ce_weight``, KD weight ``kd_weight``, base
    temperature ``temperature``, ensemble target ``target`` ("members" or "mean", as ``kd``)."""

    NAME: ClassVar[str] = "kd-std"
    CHECKS: ClassVar[dict] = {"ce_weight": Real(0.0), "kd_weight": Real(0.0),
                              "temperature": Real(0.0, closed="neither"), "target": OneOf(TARGETS)}
    ce_weight: float = 0.1
    kd_weight: float = 9.0
    temperature: float = 2.0
    target: Target = "members"

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = standardised_target(teacher_probs, self.temperature, self.target)  # once

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            kd = kd_std_loss(logits, soft[index], self.temperature)
            return self.ce_weight * labelled_ce(logits, labels) + self.kd_weight * kd

        return loss
