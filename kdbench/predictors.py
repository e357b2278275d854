"""Wrappers that turn trained networks into a `Prediction`.

* `SingleNet`: one network, S = 1.
* `Ensemble`: M networks of one architecture evaluated as one batched model — parameters
  stacked with ``torch.func.stack_module_state`` and the forward vmapped — S = M.
* `MCDropout`: last-layer ("LL") MC dropout (Ovadia et al. 2019): the deterministic trunk runs
  once, then T dropout masks drawn from a seeded generator are applied to its features before
  the last linear layer, S = T.

All run under ``torch.inference_mode`` in batches and return probabilities, never logits.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from .prediction import Prediction

BATCH = 500


class SingleNet:
    """One network; ``predict`` gives probs ``(1, N, K)``."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net.eval()

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.softmax(self.net(x[i: i + BATCH]), -1) for i in range(0, len(x), BATCH)]
        return Prediction(probs=torch.cat(out)[None].double().numpy())


class Ensemble:
    """M networks of one architecture; ``predict`` gives probs ``(M, N, K)``."""

    def __init__(self, nets: list[nn.Module]) -> None:
        nets = [n.eval() for n in nets]
        self.params, self.buffers = stack_module_state(nets)
        self.base = copy.deepcopy(nets[0]).to("meta")

        def one(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        self._forward = torch.vmap(one, in_dims=(0, 0, None))

    def predict(self, x: torch.Tensor) -> Prediction:
        with torch.inference_mode():
            out = [torch.softmax(self._forward(self.params, self.buffers, x[i: i + BATCH]), -1)
                   for i in range(0, len(x), BATCH)]
        return Prediction(probs=torch.cat(out, 1).double().numpy())


class MCDropout:
    """Last-layer MC dropout with T passes; ``predict`` gives probs ``(T, N, K)``.

    The net must expose ``features``, ``dropout_p`` and ``head`` (see `kdbench.models`).
    Masks come from a generator seeded with ``seed``, so predictions are reproducible.
    """

    def __init__(self, net: nn.Module, *, samples: int, seed: int = 0) -> None:
        if not 0 < net.dropout_p < 1:
            raise ValueError(f"MC dropout needs a model with dropout in (0, 1); found {net.dropout_p}")
        self.net, self.samples, self.seed = net.eval(), samples, seed

    def predict(self, x: torch.Tensor) -> Prediction:
        gen = torch.Generator().manual_seed(self.seed)
        p, w, b = self.net.dropout_p, self.net.head.weight, self.net.head.bias
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), BATCH):
                h = self.net.features(x[i: i + BATCH])  # (B, D), once
                keep = torch.rand((self.samples, *h.shape), generator=gen) >= p
                logits = torch.einsum("tbd,kd->tbk", h * keep / (1 - p), w) + b
                out.append(torch.softmax(logits, -1))
        return Prediction(probs=torch.cat(out, 1).double().numpy())

