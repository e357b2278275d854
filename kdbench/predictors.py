"""Wrappers that turn trained networks into a `Prediction`.

* `SingleNet`: one network, S = 1.
* `Ensemble`: M networks, each evaluated on every batch, S = M. (Stacking the members into
  one vmapped model with ``torch.func`` or into one grouped convolution was measured slower on
  CPU — x0.35 and x0.25 of the loop; ``benchmarks/bench_inference.py`` — so members run one
  after another.)
* `MCDropout`: last-layer ("LL") MC dropout (Ovadia et al. 2019): the deterministic trunk runs
  once, then T dropout masks drawn from a seeded generator — one per pass, shared by all
  examples, so pass s is one sub-network — are applied to its features before the last linear
  layer, S = T.

All run under ``torch.inference_mode`` in batches of ``BATCH`` images in the channels-last
memory format (x2-3 faster for these small CNNs on CPU than NCHW, where pooling dominates) and
return probabilities, never logits. Images may be float32 in [0, 1] or uint8 pixels (the
evaluation splits' corrupted images, `kdbench.data.splits`): uint8 ones move to the device as
they are and are converted there, one batch at a time (`kdbench.data.images.pixels_to_float`,
the same float32 values).

Precision: prediction is float32 on every device, without autocast; on CUDA TF32 is off for
matmuls and cuDNN convolutions (`kdbench.device.configure`, applied whenever
`kdbench.device.current` resolves to CUDA, which every predictor's constructor calls), and
`kdbench.device.precision` is the record of it for a job's ``eval_info.json``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data.images import pixels_to_float
from .device import current
from .prediction import Prediction

BATCH = 256
CHANNELS_LAST = torch.channels_last


def batches(x: torch.Tensor, device: torch.device | None = None):
    """``x`` (float32, or uint8 pixels) in batches of ``BATCH`` float32 images on ``device``
    (default: `kdbench.device.current`), each in the channels-last memory format; uint8 is
    converted after the move (module docstring)."""
    device = device or current()
    for i in range(0, len(x), BATCH):
        b = pixels_to_float(x[i: i + BATCH].to(device))
        yield b.contiguous(memory_format=CHANNELS_LAST)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A prediction tensor on any device -> float64 numpy on the CPU."""
    return t.double().cpu().numpy()


class SingleNet:
    """One network; ``predict`` gives probs ``(1, N, K)``."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net.eval().to(current(), memory_format=CHANNELS_LAST)

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.softmax(self.net(b), -1) for b in batches(x)]
        return Prediction(probs=to_numpy(torch.cat(out)[None]))


class Ensemble:
    """M networks; ``predict`` gives probs ``(M, N, K)``."""

    def __init__(self, nets: list[nn.Module]) -> None:
        self.nets = [n.eval().to(current(), memory_format=CHANNELS_LAST) for n in nets]

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.stack([torch.softmax(n(b), -1) for n in self.nets]) for b in batches(x)]
        return Prediction(probs=to_numpy(torch.cat(out, 1)))


class MCDropout:
    """Last-layer MC dropout with T passes; ``predict`` gives probs ``(T, N, K)``.

    The net must expose ``features``, ``dropout_p`` and ``head`` (see `kdbench.models`).
    Pass s uses ONE dropout mask m_s ∈ {0, 1}^D over the D features, shared by every example
    and every batch: ``masks()`` draws the ``(T, D)`` masks from a generator seeded with
    ``seed``, and sample s of example i is the deterministic sub-network
    head(features(x_i) · m_s / (1 − p)). So the T samples are T fixed sub-networks — the same
    ones for the cached distillation targets (on the transfer set) and at evaluation — and a
    multi-head student's head h can follow sub-network h (Gal & Ghahramani 2016 draw one mask
    per pass over a batch; per-example masks would make sample s a different network for every
    image).
    """

    def __init__(self, net: nn.Module, *, samples: int, seed: int = 0) -> None:
        if not 0 < net.dropout_p < 1:
            raise ValueError(f"MC dropout needs a model with dropout in (0, 1); found {net.dropout_p}")
        self.net = net.eval().to(current(), memory_format=CHANNELS_LAST)
        self.samples, self.seed = samples, seed

    def masks(self) -> torch.Tensor:
        """The keep-masks ``(T, D)`` (bool), the same on every call."""
        gen = torch.Generator().manual_seed(self.seed)
        d = self.net.head.in_features
        return torch.rand((self.samples, d), generator=gen) >= self.net.dropout_p

    def predict(self, x: torch.Tensor) -> Prediction:
        p, w, bias = self.net.dropout_p, self.net.head.weight, self.net.head.bias
        scale = self.masks().to(w.device, w.dtype) / (1 - p)  # (T, D)
        out = []
        with torch.inference_mode():
            for b in batches(x):
                h = self.net.features(b)  # (B, D), once
                logits = (h[None] * scale[:, None]) @ w.T + bias  # (T, B, K)
                out.append(torch.softmax(logits, -1))
        return Prediction(probs=to_numpy(torch.cat(out, 1)))
