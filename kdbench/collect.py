"""Collect: the evaluate jobs' outputs -> aggregated results in ``results/<suite>/``.

Long format, one row per (seed, model, split, dataset, severity, metric) in ``metrics.csv.gz``
with the model's identity columns ``seed, model, role, teacher, method, student, posthoc``
(a post-hoc calibrated variant is a model of its own, ``<model>+<calibrator>``); the small
aggregates the figures need in ``reliability.csv.gz`` (per confidence bin) and
``histograms.csv.gz`` (entropy / MI histograms), ``risk_coverage.csv.gz`` (risk at coverage
0.05..1.0), ``fidelity.csv.gz`` (teacher–student agreement and KL per split) — the per-split
tables gzip-compressed (`kdbench.results_files`); ``models.csv`` lists every model of the suite with
``status`` ok/missing (a failed job), parameters, training time, final training/validation
numbers, ``converged`` (`kdbench.train.is_converged`: for a teacher, every member's run;
for a student, its run against its teacher's training accuracy — the best teacher's of the
seed for a labels-only student) and next to it ``convergence`` (`kdbench.train.convergence`:
"converged", or the first member's "under-trained" / "over-fit" / "under-fit"; a compressed
variant has its student's, a model without training curves "-"); ``curves.csv`` the
per-epoch records of every trained network (``seed, model, member, epoch, metric, value``);
``transfer.csv`` per seed and distilled teacher the transfer set and the disagreement there is
to distil on it; ``paired_examples.csv.gz`` the per-example variance of every paired difference
of accuracy, NLL and Brier (`example_pairs`), which the report's two-level intervals add to the
spread over seeds; ``run_info.json`` describes the run. Rows are sorted, floats written with 10
significant digits, so equal runs give equal bytes.

Provenance: every table ends with the ``suite_hash`` column (`suite_hash`, also in
``run_info.json``), and ``models.csv`` has per row the ``kdbench`` and ``torch`` versions, the
``device``, the training ``batch_size`` and the ``epochs`` run (`_provenance`).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import SCHEMA_VERSION, __version__
from .config import Suite
from .errors import UserError
from .metrics import agreement, kl_divergence
from .plan import ModelEntry
from .results_files import write_table as _write_table
from .store import RunStore, atomic_write_text
from .train import convergence, is_converged
from .user_registry import registered_models

ID_COLS = ["seed", "model", "role", "teacher", "method", "student"]
KEYS = ["split", "dataset", "severity"]


def _gather(models: list[ModelEntry], store: RunStore, name: str) -> pd.DataFrame:
    frames = []
    for m in models:
        path = store.job(m.eval_job).path / name
        if not path.exists() or not store.is_done(m.eval_job):
            continue
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        for col in reversed(ID_COLS):
            df.insert(0, col, getattr(m, col))
        if m.variant != "-":  # a compressed student: a variant row like a post-hoc calibrator's
            df["model"], df["posthoc"] = m.base_model, m.variant
        if "posthoc" in df.columns:  # calibrated variants are models of their own
            variant = df.pop("posthoc")
            df.insert(len(ID_COLS), "posthoc", variant)
            df.loc[variant != "-", "model"] = df.model + "+" + variant
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def fidelity(models: list[ModelEntry], store: RunStore) -> pd.DataFrame:
    """Top-1 agreement and mean KL(teacher ‖ student) on every labelled split, for each student
    against its own teacher (a labels-only student against every teacher of its seed), from the
    evaluate jobs' per-example predictions."""
    teachers = {(m.seed, m.model): m for m in models if m.role == "teacher"}
    rows = []
    cache: dict[str, dict] = {}

    def preds(job: str) -> dict:
        if job not in cache:
            cache[job] = store.job(job).load_arrays("predictions.npz")
        return cache[job]

    for s in models:
        if s.role != "student" or not store.is_done(s.eval_job) or not (
                store.job(s.eval_job).path / "predictions.npz").exists():  # a variant not built
            continue
        refs = [t for (seed, _), t in teachers.items() if seed == s.seed
                and (s.teacher == "-" or t.model == s.teacher)]
        for t in refs:
            if not store.is_done(t.eval_job):
                continue
            tp, sp = preds(t.eval_job), preds(s.eval_job)
            for key in sp:
                if not key.endswith("/mean") or key.startswith("ood/"):
                    continue
                parts = key.split("/")[:-1]
                split, dataset = parts[0], parts[1]
                severity = int(parts[2]) if split == "corrupt" else 0
                base = {"seed": s.seed, "model": s.model, "reference": t.model, "split": split,
                        "dataset": dataset, "severity": severity}
                rows.append({**base, "metric": "agreement", "value": agreement(tp[key], sp[key])})
                rows.append({**base, "metric": "kl", "value": kl_divergence(tp[key], sp[key])})
    return pd.DataFrame(rows)


