"""Registries of the data roles: in-distribution datasets, natural-shift sets, OOD sets,
corruptions and corrupted sets (see `kdbench.registry.Registry`), and the image family each
entry is for.

**Families.** A data set's images belong to one family — ``mnist`` (28×28 grey digits) or
``cifar`` (32×32 colour) — and a shift set, OOD set or corruption is marked with the family it
fits (`family`), or with none when it fits any image shape (uniform noise). A suite's wildcard
lists (``ood = ["*"]``) expand only over the entries that fit its data set (`fits`), so an MNIST
suite never picks up SVHN and a CIFAR suite never picks up the 28×28 letters; an entry named
explicitly that does not fit is an error. ``not_with`` keeps a set away from the one data set it
cannot be OOD for (CIFAR-100 as OOD for CIFAR-100). Each factory's facts — family, class count,
image shape, the files it reads and their check — are one typed record, `DataInfo`.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..registry import Registry

DATASETS: Registry = Registry("dataset")
SHIFT_SETS: Registry = Registry("shift set")
OOD_SETS: Registry = Registry("OOD set")
CORRUPTIONS: Registry = Registry("corruption")
CORRUPTED_SETS: Registry = Registry("corrupted set")

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class DataInfo:
    """What a registered data entry is: the record `describe` (and `family`, `needs`,
    `checked_by`) attach to its factory, read with `info`. Unset fields: unknown (an entry from
    a plugin may set none).

    ``family``: ``mnist`` / ``cifar`` / None (fits any image shape); ``not_with``: data sets it
    must not be used with (as OOD for itself); ``classes``: a data set's number of classes (the
    labels are 0..classes−1; a checkpoint teacher's last layer must have as many outputs);
    ``image_shape``: (channels, height, width); ``files``: (path under the data root, URL of the
    official archive, what it is) of every file the factory reads; ``check``: the function that
    checks those files before a run (`checked_by`)."""

    family: str | None = None
    not_with: tuple[str, ...] = ()
    classes: int | None = None
    image_shape: tuple[int, int, int] | None = None
    files: tuple[tuple[str, str, str], ...] = ()
    check: Callable[..., Any] | None = None


def info(fn: Callable) -> DataInfo:
    """The `DataInfo` of a registered factory (all fields unset when it has none)."""
    return getattr(fn, "data_info", DataInfo())


def describe(**fields: Any) -> Callable[[F], F]:
    """Decorator setting fields of the factory's `DataInfo` (see there)."""
    def deco(fn: F) -> F:
        fn.data_info = replace(info(fn), **fields)  # type: ignore[attr-defined]
        return fn
    return deco


def family(name: str | None, *, not_with: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorator marking a factory with the image family it is for (None = any)."""
    return describe(family=name, not_with=tuple(not_with))


def needs(*relative: str, url: str, what: str) -> Callable[[F], F]:
    """Decorator listing the files (relative to the data root) a factory reads, with the URL of
    their official archive, so a run can check them all before it starts
    (`kdbench.data.splits.check_files`)."""
    def deco(fn: F) -> F:
        return describe(files=info(fn).files + tuple((r, url, what) for r in relative))(fn)
    return deco


def checked_by(check: Callable) -> Callable[[F], F]:
    """Decorator attaching ``check(problems, **options)`` to a factory: every check of its
    files that needs only the files (shapes, dtypes, label ranges, MD5s, sizes), each problem
    recorded in ``problems`` (`kdbench.data.files.Problems`) rather than raised, so that
    `kdbench.data.splits.check_files` reports them all before a run. Options by role: a data
    set's check takes ``split``, a corrupted set's ``corruptions`` and ``n`` (images per
    severity), shift and OOD sets' none."""
    return describe(check=check)


def dataset_info(dataset: str) -> DataInfo:
    """The `DataInfo` of the registered data set ``dataset``."""
    return info(DATASETS.get(dataset))


def num_classes(dataset: str) -> int:
    """The number of classes of data set ``dataset`` (10 when its record does not say)."""
    return dataset_info(dataset).classes or 10


def dataset_family(dataset: str) -> str | None:
    """The family of the registered data set ``dataset`` (None when unmarked)."""
    return dataset_info(dataset).family


def fits(registry: Registry, name: str, dataset: str) -> bool:
    """Whether entry ``name`` of ``registry`` fits the images of data set ``dataset``: it is
    unmarked or marked with the data set's family, and not excluded for that data set.
    Unmarked entries (e.g. from plugins) fit everything."""
    entry = info(registry.get(name))
    own = dataset_family(dataset)
    if dataset in entry.not_with:
        return False
    return entry.family is None or own is None or entry.family == own
