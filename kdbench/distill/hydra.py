"""``hydra``: a shared student trunk with one light head per teacher sample (Tran et al. 2020,
"Hydra: Preserving Ensemble Diversity for Model Distillation").

Head h (a linear layer on the student's features, like the student's own last layer) distils
teacher sample h with the Hinton loss at temperature T; the loss is the mean over heads. The
student answers with the H heads' probabilities as samples, S = H, so it has a mutual
information. ``heads`` (default 5) must not exceed the teacher's samples; for an ensemble head
h follows member h. For an MC-dropout teacher, sample h is the h-th stochastic pass, whose
dropout masks differ between examples: the heads then learn samples of the predictive
distribution rather than fixed sub-networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import METHODS, Method
from ..prediction import Prediction
from ..predictors import CHANNELS_LAST, batches
from ..train import Loss
from .kd import hinton_loss, kd, soften


class MultiHead(nn.Module):
    """The student's trunk (``features``) with ``heads`` linear heads; forward -> ``(H, B, K)``.

    The wrapped network's own head is kept but unused, so a checkpoint names the same trunk.
    """

    def __init__(self, net: nn.Module, heads: int) -> None:
        super().__init__()
        self.net = net
        d, k = net.head.in_features, net.head.out_features
        self.heads = nn.ModuleList(nn.Linear(d, k) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        return torch.stack([head(h) for head in self.heads])


class MultiHeadNet:
    """Predictor of a `MultiHead`: probs ``(H, N, K)``."""

    def __init__(self, net: MultiHead) -> None:
        self.net = net.eval().to(memory_format=CHANNELS_LAST)

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.softmax(self.net(b), -1) for b in batches(x)]
        return Prediction(probs=torch.cat(out, 1).double().numpy())


@dataclass(frozen=True)
class Hydra(Method):
    heads: int = 5
    alpha: float = 0.1
    temperature: float = 4.0
    needs_samples = True

    def min_samples(self) -> int:
        return self.heads

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        soft = soften(teacher_probs[: self.heads], self.temperature)  # (H, N, K)

        def loss(outputs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return torch.stack([hinton_loss(outputs[h], labels, soft[h, index], self.alpha,
                                            self.temperature) for h in range(self.heads)]).mean()

        return loss

    def wrap_model(self, net: nn.Module) -> nn.Module:
        return MultiHead(net, self.heads)

    def predictor(self, net: nn.Module) -> MultiHeadNet:
        return MultiHeadNet(net)


@METHODS.register("hydra")
def hydra(*, heads: int = 5, alpha: float = 0.1, temperature: float = 4.0) -> Method:
    """Multi-head student, one head per teacher sample."""
    if heads < 2:
        raise ValueError(f"hydra needs at least 2 heads; found {heads}")
    kd(alpha=alpha, temperature=temperature)
    return Hydra(heads=int(heads), alpha=float(alpha), temperature=float(temperature))
