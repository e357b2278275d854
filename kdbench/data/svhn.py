"""``svhn``: far-OOD set for the CIFAR suites, read from the published test file.

Layout under the data root (`kdbench.data.files`): ``svhn/test_32x32.mat`` as published at
http://ufldl.stanford.edu/housenumbers/ (Netzer et al. 2011, "Reading digits in natural images
with unsupervised feature learning"), a MATLAB file read with ``scipy.io.loadmat``: ``X`` uint8
``(32, 32, 3, N)`` (height, width, channel, image) and ``y`` ``(N, 1)`` with the digits 1–9 and
10 for the digit 0. Labels are checked and mapped 10 → 0 (`read_svhn`), although an OOD set
uses none. The published file has 26,032 images; its MD5 is checked when the file has that many.
The check before a run (`check_svhn`) reads ``X``'s shape and type from the file's header.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .cifar import subset
from .files import (Problems, check_labels, check_layout, check_md5, data_root, hwc_to_float,
                    require)
from .registry import OOD_SETS, checked_by, family, needs

SVHN_URL = "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"
SVHN_TEST_MD5 = "eb5a983be6a315427106f1b164d9cef3"
SVHN_TEST_N = 26032


_MATLAB_CLASS = {"double": "float64", "single": "float32", "logical": "bool"}  # else as NumPy's


def _svhn_path() -> Path:
    return require("svhn/test_32x32.mat", url=SVHN_URL, what="SVHN")


def _loadmat(path: Path, **kw) -> dict:
    from scipy.io import loadmat  # local: only SVHN's .mat file needs it

    try:
        return loadmat(path, **kw)
    except (ValueError, OSError, TypeError, NotImplementedError) as e:
        raise UserError(f"{path} is not a MATLAB .mat file: {e}") from None


def _check_svhn(path: Path, keys, x_shape: tuple[int, ...], x_dtype, y) -> np.ndarray:
    """Every check of the test file, on ``X``'s shape and dtype and the labels ``y``: labels
    in 1–10, one per image, MD5 when full size. Returns the labels (1–10)."""
    for key in ("X", "y"):
        if key not in keys:
            raise UserError(f"{path}: no '{key}' variable")
    check_layout(path, "X", x_shape, x_dtype, dtype=np.uint8, shape=(32, 32, 3, None))
    y = check_labels(path, "y", np.asarray(y).reshape(-1), 10, low=1)
    if len(y) != x_shape[3]:
        raise UserError(f"{path}: {x_shape[3]} images but {len(y)} labels")
    check_md5(path, n=len(y), full_n=SVHN_TEST_N, expected=SVHN_TEST_MD5, url=SVHN_URL)
    return y


def check_svhn(problems: Problems) -> None:
    """`read_svhn`'s checks with ``X`` read from the file's header only (``scipy.io.whosmat``)."""
    def check() -> None:
        from scipy.io import whosmat  # local: as above

        path = _svhn_path()
        try:
            info = {name: (shape, cls) for name, shape, cls in whosmat(path)}
        except (ValueError, OSError, TypeError, NotImplementedError) as e:
            raise UserError(f"{path} is not a MATLAB .mat file: {e}") from None
        y = _loadmat(path, variable_names=["y"]).get("y") if "y" in info else None
        shape, cls = info.get("X", ((), ""))
        _check_svhn(path, info, tuple(shape), _MATLAB_CLASS.get(cls, cls), y)
    problems.run(check)


@lru_cache(maxsize=2)
def read_svhn(root: str) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's test file as uint8 ``(N, 32, 32, 3)`` and int64 labels 0–9 (10 → 0); ``root``
    keys the cache."""
    path = _svhn_path()
    mat = _loadmat(path)
    x = mat.get("X")
    x = np.asarray(x) if x is not None else np.zeros(0)
    y = _check_svhn(path, mat, x.shape, x.dtype, mat.get("y"))
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), np.where(y == 10, 0, y)


@OOD_SETS.register("svhn")
@family("cifar")
@checked_by(check_svhn)
@needs("svhn/test_32x32.mat", url=SVHN_URL, what="SVHN")
def svhn(*, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """Far OOD for CIFAR: ``n`` SVHN test images (seeded subset), float32 ``(n, 3, 32, 32)``."""
    x, _ = read_svhn(str(data_root()[0]))
    return hwc_to_float(subset(x, n, seed))
