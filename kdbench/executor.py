"""Runs a plan's jobs against the run store: ``local`` (in process, one job at a time),
``processes`` (a pool of worker processes) or ``dask`` (a dask.distributed cluster).

All three call `run_one` per job, so they share one behaviour: a job whose completion marker
checks out is not recomputed; otherwise it runs under its per-job file lock (`RunStore.lock`)
and is marked done only after all its files are written. The run store is the single source of
truth: a worker that is killed leaves an unfinished job that the next run redoes, and a
finished job is never computed twice, whichever executor finished it. A job that raises is
reported with its label and reason, the jobs that depend on it are skipped, and the others go
on; `run_jobs` returns the outcome so the CLI can exit non-zero.

Threads. Every job runs with exactly `JOB_THREADS` torch intra-op threads, whatever the
executor and the machine: on CPU a job's numbers depend on the thread count (the batch
reductions of convolution weight gradients and of ``sum`` are split per thread, so 1 and 2
threads give weights that differ in the last bits), and a result must not depend on how it was
scheduled. Cores are used by running jobs side by side: ``--workers`` defaults to the number of
cores divided by `JOB_THREADS`. Job-level parallelism is also the faster use of cores for these
small networks (a CNN of width 8 trains no faster on 2 threads than on 1). The same limit holds
for the BLAS and OpenMP pools of numpy and scipy (threadpoolctl): OpenBLAS would otherwise start
one thread per core in every worker, so ``--workers N`` would run N x cores threads on N cores
(a smoke run's evaluate stage: 14.2 s with them, 9.1 s without), and a matrix product's bits
could depend on the machine's core count.

Dependencies. ``processes`` submits a job once all its dependencies have finished; ``dask``
hands the dependencies' futures to ``client.submit`` as arguments, so the engine owns the
graph; both skip the dependants of a failed job. Progress is one bar over finished jobs in the
parent; the per-epoch bars of the jobs are off in workers.

Where a job ran. `run_one` records the worker (``host:pid``) and the job's wall time in its
completion marker (`RunStore.finish`) and in its `Outcome`; `RunReport.per_worker` sums them and
the CLI prints one line per worker at the end of a run.

What a worker needs from the client. The work directory travels as the absolute path of the run
store, the data root (``--data-dir`` / ``KDBENCH_DATA``) and the device (``--device``) as
`worker_env`, all with every job, so a ``dask worker`` started anywhere needs none of them. A worker that cannot see the run store (a
node-local path, an unmounted share) fails the job with one line saying so instead of writing
results where nobody reads them.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import socket
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import device
from .data.files import ENV, ENV_SOURCE
from .errors import UserError
from .jobs import RUNNERS
from .plan import Job
from .registry import load_plugins
from .store import RunStore

JOB_THREADS = 1
EXECUTORS = ("local", "processes", "dask")
CLUSTERS = ("slurm", "pbs")  # dask-jobqueue's SLURMCluster, PBSCluster
DASK_MISSING = "--executor dask needs dask.distributed: pip install -e '.[dask]'"
JOBQUEUE_MISSING = "--cluster needs dask-jobqueue: pip install -e '.[cluster]'"

Status = Literal["ran", "cached", "failed", "skipped"]


@dataclass(frozen=True)
class Outcome:
    """What became of one job: ``ran`` (computed now, in ``seconds``), ``cached`` (finished
    earlier), ``failed`` (``reason`` = "<label>: <exception type>: <message>", ``trace`` = the
    last lines of its traceback) or ``skipped`` (a dependency failed or was skipped)."""

    job: str
    status: Status
    seconds: float = 0.0
    reason: str = ""
    trace: str = ""
    worker: str = ""      # "host:pid" of the process that ran (or tried) it


def worker_name() -> str:
    """This process as a worker: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_env() -> dict[str, str]:
    """The client's settings a worker must share: the data root and what chose it
    (`kdbench.data.files.use_root`), the device (`kdbench.device.use`) and whether CUDA runs
    deterministically (``KDBENCH_CUDA_DETERMINISTIC``); unset ones are left out."""
    return {k: os.environ[k] for k in (ENV, ENV_SOURCE, device.ENV, device.DETERMINISTIC_ENV)
            if os.environ.get(k)}


