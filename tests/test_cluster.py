"""kdbench on a real dask cluster: a ``dask scheduler`` and two ``dask worker`` processes
started with dask's command line on 127.0.0.1, as on a user's cluster (docs/scaling.md), and
``kdbench run all --executor dask --scheduler ADDRESS`` run against them: in this process, or
(where the test kills the client or needs it running beside the test) in a forked process
(tests/kdbench_process.py).

The suite is tests/suites/tiny.toml plus one labels-only student trained by ``test-slow``
(tests/plugin_slow.py), which sleeps on the workers (``KDBENCH_TEST_SLOW``) and not in the
reference run, so a test can kill the worker that holds it. The workers start in a folder of
their own, without the tests' data root or work directory: they get both from the client."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kdbench.config import load_suite
from kdbench.plan import plan
from kdbench.store import RunStore

from conftest import run_cli, tiny_with_method
from conftest import run_counts as counts  # (jobs run, jobs from the store)
from kdbench_process import start

pytest.importorskip("distributed")
pytestmark = pytest.mark.xdist_group("cluster")  # one cluster, on one xdist worker
psutil = pytest.importorskip("psutil")

HERE = Path(__file__).resolve().parent
DASK = shutil.which("dask") or str(Path(sys.executable).parent / "dask")
METRICS = "results/slow/metrics.csv.gz"
PAUSE = "0.25"  # seconds per training step of the slow student on the workers (4 steps)


@pytest.fixture(scope="module")
def slow_suite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "slow.toml"
    path.write_text(tiny_with_method("slow", "slow", "test-slow"))
    return path


@pytest.fixture(scope="module")
def reference(slow_suite, tmp_path_factory) -> bytes:
    """The slow suite run locally in this process (no sleeping): the bytes every cluster run
    must give."""
    wd = tmp_path_factory.mktemp("local")
    code, _, err = run_cli("--plugin", "plugin_slow", "run", "all", "--suite", str(slow_suite),
                           "--workdir", str(wd), "--quiet", "--no-report")
    assert code == 0, err
    return (wd / METRICS).read_bytes()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the two ``dask worker`` processes); each worker process runs under
    its nanny, which restarts it when it is killed."""
    folder = tmp_path_factory.mktemp("cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KDBENCH_DATA")}
    env.update(PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
               KDBENCH_TEST_SLOW=PAUSE)
    log = open(folder / "cluster.log", "w")
    sched_file = folder / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              cwd=folder, env=env, stdout=log, stderr=log)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--name", f"w{i}", "--no-dashboard",
                 "--local-directory", str(folder / f"w{i}")],
                cwd=folder, env=env, stdout=log, stderr=log))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:  # killed, not closed: a nanny's orderly shutdown takes seconds
        for p in reversed(procs):
            try:
                for child in psutil.Process(p.pid).children(recursive=True):
                    child.kill()
            except psutil.Error:
                pass
            p.kill()
            p.wait(timeout=30)
        log.close()


def argv(suite: Path, wd: Path, address: str) -> list[str]:
    return ["--plugin", "plugin_slow", "run", "all", "--suite", str(suite), "--workdir", str(wd),
            "--quiet", "--no-report", "--executor", "dask", "--scheduler", address]


def run(suite: Path, wd: Path, address: str) -> str:
    """The client in this process."""
    code, out, err = run_cli(*argv(suite, wd, address))
    assert code == 0, err[-2000:]
    return out


def slow_job(suite: Path) -> str:
    return next(j.id for j in plan(load_suite(str(suite)))[0]
                if j.kind == "train_student" and "slow" in j.label)


def test_results_are_those_of_local_and_say_where_each_job_ran(slow_suite, reference, cluster, tmp_path):
    address, _ = cluster
    out = run(slow_suite, tmp_path, address)
    assert (tmp_path / METRICS).read_bytes() == reference
    n = len(plan(load_suite(str(slow_suite)))[0])
    assert counts(out) == (n, 0)
    summary = out[out.index("time per worker"):].splitlines()
    assert summary[0] == "time per worker (2):"  # both workers ran jobs
    assert sum(int(re.search(r": (\d+) jobs?,", line).group(1)) for line in summary[1:3]) == n
    ran = json.loads((RunStore(tmp_path / "runs").job(slow_job(slow_suite)).path / "done.json").read_text())["ran"]
    assert re.fullmatch(r".+:\d+", ran["worker"]) and ran["seconds"] >= 4 * float(PAUSE)


def _holder(workers, lock: Path):
    """The worker process (a child of a ``dask worker`` process) that has ``lock`` open."""
    for proc in workers:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if any(f.path == str(lock) for f in child.open_files()):
                    return child
            except psutil.Error:
                continue
    return None


def test_a_worker_killed_in_a_training_job_is_replaced_and_the_job_redone(
        slow_suite, reference, cluster, tmp_path):
    address, workers = cluster
    lock = RunStore(tmp_path / "runs").job(slow_job(slow_suite)).path / ".lock"
    client = start(tmp_path / "logs", *argv(slow_suite, tmp_path, address))
    victim, deadline = None, time.monotonic() + 120
    while victim is None and client.running() and time.monotonic() < deadline:
        victim = _holder(workers, lock)
        time.sleep(0.02)
    assert victim is not None, "no worker was seen training the slow student"
    killed = f"{victim.pid}"
    victim.send_signal(signal.SIGKILL)
    code, out, err = client.wait()
    assert code == 0, err[-2000:]
    assert (tmp_path / METRICS).read_bytes() == reference
    ran = json.loads((lock.parent / "done.json").read_text())["ran"]
    assert not ran["worker"].endswith(f":{killed}")  # redone by another process


def test_a_killed_client_restarts_without_recomputing(slow_suite, reference, cluster, tmp_path):
    address, _ = cluster
    client = start(tmp_path / "logs", *argv(slow_suite, tmp_path, address))
    runs, deadline = tmp_path / "runs", time.monotonic() + 120
    while len(list(runs.glob("*/done.json"))) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.kill()
    finished = len(list(runs.glob("*/done.json")))
    assert finished >= 6
    n = len(plan(load_suite(str(slow_suite)))[0])
    ran, cached = counts(run(slow_suite, tmp_path, address))
    assert ran + cached == n and ran <= n - finished
    assert (tmp_path / METRICS).read_bytes() == reference
