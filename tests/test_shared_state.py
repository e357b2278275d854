"""State that several processes share: results of other settings are not written over, the
results of a work directory are written under one lock, and a worker gets what it needs from
the client (docs/scaling.md, docs/reliability.md)."""

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from kdbench.config import load_suite
from kdbench.executor import run_one, worker_name
from kdbench.plan import plan
from kdbench.store import RunStore, results_lock

from conftest import TINY, run_cli, tiny_suite
from kdbench_process import start

RUN = ["run", "all", "--suite", str(TINY), "--quiet", "--no-report"]


def copy_run(tiny_run: Path, wd: Path) -> None:
    for part in ("runs", "results"):
        shutil.copytree(tiny_run / part, wd / part)


def test_run_all_refuses_results_of_other_settings_unless_told(tiny_run, tmp_path):
    copy_run(tiny_run, tmp_path)
    before = {p.name for p in (tmp_path / "runs").iterdir()}
    code, _, err = run_cli(*RUN, "--workdir", str(tmp_path), "--seeds", "1")
    assert code == 2 and err.count("\n") == 1
    assert "holds results of other settings of suite 'tiny' (seeds [0]" in err
    assert "--replace-results" in err
    assert {p.name for p in (tmp_path / "runs").iterdir()} == before  # no job was started
    info = json.loads((tmp_path / "results/tiny/run_info.json").read_text())
    assert info["seeds"] == [0]
    # the same settings again: nothing to refuse, nothing to compute
    code, out, err = run_cli(*RUN, "--workdir", str(tmp_path))
    assert code == 0, err
    assert info["base_suite_hash"] == info["suite_hash"]


def test_replace_results_writes_over_them(tiny_run, tmp_path):
    copy_run(tiny_run, tmp_path)
    info = tmp_path / "results/tiny/run_info.json"
    old = json.loads(info.read_text())
    info.write_text(json.dumps({**old, "base_suite_hash": "0" * 64}))  # as if from other settings
    assert run_cli(*RUN, "--workdir", str(tmp_path))[0] == 2
    code, _, err = run_cli(*RUN, "--workdir", str(tmp_path), "--replace-results")
    assert code == 0, err
    assert json.loads(info.read_text())["base_suite_hash"] == old["suite_hash"]


def register(i: int, suite: str, wd: str) -> None:
    """`kdbench.evaluate_model` of a constant model that says class ``i`` (one process's body)."""
    import numpy as np

    import kdbench
    from kdbench.prediction import Prediction

    def model(x):
        p = np.full((1, len(x), 10), 0.05)
        p[0, :, i] = 0.55
        return Prediction(probs=p)
    kdbench.evaluate_model(model, suite=suite, name=f"user-{i}", workdir=wd)


def test_concurrent_registrations_wait_for_the_lock_and_none_is_lost(tiny_run, tmp_path):
    """Two `kdbench.evaluate_model` processes (forked: tests/kdbench_process.py) on one work
    directory while the test holds its results lock: their evaluate jobs finish, their
    registrations wait, and once the lock is released every one of them is in
    user_models.json and on the leaderboard."""
    wd = tmp_path / "wd"
    copy_run(tiny_run, wd)
    runs = wd / "runs"
    done_before = len(list(runs.glob("*/done.json")))
    registry = wd / "results/tiny/user_models.json"
    with results_lock(RunStore(runs)):
        procs = [start(tmp_path / "logs", i, str(TINY), str(wd), fn=register) for i in range(2)]
        deadline = time.monotonic() + 120
        while len(list(runs.glob("*/done.json"))) < done_before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert len(list(runs.glob("*/done.json"))) == done_before + 2  # evaluated, in parallel
        assert not registry.exists()  # but none registered while the lock is held
        assert all(p.running() for p in procs)
    for p in procs:
        code, _, err = p.wait(timeout=120)
        assert code == 0, err[-2000:]
    assert sorted(json.loads(registry.read_text())) == ["user-0", "user-1"]
    board = pd.read_csv(wd / "results/leaderboard.csv")
    assert {"user-0", "user-1"} <= set(board.model)


def test_a_worker_that_cannot_see_the_run_store_says_so(tmp_path):
    job = plan(load_suite(str(TINY)))[0][0]
    missing = tmp_path / "elsewhere" / "runs"
    out = run_one(job, missing)
    assert out.status == "failed" and out.worker == worker_name()
    assert f"cannot see the run store {missing}" in out.reason
    assert not missing.exists()  # nothing written where nobody reads it


def test_a_worker_takes_the_clients_data_root(tmp_path, monkeypatch):
    """`run_one` sets the client's `worker_env` in the worker before the job: a job that
    needs a missing data file names the client's data root."""
    from kdbench.data.files import ENV, ENV_SOURCE

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(ENV_SOURCE, raising=False)
    suite = tmp_path / "c10.toml"
    suite.write_text(tiny_suite(('dataset = "mnist5k"', 'dataset = "cifar10"'),
                                ('shift = ["digits"]', "shift = []"),
                                ('ood = ["photos", "noise"]', 'ood = ["noise"]'),
                                ('corruptions = ["shot_noise"]', "corruptions = []")))
    job = plan(load_suite(str(suite)))[0][0]
    (tmp_path / "runs").mkdir()
    root = tmp_path / "client-data"
    out = run_one(job, tmp_path / "runs", env={ENV: str(root), ENV_SOURCE: "--data-dir"})
    assert out.status == "failed", out
    assert str(root) in out.reason and "--data-dir" in out.reason
    assert os.environ[ENV] == str(root)
