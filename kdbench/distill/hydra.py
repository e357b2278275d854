"""``hydra``: a shared student trunk with one light head per teacher sample (Tran, Dusenberry,
van der Wilk & Hafner 2020, "Hydra: Preserving Ensemble Diversity for Model Distillation").

Two phases, as in the paper (§3, "Training"):

1. **One head** on the trunk is trained with Hinton KD toward the teacher's mean — exactly the
   ``kd`` loss (label weight ``alpha``, temperature T, ensemble target ``"members"``), labels −1
   ignored — for the first ``phase1`` share of the epochs.
2. **H heads**, each initialised as a copy of that head, are trained with the trunk for the
   remaining epochs; head h is matched to teacher sample h alone by T²·KL(softmax(log p_h / T)
   ‖ softmax(z_h / T)), mean over heads, no label term.

Each phase is one call of the one training loop (`kdbench.train.fit`, a fresh optimiser and
cosine schedule per phase); the per-epoch records are concatenated with the epochs renumbered
1…E and a ``phase`` field. During phase 1 the unused heads are kept equal to head 0, so the
per-epoch monitor sees the phase-1 student itself (H identical heads, zero disagreement).

Changed from the paper: a head is one linear layer on the student's features (the student's own
last layer), where the paper's heads are small MLPs; with kdbench's small CNNs a linear head is
already ~10% of the parameters. The student answers with the H heads' probabilities as
samples, S = H, so it has a mutual information. ``heads`` (default 5) must not exceed the
teacher's samples: for an ensemble head h follows member h; for an MC-dropout teacher sample h
is one fixed sub-network (one dropout mask shared by all examples, `kdbench.predictors.MCDropout`),
so head h follows sub-network h.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .base import METHODS, Method
from ..data.mnist5k import LabelledImages
from ..prediction import Prediction
from ..device import current
from ..predictors import CHANNELS_LAST, batches, to_numpy
from ..train import Curve, Loss, Monitor, TrainConfig, fit
from .kd import hinton_loss, soft_kl, soft_target, soften
from .options import Integral, Real


class MultiHead(nn.Module):
    """The student's trunk (``features``) with ``heads`` linear heads; forward -> ``(H, B, K)``.

    The wrapped network's own last layer is removed (``net.head = None``): only the trunk is
    used, so `count_parameters` counts what the student actually runs.
    """

    def __init__(self, net: nn.Module, heads: int) -> None:
        super().__init__()
        d, k = net.head.in_features, net.head.out_features
        net.head = None
        self.net = net
        self.heads = nn.ModuleList(nn.Linear(d, k) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        return torch.stack([head(h) for head in self.heads])

    @torch.no_grad()
    def copy_first_head(self) -> None:
        """Set every head's weights to head 0's."""
        for head in self.heads[1:]:
            head.load_state_dict(self.heads[0].state_dict())


class MultiHeadNet:
    """Predictor of a `MultiHead`: probs ``(H, N, K)``."""

    def __init__(self, net: MultiHead) -> None:
        self.net = net.eval().to(current(), memory_format=CHANNELS_LAST)

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.softmax(self.net(b), -1) for b in batches(x)]
        return Prediction(probs=to_numpy(torch.cat(out, 1)))


@METHODS.register("hydra")
@dataclass(frozen=True)
class Hydra(Method):
    """Multi-head student, one head per teacher sample, trained in two phases: KD of one head
    toward the mean for the ``phase1`` share of the epochs, then one head per sample."""

    NAME: ClassVar[str] = "hydra"
    CHECKS: ClassVar[dict] = {"heads": Integral(2), "alpha": Real(0.0, 1.0), "temperature": Real(0.0, closed="neither"),
                              "phase1": Real(0.0, 1.0, closed="neither")}
    heads: int = 5
    alpha: float = 0.1
    temperature: float = 4.0
    phase1: float = 0.5
    needs_samples = True

    def min_samples(self) -> int:
        return self.heads

    def phase_epochs(self, epochs: int) -> tuple[int, int]:
        """Epochs of phase 1 and phase 2 for a budget of ``epochs`` (each at least 1)."""
        if epochs < 2:
            raise ValueError(f"hydra trains in two phases and needs at least 2 epochs; found {epochs}")
        e1 = min(max(1, round(self.phase1 * epochs)), epochs - 1)
        return e1, epochs - e1

    def phase1_loss(self, teacher_probs: torch.Tensor) -> Loss:
        """Hinton KD of head 0 toward the teacher's mean (the ``kd`` loss)."""
        soft = soft_target(teacher_probs, self.temperature, "members")

        def loss(outputs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return hinton_loss(outputs[0], labels, soft[index], self.alpha, self.temperature)

        return loss

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        """Phase 2: mean over heads h of T²·KL(softmax(log p_h / T) ‖ softmax(z_h / T))."""
        soft = soften(teacher_probs[: self.heads], self.temperature)  # (H, N, K)

        def loss(outputs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
                 progress: float) -> torch.Tensor:
            return torch.stack([soft_kl(outputs[h], soft[h, index], self.temperature)
                                for h in range(self.heads)]).mean()

        return loss

    def fit_student(self, net: nn.Module, data: LabelledImages, teacher_probs: torch.Tensor | None,
                    *, config: TrainConfig, seed: int, desc: str, progress: bool,
                    monitor: Monitor | None) -> Curve:
        e1, e2 = self.phase_epochs(config.epochs)
        def synced(model: nn.Module) -> dict[str, float]:
            model.copy_first_head()
            return monitor(model)

        curve1 = fit(net, data, self.phase1_loss(teacher_probs),
                     config=dataclasses.replace(config, epochs=e1), seed=seed,
                     desc=f"{desc} (1/2)", progress=progress,
                     monitor=synced if monitor is not None else None)
        net.copy_first_head()
        curve2 = fit(net, data, self.make_loss(teacher_probs),
                     config=dataclasses.replace(config, epochs=e2), seed=seed + 1,
                     desc=f"{desc} (2/2)", progress=progress, monitor=monitor)
        return ([{**r, "phase": 1} for r in curve1]
                + [{**r, "epoch": e1 + r["epoch"], "phase": 2} for r in curve2])

    def wrap_model(self, net: nn.Module) -> nn.Module:
        return MultiHead(net, self.heads)

    def predictor(self, net: nn.Module) -> MultiHeadNet:
        return MultiHeadNet(net)
