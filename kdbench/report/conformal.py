"""The conformal-prediction table of the report: coverage and mean set size of the 90% split
conformal sets per model (`conformal_table`)."""

from __future__ import annotations

import pandas as pd

from .tables import IntervalTable, interval_table

CONFORMAL_COLUMNS = [("lac", "LAC"), ("aps", "APS")]


def conformal_table(metrics: pd.DataFrame, order: list[str], score: str
                    ) -> tuple[IntervalTable | None, int | None]:
    """Coverage and mean set size of the 90% conformal sets of ``score`` (lac, aps) per model
    (rows) on the ID test split, the natural shift and the corrupted splits at the highest
    severity (mean over types per seed), mean over seeds with the t-interval
    (`kdbench.report.tables.interval_table`), and that severity; (None, None) without
    conformal rows."""
    sel = metrics[metrics.metric.str.startswith(("coverage_", "set_size_"))]
    if sel.empty:
        return None, None
    corr = sel[sel.split == "corrupt"]
    top = int(corr.severity.max()) if len(corr) else None
    parts = [("ID", sel[sel.split == "id"]), ("shift", sel[sel.split == "shift"])]
    if top is not None:
        parts.append((f"C sev {top}", corr[corr.severity == top]))
    frames, columns = [], []
    for where, part in parts:
        for kind, short in (("coverage", "cov"), ("set_size", "size")):
            col = f"{where} {short}"
            vals = part[part.metric == f"{kind}_{score}"]
            if vals.empty:
                continue
            columns.append(col)
            frames.append(vals.groupby(["model", "seed"])["value"].mean().rename(col))
    values = pd.concat([f.reset_index().assign(column=f.name).rename(columns={f.name: "value"})
                        for f in frames]).set_index(["model", "column", "seed"])["value"]
    rows = [m for m in order if m in set(sel.model)] + sorted(set(sel.model) - set(order))
    tab = interval_table(values, rows, columns)
    tab.mean.index.name = "model"
    return tab, top
