"""Faults: killed runs, concurrent runs, failing jobs, bad checkpoints and results files.

The runs are of tests/suites/tiny.toml (every job kind, trained for a few steps), against the
session's reference run of it (`tiny_run`, tests/conftest.py)."""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import torch

from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.plan import plan
from kdbench.errors import UserError
from kdbench.models import MODELS
from kdbench.store import RunStore, fit_checkpoint, load_checkpoint

from conftest import TINY, run_cli, run_counts, tiny_with_method
from kdbench_process import start

RUN = [sys.executable, "-m", "kdbench", "run", "all", "--suite", str(TINY), "--quiet", "--no-report"]
N_JOBS = len(plan(load_suite(str(TINY)))[0])
METRICS = "results/tiny/metrics.csv.gz"


def jobs_run(stdout: str) -> int:
    return run_counts(stdout)[0]


@pytest.fixture(scope="module")
def reference(tiny_run):
    return (tiny_run / METRICS).read_bytes()


def test_same_seed_same_bytes_in_a_fresh_workdir(reference, tmp_path):
    out = subprocess.run(RUN + ["--workdir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0
    assert (tmp_path / METRICS).read_bytes() == reference


def test_sigkill_at_several_points_then_resume(reference, tmp_path):
    """Kill a real run as soon as k jobs are finished (k = 1, 4, 9) — often mid-write of the
    next — and finally let it finish: identical results, finished jobs never recomputed. The
    killed runs are processes forked from a warm forkserver (tests/kdbench_process.py)."""
    assert N_JOBS > 9
    done_before = 0
    for k in (1, 4, 9):
        run = start(tmp_path / "logs", *RUN[3:], "--workdir", str(tmp_path))
        deadline = time.time() + 120
        while time.time() < deadline and run.running():
            if len(list((tmp_path / "runs").glob("*/done.json"))) >= k:
                break
            time.sleep(0.02)
        run.kill()
        finished = len(list((tmp_path / "runs").glob("*/done.json")))
        assert finished >= done_before
        done_before = finished
    code, out, err = run_cli(*RUN[3:], "--workdir", str(tmp_path))  # the last run: in process
    assert code == 0, err
    assert jobs_run(out) == N_JOBS - done_before  # nothing finished is recomputed
    assert (tmp_path / METRICS).read_bytes() == reference


def test_two_concurrent_runs_share_the_work(reference, tmp_path):
    runs = [start(tmp_path / "logs", *RUN[3:], "--workdir", str(tmp_path)) for _ in range(2)]
    outs = [run.wait() for run in runs]
    assert all(code == 0 for code, _, _ in outs), [err for _, _, err in outs]
    assert sum(jobs_run(out) for _, out, _ in outs) == N_JOBS  # every job computed exactly once
    assert (tmp_path / METRICS).read_bytes() == reference


def test_failing_job_is_reported_and_the_rest_goes_on(tiny_run, tmp_path, capsys, no_figures):
    """The tiny suite with a student whose training diverges, on a copy of the tiny run's
    store less one evaluation: the failure is reported with its label and reason, the rest
    (that evaluation) is computed, and the report lists the failed job with its cells marked
    missing."""
    suite = tmp_path / "fails.toml"
    suite.write_text(tiny_with_method("fails", "bad", "test-diverges"))
    shutil.copytree(tiny_run / "runs", tmp_path / "runs")
    victim = next(j for j in plan(load_suite(str(TINY)))[0] if j.kind == "evaluate")
    shutil.rmtree(tmp_path / "runs" / victim.id)
    code = main(["--plugin", "plugin_nan", "run", "all", "--suite", str(suite),
                 "--workdir", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "job failed: train student small-bad (seed 0): TrainingDiverged" in err
    assert jobs_run(out) == 1  # the removed evaluation
    report = (tmp_path / "reports/fails/report.md").read_text()
    assert "**Failed jobs**" in report and "small-bad" in report
    summary = report[report.index("## Summary"):report.index("## Per split")]
    row = next(line for line in summary.splitlines() if line.startswith("| small-bad |"))
    assert row.count("—") >= 10  # its cells are marked missing, not dropped
    assert re.search(r"\| small-kd-ensemble†? \| 0\.", report)  # the others finished (†: not converged)


def test_unknown_plugin_module(capsys):
    assert main(["--plugin", "no_such_plugin_module", "list"]) == 2
    assert "cannot import plugin module 'no_such_plugin_module'" in capsys.readouterr().err


def test_checkpoint_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "w.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(UserError, match=r"is not a state dict of tensors \(found list\)"):
        load_checkpoint(path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    torch.save({"x": Evil()}, path, _use_new_zipfile_serialization=True)
    with pytest.raises(UserError, match="cannot be loaded as weights only"):
        load_checkpoint(path)
    path.write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot be loaded as weights only"):
        load_checkpoint(path)


def test_checkpoint_from_another_architecture(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(MODELS.create("cnn", width=8).state_dict(), path)
    with pytest.raises(UserError, match=r"does not fit CNN: trunk.0.weight: checkpoint \(8, 1, 3, 3\) vs model \(4, 1, 3, 3\)"):
        fit_checkpoint(MODELS.create("cnn", width=4), load_checkpoint(path), path)
    state = load_checkpoint(path)
    state.pop("head.bias")
    state["extra"] = torch.zeros(1)
    with pytest.raises(UserError, match=r"missing keys \['head.bias'\]; unexpected keys \['extra'\]"):
        fit_checkpoint(MODELS.create("cnn", width=8), state, path)


def test_figures_name_the_missing_column(tmp_path, capsys):
    res = tmp_path / "results/x"
    res.mkdir(parents=True)
    (res / "metrics.csv").write_text("seed,model,value\n0,a,1.0\n")
    assert main(["figures", "--suite", "x", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) role, teacher, method, student, split, dataset, severity, metric" in err


def test_half_written_job_is_redone(tmp_path):
    store = RunStore(tmp_path)
    job = store.begin("j", {"a": 1})
    job.write_json("out.json", {"x": 1})
    assert not store.is_done("j")  # no marker yet: a killed job
    store.finish("j")
    assert store.is_done("j")
    (tmp_path / "j/done.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert not store.is_done("j")
