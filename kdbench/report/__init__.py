"""The report: ``reports/<suite>/report.md``, a self-contained ``report.html``, the figures
and the tables (CSV + LaTeX) — from ``results/<suite>/`` alone.

Modules: `write` (`write_report`: the steps), `sections` (the report as its list of sections,
in reading order), `context` (what the sections read), `answer` (the first screen), `findings`,
`tables` and `stats` (every number and interval), `conformal`, `compression`, `figures` (every
figure, registered with its caption in `figure_registry`; inputs in `figure_data`), `style`
(the shared key and the panels of few curves), `document` (Markdown / HTML), `leaderboard`.
The results files' schema and reading: `kdbench.results_files`.
"""

from __future__ import annotations

import importlib
from typing import Any

# The names below are imported on first use (PEP 562), not with the package: a run with
# --no-report, or one that only updates the leaderboard (`leaderboard`), then never imports
# Matplotlib and the figures (about 0.5 s per process).
_WHERE = {"check_suite_hash": "kdbench.results_files", "read_results": "kdbench.results_files",
          "FigureData": "kdbench.report.figure_data", "caption": "kdbench.report.figure_registry",
          "register_figure": "kdbench.report.figure_registry",
          "undefined_notes": "kdbench.report.sections", "write_report": "kdbench.report.write"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kdbench.report' has no attribute '{name}'")
    if _WHERE[name].startswith("kdbench.report."):
        # the built-in figures first, so that a plugin's figures come after them (registration
        # order is drawing order)
        importlib.import_module("kdbench.report.figures")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
