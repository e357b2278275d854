"""Put a model of your own on a kdbench leaderboard (docs/adding-a-pair.md).

    python examples/evaluate_my_model.py --suite smoke --workdir /tmp/kdbench-example

Trains a small CNN of your own design on the suite's training split for three epochs (any
training code will do: kdbench only needs the trained module), then hands it to
`kdbench.evaluate_model`, which evaluates it on every split of the suite, adds it to the
suite's results and ranks it on the leaderboard. A second model shows the other form: a
callable that returns a `kdbench.prediction.Prediction` (here: MC-dropout samples of the same
network), for a model that brings its own uncertainty.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import kdbench
from kdbench.config import load_suite
from kdbench.data.splits import load_dataset
from kdbench.prediction import Prediction


class MyNet(nn.Module):
    """Any architecture: images (N, 1, 28, 28) -> logits (N, 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(8 * 12 * 12, 64), nn.ReLU(), nn.Dropout(0.3))
        self.out = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


def train(net: nn.Module, suite: str, epochs: int = 3) -> nn.Module:
    s = load_suite(suite)
    ds = load_dataset(s.data.dataset, s.data.split, s.data.split_seed)
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(epochs):
        for i in range(0, len(ds.train), 64):
            x, y = ds.train.x[i: i + 64], ds.train.y[i: i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return net.eval()


def mc_dropout(net: nn.Module, samples: int = 8):
    """A callable x -> Prediction with ``samples`` dropout passes (S = samples)."""

    def predict(x: torch.Tensor) -> Prediction:
        torch.manual_seed(0)
        net.train()  # dropout on
        with torch.no_grad():
            probs = torch.stack([torch.softmax(net(x), -1) for _ in range(samples)])
        net.eval()
        return Prediction(probs=probs.double().numpy())

    return predict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="mnist5k")
    p.add_argument("--workdir", default=".")
    args = p.parse_args()
    net = train(MyNet(), args.suite)
    for name, model in (("my-net", net), ("my-net-mc", mc_dropout(net))):
        res = kdbench.evaluate_model(model, suite=args.suite, name=name, workdir=args.workdir)
        row = res["row"]
        print(f"{name}: rank {res['rank']} on suite {args.suite}; ID accuracy "
              f"{row['id_accuracy']:.3f}, rank NLL {row['rank_nll']:.3f}, OOD AUROC "
              f"{row['ood_auroc_best']:.3f} ({row['ood_best_score']})")


if __name__ == "__main__":
    main()