@dataclass
class RunReport:
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)   # job id -> reason
    skipped: list[str] = field(default_factory=list)       # a dependency failed
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_worker: dict[str, list] = field(default_factory=dict)  # worker -> [jobs run, seconds]

    def worker_summary(self) -> str:
        """One line per worker that ran a job: 'host:pid: N jobs, S s', most seconds first."""
        rows = sorted(self.per_worker.items(), key=lambda kv: (-kv[1][1], kv[0]))
        return "\n".join(f"  {w}: {n} job{'s' * (n != 1)}, {sec:.1f} s" for w, (n, sec) in rows)


_loaded_plugins: set[str] = set()
_one_job_at_a_time = threading.Lock()


def _prepare_process(plugins: tuple[str, ...]) -> None:
    """Import the plugin modules (and ``kdbench.plugins`` entry points) once per process, so
    that a worker knows the models and methods the parent registered."""
    missing = [p for p in plugins if p not in _loaded_plugins]
    if missing or not _loaded_plugins:
        load_plugins(missing)
        _loaded_plugins.update(missing or ["<entry points>"])


def run_one(job: Job, store_root: str | Path, progress: bool = False, *deps: Outcome,
            plugins: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Outcome:
    """Run ``job`` against the run store at ``store_root`` unless it is finished; every
    executor calls this once per job, in whatever process runs the job.

    ``deps`` are the outcomes of the job's dependencies (a dask worker receives them as the
    results of the dependency futures): if one failed or was skipped, the job is skipped.
    ``progress`` turns the job's own per-epoch bars on (``local`` only). A job's exception is
    returned as a ``failed`` outcome, never raised, except `KeyboardInterrupt`. Jobs within one
    process run one at a time (the seeds of torch are process-wide), each with `JOB_THREADS`
    threads. ``env`` (`worker_env` of the client) is set in this process first.
    """
    if any(d.status in ("failed", "skipped") for d in deps):
        return Outcome(job.id, "skipped")
    me = worker_name()
    os.environ.update(env or {})
    if not Path(store_root).is_dir():
        return Outcome(job.id, "failed", worker=me, reason=(
            f"{job.label}: worker {me} cannot see the run store {store_root}: the work "
            f"directory must be on a filesystem every worker shares, under the same path"))
    store = RunStore(Path(store_root))
    if store.is_done(job.id):
        return Outcome(job.id, "cached")
    with _one_job_at_a_time, store.lock(job.id):
        if store.is_done(job.id):  # another process finished it while we waited
            return Outcome(job.id, "cached")
        _prepare_process(tuple(plugins))
        torch.set_num_threads(JOB_THREADS)
        start = time.perf_counter()
        try:
            with threadpool_limits(limits=JOB_THREADS):
                RUNNERS[job.kind](job, store, progress)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a failed job must not stop the others
            return Outcome(job.id, "failed", reason=f"{job.label}: {type(e).__name__}: {e}",
                           trace="".join(traceback.format_exception(e)[-3:]), worker=me)
        seconds = time.perf_counter() - start
        store.finish(job.id, ran={"worker": me, "seconds": round(seconds, 3)})
        return Outcome(job.id, "ran", seconds=seconds, worker=me)


def default_workers() -> int:
    """Workers that fill the cores this process may use with `JOB_THREADS` threads each; on
    CUDA (`kdbench.device.selected`) one per visible GPU instead: each worker holds a CUDA
    context and its own copy of the training set on the device, so more than one per GPU only
    when asked (``--workers``; share a GPU between processes with CUDA MPS, docs/cifar10.md)."""
    if device.selected().type == "cuda":
        return max(1, torch.cuda.device_count())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // JOB_THREADS)


def worker_memory_limit() -> str | int:
    """A ``LocalCluster`` worker's memory limit: dask's ``"auto"`` (host RAM / workers) on the
    CPU; on CUDA the host RAM / the GPUs, not / the workers, since a job's host memory (an
    evaluation ≈ 5 GB on CIFAR-10) does not shrink when several workers share a GPU."""
    if device.selected().type != "cuda":
        return "auto"
    from distributed.system import MEMORY_LIMIT  # local: an optional extra ([dask])

    return int(MEMORY_LIMIT / max(1, torch.cuda.device_count()))


class _Tally:
    """Collects outcomes into a `RunReport`, feeds the progress bar and prints failures."""

    def __init__(self, jobs: list[Job], progress: bool) -> None:
        self.by_id = {j.id: j for j in jobs}
        self.outcomes: dict[str, Outcome] = {}
        self.report = RunReport()
        self.progress = progress
        self.bar = tqdm(total=len(jobs), desc="jobs", unit="job", disable=not progress)

    def add(self, outcome: Outcome) -> None:
        job = self.by_id[outcome.job]
        self.outcomes[job.id] = outcome
        r = self.report
        if outcome.status == "ran":
            r.ran.append(job.id)
            r.seconds[job.kind] += outcome.seconds
            n, sec = r.per_worker.get(outcome.worker or "?", (0, 0.0))
            r.per_worker[outcome.worker or "?"] = [n + 1, sec + outcome.seconds]
        elif outcome.status == "cached":
            r.cached.append(job.id)
        elif outcome.status == "skipped":
            r.skipped.append(job.id)
        else:
            r.failed[job.id] = outcome.reason
            tqdm.write(f"FAILED {outcome.reason.replace(': ', f' [{job.id}]: ', 1)}")
            if self.progress and outcome.trace:
                tqdm.write(outcome.trace)
        self.bar.set_postfix_str(job.label[:50])
        self.bar.update()

    def deps(self, job: Job) -> list[Outcome]:
        """Outcomes of the job's dependencies that are in this run (all must be known)."""
        return [self.outcomes[d] for d in job.deps if d in self.by_id]

    def ready(self, job: Job) -> bool:
        return all(d in self.outcomes for d in job.deps if d in self.by_id)

    def close(self) -> RunReport:
        self.bar.close()
        return self.report


def check_options(executor: str, workers: int | None, scheduler: str | None,
                  cluster: str | None = None) -> None:
    """`UserError` for an unknown executor or options that do not go with it."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor '{executor}'; expected one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, found {workers}")
    if workers is not None and executor == "local":
        raise UserError("--workers needs --executor processes or dask (local runs one job at a time)")
    if scheduler is not None and executor != "dask":
        raise UserError(f"--scheduler needs --executor dask, found --executor {executor}")
    if cluster is not None:
        if cluster not in CLUSTERS:
            raise UserError(f"unknown cluster '{cluster}'; expected one of {', '.join(CLUSTERS)}")
        if executor != "dask":
            raise UserError(f"--cluster needs --executor dask, found --executor {executor}")
        if scheduler is not None:
            raise UserError("--cluster starts its own scheduler; give --cluster or --scheduler, not both")
    if executor == "dask":
        try:
            import distributed  # noqa: F401  (local: an optional extra)
        except ImportError:
            raise UserError(DASK_MISSING) from None
    if cluster is not None:
        try:
            import dask_jobqueue  # noqa: F401  (local: an optional extra)
        except ImportError:
            raise UserError(JOBQUEUE_MISSING) from None


def run_jobs(jobs: list[Job], store: RunStore, *, progress: bool = True,
             executor: str = "local", workers: int | None = None, scheduler: str | None = None,
             plugins: Iterable[str] = (), cluster: str | None = None) -> RunReport:
    """Run every job not yet finished; dependencies come before dependants in ``jobs``.

    ``executor``: ``local`` (in this process), ``processes`` (``workers`` spawned processes,
    default `default_workers`) or ``dask`` (the dask.distributed scheduler at ``scheduler``,
    else a ``LocalCluster`` of ``workers`` single-threaded processes, or with ``cluster`` a
    dask-jobqueue cluster of ``workers`` worker processes submitted as batch jobs,
    `_jobqueue_cluster`). ``plugins`` are imported in every worker before its first job.
    Raises `UserError` for an invalid combination.
    """
    check_options(executor, workers, scheduler, cluster)
    torch.set_num_threads(JOB_THREADS)  # the parent, too: run_info records the jobs' threads
    tally = _Tally(jobs, progress)
    root, plugins = str(store.root.resolve()), tuple(plugins)
    store.root.mkdir(parents=True, exist_ok=True)
    run = {"local": _run_local, "processes": _run_processes, "dask": _run_dask}[executor]
    todo = []
    for job in jobs:  # finished jobs are known here: a rerun starts no worker and no cluster
        if store.is_done(job.id):
            tally.add(Outcome(job.id, "cached"))
        else:
            todo.append(job)
    try:
        if todo:
            run(todo, root, tally, workers=workers, scheduler=scheduler, plugins=plugins,
                env=worker_env(), cluster=cluster)
    finally:
        report = tally.close()
    return report


def _run_local(jobs: list[Job], root: str, tally: _Tally, *, plugins: tuple[str, ...],
               env: dict[str, str], **_: object) -> None:
    for job in jobs:
        tally.bar.set_postfix_str(job.label[:50])
        tally.add(run_one(job, root, tally.progress, *tally.deps(job), plugins=plugins, env=env))


# torch._dynamo too: torch imports it (about 1.5 s) the first time an optimizer is built
# (`Optimizer.add_param_group` is wrapped by `torch._disable_dynamo`), once per process; imported
# in the server, it is paid once per run instead of once per worker (it starts no thread, so
# forking stays safe)
PRELOAD = ("kdbench.jobs", "torch._dynamo")


def forkserver(*extra: str) -> multiprocessing.context.BaseContext:
    """The forkserver context, its server started (once per process) having imported
    `PRELOAD` and ``extra``: worker processes forked from it start in milliseconds instead of
    importing torch and kdbench for seconds each. A server already running keeps its imports."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *extra])
    multiprocessing.forkserver.ensure_running()
    return context


def _run_processes(jobs: list[Job], root: str, tally: _Tally, *, workers: int | None,
                   plugins: tuple[str, ...], env: dict[str, str], **_: object) -> None:
    """A `ProcessPoolExecutor` whose workers come from a forkserver that has imported
    kdbench's job code once (plain fork is unsafe once torch has started its thread pools; the
    forkserver process never runs a torch op, and spawn would import torch in every worker);
    a job is submitted when all its dependencies have an outcome. When a worker dies (killed,
    out of memory) the pool breaks: its running jobs fail, and the rest goes on in a new pool."""
    n = workers or default_workers()
    pending = list(jobs)
    context = forkserver()

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=context)

    pool = new_pool()
    running: dict = {}
    try:
        while pending or running:
            ready = [j for j in pending if tally.ready(j)]
            while ready:  # a skipped job can make its dependants ready at once
                job = ready.pop(0)
                pending.remove(job)
                deps = tally.deps(job)
                if any(d.status in ("failed", "skipped") for d in deps):
                    tally.add(Outcome(job.id, "skipped"))
                    ready = [j for j in pending if tally.ready(j)]
                else:
                    running[pool.submit(run_one, job, root, False, *deps, plugins=plugins,
                                        env=env)] = job
            if not running:
                if pending:  # cannot happen for a plan: dependencies come first
                    raise RuntimeError(f"jobs wait on dependencies that never finish: {pending}")
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job = running.pop(fut)
                try:
                    tally.add(fut.result())
                except BrokenProcessPool as e:
                    broken = True
                    tally.add(Outcome(job.id, "failed", reason=f"{job.label}: worker process "
                                      f"died ({type(e).__name__}); it is redone on the next run"))
                except Exception as e:  # run_one itself failed (a plugin, the store)
                    tally.add(Outcome(job.id, "failed", reason=f"{job.label}: {type(e).__name__}: {e}"))
            if broken:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _jobqueue_cluster(kind: str, workers: int | None):
    """A dask-jobqueue ``SLURMCluster`` / ``PBSCluster`` configured by dask's configuration
    (``~/.config/dask/jobqueue.yaml``, or ``DASK_JOBQUEUE__SLURM__CORES=...`` variables: cores,
    processes, memory, queue, account, walltime, job-script-prologue, ...; docs/scaling.md),
    scaled to ``workers`` worker processes (default: one batch job's worth). Its workers are
    batch jobs (``sbatch`` / ``qsub``) that run this Python."""
    import dask_jobqueue  # local: an optional extra ([cluster])

    make = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[kind]
    try:
        cluster = make()
    except ValueError as e:  # no cores / memory configured
        raise UserError(f"--cluster {kind}: {e}; set them in dask's jobqueue configuration "
                        f"(docs/scaling.md)") from None
    if workers is None:
        cluster.scale(jobs=1)
    else:
        cluster.scale(n=workers)
    return cluster


