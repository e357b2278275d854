"""Datasets, evaluation splits and corruptions.

Images cross module boundaries as float32 tensors ``(N, C, H, W)`` in [0, 1] — ``(N, 1, 28, 28)``
white digits on black for the MNIST family, ``(N, 3, 32, 32)`` RGB for the CIFAR family — and
labels as int64 tensors ``(N,)``; OOD sets have no labels. The CIFAR family is read from the
published files under the data root (`kdbench.data.files`, docs/data.md).
"""

from .registry import CORRUPTED_SETS, CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS  # noqa: F401
from . import cifar, corrupted, corruptions, mnist5k, ood, shift, svhn  # noqa: F401  (fill the registries)
