"""Tables from ``results/<suite>/``: summary, per-split, severity, OOD, retention, fidelity.

All aggregation is the mean over seeds (and, for "corrupt", first the mean over corruption
types and severities 1–5 within a seed). A missing cell (a failed job) stays NaN and prints
as "—". The ± of the summary table is the half-width of a 95% interval: across seeds a
t-interval of the seed means (two or more seeds); with one seed the bootstrap interval stored
with the metric (ID and shift cells of accuracy, NLL, Brier and ECE only).
"""

from __future__ import annotations

from pathlib import Path

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
HIGHER_IS_BETTER = ("acc", "auroc", "aupr", "agreement", "AUROC")

# retention: (split family, metric, label); ratio student / teacher
RETENTION_COLUMNS = [
    ("id", "ece", "ID ECE"), ("id", "nll", "ID NLL"), ("corrupt", "ece", "C ECE"),
    ("corrupt", "nll", "C NLL"), ("ood", "auroc_entropy", "OOD AUROC (H)"),
    ("ood", "auroc_mi", "OOD AUROC (MI)"),
]


def model_order(frame: pd.DataFrame) -> list[str]:
    """Teachers first, then students, each in first-appearance order of their teacher."""
    models = frame[["model", "role", "teacher"]].drop_duplicates("model")
    teachers = list(dict.fromkeys(models.loc[models.role == "teacher", "model"]))

    def key(row: pd.Series) -> tuple:
        t = teachers.index(row.teacher) if row.teacher in teachers else -1
        return (ORDER_ROLE.get(row.role, 2), t, row.model)
    return [r.model for _, r in sorted(models.iterrows(), key=lambda kv: key(kv[1]))]


