import os
from pathlib import Path

# One BLAS / OpenMP thread in every process of the tests (this one, the xdist workers, the
# kdbench processes they start), set before numpy and torch load: a job has one torch thread
# (kdbench/executor.py JOB_THREADS), but numpy's and scipy's OpenBLAS would start one thread per
# core in each of the two workers' processes and spin them against each other.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

# same examples on every run: a CI failure can be reproduced
settings.register_profile("kdbench", derandomize=True)
settings.load_profile("kdbench")

torch.set_num_threads(1)
os.environ.setdefault("KDBENCH_TEST", "1")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


def random_probs(rng, n, k, sharp=3.0):
    import numpy as np

    logits = rng.normal(size=(n, k)) * sharp
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


# tests/suites/tiny.toml: every job kind in a few seconds, for the run machinery (executors,
# killed and concurrent runs, failing jobs); the smoke suite runs once, in the `smoke` fixture
TINY = Path(__file__).resolve().parent / "suites" / "tiny.toml"


def tiny_suite(*edits: tuple[str, str]) -> str:
    """tests/suites/tiny.toml's text with each ``(old, new)`` replaced; an ``old`` it does not
    contain fails the test (a stale edit would silently test the unedited suite)."""
    text = TINY.read_text()
    for old, new in edits:
        assert old in text, f"tests/suites/tiny.toml has no {old!r}"
        text = text.replace(old, new)
    return text


def tiny_with_method(name: str, method: str, kind: str) -> str:
    """The tiny suite renamed ``name``, with one more student: method ``method`` of kind
    ``kind`` (a test plugin's), from its teacher."""
    return tiny_suite(('name = "tiny"', f'name = "{name}"'),
                      ("[methods.none]", f'[methods.none]\n\n[methods.{method}]\nkind = "{kind}"'),
                      ('methods = ["none", "kd", "end2"]', f'methods = ["none", "kd", "end2", "{method}"]'))


# Tests that use one of these session fixtures form one xdist group each (``-n 2 --dist
# loadgroup``, pyproject.toml), so each run is computed once, on one worker, not once per worker.
SHARED_RUNS = ("smoke", "tiny_run")
# xdist 3.8 groups tests by a suffix it appends to ``item._nodeid``, which pytest 9.2 no longer
# reads (``Node.nodeid`` comes from ``_id``), so ``xdist_group`` marks alone no longer group
# anything there. The workers therefore also write {test id: group} to this file and the
# controller's scheduler (`pytest_xdist_make_scheduler` below) reads the groups from it.
GROUPS_ENV = "KDBENCH_TEST_XDIST_GROUPS"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    # xdist hands out the groups first (largest first), then single tests in collection order:
    # a long single test at the end of that order would run alone while the other worker
    # idles, so the tests marked `early` go first
    items.sort(key=lambda item: item.get_closest_marker("early") is None)  # stable
    groups = {}
    for item in items:
        for name in SHARED_RUNS:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(name))
                break
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                 for m in item.iter_markers("xdist_group")}
        if names:  # as xdist names a group
            groups[item.nodeid] = "_".join(sorted(names))
    path = os.environ.get(GROUPS_ENV)
    if path and hasattr(config, "workerinput"):  # an xdist worker: tell the controller
        import json

        tmp = f"{path}.{config.workerinput['workerid']}"
        Path(tmp).write_text(json.dumps(groups))
        os.replace(tmp, path)  # every worker collects the same tests: same contents


def pytest_configure(config):
    if not hasattr(config, "workerinput") and config.pluginmanager.hasplugin("xdist"):
        import tempfile

        folder = tempfile.mkdtemp(prefix="kdbench-xdist-")
        config._kdbench_groups_dir = folder
        os.environ[GROUPS_ENV] = os.path.join(folder, "groups.json")  # inherited by the workers


def pytest_unconfigure(config):
    folder = getattr(config, "_kdbench_groups_dir", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(GROUPS_ENV, None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups of SHARED_RUNS (see GROUPS_ENV)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    import json

    from xdist.scheduler import LoadGroupScheduling

    class SharedRunScheduling(LoadGroupScheduling):
        groups: dict | None = None

        def _split_scope(self, nodeid):
            if self.groups is None:  # read once the workers have collected, at scheduling
                path = Path(os.environ.get(GROUPS_ENV, ""))
                self.groups = json.loads(path.read_text()) if path.is_file() else {}
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

    return SharedRunScheduling(config, log)


def run_counts(stdout: str) -> tuple[int, int]:
    """(jobs run, jobs from the store) from the closing line of ``run all``."""
    import re

    m = re.search(r"\((\d+) jobs run, (\d+) from the store\)", stdout)
    return int(m.group(1)), int(m.group(2))


def run_cli(*argv: str) -> tuple[int, str, str]:
    """kdbench's command line in this process (no interpreter to start, no torch to import
    again): (exit code, stdout, stderr)."""
    import contextlib
    import io

    from kdbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One run of tests/suites/tiny.toml through the CLI (no report): its work directory, the
    reference bytes of the machinery tests, which compare runs in fresh processes with it.
    Read it only; copy it to change it."""
    wd = tmp_path_factory.mktemp("tiny")
    code, _, err = run_cli("run", "all", "--suite", str(TINY), "--workdir", str(wd), "--quiet",
                           "--no-report")
    assert code == 0, err
    return wd


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One real smoke-suite run through the CLI, shared by the pipeline and report tests:
    (work directory, stdout). Its report draws PNGs only (``--format png``; the PDFs, half of
    a report's drawing time, are checked on the tiny suite's report: tests/test_report.py)."""
    wd = tmp_path_factory.mktemp("smoke")
    code, out, err = run_cli("run", "all", "--suite", "smoke", "--workdir", str(wd), "--quiet",
                             "--format", "png")
    assert code == 0, err
    return wd, out


@pytest.fixture
def no_figures(monkeypatch):
    """Reports written without their figures, for tests of what a report *says* (failed jobs,
    variants not built, the suite-hash check): drawing every figure costs seconds per report,
    and the figures are the subject of tests/test_report.py and tests/test_figures.py. The
    report then places no figure, as it does for a figure with nothing to draw."""
    from kdbench.report import write

    monkeypatch.setattr(write, "write_figures", lambda *args, **kwargs: [])
