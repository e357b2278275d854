"""Distillation methods: the loss a student trains with and what it needs from its teacher.

A method is registered by name (``@METHODS.register("kd")``) as a factory taking its suite
options as keyword arguments and returning a `Method`. Teacher outputs on the training set
arrive as probabilities ``(S, N, K)`` computed once per teacher and cached in the run store.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..registry import Registry
from ..train import Loss

METHODS: Registry = Registry("method")


@dataclass(frozen=True)
class Method:
    """Base of all methods. ``needs_teacher``: trains from teacher outputs;
    ``needs_samples``: needs S > 1 teacher samples (an ensemble or MC-dropout teacher)."""

    needs_teacher = True
    needs_samples = False

    def make_loss(self, teacher_probs: torch.Tensor | None) -> Loss:
        """The loss ``(logits, labels, index) -> scalar`` given cached teacher probabilities
        ``(S, N, K)`` on the training set (None when ``needs_teacher`` is False)."""
        raise NotImplementedError


from . import kd, none  # noqa: E402,F401  (fill the registry)
