"""Datasets, evaluation splits and corruptions.

Images cross module boundaries as float32 tensors ``(N, 1, 28, 28)`` in [0, 1] (white digit on
black, as MNIST) and labels as int64 tensors ``(N,)``; OOD sets have no labels.
"""

from .registry import CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS  # noqa: F401
from . import corruptions, mnist5k, ood, shift  # noqa: F401  (fill the registries)
