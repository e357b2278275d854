"""Command line: ``python -m kdbench {run, add-pair, leaderboard, list, figures, report, compare}``.

User mistakes (`UserError`) print one line ``kdbench: error: ...`` and exit with status 2; a
run in which some job failed exits with status 1 after finishing everything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from .errors import UserError


def _workdir(path: str) -> Path:
    wd = Path(path).resolve()
    try:
        wd.mkdir(parents=True, exist_ok=True)
        probe = wd / f".kdbench-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"work directory {wd} is not writable: {e.strerror}") from None
    return wd


def _data_dir(args: argparse.Namespace) -> None:
    """``--data-dir``: the root of the external data files, for this process and its workers."""
    if getattr(args, "data_dir", None):
        from .data.files import use_root

        use_root(args.data_dir)


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_suite
    from .data.splits import check_files

    _data_dir(args)
    suite = load_suite(args.suite, seeds=args.seeds)
    check_files(suite.data)
    return _run_and_report(suite, _workdir(args.workdir), args)


def _failure_summary(report) -> str:
    """'N job(s) failed, M skipped (failed: k evaluate, ...); first failure: <label: Error:
    message>'."""
    from collections import Counter

    kinds = Counter(job_id.split("-", 1)[0] for job_id in report.failed)
    first = next(iter(report.failed.values()), "none")
    return (f"{len(report.failed)} job(s) failed, {len(report.skipped)} skipped (failed: "
            + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
            + f"); first failure: {first}")


def _run_and_report(suite, wd: Path, args: argparse.Namespace, only: set[str] | None = None,
                    base=None) -> int:
    """Run the jobs of ``suite`` (or only the jobs of the models named in ``only`` and their
    dependencies), collect results, update the leaderboard, write the report. ``base``: the
    suite that ``suite`` extends (``add-pair``); results of other settings of it are refused
    unless ``--replace-results`` (`kdbench.collect.check_results_target`)."""
    from . import device as devices
    from .collect import check_results_target, suite_hash
    from .executor import check_options, run_jobs
    from .plan import plan
    from .store import RunStore, results_lock

    check_options(args.executor, args.workers, args.scheduler, args.cluster)
    device = devices.use(args.device)
    jobs, models = plan(suite)
    results = wd / "results" / suite.name
    base_hash = suite_hash(plan(base)[1]) if base is not None else suite_hash(models)
    check_results_target(results, base_hash, replace=args.replace_results)
    if only is not None:
        needed = {j for m in models if m.model in only or m.base_model in only  # + its variants
                  for j in (m.train_job, m.eval_job)}
        by_id = {j.id: j for j in jobs}
        stack = list(needed)
        while stack:
            for dep in by_id[stack.pop()].deps:
                if dep not in needed:
                    needed.add(dep)
                    stack.append(dep)
        jobs = [j for j in jobs if j.id in needed]
    print(f"kdbench: suite '{suite.name}' ({suite.path}), seeds {list(suite.seeds)}: "
          f"{len(jobs)} jobs, {len(models)} models on {device}; work directory {wd}")
    t0 = time.perf_counter()
    store = RunStore(wd / "runs")
    report = run_jobs(jobs, store, progress=not args.quiet, executor=args.executor,
                      workers=args.workers, scheduler=args.scheduler, plugins=args.plugin,
                      cluster=args.cluster)
    t1 = time.perf_counter()
    with results_lock(store):
        return _collect_and_report(suite, models, store, results, wd, report, args, base_hash,
                                   times=(t0, t1))


