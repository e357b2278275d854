"""``sample-kd``: at every step each example is distilled toward one teacher sample drawn at
random (an ensemble member or an MC-dropout pass), instead of the teacher's mean — in the
spirit of Bayesian dark knowledge (Korattikara et al. 2015). Same loss as ``kd`` otherwise:
α·CE_labelled + (1 − α)·T²·KL(softmax(log p_s / T) ‖ softmax(z / T)) (`kd.labelled_ce`:
unlabelled images, label −1, have no label term). The draws come from torch's
global generator, which the training loop seeds, so runs are reproducible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import METHODS, Method
from ..train import Loss
from .kd import hinton_loss, soften
from .options import Real


@METHODS.register("sample-kd")
@dataclass(frozen=True)
class SampleKD(Method):
    """KD toward one random teacher sample per example and step."""

    NAME: ClassVar[str] = "sample-kd"
    CHECKS: ClassVar[dict] = {"alpha": Real(0.0, 1.0), "temperature": Real(0.0, closed="neither")}
    alpha: float = 0.1
    temperature: float = 4.0
    needs_samples = True

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soften(teacher_probs, self.temperature)  # (S, N, K), once
        s = soft.shape[0]

        def loss(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            pick = torch.randint(0, s, (len(index),))
            return hinton_loss(logits, labels, soft[pick, index], self.alpha, self.temperature)

        return loss
