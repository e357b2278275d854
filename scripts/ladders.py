"""Severity ladders of the MNIST-C corruptions, measured on one trained teacher.

Prints a markdown table: clean accuracy, accuracy at severities 1-5 (mean over seeds) and
whether the ladder meets kdbench's criterion: non-increasing from 1 to 5 within binomial noise,
severity 1 within 5 points of clean, severity 5 >= 0.20, >= 5 points lost clean -> 5.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/ladders.py \
        --weights /tmp/final/runs/train_teacher-59e4a6ca8ee0dfde/member0.pt
"""

from __future__ import annotations

import argparse
import math

import torch

from kdbench.data.corruptions import CORRUPTIONS, corrupt
from kdbench.data.images import to_float, to_uint8
from kdbench.data.splits import load_dataset
from kdbench.models.cnn import cnn


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def verdict(clean: float, accs: list[float], n: int) -> str:
    fails = []
    for a, b in zip(accs, accs[1:]):   # a rise beyond 2 binomial s.e. of the difference
        se = math.sqrt(max(a * (1 - a) + b * (1 - b), 1e-12) / n)
        if b - a > 2 * se:
            fails.append("rises")
            break
    if clean - accs[0] > 0.05:
        fails.append("s1 too strong")
    if accs[-1] < 0.20:
        fails.append("s5 < 0.20")
    if clean - accs[-1] < 0.05:
        fails.append("loses < 5 pts")
    return "pass" if not fails else "FAIL: " + ", ".join(fails)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="cnn(width=16) state dict (.pt)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--n", type=int, default=500, help="test images")
    ap.add_argument("--seeds", type=int, default=3, help="corruption seeds to average")
    ap.add_argument("--only", nargs="*", help="corruption names (default: all)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    model = cnn(width=args.width)
    model.load_state_dict(torch.load(args.weights, weights_only=True))
    model.eval()
    test = load_dataset("mnist5k", (3500, 500, 1000), 0).test
    x, y = test.x[:args.n], test.y[:args.n]
    clean = accuracy(model, x, y)
    names = args.only or sorted(CORRUPTIONS.names())
    print(f"clean accuracy {clean:.3f} on {len(y)} test images, mean of {args.seeds} seeds\n")
    print("| corruption | clean | s1 | s2 | s3 | s4 | s5 | criterion |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        accs = []
        for sev in range(1, 6):
            accs.append(sum(accuracy(model, to_float(to_uint8(corrupt(x, name, sev, seed=s))), y)
                            for s in range(args.seeds)) / args.seeds)
        cells = " | ".join(f"{a:.3f}" for a in accs)
        print(f"| {name} | {clean:.3f} | {cells} | {verdict(clean, accs, len(y))} |", flush=True)


if __name__ == "__main__":
    main()
