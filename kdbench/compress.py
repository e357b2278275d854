"""Compressed students: ``<model>+int8`` and ``<model>+prune<P>``, variants of a trained student.

* ``int8``: post-training **static** int8 quantization of the whole network with torch's own
  FX graph-mode tooling (``torch.ao.quantization.quantize_fx``: ``prepare_fx`` with the x86
  backend's default ``QConfigMapping`` — per-channel symmetric int8 weights, per-tensor affine
  uint8 activations with histogram observers — then ``convert_fx``), calibrated on the suite's
  validation split (Jacob et al. 2018, "Quantization and Training of Neural Networks for
  Efficient Integer-Arithmetic-Only Inference"; the recipe of the PyTorch "(prototype) FX
  Graph Mode Post Training Static Quantization" tutorial). Conv + ReLU and Linear + ReLU are
  fused by the tooling; the network takes and returns float tensors (quantize at the input,
  dequantize at the logits), so the student's own predictor (softmax, Dirichlet, heads) runs
  unchanged on top. Quantized kernels exist on the CPU only: an int8 variant always predicts on
  the CPU. The quantized model is a pure function of the float weights and the calibration
  images (the observers are deterministic), so the evaluate job rebuilds it from them instead
  of storing it (its state dict holds packed parameters that ``torch.load(weights_only=True)``
  cannot read). torchao's PT2E flow is not used: torchao is not a dependency, and without
  ``torch.compile`` that flow runs reference quantize/dequantize ops, not int8 kernels.
* ``prune<P>``: global unstructured L1 magnitude pruning (Han et al. 2015, "Learning both
  Weights and Connections for Efficient Neural Networks"; ``torch.nn.utils.prune.
  global_unstructured`` with ``L1Unstructured``) of the weights of every ``Conv2d`` and
  ``Linear`` layer together, to P% zeros (biases kept), then a short fine-tune with the mask
  held fixed (the pruning re-parametrisation weight = weight_orig · mask stays on during the
  fine-tune, so pruned weights get zero gradient), then the mask made permanent. The fine-tune
  runs ``finetune_epochs`` epochs of the one training loop on the student's transfer set with
  the student's own method loss **as at the end of its training** (the loss called with
  progress 1, so EnD²'s temperature is 1 and a warm-up is over) and the cached teacher outputs,
  at ``finetune_lr_scale`` times the student's learning rate (Han et al. retrain at a lower
  rate); ``finetune_epochs = 0`` prunes without fine-tuning. The pruned model is stored dense
  (same architecture, same predictor), so it is not faster; ``sparse_bytes`` says what a
  sparse format would store.

Every model (teachers, students, variants, user models) gets a footprint in its evaluate job:
``size_bytes`` (bytes of its serialized state dicts, all networks), ``sparse_bytes`` (the same
with the conv/linear weights stored as coordinate lists: per non-zero its value and a 32-bit
flat index), ``sparsity`` (share of zeros among those weights) and ``cpu_ms_per_image`` (median
over `LATENCY_REPEATS` timed predictions of `LATENCY_IMAGES` images on the CPU, after one
warm-up, with the job's one torch thread).

A variant that cannot be built for a model (the tooling cannot trace it, ...) is recorded by its
compress job as not built with the reason; its evaluate job writes no metrics, ``models.csv``
says ``not built`` with the reason, and the run goes on. Compressed variants get no post-hoc
calibrator rows.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import os
import re
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from . import device as devices
from .prediction import Prediction
from .train import Curve, Monitor, TrainConfig, fit

LATENCY_IMAGES = 256
LATENCY_REPEATS = 7
FINAL_PROGRESS = 1.0  # a method's loss as at the end of its training
VARIANT = re.compile(r"^(int8|prune(\d{1,2}))$")


@dataclass(frozen=True)
class CompressConfig:
    """The suite's ``[compress]`` table: ``int8`` variants on/off, the sparsities P (percent)
    of the ``prune<P>`` variants, their fine-tune (epochs, learning-rate factor), and the
    methods (name patterns) whose students are compressed (default: every student)."""

    int8: bool = False
    prune: tuple[int, ...] = ()
    finetune_epochs: int = 2
    finetune_lr_scale: float = 0.1
    methods: tuple[str, ...] = ("*",)  # fnmatch patterns: the students of these methods get variants

    def applies_to(self, method: str) -> bool:
        """Whether the students of suite method ``method`` get compressed variants."""
        return any(fnmatch.fnmatchcase(method, p) for p in self.methods)

    def variants(self) -> list[str]:
        """Variant names in plan order: ``int8`` then ``prune<P>`` by P."""
        return (["int8"] if self.int8 else []) + [f"prune{p}" for p in sorted(self.prune)]


class NotBuilt(RuntimeError):
    """A compressed variant that cannot be built for this model; the message says why."""


def parse_variant(name: str) -> tuple[str, int]:
    """``"int8"`` -> ("int8", 0); ``"prune80"`` -> ("prune", 80); ValueError otherwise."""
    m = VARIANT.match(name)
    if not m:
        raise ValueError(f"unknown compressed variant {name!r}; expected int8 or prune<P> "
                         "with P in 1..99")
    return ("int8", 0) if m.group(1) == "int8" else ("prune", int(m.group(2)))


@contextlib.contextmanager
def on_cpu() -> Iterator[None]:
    """Run kdbench's predictors on the CPU inside the block (`kdbench.device.ENV`)."""
    old = os.environ.get(devices.ENV)
    os.environ[devices.ENV] = "cpu"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(devices.ENV, None)
        else:
            os.environ[devices.ENV] = old