def _collect_and_report(suite, models, store, results: Path, wd: Path, report,
                        args: argparse.Namespace, base_hash: str, times: tuple[float, float]) -> int:
    """The second half of `_run_and_report`, under the work directory's results lock."""
    from .collect import check_results_target, collect
    from .report import write_report
    from .report.leaderboard import update_leaderboard

    t0, t1 = times
    check_results_target(results, base_hash, replace=args.replace_results)  # again, locked
    tables = collect(suite, models, store, results, base_hash=base_hash)
    if tables["metrics"].empty:  # every evaluate job failed or was skipped: nothing to report
        for reason in report.failed.values():
            print(f"kdbench: job failed: {reason}", file=sys.stderr)
        print(f"kdbench: no evaluate job finished, so there are no results, leaderboard or report; "
              f"{_failure_summary(report)}", file=sys.stderr)
        return 1
    board = update_leaderboard(wd, suite.name, results)
    t2 = time.perf_counter()
    path: Path | str = "not written (--no-report)"
    if not args.no_report:
        try:
            path = write_report(suite.name, results, wd / "reports" / suite.name,
                                failed=list(report.failed.values()), leaderboard=board,
                                formats=tuple(args.format))
        except UserError as e:
            if not report.failed:
                raise
            path = f"none ({e})"
    t3 = time.perf_counter()
    stages = {k.replace("_", " "): v for k, v in report.seconds.items()}
    stages.update({"collect": t2 - t1, "report": t3 - t2})
    print("time per stage: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
          + f"; total {t3 - t0:.1f}s ({len(report.ran)} jobs run, {len(report.cached)} from the store)")
    if report.per_worker and args.executor != "local":
        print(f"time per worker ({len(report.per_worker)}):\n{report.worker_summary()}")
    if report.failed:
        for reason in report.failed.values():
            print(f"kdbench: job failed: {reason}", file=sys.stderr)
        print(f"kdbench: {_failure_summary(report)}; the report marks their cells as missing: "
              f"{path}", file=sys.stderr)
        return 1
    print(f"kdbench: results in {results}; leaderboard: {wd / 'LEADERBOARD.md'}; report: {path}")
    return 0


def cmd_add_pair(args: argparse.Namespace) -> int:
    from .config import load_suite, with_pair
    from .data.splits import check_files

    _data_dir(args)
    suite, pair = with_pair(load_suite(args.suite, seeds=args.seeds), args.teacher,
                            args.student, args.method)
    check_files(suite.data)
    name = f"{pair.student}-{pair.method}" + (f"-{pair.teacher}" if pair.teacher else "")
    wd = _workdir(args.workdir)
    teacher_rows = {args.teacher}
    code = _run_and_report(suite, wd, args, only={name} | teacher_rows,
                           base=load_suite(args.suite, seeds=args.seeds))
    print(f"kdbench: pair '{name}' is on the leaderboard of suite '{suite.name}' "
          f"({wd / 'LEADERBOARD.md'})")
    return code


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .report.leaderboard import leaderboard_markdown
    from .results_files import read_leaderboard

    wd = Path(args.workdir).resolve()
    path = wd / "results" / "leaderboard.csv"
    if not path.exists():
        raise UserError(f"no leaderboard at {path}; run 'python -m kdbench run all' first")
    board = read_leaderboard(path)
    if args.suite:
        board = board[board.suite == args.suite]
    print(leaderboard_markdown(board, top=args.top))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .config import list_suites
    from .data import CORRUPTED_SETS, CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS
    from .distill import METHODS
    from .models import MODELS
    from .posthoc import CALIBRATORS
    from .teachers import TEACHERS

    sections = {"suite": ("suites", list_suites()), "dataset": ("datasets", DATASETS.names()),
                "shift": ("shift sets", SHIFT_SETS.names()), "ood": ("OOD sets", OOD_SETS.names()),
                "corruption": ("corruptions", CORRUPTIONS.names()),
                "corrupted": ("corrupted sets (read from files)",
                              [f"{n} ({len(CORRUPTED_SETS.get(n).types.names())} types)"
                               for n in CORRUPTED_SETS.names()]),
                "model": ("models (parameters for 10 classes)",
                          [_with_parameters(MODELS, n) for n in MODELS.names()]),
                "teacher": ("teacher kinds", TEACHERS.names()), "method": ("methods", METHODS.names()),
                "calibrator": ("post-hoc calibrators", CALIBRATORS.names())}
    for key, (title, names) in sections.items():
        if args.what in (None, key):
            print(f"{title}: {', '.join(names)}")
    return 0


