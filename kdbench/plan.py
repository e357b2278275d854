"""Suite -> plan: a list of jobs in dependency order, and the models the results will name.

Jobs: ``train_teacher`` (a single teacher that is an ensemble's member 0 depends on that
ensemble's job and copies it: `_member0_donors`); ``transfer`` (the teacher's outputs on the suite's transfer set,
depends on the teacher's job; one per teacher and seed, shared by all its students);
``train_student`` (depends on its teacher's ``transfer`` job unless its method needs no
teacher); ``compress`` (a student's ``int8`` / ``prune<P>`` variant from the suite's
``[compress]`` table, `kdbench.compress`: depends on the student's training job, and a pruned
variant's fine-tune on its ``transfer`` job); ``evaluate`` (depends on the model's training or
compress job; a compressed variant's without post-hoc calibrators). A job is a pure function of its
config; its id is ``<kind>-<first 16 hex of SHA-256(config JSON + the kind's schema version)>``, so equal
configs share one job across suites and names (e.g. one labels-only student serves every
teacher). Names in the suite are labels, not part of the hash. Off the CPU the device's tag
(`kdbench.device.id_tag`: ``cuda``, ``cuda-nondeterministic``) is hashed with the config, so
CPU and GPU results never share an id; on the CPU nothing is added and ids are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from . import SCHEMA_VERSION
from . import device as devices
from .config import Suite, TeacherConfig
from .evaluate import BOOTSTRAP
from .job_config import (CompressJob, EvaluateJob, MethodSpec, ModelJob, StudentJob, StudentSpec,
                         TeacherJob, TeacherSpec, TransferJob)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    config: dict
    deps: tuple[str, ...]
    label: str
    files: tuple[str, ...] = ()  # input files the job reads (a teacher's checkpoints); not hashed:
    #                              the config holds their SHA-256


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
    base_model: str = "-"    # a compressed variant: the student it was made from; else "-"
    variant: str = "-"       # a compressed variant's name (int8, prune<P>); else "-"


def to_plain(obj: Any) -> Any:
    """JSON-able form of a config; fields marked ``omit_default`` (settings added later, e.g.
    `TrainConfig.optimizer`) are left out at their default, so older job ids stay the same."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("omit_default") and getattr(obj, f.name) == f.default)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def job_id(kind: str, config: dict, *, device: torch.device | None = None) -> str:
    """``<kind>-<16 hex>`` (module docstring) for a job run on ``device`` (default: the device
    jobs run on, `kdbench.device.selected`); its `kdbench.device.id_tag` is hashed with the
    config unless it is None (the CPU)."""
    device_tag = devices.id_tag(device)
    key = {"schema": SCHEMA_VERSION[kind], "kind": kind, "config": config}
    if device_tag is not None:
        key["device"] = device_tag
    blob = json.dumps(key, sort_keys=True)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _job(kind: str, config: Any, deps: tuple[str, ...], label: str,
         files: tuple[str, ...] = ()) -> Job:
    """A job of ``kind`` from its typed config (`kdbench.job_config`), keyed by its JSON."""
    blob = config.to_json()
    return Job(job_id(kind, blob), kind, blob, deps, label, files)


def _teacher_spec(t: TeacherConfig) -> TeacherSpec:
    """A suite's teacher as its jobs see it; a checkpoint teacher (loaded, not trained) is
    identified by its files' SHA-256."""
    return TeacherSpec(t.kind, to_plain(t.model), t.members, t.samples, to_plain(t.train),
                       tuple(t.sha256) if t.checkpoint else ())


def _member0_donors(suite: Suite) -> dict[str, str]:
    """``{single teacher: ensemble teacher}`` where the ensemble's member 0 is the single
    network itself — same model, training settings and data, both trained here (member m of
    seed s is trained with seed 1000·s + m) — so the single teacher's job copies it
    (`kdbench.jobs.train_teacher`) instead of training it again."""
    out = {}
    for t in suite.teachers.values():
        if t.kind != "single" or t.checkpoint:
            continue
        for e in suite.teachers.values():
            if e.kind == "ensemble" and not e.checkpoint and (e.model, e.train) == (t.model, t.train):
                out[t.name] = e.name
                break
    return out


