"""Where networks run: ``cpu`` or ``cuda`` (``auto`` = cuda when present).

The CLI's ``--device`` sets ``KDBENCH_DEVICE`` in the environment, so worker processes of the
``processes`` and ``dask`` executors inherit it; library callers may set it too (default
``auto``). The device is not part of a job's id: a job trained on a GPU is reused on a CPU
machine (weights are stored on the CPU) and its ``train_info.json`` / ``eval_info.json`` say
where it ran.

On CUDA, training runs under bf16 autocast (`autocast`); prediction stays float32, because
the metrics need probabilities to full precision (an NLL of a confident wrong answer lives in
the last bits of a bf16 probability). On CPU nothing changes: same seed, same numbers.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")
ENV = "KDBENCH_DEVICE"


def resolve(name: str) -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` -> a `torch.device`; `UserError` for cuda without CUDA."""
    if name not in DEVICES:
        raise UserError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible to torch here; use cpu or auto")
    return torch.device(name)


def use(name: str) -> torch.device:
    """Make ``name`` the device of this process and of the workers it starts."""
    device = resolve(name)
    os.environ[ENV] = name
    return device


def current() -> torch.device:
    """The device jobs run on (``KDBENCH_DEVICE``, default ``auto``)."""
    return resolve(os.environ.get(ENV, "auto"))


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU (a context manager)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
