"""Suite -> plan: a list of jobs in dependency order, and the models the results will name.

Jobs: ``train_teacher``; ``transfer`` (the teacher's outputs on the suite's transfer set,
depends on the teacher's job; one per teacher and seed, shared by all its students);
``train_student`` (depends on its teacher's ``transfer`` job unless its method needs no
teacher); ``evaluate`` (depends on the model's training job). A job is a pure function of its
config; its id is ``<kind>-<first 16 hex of SHA-256(config JSON + the kind's schema version)>``, so equal
configs share one job across suites and names (e.g. one labels-only student serves every
teacher). Names in the suite are labels, not part of the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import SCHEMA_VERSION
from .config import Suite, TeacherConfig


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    config: dict
    deps: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class ModelEntry:
    """A model that appears in the results, and the jobs that made and evaluated it."""

    seed: int
    model: str
    role: str      # teacher | student
    teacher: str   # teacher name, or "-" (labels-only students)
    method: str    # method name, or "-" for teachers
    student: str   # student name, or "-" for teachers
    train_job: str
    eval_job: str
    transfer_job: str = "-"  # the teacher outputs a student learned from (a teacher: its own)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def job_id(kind: str, config: dict) -> str:
    blob = json.dumps({"schema": SCHEMA_VERSION[kind], "kind": kind, "config": config}, sort_keys=True)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _job(kind: str, config: dict, deps: tuple[str, ...], label: str) -> Job:
    return Job(job_id(kind, config), kind, config, deps, label)


def _teacher_config(t: TeacherConfig) -> dict:
    return _plain({"kind": t.kind, "model": t.model, "members": t.members,
                   "samples": t.samples, "train": t.train})


def plan(suite: Suite) -> tuple[list[Job], list[ModelEntry]]:
    """Expand a suite into jobs (dependencies first, no duplicates) and result models."""
    data = _plain(suite.data)
    train_data = {k: data[k] for k in ("dataset", "split", "split_seed")}
    jobs: dict[str, Job] = {}
    models: list[ModelEntry] = []

    def add(job: Job) -> str:
        jobs.setdefault(job.id, job)
        return job.id

    def evaluate(train: Job, name: str, seed: int) -> str:
        cfg = {"model_job": train.id, "model": train.config, "data": data,
               "posthoc": list(suite.posthoc)}
        return add(_job("evaluate", cfg, (train.id,), f"evaluate {name} (seed {seed})"))

    transfer = _plain(suite.transfer)
    distilled = {p.teacher for p in suite.pairs if p.teacher}
    for seed in suite.seeds:
        transfer_jobs: dict[str, Job] = {}
        for t in suite.teachers.values():
            cfg = {"seed": seed, "data": train_data, "teacher": _teacher_config(t)}
            job = _job("train_teacher", cfg, (), f"train teacher {t.name} (seed {seed})")
            add(job)
            tjob = "-"
            if t.name in distilled:
                tr = _job("transfer", {**cfg, "teacher_job": job.id, "transfer": transfer},
                          (job.id,), f"teacher {t.name} on the transfer set (seed {seed})")
                transfer_jobs[t.name] = tr
                tjob = tr.id
            models.append(ModelEntry(seed, t.name, "teacher", t.name, "-", "-", job.id,
                                     evaluate(job, t.name, seed), tjob))
        for t in suite.teachers.values():
            if t.name in transfer_jobs:
                add(transfer_jobs[t.name])
        for pair in suite.pairs:
            s, m = suite.students[pair.student], suite.methods[pair.method]
            cfg = {"seed": seed, "data": train_data, "transfer": transfer,
                   "student": _plain({"model": s.model, "train": m.train_config(s.train)}),
                   "method": _plain({"kind": m.kind, "options": dict(m.options)}),
                   "teacher": _teacher_config(suite.teachers[pair.teacher]) if pair.teacher else None}
            deps = (transfer_jobs[pair.teacher].id,) if pair.teacher else ()
            name = f"{s.name}-{m.name}" + (f"-{pair.teacher}" if pair.teacher else "")
            job = _job("train_student", cfg, deps, f"train student {name} (seed {seed})")
            add(job)
            models.append(ModelEntry(seed, name, "student", pair.teacher or "-", m.name, s.name,
                                     job.id, evaluate(job, name, seed), deps[0] if deps else "-"))
    return list(jobs.values()), models
