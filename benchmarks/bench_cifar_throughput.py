"""Throughput of the ``cifar10`` suite's own jobs through kdbench's own code, and the suite's
expected time for one seed from its plan.

On synthetic data of the real sizes (32×32 RGB; ``--images`` training images, 50,000 by
default as CIFAR-10's training files; ``--eval-images`` for prediction):

* **teacher train** images/s per teacher network: one epoch of `kdbench.train.fit` with the
  suite's teacher recipe (SGD + Nesterov, batch 128, crop-flip on the device; bf16 autocast
  except the last layer and the loss, channels-last on CUDA) and the cross-entropy loss;
* **student train** images/s per (student network, method) of the suite's pairs: one epoch of
  the method's own `kdbench.distill.base.Method.fit_student` — its real loss (Hinton KD's
  heated KL, DKD, DIST, EnD²'s float64 Dirichlet NLL, the proxy's digamma terms, hydra's H
  heads in its two phases), its wrapped model, the teacher's S samples (synthetic, on the
  device) indexed by the batch;
* **transfer build** images/s: the crop-flip copies of the transfer set
  (`kdbench.data.images.crop_flip`);
* **eval** images/s per model: each predictor as the suite runs it (`SingleNet`, the
  ensemble's M members, MC dropout's T passes on one trunk, a method's own predictor:
  Dirichlet, multi-head), float32, batches of `kdbench.predictors.BATCH`.

Each measurement follows a warm-up call (cuDNN, allocator; on CUDA cuDNN's autotuning only
when ``KDBENCH_CUDA_DETERMINISTIC=0``). The suite time per seed is then the sum over the plan's
jobs (`kdbench.plan.plan` of ``--suite``) of images ÷ throughput: a teacher trains ``members ×
epochs × N_train`` images and predicts the validation split and 500 training images after every
epoch (the training monitor); a transfer job builds the copies and predicts the transfer set with
the teacher's predictor; a student trains ``epochs × N_transfer`` images with its method plus its
monitor; an evaluation predicts every split (test, validation for the post-hoc calibrators,
19 × 5 corrupted, shift, OOD) with the model's predictor. Data loading, metrics and collection
are not counted (seconds on a CPU). Run:

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
from kdbench.data.images import crop_flip
from kdbench.predictors import Ensemble, MCDropout, SingleNet
from kdbench.train import TrainConfig, fit


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(dev: torch.device, run) -> float:
    """Seconds of ``run()`` with the device drained before and after."""
    _sync(dev)
    start = time.perf_counter()
    run()
    _sync(dev)
    return time.perf_counter() - start


def _images(n: int, seed: int = 0) -> LabelledImages:
    gen = torch.Generator().manual_seed(seed)
    return LabelledImages(torch.rand(n, 3, 32, 32, generator=gen),
                          torch.randint(0, 10, (n,), generator=gen))


def _one_epoch(config: TrainConfig) -> TrainConfig:
    return TrainConfig(**{**config.__dict__, "epochs": 1, "warmup_epochs": 0})


def train_throughput(model: str, n: int, config: TrainConfig, dev: torch.device) -> float:
    """Teacher training images/s: one epoch of `fit` with cross-entropy (after a warm-up)."""
    data = _images(n)
    ce = lambda out, y, idx, progress: torch.nn.functional.cross_entropy(out, y)  # noqa: E731
    net = MODELS.create(model)
    warm = LabelledImages(data.x[: 4 * config.batch_size], data.y[: 4 * config.batch_size])
    fit(net, warm, ce, config=_one_epoch(config), seed=0, progress=False)
    return n / _timed(dev, lambda: fit(net, data, ce, config=_one_epoch(config), seed=1,
                                       progress=False))


def student_throughput(model, method, samples: int, n: int, config: TrainConfig,
                       dev: torch.device) -> float:
    """Student training images/s with ``method``'s own loss and model (module doc): one epoch
    (hydra: two, one per phase, so the images are counted twice) after a warm-up."""
    data = _images(n)
    gen = torch.Generator().manual_seed(2)
    teacher = torch.softmax(3 * torch.randn(samples, n, 10, generator=gen), -1).to(dev)
    epochs = 2 if type(method).__name__ == "Hydra" else 1
    cfg = TrainConfig(**{**config.__dict__, "epochs": epochs, "warmup_epochs": 0})
    net = method.wrap_model(model.build(10))
    warm_n = 4 * config.batch_size
    method.fit_student(net, LabelledImages(data.x[:warm_n], data.y[:warm_n]),
                       teacher[:, :warm_n] if method.needs_teacher else None, config=cfg, seed=0,
                       desc="warm", progress=False, monitor=None)
    run = lambda: method.fit_student(net, data, teacher if method.needs_teacher else None,  # noqa: E731
                                     config=cfg, seed=1, desc="bench", progress=False, monitor=None)
    return epochs * n / _timed(dev, run)


def transfer_build_throughput(n: int, dev: torch.device) -> float:
    """Images/s of the transfer set's crop-flip copies (`crop_flip` on the device)."""
    x = _images(n).x.to(dev)
    crop_flip(x[:256], torch.Generator().manual_seed(0))
    return n / _timed(dev, lambda: crop_flip(x, torch.Generator().manual_seed(1)))


def predictor_throughput(make, n: int, dev: torch.device) -> float:
    """Images/s of ``make()``'s ``predict`` on ``n`` synthetic images (after a warm-up)."""
    x = _images(n).x
    predictor = make()
    predictor.predict(x[:512])
    return n / _timed(dev, lambda: predictor.predict(x))


