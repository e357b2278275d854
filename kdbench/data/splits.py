"""The evaluation splits of a suite, built from its `DataConfig`.

Split families and their keys:

* ``id/test`` — the in-distribution test split;
* ``corrupt/<corruption>/<severity>`` — the first ``corrupt_n`` test images, corrupted, then
  rounded to uint8 as MNIST-C stores its images; or, for a suite with a corrupted set
  (``cifar10-c``), the same images' corrupted copies read from its files;
* ``shift/<set>`` — a natural-shift set (labelled);
* ``ood/<set>`` — an OOD set of ``ood_n`` images (no labels).

Splits are built once per process and cached; the same `DataConfig` gives the same images.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import torch

from .corruptions import corrupt
from .images import to_float, to_uint8
from .mnist5k import DatasetSplits
from .files import data_root, require
from .registry import CORRUPTED_SETS, DATASETS, OOD_SETS, SHIFT_SETS


@dataclass(frozen=True)
class EvalSplit:
    """One evaluation split: images ``x`` ``(N, C, H, W)``; labels ``y`` ``(N,)`` or None (OOD)."""

    split: str        # id | corrupt | shift | ood
    dataset: str      # test | corruption name | shift set | OOD set
    severity: int     # 1-5 for corrupt, else 0
    x: torch.Tensor
    y: torch.Tensor | None

    @property
    def key(self) -> str:
        if self.split == "corrupt":
            return f"corrupt/{self.dataset}/{self.severity}"
        return f"{self.split}/{self.dataset}"


def load_dataset(dataset: str, split: tuple[int, int, int], split_seed: int) -> DatasetSplits:
    """The in-distribution splits (cached per process and data root)."""
    return _load_dataset(dataset, tuple(split), split_seed, str(data_root()[0]))


@lru_cache(maxsize=4)
def _load_dataset(dataset: str, split: tuple[int, int, int], split_seed: int, root: str) -> DatasetSplits:
    return DATASETS.create(dataset, split=split, split_seed=split_seed)


def check_files(data) -> None:
    """Check that every file the `kdbench.config.DataConfig` ``data`` reads exists under the
    data root (`kdbench.data.files.require`: one-line `UserError` naming the first missing
    one), and that a data set read from files holds the images its ``split`` asks for, so that a
    run stops before it starts rather than in every job."""
    needed = [getattr(DATASETS.get(data.dataset), "files", ())]
    needed += [getattr(SHIFT_SETS.get(n), "files", ()) for n in data.shift]
    needed += [getattr(OOD_SETS.get(n), "files", ()) for n in data.ood]
    corrupted = getattr(data, "corrupted", "")
    if corrupted and hasattr(CORRUPTED_SETS.get(corrupted), "files_for"):
        needed += [CORRUPTED_SETS.get(corrupted).files_for(n) for n in data.corruptions]
    for group in needed:
        for relative, url, what in group:
            require(relative, url=url, what=what)
    if needed[0]:  # read from files: a split larger than the files fails here, once
        load_dataset(data.dataset, data.split, data.split_seed)


def eval_splits(data) -> tuple[EvalSplit, ...]:
    """All evaluation splits of a `kdbench.config.DataConfig` (cached per process and data
    root). Corrupted splits come from the corruption functions (`kdbench.data.corruptions`),
    or, when ``data.corrupted`` names a corrupted set (``cifar10-c``), from its files. An OOD
    set that takes a ``shape`` (noise) is drawn in the shape of the test images."""
    return _eval_splits(data, str(data_root()[0]))


@lru_cache(maxsize=2)
def _eval_splits(data, root: str) -> tuple[EvalSplit, ...]:
    ds = load_dataset(data.dataset, data.split, data.split_seed)
    out = [EvalSplit("id", "test", 0, ds.test.x, ds.test.y)]
    base_x, base_y = ds.test.x[: data.corrupt_n], ds.test.y[: data.corrupt_n]
    corrupted = getattr(data, "corrupted", "")
    for name in data.corruptions:
        for sev in data.severities:
            if corrupted:
                x = CORRUPTED_SETS.create(corrupted, corruption=name, severity=sev, n=len(base_y))
            else:
                x = to_float(to_uint8(corrupt(base_x, name, sev, seed=data.split_seed)))
            out.append(EvalSplit("corrupt", name, sev, x, base_y))
    for name in data.shift:
        s = SHIFT_SETS.create(name)
        out.append(EvalSplit("shift", name, 0, s.x, s.y))
    shape = tuple(ds.test.x.shape[1:])
    for name in data.ood:
        kw = {"shape": shape} if "shape" in inspect.signature(OOD_SETS.get(name)).parameters else {}
        x = OOD_SETS.create(name, n=data.ood_n, seed=data.split_seed, **kw)
        out.append(EvalSplit("ood", name, 0, x, None))
    return tuple(out)
