"""Training and evaluation throughput of the CIFAR networks through kdbench's own code, and
the ``cifar10`` suite's expected time for one seed from its plan.

On synthetic data of the real sizes (32×32 RGB; ``--images`` training images, 50,000 by
default as CIFAR-10's training files; ``--eval-images`` for prediction), for every network the
suite trains (resnet56 teachers, resnet20 students):

* **train** images/s: one epoch of `kdbench.train.fit` with the suite's teacher recipe (SGD +
  Nesterov, batch 128, crop-flip on the device; bf16 autocast and channels-last on CUDA), after
  a short warm-up fit (cuDNN autotuning, allocator);
* **eval** images/s: `kdbench.predictors.SingleNet.predict` (float32, batches of
  `kdbench.predictors.BATCH`).

The suite time per seed is then the sum over the plan's jobs (`kdbench.plan.plan` of
``--suite``) of images ÷ throughput: a teacher trains ``members × epochs × N_train`` images
and predicts the validation split and 500 training images after every epoch (the training
monitor); a transfer job predicts the transfer set once per member (an MC-dropout teacher runs
its trunk once); a student trains ``epochs × N_transfer`` images plus its monitor; an
evaluation predicts every split (test, validation for the post-hoc calibrators, 19 × 5
corrupted, shift, OOD) once per member. Data loading, metrics and collection are not counted
(they are seconds on a CPU). Run:

    python benchmarks/bench_cifar_throughput.py --device cuda            # the real figure
    python benchmarks/bench_cifar_throughput.py --device cpu --images 256 --eval-images 256
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from kdbench import device as devices
from kdbench.config import load_suite
from kdbench.data.mnist5k import LabelledImages
from kdbench.jobs import MONITOR_TRAIN
from kdbench.models import MODELS
from kdbench.plan import plan
from kdbench.predictors import SingleNet
from kdbench.train import TrainConfig, fit


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(model: str, n: int, config: TrainConfig, dev: torch.device) -> float:
    """Images/s of one epoch of `fit` on ``n`` synthetic images (after a warm-up fit)."""
    gen = torch.Generator().manual_seed(0)
    data = LabelledImages(torch.rand(n, 3, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen))
    ce = lambda out, y, idx, progress: torch.nn.functional.cross_entropy(out, y)  # noqa: E731
    net = MODELS.create(model)
    warm = LabelledImages(data.x[: 4 * config.batch_size], data.y[: 4 * config.batch_size])
    fit(net, warm, ce, config=TrainConfig(**{**config.__dict__, "epochs": 1, "warmup_epochs": 0}),
        seed=0, progress=False)
    _sync(dev)
    start = time.perf_counter()
    fit(net, data, ce, config=TrainConfig(**{**config.__dict__, "epochs": 1, "warmup_epochs": 0}),
        seed=1, progress=False)
    _sync(dev)
    return n / (time.perf_counter() - start)


def eval_throughput(model: str, n: int, dev: torch.device) -> float:
    """Images/s of `SingleNet.predict` on ``n`` synthetic images (after a warm-up call)."""
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    predictor = SingleNet(MODELS.create(model))
    predictor.predict(x[:512])
    _sync(dev)
    start = time.perf_counter()
    predictor.predict(x)
    _sync(dev)
    return n / (time.perf_counter() - start)


def suite_seconds(suite_name: str, train_ips: dict[str, float], eval_ips: dict[str, float]) -> dict[str, float]:
    """Expected seconds per job kind for ONE seed of ``suite_name`` (module doc)."""
    suite = load_suite(suite_name, seeds=[0])
    jobs, _ = plan(suite)
    d = suite.data
    n_train, n_val, n_test = d.split
    copies = suite.transfer.copies
    n_transfer = n_train * (1 + copies) + (n_train if suite.transfer.set == "aux" else 0)
    shift_n = 2000  # CIFAR-10.1 v6
    n_eval = (n_test + (n_val if suite.posthoc else 0) + len(d.corruptions) * len(d.severities) * d.corrupt_n
              + len(d.shift) * shift_n + len(d.ood) * d.ood_n)
    monitor = n_val + MONITOR_TRAIN
    out: dict[str, float] = {}

    def passes(t: dict) -> int:  # forward passes of the whole network per image
        return t["members"] if t["kind"] == "ensemble" else 1

    for job in jobs:
        c = job.config
        if job.kind == "train_teacher":
            t = c["teacher"]
            m, ep = t["model"]["name"], t["train"]["epochs"]
            s = t["members"] * ep * (n_train / train_ips[m] + monitor / eval_ips[m])
        elif job.kind == "transfer":
            t = c["teacher"]
            s = passes(t) * n_transfer / eval_ips[t["model"]["name"]]
        elif job.kind == "train_student":
            m, ep = c["student"]["model"]["name"], c["student"]["train"]["epochs"]
            s = ep * (n_transfer / train_ips[m] + monitor / eval_ips[m])
        elif job.kind == "evaluate":
            mc = c["model"]
            if "student" in mc:
                s = n_eval / eval_ips[mc["student"]["model"]["name"]]
            else:
                s = passes(mc["teacher"]) * n_eval / eval_ips[mc["teacher"]["model"]["name"]]
        else:
            continue
        out[job.kind] = out.get(job.kind, 0.0) + s
    out["total"] = sum(out.values())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--images", type=int, default=50_000, help="training images per epoch measured")
    p.add_argument("--eval-images", type=int, default=10_000, help="images predicted")
    p.add_argument("--suite", default="cifar10")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()
    dev = devices.use(args.device)
    suite = load_suite(args.suite, seeds=[0])
    models = sorted({t.model.name for t in suite.teachers.values()}
                    | {s.model.name for s in suite.students.values()})
    recipe = next(iter(suite.teachers.values())).train
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; {args.images} training / {args.eval_images} evaluation images, 3x32x32; "
          f"recipe: {recipe.optimizer}, batch {recipe.batch_size}, augment {recipe.augment}")
    train_ips, eval_ips = {}, {}
    print("| network | train img/s | eval img/s |\n|---|---|---|")
    for m in models:
        train_ips[m] = train_throughput(m, args.images, recipe, dev)
        eval_ips[m] = eval_throughput(m, args.eval_images, dev)
        print(f"| {m} | {train_ips[m]:,.0f} | {eval_ips[m]:,.0f} |")
    est = suite_seconds(args.suite, train_ips, eval_ips)
    print(f"\nsuite '{args.suite}', one seed, from its plan: "
          + ", ".join(f"{k.replace('_', ' ')} {v / 3600:.2f} h" for k, v in est.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "images": args.images, "eval_images": args.eval_images,
                       "train_ips": train_ips, "eval_ips": eval_ips, "suite_seconds": est}, f, indent=1)


if __name__ == "__main__":
    main()
