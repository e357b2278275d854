"""The report: ``reports/<suite>/report.md``, a self-contained ``report.html``, the figures
and the tables (CSV + LaTeX) — from ``results/<suite>/`` alone.

Modules: `write` (`write_report`: the steps), `sections` (the report as its list of sections,
in reading order), `context` (what the sections read), `answer` (the first screen), `findings`,
`tables` and `stats` (every number and interval), `conformal`, `compression`, `figures` (every
figure, registered with its caption in `figure_registry`; inputs in `figure_data`), `style`
(the shared key and the panels of few curves), `document` (Markdown / HTML), `leaderboard`.
The results files' schema and reading: `kdbench.results_files`.
"""

from ..results_files import check_suite_hash, read_results
from .figure_data import FigureData
from .figure_registry import caption, register_figure
from .sections import undefined_notes
from .write import write_report

__all__ = ["FigureData", "caption", "check_suite_hash", "read_results", "register_figure",
           "undefined_notes", "write_report"]
