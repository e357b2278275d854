"""``dkd``: Decoupled Knowledge Distillation (Zhao, Cui, Song, Qiu & Liang, CVPR 2022).

Reference code: github.com/megvii-research/mdistiller, ``mdistiller/distillers/DKD.py``
(``dkd_loss``, class ``DKD``). Hinton's KL splits exactly into a target-class and a non-target-
class part (the paper's reformulation of KD): with the teacher's heated distribution q = q_T, the student's
s = softmax(z/T), t the target class, b = (q_t, 1 − q_t), c = (s_t, 1 − s_t), and q̂, ŝ the
distributions over the K − 1 other classes renormalised to sum to 1,

    KL(q ‖ s) = TCKD + (1 − q_t)·NCKD,   TCKD = KL(b ‖ c),   NCKD = KL(q̂ ‖ ŝ).

DKD frees the weight of NCKD from (1 − q_t):

    loss = w_CE·CE_labelled(y, softmax(z)) + min(progress / warmup, 1)·T²·mean_batch(α·TCKD + β·NCKD).

The reference computes ŝ, q̂ as softmax(z/T − 1000·1[k = t]) (the target class pushed out of the
softmax); kdbench takes a log-sum-exp over the non-target classes (same values, no 1000).

Defaults are mdistiller's CIFAR-100 DKD setting (``mdistiller/engine/cfg.py`` ``CFG.DKD``, as
used by ``configs/cifar100/dkd/res32x4_res8x4.yaml``): w_CE = 1, α = 1, β = 8, T = 4, warm-up 20
of the 240 epochs. In kdbench the warm-up is a share of the training steps, ``warmup`` = 20/240,
ramped linearly per step (mdistiller: min(epoch / 20, 1) per 1-based epoch), so it scales with
the suite's epoch count.

**Teacher logits are needed only up to a per-example constant** (`kdbench.distill.logits`): the
teacher enters only through q_T = softmax((log p + c)/T) = softmax(log p / T), whatever c; b and
q̂ are functions of q_T. So the loss is that of the authors' code on the teacher's true logits
(up to `kd.soft_target`'s floor on p, below).

Changed for kdbench, and why:

* **Multi-sample teachers** give one target q_T from `kd.soft_target` (option ``target``, as in
  ``kd``: ``"members"`` heats each sample, then averages; ``"mean"`` averages, then heats); DKD
  is applied to that mixture, as the reference would to one teacher's q_T. `kd.soft_target`
  floors p at 1e-12, as for ``kd``, so dkd and kd see the same target; NCKD renormalises the
  small non-target probabilities, where the floor shows more than in kd's KL (seed-0 caches of
  the default suite: q̂ moves by a total variation of 0.003 on average against an unfloored p).
* **Unlabelled transfer images** (label −1) have no target class; DKD's split then uses the
  teacher's top class, argmax q_T (the class the teacher takes for the label). Their CE term is
  0 (`kd.labelled_ce`, as in every method). With a label, t is the label, as in the reference.
* The label term is `kd.labelled_ce` (the reference's ``F.cross_entropy`` over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..metrics.scores import EPS  # the one probability floor, as kd.soft_kl: 0·log 0 = 0
from .base import METHODS, Method
from ..train import Loss
from .kd import TARGETS, Target, labelled_ce, soft_target
from .options import OneOf, Real


def dkd_terms(logits: torch.Tensor, soft: torch.Tensor, target_class: torch.Tensor,
              temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example TCKD and NCKD ``(B,)`` (without the T² factor) of student logits ``(B, K)``
    against the heated teacher target ``soft`` ``(B, K)`` (rows sum to 1) for the classes
    ``target_class`` ``(B,)`` (see the module docstring). TCKD + (1 − q_t)·NCKD is the KL."""
    z = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature  # bf16 -> fp32
    t = target_class.long().unsqueeze(1)
    is_t = torch.zeros_like(z, dtype=torch.bool).scatter_(1, t, True)
    lse_all = torch.logsumexp(z, -1)
    lse_rest = torch.logsumexp(z.masked_fill(is_t, float("-inf")), -1)  # log Σ_{k≠t} e^{z_k}
    log_c = torch.stack([z.gather(1, t).squeeze(1) - lse_all, lse_rest - lse_all], -1)
    rest = soft.masked_fill(is_t, 0.0)
    b = torch.stack([soft.gather(1, t).squeeze(1), rest.sum(-1)], -1)
    tckd = (b * (b.clamp_min(EPS).log() - log_c)).sum(-1)
    q_hat = rest / rest.sum(-1, keepdim=True).clamp_min(EPS)
    log_s_hat = z - lse_rest.unsqueeze(1)
    nckd = (q_hat * (q_hat.clamp_min(EPS).log() - log_s_hat)).masked_fill(is_t, 0.0).sum(-1)
    return tckd, nckd


def dkd_loss(logits: torch.Tensor, soft: torch.Tensor, target_class: torch.Tensor, *,
             alpha: float, beta: float, temperature: float) -> torch.Tensor:
    """T²·mean_batch(α·TCKD + β·NCKD) — mdistiller's ``dkd_loss``."""
    tckd, nckd = dkd_terms(logits, soft, target_class, temperature)
    return temperature**2 * (alpha * tckd + beta * nckd).mean()


@METHODS.register("dkd")
@dataclass(frozen=True)
class DKD(Method):
    """Decoupled KD: label weight ``ce_weight``, TCKD weight ``alpha``, NCKD weight ``beta``,
    temperature ``temperature``, DKD term ramped in over the first ``warmup`` share of the
    training steps (0 = none), ensemble target ``target`` ("members" or "mean", as ``kd``)."""

    NAME: ClassVar[str] = "dkd"
    CHECKS: ClassVar[dict] = {"ce_weight": Real(0.0), "alpha": Real(0.0), "beta": Real(0.0),
                              "temperature": Real(0.0, closed="neither"),
                              "warmup": Real(0.0, 1.0), "target": OneOf(TARGETS)}
    ce_weight: float = 1.0
    alpha: float = 1.0
    beta: float = 8.0
    temperature: float = 4.0
    warmup: float = 20 / 240
    target: Target = "members"

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soft_target(teacher_probs, self.temperature, self.target)  # (N, K), once
        top = soft.argmax(-1)

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            t = torch.where(labels >= 0, labels, top[index].to(labels.device))
            ramp = min(progress / self.warmup, 1.0) if self.warmup > 0 else 1.0
            kd = dkd_loss(logits, soft[index], t, alpha=self.alpha, beta=self.beta,
                          temperature=self.temperature)
            return self.ce_weight * labelled_ce(logits, labels) + ramp * kd

        return loss
