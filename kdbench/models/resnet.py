"""CIFAR ResNets (He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition",
§4.2): ``resnet20``, ``resnet32``, ``resnet56``.

Layout (depth 6n + 2): normalise → conv3x3(3 → 16) → BN → ReLU → three stages of n basic
blocks with 16, 32, 64 channels (the first block of stages 2 and 3 halves the resolution with
stride 2) → global average pooling → dropout(p) → linear(64 → K). A basic block is
conv3x3 → BN → ReLU → conv3x3 → BN, plus the shortcut, then ReLU. Convolutions have no bias;
convolution weights start from Kaiming-normal (fan-out) and BN from γ = 1, β = 0.

Shortcuts where the shape changes (``shortcut``):
* ``"B"`` (default): a 1×1 convolution with stride 2 and BN (the paper's option B), as
  RepDistiller's ``models/resnet.py`` (HobbitLong/RepDistiller), whose resnet56 → resnet20
  numbers docs/cifar10.md quotes; resnet20 has 272,474 parameters for 10 classes.
* ``"A"``: the paper's parameter-free option A for CIFAR (identity with stride-2 subsampling and
  zero-padded channels); resnet20 has 0.27 M parameters as in the paper's Table 6.

Changed from the reference: the input normalisation sits inside the model
(`kdbench.models.normalize`), and an optional dropout before the last layer gives the
MC-dropout teacher its stochastic layer (``dropout``, last-layer MC dropout; 0 = off, the
reference). The interface is kdbench's (`kdbench.models`): ``features`` (the trunk up to the
pooled 64 features), ``dropout_p``, ``head``. The global average pooling is
`kdbench.models.pool.GlobalAvgPool` (a mean over H, W: deterministic on CUDA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import MODELS
from .normalize import Normalize
from .pool import GlobalAvgPool


def init_conv_bn(net: nn.Module) -> None:
    """He (fan-out, ReLU) normal init of every conv weight, BatchNorm weight 1 and bias 0 — the
    initialisation of the CIFAR ResNets and WideResNets (He et al. 2016; RepDistiller)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """conv3x3 → BN → ReLU → conv3x3 → BN, + shortcut, → ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.option_a = shortcut == "A" and (stride != 1 or cin != cout)
        self.pad = cout - cin
        self.shortcut: nn.Module = nn.Identity()
        if shortcut == "B" and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.option_a:
            s = x[:, :, :: self.stride, :: self.stride]
            s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        else:
            s = self.shortcut(x)
        return F.relu(out + s)


class CifarResNet(nn.Module):
    """A ResNet of depth 6n + 2 for 32×32 images (module doc)."""

    def __init__(self, *, depth: int, num_classes: int, dropout: float = 0.0,
                 shortcut: str = "B", normalize: str = "cifar10", in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110); found {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"resnet shortcut must be 'A' or 'B'; found {shortcut!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"resnet dropout must lie in [0, 1); found {dropout}")
        n = (depth - 2) // 6
        self.normalize = Normalize(normalize)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(cin, width, stride, shortcut))
                cin = width
        layers += [GlobalAvgPool()]
        self.trunk = nn.Sequential(*layers)
        self.dropout_p = float(dropout)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = nn.Linear(64, num_classes)
        init_conv_bn(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk output ``(N, 64)``."""
        return self.trunk(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def _factory(depth: int):
    def make(*, num_classes: int = 10, dropout: float = 0.0, shortcut: str = "B",
             normalize: str = "cifar10", in_channels: int = 3) -> CifarResNet:
        return CifarResNet(depth=depth, num_classes=num_classes, dropout=dropout,
                           shortcut=shortcut, normalize=normalize, in_channels=in_channels)

    make.__name__ = f"resnet{depth}"
    make.__doc__ = (f"CIFAR ResNet-{depth} (He et al. 2016; {(depth - 2) // 6} blocks per stage, "
                    "16/32/64 channels); see `kdbench.models.resnet`.")
    return make


for _depth in (20, 32, 56):
    MODELS.register(f"resnet{_depth}")(_factory(_depth))
