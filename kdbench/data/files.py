"""Data files on disk: where they are looked for, what a missing one says, and how the
published formats are read without trusting them.

**Root.** Files of the external data sets (CIFAR-10, CIFAR-100, SVHN, CIFAR-10-C, CIFAR-10.1)
are looked for under one root directory: ``--data-dir`` on the command line (which sets
``KDBENCH_DATA`` for the worker processes, see `use_root`), else the environment variable
``KDBENCH_DATA``, else ``./data`` in the current directory. Each data set has its own
sub-directory, the one its published archive unpacks to (docs/data.md).

**Missing files.** `require` raises one `UserError` line naming the file, the absolute path it
was looked for at, where the root came from, and the official URL of the archive.

**Reading.** The CIFAR archives are Python pickles; `load_pickle` reads them with an unpickler
that builds only plain containers, strings, numbers and NumPy arrays, so a file in that format
cannot run code. **Checks** (`check_md5`): the published MD5 of a file is checked only when the
file holds as many images as the official release ("full size"); smaller files in the same
format (the tests' fakes, a user's subset) are accepted. Shapes, dtypes and label ranges are
checked on every load by the readers, with the same functions that
`kdbench.data.splits.check_files` calls before a run: a check that fails raises one `UserError`
line; `Problems` collects them, so that every problem of the files is reported at once.
"""

from __future__ import annotations

import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..store import file_digest

ENV = "KDBENCH_DATA"
ENV_SOURCE = "KDBENCH_DATA_SOURCE"   # set by `use_root`: what chose the root ("--data-dir")
DEFAULT_ROOT = "data"


def use_root(path: str | os.PathLike, *, source: str = "--data-dir") -> Path:
    """Make ``path`` the data root of this process and of the workers it starts."""
    root = Path(path).expanduser().resolve()
    os.environ[ENV] = str(root)
    os.environ[ENV_SOURCE] = source
    return root


def data_root() -> tuple[Path, str]:
    """The data root (absolute) and where it came from, in words."""
    if os.environ.get(ENV):
        return (Path(os.environ[ENV]).expanduser().resolve(),
                os.environ.get(ENV_SOURCE) or f"the environment variable {ENV}")
    return (Path(DEFAULT_ROOT).resolve(),
            f"the default ./{DEFAULT_ROOT} (neither --data-dir nor {ENV} was given)")


class MissingFile(UserError):
    """`require`'s error: the data file ``relative`` (under the data root) is missing."""

    def __init__(self, message: str, relative: str) -> None:
        super().__init__(message)
        self.relative = relative

    def __reduce__(self):  # crosses process boundaries (worker errors) intact
        return (MissingFile, (str(self), self.relative))


def require(relative: str, *, url: str, what: str) -> Path:
    """The absolute path of ``relative`` under the data root; `MissingFile` (a `UserError`)
    when it is missing.

    ``what`` names the data set (e.g. "CIFAR-10"), ``url`` where its official archive is
    published."""
    root, source = data_root()
    path = root / relative
    if not path.is_file():
        raise MissingFile(f"{what} file {relative} not found: looked for {path} (data root from "
                          f"{source}); get it from {url}", relative)
    return path


class Problems:
    """The one-line problems found by checks that raise `UserError` (`run`), each once, in
    the order found. A `MissingFile` whose file is in ``missing`` (already reported) is not
    repeated."""

    def __init__(self, missing: set[str] | None = None) -> None:
        self.lines: list[str] = []
        self.missing: set[str] = set(missing or ())

    def run(self, check, *args: Any, **kwargs: Any) -> Any:
        """``check(*args, **kwargs)``; on `UserError` its message is recorded and None returned."""
        try:
            return check(*args, **kwargs)
        except MissingFile as e:
            if e.relative not in self.missing:
                self.missing.add(e.relative)
                self.lines.append(str(e))
        except UserError as e:
            if str(e) not in self.lines:
                self.lines.append(str(e))
        return None

    def __bool__(self) -> bool:
        return bool(self.lines)