def example_pairs(models: list[ModelEntry], store: RunStore) -> pd.DataFrame:
    """The per-example part of every paired difference the report can make: for each two
    models of the same post-hoc group (uncalibrated models and compressed variants together;
    each calibrator's variants apart), each labelled split family (id, corrupt, shift) and
    each metric of `kdbench.evaluate.EXAMPLE_METRICS`, over the seeds both have (``seeds``):
    with d_si = a_si − b_si the per-example difference in seed s (`examples.npz` of the
    evaluate jobs; corrupt: per image, the mean over the corrupted splits) and d̄_i its mean over
    the seeds, ``mean`` = mean_i d̄_i (the paired difference of the family means) and
    ``var_example`` = the variance of d̄_i over the ``examples`` N (ddof = 1): the test-set
    sampling variance of ``mean`` is ``var_example / N`` (`kdbench.report.stats.two_level`).
    One row per unordered pair, ``model_a`` < ``model_b``."""
    vectors: dict[tuple[str, str, str, str], dict[int, np.ndarray]] = {}
    for m in models:
        path = store.job(m.eval_job).path / "examples.npz"
        if not path.exists() or not store.is_done(m.eval_job):
            continue
        for key, v in store.job(m.eval_job).load_arrays("examples.npz").items():
            variant, family, metric = key.split("/")
            name, group = (m.model, "-") if variant == "-" else (f"{m.model}+{variant}", variant)
            vectors.setdefault((group, family, metric, name), {})[m.seed] = v
    rows = []
    by_group: dict[tuple[str, str, str], list[str]] = {}
    for group, family, metric, name in vectors:
        by_group.setdefault((group, family, metric), []).append(name)
    for (group, family, metric), names in by_group.items():
        names = sorted(names)
        for i, a in enumerate(names):
            va = vectors[group, family, metric, a]
            for b in names[i + 1:]:
                vb = vectors[group, family, metric, b]
                seeds = sorted(set(va) & set(vb))
                if not seeds or len({len(va[s]) for s in seeds} | {len(vb[s]) for s in seeds}) != 1:
                    continue
                d = np.mean([va[s] - vb[s] for s in seeds], axis=0)
                rows.append({"model_a": a, "model_b": b, "split": family, "metric": metric,
                             "seeds": len(seeds), "examples": len(d), "mean": float(d.mean()),
                             "var_example": float(d.var(ddof=1)) if len(d) > 1 else float("nan")})
    return pd.DataFrame(rows, columns=["model_a", "model_b", "split", "metric", "seeds",
                                       "examples", "mean", "var_example"])


def _commit() -> str:
    """The git commit of the kdbench source (with '+dirty' for local changes), or 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "kdbench"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("+dirty" if dirty else "")) if sha else "unknown"


def suite_hash(models: list[ModelEntry]) -> str:
    """SHA-256 (hex) over the job schema versions and every planned model's name and evaluate
    job id (sorted): equal for two runs of the same suite settings, whatever the file layout or
    the order of the pairs; any setting that changes a job changes it. Every results file
    records it in its ``suite_hash`` column, and ``figures``/``report`` refuse to merge results
    of different hashes (`kdbench.report.check_suite_hash`)."""
    blob = json.dumps({"schema": SCHEMA_VERSION,
                       "models": sorted([m.model, m.eval_job] for m in models)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _provenance(store: RunStore, train_job: str, eval_info: dict | None,
                train_info: dict | None) -> dict:
    """Per-model environment of ``models.csv``: kdbench and torch versions, the device it was
    evaluated (else trained) on, from the jobs' ``eval_info`` / ``train_info`` records (None
    when absent), and the training batch size from the training job's config."""
    row = {"kdbench": __version__, "torch": torch.__version__, "device": None, "batch_size": None}
    for info in (eval_info, train_info):
        if info is not None and row["device"] is None:
            row["device"] = info.get("device")
    cfg_path = store.job(train_job).path / "config.json" if train_job != "-" else None
    if cfg_path is not None and cfg_path.exists():
        cfg = store.job(train_job).read_json("config.json")
        part = cfg.get("student") or cfg.get("teacher") or {}
        row["batch_size"] = (part.get("train") or {}).get("batch_size")
    return row


