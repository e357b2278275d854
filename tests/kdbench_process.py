"""kdbench in a process of its own that starts in milliseconds: forked from a multiprocessing
forkserver that has imported kdbench, torch and torch._dynamo once per test process, instead
of a fresh interpreter that spends about 5 s importing them before its first job.

For the tests that kill a run, run two at once, hold a lock against one or give one an
environment of its own (tests/test_reliability.py, tests/test_cluster.py,
tests/test_shared_state.py, tests/test_slurm.py): what they check (the run store's files
after a SIGKILL, locks between processes, workers and clients that die, dask's configuration
from the environment) is the same in a forked process. A run in a fresh interpreter, as a user
starts it, is still what ``test_same_seed_same_bytes_in_a_fresh_workdir`` and
tests/test_user_model.py's example script run.

The forkserver is the one kdbench's executors use (`kdbench.executor.forkserver`: one per test
process, started by whichever comes first, its imports then fixed): a child imports what the
server has not."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kdbench.executor import forkserver

# beside the executors' own (kdbench.executor.PRELOAD): what a whole run and this module need
PRELOAD = ("kdbench.cli", "kdbench.collect", "kdbench.report", "kdbench_process")


def _child(fn: Callable[..., int | None], args: tuple, out: str, err: str,
           env: dict[str, str]) -> None:
    os.environ.update(env)
    with open(out, "w") as o, open(err, "w") as e, contextlib.redirect_stdout(o), \
            contextlib.redirect_stderr(e):
        code = fn(*args)
    sys.exit(code or 0)


def cli(*argv: str) -> int:
    """``kdbench ARGV``'s exit status (the child's body for `start`)."""
    from kdbench.cli import main

    return main(list(argv))


@dataclass
class Run:
    """A started child: ``process`` (a `multiprocessing.Process`), its stdout and stderr
    files."""
    process: multiprocessing.process.BaseProcess
    out: Path
    err: Path

    def running(self) -> bool:
        return self.process.exitcode is None

    def kill(self) -> None:
        """SIGKILL, and wait for it to die."""
        self.process.kill()
        self.process.join(30)

    def wait(self, timeout: float = 300) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) once it ends; a child still running after
        ``timeout`` seconds is killed and fails the test."""
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.kill()
            raise AssertionError(f"still running after {timeout} s: {self.err.read_text()[-2000:]}")
        return self.process.exitcode, self.out.read_text(), self.err.read_text()


def start(logs: Path, *argv: str, fn: Callable[..., int | None] = cli,
          env: dict[str, str] | None = None) -> Run:
    """``fn(*argv)`` (by default ``kdbench ARGV``) in a forked child, with ``env`` added to
    its environment; its stdout and stderr go to files under ``logs`` (a folder made here).
    ``fn`` must be a module-level function (the child imports it by name)."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.out")))
    out, err = logs / f"{n}.out", logs / f"{n}.err"
    out.touch(exist_ok=False)  # here, not in the child: the next start takes the next number
    err.touch(exist_ok=False)
    proc = forkserver(*PRELOAD).Process(target=_child,
                                        args=(fn, argv, str(out), str(err), env or {}))
    proc.start()
    return Run(proc, out, err)
