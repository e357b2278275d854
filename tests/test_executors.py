"""Executors: local, processes and dask give the same results from one run store.

Two parts: tiny synthetic jobs (kinds registered below, imported into every worker as the
plugin ``test_executors``) check the scheduling rules — dependencies, failures, skipped
dependants, the store as the single source of truth, a killed worker — in seconds; a real
suite (tests/suites/tiny.toml: every job kind, trained for a few steps) checks that the
numbers are byte-identical across executors.
"""

import gzip
import os
import shutil
import sys
from pathlib import Path

import pytest

from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.executor import run_jobs
from kdbench.jobs import RUNNERS
from kdbench.plan import Job, plan
from kdbench.store import RunStore

from conftest import TINY, run_cli, tiny_with_method
from conftest import run_counts as counts  # (jobs run, jobs from the store)

HAS_DASK = True
try:
    import distributed  # noqa: F401
except ImportError:
    HAS_DASK = False
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="needs the [dask] extra")
EXECUTORS = ["local", "processes", pytest.param("dask", marks=needs_dask)]


# --- synthetic jobs -------------------------------------------------------------------------

def _add(job: Job, store: RunStore, progress: bool) -> None:
    """out.json = config["value"] + the values of the dependencies; records the process id."""
    total = job.config["value"] + sum(store.job(d).read_json("out.json")["total"] for d in job.deps)
    store.begin(job.id, job.config).write_json("out.json", {"total": total, "pid": os.getpid()})


def _fail(job: Job, store: RunStore, progress: bool) -> None:
    raise ValueError(f"bad value {job.config['value']}")


def _die(job: Job, store: RunStore, progress: bool) -> None:
    """Kills its worker process while the flag file exists (a worker lost mid-job)."""
    store.begin(job.id, job.config)
    if Path(job.config["flag"]).exists():
        os._exit(9)
    store.job(job.id).write_json("out.json", {"total": 0, "pid": os.getpid()})


RUNNERS.update({"test-add": _add, "test-fail": _fail, "test-die": _die})


def job(name: str, value: int, *deps: str, kind: str = "test-add", **cfg) -> Job:
    return Job(name, kind, {"value": value, **cfg}, deps, f"test {name}")


GRAPH = [job("a", 1), job("b", 2, "a"), job("c", 3, "a", "b"), job("bad", 0, kind="test-fail"),
         job("after-bad", 5, "bad"), job("after-after", 6, "after-bad", "a"), job("d", 7)]


def run(jobs, store, executor, **kw):
    kw = kw if executor == "local" else {"workers": 2, **kw}
    return run_jobs(jobs, store, progress=False, executor=executor, plugins=["test_executors"], **kw)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_dependencies_failures_and_the_store(executor, tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    report = run(GRAPH, store, executor)
    assert sorted(report.ran) == ["a", "b", "c", "d"]
    assert report.failed == {"bad": "test bad: ValueError: bad value 0"}
    assert sorted(report.skipped) == ["after-after", "after-bad"]
    assert "FAILED test bad [bad]: ValueError: bad value 0" in capsys.readouterr().out
    out = {j: store.job(j).read_json("out.json") for j in "abcd"}
    assert {j: o["total"] for j, o in out.items()} == {"a": 1, "b": 3, "c": 7, "d": 7}
    pids = {o["pid"] for o in out.values()}
    assert (pids == {os.getpid()}) == (executor == "local")  # workers are other processes
    again = run(GRAPH, store, "local")  # another executor: nothing finished is recomputed
    assert again.ran == [] and sorted(again.cached) == ["a", "b", "c", "d"]
    assert len(again.failed) == 1 and len(again.skipped) == 2


def test_killed_worker_fails_its_job_and_the_next_run_redoes_it(tmp_path):
    flag = tmp_path / "die"
    flag.touch()
    jobs = [job("a", 1), job("dies", 0, "a", kind="test-die", flag=str(flag)), job("b", 2, "dies"),
            job("d", 4, "a")]
    store = RunStore(tmp_path / "runs")
    report = run(jobs, store, "processes")
    assert "worker process died" in report.failed["dies"] and report.skipped == ["b"]
    assert "a" in report.ran
    lost = set(report.failed)  # "d", when it ran beside "dies", went down with the pool
    assert lost <= {"dies", "d"} and not store.is_done("dies")
    flag.unlink()
    report = run(jobs, store, "processes")
    assert sorted(report.ran) == sorted({"dies", "b"} | lost - {"dies"} | {"dies"})
    assert "a" in report.cached and not report.failed


def test_a_rerun_of_finished_jobs_starts_no_worker(tmp_path, monkeypatch):
    """Finished jobs are known in the client: a rerun where every job is finished starts no
    worker process and no dask cluster (it took 4-5 s for the tiny suite), and one where
    some are hands only the others to the executor."""
    import kdbench.executor as executor

    store = RunStore(tmp_path / "runs")
    jobs = [job("a", 1), job("b", 2, "a"), job("c", 3, "b")]
    run(jobs[:2], store, "local")
    handed = []

    def no_workers(todo, root, tally, **kwargs):
        """Records what it is handed and runs it here, as a worker would."""
        handed.append([j.id for j in todo])
        for j in todo:
            tally.add(executor.run_one(j, root, False, *tally.deps(j), plugins=kwargs["plugins"]))
    monkeypatch.setattr(executor, "_run_processes", no_workers)
    monkeypatch.setattr(executor, "_run_dask", no_workers)
    for ex in ("processes", "dask"):
        report = run(jobs[:2], store, ex)
        assert report.ran == [] and sorted(report.cached) == ["a", "b"]
    assert handed == []
    report = run(jobs, store, "processes")
    assert handed == [["c"]] and report.ran == ["c"] and sorted(report.cached) == ["a", "b"]
    assert store.job("c").read_json("out.json")["total"] == 6


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2"], "--workers needs --executor processes or dask"),
    (["--executor", "processes", "--workers", "0"], "--workers must be at least 1, found 0"),
    (["--executor", "processes", "--scheduler", "tcp://x:1"], "--scheduler needs --executor dask"),
])
def test_bad_executor_options(argv, message, tmp_path, capsys):
    assert main(["run", "all", "--suite", "smoke", "--workdir", str(tmp_path), "--quiet"] + argv) == 2
    assert message in capsys.readouterr().err