def _dask_client(scheduler: str | None, workers: int | None,
                 cluster_kind: str | None = None) -> tuple[object, Callable[[], None]]:
    """A connected ``distributed.Client`` and the function that closes it (and its cluster)."""
    import dask  # local: an optional extra ([dask]), as the next line
    from distributed import Client, LocalCluster  # local: an optional extra ([dask])

    if cluster_kind is not None:
        jq = _jobqueue_cluster(cluster_kind, workers)
        client = Client(jq)

        def close_jobqueue() -> None:  # cancels the batch jobs of the workers
            client.close()
            jq.close()
        return client, close_jobqueue
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as e:
            raise UserError(f"cannot reach the dask scheduler at {scheduler}: {e}") from None
        return client, client.close
    # the nannies start (and restart) their worker processes from the forkserver of `forkserver`
    # instead of spawning interpreters that import torch and kdbench each; set for the cluster's
    # lifetime, before distributed's first use of it would preload its own list instead
    forkserver("distributed")
    method = dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    try:
        # no dashboard; the scheduler's HTTP server (health, metrics) on a free port, not dask's
        # 8787, which another cluster may hold (dask then warns); not its shutdown chatter
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                               memory_limit=worker_memory_limit(), processes=True,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    except BaseException:
        method.__exit__(None, None, None)
        raise

    def close() -> None:
        try:
            client.close()
            cluster.close()
        finally:
            method.__exit__(None, None, None)
    return client, close


