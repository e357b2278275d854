"""The registry of distillation methods, `METHODS`, and their base class `Method`; the
methods register themselves in their own modules (`kdbench.distill`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..predictors import SingleNet
from ..registry import Registry
from ..data.mnist5k import LabelledImages
from ..train import Curve, Loss, Monitor, TrainConfig, fit
from .options import check_fields

METHODS: Registry = Registry("method")


@dataclass(frozen=True)
class Method:
    """Base of all methods. ``needs_teacher``: trains from teacher outputs;
    ``needs_samples``: needs S > 1 teacher samples (an ensemble or MC-dropout teacher)."""

    needs_teacher = True
    needs_samples = False

    def __post_init__(self) -> None:
        check_fields(self)  # the class's CHECKS (kdbench.distill.options)

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        """The loss ``(outputs, labels, index, progress) -> scalar`` given cached teacher
        probabilities ``(S, N, K)`` on the training set (None when ``needs_teacher`` is False)."""
        raise NotImplementedError

    def fit_student(self, net: nn.Module, data: LabelledImages, teacher_probs: torch.Tensor | None,
                    *, config: TrainConfig, seed: int, desc: str, progress: bool,
                    monitor: Monitor | None) -> Curve:
        """Train the (wrapped) student ``net`` in place on the transfer set ``data`` (labels -1 =
        unlabelled) with teacher probabilities ``(S, N, K)`` on the same images; returns the
        per-epoch records of `kdbench.train.fit`. Default: one call of the one training loop
        with `make_loss`; a method trained in phases calls `fit` once per phase."""
        return fit(net, data, self.make_loss(teacher_probs), config=config, seed=seed, desc=desc,
                   progress=progress, monitor=monitor)

    def min_samples(self) -> int:
        """The fewest teacher samples S the method can use (checked at suite load)."""
        return 2 if self.needs_samples else 1

    def wrap_model(self, net: nn.Module) -> nn.Module:
        """The network the student trains (default: the suite's student network itself)."""
        return net

    def predictor(self, net: nn.Module):
        """How the trained student answers with a `Prediction` (default: one network, S = 1)."""
        return SingleNet(net)
