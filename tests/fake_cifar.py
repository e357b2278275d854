"""Small files in the published on-disk formats of the CIFAR family (docs/data.md), for tests.

`write_fake_data(root)` writes, under ``root``:

* ``cifar-10-batches-py/data_batch_1..5``, ``test_batch``, ``batches.meta`` — protocol-2
  pickles of dicts with BYTES keys (as the Python 2 originals load with ``encoding="bytes"``),
  ``data`` uint8 ``(N, 3072)`` in CHW order, ``labels`` a list of ints;
* ``cifar-100-python/train``, ``test``, ``meta`` — str keys, ``fine_labels``/``coarse_labels``;
* ``svhn/test_32x32.mat`` — ``X`` uint8 ``(32, 32, 3, N)``, ``y`` uint8 ``(N, 1)`` in 1–10;
* ``CIFAR-10-C/<19 corruptions>.npy`` — uint8 ``(5·T, 32, 32, 3)``: the T test images, made
  noisier with the severity, stacked by severity; ``labels.npy`` the test labels tiled 5 times;
* ``CIFAR-10.1/cifar10.1_v6_data.npy`` uint8 ``(M, 32, 32, 3)``, ``..._labels.npy`` int64.

CIFAR-10 images are learnable: class c has a mean colour and a bright horizontal bar at row
3c (+ noise), so a small CNN separates the classes in a few epochs.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy.io import savemat

from kdbench.data.corrupted import BENCHMARK, EXTRA


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(N, 32, 32, 3)`` images whose content depends on the label (module doc)."""
    n = len(labels)
    colours = np.random.default_rng(123).uniform(40, 215, size=(10, 3))
    x = colours[labels % 10][:, None, None, :] + rng.normal(0, 25, size=(n, 32, 32, 3))
    for i, c in enumerate(labels % 10):
        x[i, 3 * c: 3 * c + 2, :, :] = 250
    return np.clip(x, 0, 255).astype(np.uint8)


def _hwc_to_rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), 3072))


def _dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_fake_data(root: Path, *, per_batch: int = 40, test: int = 60, c100: int = 60,
                    svhn: int = 50, shift: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the five layouts under ``root``; returns the CIFAR-10 test labels and images."""
    rng = np.random.default_rng(seed)
    c10 = root / "cifar-10-batches-py"
    for b in range(1, 6):
        y = rng.integers(0, 10, per_batch)
        _dump(c10 / f"data_batch_{b}", {b"batch_label": b"training batch", b"labels": y.tolist(),
                                         b"data": _hwc_to_rows(class_images(y, rng))})
    test_y = np.arange(test) % 10
    test_x = class_images(test_y, rng)
    _dump(c10 / "test_batch", {b"labels": test_y.tolist(), b"data": _hwc_to_rows(test_x)})
    _dump(c10 / "batches.meta", {b"label_names": [f"class{i}".encode() for i in range(10)]})

    c100_dir = root / "cifar-100-python"
    for part, n in (("train", 100), ("test", c100)):
        fine = rng.integers(0, 100, n)
        _dump(c100_dir / part, {"fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist(),
                                "data": _hwc_to_rows(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))})
    _dump(c100_dir / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                              "coarse_label_names": [f"c{i}" for i in range(20)]})

    (root / "svhn").mkdir(parents=True, exist_ok=True)
    sx = rng.integers(0, 256, (32, 32, 3, svhn), dtype=np.uint8)
    sy = rng.integers(1, 11, (svhn, 1)).astype(np.uint8)
    savemat(root / "svhn" / "test_32x32.mat", {"X": sx, "y": sy})

    cc = root / "CIFAR-10-C"
    cc.mkdir(parents=True, exist_ok=True)
    np.save(cc / "labels.npy", np.tile(test_y, 5).astype(np.uint8))
    for k, name in enumerate(BENCHMARK + EXTRA):
        blocks = [np.clip(test_x.astype(np.int16) + rng.integers(-12 * s, 12 * s + 1, test_x.shape),
                          0, 255).astype(np.uint8) for s in range(1, 6)]
        np.save(cc / f"{name}.npy", np.concatenate(blocks))

    c101 = root / "CIFAR-10.1"
    c101.mkdir(parents=True, exist_ok=True)
    shift_y = rng.integers(0, 10, shift).astype(np.int64)
    np.save(c101 / "cifar10.1_v6_data.npy", class_images(shift_y, rng))
    np.save(c101 / "cifar10.1_v6_labels.npy", shift_y)
    return {"test_y": test_y, "test_x": test_x}
