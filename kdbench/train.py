"""The one training loop, for teachers, ensemble members and students alike.

AdamW (or SGD with momentum, the CIFAR recipe) on mini-batches drawn by a seeded permutation
each epoch, cosine learning-rate decay to 0 after an optional linear warm-up, optional
gradient-norm clipping, optional crop-and-flip augmentation of each batch (`TrainConfig`).
The loss is a callable ``loss(outputs, labels, index, progress) -> scalar`` where ``index``
holds the training-set positions of the batch, so a distillation method can look up its
cached teacher outputs for exactly those examples, and ``progress`` in [0, 1) is the share of
training steps done (for schedules such as EnD²'s temperature). The model trains on
`kdbench.device.current()`; on CUDA the whole training set and its labels are moved to the
device once, in the channels-last memory format the model runs in. ``outputs``, ``labels`` and
``index`` are on the model's device (a method's cached teacher outputs are too, so its lookups
stay there). Labels are class indices, or -1 for unlabelled examples (the auxiliary part of a
transfer set, `kdbench.data.transfer`). Same seed, same data, same loss → the same weights on
CPU (byte for byte what this loop gave before it was made free of host waits).

Precision: on CUDA the network runs under bf16 autocast except its last layer(s)
(`float32_last_layers`: ``head``, or each of ``heads``), and the loss runs outside autocast on
float32 outputs, so losses that need float32 or float64 (the Dirichlet NLL of EnD², the KL on
heated logits) get them; the recorded loss is float32. On CPU there is no autocast.

Host synchronisation: a step never waits for the device. The batch order is drawn on the CPU
(so every device sees the same order) and moved once per epoch; augmentation offsets move with
one non-blocking copy per batch (`kdbench.data.images.crop_flip`); the epoch's loss sum stays on
the device in float64 (the same IEEE operations as the Python float sum it replaces). The host
reads the device every `CHECK_EVERY` steps and at the end of each epoch only: to check that the
loss sum is finite (`TrainingDiverged`: a non-finite batch loss makes it non-finite) and, at the
epoch's end, to record ``train_loss``.

After every epoch an optional ``monitor(model) -> dict`` records what the caller wants to
follow (kdbench records training accuracy, validation NLL and, for Dirichlet or multi-head
students, the median precision α0 or the heads' disagreement); `fit` returns one record per
epoch, and `convergence` judges a run from those records: "converged", "under-trained",
"over-fit" or "under-fit" (`is_converged`: whether it is "converged"; the rule is in its
docstring and in docs/training.md).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import device as devices
from .data.images import crop_flip
from .data.mnist5k import LabelledImages

AUGMENT_SEED = 7919  # the crop/flip generator is seeded with seed + this, apart from the batch order
CHECK_EVERY = 100  # steps between the host's finite-loss checks (and at the end of every epoch)

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
Monitor = Callable[[nn.Module], dict[str, float]]
Curve = list[dict[str, float]]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


OPTIMIZERS = ("adamw", "sgd")
AUGMENTS = ("none", "crop-flip")
_NEW = {"omit_default": True}  # settings added after the first results: left out of job ids at their defaults


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: ``epochs`` passes, mini-batches of ``batch_size``, learning rate
    ``lr`` with cosine decay to 0, gradients clipped to a global L2 norm of ``clip_grad_norm``
    (0 = no clipping).

    ``optimizer``: "adamw" (Adam with decoupled ``weight_decay``; the default) or "sgd"
    (``momentum``, Nesterov when ``nesterov``, ``weight_decay`` as the L2 term added to the
    gradient: torch's SGD, the standard CIFAR recipe). ``warmup_epochs``: the learning rate
    rises linearly to lr over the steps of the first W epochs, then decays as a cosine to 0
    over the rest (`make_schedule`). ``augment``: "none", or "crop-flip" (`kdbench.data.images.crop_flip`:
    4-px padded random crop and horizontal flip, drawn per batch on the device)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_grad_norm: float = 0.0
    optimizer: str = field(default="adamw", metadata=_NEW)
    momentum: float = field(default=0.9, metadata=_NEW)
    nesterov: bool = field(default=False, metadata=_NEW)
    warmup_epochs: int = field(default=0, metadata=_NEW)
    augment: str = field(default="none", metadata=_NEW)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; found {self.optimizer!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; found {self.augment!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1); found {self.momentum}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optimizer = \"sgd\" and a momentum > 0")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must lie in [0, epochs = {self.epochs}); found "
                             f"{self.warmup_epochs}")


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` over ``params`` (see `TrainConfig`)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, config: TrainConfig, steps: int,
                  steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay to 0 over ``steps`` (torch's ``CosineAnnealingLR``); with warm-up, factor
    (t + 1)/w for the first w = ``warmup_epochs·steps_per_epoch`` steps t, then
    ½(1 + cos(π·(t − w)/(steps − w)))."""
    w = config.warmup_epochs * steps_per_epoch
    if w == 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))

    def factor(t: int) -> float:
        if t < w:
            return (t + 1) / w
        return 0.5 * (1 + math.cos(math.pi * min(t - w, steps - w) / max(steps - w, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _float32_forward(forward: Callable) -> Callable:
    """``forward`` run in float32 with autocast off when autocast is on, else as it is."""
    @functools.wraps(forward)
    def run(x: torch.Tensor, *args, **kwargs):
        kind = x.device.type
        if not torch.is_autocast_enabled(kind):
            return forward(x, *args, **kwargs)
        with torch.autocast(kind, enabled=False):
            return forward(x.float(), *args, **kwargs)

    return run


def last_layers(model: nn.Module) -> list[nn.Module]:
    """The model's last layer(s): its ``head`` (every `kdbench.models` network) or each of its
    ``heads`` (a multi-head student); empty for a model that has neither."""
    heads = getattr(model, "heads", None)
    if isinstance(heads, nn.ModuleList):
        return list(heads)
    head = getattr(model, "head", None)
    return [head] if isinstance(head, nn.Module) else []


@contextlib.contextmanager
def float32_last_layers(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, the model's `last_layers` run in float32 outside autocast whenever
    autocast is on (their input is cast to float32; the rest of the network stays bf16), so
    the logits carry float32 precision into the loss. Without autocast nothing changes (the
    same ops, the same bytes). The patch is an instance attribute, removed on exit; weights and
    state dicts are untouched."""
    patched = [m for m in last_layers(model) if "forward" not in vars(m)]
    for m in patched:
        m.forward = _float32_forward(m.forward)
    try:
        yield model
    finally:
        for m in patched:
            del m.forward


def _check_finite(total: torch.Tensor, desc: str, step: int) -> None:
    """`TrainingDiverged` unless the loss sum is finite (one host read of the device)."""
    if not bool(torch.isfinite(total)):
        raise TrainingDiverged(f"{desc}: a batch loss became non-finite ({total.item()}) by step "
                               f"{step} — lower the lr")


def fit(model: nn.Module, data: LabelledImages, loss: Loss, *, config: TrainConfig, seed: int,
        desc: str = "train", progress: bool = True, monitor: Monitor | None = None) -> Curve:
    """Train ``model`` in place; returns one record per epoch:
    ``{"epoch": e (1-based), "train_loss": mean batch loss, **monitor(model)}``.

    Raises `TrainingDiverged` when a batch loss is not finite (noticed within `CHECK_EVERY`
    steps, module docstring).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    aug_gen = torch.Generator().manual_seed(seed + AUGMENT_SEED)
    dev = devices.current()
    model.to(dev)
    opt = make_optimizer(model.parameters(), config)
    n = len(data)
    per_epoch = math.ceil(n / config.batch_size)
    steps = config.epochs * per_epoch
    sched = make_schedule(opt, config, steps, per_epoch)
    # off the CPU the whole training set and its labels move to the device once (50,000 CIFAR
    # images = 0.6 GB), in the model's memory format, so no loader workers, pinned host memory
    # or per-step copies are needed; on the CPU they stay where they are
    on_cpu = dev.type == "cpu"
    xs = data.x if on_cpu else data.x.to(dev, memory_format=torch.channels_last)
    ys = data.y if on_cpu else data.y.to(dev)
    curve: Curve = []
    model.train().to(memory_format=torch.channels_last)  # x1.2 faster on CPU, same maths
    step = 0
    bar = tqdm(range(config.epochs), desc=desc, leave=False, disable=not progress, unit="ep")
    with float32_last_layers(model):
        for epoch in bar:
            perm = devices.upload(torch.randperm(n, generator=gen), dev)  # same order anywhere
            total = torch.zeros((), dtype=torch.float64, device=dev)
            for start in range(0, n, config.batch_size):
                idx = perm[start: start + config.batch_size]
                batch, labels = xs[idx], ys[idx]
                if config.augment == "crop-flip":
                    batch = crop_flip(batch, aug_gen, channels_last=True)
                batch = batch.contiguous(memory_format=torch.channels_last)
                with devices.autocast(dev):
                    outputs = model(batch)
                value = loss(outputs.float(), labels, idx, step / steps).float()
                step += 1
                opt.zero_grad(set_to_none=True)
                value.backward()
                if config.clip_grad_norm > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
                opt.step()
                sched.step()
                total += value.detach().double() * len(idx)  # = the float sum of value.item() * len
                if step % CHECK_EVERY == 0:
                    _check_finite(total, desc, step)
            _check_finite(total, desc, step)
            record = {"epoch": epoch + 1, "train_loss": total.item() / n}
            if monitor is not None:
                model.eval()
                record.update(monitor(model))
                model.train()
            curve.append(record)
            bar.set_postfix(loss=f"{record['train_loss']:.4f}")
    model.eval()
    return curve


PLATEAU_REL = 0.05
OVERFIT_REL = 0.10
ACC_GAP = 0.02
STATUSES = ("converged", "under-trained", "over-fit", "under-fit")


def convergence(curve: Curve, *, reference_train_acc: float | None = None) -> str:
    """How a training run ended, from its per-epoch records: one of `STATUSES`.

    Rule (docs/training.md), three checks in this order, the first that fails names the run:

    1. "under-trained": the validation NLL still falls — with w = max(2, E // 4) of the E
       epochs, the mean ``val_nll`` of the last w epochs is more than ``PLATEAU_REL`` (5%)
       below the mean of the w epochs before them (means over epochs, because the NLL of a
       500-image validation split moves by several per cent from one epoch to the next). A run
       with fewer than 2·w epochs, or with a missing or non-finite ``val_nll`` record, is
       "under-trained" too.
    2. "over-fit": the final ``val_nll`` is more than ``OVERFIT_REL`` (10%) above its minimum
       over the epochs.
    3. "under-fit": when ``reference_train_acc`` is given (a student: its teacher's training
       accuracy, or the best teacher's for a labels-only student), the final training accuracy
       is below that minus ``ACC_GAP`` (2 points), or not recorded.

    A run that passes all three is "converged".
    """
    vals = [r.get("val_nll") for r in curve]
    w = max(2, len(curve) // 4)
    if len(curve) < 2 * w or any(v is None or not np.isfinite(v) for v in vals):
        return "under-trained"
    last, before = float(np.mean(vals[-w:])), float(np.mean(vals[-2 * w: -w]))
    if last < before * (1 - PLATEAU_REL):
        return "under-trained"
    if float(vals[-1]) > (1 + OVERFIT_REL) * float(min(vals)):
        return "over-fit"
    if reference_train_acc is not None:
        acc = curve[-1].get("train_acc")
        if acc is None or acc < reference_train_acc - ACC_GAP:
            return "under-fit"
    return "converged"


def is_converged(curve: Curve, *, reference_train_acc: float | None = None) -> bool:
    """Whether a training run has converged: ``convergence(...) == "converged"`` (the rule is
    in `convergence` and docs/training.md)."""
    return convergence(curve, reference_train_acc=reference_train_acc) == "converged"
