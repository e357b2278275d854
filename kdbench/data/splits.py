"""The evaluation splits of a suite, built from its `DataConfig`.

Split families and their keys:

* ``id/test`` — the in-distribution test split;
* ``corrupt/<corruption>/<severity>`` — the first ``corrupt_n`` test images, corrupted, then
  rounded to uint8 as MNIST-C stores its images; or, for a suite with a corrupted set
  (``cifar10-c``), the same images' corrupted copies read from its files;
* ``shift/<set>`` — a natural-shift set (labelled);
* ``ood/<set>`` — an OOD set of ``ood_n`` images (no labels).

Splits are built once per process and cached; the same `DataConfig` gives the same images.
Corrupted splits are cached as uint8 pixels (``EvalSplit.images``; a quarter of float32's
memory: 0.6 GB instead of 2.3 GB for CIFAR-10-C at ``corrupt_n = 2000``), the form MNIST-C and
CIFAR-10-C store them in; ``EvalSplit.x`` is the float32 view in [0, 1], made when asked for,
and `kdbench.predictors.batches` converts uint8 one batch at a time on the device, with the
same ops as before (the same float32 values).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..errors import UserError
from .corruptions import corrupt
from .images import pixels_to_float, to_uint8
from .mnist5k import DatasetSplits
from .files import Problems, data_root, require
from .registry import CORRUPTED_SETS, DATASETS, OOD_SETS, SHIFT_SETS, info


@dataclass(frozen=True)
class EvalSplit:
    """One evaluation split: ``images`` ``(N, C, H, W)``, uint8 pixels (corrupted splits) or
    float32 in [0, 1]; labels ``y`` ``(N,)`` or None (OOD)."""

    split: str        # id | corrupt | shift | ood
    dataset: str      # test | corruption name | shift set | OOD set
    severity: int     # 1-5 for corrupt, else 0
    images: torch.Tensor
    y: torch.Tensor | None

    @property
    def x(self) -> torch.Tensor:
        """The images as float32 ``(N, C, H, W)`` in [0, 1] (a new tensor for uint8 ones)."""
        return pixels_to_float(self.images)

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
    """Run, before the first job, every check of the files that the `kdbench.config.DataConfig`
    ``data`` reads that needs only the files: that each exists under the data root
    (`kdbench.data.files.require`), then each reader's own checks
    (`kdbench.data.registry.checked_by`: shapes, dtypes, label ranges, MD5s of full-size
    files, CIFAR-10-C against the test set, CIFAR-10.1's lengths) and the split sizes the suite
    asks for. All problems are reported together in one `UserError`, one line each (file, what
    was expected, what was found).

    Missing files: one line per file, but one for a whole missing folder (its first file) and
    one when the data root itself does not exist; the content checks skip missing files."""
    corrupted = getattr(data, "corrupted", "")
    entries = [(DATASETS.get(data.dataset), {"split": tuple(data.split)})]
    if corrupted:
        entries.append((CORRUPTED_SETS.get(corrupted),
                        {"corruptions": tuple(data.corruptions),
                         "n": min(data.corrupt_n, data.split[2])}))
    entries += [(SHIFT_SETS.get(n), {}) for n in data.shift]
    entries += [(OOD_SETS.get(n), {}) for n in data.ood]
    needed: list[tuple[str, str, str]] = []
    for fn, kw in entries:
        group = list(info(fn).files)
        if hasattr(fn, "files_for"):
            group += [f for name in kw["corruptions"] for f in fn.files_for(name)]
        needed += [f for f in group if f not in needed]
    if needed and not data_root()[0].is_dir():
        relative, url, what = needed[0]
        try:
            require(relative, url=url, what=what)
        except UserError as e:
            raise UserError(f"{e}; the data root itself does not exist") from None
    problems = _missing(needed)
    for fn, kw in entries:
        if info(fn).check is not None:
            info(fn).check(problems, **kw)
    first = info(entries[0][0])
    if first.files and first.check is None:
        # a data set read from files without its own check (a plugin's): load it, so that a
        # split larger than the files fails here, once
        problems.run(load_dataset, data.dataset, data.split, data.split_seed)
    if problems:
        raise UserError("\n".join(problems.lines))


def _missing(needed: list[tuple[str, str, str]]) -> Problems:
    """The missing files among ``needed`` ((relative path, url, what) each), one line per file
    or per missing folder; all of them are marked as reported."""
    problems = Problems()
    root = data_root()[0]
    for relative, url, what in needed:
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        if folder and not (root / folder).is_dir():
            if any(m.startswith(folder + "/") for m in problems.missing):
                problems.missing.add(relative)
                continue
            try:
                require(relative, url=url, what=what)
            except UserError as e:
                problems.lines.append(f"{e} (the folder {folder}/ is missing)")
                problems.missing.add(relative)
            continue
        problems.run(require, relative, url=url, what=what)
    return problems


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
            if corrupted:  # uint8 where the reader offers it (a plugin's may not)
                reader = CORRUPTED_SETS.get(corrupted)
                kw = {"uint8": True} if "uint8" in inspect.signature(reader).parameters else {}
                x = CORRUPTED_SETS.create(corrupted, corruption=name, severity=sev,
                                          n=len(base_y), **kw)
            else:  # rounded to uint8 as MNIST-C stores its images, and kept so
                x = torch.from_numpy(to_uint8(corrupt(base_x, name, sev, seed=data.split_seed)))
                x = x.unsqueeze(1)
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
