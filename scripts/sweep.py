"""A small, seeded sweep of training settings, judged on validation NLL (docs/training.md).

For each grid point the suite is re-planned with the point's settings and only its training
jobs run (``train_teacher``, ``transfer``, ``train_student``) in the same run store as
``python -m kdbench run all``, so the chosen settings' jobs are reused by the real run. Prints
one markdown table row per (role, setting): final and best validation NLL, validation and
training accuracy, the convergence flag (`kdbench.train.is_converged`), the median Dirichlet
precision or the mean MI of the samples on the validation split where there is one, and the
training time.

    python scripts/sweep.py --suite mnist5k --part teachers
    python scripts/sweep.py --suite mnist5k --part students --teacher ensemble
    python scripts/sweep.py --suite mnist5k --part transfer --teacher ensemble

``students`` varies lr × epochs for every method of the suite (one teacher); ``transfer``
varies the transfer set with the suite's own student settings (epochs scaled so that every
transfer set gets the same number of optimiser steps) and reports, besides the NLL,
the teacher's disagreement on the transfer set and the student's MI on the validation split.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

from kdbench.config import ModelSpec, Pair, TransferConfig, load_suite
from kdbench.executor import run_jobs
from kdbench.plan import plan
from kdbench.store import RunStore
from kdbench.train import is_converged

TEACHER_GRID = {"lr": [0.005], "epochs": [4, 6, 10]}
STUDENT_GRID = {"lr": [0.01], "epochs": [5, 10, 15]}
TUNING_SEED = 100  # settings are chosen on this seed, which no suite evaluates
TRANSFERS = [TransferConfig("train", 0), TransferConfig("augment", 2), TransferConfig("aux", 2)]


def _run(suite, store: RunStore, kinds: set[str]):
    jobs, models = plan(suite)
    jobs = [j for j in jobs if j.kind in kinds]
    report = run_jobs(jobs, store, progress=False)
    if report.failed:
        print("failed:", *report.failed.values(), sep="\n  ")
    return models


def _row(store: RunStore, job: str, ref: float | None) -> dict:
    info = store.job(job).read_json("train_info.json")
    c = info["curves"][0]
    last = c[-1]
    extra = last.get("alpha0_median", last.get("head_mi", float("nan")))
    return {"val_nll": last["val_nll"], "best": min(r["val_nll"] for r in c),
            "val_acc": last["val_acc"], "train_acc": last["train_acc"], "extra": extra,
            "converged": all(is_converged(x, reference_train_acc=ref) for x in info["curves"]),
            "seconds": sum(info["seconds"])}


LONGER_MARGIN = 0.05  # a longer budget lowering the final val NLL by more than this: under-trained


def flag_short_budgets(rows: list[tuple[str, float, int, dict]]) -> list[str]:
    """Settings the sweep calls under-trained (docs/training.md): ``rows`` are (role, lr,
    epochs, result); a setting is under-trained when the next longer budget of the same role
    and lr lowers the final validation NLL by more than ``LONGER_MARGIN``."""
    out = []
    for role, lr, epochs, r in rows:
        longer = sorted((e, x) for ro, l2, e, x in rows if ro == role and l2 == lr and e > epochs)
        if longer and longer[0][1]["val_nll"] < (1 - LONGER_MARGIN) * r["val_nll"]:
            out.append(f"{role} lr={lr} epochs={epochs} (at {longer[0][0]} epochs: "
                       f"{longer[0][1]['val_nll']:.4f} < {r['val_nll']:.4f})")
    return out


def _with_dropout(spec: ModelSpec, p: float) -> ModelSpec:
    """``spec`` with its ``dropout`` option set to ``p``."""
    return ModelSpec(spec.name, tuple(sorted({**dict(spec.kwargs), "dropout": p}.items())))


def _print(label: str, r: dict) -> None:
    print(f"| {label} | {r['val_nll']:.4f} | {r['best']:.4f} | {r['val_acc']:.3f} | "
          f"{r['train_acc']:.3f} | {r['extra']:.4g} | {'yes' if r['converged'] else 'no'} | "
          f"{r['seconds']:.0f} |", flush=True)


def _print_flags(rows) -> None:
    flags = flag_short_budgets(rows)
    print("\nunder-trained by the sweep (a longer budget lowers the final val NLL by more than "
          f"{LONGER_MARGIN:.0%}): " + ("; ".join(flags) if flags else "none"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="mnist5k")
    ap.add_argument("--part", choices=["teachers", "students", "transfer"], required=True)
    ap.add_argument("--teacher", default="ensemble", help="the teacher students learn from")
    ap.add_argument("--methods", nargs="*", help="methods to sweep (default: all of the suite's)")
    ap.add_argument("--lr", type=float, nargs="+", help="learning rates (default: the grid's)")
    ap.add_argument("--epochs", type=int, nargs="+", help="epoch counts (default: the grid's)")
    ap.add_argument("--dropout", type=float, nargs="+",
                    help="--part teachers: dropout rates of the mc_dropout teachers (default: the suite's)")
    ap.add_argument("--seed", type=int, default=TUNING_SEED,
                    help=f"tuning seed (default {TUNING_SEED}); never one of the suite's evaluation seeds")
    ap.add_argument("--workdir", default=".")
    args = ap.parse_args()
    evaluation = load_suite(args.suite).seeds
    if args.seed in evaluation:
        ap.error(f"--seed {args.seed} is an evaluation seed of suite '{args.suite}' "
                 f"({', '.join(map(str, evaluation))}); tune on another one (default {TUNING_SEED})")
    base = load_suite(args.suite, seeds=[args.seed])
    grid = TEACHER_GRID if args.part == "teachers" else STUDENT_GRID
    grid = {"lr": args.lr or grid["lr"], "epochs": args.epochs or grid["epochs"]}
    store = RunStore(Path(args.workdir) / "runs")
    print("| setting | val NLL (final) | val NLL (best) | val acc | train acc (500) | "
          "α0 median / MI | converged | seconds |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    rows: list[tuple[str, float, int, dict]] = []
    if args.part == "teachers":
        for lr, epochs, p in itertools.product(grid["lr"], grid["epochs"], args.dropout or [None]):
            teachers = {n: replace(t, train=replace(t.train, lr=lr, epochs=epochs))
                        for n, t in base.teachers.items()
                        if t.kind != "ensemble" and (p is None or t.kind == "mc_dropout")}
            if p is not None:
                teachers = {n: replace(t, model=_with_dropout(t.model, p)) for n, t in teachers.items()}
            suite = replace(base, teachers=teachers, pairs=())
            models = _run(suite, store, {"train_teacher"})
            for m in models:
                r = _row(store, m.train_job, None)
                role = m.model if p is None else f"{m.model} p={p}"
                rows.append((role, lr, epochs, r))
                _print(f"{role} lr={lr} epochs={epochs}", r)
        _print_flags(rows)
        return
    teacher = base.teachers[args.teacher]
    tmodels = _run(replace(base, teachers={args.teacher: teacher}, pairs=()), store, {"train_teacher"})
    ref = _row(store, tmodels[0].train_job, None)["train_acc"]
    methods = args.methods or list(base.methods)
    student = next(iter(base.students))
    pairs = tuple(Pair(None if not base.methods[m].build().needs_teacher else args.teacher,
                       student, m) for m in methods)
    if args.part == "students":
        for lr, epochs in itertools.product(grid["lr"], grid["epochs"]):
            ms = {n: replace(m, train=tuple(sorted({**dict(m.train), "lr": lr, "epochs": epochs}.items())))
                  for n, m in base.methods.items()}
            suite = replace(base, teachers={args.teacher: teacher}, methods=ms, pairs=pairs)
            for m in _run(suite, store, {"train_teacher", "transfer", "train_student"}):
                if m.role == "student":
                    r = _row(store, m.train_job, ref)
                    rows.append((m.method, lr, epochs, r))
                    _print(f"{m.method} lr={lr} epochs={epochs}", r)
        _print_flags(rows)
        return
    def size(t: TransferConfig) -> int:  # images per epoch, in units of the training set
        return 1 + (t.copies if t.set != "train" else 0) + (t.set == "aux")

    for tr in TRANSFERS:
        # the same number of optimiser steps on every transfer set: epochs scaled by its size
        scale = size(base.transfer) / size(tr)
        students = {n: replace(s, train=replace(s.train, epochs=round(s.train.epochs * scale)))
                    for n, s in base.students.items()}
        ms = {n: replace(m, train=tuple((k, round(v * scale) if k == "epochs" else v)
                                        for k, v in m.train))
              for n, m in base.methods.items()}
        suite = replace(base, teachers={args.teacher: teacher}, pairs=pairs, transfer=tr,
                        students=students, methods=ms)
        models = _run(suite, store, {"train_teacher", "transfer", "train_student"})
        t = store.job(next(m.transfer_job for m in models if m.role == "teacher")).read_json(
            "transfer_info.json")
        print(f"| transfer {tr.set} (copies {tr.copies}): {t['images']} images, teacher MI "
              f"{t['mean_mi']:.4f} nats, disagreement {t['disagreement']:.3f} | | | | | | | |")
        for m in models:
            if m.role == "student":
                _print(f"{m.method} on {tr.set}", _row(store, m.train_job, ref))


if __name__ == "__main__":
    main()
