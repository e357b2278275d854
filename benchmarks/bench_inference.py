"""Inference throughput of the evaluation path, measured side by side in one run.

Compares, on the default teacher CNN (width 32) and 28x28 inputs:
* batch sizes for a single network,
* NCHW vs channels-last memory format,
* an ensemble of 5 evaluated as one vmapped model (torch.func) vs member by member,
* last-layer MC dropout (trunk once, T = 20 heads) vs 20 full passes.
Prints images/s and the ratios. Run: ``python benchmarks/bench_inference.py``.
"""

from __future__ import annotations

import time

import torch

from kdbench.models import MODELS
from torch.func import functional_call, stack_module_state

from kdbench.predictors import BATCH, Ensemble, MCDropout, SingleNet


def timed(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    torch.manual_seed(0)
    x = torch.rand(4000, 1, 28, 28)
    net = MODELS.create("cnn", width=32).eval()
    print(f"threads {torch.get_num_threads()}, {len(x)} images, default BATCH={BATCH}")
    base = None
    for bs in (64, 128, 256, 500, 1000):
        def run(bs=bs):
            with torch.inference_mode():
                for i in range(0, len(x), bs):
                    net(x[i: i + bs])
        t = timed(run)
        base = base or t
        print(f"single net, batch {bs:5d}: {len(x) / t:8.0f} img/s  (x{base / t:.2f} vs batch 64)")
    t_cl = timed(lambda: SingleNet(net).predict(x))
    print(f"single net, channels-last, batch {BATCH}: {len(x) / t_cl:8.0f} img/s "
          f"(x{base / t_cl:.2f} vs NCHW batch 64)")
    members = [MODELS.create("cnn", width=32).eval() for _ in range(5)]
    params, buffers = stack_module_state(members)
    meta = MODELS.create("cnn", width=32).to("meta")
    vm = torch.vmap(lambda p, b, xb: functional_call(meta, (p, b), (xb,)), in_dims=(0, 0, None))

    def vmapped():
        with torch.inference_mode():
            for i in range(0, len(x), BATCH):
                vm(params, buffers, x[i: i + BATCH])
    t_vmap = timed(vmapped)
    t_loop = timed(lambda: Ensemble(members).predict(x))
    print(f"ensemble of 5: vmapped NCHW {len(x) / t_vmap:8.0f} img/s, member loop channels-last "
          f"(kdbench) {len(x) / t_loop:8.0f} img/s -> kdbench is x{t_vmap / t_loop:.2f}")
    drop = MODELS.create("cnn", width=32, dropout=0.5)
    t_ll = timed(lambda: MCDropout(drop, samples=20).predict(x))

    def full_passes():
        drop.train()
        with torch.inference_mode():
            for _ in range(20):
                for i in range(0, len(x), BATCH):
                    drop(x[i: i + BATCH])
        drop.eval()
    t_full = timed(full_passes, repeat=1)
    print(f"MC dropout T=20: last-layer {len(x) / t_ll:8.0f} img/s, 20 full passes "
          f"{len(x) / t_full:8.0f} img/s -> last-layer is x{t_full / t_ll:.1f}")


if __name__ == "__main__":
    main()
