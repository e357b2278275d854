"""Tables from ``results/<suite>/``: the summary table and per-split tables.

All aggregation is the mean over seeds (and, for "corrupt", first the mean over corruption
types and severities 1–5 within a seed). A missing cell (a failed job) stays NaN and prints
as "—".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model: the headline metrics, mean over seeds (NaN where missing)."""
    per = split_means(metrics).groupby(["model", "split", "metric"])["value"].mean()
    order = model_order(metrics)
    out = pd.DataFrame(index=pd.Index(order, name="model"))
    for split, metric, label in SUMMARY_COLUMNS:
        out[label] = [per.get((m, split, metric), np.nan) for m in order]
    return out


def severity_table(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Model x severity (0 = clean ID test) of ``metric``, mean over corruptions and seeds."""
    clean = metrics[(metrics.split == "id") & (metrics.metric == metric)]
    corr = metrics[(metrics.split == "corrupt") & (metrics.metric == metric)]
    rows = pd.concat([clean.assign(severity=0), corr])
    tab = rows.groupby(["model", "severity"])["value"].mean().unstack("severity")
    return tab.reindex(model_order(metrics))


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table; NaN prints as '—'."""
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(df.columns)) + "|"]
    for idx, row in df.iterrows():
        cells = ["—" if pd.isna(v) else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))
                 for v in row]
        lines.append("| " + " | ".join([str(idx)] + cells) + " |")
    return "\n".join(lines)
