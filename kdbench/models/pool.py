"""Global average pooling that is deterministic on every device.

``GlobalAvgPool``: ``(N, C, H, W)`` -> ``(N, C)``, the mean over H and W. On CUDA it is
``x.mean((2, 3))``, whose backward (a broadcast of the gradient divided by H·W) is
deterministic, where ``nn.AdaptiveAvgPool2d``'s CUDA backward accumulates with atomics and
raises under ``torch.use_deterministic_algorithms`` (`kdbench.device.configure`). On the CPU it
is ``adaptive_avg_pool2d(x, 1)`` flattened, the op the models always ran there, so CPU numbers
stay byte for byte what they were (the two agree bit for bit on this machine's CPU for the
CIFAR shapes, but that is not promised on every CPU). No parameters or buffers: a model's
state dict is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GlobalAvgPool(nn.Module):
    """Mean over the spatial axes, ``(N, C, H, W)`` -> ``(N, C)`` (module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu":
            return F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x.mean((2, 3))
