"""Wide residual networks (Zagoruyko & Komodakis 2016, "Wide residual networks"): ``wrn16-4``
and ``wrn28-10`` (WRN-d-k: depth d = 6n + 4, widening factor k).

Layout, as the authors' code (szagoruyko/wide-residual-networks) and the WRN-28-10 of
uncertainty-baselines: normalise → conv3x3(3 → 16) → three groups of n pre-activation blocks
with 16k, 32k, 64k channels (stride 1, 2, 2) → BN → ReLU → global average pooling → dropout(p) →
linear(64k → K). A block is BN → ReLU → conv3x3(stride) → BN → ReLU → conv3x3, plus the
shortcut: identity, or a 1×1 convolution (with the block's stride) on the pre-activated input
where the shape changes. Convolutions have no bias; Kaiming-normal (fan-out) initialisation.

Changed from the reference: the normalisation sits inside the model; the dropout is one layer
before the last linear layer (last-layer MC dropout, ``dropout``; 0 = off), not the paper's
dropout between the two convolutions of every block. WRN-16-4 has 2,748,890 parameters and
WRN-28-10 36,479,194 for 10 classes (the paper's 2.7 M and 36.5 M). The global average pooling
is `kdbench.models.pool.GlobalAvgPool` (a mean over H, W: deterministic on CUDA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import MODELS
from .normalize import Normalize
from .pool import GlobalAvgPool
from .resnet import init_conv_bn


class PreActBlock(nn.Module):
    """BN → ReLU → conv3x3 → BN → ReLU → conv3x3, + shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + (self.shortcut(a) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` for 32×32 images (module doc)."""

    def __init__(self, *, depth: int, widen: int, num_classes: int, dropout: float = 0.0,
                 normalize: str = "cifar10", in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"a WideResNet has depth 6n + 4 (16, 22, 28, 40); found {depth}")
        if widen < 1:
            raise ValueError(f"WideResNet widening factor must be >= 1; found {widen}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"wide_resnet dropout must lie in [0, 1); found {dropout}")
        n = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        self.normalize = Normalize(normalize)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)]
        cin = 16
        for g, width in enumerate(widths):
            for i in range(n):
                layers.append(PreActBlock(cin, width, 2 if g > 0 and i == 0 else 1))
                cin = width
        layers += [nn.BatchNorm2d(cin), nn.ReLU(), GlobalAvgPool()]
        self.trunk = nn.Sequential(*layers)
        self.dropout_p = float(dropout)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(cin, num_classes)
        init_conv_bn(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk output ``(N, 64·widen)``."""
        return self.trunk(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@MODELS.register("wrn16-4")
def wrn16_4(*, num_classes: int = 10, dropout: float = 0.0, normalize: str = "cifar10",
            in_channels: int = 3) -> WideResNet:
    """WRN-16-4 (2.7 M parameters); see `kdbench.models.wide_resnet`."""
    return WideResNet(depth=16, widen=4, num_classes=num_classes, dropout=dropout,
                      normalize=normalize, in_channels=in_channels)


@MODELS.register("wrn28-10")
def wrn28_10(*, num_classes: int = 10, dropout: float = 0.0, normalize: str = "cifar10",
             in_channels: int = 3) -> WideResNet:
    """WRN-28-10 (36.5 M parameters; uncertainty-baselines' CIFAR model)."""
    return WideResNet(depth=28, widen=10, num_classes=num_classes, dropout=dropout,
                      normalize=normalize, in_channels=in_channels)