def plan(suite: Suite) -> tuple[list[Job], list[ModelEntry]]:
    """Expand a suite into jobs (dependencies first, no duplicates) and result models."""
    data = to_plain(suite.data)
    train_data = {k: data[k] for k in ("dataset", "split", "split_seed")}
    jobs: dict[str, Job] = {}
    models: list[ModelEntry] = []

    def add(job: Job) -> str:
        jobs.setdefault(job.id, job)
        return job.id

    def evaluate(train: Job, model: ModelJob, name: str, seed: int,
                 posthoc: tuple[str, ...] = suite.posthoc) -> str:
        # bootstrap left out at the default: older job ids stay the same
        cfg = EvaluateJob(train.id, model, data, tuple(posthoc),
                          suite.bootstrap if suite.bootstrap != BOOTSTRAP else None)
        return add(_job("evaluate", cfg, (train.id,), f"evaluate {name} (seed {seed})"))

    transfer = to_plain(suite.transfer)
    # (teacher, teacher_calibration) pairs whose outputs on the transfer set students learn from
    distilled = {(p.teacher, suite.methods[p.method].teacher_calibration)
                 for p in suite.pairs if p.teacher}
    donors = _member0_donors(suite)
    for seed in suite.seeds:
        transfer_jobs: dict[tuple[str, str], Job] = {}
        teacher_jobs: dict[str, Job] = {}
        for t in sorted(suite.teachers.values(), key=lambda t: t.name in donors):
            deps: tuple[str, ...] = ()
            donor_id = None
            if t.name in donors:  # ensemble member 0 is this very network: copied, not retrained
                donor_id = teacher_jobs[donors[t.name]].id
                deps = (donor_id,)
            # with [transfer] teachers = true, teachers learn on the transfer set's labelled rows
            cfg = TeacherJob(seed, train_data, _teacher_spec(t),
                             transfer if suite.transfer.teachers else None, donor_id)
            job = _job("train_teacher", cfg, deps, f"train teacher {t.name} (seed {seed})",
                       t.checkpoint)
            teacher_jobs[t.name] = job
            add(job)
            tjob = "-"
            for calibration in ("", "temperature"):
                if (t.name, calibration) not in distilled:
                    continue
                tr = _job("transfer", TransferJob(cfg, job.id, transfer, calibration), (job.id,),
                          f"teacher {t.name}{'+' + calibration if calibration else ''} on the "
                          f"transfer set (seed {seed})")
                transfer_jobs[t.name, calibration] = tr
                if not calibration:
                    tjob = tr.id
            models.append(ModelEntry(seed, t.name, "teacher", t.name, "-", "-", job.id,
                                     evaluate(job, cfg, t.name, seed), tjob))
        for tr in transfer_jobs.values():
            add(tr)
        for pair in suite.pairs:
            s, m = suite.students[pair.student], suite.methods[pair.method]
            scfg = StudentJob(seed, train_data, transfer,
                              StudentSpec(to_plain(s.model), to_plain(m.train_config(s.train))),
                              MethodSpec(m.kind, to_plain(dict(m.options))),
                              _teacher_spec(suite.teachers[pair.teacher]) if pair.teacher else None,
                              m.teacher_calibration)
            deps = (transfer_jobs[pair.teacher, m.teacher_calibration].id,) if pair.teacher else ()
            name = f"{s.name}-{m.name}" + (f"-{pair.teacher}" if pair.teacher else "")
            job = _job("train_student", scfg, deps, f"train student {name} (seed {seed})")
            add(job)
            models.append(ModelEntry(seed, name, "student", pair.teacher or "-", m.name, s.name,
                                     job.id, evaluate(job, scfg, name, seed), deps[0] if deps else "-"))
            variants = suite.compress.variants() if suite.compress.applies_to(m.name) else []
            for variant in variants:  # kdbench.compress; no post-hoc rows
                finetune, transfer_job, cdeps = None, None, (job.id,)
                if variant.startswith("prune"):
                    finetune = {"epochs": suite.compress.finetune_epochs,
                                "lr_scale": suite.compress.finetune_lr_scale}
                    if deps and suite.compress.finetune_epochs:
                        transfer_job, cdeps = deps[0], (job.id, deps[0])
                ccfg = CompressJob(variant, job.id, scfg, finetune, transfer_job)
                cjob = _job("compress", ccfg, cdeps, f"compress {name} to {variant} (seed {seed})")
                add(cjob)
                ejob = evaluate(cjob, ccfg, f"{name}+{variant}", seed, posthoc=())
                models.append(ModelEntry(seed, f"{name}+{variant}", "student", pair.teacher or "-",
                                         m.name, s.name, cjob.id, ejob, deps[0] if deps else "-",
                                         base_model=name, variant=variant))
    return list(jobs.values()), models
