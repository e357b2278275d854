"""Per-channel input normalisation inside a model, so that every model takes images in [0, 1]
(the convention of `kdbench.data`) and the statistics travel with its weights.

``x' = (x − mean) / std`` per channel, with the training-set statistics of a data set:

* ``cifar10``: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616) — per-channel mean
  and standard deviation of the 50,000 CIFAR-10 training images;
* ``cifar100``: mean (0.5071, 0.4867, 0.4408), std (0.2675, 0.2565, 0.2761) — as RepDistiller
  (HobbitLong/RepDistiller, ``dataset/cifar100.py``);
* ``none``: identity.
"""

from __future__ import annotations

import torch
from torch import nn

STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "none": None,
}


class Normalize(nn.Module):
    """``(x − mean) / std`` per channel with the statistics ``STATS[name]`` (buffers, not
    parameters: they are saved with the weights and never trained)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in STATS:
            raise ValueError(f"normalize must be one of {', '.join(STATS)}; found {name!r}")
        self.name = name
        stats = STATS[name]
        mean, std = stats if stats is not None else ((0.0,), (1.0,))
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if STATS[self.name] is None:
            return x
        return (x - self.mean) / self.std
