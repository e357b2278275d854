"""The run store: one directory per job id under ``runs/``, written atomically.

Layout of ``runs/<job_id>/``: ``config.json`` (the job's config), the job's output files
(weights ``*.pt`` as ``torch.save`` of state dicts, arrays ``*.npz``, tables ``*.csv``), and
``done.json`` written last: it lists every output file with its size and SHA-256. A job is
finished exactly when ``done.json`` exists and every listed file matches it; anything else (a
run killed mid-write, a truncated or edited file) makes the job count as unfinished, and it is
redone from scratch. Every file is written to a temporary name in the same directory and
renamed into place, so a reader never sees half a file. A per-job ``flock`` lock keeps two
processes from computing the same job at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import UserError

DONE = "done.json"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``hashlib.file_digest``: read in chunks)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return file_digest(path, "sha256")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``torch.save``d state dict with ``weights_only=True``; `UserError` if the file is
    not one (a pickled object, a tensor, a list, ...) or cannot be read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for code objects, RuntimeError for bad zips
        raise UserError(f"checkpoint {path} cannot be loaded as weights only: "
                        f"{str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UserError(f"checkpoint {path} is not a state dict of tensors "
                        f"(found {type(state).__name__}); save model.state_dict()")
    return state


def fit_checkpoint(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state`` into ``model``; `UserError` naming missing, unexpected or mis-shaped keys
    when the checkpoint comes from another architecture."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or extra or shapes:
        parts = ([f"missing keys {missing[:3]}"] if missing else []) + \
                ([f"unexpected keys {extra[:3]}"] if extra else []) + shapes[:3]
        raise UserError(f"checkpoint {path} does not fit {type(model).__name__}: "
                        + "; ".join(parts))
    model.load_state_dict(state)


class JobDir:
    """The directory of one job: typed atomic writers and readers for its files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(obj, indent=1, sort_keys=True) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def save_state(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """Save a state dict, its tensors moved to the CPU (a GPU run's weights load anywhere)."""
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
        atomic_write_bytes(self.path / name, buf.getvalue())

    def load_state(self, name: str) -> dict[str, torch.Tensor]:
        """Load a state dict with ``weights_only=True`` (no code runs from the file)."""
        return load_checkpoint(self.path / name)

    def load_into(self, model: torch.nn.Module, name: str) -> torch.nn.Module:
        """Load checkpoint ``name`` into ``model`` after checking it fits (see `fit_checkpoint`)."""
        fit_checkpoint(model, self.load_state(name), self.path / name)
        return model

    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.path / name, buf.getvalue())

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.path / name, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)


class RunStore:
    """``root/<job_id>/`` directories with completion markers and per-job locks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def job(self, job_id: str) -> JobDir:
        return JobDir(self.root / job_id)

    def is_done(self, job_id: str) -> bool:
        """True when ``done.json`` exists and every file it lists has its recorded SHA-256."""
        path = self.root / job_id
        marker = path / DONE
        if not marker.exists():
            return False
        try:
            files = json.loads(marker.read_text())["files"]
            for name, digest in files.items():
                f = path / name
                if not f.exists() or sha256_file(f) != digest:
                    warnings.warn(f"run store: {f} is missing or does not match its checksum; "
                                  f"job {job_id} will be redone", stacklevel=2)
                    return False
        except (ValueError, KeyError, TypeError, OSError):
            warnings.warn(f"run store: {marker} is unreadable; job {job_id} will be redone",
                          stacklevel=2)
            return False
        return True

    def begin(self, job_id: str, config: dict) -> JobDir:
        """Clear whatever a failed or killed attempt left and write ``config.json``."""
        path = self.root / job_id
        for child in path.iterdir() if path.exists() else ():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        job = JobDir(path)
        job.write_json("config.json", config)
        return job

    def finish(self, job_id: str, ran: dict | None = None) -> None:
        """Write the completion marker listing every file of the job with its SHA-256, and
        ``ran`` (where and how long it ran: ``{"worker": "host:pid", "seconds": ...}``)."""
        path = self.root / job_id
        files = {p.name: sha256_file(p) for p in sorted(path.iterdir())
                 if p.is_file() and not p.name.startswith(".") and p.name != DONE}
        marker = {"files": files, **({"ran": ran} if ran else {})}
        atomic_write_text(path / DONE, json.dumps(marker, indent=1, sort_keys=True) + "\n")

    def lock(self, job_id: str) -> AbstractContextManager[None]:
        """Exclusive lock on the job (blocks while another process holds it)."""
        return file_lock(self.root / job_id / ".lock")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``path`` (created with its folder), blocking while another
    process holds it. Not re-entrant: a process must not take the same lock twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def results_lock(store: RunStore) -> AbstractContextManager[None]:
    """The lock of a work directory's ``results/`` (every suite's tables, ``user_models.json``
    and ``leaderboard.csv``): held while one process registers, collects and ranks, so that
    two ``run all`` / ``add-pair`` / `kdbench.evaluate_model` calls on one work directory never
    interleave their read-modify-writes. It lives in the run store, ``runs/.locks/``."""
    return file_lock(store.root / ".locks" / "results.lock")
