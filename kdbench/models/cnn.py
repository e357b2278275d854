"""LeNet-style CNN used for teachers (width 32) and students (width 8).

conv3x3(C→w) → ReLU → maxpool2 → conv3x3(w→2w) → ReLU → maxpool2 → flatten
→ linear(2w·(H/4)(W/4) → 4w) → ReLU → dropout(p) → linear(4w → K).

For 28x28 inputs width 32 costs ≈ 8.5 MFLOP per image (2 FLOP per multiply-add) and has
≈ 0.42 M parameters; width 8 costs ≈ 0.6 MFLOP and has ≈ 27 k parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import MODELS


class CNN(nn.Module):
    """Two conv blocks and a two-layer head; dropout sits only before the last layer."""

    def __init__(self, *, width: int, num_classes: int, in_channels: int = 1,
                 image_size: int = 28, dropout: float = 0.0) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, 4 * width), nn.ReLU(),
        )
        self.dropout_p = float(dropout)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic trunk output ``(N, 4·width)``."""
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@MODELS.register("cnn")
def cnn(*, width: int = 32, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
        dropout: float = 0.0) -> CNN:
    """LeNet-style CNN of the given ``width`` (channels of the first conv layer)."""
    if width < 1:
        raise ValueError(f"cnn width must be >= 1; found {width}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"cnn dropout must lie in [0, 1); found {dropout}")
    return CNN(width=width, num_classes=num_classes, in_channels=in_channels,
               image_size=image_size, dropout=dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