def base_models(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows of uncalibrated models (post-hoc variants have their own table)."""
    if "posthoc" not in metrics.columns:
        return metrics
    return metrics[metrics.posthoc.astype(str) == "-"]


def posthoc_table(metrics: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """ECE and NLL on ID, corruptions (mean) and shift for every model and each of its
    post-hoc calibrated variants (rows ``model`` then ``model+calibrator``)."""
    if "posthoc" not in metrics.columns or (metrics.posthoc.astype(str) == "-").all():
        return pd.DataFrame()
    fam = family_mean(metrics)
    variants = metrics.loc[metrics.posthoc.astype(str) != "-", "posthoc"].unique()
    rows = []
    for m in order:
        for name in [m] + [f"{m}+{v}" for v in variants]:
            rows.append({"model": name, **{f"{label} {metric.upper()}": fam.get((name, split, metric), np.nan)
                                           for split, label in (("id", "ID"), ("corrupt", "C"), ("shift", "Shift"))
                                           for metric in ("ece", "nll")}})
    return pd.DataFrame(rows).set_index("model")


def split_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, model, split family, metric): the mean over the family's splits."""
    return (metrics.groupby(["seed", "model", "split", "metric"], sort=False)["value"]
            .mean().reset_index())


def family_mean(metrics: pd.DataFrame) -> pd.Series:
    """(model, split family, metric) -> mean over splits and seeds."""
    return split_means(metrics).groupby(["model", "split", "metric"])["value"].mean()


def summary_table(metrics: pd.DataFrame, order: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per model of ``order`` (default: those in ``metrics``): the headline metrics
    (mean over seeds) and their ± half-widths (NaN where there is none or the model failed)."""
    per = split_means(metrics).groupby(["model", "split", "metric"])["value"]
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


def split_table(metrics: pd.DataFrame, split: str, order: list[str],
                names: list[str] | None = None) -> pd.DataFrame:
    """Model x metric for one split family (mean over its splits and seeds)."""
    sel = metrics[metrics.split == split]
    tab = sel.groupby(["model", "metric"])["value"].mean().unstack("metric")
    cols = names or [c for c in ("accuracy", "nll", "brier", "ece", "adaptive_ece",
                                 "classwise_ece", "mce", "ece_debiased", "aurc", "augrc",
                                 "entropy", "expected_entropy", "mutual_information") if c in tab]
    return tab.reindex(order)[[c for c in cols if c in tab.columns]]


def severity_table(metrics: pd.DataFrame, metric: str, order: list[str] | None = None) -> pd.DataFrame:
    """Model x severity (0 = clean ID test) of ``metric``, mean over corruptions and seeds."""
    clean = metrics[(metrics.split == "id") & (metrics.metric == metric)]
    corr = metrics[(metrics.split == "corrupt") & (metrics.metric == metric)]
    rows = pd.concat([clean.assign(severity=0), corr])
    tab = rows.groupby(["model", "severity"])["value"].mean().unstack("severity")
    return tab.reindex(order or model_order(metrics))


def ood_table(metrics: pd.DataFrame, order: list[str], measure: str = "auroc") -> pd.DataFrame:
    """Model x (OOD set, score) of ``measure`` (auroc, aupr_out, aupr_in, fpr95)."""
    ood = metrics[(metrics.split == "ood") & metrics.metric.str.startswith(measure + "_")]
    ood = ood[~ood.metric.str.startswith("aupr_in") | (measure == "aupr_in")]
    tab = ood.groupby(["model", "dataset", "metric"])["value"].mean().unstack(["dataset", "metric"])
    tab.columns = [f"{d} {m.removeprefix(measure + '_')}" for d, m in tab.columns]
    return tab.reindex(order)[sorted(tab.columns)]


def retention_table(metrics: pd.DataFrame, fidelity: pd.DataFrame | None, order: list[str]) -> pd.DataFrame:
    """Per distilled student (and labels-only student vs each teacher): student / teacher for
    the `RETENTION_COLUMNS`, and fidelity (agreement, KL(teacher ‖ student)) on ID and shift."""
    fam = family_mean(metrics)
    ident = metrics[["model", "role", "teacher", "method"]].drop_duplicates("model").set_index("model")
    teachers = [m for m in order if m in ident.index and ident.at[m, "role"] == "teacher"]
    rows = []
    for s in order:
        if s not in ident.index or ident.at[s, "role"] != "student":
            continue
        refs = teachers if ident.at[s, "teacher"] == "-" else [ident.at[s, "teacher"]]
        for t in refs:
            row = {"student": s, "teacher": t, "method": ident.at[s, "method"]}
            for split, metric, label in RETENTION_COLUMNS:
                tv, sv = fam.get((t, split, metric), np.nan), fam.get((s, split, metric), np.nan)
                row[label] = sv / tv if tv else np.nan
            if fidelity is not None and not fidelity.empty:
                f = fidelity[(fidelity.model == s) & (fidelity.reference == t)]
                for split in ("id", "shift"):
                    for metric, label in (("agreement", "agree"), ("kl", "KL")):
                        v = f[(f.split == split) & (f.metric == metric)].value
                        row[f"{label} {split.upper() if split == 'id' else split}"] = v.mean() if len(v) else np.nan
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index(["student", "teacher"])


def format_cell(value: float, pm: float = np.nan, digits: int = 3) -> str:
    """'0.123 ± 0.004', '0.123', or '—' for a missing value."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "—"
    text = f"{value:.{digits}f}"
    return text if pd.isna(pm) else f"{text} ± {pm:.{digits}f}"


def display(df: pd.DataFrame, pm: pd.DataFrame | None = None, digits: int = 3) -> pd.DataFrame:
    """Format every cell as a string for the report (NaN -> '—', optional ± half-width)."""
    out = df.copy().astype(object)
    for c in df.columns:
        out[c] = [format_cell(v, np.nan if pm is None else pm.at[i, c], digits)
                  for i, v in df[c].items()]
    if isinstance(out.index, pd.MultiIndex):
        out.index = [" ← ".join(map(str, i)) for i in out.index]
        out.index.name = "student ← teacher"
    return out


def _better(column: str) -> str:
    return "max" if any(h in column for h in HIGHER_IS_BETTER) else "min"


def write_table(df: pd.DataFrame, out: Path, stem: str, *, caption: str, digits: int = 3) -> None:
    """``stem.csv`` (full precision) and ``stem.tex`` (booktabs, best value per column in
    bold — max for accuracy/AUROC/agreement, min otherwise —, LaTeX-escaped names)."""
    from ..store import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{stem}.csv", df.to_csv(float_format="%.6g"))
    num = df.select_dtypes("number")
    style = df.style.format(precision=digits, na_rep="--", escape="latex").format_index(escape="latex", axis=0)
    style = style.format_index(escape="latex", axis=1)
    for col in num.columns:
        if num[col].notna().any():
            how = _better(str(col))
            style = (style.highlight_max if how == "max" else style.highlight_min)(
                subset=[col], props="textbf:--rwrap;")
    tex = style.to_latex(hrules=True, caption=caption.replace("%", r"\%").replace("_", r"\_"),
                         label=f"tab:{stem.replace('_', '-')}", position="t",
                         column_format="l" * df.index.nlevels + "r" * len(df.columns))
    atomic_write_text(out / f"{stem}.tex", tex)
