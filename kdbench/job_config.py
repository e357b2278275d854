"""Typed job configs: one frozen dataclass per job kind, read from and written to the JSON a
job's id is the hash of (`kdbench.plan.job_id`).

`kdbench.plan.plan` builds every job from one of these; its ``to_json`` is the job's config
JSON (the optional keys left out at their defaults, so the ids of jobs planned before these
types existed are unchanged: tests/test_job_config.py pins the built-in suites' hashes), and
``from_json`` reads it back for the job code (`kdbench.jobs`), which dispatches on the type of a
model's training config, never on which keys a dict has.

Nested records: ``data`` (the data set and split of a training job: ``dataset``, ``split``,
``split_seed``; an evaluate job's is the whole `kdbench.config.DataConfig`), a teacher's and a
student's ``model`` (``{"name", "kwargs": [[key, value], ...]}``) and ``train`` (the
`kdbench.train.TrainConfig` fields) stay the JSON dicts they are in the id; `TeacherSpec`,
`StudentSpec` and `MethodSpec` turn them into the objects the code builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .config import ModelSpec
from .train import TrainConfig


def _with_set(d: dict, **optional: Any) -> dict:
    """``d`` with the ``optional`` entries that are set (not None, "" or empty): the keys added
    to a kind's config after its first jobs, left out at their defaults so those ids stay."""
    d.update({k: v for k, v in optional.items() if v is not None and v != "" and v != ()})
    return d


def _model_spec(d: dict) -> ModelSpec:
    return ModelSpec(d["name"], tuple(tuple(kv) for kv in d["kwargs"]))


@dataclass(frozen=True)
class TeacherSpec:
    """A teacher as its jobs see it; ``checkpoint_sha256`` (one per member) when it is loaded
    from files instead of trained."""

    kind: str
    model: dict
    members: int
    samples: int
    train: dict
    checkpoint_sha256: tuple[str, ...] = ()

    @property
    def model_spec(self) -> ModelSpec:
        return _model_spec(self.model)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def to_json(self) -> dict:
        return _with_set({"kind": self.kind, "model": self.model, "members": self.members,
                          "samples": self.samples, "train": self.train},
                         checkpoint_sha256=list(self.checkpoint_sha256) or None)

    @classmethod
    def from_json(cls, d: dict) -> TeacherSpec:
        return cls(d["kind"], d["model"], d["members"], d["samples"], d["train"],
                   tuple(d.get("checkpoint_sha256", ())))


@dataclass(frozen=True)
class StudentSpec:
    model: dict
    train: dict

    @property
    def model_spec(self) -> ModelSpec:
        return _model_spec(self.model)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def to_json(self) -> dict:
        return {"model": self.model, "train": self.train}

    @classmethod
    def from_json(cls, d: dict) -> StudentSpec:
        return cls(d["model"], d["train"])


@dataclass(frozen=True)
class MethodSpec:
    kind: str
    options: dict

    def to_json(self) -> dict:
        return {"kind": self.kind, "options": self.options}

    @classmethod
    def from_json(cls, d: dict) -> MethodSpec:
        return cls(d["kind"], d["options"])


@dataclass(frozen=True)
class TeacherJob:
    """``train_teacher``: ``train_on`` (the transfer set's labelled rows, ``[transfer]
    teachers = true``) else the training split; ``member0_from``: the ensemble job whose
    member 0 this single teacher is (copied, `kdbench.plan._member0_donors`)."""

    seed: int
    data: dict
    teacher: TeacherSpec
    train_on: dict | None = None
    member0_from: str | None = None

    def to_json(self) -> dict:
        return _with_set({"seed": self.seed, "data": self.data, "teacher": self.teacher.to_json()},
                         train_on=self.train_on, member0_from=self.member0_from)

    @classmethod
    def from_json(cls, d: dict) -> TeacherJob:
        return cls(d["seed"], d["data"], TeacherSpec.from_json(d["teacher"]), d.get("train_on"),
                   d.get("member0_from"))


