"""``none``: the student is trained on the labels alone (cross-entropy) — the baseline every
distillation method is compared with. Its student does not depend on any teacher, so one
such student per seed serves every teacher in a suite."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import METHODS, Method
from ..train import Loss


@dataclass(frozen=True)
class LabelsOnly(Method):
    needs_teacher = False

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        return lambda logits, labels, index, progress: F.cross_entropy(logits, labels)


@METHODS.register("none")
def none() -> Method:
    """Labels only, no teacher."""
    return LabelsOnly()
