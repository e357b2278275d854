"""What a figure may draw: `FigureData`, the results of one suite read once (`figure_data`).

Every registered figure (`kdbench.report.figure_registry`) is a function of one `FigureData`.
``metrics`` holds the rows the figures draw (uncalibrated models and their compressed variants,
`kdbench.report.style.figure_models`), ``everything`` every row (the forest plot's
temperature-scaled comparisons use the post-hoc rows), ``key`` the shared visual key of
``metrics``' models.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..results_files import Results
from .style import Key, figure_models, make_key
from .tables import model_order


@dataclass(frozen=True)
class FigureData:
    """The inputs of every figure (module docstring)."""

    metrics: pd.DataFrame
    everything: pd.DataFrame
    key: Key
    reliability: pd.DataFrame
    histograms: pd.DataFrame
    risk_coverage: pd.DataFrame
    curves: pd.DataFrame
    paired_examples: pd.DataFrame | None
    severities: tuple[int, ...]


def severities(metrics: pd.DataFrame) -> list[int]:
    """The corruption severities present in the results, ascending."""
    return sorted(int(s) for s in metrics.loc[metrics.split == "corrupt", "severity"].unique())


def figure_data(results: Results) -> FigureData:
    """The `FigureData` of a results directory read with `kdbench.results_files.load_results`."""
    metrics = figure_models(results.metrics)
    return FigureData(metrics=metrics, everything=results.metrics,
                      key=make_key(metrics, model_order(metrics)),
                      reliability=results.reliability, histograms=results.histograms,
                      risk_coverage=results.risk_coverage,
                      curves=results.curves if results.curves is not None else pd.DataFrame(),
                      paired_examples=results.paired_examples,
                      severities=tuple(severities(metrics)))
