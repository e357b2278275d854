"""Networks. Every model maps images ``(N, C, H, W)`` to logits ``(N, K)`` and exposes
``features(x) -> (N, D)`` (the deterministic trunk), ``dropout_p`` and ``head`` (the last
``nn.Linear``), so MC dropout can run the trunk once and only the head T times."""

from ..registry import Registry

MODELS: Registry = Registry("model")

from . import cnn, resnet, wide_resnet  # noqa: E402,F401  (fill the registry)
