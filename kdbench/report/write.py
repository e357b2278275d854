"""`write_report`: ``reports/<suite>/report.md``, a self-contained ``report.html``, the figures
and the tables (CSV + LaTeX) — from ``results/<suite>/`` alone.

The steps: read the results once (`kdbench.results_files.load_results`), draw every registered
figure (`kdbench.report.figures.write_figures`), build the one `ReportContext`, run the
sections of `kdbench.report.sections.SECTIONS` in reading order, render Markdown and HTML
(`kdbench.report.document`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..results_files import load_results
from ..store import atomic_write_text
from .context import report_context
from .document import Block, to_html, to_markdown
from .figure_data import figure_data
from .figures import write_figures
from .sections import SECTIONS


def write_report(suite: str, results: Path, out: Path, *, failed: list[str] | None = None,
                 leaderboard: pd.DataFrame | None = None, allow_mixed_suites: bool = False,
                 formats: tuple[str, ...] = ("png", "pdf")) -> Path:
    """Write ``report.md``, ``report.html``, ``figures/`` and ``tables/`` under ``out``;
    returns the Markdown report's path. Refuses results of mixed suite hashes
    (`kdbench.results_files.check_suite_hash`) unless ``allow_mixed_suites``. ``formats``:
    the figure files written, PNG always (the report shows it); figure files of other formats
    are removed, so ``figures/`` holds this report's figures and no older ones."""
    if not results.is_dir():
        raise UserError(f"no results for suite '{suite}' in {results}; run "
                        f"'python -m kdbench run all --suite {suite}' first")
    res = load_results(results, allow_mixed_suites=allow_mixed_suites)
    written = write_figures(res, out / "figures", formats=tuple(dict.fromkeys(("png", *formats))),
                            remove_other_formats=True)
    pngs = {p.stem: p for p in written if p.suffix == ".png"}
    ctx = report_context(suite, res, figure_data(res), out, pngs, failed=failed,
                         leaderboard=leaderboard)
    blocks: list[Block] = [b for section in SECTIONS for b in section(ctx)]
    md = out / "report.md"
    atomic_write_text(md, to_markdown(blocks, out))
    atomic_write_text(out / "report.html", to_html(blocks, f"kdbench report — {suite}"))
    return md
