"""``end2-proxy``: Proxy-Dirichlet distribution distillation (Ryabinin, Malinin & Gales,
NeurIPS 2021, "Scaling Ensemble Distribution Distillation to Many Classes with Proxy
Targets"), as in the authors' code (github.com/yandex-research/proxy-dirichlet-distillation:
``imagenet/model.py`` ``compute_ensemble_stats``, ``imagenet/losses.py`` ``rkl_proxy_loss`` and
``get_dirichlet_parameters``).

Target (once, from the teacher's samples p_s, S ≥ 2): a proxy Dirichlet with mean the teacher's
mean p̄ = mean_s p_s and precision from the samples' spread,

    β0 = (K − 1) / (2 · MKL + ε),   MKL = mean_s KL(p̄ ‖ p_s),   ε = float32 machine epsilon,

(the paper's Stirling approximation; ``compute_ensemble_stats``), plus ``target_offset`` t
(default 1, as the authors' example command ``--target_offset 1``): β = β0 · p̄ + t.

Student: α = exp(z) + 1 (``model_offset`` 1, the authors' ``--model_offset 1``); α0 = Σ_k α_k.

Loss (``rkl_proxy_loss``, the paper's reverse KL to the proxy target, divided by the target
precision): per example

    L = −Σ_k p̄_k [ψ(α_k + ε) − ψ(α0 + ε)] − H[Dir(α)] / (β0 + K · t),

    H[Dir(α)] = Σ_k lnΓ(α_k + ε) − lnΓ(α0 + ε) − Σ_k (α_k − 1)[ψ(α_k + ε) − ψ(α0 + ε)],

batch mean, computed in float64 as the reference. Up to terms free of α, this is
KL(Dir(α) ‖ Dir(β)) / β0 with the entropy weighted by 1/(β0 + K·t) instead of 1/β0 (exactly
as the reference code). The first term is the expected cross-entropy of the teacher mean under
the student's Dirichlet, so every class's gradient is weighted by its probability p̄_k — the
fix of the paper for EnD²'s tail-class gradients. (The authors' ImageNet example command names
the other loss of their code, ``proxy``: KL(Dir(β) ‖ Dir(α)), the forward direction; kdbench
follows the paper's stated objective, the reverse KL.) No temperature and no label term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import METHODS, Method
from .options import Real
from ..train import Loss
from .end2 import DirichletNet

EPS = float(torch.finfo(torch.float32).eps)
MODEL_OFFSET = 1.0


def proxy_precision(teacher_probs: torch.Tensor) -> torch.Tensor:
    """β0 = (K − 1) / (2 · mean_s KL(p̄ ‖ p_s) + ε) per example ``(N,)`` from samples
    ``(S, N, K)``, float64."""
    p = teacher_probs.double()
    mean = p.mean(0)
    log_p = p.clamp_min(1e-30).log()
    mkl = (mean * (mean.clamp_min(1e-30).log() - log_p)).sum(-1).mean(0)
    return (p.shape[-1] - 1) / (2 * mkl + EPS)


def rkl_proxy_loss(logits: torch.Tensor, mean_probs: torch.Tensor, precision: torch.Tensor,
                   target_offset: float) -> torch.Tensor:
    """The loss of the module docstring, batch mean: student ``logits`` ``(B, K)``, teacher
    mean ``mean_probs`` ``(B, K)``, proxy precision β0 ``precision`` ``(B,)``. Computed in
    float64 from logits that must carry float32 precision (the training loop runs the last
    layer and the loss outside autocast, `kdbench.train.float32_last_layers`); returns float32
    for float32 or bf16 logits (float64 for float64 ones)."""
    k = logits.shape[-1]
    alphas = logits.double().exp() + MODEL_OFFSET
    a0 = alphas.sum(-1, keepdim=True)
    dig = torch.digamma(alphas + EPS) - torch.digamma(a0 + EPS)  # E_Dir(α)[log π_k]
    expected_ce = -(mean_probs.double() * dig).sum(-1)
    entropy = (torch.lgamma(alphas + EPS).sum(-1) - torch.lgamma(a0.squeeze(-1) + EPS)
               - ((alphas - 1) * dig).sum(-1))
    cost = expected_ce - entropy / (precision.double() + target_offset * k)
    return cost.mean().to(torch.promote_types(logits.dtype, torch.float32))


@METHODS.register("end2-proxy")
@dataclass(frozen=True)
class End2Proxy(Method):
    """Proxy-Dirichlet distribution distillation (reverse KL) into a Dirichlet student with
    α = exp(z) + 1; ``target_offset`` is added to every proxy-target concentration."""

    NAME: ClassVar[str] = "end2-proxy"
    CHECKS: ClassVar[dict] = {"target_offset": Real(0.0)}
    target_offset: float = 1.0
    needs_samples = True

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        mean, precision = teacher_probs.mean(0), proxy_precision(teacher_probs)

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return rkl_proxy_loss(logits, mean[index], precision[index], self.target_offset)

        return loss

    def predictor(self, net: nn.Module) -> DirichletNet:
        return DirichletNet(net, offset=MODEL_OFFSET)
