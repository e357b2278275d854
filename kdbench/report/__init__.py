"""The report: ``reports/<suite>/report.md``, a self-contained ``report.html``, the figures
and the tables (CSV + LaTeX) — from ``results/<suite>/`` alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..store import atomic_write_text
from .document import Block, Bullets, Figure, Heading, Paragraph, Table, to_html, to_markdown
from .figures import write_figures
from .findings import findings
from .tables import (base_models, display, model_order, ood_table, posthoc_table,
                     retention_table, severity_table, split_table, summary_table, write_table)

REQUIRED = {
    "metrics.csv": ["seed", "model", "role", "teacher", "method", "student", "split", "dataset",
                    "severity", "metric", "value"],
    "reliability.csv": ["seed", "model", "split", "dataset", "severity", "bin", "lo", "hi",
                        "count", "confidence", "accuracy"],
    "histograms.csv": ["seed", "model", "split", "dataset", "severity", "quantity", "bin", "lo",
                       "hi", "count"],
    "risk_coverage.csv": ["seed", "model", "split", "dataset", "severity", "coverage", "risk"],
}

CONVENTIONS = (
    "Conventions: probabilities are the model's predictive mean (ensemble / MC-dropout "
    "samples averaged); natural log, entropies in nats; NLL clamps p at 1e-12; Brier is the "
    "sum over classes (range 0–2; Ovadia et al. 2019 report ours − 1); ECE is top-label with 15 "
    "equal-width bins (lo, hi] weighted by bin size (Guo et al. 2017); OOD AUROC treats OOD as "
    "the positive class, scored by predictive entropy (H) or mutual information (MI), mean over "
    "the OOD sets. \"C\" columns average the corruption types at severities 1–5. Values are "
    "means over seeds."
)

CAPTIONS = {
    "reliability": "Reliability diagrams. Columns: models; rows: ID test, natural shift, and the "
    "corrupted splits at severity 3 and 5 pooled over all corruption types. Blue bars: accuracy "
    "per confidence bin (15 equal-width bins, right-closed); red: the gap to the diagonal "
    "(above the bar = over-confident). Grey bars beneath: share of examples per bin (log scale). "
    "Title: ECE of the pooled bins.",
    "metric_vs_severity": "Accuracy, ECE, NLL and Brier against corruption severity, as in Ovadia "
    "et al. 2019 (Fig. 2): each box summarises the corruption types at that severity (median, "
    "quartiles, whiskers at 1.5 IQR); 'clean' is the ID test split. One colour per model.",
    "ece_by_corruption_sev3": "ECE per corruption type and model at severity 3 (darker = worse).",
    "ece_by_corruption_sev5": "ECE per corruption type and model at severity 5 (darker = worse).",
    "ood_entropy": "Density of predictive entropy (nats, log scale) on the ID test split, the "
    "natural-shift split and each OOD set. Good OOD detection puts OOD mass right of ID.",
    "ood_mi": "Density of mutual information (epistemic uncertainty, nats) for the models that "
    "have samples; a single network's is identically 0.",
    "ood_auroc": "OOD AUROC (OOD positive) per model and score: max probability (plain), "
    "entropy (///) and mutual information (...), one panel per OOD set; dotted: chance.",
    "retention": "Retention: the teacher's value (x) against its student's (y); colour = teacher, "
    "marker = method; the labels-only baseline is drawn against every teacher. On the dashed "
    "y = x line the student keeps the teacher's value; for ECE and NLL below it is better, for "
    "AUROC above.",
    "accuracy_vs_ece": "Accuracy against ECE, one point per model and split: dots are the "
    "corrupted splits (all types and severities), circles the ID split, squares the natural shift.",
    "risk_coverage": "Risk–coverage curves: error rate among the most confident examples as "
    "coverage grows, on the ID split and on the corrupted splits at the highest severity (mean "
    "over corruption types); teachers solid, students dashed. Lower is better.",
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


def _run_description(info: dict, models_info: pd.DataFrame) -> list[Block]:
    if not info:
        return []
    secs = info.get("compute_seconds", {})
    total = sum(secs.values())
    text = (f"Suite `{info.get('suite')}`, seeds {info.get('seeds')}. kdbench {info.get('kdbench')} "
            f"(commit {info.get('commit', 'unknown')}), torch {info.get('torch')}, Python "
            f"{info.get('python')}, device {info.get('device')} ({info.get('threads')} threads). "
            f"Compute time {total:.0f} s: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f} s"
                                                      for k, v in secs.items()) + ".")
    blocks: list[Block] = [Paragraph(info.get("description", "")), Paragraph(text)]
    if not models_info.empty:
        mi = models_info.groupby("model", sort=False).agg(
            role=("role", "first"), teacher=("teacher", "first"), method=("method", "first"),
            parameters=("parameters", "mean"), members=("members", "first"),
            train_seconds=("train_seconds", "mean"), status=("status", "first"))
        mi["parameters"] = mi["parameters"].map(lambda v: "—" if pd.isna(v) else f"{int(v):,}")
        mi["members"] = mi["members"].map(lambda v: "—" if pd.isna(v) else str(int(v)))
        mi["train_seconds"] = mi["train_seconds"].map(lambda v: "—" if pd.isna(v) else f"{v:.0f}")
        blocks.append(Table(mi, "Models: parameters per network, networks trained, training time "
                                "in seconds (all networks), status of their evaluation."))
    return blocks


def write_report(suite: str, results: Path, out: Path, *, failed: list[str] | None = None,
                 leaderboard: pd.DataFrame | None = None) -> Path:
    """Write ``report.md``, ``report.html``, ``figures/`` and ``tables/`` under ``out``;
    returns the Markdown report's path."""
    if not results.is_dir():
        raise UserError(f"no results for suite '{suite}' in {results}; run "
                        f"'python -m kdbench run all --suite {suite}' first")
    everything = read_results(results / "metrics.csv")
    if everything.empty:
        raise UserError(f"{results / 'metrics.csv'} has no rows: every job of suite '{suite}' failed")
    metrics = base_models(everything)
    info = json.loads((results / "run_info.json").read_text()) if (results / "run_info.json").exists() else {}
    models_info = pd.read_csv(results / "models.csv") if (results / "models.csv").exists() else pd.DataFrame()
    fid = pd.read_csv(results / "fidelity.csv") if (results / "fidelity.csv").exists() else None
    if fid is not None and fid.empty:
        fid = None
    figures = out / "figures"
    written = write_figures(results, figures, formats=("png", "pdf"))
    tables_dir = out / "tables"

    order = model_order(pd.concat([models_info, metrics]) if not models_info.empty else metrics)
    missing = (list(models_info.loc[models_info.status != "ok", "model"].unique())
               if "status" in models_info else [])
    n_corr = metrics[metrics.split == "corrupt"].dataset.nunique()
    n_seeds = metrics.seed.nunique()

    blocks: list[Block] = [Heading(f"kdbench report — suite `{suite}`", 1)]
    blocks += _run_description(info, models_info)
    if failed:
        blocks += [Paragraph("**Failed jobs** (their cells show —): " + "; ".join(failed))]
    elif missing:
        blocks += [Paragraph(f"**Missing results** for {', '.join(missing)} (a job failed or did "
                             "not run; their cells show —).")]
    facts = findings(metrics, order)
    if facts:
        blocks += [Heading("Findings"), Paragraph("Generated from the tables below; each "
                   "statement gives the numbers it rests on.")]
        blocks += [Bullets(tuple(facts))]

    values, pm = summary_table(metrics, order)
    spread = ("± is the half-width of a 95% t-interval across the "
              f"{n_seeds} seeds." if n_seeds > 1 else "With one seed, ± is the half-width of the "
              "95% bootstrap interval over test examples (ID and shift columns).")
    blocks += [Heading("Summary"), Paragraph(CONVENTIONS + " " + spread),
               Table(display(values, pm))]
    write_table(values, tables_dir, "summary", caption=f"Summary of suite {suite}. " + CONVENTIONS)

    blocks += [Heading("Per split"), Paragraph(
        "Every labelled-split metric (docs/metrics.md): ID test, natural shift, and the mean over "
        f"the {n_corr} corruption types x severities.")]
    for split, title in (("id", "ID test"), ("shift", "natural shift"), ("corrupt", "corruptions (mean)")):
        tab = split_table(metrics, split, order)
        if not tab.empty:
            blocks.append(Table(display(tab), title))
            write_table(tab, tables_dir, f"split_{split}", caption=f"{title}, suite {suite}.")

    blocks += [Heading("Corruption severity")]
    for metric, title in (("accuracy", "Accuracy"), ("ece", "ECE"), ("nll", "NLL")):
        tab = severity_table(metrics, metric, order)
        tab.columns = ["clean" if c == 0 else f"sev {c}" for c in tab.columns]
        blocks.append(Table(display(tab), f"{title} by severity, mean over {n_corr} corruption types."))
        write_table(tab, tables_dir, f"severity_{metric}", caption=f"{title} by corruption severity, suite {suite}.")

    blocks += [Heading("OOD detection"), Paragraph(
        "OOD positive. Scores: `msp` = 1 − max probability, `entropy` = predictive entropy, "
        "`mi` = mutual information (models with samples only). FPR95 = share of ID inputs "
        "flagged when 95% of OOD inputs are.")]
    for measure, title in (("auroc", "AUROC"), ("aupr_out", "AUPR (OOD positive)"), ("fpr95", "FPR at 95% TPR")):
        tab = ood_table(metrics, order, measure)
        if not tab.empty:
            blocks.append(Table(display(tab), title))
            write_table(tab, tables_dir, f"ood_{measure}", caption=f"OOD {title}, suite {suite}.")

    ret = retention_table(metrics, fid, order)
    if not ret.empty:
        blocks += [Heading("Retention and fidelity"), Paragraph(
            "Student value / teacher value for each distilled student (the labels-only baseline "
            "against every teacher). For ECE and NLL a ratio below 1 means the student is better "
            "than its teacher; for AUROC a ratio of 1 means it keeps all of the teacher's OOD "
            "detection. Fidelity: top-1 agreement with the teacher and mean KL(teacher ‖ "
            "student) in nats, on the ID and shift splits."), Table(display(ret))]
        write_table(ret, tables_dir, "retention", caption=f"Retention and fidelity, suite {suite}.")

    post = posthoc_table(everything, order)
    if not post.empty:
        blocks += [Heading("Post-hoc calibration"), Paragraph(
            "Each model and its post-hoc calibrated variants, fitted on the validation split only "
            "(docs/methods.md): temperature scaling of every sample (keeps the samples), and "
            "netcal's histogram binning, isotonic regression and beta calibration on the predictive "
            "mean. ECE and NLL on the ID split, the corruptions (mean) and the natural shift."),
            Table(display(post))]
        write_table(post, tables_dir, "posthoc", caption=f"Post-hoc calibration, suite {suite}.")

    if leaderboard is not None and not leaderboard.empty:
        part = leaderboard[leaderboard.suite == suite].sort_values("rank").head(10)
        cols = {"rank_nll": "rank NLL", "id_ece": "ID ECE", "corrupt_ece": "C ECE",
                "shift_ece": "shift ECE", "ood_auroc_best": "OOD AUROC (best)",
                "keep_ood_auroc": "keep AUROC"}
        ex = part.set_index("model")[list(cols)].rename(columns=cols)
        ex.insert(0, "rank", [str(r) for r in part["rank"]])
        blocks += [Heading("Leaderboard (top 10)"), Paragraph(
            "Ranked by the mean NLL over the ID split and every shifted split (lower is better); "
            "the full board with every post-hoc row is `LEADERBOARD.md` / "
            "`results/leaderboard.csv`."), Table(display(ex))]

    blocks += [Heading("Figures")]
    for path in written:
        if path.suffix == ".png":
            blocks.append(Heading(path.stem.replace("_", " "), 3))
            blocks.append(Figure(path, CAPTIONS.get(path.stem, "")))
    md = out / "report.md"
    atomic_write_text(md, to_markdown(blocks, out))
    atomic_write_text(out / "report.html", to_html(blocks, f"kdbench report — {suite}"))
    return md