def eval_throughput(model: str, n: int, dev: torch.device) -> float:
    """Images/s of `SingleNet.predict` on ``n`` synthetic images (after a warm-up call)."""
    return predictor_throughput(lambda: SingleNet(MODELS.create(model)), n, dev)


def suite_seconds(suite_name: str, rates: dict) -> dict[str, float]:
    """Expected seconds per job kind for ONE seed of ``suite_name`` (module doc). ``rates``:
    images/s as `measure` returns them."""
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

    def teacher_key(t: dict) -> tuple[str, str]:
        return t["kind"], t["model"]["name"]

    def student_key(c: dict) -> tuple[str, str]:
        return c["student"]["model"]["name"], c["method"]["kind"]

    for job in jobs:
        c = job.config
        if job.kind == "train_teacher":
            t = c["teacher"]
            m, ep = t["model"]["name"], t["train"]["epochs"]
            members = t["members"] if t["kind"] == "ensemble" else 1
            s = members * ep * (n_train / rates["teacher_train"][m]
                                + monitor / rates["eval"][("single", m)])
        elif job.kind == "transfer":
            s = (n_train * copies / rates["transfer_build"]
                 + n_transfer / rates["eval"][teacher_key(c["teacher"])])
        elif job.kind == "train_student":
            ep = c["student"]["train"]["epochs"]
            key = student_key(c)
            s = ep * (n_transfer / rates["student_train"][key] + monitor / rates["eval"][key])
        elif job.kind == "evaluate":
            mc = c["model"]
            mc = mc.get("model", mc) if "variant" in mc else mc  # a compressed student's source
            key = student_key(mc) if "student" in mc else teacher_key(mc["teacher"])
            s = n_eval / rates["eval"][key]
        else:
            continue
        out[job.kind] = out.get(job.kind, 0.0) + s
    out["total"] = sum(out.values())
    return out


def measure(suite_name: str, n: int, n_eval: int, dev: torch.device, *, report=print) -> dict:
    """Images/s of every job of ``suite_name`` the plan needs (module doc), printed as a table
    as they come."""
    suite = load_suite(suite_name, seeds=[0])
    recipe = next(iter(suite.teachers.values())).train
    rates: dict = {"teacher_train": {}, "student_train": {}, "eval": {}}
    report("| what | network | train img/s | eval img/s |\n|---|---|---|---|")
    for t in sorted(suite.teachers.values(), key=lambda t: t.name):
        m = t.model.name
        if m not in rates["teacher_train"]:
            rates["teacher_train"][m] = train_throughput(m, n, recipe, dev)
        nets = lambda k, t=t: [t.model.build(10) for _ in range(k)]  # noqa: E731
        make = {"single": lambda: SingleNet(nets(1)[0]),
                "ensemble": lambda t=t: Ensemble(nets(t.members)),
                "mc_dropout": lambda t=t: MCDropout(nets(1)[0], samples=t.samples)}[t.kind]
        rates["eval"][(t.kind, m)] = predictor_throughput(make, n_eval, dev)
        report(f"| teacher {t.name} ({t.kind}) | {m} | {rates['teacher_train'][m]:,.0f} | "
               f"{rates['eval'][(t.kind, m)]:,.0f} |")
    for m in rates["teacher_train"]:  # the training monitor predicts with one network
        if ("single", m) not in rates["eval"]:
            rates["eval"][("single", m)] = eval_throughput(m, n_eval, dev)
    samples = max((t.members if t.kind == "ensemble" else t.samples)
                  for t in suite.teachers.values())
    for pair in suite.pairs:
        s = suite.students[pair.student]
        for name in pair.methods if hasattr(pair, "methods") else (pair.method,):
            mcfg = suite.methods[name]
            key = (s.model.name, mcfg.kind)
            if key in rates["student_train"]:
                continue
            method = mcfg.build()
            cfg = mcfg.train_config(s.train)
            rates["student_train"][key] = student_throughput(s.model, method, samples, n, cfg, dev)
            net = method.wrap_model(s.model.build(10))
            rates["eval"][key] = predictor_throughput(lambda: method.predictor(net), n_eval, dev)
            report(f"| student {name} | {s.model.name} | {rates['student_train'][key]:,.0f} | "
                   f"{rates['eval'][key]:,.0f} |")
    rates["transfer_build"] = transfer_build_throughput(n, dev)
    report(f"| transfer set: crop-flip copies | - | {rates['transfer_build']:,.0f} | - |")
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--images", type=int, default=50_000, help="training images per epoch measured")
    p.add_argument("--eval-images", type=int, default=10_000, help="images predicted")
    p.add_argument("--suite", default="cifar10")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()
    dev = devices.use(args.device)
    recipe = next(iter(load_suite(args.suite, seeds=[0]).teachers.values())).train
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name} ({devices.precision(dev)}); {args.images} training / {args.eval_images} "
          f"evaluation images, 3x32x32; teacher recipe: {recipe.optimizer}, batch "
          f"{recipe.batch_size}, augment {recipe.augment}")
    rates = measure(args.suite, args.images, args.eval_images, dev)
    est = suite_seconds(args.suite, rates)
    print(f"\nsuite '{args.suite}', one seed, from its plan: "
          + ", ".join(f"{k.replace('_', ' ')} {v / 3600:.2f} h" for k, v in est.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "images": args.images, "eval_images": args.eval_images,
                       "rates": {k: ({str(kk): vv for kk, vv in v.items()} if isinstance(v, dict) else v)
                                 for k, v in rates.items()},
                       "suite_seconds": est}, f, indent=1)


if __name__ == "__main__":
    main()
