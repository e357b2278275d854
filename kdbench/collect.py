"""Collect: the evaluate jobs' outputs -> aggregated results in ``results/<suite>/``.

Long format, one row per (seed, model, split, dataset, severity, metric) in ``metrics.csv``
with the model's identity columns ``seed, model, role, teacher, method, student``; the small
aggregates the figures need in ``reliability.csv`` (per confidence bin) and
``histograms.csv`` (entropy / MI histograms); ``models.csv`` lists every model of the suite with
``status`` ok/missing (a failed job), parameters and training time; ``run_info.json`` describes
the run. Rows are
sorted, floats written with 10 significant digits, so equal runs give equal bytes.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pandas as pd
import torch

from . import __version__
from .config import Suite
from .plan import ModelEntry
from .store import RunStore, atomic_write_text

ID_COLS = ["seed", "model", "role", "teacher", "method", "student"]
KEYS = ["split", "dataset", "severity"]


def _gather(models: list[ModelEntry], store: RunStore, name: str) -> pd.DataFrame:
    frames = []
    for m in models:
        path = store.job(m.eval_job).path / name
        if not path.exists() or not store.is_done(m.eval_job):
            continue
        df = pd.read_csv(path)
        for col in reversed(ID_COLS):
            df.insert(0, col, getattr(m, col))
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write(df: pd.DataFrame, path: Path, sort: list[str]) -> None:
    if not df.empty:
        df = df.sort_values(sort, kind="stable").reset_index(drop=True)
    atomic_write_text(path, df.to_csv(index=False, float_format="%.10g"))


def collect(suite: Suite, models: list[ModelEntry], store: RunStore,
            out_dir: Path) -> dict[str, pd.DataFrame]:
    """Write ``metrics.csv``, ``reliability.csv``, ``histograms.csv``, ``models.csv`` and
    ``run_info.json`` under ``out_dir``; returns the three tables."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {
        "metrics": _gather(models, store, "metrics.csv"),
        "reliability": _gather(models, store, "reliability.csv"),
        "histograms": _gather(models, store, "histograms.csv"),
    }
    _write(tables["metrics"], out_dir / "metrics.csv", ID_COLS[:2] + KEYS + ["metric"])
    _write(tables["reliability"], out_dir / "reliability.csv", ID_COLS[:2] + KEYS + ["bin"])
    _write(tables["histograms"], out_dir / "histograms.csv", ID_COLS[:2] + KEYS + ["quantity", "bin"])
    info_rows = []
    stage = {"train_teacher": 0.0, "train_student": 0.0, "evaluate": 0.0}
    seen: set[str] = set()
    for m in models:
        if m.eval_job not in seen and (store.job(m.eval_job).path / "eval_info.json").exists():
            stage["evaluate"] += store.job(m.eval_job).read_json("eval_info.json")["seconds"]
        if m.train_job not in seen and (store.job(m.train_job).path / "train_info.json").exists():
            stage[f"train_{m.role}"] += sum(store.job(m.train_job).read_json("train_info.json")["seconds"])
        seen |= {m.eval_job, m.train_job}
    for m in models:
        row = {**{c: getattr(m, c) for c in ID_COLS}, "status": "ok" if store.is_done(m.eval_job)
               else "missing", "parameters": None, "train_seconds": None, "members": None,
               "final_train_loss": None}
        job = store.job(m.train_job)
        if store.is_done(m.train_job):
            info = job.read_json("train_info.json")
            row.update(parameters=info["parameters"], train_seconds=round(sum(info["seconds"]), 1),
                       members=len(info["history"]), final_train_loss=round(info["history"][-1][-1], 5))
        info_rows.append(row)
    _write(pd.DataFrame(info_rows), out_dir / "models.csv", ID_COLS[:2])
    run_info = {
        "suite": suite.name, "description": suite.description, "seeds": list(suite.seeds),
        "kdbench": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": "cpu", "threads": torch.get_num_threads(),
        "compute_seconds": {k: round(v, 1) for k, v in stage.items()},
    }
    atomic_write_text(out_dir / "run_info.json", json.dumps(run_info, indent=1) + "\n")
    return tables
