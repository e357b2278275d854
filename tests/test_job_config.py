"""Typed job configs (kdbench/job_config.py): every job of every built-in suite reads back to
exactly its JSON, so the ids of today's jobs — and the committed results keyed by them — stay
the same; the job code dispatches on the types."""

import pytest

from kdbench.collect import suite_hash
from kdbench.config import list_suites, load_suite
from kdbench.job_config import (CompressJob, EvaluateJob, StudentJob, TeacherJob, TransferJob,
                                UserModelJob, read_config)
from kdbench.plan import job_id, plan

# suite hashes (every model's name and evaluate job id) before the typed configs: unchanged
HASHES = {"mnist5k": "4ee8b7ed4b09", "smoke": "e8178ccb7ddc", "mnist5k-full": "fe10c76ec43e",
          "cifar10": "62e1fb7d2ceb", "cifar10-smoke": "66c295cf25ee"}
TYPES = {"train_teacher": TeacherJob, "transfer": TransferJob, "train_student": StudentJob,
         "compress": CompressJob, "evaluate": EvaluateJob}


@pytest.mark.parametrize("name", list_suites())
def test_every_job_reads_back_to_its_json_and_keeps_its_id(name):
    jobs, models = plan(load_suite(name))
    for job in jobs:
        cfg = read_config(job.kind, job.config)
        assert type(cfg) is TYPES[job.kind]
        assert cfg.to_json() == job.config
        assert job_id(job.kind, cfg.to_json()) == job.id
    if name in HASHES:
        assert suite_hash(models).startswith(HASHES[name])


def test_an_evaluate_job_types_its_model_by_the_model_jobs_kind():
    jobs, _ = plan(load_suite("smoke"))
    kinds = {type(read_config("evaluate", j.config).model) for j in jobs if j.kind == "evaluate"}
    assert kinds == {TeacherJob, StudentJob, CompressJob}
    student = next(read_config(j.kind, j.config) for j in jobs if j.kind == "train_student"
                   and j.config["teacher"] is None)
    assert student.teacher is None and student.method.kind == "none"
    assert student.to_json()["teacher"] is None  # the key stays, as null


def test_user_model_config_round_trip():
    d = {"user_model": {"weights_sha256": "0" * 64}, "data": {"dataset": "mnist5k"},
         "posthoc": ["temperature"]}
    assert UserModelJob.from_json(d).to_json() == d
