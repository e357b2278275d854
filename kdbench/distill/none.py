"""``none``: the student is trained on the labels alone (cross-entropy over the labelled
examples, `labelled_ce`; unlabelled auxiliary images, label −1, contribute nothing) — the
baseline every distillation method is compared with. Its student does not depend on any
teacher, so one such student per seed serves every teacher in a suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import METHODS, Method
from ..train import Loss
from .kd import labelled_ce


@METHODS.register("none")
@dataclass(frozen=True)
class LabelsOnly(Method):
    """Labels only, no teacher."""

    NAME: ClassVar[str] = "none"
    needs_teacher = False

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        return lambda logits, labels, index, progress: labelled_ce(logits, labels)
