"""The one training loop, for teachers, ensemble members and students alike.

AdamW on mini-batches drawn by a seeded permutation each epoch. The loss is a callable
``loss(outputs, labels, index, progress) -> scalar`` where ``index`` holds the training-set
positions of the batch, so a distillation method can look up its cached teacher outputs for
exactly those examples, and ``progress`` in [0, 1) is the share of training steps done (for
schedules such as EnD²'s temperature annealing). Same seed, same data, same loss → the same
weights on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .data.mnist5k import LabelledImages

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: ``epochs`` passes, mini-batches of ``batch_size``, Adam with
    learning rate ``lr`` and decoupled ``weight_decay`` (AdamW), cosine decay to 0."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0


def fit(model: nn.Module, data: LabelledImages, loss: Loss, *, config: TrainConfig, seed: int,
        desc: str = "train", progress: bool = True) -> list[float]:
    """Train ``model`` in place; returns the mean loss of every epoch.

    Raises `TrainingDiverged` when a batch loss is not finite.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(data)
    steps = config.epochs * math.ceil(n / config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    history: list[float] = []
    model.train().to(memory_format=torch.channels_last)  # x1.2 faster on CPU, same maths
    step = 0
    bar = tqdm(range(config.epochs), desc=desc, leave=False, disable=not progress, unit="ep")
    for _ in bar:
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = perm[start: start + config.batch_size]
            batch = data.x[idx].contiguous(memory_format=torch.channels_last)
            value = loss(model(batch), data.y[idx], idx, step / steps)
            step += 1
            if not torch.isfinite(value):
                raise TrainingDiverged(f"{desc}: loss became {value.item()} — lower the lr")
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            total += value.item() * len(idx)
        history.append(total / n)
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    model.eval()
    return history
