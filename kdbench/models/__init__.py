"""Networks. Every model maps images ``(N, C, H, W)`` to logits ``(N, K)`` and exposes
``features(x) -> (N, D)`` (the deterministic trunk), ``dropout_p`` and ``head`` (the last
``nn.Linear``), so MC dropout can run the trunk once and only the head T times."""

from .registry import MODELS  # noqa: F401  (the registry)
from . import cnn, resnet, wide_resnet  # noqa: F401  (fill the registry)
