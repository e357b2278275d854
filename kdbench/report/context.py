"""What every section of the report reads: `ReportContext`, built once from the results
(`report_context`). Sections (`kdbench.report.sections`) are functions of it and return their
blocks; they write their CSV/LaTeX tables under ``tables_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..results_files import Results
from .answer import answer_pairs, answer_students
from .figure_data import FigureData
from .style import Key
from .tables import NOT_CONVERGED, base_models, convergence_flags, model_order


@dataclass(frozen=True)
class ReportContext:
    """One suite's results and what the sections share: ``everything`` (every metrics row,
    post-hoc and compressed variants included), ``metrics`` (uncalibrated models), ``order``
    (the models of the tables: teachers first, no variants), ``key`` (the figures' key),
    ``figures`` (stem -> PNG written), ``flags`` / ``mark`` (models that did not converge),
    ``students`` / ``pairs`` / ``row_of`` (the answer table's rows, comparisons and row
    numbers)."""

    suite: str
    results: Results
    out: Path
    tables_dir: Path
    figures: dict[str, Path]
    everything: pd.DataFrame
    metrics: pd.DataFrame
    order: list[str]
    key: Key
    flags: dict[str, list[int]]
    mark: dict[str, str]
    failed: list[str]
    missing: list[str]
    leaderboard: pd.DataFrame | None
    students: list[str]
    pairs: pd.DataFrame
    row_of: dict[str, int]

    @property
    def models_info(self) -> pd.DataFrame:
        return self.results.models

    @property
    def info(self) -> dict:
        return self.results.info

    @property
    def examples(self) -> pd.DataFrame | None:
        return self.results.paired_examples

    @property
    def n_seeds(self) -> int:
        return int(self.metrics.seed.nunique())

    @property
    def n_corr(self) -> int:
        return int(self.metrics[self.metrics.split == "corrupt"].dataset.nunique())

    @property
    def flag_note(self) -> str:
        return (f" {NOT_CONVERGED}: did not converge in at least one seed (see Training and "
                "convergence)." if self.flags else "")

    @property
    def teachers(self) -> list[str]:
        ident = self.metrics.drop_duplicates("model").set_index("model")
        return [m for m in self.order if m in ident.index and ident.at[m, "role"] == "teacher"]


def report_context(suite: str, results: Results, data: FigureData, out: Path,
                   figures: dict[str, Path], *, failed: list[str] | None = None,
                   leaderboard: pd.DataFrame | None = None) -> ReportContext:
    """The `ReportContext` of ``results`` (read with `kdbench.results_files.load_results`) and
    its figure data, the figures written under ``out / "figures"``."""
    everything = results.metrics
    metrics = base_models(everything)
    models_info = results.models
    order = model_order(pd.concat([models_info, metrics]) if not models_info.empty else metrics)
    # post-hoc and compressed variants have sections of their own, not rows of "—" here
    variants = (set(everything.loc[everything.posthoc.astype(str) != "-", "model"])
                if "posthoc" in everything.columns else set())
    order = [m for m in order if m not in variants]
    missing = (list(models_info.loc[models_info.status != "ok", "model"].unique())
               if "status" in models_info else [])
    flags = convergence_flags(models_info)
    students = answer_students(data.key)
    pairs = answer_pairs(everything, students, results.paired_examples)
    shown = [s for s in students if s in set(pairs.student)] if len(pairs) else []
    return ReportContext(suite=suite, results=results, out=out, tables_dir=out / "tables",
                         figures=figures, everything=everything, metrics=metrics, order=order,
                         key=data.key, flags=flags, mark={m: NOT_CONVERGED for m in flags},
                         failed=list(failed or []), missing=missing, leaderboard=leaderboard,
                         students=shown, pairs=pairs,
                         row_of={s: i + 1 for i, s in enumerate(shown)})