class OnCPU:
    """A predictor built and run on the CPU whatever the job's device (int8 kernels are
    CPU-only); ``inner`` is the wrapped predictor."""

    def __init__(self, build: Callable[[], Any]) -> None:
        with on_cpu():
            self.inner = build()

    def predict(self, x: torch.Tensor) -> Prediction:
        with on_cpu():
            return self.inner.predict(x)


# ---------------------------------------------------------------------------------- int8


def quantize_int8(net: nn.Module, calibration: torch.Tensor, *, batch: int = 256) -> nn.Module:
    """Static int8 copy of ``net`` (float input and output; module docstring), calibrated on
    ``calibration`` images ``(N, C, H, W)``; `NotBuilt` when the tooling cannot convert it."""
    from torch.ao.quantization import get_default_qconfig_mapping  # local: FX tooling is slow to import
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # local: as above

    if "x86" not in torch.backends.quantized.supported_engines:
        raise NotBuilt("this torch build has no x86 quantized engine "
                       f"(supported: {', '.join(torch.backends.quantized.supported_engines)})")
    torch.backends.quantized.engine = "x86"
    float_net = copy.deepcopy(net).cpu().eval().to(memory_format=torch.contiguous_format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # torch's own notices about its quantization API (observers' reduce_range, quantized
            # tensor constructors): nothing a kdbench user can act on
            warnings.filterwarnings("ignore", message=".*(reduce_range will be deprecated|"
                                    "quantized tensor creation functions)", category=UserWarning)
            prepared = prepare_fx(float_net, get_default_qconfig_mapping("x86"),
                                  example_inputs=(calibration[:1],))
            with torch.inference_mode():
                for i in range(0, len(calibration), batch):
                    prepared(calibration[i: i + batch])
            return convert_fx(prepared).eval()
    except NotBuilt:
        raise
    except Exception as e:  # FX tracing or conversion refuses this network
        raise NotBuilt(f"int8 quantization failed: {type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''}") from None


# ---------------------------------------------------------------------------------- prune


def prunable(net: nn.Module) -> list[tuple[nn.Module, str]]:
    """The (module, "weight") pairs of every Conv2d and Linear layer of ``net``."""
    return [(m, "weight") for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_global(net: nn.Module, percent: int) -> None:
    """Global L1 pruning of all conv/linear weights to ``percent``% zeros, in place; the mask
    stays attached (``weight = weight_orig · weight_mask``) until `make_permanent`."""
    net.to(memory_format=torch.contiguous_format)  # the pruning utilities flatten with view()
    params = prunable(net)
    if not params:
        raise NotBuilt("the network has no Conv2d or Linear layer to prune")
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=percent / 100)


def make_permanent(net: nn.Module) -> None:
    """Fold the pruning masks into the weights (plain parameters again, same state-dict keys)."""
    for module, name in prunable(net):
        if prune.is_pruned(module):
            prune.remove(module, name)


def finetune(net: nn.Module, method: Any, data: Any, teacher_probs: torch.Tensor | None, *,
             train: TrainConfig, epochs: int, lr_scale: float, seed: int, desc: str,
             monitor: Monitor | None) -> Curve:
    """``epochs`` epochs of the one training loop (`kdbench.train.fit`) with ``method``'s loss
    as at the end of its training (progress fixed at `FINAL_PROGRESS`), at ``lr_scale`` × the
    student's learning rate; returns the per-epoch records."""
    loss = method.make_loss(teacher_probs)

    def at_end(outputs: torch.Tensor, labels: torch.Tensor, index: torch.Tensor,
               progress: float) -> torch.Tensor:
        return loss(outputs, labels, index, FINAL_PROGRESS)

    config = replace(train, epochs=epochs, lr=train.lr * lr_scale)
    return fit(net, data, at_end, config=config, seed=seed, desc=desc, progress=False,
               monitor=monitor)


# ------------------------------------------------------------------------------ footprint


def networks(predictor: Any) -> list[nn.Module]:
    """The networks behind one of kdbench's predictors (none for a bare callable)."""
    predictor = getattr(predictor, "inner", predictor)
    if hasattr(predictor, "nets"):
        return list(predictor.nets)
    net = getattr(predictor, "net", None)
    return [net] if isinstance(net, nn.Module) else []


def _weights(net: nn.Module) -> list[torch.Tensor]:
    """The conv/linear weight tensors of a float or quantized network (int8 values for the
    quantized modules)."""
    from torch.ao.nn import quantized as nnq  # local: as the FX tooling

    out = []
    for m in net.modules():
        if isinstance(m, (nnq.Conv2d, nnq.Linear)):
            out.append(m.weight().int_repr())
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            out.append(m.weight.detach())
    return out


def serialized_bytes(net: nn.Module) -> int:
    """Bytes of ``torch.save(net.state_dict())``."""
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return len(buf.getvalue())


def footprint(nets: list[nn.Module]) -> dict[str, float]:
    """``size_bytes``, ``sparse_bytes`` and ``sparsity`` of the networks together (module
    docstring); NaN for all three when there are none."""
    if not nets:
        nan = float("nan")
        return {"size_bytes": nan, "sparse_bytes": nan, "sparsity": nan}
    size = sum(serialized_bytes(n) for n in nets)
    weights = [w for n in nets for w in _weights(n)]
    dense = sum(w.numel() * w.element_size() for w in weights)
    nnz = [int(torch.count_nonzero(w)) for w in weights]
    sparse = size - dense + sum(k * (w.element_size() + 4) for k, w in zip(nnz, weights))
    total = sum(w.numel() for w in weights)
    return {"size_bytes": size, "sparse_bytes": sparse,
            "sparsity": 1 - sum(nnz) / total if total else 0.0}


def cpu_ms_per_image(predictor: Any, x: torch.Tensor, *, repeats: int = LATENCY_REPEATS) -> float:
    """Median over ``repeats`` timed ``predictor.predict`` calls on the first `LATENCY_IMAGES`
    images of ``x`` (after one untimed warm-up), in milliseconds per image. The caller makes
    sure the predictor runs on the CPU."""
    x = x[:LATENCY_IMAGES]
    predictor.predict(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.predict(x)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / len(x)
