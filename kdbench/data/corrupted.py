"""Corrupted sets read from files: ``cifar10-c`` (Hendrycks & Dietterich 2019, "Benchmarking
neural network robustness to common corruptions and perturbations").

Layout under the data root (`kdbench.data.files`), as the release (https://zenodo.org/records/2535967,
``CIFAR-10-C.tar``) unpacks: ``CIFAR-10-C/<corruption>.npy`` uint8 ``(R, 32, 32, 3)``, the five
severities stacked (rows ``[(s−1)·B, s·B)`` are severity s, block ``B = R / 5``; 10,000 in the
release, the CIFAR-10 test set in its file order, as the authors' ``make_cifar_c.py`` wrote
them), and ``CIFAR-10-C/labels.npy`` ``(R,)``. All 19 corruption types are registered in
`CIFAR10_C_TYPES`: the 15 of the benchmark and the 4 extra ones the release also holds.

A split ``corrupt/<corruption>/<s>`` is rows ``(s−1)·B … (s−1)·B + n − 1``: the corrupted
versions of the first ``n`` test images, which are the suite's own first ``n`` test images
(`kdbench.data.cifar`: the test split is the test file's first images in order). Every load
checks that this holds: ``B`` equals the number of images in ``cifar-10-batches-py/test_batch``
and each block of ``labels.npy`` equals that file's labels, so the rows are the corrupted copies
of the same images. Files are memory-mapped; only the rows used are read. The release publishes
no MD5 per file (only of the tar archive), so none is checked.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..errors import UserError
from ..registry import Registry
from .cifar import CIFAR10_URL, read_cifar10
from .files import check_array, check_labels, data_root, hwc_to_float, np_load, require
from .registry import CORRUPTED_SETS, family

CIFAR10_C_URL = "https://zenodo.org/records/2535967 (CIFAR-10-C.tar)"

CIFAR10_C_TYPES: Registry = Registry("CIFAR-10-C corruption")
"""The corruption types of the CIFAR-10-C release (name -> "benchmark" or "extra")."""
BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
             "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
             "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
for _name in BENCHMARK + EXTRA:
    CIFAR10_C_TYPES.register(_name)(lambda kind="benchmark" if _name in BENCHMARK else "extra": kind)


@lru_cache(maxsize=2)
def _labels(root: str) -> np.ndarray:
    path = require("CIFAR-10-C/labels.npy", url=CIFAR10_C_URL, what="CIFAR-10-C")
    y = check_labels(path, "labels", np_load(path), 10)
    if len(y) % 5:
        raise UserError(f"{path}: {len(y)} rows is not 5 severity blocks of equal size")
    _, test_y = read_cifar10("test", root)
    block = len(y) // 5
    if block != len(test_y):
        raise UserError(f"{path}: blocks of {block} rows, but cifar-10-batches-py/test_batch has "
                        f"{len(test_y)} images; the files are not from the same release")
    for s in range(5):
        if not np.array_equal(y[s * block:(s + 1) * block], test_y):
            raise UserError(f"{path}: severity {s + 1}'s labels differ from test_batch's: the "
                            "rows are not the CIFAR-10 test images in file order")
    return y


@CORRUPTED_SETS.register("cifar10-c")
@family("cifar")
def cifar10_c(*, corruption: str, severity: int, n: int) -> torch.Tensor:
    """The first ``n`` CIFAR-10 test images under ``corruption`` at ``severity`` (1–5), float32
    ``(n, 3, 32, 32)``; their labels are the test split's first ``n`` (checked, module doc)."""
    CIFAR10_C_TYPES.get(corruption)
    if severity not in (1, 2, 3, 4, 5):
        raise UserError(f"CIFAR-10-C severity must be 1–5; found {severity!r}")
    root = str(data_root()[0])
    y = _labels(root)
    path = require(f"CIFAR-10-C/{corruption}.npy", url=CIFAR10_C_URL, what="CIFAR-10-C")
    x = check_array(path, corruption, np_load(path, mmap=True), dtype=np.uint8,
                    shape=(len(y), 32, 32, 3))
    block = len(y) // 5
    if n > block:
        raise UserError(f"{path}: {n} images per severity asked for, a block has {block}")
    start = (severity - 1) * block
    return hwc_to_float(np.array(x[start: start + n]))


cifar10_c.types = CIFAR10_C_TYPES  # type: ignore[attr-defined]
cifar10_c.files_for = lambda corruption: (  # type: ignore[attr-defined]
    *[(f"cifar-10-batches-py/{n}", CIFAR10_URL, "CIFAR-10") for n in ("batches.meta", "test_batch")],
    ("CIFAR-10-C/labels.npy", CIFAR10_C_URL, "CIFAR-10-C"),
    (f"CIFAR-10-C/{corruption}.npy", CIFAR10_C_URL, "CIFAR-10-C"))
