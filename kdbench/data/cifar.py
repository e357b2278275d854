"""The CIFAR family read from the published files: ``cifar10`` and ``cifar100`` (data sets),
``cifar100`` (near-OOD set for CIFAR-10) and ``cifar10.1`` (natural shift).

Layouts under the data root (`kdbench.data.files`), as the official archives unpack:

* ``cifar-10-batches-py/data_batch_1`` … ``data_batch_5``, ``test_batch``: pickled dicts with
  ``data`` uint8 ``(N, 3072)`` (each row the red, green, then blue 32×32 plane, row-major) and
  ``labels`` (N integers in 0–9); ``batches.meta`` with ``label_names`` (10 names).
  Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html.
* ``cifar-100-python/train``, ``test``: ``data`` as above, ``fine_labels`` (0–99),
  ``coarse_labels`` (0–19); ``meta`` with ``fine_label_names`` (100 names).
* ``CIFAR-10.1/cifar10.1_v6_data.npy`` uint8 ``(2000, 32, 32, 3)`` and
  ``cifar10.1_v6_labels.npy`` (2000 integers in 0–9): Recht et al. 2018, "Do CIFAR-10
  classifiers generalize to CIFAR-10?", https://github.com/modestyachts/CIFAR-10.1.

Images become float32 ``(N, 3, 32, 32)`` in [0, 1]. Splits: train and validation are drawn from
the training file(s), stratified by class and seeded (`kdbench.data.mnist5k.stratified_split`);
the test split is the FIRST ``test`` images of the test file in file order, so that row i of
every CIFAR-10-C severity block is test image i (`kdbench.data.corrupted`). An OOD set of ``n``
images is a seeded random subset of the file's test images (all of them when it has fewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .files import (Problems, check_array, check_labels, check_md5, data_root, hwc_to_float,
                    load_pickle, np_load, require, stamp)
from .mnist5k import DatasetSplits, LabelledImages, stratified_split
from .registry import DATASETS, OOD_SETS, SHIFT_SETS, checked_by, describe, family, needs

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR101_URL = "https://github.com/modestyachts/CIFAR-10.1/tree/master/datasets"

# Published MD5s of the unpacked files (as torchvision's CIFAR10/CIFAR100 classes list them).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR100_MD5 = {"train": "16019d7e3df5f24257cddd939b257f8d",
                "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}
FULL_N = {"data_batch": 10000, "test_batch": 10000, "train": 50000, "test": 10000}


def _chw_rows_to_hwc(path: Path, data) -> np.ndarray:
    data = check_array(path, "data", data, dtype=np.uint8, shape=(None, 3072))
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@dataclass(frozen=True)
class _Archive:
    """One published CIFAR archive as unpacked: its folder, class-names file, label key, the
    batch files of each part and their published MD5s."""

    folder: str
    meta: str
    names_key: str
    label_key: str
    num_classes: int
    url: str
    what: str
    md5: dict
    parts: dict

    def batch_kw(self, name: str) -> dict:
        return dict(label_key=self.label_key, num_classes=self.num_classes, url=self.url,
                    what=self.what, md5=self.md5[name], full_n=FULL_N[name.rstrip("_12345")])


CIFAR10 = _Archive("cifar-10-batches-py", "batches.meta", "label_names", "labels", 10,
                   CIFAR10_URL, "CIFAR-10", CIFAR10_MD5,
                   {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]})
CIFAR100 = _Archive("cifar-100-python", "meta", "fine_label_names", "fine_labels", 100,
                    CIFAR100_URL, "CIFAR-100", CIFAR100_MD5, {"train": ["train"], "test": ["test"]})


def _read_batch(folder: str, name: str, label_key: str, num_classes: int, *, url: str,
                what: str, md5: str | None, full_n: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file, after every check: keys, data shape and dtype, label range, as many
    labels as images, MD5 when full size."""
    path = require(f"{folder}/{name}", url=url, what=what)
    d = load_pickle(path)
    for key in ("data", label_key):
        if key not in d:
            raise UserError(f"{path}: no '{key}' entry (found {', '.join(map(str, d))})")
    x = _chw_rows_to_hwc(path, d["data"])
    y = check_labels(path, label_key, d[label_key], num_classes)
    if len(y) != len(x):
        raise UserError(f"{path}: {len(x)} images but {len(y)} labels")
    check_md5(path, n=len(x), full_n=full_n, expected=md5, url=url)
    return x, y