def test_missing_dask_is_one_line(tmp_path, monkeypatch):
    """Without dask.distributed (None in sys.modules: every import of it fails, even where
    another test of this process imported it): one line, and exit 2, before any job runs."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, _, err = run_cli("run", "all", "--suite", "smoke", "--workdir", str(tmp_path), "--quiet",
                           "--executor", "dask")
    assert code == 2
    assert err.strip() == "kdbench: error: --executor dask needs dask.distributed: pip install -e '.[dask]'"
    assert not (tmp_path / "runs").exists()


# --- a real suite: same bytes under every executor -------------------------------------------

RUN = ["run", "all", "--suite", str(TINY), "--quiet", "--no-report"]
TWO = ["--workers", "2"]


def run_tiny(wd: Path, *argv: str) -> str:
    """``kdbench run all`` of the tiny suite, in this process (the executors start their own)."""
    code, out, err = run_cli(*RUN, "--workdir", str(wd), *argv)
    assert code == 0, err
    return out


def metrics(wd: Path) -> bytes:
    return (wd / "results/tiny/metrics.csv.gz").read_bytes()


@pytest.fixture(scope="module")
def local_run(tiny_run) -> Path:
    """The session's local run of the tiny suite (tests/conftest.py); read only."""
    return tiny_run


@pytest.fixture(scope="module")
def processes_run(tmp_path_factory) -> Path:
    wd = tmp_path_factory.mktemp("processes")
    assert counts(run_tiny(wd, "--executor", "processes", *TWO))[1] == 0
    return wd


def test_processes_give_the_bytes_of_local(local_run, processes_run):
    assert metrics(processes_run) == metrics(local_run)


@needs_dask
def test_dask_gives_the_bytes_of_local_and_no_executor_recomputes(local_run, tmp_path):
    """dask computes everything but the teachers (kept from the local run), then a local run
    on the same store computes nothing."""
    jobs = plan(load_suite(str(TINY)))[0]
    teachers = {j.id for j in jobs if j.kind == "train_teacher"}
    shutil.copytree(local_run / "runs", tmp_path / "runs")
    for path in (tmp_path / "runs").iterdir():
        if path.name not in teachers:
            shutil.rmtree(path)
    assert counts(run_tiny(tmp_path, "--executor", "dask", *TWO)) == (len(jobs) - len(teachers), len(teachers))
    assert metrics(tmp_path) == metrics(local_run)
    assert counts(run_tiny(tmp_path)) == (0, len(jobs))
    assert metrics(tmp_path) == metrics(local_run)


def test_failing_job_under_processes_is_reported_like_local(local_run, tmp_path, capsys):
    """As tests/test_reliability.py's local case: label and reason, dependants skipped, the
    rest (here one evaluation removed from a copy of the local store) goes on, exit 1."""
    suite = tmp_path / "fails.toml"
    suite.write_text(tiny_with_method("fails", "bad", "test-diverges"))
    shutil.copytree(local_run / "runs", tmp_path / "runs")
    victim = next(j for j in plan(load_suite(str(TINY)))[0] if j.kind == "evaluate")
    shutil.rmtree(tmp_path / "runs" / victim.id)
    code = main(["--plugin", "plugin_nan", "run", "all", "--suite", str(suite), "--workdir",
                 str(tmp_path), "--quiet", "--no-report", "--executor", "processes", *TWO])
    out, err = capsys.readouterr()
    assert code == 1
    assert "job failed: train student small-bad (seed 0): TrainingDiverged" in err
    assert "1 job(s) failed, 1 skipped" in err
    assert counts(out)[0] == 1  # the removed evaluation, computed beside the failing job
    m = gzip.decompress((tmp_path / "results/fails/metrics.csv.gz").read_bytes()).decode()
    assert "small-bad" not in m and "small-kd-ensemble" in m
