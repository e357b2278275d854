"""Registries of the data roles: in-distribution datasets, natural-shift sets, OOD sets,
corruptions and corrupted sets (see `kdbench.registry.Registry`), and the image family each
entry is for.

**Families.** A data set's images belong to one family — ``mnist`` (28×28 grey digits) or
``cifar`` (32×32 colour) — and a shift set, OOD set or corruption is marked with the family it
fits (`family`), or with none when it fits any image shape (uniform noise). A suite's wildcard
lists (``ood = ["*"]``) expand only over the entries that fit its data set (`fits`), so an MNIST
suite never picks up SVHN and a CIFAR suite never picks up the 28×28 letters; an entry named
explicitly that does not fit is an error. ``not_with`` keeps a set away from the one data set it
cannot be OOD for (CIFAR-100 as OOD for CIFAR-100).
"""

from collections.abc import Callable
from typing import TypeVar

from ..registry import Registry

DATASETS: Registry = Registry("dataset")
SHIFT_SETS: Registry = Registry("shift set")
OOD_SETS: Registry = Registry("OOD set")
CORRUPTIONS: Registry = Registry("corruption")
CORRUPTED_SETS: Registry = Registry("corrupted set")

F = TypeVar("F", bound=Callable)


def family(name: str | None, *, not_with: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorator marking a factory with the image family it is for (None = any)."""
    def deco(fn: F) -> F:
        fn.family = name              # type: ignore[attr-defined]
        fn.not_with = tuple(not_with)  # type: ignore[attr-defined]
        return fn
    return deco


def needs(*relative: str, url: str, what: str) -> Callable[[F], F]:
    """Decorator listing the files (relative to the data root) a factory reads, with the URL of
    their official archive, so a run can check them all before it starts
    (`kdbench.data.splits.check_files`)."""
    def deco(fn: F) -> F:
        fn.files = tuple((r, url, what) for r in relative)  # type: ignore[attr-defined]
        return fn
    return deco


def checked_by(check: Callable) -> Callable[[F], F]:
    """Decorator attaching ``check(problems, **options)`` to a factory: every check of its
    files that needs only the files (shapes, dtypes, label ranges, MD5s, sizes), each problem
    recorded in ``problems`` (`kdbench.data.files.Problems`) rather than raised, so that
    `kdbench.data.splits.check_files` reports them all before a run. Options by role: a data
    set's check takes ``split``, a corrupted set's ``corruptions`` and ``n`` (images per
    severity), shift and OOD sets' none."""
    def deco(fn: F) -> F:
        fn.check = check  # type: ignore[attr-defined]
        return fn
    return deco


def dataset_family(dataset: str) -> str | None:
    """The family of the registered data set ``dataset`` (None when unmarked)."""
    return getattr(DATASETS.get(dataset), "family", None)


def fits(registry: Registry, name: str, dataset: str) -> bool:
    """Whether entry ``name`` of ``registry`` fits the images of data set ``dataset``: it is
    unmarked or marked with the data set's family, and not excluded for that data set.
    Unmarked entries (e.g. from plugins) fit everything."""
    fn = registry.get(name)
    fam = getattr(fn, "family", None)
    own = dataset_family(dataset)
    if dataset in getattr(fn, "not_with", ()):
        return False
    return fam is None or own is None or fam == own