@lru_cache(maxsize=16)
def _checked_labels(key: tuple, folder: str, name: str, kw: tuple) -> np.ndarray:
    return _read_batch(folder, name, **dict(kw))[1]


def batch_labels(archive: _Archive, name: str) -> np.ndarray:
    """The labels of batch file ``name`` after every check of `_read_batch` (the images are
    dropped; cached per file `stamp`, so a file checked twice is read once)."""
    path = require(f"{archive.folder}/{name}", url=archive.url, what=archive.what)
    return _checked_labels(stamp(path), archive.folder, name, tuple(archive.batch_kw(name).items()))


def _check_meta(folder: str, name: str, key: str, num_classes: int, *, url: str, what: str) -> None:
    path = require(f"{folder}/{name}", url=url, what=what)
    names = load_pickle(path).get(key)
    if not isinstance(names, list) or len(names) != num_classes:
        raise UserError(f"{path}: expected '{key}' with {num_classes} class names")


def _check_archive_meta(a: _Archive) -> None:
    _check_meta(a.folder, a.meta, a.names_key, a.num_classes, url=a.url, what=a.what)


def _read(a: _Archive, part: str) -> tuple[np.ndarray, np.ndarray]:
    _check_archive_meta(a)
    parts = [_read_batch(a.folder, n, **a.batch_kw(n)) for n in a.parts[part]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def check_part(a: _Archive, part: str, problems: Problems) -> np.ndarray | None:
    """Every check of ``part``'s files (and the class-names file) that `_read` makes, each
    problem recorded in ``problems``; the part's labels when all pass, else None."""
    problems.run(_check_archive_meta, a)
    labels = [problems.run(batch_labels, a, n) for n in a.parts[part]]
    return None if any(y is None for y in labels) else np.concatenate(labels)


@lru_cache(maxsize=4)
def read_cifar10(part: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``part`` ("train": the five data batches; "test") as uint8 ``(N, 32, 32, 3)``
    and int64 labels; ``root`` keys the cache (the data root in use)."""
    return _read(CIFAR10, part)


@lru_cache(maxsize=4)
def read_cifar100(part: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-100 ``part`` ("train" or "test") as uint8 ``(N, 32, 32, 3)`` and fine labels."""
    return _read(CIFAR100, part)


def _root() -> str:
    return str(data_root()[0])


def _check_train_split(what: str, split: tuple[int, int, int], n_files: int) -> None:
    if split[0] + split[1] > n_files:
        raise UserError(f"{what}: split {list(split)} asks for {split[0] + split[1]} training and "
                        f"validation images; the training files hold {n_files}")


def _check_test_split(what: str, split: tuple[int, int, int], n_file: int) -> None:
    if split[2] > n_file:
        raise UserError(f"{what}: split {list(split)} asks for {split[2]} test images; the test "
                        f"file holds {n_file}")


def _splits(read, split: tuple[int, int, int], split_seed: int, num_classes: int,
            what: str) -> DatasetSplits:
    xtr, ytr = read("train", _root())
    xte, yte = read("test", _root())
    n_train, n_val, n_test = split
    _check_train_split(what, split, len(ytr))
    _check_test_split(what, split, len(yte))
    tr, va = stratified_split(ytr, (n_train, n_val), split_seed)
    return DatasetSplits(
        train=LabelledImages(hwc_to_float(xtr[tr]), torch.from_numpy(ytr[tr])),
        val=LabelledImages(hwc_to_float(xtr[va]), torch.from_numpy(ytr[va])),
        test=LabelledImages(hwc_to_float(xte[:n_test]), torch.from_numpy(yte[:n_test])),
        num_classes=num_classes, transfer_augment="crop-flip")


def _dataset_check(a: _Archive, what: str):
    def check(problems: Problems, *, split: tuple[int, int, int]) -> None:
        """Every check of the data set's files, then the split sizes against them."""
        train = check_part(a, "train", problems)
        test = check_part(a, "test", problems)
        if train is not None:
            problems.run(_check_train_split, what, tuple(split), len(train))
        if test is not None:
            problems.run(_check_test_split, what, tuple(split), len(test))
    return check


_C10 = [f"cifar-10-batches-py/{n}" for n in ("batches.meta", *CIFAR10_MD5)]


@DATASETS.register("cifar10")
@family("cifar")
@describe(classes=10, image_shape=(3, 32, 32))
@checked_by(_dataset_check(CIFAR10, "cifar10"))
@needs(*_C10, url=CIFAR10_URL, what="CIFAR-10")
def cifar10(*, split: tuple[int, int, int] = (45000, 5000, 10000), split_seed: int = 0) -> DatasetSplits:
    """CIFAR-10 from ``cifar-10-batches-py/``: train/val from the 50,000 training images
    (stratified, seeded), test = the first ``split[2]`` test images in file order."""
    return _splits(read_cifar10, tuple(split), split_seed, 10, "cifar10")


@DATASETS.register("cifar100")
@family("cifar")
@describe(classes=100, image_shape=(3, 32, 32))
@checked_by(_dataset_check(CIFAR100, "cifar100"))
@needs("cifar-100-python/meta", "cifar-100-python/train", "cifar-100-python/test",
       url=CIFAR100_URL, what="CIFAR-100")
def cifar100(*, split: tuple[int, int, int] = (45000, 5000, 10000), split_seed: int = 0) -> DatasetSplits:
    """CIFAR-100 (fine labels) from ``cifar-100-python/``, split as `cifar10`."""
    return _splits(read_cifar100, tuple(split), split_seed, 100, "cifar100")


def subset(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``min(n, len(x))`` rows of ``x`` chosen without replacement by ``default_rng(seed)``,
    in increasing order."""
    if n >= len(x):
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


@OOD_SETS.register("cifar100")
@family("cifar", not_with=("cifar100",))
@checked_by(lambda problems: check_part(CIFAR100, "test", problems))
@needs("cifar-100-python/meta", "cifar-100-python/test", url=CIFAR100_URL, what="CIFAR-100")
def cifar100_ood(*, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """Near OOD for CIFAR-10: ``n`` CIFAR-100 test images (seeded subset), ``(n, 3, 32, 32)``.
    CIFAR-100 shares no class with CIFAR-10 (Krizhevsky 2009)."""
    x, _ = read_cifar100("test", _root())
    return hwc_to_float(subset(x, n, seed))


def _cifar10_1_images(*, mmap: bool) -> tuple[Path, np.ndarray]:
    """CIFAR-10.1's image file, shape and dtype checked (from the header alone when ``mmap``)."""
    px = require("CIFAR-10.1/cifar10.1_v6_data.npy", url=CIFAR101_URL, what="CIFAR-10.1")
    return px, check_array(px, "images", np_load(px, mmap=mmap), dtype=np.uint8,
                           shape=(None, 32, 32, 3))


def _cifar10_1_labels() -> tuple[Path, np.ndarray]:
    py = require("CIFAR-10.1/cifar10.1_v6_labels.npy", url=CIFAR101_URL, what="CIFAR-10.1")
    return py, check_labels(py, "labels", np_load(py), 10)


def _cifar10_1_lengths(px: Path, x: np.ndarray, py: Path, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise UserError(f"{px}: {len(x)} images but {py.name} has {len(y)} labels")


def _check_cifar10_1(problems: Problems) -> None:
    images = problems.run(_cifar10_1_images, mmap=True)
    labels = problems.run(_cifar10_1_labels)
    if images is not None and labels is not None:
        problems.run(_cifar10_1_lengths, *images, *labels)


@SHIFT_SETS.register("cifar10.1")
@family("cifar")
@checked_by(_check_cifar10_1)
@needs("CIFAR-10.1/cifar10.1_v6_data.npy", "CIFAR-10.1/cifar10.1_v6_labels.npy",
       url=CIFAR101_URL, what="CIFAR-10.1")
def cifar10_1() -> LabelledImages:
    """CIFAR-10.1 v6 (Recht et al. 2018): 2,000 new test images of the CIFAR-10 classes."""
    px, x = _cifar10_1_images(mmap=False)
    py, y = _cifar10_1_labels()
    _cifar10_1_lengths(px, x, py, y)
    return LabelledImages(hwc_to_float(x), torch.from_numpy(y))
