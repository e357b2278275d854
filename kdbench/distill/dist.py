"""``dist``: DIST, "Knowledge Distillation from A Stronger Teacher" (Huang, You, Wang, Qian & Xu,
NeurIPS 2022).

Reference code: github.com/hunto/image_classification_sota (the classification code of
github.com/hunto/DIST_KD), ``lib/models/losses/dist_kd.py`` (class ``DIST``) and
``lib/models/losses/kd_loss.py`` (``kd = "dist_t4"`` → ``DIST(beta=1, gamma=1, tau=4)``; total
``ori_loss·ori_loss_weight + kd_loss·kd_loss_weight``). Instead of matching probabilities
exactly, DIST matches their *relations* by Pearson correlation ρ(a, b) = cos(a − ā, b − b̄)
(cosine with ε = 1e-8 added to the product of the norms, as the reference). With Y_s =
softmax(z/τ) and Y_t = q_τ the teacher's, both ``(B, K)``:

    inter = 1 − mean_i ρ(Y_s[i, :], Y_t[i, :])      (each example's class ranking)
    intra = 1 − mean_k ρ(Y_s[:, k], Y_t[:, k])      (each class's ranking over the batch)
    loss  = w_CE·CE_labelled(y, softmax(z)) + w_KD·τ²·(β·inter + γ·intra).

Defaults are the authors' CIFAR-100 setting, ``configs/strategies/distill/dist_cifar.yaml``
(``ori_loss_weight: 1``, ``kd_loss_weight: 2``, ``kd: dist_t4``): w_CE = 1, w_KD = 2, β = γ = 1,
τ = 4.

**Teacher logits are needed only up to a per-example constant** (`kdbench.distill.logits`): the
teacher enters only through Y_t = softmax((log p + c)/τ) = softmax(log p / τ), whatever c — the
reference's ``(z_t / tau).softmax(dim=1)``.

Changed for kdbench, and why:

* **Multi-sample teachers** give one target Y_t from `kd.soft_target` (option ``target``, as
  ``kd``: ``"members"`` heats each sample, then averages; ``"mean"`` averages, then heats). It
  floors p at 1e-12, as for ``kd``; at τ = 4 that moves Y_t by a total variation of 2e-4 on
  average in the default suite's seed-0 teacher caches.
* **Unlabelled transfer images** (label −1) need nothing more: the relation terms use no label,
  and the CE term ignores them (`kd.labelled_ce`, as in every method).
* The intra-class term correlates over the rows of a batch, so it depends on the batch; that is
  as in the reference. kdbench's last batch of an epoch may be small; for one row ρ is 0/ε = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import METHODS, Method
from ..train import Loss
from .kd import TARGETS, Target, labelled_ce, soft_target
from .options import OneOf, Real

EPS = 1e-8


def pearson_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` ``(B, K) -> (B,)``:
    cos(a − ā, b − b̄) with ε = 1e-8 added to the product of the norms (the reference's)."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + EPS)


def dist_loss(logits: torch.Tensor, soft: torch.Tensor, *, beta: float, gamma: float,
              temperature: float) -> torch.Tensor:
    """τ²·(β·inter + γ·intra) of student logits ``(B, K)`` against the heated teacher target
    ``soft`` ``(B, K)`` — the reference's ``DIST.forward``."""
    y_s = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature, -1)
    soft = soft.to(y_s.dtype)
    inter = 1 - pearson_rows(y_s, soft).mean()
    intra = 1 - pearson_rows(y_s.T, soft.T).mean()
    return temperature**2 * (beta * inter + gamma * intra)


@METHODS.register("dist")
@dataclass(frozen=True)
class DIST(Method):
    """DIST: label weight ``ce_weight``, relation-loss weight ``kd_weight``, inter-class weight
    ``beta``, intra-class weight ``gamma``, temperature ``temperature`` (the reference's τ),
    ensemble target ``target`` ("members" or "mean", as ``kd``)."""

    NAME: ClassVar[str] = "dist"
    CHECKS: ClassVar[dict] = {"ce_weight": Real(0.0), "kd_weight": Real(0.0), "beta": Real(0.0),
                              "gamma": Real(0.0), "temperature": Real(0.0, closed="neither"),
                              "target": OneOf(TARGETS)}
    ce_weight: float = 1.0
    kd_weight: float = 2.0
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 4.0
    target: Target = "members"

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soft_target(teacher_probs, self.temperature, self.target)  # (N, K), once

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            kd = dist_loss(logits, soft[index], beta=self.beta, gamma=self.gamma,
                           temperature=self.temperature)
            return self.ce_weight * labelled_ce(logits, labels) + self.kd_weight * kd

        return loss