def _with_parameters(models, name: str) -> str:
    """``name (N params)`` for a model built with its defaults (just the name if it cannot be)."""
    from .models.cnn import count_parameters

    try:
        return f"{name} ({count_parameters(models.create(name)):,})"
    except (TypeError, ValueError):
        return name


def cmd_figures(args: argparse.Namespace) -> int:
    from .config import check_name
    from .report.figures import write_figures

    name = check_name("suite", args.suite)
    wd = Path(args.workdir).resolve()
    start = time.perf_counter()
    files = write_figures(wd / "results" / name, wd / "reports" / name / "figures",
                          formats=tuple(args.format), allow_mixed_suites=args.allow_mixed_suites)
    print(f"kdbench: wrote {len(files)} figure files to {wd / 'reports' / name / 'figures'} "
          f"in {time.perf_counter() - start:.1f}s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .config import check_name
    from .report import write_report
    from .report.leaderboard import ranked_leaderboard

    name = check_name("suite", args.suite)
    wd = Path(args.workdir).resolve()
    results = wd / "results" / name
    # the leaderboard section of `run all`'s report (the board as `run all` ranks it; not written)
    board = ranked_leaderboard(wd, name, results) if results.is_dir() else None
    path = write_report(name, results, wd / "reports" / name,
                        allow_mixed_suites=args.allow_mixed_suites, formats=tuple(args.format),
                        leaderboard=board)
    print(f"kdbench: report: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, format_comparison

    result = compare(Path(args.a), Path(args.b), allow_mixed_suites=args.allow_mixed_suites)
    print(format_comparison(result))
    return 0 if result.all_agree else 1


def _executor_options(p: argparse.ArgumentParser) -> None:
    """--executor, --workers, --scheduler (see kdbench/executor.py and docs/scaling.md)."""
    p.add_argument("--executor", choices=["local", "processes", "dask"], default="local",
                   help="where jobs run: 'local' (this process, one job at a time; default), "
                   "'processes' (--workers processes on this machine) or 'dask' (a "
                   "dask.distributed cluster; needs the [dask] extra)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes for "
                   "'processes' and a local dask cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --executor dask: address of a "
                   "running dask scheduler, e.g. tcp://10.0.0.5:8786 (default: start a local "
                   "cluster); the work directory must be on a filesystem every worker shares")
    p.add_argument("--cluster", choices=["slurm", "pbs"], help="with --executor dask: start "
                   "a dask-jobqueue cluster whose --workers worker processes are batch jobs "
                   "(sbatch / qsub), configured by dask's jobqueue configuration; needs the "
                   "[cluster] extra (docs/scaling.md)")
    p.add_argument("--data-dir", metavar="DIR", help="root of the external data files (CIFAR-10, "
                   "CIFAR-100, SVHN, CIFAR-10-C, CIFAR-10.1; layouts in docs/data.md); default: "
                   "$KDBENCH_DATA, else ./data")
    p.add_argument("--replace-results", action="store_true", help="write over results/<suite> "
                   "that hold results of other settings of the suite (other seeds, sizes, "
                   "methods); refused by default")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where networks train and predict: 'auto' (cuda when torch sees one; "
                   "default), 'cpu' or 'cuda'; bf16 autocast for training on cuda")


_REPORT_FORMAT_HELP = ("figure files the report writes (default: png pdf); PNG always, as the report "
                  "shows it; figures of other formats in figures/ are removed")


def _format_option(p: argparse.ArgumentParser, text: str | None = None) -> None:
    """--format of the figure files (`kdbench.report.figures.write_figures`)."""
    p.add_argument("--format", nargs="+", default=["png", "pdf"], choices=["png", "pdf", "svg"],
                   help=text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kdbench", description=(
        "kdbench: how much of a teacher's uncertainty quality survives distillation."))
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first so that it can register models, methods, ...")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, evaluate, collect and report a suite",
                       description="Run a suite end to end; finished jobs come from runs/.")
    r.add_argument("target", choices=["all"], help="what to run: 'all' (train, evaluate, "
                   "collect results, write the report)")
    r.add_argument("--suite", default="mnist5k", help="built-in suite name or path to a "
                   "suite .toml (default: mnist5k; see 'list suites')")
    r.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default: the suite's)")
    r.add_argument("--workdir", default=".", help="directory for runs/, results/ and "
                   "reports/ (default: the current directory)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--no-report", action="store_true", help="stop after collecting results/ "
                   "(write the report later with 'report')")
    _format_option(r, _REPORT_FORMAT_HELP)
    _executor_options(r)
    r.set_defaults(func=cmd_run)

    a = sub.add_parser("add-pair", help="train, evaluate and rank one teacher/student/method pair",
                       description="Add one pair to a suite's leaderboard: trains only what is "
                       "missing, evaluates it, and inserts or updates its row. The student may be "
                       "any registered model and the method any registered method (e.g. from "
                       "--plugin).")
    a.add_argument("--suite", default="mnist5k")
    a.add_argument("--teacher", required=True, help="a teacher of the suite")
    a.add_argument("--student", required=True, help="a student of the suite or a registered model")
    a.add_argument("--method", required=True, help="a method of the suite or a registered method")
    a.add_argument("--seeds", type=int, nargs="+")
    a.add_argument("--workdir", default=".")
    a.add_argument("--quiet", action="store_true")
    a.add_argument("--no-report", action="store_true")
    _format_option(a, _REPORT_FORMAT_HELP)
    _executor_options(a)
    a.set_defaults(func=cmd_add_pair)

    lb = sub.add_parser("leaderboard", help="print the leaderboard (results/leaderboard.csv)",
                        description="Print the leaderboard as Markdown.")
    lb.add_argument("--suite", help="only this suite")
    lb.add_argument("--top", type=int, help="only the best N rows per suite")
    lb.add_argument("--workdir", default=".")
    lb.set_defaults(func=cmd_leaderboard)

    ls = sub.add_parser("list", help="list suites, datasets, corruptions, models, methods",
                        description="List what kdbench can run.")
    ls.add_argument("what", nargs="?", choices=["suite", "dataset", "shift", "ood", "corruption",
                                                  "corrupted", "model", "teacher", "method", "calibrator"],
                    help="only this kind")
    ls.set_defaults(func=cmd_list)

    f = sub.add_parser("figures", help="regenerate the figures from results/ (no training)",
                       description="Regenerate reports/<suite>/figures from results/<suite>.")
    f.add_argument("--suite", default="mnist5k")
    f.add_argument("--workdir", default=".")
    _format_option(f)
    f.add_argument("--allow-mixed-suites", action="store_true", help="draw results whose files "
                   "record different suite hashes (refused by default)")
    f.set_defaults(func=cmd_figures)

    rep = sub.add_parser("report", help="rewrite report.md and its figures from results/",
                         description="Regenerate reports/<suite>/ from results/<suite>.")
    rep.add_argument("--suite", default="mnist5k")
    rep.add_argument("--workdir", default=".")
    rep.add_argument("--allow-mixed-suites", action="store_true", help="report results whose "
                     "files record different suite hashes (refused by default)")
    _format_option(rep, _REPORT_FORMAT_HELP)
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser("compare", help="do two results directories of one suite agree?",
                         description="Compare the headline values (per model: ID accuracy, NLL, "
                         "ECE; corruption ECE; shift NLL; OOD AUROC (MSP)) of two results "
                         "directories: each mean over seeds must lie inside the other's 95%% "
                         "Student-t interval. Also says whether metrics.csv.gz is byte-identical. "
                         "Exit status 0 when every value agrees, 1 otherwise "
                         "(docs/reproducibility.md).")
    cmp.add_argument("a", metavar="A", help="a results directory, e.g. results/mnist5k")
    cmp.add_argument("b", metavar="B", help="another results directory of the same suite")
    cmp.add_argument("--allow-mixed-suites", action="store_true", help="compare results that "
                     "record different suite hashes (refused by default)")
    cmp.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from .registry import load_plugins

        load_plugins(args.plugin)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return args.func(args)
    except UserError as e:
        print(f"kdbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kdbench: interrupted; finished jobs are kept in runs/", file=sys.stderr)
        return 130
