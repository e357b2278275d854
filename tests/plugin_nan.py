"""A plugin for the tests: a distillation method whose loss is NaN (training diverges)."""

from dataclasses import dataclass

import torch

from kdbench.distill import METHODS, Method


@dataclass(frozen=True)
class Diverges(Method):
    needs_teacher = False

    def make_loss(self, teacher_probs):
        return lambda logits, labels, index, progress: (logits * float("nan")).sum()


@METHODS.register("test-diverges")
def diverges() -> Method:
    return Diverges()