@dataclass(frozen=True)
class TransferJob:
    """``transfer``: the teacher of ``teacher_job`` (its `TeacherJob` fields repeated) on the
    transfer set; ``calibration`` ``temperature``: heated by its fitted temperature."""

    teacher_cfg: TeacherJob
    teacher_job: str
    transfer: dict
    calibration: str = ""

    @property
    def seed(self) -> int:
        return self.teacher_cfg.seed

    def to_json(self) -> dict:
        return _with_set({**self.teacher_cfg.to_json(), "teacher_job": self.teacher_job,
                          "transfer": self.transfer}, calibration=self.calibration)

    @classmethod
    def from_json(cls, d: dict) -> TransferJob:
        rest = {k: v for k, v in d.items() if k not in ("teacher_job", "transfer", "calibration")}
        return cls(TeacherJob.from_json(rest), d["teacher_job"], d["transfer"],
                   d.get("calibration", ""))


@dataclass(frozen=True)
class StudentJob:
    """``train_student``: ``teacher`` None for a method that needs none (labels only)."""

    seed: int
    data: dict
    transfer: dict
    student: StudentSpec
    method: MethodSpec
    teacher: TeacherSpec | None
    teacher_calibration: str = ""

    def to_json(self) -> dict:
        return _with_set({"seed": self.seed, "data": self.data, "transfer": self.transfer,
                          "student": self.student.to_json(), "method": self.method.to_json(),
                          "teacher": self.teacher.to_json() if self.teacher is not None else None},
                         teacher_calibration=self.teacher_calibration)

    @classmethod
    def from_json(cls, d: dict) -> StudentJob:
        return cls(d["seed"], d["data"], d["transfer"], StudentSpec.from_json(d["student"]),
                   MethodSpec.from_json(d["method"]),
                   TeacherSpec.from_json(d["teacher"]) if d["teacher"] is not None else None,
                   d.get("teacher_calibration", ""))


@dataclass(frozen=True)
class CompressJob:
    """``compress``: variant ``int8`` / ``prune<P>`` of the student of ``model_job``;
    ``finetune`` (``epochs``, ``lr_scale``) for a pruned one, ``transfer_job`` when it
    fine-tunes on its teacher's outputs."""

    variant: str
    model_job: str
    model: StudentJob
    finetune: dict | None = None
    transfer_job: str | None = None

    def to_json(self) -> dict:
        return _with_set({"variant": self.variant, "model_job": self.model_job,
                          "model": self.model.to_json()},
                         finetune=self.finetune, transfer_job=self.transfer_job)

    @classmethod
    def from_json(cls, d: dict) -> CompressJob:
        return cls(d["variant"], d["model_job"], StudentJob.from_json(d["model"]),
                   d.get("finetune"), d.get("transfer_job"))


ModelJob = Union[TeacherJob, StudentJob, CompressJob]


@dataclass(frozen=True)
class EvaluateJob:
    """``evaluate`` of the model that ``model_job`` (its config ``model``) trained or built;
    ``bootstrap`` None at the default number of resamples (`kdbench.evaluate.BOOTSTRAP`)."""

    model_job: str
    model: ModelJob
    data: dict
    posthoc: tuple[str, ...]
    bootstrap: int | None = None

    def to_json(self) -> dict:
        return _with_set({"model_job": self.model_job, "model": self.model.to_json(),
                          "data": self.data, "posthoc": list(self.posthoc)},
                         bootstrap=self.bootstrap)

    @classmethod
    def from_json(cls, d: dict) -> EvaluateJob:
        kind = d["model_job"].rsplit("-", 1)[0]  # the model job's id names its kind
        return cls(d["model_job"], MODEL_JOBS[kind].from_json(d["model"]), d["data"],
                   tuple(d["posthoc"]), d.get("bootstrap"))


@dataclass(frozen=True)
class UserModelJob:
    """The evaluate job of a model of the user's (`kdbench.evaluate_model`): ``user_model``
    identifies it (its weights' or its validation predictions' SHA-256)."""

    user_model: dict
    data: dict
    posthoc: tuple[str, ...]

    def to_json(self) -> dict:
        return {"user_model": self.user_model, "data": self.data, "posthoc": list(self.posthoc)}

    @classmethod
    def from_json(cls, d: dict) -> UserModelJob:
        return cls(d["user_model"], d["data"], tuple(d["posthoc"]))


MODEL_JOBS: dict[str, Any] = {"train_teacher": TeacherJob, "train_student": StudentJob,
                              "compress": CompressJob}
JOB_CONFIGS: dict[str, Any] = {**MODEL_JOBS, "transfer": TransferJob, "evaluate": EvaluateJob}


def read_config(kind: str, config: dict):
    """The typed config of a job of ``kind`` from its JSON ``config``."""
    return JOB_CONFIGS[kind].from_json(config)