def stamp(path: Path) -> tuple[str, int, int]:
    """``(path, size, mtime_ns)``: a cache key that changes when the file is rewritten."""
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only NumPy arrays (and their dtypes) besides pickle's built-in containers."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # NumPy 2 renamed it
                module = "numpy._core." + module[len("numpy.core."):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pickle(path: Path) -> dict:
    """A pickled dict of a CIFAR archive (Python 2 pickles: bytes decoded as latin-1), read
    with `_ArrayUnpickler`; keys are turned into ``str``. `UserError` when the file is not
    such a pickle."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UserError(f"{path} is not a CIFAR pickle: {e}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def md5(path: Path) -> str:
    """Hex MD5 of a file (the checksum the archives publish)."""
    return file_digest(path, "md5")


def check_md5(path: Path, *, n: int, full_n: int, expected: str | None, url: str) -> None:
    """Compare ``path``'s MD5 with the published ``expected`` when the file holds the release's
    ``full_n`` images (``n`` found); smaller files are not checked (see the module doc)."""
    if expected is None or n != full_n:
        return
    found = _md5_of(stamp(path))
    if found != expected:
        raise UserError(f"{path} has {n} images like the published file but MD5 {found}, "
                        f"expected {expected}: the file is corrupt or altered; get it again "
                        f"from {url}")


@lru_cache(maxsize=64)
def _md5_of(key: tuple[str, int, int]) -> str:
    """MD5 of the file ``key[0]``, cached per `stamp` (the check before a run and the readers
    in the same process hash a file once)."""
    return md5(Path(key[0]))


def check_layout(path: Path, name: str, found_shape: tuple[int, ...], found_dtype: Any, *,
                 dtype: Any = None, shape: tuple[int | None, ...]) -> None:
    """Check a field's shape and dtype as read from a file's header (no data read): ``shape``
    with None for any size; ``dtype`` when given. One-line `UserError` naming the file and the
    field otherwise."""
    if dtype is not None and str(found_dtype) != str(np.dtype(dtype)):
        raise UserError(f"{path}: {name} has dtype {found_dtype}, expected {np.dtype(dtype)}")
    if len(found_shape) != len(shape) or any(s is not None and s != d
                                             for s, d in zip(shape, found_shape)):
        want = "×".join("N" if s is None else str(s) for s in shape)
        raise UserError(f"{path}: {name} has shape {'×'.join(map(str, found_shape))}, "
                        f"expected {want}")


def check_array(path: Path, name: str, a: Any, *, dtype: type | None = None,
                shape: tuple[int | None, ...]) -> np.ndarray:
    """``a`` as an array with ``shape`` (None = any size) and, when given, ``dtype``; one-line
    `UserError` naming the file and the field otherwise (`check_layout`). A memory-mapped
    array is checked without reading its data."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    check_layout(path, name, a.shape, a.dtype, dtype=dtype, shape=shape)
    return a


def check_labels(path: Path, name: str, y: Any, num_classes: int, *, low: int = 0) -> np.ndarray:
    """Integer labels ``y`` as int64 ``(N,)`` in [low, low + num_classes)."""
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer)
                           or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise UserError(f"{path}: {name} must be a vector of integer labels; found dtype "
                        f"{y.dtype}, shape {y.shape}")
    y = y.astype(np.int64)
    if len(y) and (y.min() < low or y.max() >= low + num_classes):
        raise UserError(f"{path}: {name} must lie in [{low}, {low + num_classes - 1}]; found "
                        f"[{y.min()}, {y.max()}]")
    return y


def np_load(path: Path, *, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a ``.npy`` file without pickles (memory-mapped when ``mmap``);
    `UserError` when the file is not a NumPy array file."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{path} is not a .npy array file: {e}") from None


def hwc_to_float(images: np.ndarray):
    """uint8 ``(N, H, W, C)`` -> float32 tensor ``(N, C, H, W)`` in [0, 1]."""
    import torch  # local: the file checks run without torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
