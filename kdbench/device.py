"""Where networks run: ``cpu`` or ``cuda`` (``auto`` = cuda when present), and in which mode.

The CLI's ``--device`` sets ``KDBENCH_DEVICE`` in the environment, so worker processes of the
``processes`` and ``dask`` executors inherit it; library callers may set it too (default
``auto``). Weights are stored on the CPU and ``train_info.json`` / ``eval_info.json`` say where a
job ran.

**Job ids.** The device is part of a job's id where it changes the numbers (`id_tag`): a job
run on CUDA has the tag ``cuda`` (deterministic, the default) or ``cuda-nondeterministic``
mixed into its id (`kdbench.plan.job_id`), so one run store or results folder never holds CPU
and GPU numbers under one id. On the CPU the tag is None and ids are what they always were (the
committed results are keyed by them).

**Deterministic CUDA** (`configure`, applied by `current` whenever it resolves to CUDA; on by
default, ``KDBENCH_CUDA_DETERMINISTIC=0`` turns it off): cuDNN deterministic with benchmark
off, ``torch.use_deterministic_algorithms(True)`` (an op without a deterministic kernel raises
instead of silently differing; the models replace the one they used, adaptive average pooling,
by a mean: `kdbench.models.pool`), ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` as cuBLAS needs for
reproducible matmuls. Same seed, same machine and software → the same bytes. Off, cuDNN
benchmark is on (fastest kernels, run-to-run differences in the last bits).

**Precision.** On CUDA training runs under bf16 autocast (`autocast`) except the last layer and
the loss, which run in float32 outside it (`kdbench.train.float32_last_layers`; the Dirichlet
losses widen to float64 themselves); the recorded loss is float32. Prediction is float32 and
TF32 is off for matmuls and cuDNN convolutions (`configure`), because the metrics need
probabilities to full precision (an NLL of a confident wrong answer lives in the last bits of a
bf16 probability); `precision` is the record of it a job can store. On CPU nothing changes:
same seed, same numbers.

**Host waits.** `upload` moves a small host tensor (a batch's augmentation offsets) to the
device without making the host wait: pinned memory and a non-blocking copy on CUDA, the tensor
itself on the CPU.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")
ENV = "KDBENCH_DEVICE"
DETERMINISTIC_ENV = "KDBENCH_CUDA_DETERMINISTIC"  # "0": fast, non-deterministic CUDA kernels
CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic results (CUDA >= 10.2)


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


def selected() -> torch.device:
    """The device ``KDBENCH_DEVICE`` names (default ``auto``), without configuring it."""
    return resolve(os.environ.get(ENV, "auto"))


def current() -> torch.device:
    """The device jobs run on (``KDBENCH_DEVICE``, default ``auto``); on CUDA, torch is put in
    the mode the job ids promise first (`configure`)."""
    device = selected()
    if device.type == "cuda":
        configure(device)
    return device


def deterministic() -> bool:
    """Whether CUDA runs deterministically (``KDBENCH_CUDA_DETERMINISTIC``, default on)."""
    value = os.environ.get(DETERMINISTIC_ENV, "1").strip().lower()
    if value not in ("0", "1", "true", "false", "on", "off"):
        raise UserError(f"{DETERMINISTIC_ENV}={value!r}; expected 1 (deterministic) or 0")
    return value in ("1", "true", "on")


def configure(device: torch.device) -> None:
    """On CUDA: TF32 off (float32 means float32) and the deterministic mode of the module
    docstring, or cuDNN benchmark when `deterministic` is off. Nothing on the CPU. Idempotent."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    det = deterministic()
    if det:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = det
    torch.backends.cudnn.benchmark = not det
    torch.use_deterministic_algorithms(det)


def id_tag(device: torch.device | None = None) -> str | None:
    """What a job's id holds of the device (default: `selected`): None on the CPU (ids as
    they always were), ``"cuda"`` on deterministic CUDA, ``"cuda-nondeterministic"`` else."""
    device = selected() if device is None else device
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        return "cuda" if deterministic() else "cuda-nondeterministic"
    return device.type


def precision(device: torch.device | None = None) -> dict:
    """How a job's networks computed on ``device`` (default: `selected`), for its info file:
    training autocast dtype, prediction dtype, TF32, deterministic kernels."""
    device = selected() if device is None else device
    cuda = device.type == "cuda"
    return {"device": str(device), "train_autocast": "bfloat16" if cuda else "none",
            "loss_dtype": "float32", "predict_dtype": "float32", "tf32": False,
            "deterministic": deterministic() if cuda else True}


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU (a context manager)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_exact(device: torch.device) -> bool:
    """Whether code on ``device`` keeps the ops the committed CPU results were made with even
    where they read the device from the host (free on the CPU): True on the CPU. Elsewhere a
    sync-free variant of the same value runs (`kdbench.distill.kd.labelled_ce`). Tests patch
    this to run the device variants on the CPU."""
    return device.type == "cpu"


def upload(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor ``t`` on ``device`` without a host wait: on CUDA a pinned copy moved with
    ``non_blocking=True`` (the caching host allocator keeps the pinned block alive until the
    copy is done); on the CPU ``t`` itself."""
    if device.type == "cpu" or t.device == device:
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
