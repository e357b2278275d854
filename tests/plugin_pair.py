"""A third-party plugin for the tests: a new student architecture and a new method, registered
from outside kdbench exactly as docs/adding-a-pair.md shows."""

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from kdbench.distill import METHODS, Method
from kdbench.distill.options import Real
from kdbench.models import MODELS


class TinyMLP(nn.Module):
    def __init__(self, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU())
        self.dropout_p = 0.0
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@MODELS.register("tiny-mlp")
def tiny_mlp(*, hidden: int = 32, num_classes: int = 10) -> nn.Module:
    return TinyMLP(hidden, num_classes)


@METHODS.register("soft-labels")
@dataclass(frozen=True)
class SoftLabels(Method):
    """Cross-entropy toward the teacher's mean heated by ``temperature``, no labels."""

    NAME: ClassVar[str] = "soft-labels"
    CHECKS: ClassVar[dict] = {"temperature": Real(0.0, closed="neither")}
    temperature: float = 1.0

    def make_loss(self, teacher_probs):
        mean = torch.softmax(teacher_probs.mean(0).log() / self.temperature, -1)
        return lambda logits, labels, index, progress: \
            -(mean[index] * F.log_softmax(logits, -1)).sum(-1).mean()