def check_results_target(out_dir: Path, base_hash: str, *, replace: bool = False) -> None:
    """Refuse (`UserError`) to write a suite's results into ``out_dir`` when it holds results
    of other settings of the suite: its ``run_info.json`` records another base suite hash
    (`suite_hash` of the suite's own models; ``add-pair`` extends a suite but keeps its base, so
    pairs added to one run are compatible with it, and with each other). Other seeds, sizes or
    methods would replace the tables there, and leave the leaderboard ranking rows of two
    settings side by side. ``replace`` allows it; an absent or unreadable file allows it."""
    path = out_dir / "run_info.json"
    if replace or not path.exists():
        return
    try:
        old = json.loads(path.read_text())
        old_base = old.get("base_suite_hash") or old.get("suite_hash")
    except (ValueError, AttributeError):
        return
    if old_base and old_base != base_hash:
        raise UserError(f"{out_dir} holds results of other settings of suite "
                        f"'{old.get('suite')}' (seeds {old.get('seeds')}, suite hash "
                        f"{str(old_base)[:12]}); this run's suite hash is {base_hash[:12]}: pass "
                        f"--replace-results to replace them, or use another --workdir")


def collect(suite: Suite, models: list[ModelEntry], store: RunStore,
            out_dir: Path, *, base_hash: str | None = None) -> dict[str, pd.DataFrame]:
    """Write the results tables (`kdbench.results_files`) and ``run_info.json`` under
    ``out_dir``; returns the per-split tables. ``base_hash``: the suite hash of the suite that
    ``models`` extend (``add-pair``), recorded for `check_results_target`; default: theirs.
    Callers that can run side by side hold `kdbench.store.results_lock`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = suite_hash(models)

    def write_table(df: pd.DataFrame, folder: Path, name: str, *, sort: list[str]) -> Path:
        """`kdbench.results_files.write_table` with the suite hash as the last column."""
        return _write_table(df.assign(suite_hash=stamp), folder, name, sort=sort)

    models = list(models) + registered_models(out_dir, suite)  # kdbench.evaluate_model's (role user)
    tables = {
        "metrics": _gather(models, store, "metrics.csv"),
        "reliability": _gather(models, store, "reliability.csv"),
        "histograms": _gather(models, store, "histograms.csv"),
        "risk_coverage": _gather(models, store, "risk_coverage.csv"),
        "fidelity": fidelity(models, store),
    }
    write_table(tables["metrics"], out_dir, "metrics", sort=ID_COLS[:2] + KEYS + ["metric"])
    write_table(tables["reliability"], out_dir, "reliability", sort=ID_COLS[:2] + KEYS + ["bin"])
    write_table(tables["histograms"], out_dir, "histograms", sort=ID_COLS[:2] + KEYS + ["quantity", "bin"])
    write_table(tables["risk_coverage"], out_dir, "risk_coverage", sort=ID_COLS[:2] + KEYS + ["coverage"])
    write_table(tables["fidelity"], out_dir, "fidelity", sort=["seed", "model", "reference"] + KEYS + ["metric"])
    write_table(example_pairs(models, store), out_dir, "paired_examples",
                sort=["model_a", "model_b", "split", "metric"])
    info_rows = []
    stage = {"train_teacher": 0.0, "transfer": 0.0, "train_student": 0.0, "evaluate": 0.0}
    train_info = {m.train_job: store.job(m.train_job).read_json("train_info.json")
                  for m in models if m.variant == "-" and store.is_done(m.train_job)}
    # a compressed variant reports its student's training; its own job is the compress job
    base_train = {(m.seed, m.model): m.train_job for m in models if m.variant == "-"}
    variant_info = {m.train_job: store.job(m.train_job).read_json("variant.json")
                    for m in models if m.variant != "-" and store.is_done(m.train_job)}
    stage["compress"] = sum(v["seconds"] for v in variant_info.values())
    transfer_info = {m.transfer_job: store.job(m.transfer_job).read_json("transfer_info.json")
                     for m in models if m.role == "teacher" and m.transfer_job != "-"
                     and store.is_done(m.transfer_job)}
    eval_info = {m.eval_job: store.job(m.eval_job).read_json("eval_info.json") for m in models
                 if (store.job(m.eval_job).path / "eval_info.json").exists()}
    seen: set[str] = set()
    devices: set[str] = set()
    for m in models:
        if m.eval_job not in seen and m.eval_job in eval_info:
            ev = eval_info[m.eval_job]
            stage["evaluate"] += ev["seconds"]
            devices.add(ev.get("device", "cpu"))
        if m.train_job not in seen and m.train_job in train_info:
            stage[f"train_{m.role}"] += sum(train_info[m.train_job]["seconds"])
        seen |= {m.eval_job, m.train_job}
    stage["transfer"] = sum(t["seconds"] for t in transfer_info.values())

    def final_acc(job: str) -> float | None:
        """The lowest final training accuracy over a job's networks."""
        nets = train_info[job]["curves"] if job in train_info else []
        accs = [c[-1].get("train_acc") for c in nets if c]
        return min(accs) if accs and None not in accs else None

    teacher_acc = {(m.seed, m.model): final_acc(m.train_job) for m in models if m.role == "teacher"}
    curve_rows = []
    for m in models:
        row = {**{c: getattr(m, c) for c in ID_COLS}, "status": "ok" if store.is_done(m.eval_job)
               else "missing", "parameters": None, "train_seconds": None, "members": None,
               "epochs": None, "final_train_loss": None, "final_train_acc": None,
               "final_val_nll": None, "converged": None, "convergence": "-", "ms_per_image": None}
        train_job = m.train_job if m.variant == "-" else base_train.get((m.seed, m.base_model), "-")
        if train_job in train_info and not all(train_info[train_job]["curves"]):
            info = train_info[train_job]  # a checkpoint teacher: loaded, not trained here
            row.update(parameters=info["parameters"], train_seconds=0.0, members=len(info["curves"]))
        elif train_job in train_info:
            info = train_info[train_job]
            nets = info["curves"]
            if m.role == "teacher":
                ref = None
            elif m.teacher != "-":
                ref = teacher_acc.get((m.seed, m.teacher))
            else:
                refs = [v for (seed, _), v in teacher_acc.items() if seed == m.seed and v is not None]
                ref = max(refs) if refs else None
            row.update(parameters=info["parameters"], train_seconds=round(sum(info["seconds"]), 1),
                       members=len(nets), epochs=len(nets[0]),
                       final_train_loss=round(max(c[-1]["train_loss"] for c in nets), 5),
                       final_train_acc=final_acc(train_job),
                       final_val_nll=round(max(c[-1].get("val_nll", float("nan")) for c in nets), 5),
                       converged=all(is_converged(c, reference_train_acc=ref) for c in nets),
                       convergence=next((st for st in (convergence(c, reference_train_acc=ref)
                                                       for c in nets) if st != "converged"),
                                        "converged"))
            if m.variant == "-":  # a compressed variant's curves are its student's
                curve_rows += [{"seed": m.seed, "model": m.model, "member": i,
                                "epoch": rec["epoch"], "metric": k, "value": v}
                               for i, c in enumerate(nets) for rec in c for k, v in rec.items()
                               if k != "epoch"]
        row.update(base_model=m.base_model if m.variant != "-" else m.model, size_bytes=None,
                   sparse_bytes=None, sparsity=None, cpu_ms_per_image=None, reason="")
        if store.is_done(m.eval_job):
            ev = eval_info[m.eval_job]
            row["ms_per_image"] = round(ev.get("ms_per_image", float("nan")), 4)
            row.update({k: ev.get(k) for k in ("size_bytes", "sparse_bytes", "cpu_ms_per_image")})
            row["sparsity"] = None if ev.get("sparsity") is None else round(ev["sparsity"], 6)
            if "not_built" in ev:  # kdbench.compress: recorded, not failed
                row.update(status="not built", reason=ev["not_built"])
        tr = train_info.get(train_job)
        if tr is None and train_job != "-" and (store.job(train_job).path / "train_info.json").exists():
            tr = store.job(train_job).read_json("train_info.json")  # not finished: still recorded
        row.update(_provenance(store, train_job, eval_info.get(m.eval_job), tr))
        info_rows.append(row)
    write_table(pd.DataFrame(curve_rows), out_dir, "curves", sort=["seed", "model", "member", "metric", "epoch"])
    transfer_rows = []
    for m in models:
        if m.role == "teacher" and m.transfer_job in transfer_info:
            t = transfer_info[m.transfer_job]
            transfer_rows.append({"seed": m.seed, "teacher": m.model, "transfer": t["set"],
                                  "copies": t["copies"], "images": t["images"],
                                  "labelled": t["labelled"], "samples": t["samples"],
                                  **{k: t[k] for k in ("mean_mi", "disagreement", "mean_mi_train",
                                                       "disagreement_train")}})
    write_table(pd.DataFrame(transfer_rows), out_dir, "transfer", sort=["seed", "teacher"])
    write_table(pd.DataFrame(info_rows), out_dir, "models", sort=ID_COLS[:2])
    run_info = {
        "commit": _commit(),
        "suite": suite.name, "description": suite.description, "seeds": list(suite.seeds),
        "dataset": suite.data.dataset, "corrupted": suite.data.corrupted,
        "kdbench": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": ", ".join(sorted(devices)) or "cpu", "threads": torch.get_num_threads(),
        "compute_seconds": {k: round(v, 1) for k, v in stage.items()}, "suite_hash": stamp,
        "base_suite_hash": base_hash or stamp,
    }
    atomic_write_text(out_dir / "run_info.json", json.dumps(run_info, indent=1) + "\n")
    return tables
