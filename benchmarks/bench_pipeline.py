"""Harness overhead: kdbench's training loop and predictor against a bare PyTorch loop.

Both train the same network (the default teacher CNN, width 32, or ``--width``) from the same
initialisation on the same 3,500 embedded training images for the same number of epochs with
the same optimiser (AdamW, cosine decay), then predict the 1,000 test images' probabilities.
The bare loop is what a user would write by hand (NCHW tensors, no monitor, no checks); kdbench
runs `kdbench.train.fit` (no per-epoch monitor: that is evaluation the bare loop does not do)
and `kdbench.predictors.SingleNet`. The two are run alternately ``--repeat`` times and the
best time of each is compared. Prints the ratio kdbench / bare; the goal is ≤ 1.10.

    python benchmarks/bench_pipeline.py [--epochs 3] [--width 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from kdbench.data.splits import load_dataset
from kdbench.models import MODELS
from kdbench.predictors import SingleNet
from kdbench.train import TrainConfig, fit


def bare(width: int, x, y, xt, epochs: int, batch: int, lr: float, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    net = MODELS.create("cnn", width=width)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    steps = epochs * math.ceil(len(x) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = perm[i: i + batch]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.inference_mode():
        return torch.cat([torch.softmax(net(xt[i: i + 256]), -1) for i in range(0, len(xt), 256)])


def harness(width: int, ds, epochs: int, batch: int, lr: float, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    net = MODELS.create("cnn", width=width)
    ce = lambda z, y, idx, progress: F.cross_entropy(z, y)  # noqa: E731
    fit(net, ds.train, ce, config=TrainConfig(epochs=epochs, batch_size=batch, lr=lr), seed=seed,
        progress=False)
    return torch.from_numpy(SingleNet(net).predict(ds.test.x).probs[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ds = load_dataset("mnist5k", (3500, 500, 1000), 0)
    kw = dict(epochs=args.epochs, batch=128, lr=0.002, seed=0)
    times = {"bare": [], "kdbench": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        p_bare = bare(args.width, ds.train.x, ds.train.y, ds.test.x, **kw)
        times["bare"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        p_kd = harness(args.width, ds, **kw)
        times["kdbench"].append(time.perf_counter() - t0)
    b, k = min(times["bare"]), min(times["kdbench"])
    agree = float((p_bare.argmax(1) == p_kd.float().argmax(1)).float().mean())
    print(f"threads {torch.get_num_threads()}, width {args.width}, {args.epochs} epochs on "
          f"{len(ds.train)} images + predict {len(ds.test)}")
    print(f"bare PyTorch loop   {b:7.2f} s")
    print(f"kdbench fit+predict {k:7.2f} s")
    print(f"ratio kdbench / bare = {k / b:.3f}  (goal <= 1.10); top-1 agreement of the two "
          f"models {agree:.3f}")


if __name__ == "__main__":
    main()
