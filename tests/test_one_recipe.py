"""Teachers on the students' augmented data, and students of the temperature-scaled teacher."""

import json

import numpy as np
import pytest

from kdbench.config import load_suite
from kdbench.errors import UserError
from kdbench.executor import run_jobs
from kdbench.plan import plan
from kdbench.store import RunStore

SUITE = """
name = "recipe"
seeds = [0]
[data]
dataset = "mnist5k"
split = [300, 100, 100]
corruptions = ["rotate"]
severities = [1]
corrupt_n = 50
shift = []
ood = ["noise"]
ood_n = 50
[train]
epochs = 1
batch_size = 64
lr = 0.005
weight_decay = 0.05
[transfer]
set = "aux"
copies = 1
teachers = true
[teachers.ensemble]
kind = "ensemble"
width = 4
members = 2
[students.small]
width = 2
epochs = 1
[methods.kd]
[methods.kd-ts]
kind = "kd"
teacher_calibration = "temperature"
[[pairs]]
teachers = ["ensemble"]
students = ["small"]
methods = ["kd", "kd-ts"]
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text(SUITE)
    return path


def test_plan_trains_teachers_on_the_transfer_set_and_calibrates_a_second_transfer_job(suite_file):
    jobs, models = plan(load_suite(str(suite_file)))
    teacher = next(j for j in jobs if j.kind == "train_teacher")
    assert teacher.config["train_on"] == {"set": "aux", "copies": 1, "teachers": True}
    transfers = [j for j in jobs if j.kind == "transfer"]
    assert sorted(j.config.get("calibration", "") for j in transfers) == ["", "temperature"]
    students = {m.model: m for m in models if m.role == "student"}
    raw, ts = students["small-kd-ensemble"], students["small-kd-ts-ensemble"]
    by_id = {j.id: j for j in jobs}
    assert by_id[raw.transfer_job].config.get("calibration") is None
    assert by_id[ts.transfer_job].config["calibration"] == "temperature"
    assert by_id[ts.train_job].config["teacher_calibration"] == "temperature"
    assert raw.train_job != ts.train_job


def test_without_teachers_key_job_ids_are_unchanged(suite_file, tmp_path):
    old = tmp_path / "old.toml"
    old.write_text(SUITE.replace("teachers = true\n", ""))
    jobs, _ = plan(load_suite(str(old)))
    teacher = next(j for j in jobs if j.kind == "train_teacher")
    assert "train_on" not in teacher.config
    assert "teachers" not in next(j for j in jobs if j.kind == "transfer").config["transfer"]


def test_bad_teacher_calibration_is_refused(suite_file):
    suite_file.write_text(SUITE.replace('teacher_calibration = "temperature"',
                                        'teacher_calibration = "isotonic"'))
    with pytest.raises(UserError, match="teacher_calibration"):
        load_suite(str(suite_file))


def test_calibrated_transfer_heats_the_teacher_by_its_fitted_temperature(suite_file, tmp_path):
    jobs, _ = plan(load_suite(str(suite_file)))
    store = RunStore(tmp_path / "runs")
    wanted = [j for j in jobs if j.kind in ("train_teacher", "transfer")]
    report = run_jobs(wanted, store, progress=False)
    assert not report.failed
    teacher = next(j for j in wanted if j.kind == "train_teacher")
    curve = store.job(teacher.id).read_json("train_info.json")["curves"][0]
    assert len(curve) == 1  # one epoch over the transfer set's labelled rows
    raw, ts = (next(j for j in wanted if j.kind == "transfer" and j.config.get("calibration", "") == c)
               for c in ("", "temperature"))
    p_raw = store.job(raw.id).load_arrays("probs.npz")["probs"].astype(np.float64)
    p_ts = store.job(ts.id).load_arrays("probs.npz")["probs"].astype(np.float64)
    t = store.job(ts.id).read_json("transfer_info.json")["temperature"]
    assert t > 0 and abs(t - 1) > 1e-3
    z = np.log(np.clip(p_raw, 1e-12, None)) / t
    want = np.exp(z - z.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(p_ts, want, atol=2e-5)