def _run_dask(jobs: list[Job], root: str, tally: _Tally, *, workers: int | None,
              scheduler: str | None, plugins: tuple[str, ...], env: dict[str, str],
              cluster: str | None = None, **_: object) -> None:
    """One task per job, keyed by the job id; a dependency is passed as its future, so the
    scheduler runs a job only after its dependencies and on any worker. A task that dask itself
    gives up on (its worker died too often, ``KilledWorker``) fails, and its dependants, which
    then fail with the same error, are reported as skipped."""
    from distributed import as_completed  # local: an optional extra ([dask])

    client, close = _dask_client(scheduler, workers, cluster)
    try:
        futures = {}
        for job in jobs:
            deps = [futures[d] for d in job.deps if d in futures]
            futures[job.id] = client.submit(run_one, job, root, False, *deps, plugins=plugins,
                                            env=env, key=job.id, pure=False)
        lost: dict[str, str] = {}
        for fut in as_completed(list(futures.values())):
            if fut.status == "finished":
                tally.add(fut.result())
            else:
                exc = fut.exception()
                lost[fut.key] = f"{type(exc).__name__}: {exc}"
        for job in jobs:  # dependency order: a failed dependency is known before its dependants
            if job.id in lost:
                if any(d.status in ("failed", "skipped") for d in tally.deps(job)):
                    tally.add(Outcome(job.id, "skipped"))
                else:
                    tally.add(Outcome(job.id, "failed", reason=f"{job.label}: dask task lost "
                                      f"({lost[job.id]}); it is redone on the next run"))
    finally:
        close()
