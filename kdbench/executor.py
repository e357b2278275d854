"""Runs a plan's jobs in dependency order against the run store (the ``local`` executor).

A job whose completion marker checks out is skipped; otherwise it runs under its lock and is
marked done only after all its files are written. A job that raises is reported with its label
and reason, the jobs that depend on it are skipped, and the others go on; `run_jobs` returns
the failures so the CLI can exit non-zero. Time is summed per job kind for the closing summary.
"""

from __future__ import annotations

import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .jobs import RUNNERS
from .plan import Job
from .store import RunStore


@dataclass
class RunReport:
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)   # job id -> reason
    skipped: list[str] = field(default_factory=list)       # a dependency failed
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def run_jobs(jobs: list[Job], store: RunStore, *, progress: bool = True) -> RunReport:
    """Run every job not yet finished; dependencies come before dependants in ``jobs``."""
    report = RunReport()
    bad: set[str] = set()
    bar = tqdm(jobs, desc="jobs", unit="job", disable=not progress)
    for job in bar:
        bar.set_postfix_str(job.label[:50])
        if any(d in bad for d in job.deps):
            report.skipped.append(job.id)
            bad.add(job.id)
            continue
        if store.is_done(job.id):
            report.cached.append(job.id)
            continue
        with store.lock(job.id):
            if store.is_done(job.id):  # another process finished it while we waited
                report.cached.append(job.id)
                continue
            start = time.perf_counter()
            try:
                RUNNERS[job.kind](job, store, progress)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # a failed job must not stop the others
                report.failed[job.id] = f"{job.label}: {type(e).__name__}: {e}"
                bad.add(job.id)
                tqdm.write(f"FAILED {job.label} [{job.id}]: {type(e).__name__}: {e}")
                if progress:
                    tqdm.write("".join(traceback.format_exception(e)[-3:]))
                continue
            store.finish(job.id)
            report.seconds[job.kind] += time.perf_counter() - start
            report.ran.append(job.id)
    return report
