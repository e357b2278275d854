"""The arithmetic floor of a finished suite run, stage by stage, against the machine's peak.

For every job of the suite's plan it counts the FLOPs the job needs from the networks' shapes
(`torch.utils.flop_counter.FlopCounterMode` on one image: conv + linear multiply-adds x 2;
training = 3 x a forward pass per image and epoch, plus the per-epoch monitor's forward passes
on the validation split and the first 500 training images; an ensemble's members and an
MC-dropout network's T passes counted separately, though LL-dropout evaluates the trunk once),
reads the seconds the job took from the run store (`train_info.json`, `transfer_info.json`,
`eval_info.json`), and measures in the same run the dense float32 matmul peak of one thread
(the jobs of `--executor processes` run on one thread each). Prints, per stage: TFLOP, job
seconds, achieved GFLOP/s and its share of that peak; and the suite's floor at the peak of all
cores.

    python benchmarks/bench_floor.py --suite mnist5k --workdir DIR   # DIR: a finished run all
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from kdbench.config import load_suite
from kdbench.data.splits import eval_splits, load_dataset
from kdbench.data.transfer import transfer_set
from kdbench.job_config import StudentSpec
from kdbench.jobs import MONITOR_TRAIN, data_config
from kdbench.plan import plan
from kdbench.store import RunStore


def forward_flops(spec_cfg: dict, num_classes: int, shape: tuple[int, ...]) -> float:
    net = StudentSpec(spec_cfg, {}).model_spec.build(num_classes).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros((1, *shape)))
    return float(counter.get_total_flops())


def matmul_peak(threads: int, n: int = 1024, repeat: int = 20) -> float:
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="mnist5k")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    suite = load_suite(args.suite)
    jobs, _ = plan(suite)
    store = RunStore(Path(args.workdir) / "runs")
    ds = load_dataset(suite.data.dataset, suite.data.split, suite.data.split_seed)
    shape = tuple(ds.train.x.shape[1:])
    n_eval = sum(len(s.x) for s in eval_splits(suite.data)) + len(ds.val)
    tr = transfer_set(ds.train, suite.transfer.set, copies=suite.transfer.copies, seed=900)
    n_transfer, n_labelled = len(tr), int((tr.y >= 0).sum())
    monitor = len(ds.val) + min(MONITOR_TRAIN, len(ds.train))
    flops, seconds = defaultdict(float), defaultdict(float)
    missing = [j.label for j in jobs if not store.is_done(j.id)]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(jobs)} jobs of suite '{suite.name}' are not "
                         f"finished in {args.workdir} (first: {missing[0]}); run "
                         f"'python -m kdbench run all --suite {suite.name} --workdir {args.workdir}' first")
    for job in jobs:
        cfg = job.config
        if job.kind == "evaluate":
            model = cfg["model"]
            if "teacher" in model and "student" not in model:
                t = model["teacher"]
                f = forward_flops(t["model"], ds.num_classes, shape) * max(t["members"], 1)
            else:
                f = forward_flops(model["student"]["model"], ds.num_classes, shape)
            flops["evaluate"] += f * n_eval
            seconds["evaluate"] += store.job(job.id).read_json("eval_info.json")["seconds"]
            continue
        if job.kind == "train_teacher":
            t = cfg["teacher"]
            f = forward_flops(t["model"], ds.num_classes, shape)
            n = n_labelled if "train_on" in cfg else len(ds.train)
            flops["train teacher"] += t["members"] * t["train"]["epochs"] * (3 * n + monitor) * f
            seconds["train teacher"] += sum(store.job(job.id).read_json("train_info.json")["seconds"])
        elif job.kind == "transfer":
            t = cfg["teacher"]
            f = forward_flops(t["model"], ds.num_classes, shape)
            flops["transfer"] += f * n_transfer * t["members"] * (2 if cfg.get("calibration") else 1)
            seconds["transfer"] += store.job(job.id).read_json("transfer_info.json")["seconds"]
        elif job.kind == "train_student":
            s = cfg["student"]
            f = forward_flops(s["model"], ds.num_classes, shape)
            flops["train student"] += s["train"]["epochs"] * (3 * n_transfer + monitor) * f
            seconds["train student"] += sum(store.job(job.id).read_json("train_info.json")["seconds"])
    peak1 = matmul_peak(1)
    peak_all = matmul_peak(torch.get_num_threads() if torch.get_num_threads() > 1 else 2)
    total_f, total_s = sum(flops.values()), sum(seconds.values())
    print(f"suite {suite.name}, {len(suite.seeds)} seeds, {len(jobs)} jobs; dense matmul peak: "
          f"{peak1 / 1e9:.1f} GFLOP/s on 1 thread, {peak_all / 1e9:.1f} on all cores")
    print("| stage | TFLOP | job seconds | GFLOP/s | share of 1-thread peak |")
    print("|---|---:|---:|---:|---:|")
    for stage in ("train teacher", "transfer", "train student", "evaluate"):
        f, s = flops[stage], seconds[stage]
        print(f"| {stage} | {f / 1e12:.2f} | {s:.0f} | {f / s / 1e9:.1f} | {f / s / peak1:.0%} |")
    print(f"| total | {total_f / 1e12:.2f} | {total_s:.0f} | {total_f / total_s / 1e9:.1f} | "
          f"{total_f / total_s / peak1:.0%} |")
    print(f"floor at the all-core peak: {total_f / peak_all:.0f} s")


if __name__ == "__main__":
    main()
