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
of the same images (`check_cifar10_c` makes the same checks before a run, reading only the
corruption files' headers). Files are memory-mapped; only the rows used are read. The release
publishes no MD5 per file (only of the tar archive), so none is checked.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..errors import UserError
from ..registry import Registry
from .cifar import CIFAR10, CIFAR10_URL, check_part, read_cifar10
from .files import Problems, check_array, check_labels, data_root, hwc_to_float, np_load, require
from .registry import CORRUPTED_SETS, checked_by, family

CIFAR10_C_URL = "https://zenodo.org/records/2535967 (CIFAR-10-C.tar)"

CIFAR10_C_TYPES: Registry = Registry("CIFAR-10-C corruption")
"""The corruption types of the CIFAR-10-C release (name -> "benchmark" or "extra")."""
BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
             "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
             "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
for _name in BENCHMARK + EXTRA:
    CIFAR10_C_TYPES.register(_name)(lambda kind="benchmark" if _name in BENCHMARK else "extra": kind)


def _labels_file() -> tuple:
    """``labels.npy``'s own checks: labels in 0–9, 5 blocks of equal size."""
    path = require("CIFAR-10-C/labels.npy", url=CIFAR10_C_URL, what="CIFAR-10-C")
    y = check_labels(path, "labels", np_load(path), 10)
    if len(y) % 5:
        raise UserError(f"{path}: {len(y)} rows is not 5 severity blocks of equal size")
    return path, y


def _labels_match(path, y: np.ndarray, test_y: np.ndarray) -> int:
    """Each block of ``labels.npy`` is ``test_batch``'s labels: the rows are the corrupted
    copies of the test images in file order. Returns the block size."""
    block = len(y) // 5
    if block != len(test_y):
        raise UserError(f"{path}: blocks of {block} rows, but cifar-10-batches-py/test_batch has "
                        f"{len(test_y)} images; the files are not from the same release")
    for s in range(5):
        if not np.array_equal(y[s * block:(s + 1) * block], test_y):
            raise UserError(f"{path}: severity {s + 1}'s labels differ from test_batch's: the "
                            "rows are not the CIFAR-10 test images in file order")
    return block


def _images(corruption: str, rows: int | None) -> np.ndarray:
    """``<corruption>.npy`` memory-mapped, its dtype and shape checked from the header alone
    (``rows`` = 5 blocks; None: any)."""
    path = require(f"CIFAR-10-C/{corruption}.npy", url=CIFAR10_C_URL, what="CIFAR-10-C")
    return check_array(path, corruption, np_load(path, mmap=True), dtype=np.uint8,
                       shape=(rows, 32, 32, 3))


def _images_of_rows(corruption: str, rows: list) -> None:
    """`_images` with the first of ``rows`` that passes; the first's error when none does."""
    try:
        _images(corruption, rows[0])
    except UserError:
        for r in rows[1:]:
            try:
                return _images(corruption, r)
            except UserError:
                pass
        raise


def _block_holds(corruption: str, n: int, block: int) -> None:
    if n > block:
        path = require(f"CIFAR-10-C/{corruption}.npy", url=CIFAR10_C_URL, what="CIFAR-10-C")
        raise UserError(f"{path}: {n} images per severity asked for, a block has {block}")


@lru_cache(maxsize=2)
def _labels(root: str) -> np.ndarray:
    path, y = _labels_file()
    _labels_match(path, y, read_cifar10("test", root)[1])
    return y


def check_cifar10_c(problems: Problems, *, corruptions, n: int) -> None:
    """Every check `cifar10_c` makes, on the files of ``corruptions``, before any is read:
    ``labels.npy`` against ``test_batch``, each corruption file's dtype and shape (from its
    header; 5 × ``test_batch``'s rows), and ``n`` images per severity against the block size."""
    test_y = check_part(CIFAR10, "test", problems)
    labels = problems.run(_labels_file)
    block = None
    if labels is not None and test_y is not None:
        block = problems.run(_labels_match, *labels, test_y)
    # rows: 5 x test_batch's images; a file with as many rows as labels.npy is also passed, as
    # the line above already says that the two come from different releases
    rows = [r for r in (None if test_y is None else 5 * len(test_y),
                        None if labels is None else len(labels[1])) if r is not None]
    for name in corruptions:
        problems.run(_images_of_rows, name, list(dict.fromkeys(rows)) or [None])
    if block is not None and corruptions:  # n <= the test split, which the data set checks
        problems.run(_block_holds, corruptions[0], n, block)


@CORRUPTED_SETS.register("cifar10-c")
@family("cifar")
@checked_by(check_cifar10_c)
def cifar10_c(*, corruption: str, severity: int, n: int, uint8: bool = False) -> torch.Tensor:
    """The first ``n`` CIFAR-10 test images under ``corruption`` at ``severity`` (1–5), float32
    ``(n, 3, 32, 32)`` in [0, 1]; with ``uint8`` the pixels as stored, uint8 ``(n, 3, 32, 32)``
    (a quarter of the memory; `kdbench.data.images.pixels_to_float` gives the float32 values
    bit for bit). Their labels are the test split's first ``n`` (checked, module doc)."""
    CIFAR10_C_TYPES.get(corruption)
    if severity not in (1, 2, 3, 4, 5):
        raise UserError(f"CIFAR-10-C severity must be 1–5; found {severity!r}")
    y = _labels(str(data_root()[0]))
    x = _images(corruption, len(y))
    block = len(y) // 5
    _block_holds(corruption, n, block)
    start = (severity - 1) * block
    rows = np.array(x[start: start + n])
    if uint8:
        return torch.from_numpy(rows).permute(0, 3, 1, 2).contiguous()
    return hwc_to_float(rows)


cifar10_c.types = CIFAR10_C_TYPES  # type: ignore[attr-defined]
cifar10_c.files_for = lambda corruption: (  # type: ignore[attr-defined]
    *[(f"cifar-10-batches-py/{n}", CIFAR10_URL, "CIFAR-10") for n in ("batches.meta", "test_batch")],
    ("CIFAR-10-C/labels.npy", CIFAR10_C_URL, "CIFAR-10-C"),
    (f"CIFAR-10-C/{corruption}.npy", CIFAR10_C_URL, "CIFAR-10-C"))
