"""The report: ``reports/<suite>/report.md`` and its figures, from ``results/<suite>/`` alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..store import atomic_write_text
from .figures import write_figures
from .tables import markdown_table, model_order, severity_table, summary_table

CONVENTIONS = (
    "Conventions: probabilities are the model's predictive mean (ensemble / MC-dropout "
    "samples averaged); natural log, entropies in nats; NLL clamps p at 1e-12; Brier is the "
    "sum over classes (range 0–2; Ovadia et al. 2019 report ours − 1); ECE is top-label with 15 "
    "equal-width bins (lo, hi] weighted by bin size (Guo et al. 2017); OOD AUROC treats OOD as "
    "the positive class, scored by predictive entropy (H) or mutual information (MI). "
    "\"C\" columns average the corruption types at severities 1–5. Values are means over seeds."
)


def _ood_table(metrics: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    ood = metrics[(metrics.split == "ood") & metrics.metric.str.startswith("auroc_")]
    tab = ood.groupby(["model", "dataset", "metric"])["value"].mean().unstack(["dataset", "metric"])
    tab.columns = [f"{d} {m.removeprefix('auroc_')}" for d, m in tab.columns]
    return tab.reindex(order)[sorted(tab.columns)]


REQUIRED = {
    "metrics.csv": ["seed", "model", "role", "teacher", "method", "student", "split", "dataset",
                    "severity", "metric", "value"],
    "reliability.csv": ["seed", "model", "split", "dataset", "severity", "bin", "lo", "hi",
                        "count", "confidence", "accuracy"],
    "histograms.csv": ["seed", "model", "split", "dataset", "severity", "quantity", "bin", "lo",
                       "hi", "count"],
}


def read_results(path: Path) -> pd.DataFrame:
    """A results CSV with its required columns checked; an empty file (every job failed)
    gives an empty frame. `UserError` names a missing file or missing columns."""
    if not path.exists():
        raise UserError(f"results file {path} is missing; run 'python -m kdbench run all' "
                        "for this suite first")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=REQUIRED.get(path.name, []))
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserError(f"results file {path} is not valid CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in REQUIRED.get(path.name, []) if c not in df.columns]
    if missing:
        raise UserError(f"results file {path} lacks column(s) {', '.join(missing)}; expected "
                        f"{', '.join(REQUIRED[path.name])} — regenerate it with 'run all'")
    return df


def write_report(suite: str, results: Path, out: Path, *, failed: list[str] | None = None) -> Path:
    """Write ``out/report.md`` and ``out/figures/`` from ``results``; returns the report path."""
    if not results.is_dir():
        raise UserError(f"no results for suite '{suite}' in {results}; run "
                        f"'python -m kdbench run all --suite {suite}' first")
    metrics = read_results(results / "metrics.csv")
    if metrics.empty:
        raise UserError(f"{results / 'metrics.csv'} has no rows: every job of suite '{suite}' failed")
    info = json.loads((results / "run_info.json").read_text()) if (results / "run_info.json").exists() else {}
    models_info = pd.read_csv(results / "models.csv") if (results / "models.csv").exists() else pd.DataFrame()
    write_figures(results, out / "figures", formats=("png", "pdf"))
    n_corr = metrics[metrics.split == "corrupt"].dataset.nunique()
    lines = [f"# kdbench report — suite `{suite}`", ""]
    if info:
        secs = info.get("compute_seconds", {})
        lines += [info.get("description", ""), "",
                  f"Seeds {info.get('seeds')}; kdbench {info.get('kdbench')}, torch {info.get('torch')}, "
                  f"Python {info.get('python')}, device {info.get('device')} ({info.get('threads')} threads). "
                  "Compute time: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in secs.items()) + ".", ""]
    if failed:
        lines += ["**Failed jobs** (their cells show —):", ""] + [f"- {f}" for f in failed] + [""]
    order = model_order(pd.concat([models_info, metrics]) if not models_info.empty else metrics)
    missing = (list(models_info.loc[models_info.status != "ok", "model"].unique())
               if "status" in models_info else [])
    if missing and not failed:
        lines += [f"**Missing results** for {', '.join(missing)} (a job failed or did not run; "
                  "their cells show —).", ""]
    values, pm = summary_table(metrics, order)
    n_seeds = metrics.seed.nunique()
    spread = ("± is the half-width of a 95% t-interval across the "
              f"{n_seeds} seeds." if n_seeds > 1 else "With one seed, ± is the half-width of the "
              "95% bootstrap interval over test examples (ID and shift columns).")
    lines += ["## Summary", "", CONVENTIONS + " " + spread, "", markdown_table(values, pm), ""]
    if not models_info.empty:
        mi = (models_info.groupby("model")[["parameters", "train_seconds"]].mean()
              .reindex(model_order(metrics)))
        mi["parameters"] = mi["parameters"].map(lambda v: "—" if pd.isna(v) else f"{int(v):,}")
        mi["train_seconds"] = mi["train_seconds"].map(lambda v: "—" if pd.isna(v) else f"{v:.0f}")
        lines += ["## Models", "", "Parameters (per member) and training time in seconds "
                  "(all members).", "", markdown_table(mi), ""]
    for metric, title in [("accuracy", "Accuracy"), ("ece", "ECE"), ("nll", "NLL")]:
        lines += [f"## {title} vs corruption severity", "",
                  f"Mean over {n_corr} corruption types; severity 0 is the clean ID test split.", "",
                  markdown_table(severity_table(metrics, metric, order).rename(columns=str)), ""]
    lines += ["## OOD detection (AUROC)", "", "Per OOD set and score: `msp` = 1 − max probability, "
              "`entropy` = predictive entropy, `mi` = mutual information (models with samples only).",
              "", markdown_table(_ood_table(metrics, order)), ""]
    figures = [
        ("reliability", "Reliability diagrams. Columns: models; rows: ID test, natural shift, and "
         f"corrupted splits at severity 3 and 5 pooled over the {n_corr} corruption types. Blue bars: "
         "accuracy per confidence bin (15 equal-width bins); red: the gap to the diagonal. Panel "
         "title: ECE of the pooled bins."),
        ("metric_vs_severity", "Accuracy, ECE, NLL and Brier against corruption severity, mean over "
         "corruption types; teachers solid, students dashed."),
        ("entropy_id_vs_ood", "Density of predictive entropy (nats, log scale) on the ID test split, "
         "the natural-shift split and each OOD set. Good OOD detection = OOD mass far right of ID."),
    ]
    for stem, caption in figures:
        lines += [f"## Figure: {stem.replace('_', ' ')}", "", f"![{stem}](figures/{stem}.png)", "",
                  f"*{caption}*", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
