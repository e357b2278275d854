"""Tables from ``results/<suite>/``: the summary table and per-split tables.

All aggregation is the mean over seeds (and, for "corrupt", first the mean over corruption
types and severities 1–5 within a seed). A missing cell (a failed job) stays NaN and prints
as "—". The ± of the summary table is the half-width of a 95% interval: across seeds a
t-interval of the seed means (two or more seeds); with one seed the bootstrap interval stored
with the metric (ID and shift cells of accuracy, NLL, Brier and ECE only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ORDER_ROLE = {"teacher": 0, "student": 1}

SUMMARY_COLUMNS = [
    ("id", "accuracy", "ID acc"), ("id", "nll", "ID NLL"), ("id", "brier", "ID Brier"),
    ("id", "ece", "ID ECE"),
    ("corrupt", "accuracy", "C acc"), ("corrupt", "nll", "C NLL"), ("corrupt", "ece", "C ECE"),
    ("shift", "accuracy", "Shift acc"), ("shift", "nll", "Shift NLL"), ("shift", "ece", "Shift ECE"),
    ("ood", "auroc_entropy", "OOD AUROC (H)"), ("ood", "auroc_mi", "OOD AUROC (MI)"),
]


def model_order(metrics: pd.DataFrame) -> list[str]:
    """Teachers first, then students, each in first-appearance order of their teacher."""
    models = metrics[["model", "role", "teacher"]].drop_duplicates("model")
    teachers = list(dict.fromkeys(models.loc[models.role == "teacher", "model"]))
    def key(row: pd.Series) -> tuple:
        t = teachers.index(row.teacher) if row.teacher in teachers else -1
        return (ORDER_ROLE.get(row.role, 2), t, row.model)
    return [r.model for _, r in sorted(models.iterrows(), key=lambda kv: key(kv[1]))]


def split_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, model, split family, metric): the mean over the family's splits."""
    return (metrics.groupby(["seed", "model", "split", "metric"], sort=False)["value"]
            .mean().reset_index())


def summary_table(metrics: pd.DataFrame, order: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per model of ``order`` (default: those in ``metrics``): the headline metrics
    (mean over seeds) and their ± half-widths (NaN where there is none or the model failed)."""
    fam = split_means(metrics)
    per = fam.groupby(["model", "split", "metric"])["value"]
    mean, n, sd = per.mean(), per.count(), per.std()
    boot = pd.Series(dtype=float)
    if {"ci_low", "ci_high"} <= set(metrics.columns):
        half = metrics.assign(h=(metrics.ci_high - metrics.ci_low) / 2)
        boot = half.groupby(["model", "split", "metric"])["h"].mean()
    order = order or model_order(metrics)
    values = pd.DataFrame(index=pd.Index(order, name="model"))
    pm = pd.DataFrame(index=values.index)
    for split, metric, label in SUMMARY_COLUMNS:
        values[label] = [mean.get((m, split, metric), np.nan) for m in order]
        col = []
        for m in order:
            key = (m, split, metric)
            k = int(n.get(key, 0))
            if k >= 2:
                col.append(stats.t.ppf(0.975, k - 1) * sd[key] / np.sqrt(k))
            elif k == 1 and split in ("id", "shift"):
                col.append(boot.get(key, np.nan))
            else:
                col.append(np.nan)
        pm[label] = col
    return values, pm


def severity_table(metrics: pd.DataFrame, metric: str, order: list[str] | None = None) -> pd.DataFrame:
    """Model x severity (0 = clean ID test) of ``metric``, mean over corruptions and seeds."""
    clean = metrics[(metrics.split == "id") & (metrics.metric == metric)]
    corr = metrics[(metrics.split == "corrupt") & (metrics.metric == metric)]
    rows = pd.concat([clean.assign(severity=0), corr])
    tab = rows.groupby(["model", "severity"])["value"].mean().unstack("severity")
    return tab.reindex(order or model_order(metrics))


def format_cell(value: float, pm: float = np.nan, digits: int = 3) -> str:
    """'0.123 ± 0.004', '0.123', or '—' for a missing value."""
    if pd.isna(value):
        return "—"
    if isinstance(value, (float, np.floating)):
        text = f"{value:.{digits}f}"
        return text if pd.isna(pm) else f"{text} ± {pm:.{digits}f}"
    return str(value)


def markdown_table(df: pd.DataFrame, pm: pd.DataFrame | None = None, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table; NaN prints as '—', ``pm`` adds '± half-width'."""
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(df.columns)) + "|"]
    for idx, row in df.iterrows():
        cells = [format_cell(v, np.nan if pm is None else pm.at[idx, c], digits)
                 for c, v in row.items()]
        lines.append("| " + " | ".join([str(idx)] + cells) + " |")
    return "\n".join(lines)
