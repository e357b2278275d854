"""The report: ``reports/<suite>/report.md``, a self-contained ``report.html``, the figures
and the tables (CSV + LaTeX) — from ``results/<suite>/`` alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import UserError
from ..train import ACC_GAP, OVERFIT_REL, PLATEAU_REL
from ..results_files import table_name, table_path
from ..store import atomic_write_text
from .document import Block, Bullets, Figure, Heading, Paragraph, Table, to_html, to_markdown
from .figures import write_figures
from .findings import findings
from .tables import (NOT_CONVERGED, base_models, convergence_flags, corruption_table, display,
                     model_order, ood_table, paired_comparisons, paired_display, paired_wide,
                     posthoc_table, retention_table, severity_table, split_table, summary_table,
                     transfer_table, write_table)

REQUIRED = {
    "metrics": ["seed", "model", "role", "teacher", "method", "student", "split", "dataset",
                    "severity", "metric", "value"],
    "reliability": ["seed", "model", "split", "dataset", "severity", "bin", "lo", "hi",
                        "count", "confidence", "accuracy"],
    "histograms": ["seed", "model", "split", "dataset", "severity", "quantity", "bin", "lo",
                       "hi", "count"],
    "risk_coverage": ["seed", "model", "split", "dataset", "severity", "coverage", "risk"],
    "curves": ["seed", "model", "member", "epoch", "metric", "value"],
    "transfer": ["seed", "teacher", "transfer", "images", "mean_mi", "disagreement"],
    "paired_examples": ["model_a", "model_b", "split", "metric", "seeds", "examples", "mean",
                        "var_example"],
}

CONVENTIONS = (
    "Conventions: probabilities are the model's predictive mean (ensemble / MC-dropout "
    "samples averaged); natural log, entropies in nats; NLL clamps p at 1e-12; Brier is the "
    "sum over classes (range 0–2; Ovadia et al. 2019 report ours − 1); ECE is top-label with 15 "
    "equal-width bins (lo, hi] weighted by bin size (Guo et al. 2017); OOD AUROC treats OOD as "
    "the positive class, scored by predictive entropy (H) or mutual information (MI), mean over "
    "the natural OOD sets (all but noise); uniform noise has its own columns, because every "
    "noise image looks alike to a model and its AUROC is near 0 or 1, like that of one input. "
    "\"C\" columns average the corruption types at severities 1–5. Values are means over seeds."
)

KEY_NOTE = ("Key (every figure): colour = teacher (its students share it; labels-only students "
            "dark grey), marker = method (★ the teacher), hollow = +int8, half-filled = +prune; "
            "error bars: 95% t-interval over seeds.")

CAPTIONS = {
    "forest": "Effects at a glance: paired per-seed differences student − labels-only baseline "
    "(left four panels) and student − teacher (right four) for ID NLL, corruption ECE (mean over "
    "types and severities), shift NLL and OOD AUROC (entropy, mean over the natural OOD sets); "
    "mean with its 95% paired t-interval over seeds. An interval clear of the vertical 0 line is "
    "a difference the seeds support; the arrow under each panel points to the better side. "
    "Circles: raw; orange diamonds: both sides temperature-scaled (each on its own validation "
    "split); filled = Holm-adjusted paired-t p < 0.05 (as in the Paired comparisons table), "
    "hollow otherwise.",
    "reliability": "Reliability per teacher group (rows): accuracy − confidence of each "
    "confidence bin (15 equal-width bins, pooled over seeds) against the bin's mean confidence, "
    "one line per model; below the dashed 0 line = over-confident. Beneath: examples per bin "
    "(log scale). Bins with fewer than 30 examples are left out. Columns: ID test, natural "
    "shift, and the corrupted splits at the highest severity, pooled over corruption types.",
    "metric_vs_severity": "Accuracy, ECE, NLL and Brier against corruption severity (as in Ovadia "
    "et al. 2019, Fig. 2), one row per teacher group: mean over corruption types per seed, then "
    "over seeds; 'clean' is the ID test split.",
    "conformal": "Split conformal prediction at 90% target coverage (α = 0.1; LAC and "
    "randomised APS scores, calibrated on each model's validation predictions): empirical "
    "coverage (dotted: the 0.9 target) and mean set size against corruption severity (mean over "
    "types; 'clean' = ID test) and on the natural shift, one row per teacher group. The guarantee "
    "holds only for data exchangeable with the calibration split (the ID test split).",
    "ood_entropy": "Density of predictive entropy (nats, log scale) per teacher group (rows) on "
    "the ID test split, the natural shift and each OOD set (columns). Good OOD detection puts OOD "
    "mass right of ID.",
    "ood_mi": "Density of mutual information (epistemic uncertainty, nats) per teacher group on "
    "each evaluation set; a single network's is identically 0.",
    "ood_auroc": "OOD AUROC (OOD positive) per model and score, mean over the natural OOD sets "
    "(uniform noise apart: see the OOD tables); dotted: chance.",
    "retention": "Retention: the teacher's value (x) against its student's (y); the labels-only "
    "baseline is drawn against every teacher. On the dashed y = x line the student keeps the "
    "teacher's value; for ECE and NLL below it is better, for AUROC above.",
    "accuracy_vs_ece": "Accuracy against ECE per model on the ID test split, the natural shift "
    "and the corrupted splits (mean over types and severities).",
    "training_curves": "Training curves: validation NLL (top, log scale) and training accuracy "
    "(bottom) per epoch; one column per teacher group (the teacher and its students; labels-only "
    "students last), one thin line per seed and network (ensemble member).",
    "risk_coverage": "Risk–coverage curves per teacher group: error rate among the most confident "
    "examples as coverage grows, on the ID split and on the corrupted splits at the highest "
    "severity (mean over corruption types). Lower is better.",
}


def caption(stem: str) -> str:
    """The caption of figure ``stem`` with the shared key; `ValueError` for a figure without
    one (every figure of the report has a caption)."""
    if stem.startswith("ece_by_corruption_sev"):
        sev = stem.removeprefix("ece_by_corruption_sev")
        text = (f"ECE per model (rows, grouped by teacher) and corruption type at severity {sev}, "
                "mean over seeds (darker = worse). A severity is not MNIST-C's published image "
                "for every type: the per-corruption table gives the level that is (docs/data.md).")
    elif stem in CAPTIONS:
        text = CAPTIONS[stem]
    else:
        raise ValueError(f"figure '{stem}' has no caption; add one to CAPTIONS in "
                         "kdbench/report/__init__.py")
    return f"{text} {KEY_NOTE}"


def check_suite_hash(frames: dict[str, pd.DataFrame], *, allow_mixed: bool = False) -> None:
    """Refuse (`UserError`) results whose files record more than one ``suite_hash``
    (`kdbench.collect.suite_hash`) unless ``allow_mixed``; results without the column (an
    older kdbench) pass."""
    hashes: dict[str, set[str]] = {}
    for name, df in frames.items():
        if df is not None and "suite_hash" in df.columns:
            for h in df["suite_hash"].dropna().astype(str).unique():
                hashes.setdefault(h, set()).add(name)
    if len(hashes) > 1 and not allow_mixed:
        listed = "; ".join(f"{h[:12]} in {', '.join(sorted(files))}" for h, files in hashes.items())
        raise UserError(f"results mix {len(hashes)} suite hashes ({listed}); rerun 'run all' "
                        "for one suite or pass --allow-mixed-suites")


def read_results(path: Path) -> pd.DataFrame:
    """A results CSV with its required columns checked; an empty file (every job failed)
    gives an empty frame. `UserError` names a missing file or missing columns."""
    if not path.exists():
        raise UserError(f"results file {path} is missing; run 'python -m kdbench run all' "
                        "for this suite first")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=REQUIRED.get(table_name(path), []))
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserError(f"results file {path} is not valid CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in REQUIRED.get(table_name(path), []) if c not in df.columns]
    if missing:
        raise UserError(f"results file {path} lacks column(s) {', '.join(missing)}; expected "
                        f"{', '.join(REQUIRED[table_name(path)])} — regenerate it with 'run all'")
    return df


def _optional(path: Path) -> pd.DataFrame | None:
    """A results file that older runs do not have: None when absent or empty."""
    if not path.exists():
        return None
    df = read_results(path)
    return None if df.empty else df


def read_paired_examples(results: Path) -> pd.DataFrame | None:
    """The per-example part of the paired differences (`kdbench.collect.example_pairs`), or
    None for results without it (older runs): their intervals are then over seeds only."""
    return _optional(table_path(results, "paired_examples"))


def _run_description(info: dict, models_info: pd.DataFrame, mark: dict[str, str]) -> list[Block]:
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
        agg = dict(role=("role", "first"), teacher=("teacher", "first"), method=("method", "first"),
                   parameters=("parameters", "mean"), members=("members", "first"),
                   train_seconds=("train_seconds", "mean"), status=("status", "first"))
        mi = models_info.groupby("model", sort=False).agg(**agg)
        mi["parameters"] = mi["parameters"].map(lambda v: "—" if pd.isna(v) else f"{int(v):,}")
        mi["members"] = mi["members"].map(lambda v: "—" if pd.isna(v) else str(int(v)))
        mi["train_seconds"] = mi["train_seconds"].map(lambda v: "—" if pd.isna(v) else f"{v:.0f}")
        caption = ("Models: parameters per network, networks trained, training time in seconds "
                   "(all networks, mean over seeds), status of their evaluation")
        if "converged" in models_info.columns:
            flags = convergence_flags(models_info)
            seeds = models_info.groupby("model", sort=False)["seed"].nunique()
            mi["converged"] = [f"{seeds[m] - len(flags.get(m, []))}/{seeds[m]}" for m in mi.index]
            caption += "; converged: seeds whose training met the convergence rule"
        blocks.append(Table(display(mi, mark=mark), caption + "."))
    return blocks


def _convergence_blocks(results: Path, flags: dict[str, list[int]], has_flag: bool,
                        curves_written: bool) -> list[Block]:
    text = ("A network counts as converged (`kdbench.train.convergence`, docs/training.md) "
            "unless it is under-trained (with w = max(2, E/4) of its E epochs, the mean validation "
            f"NLL of the last w epochs is more than {PLATEAU_REL:.0%} below that of the w before), "
            f"over-fit (its final validation NLL is more than {OVERFIT_REL:.0%} above its minimum "
            f"over the epochs) or, for a student, under-fit (final training accuracy more than "
            f"{ACC_GAP * 100:.0f} points below its teacher's). ")
    if not has_flag:
        text += ("These results predate the convergence record (`models.csv` has no `converged` "
                 "column): no model could be checked.")
    elif flags:
        text += (f"{NOT_CONVERGED} marks the models that did not converge in at least one seed: "
                 + "; ".join(f"{m} (seed {', '.join(map(str, s))})" for m, s in flags.items())
                 + ". Their numbers may reflect the training budget rather than the method.")
    else:
        text += "Every model converged in every seed."
    blocks: list[Block] = [Heading("Training and convergence"), Paragraph(text)]
    if not curves_written:
        blocks.append(Paragraph(f"No training curves: `{results.name}/curves.csv` is absent "
                                "(results of an older kdbench); the figure is skipped."))
    return blocks


def _transfer_blocks(transfer: pd.DataFrame | None, tables_dir: Path, suite: str) -> list[Block]:
    if transfer is None:
        return [Heading("Transfer set"), Paragraph(
            "No transfer-set record (`transfer.csv` is absent: results of an older kdbench), so "
            "the diversity the students could learn from is not reported.")]
    tab = transfer_table(transfer)
    if tab.empty:
        return []
    sentences = []
    for (teacher, kind), row in tab.mean.iterrows():
        sentences.append(
            f"**{teacher}** on its `{kind}` transfer set ({row.get('images', float('nan')):,.0f} "
            f"inputs): its samples disagree on {100 * row.get('disagree transfer', float('nan')):.1f}% "
            f"of the inputs (mean MI {row.get('MI transfer', float('nan')):.4f} nats), against "
            f"{100 * row.get('disagree train', float('nan')):.1f}% "
            f"({row.get('MI train', float('nan')):.4f} nats) on the plain training images.")
    tab.write(tables_dir, "transfer", caption=f"Teacher diversity on the transfer set, suite {suite}.",
              digits=4)
    shown = tab.display(digits=4, joiner=" / ")
    if "images" in shown.columns:
        shown["images"] = [f"{v:,.0f}" if pd.notna(v) else "—" for v in tab.mean["images"]]
    return [Heading("Transfer set"), Paragraph(
        "How much teacher disagreement there is to distil: per teacher and seed, the mean mutual "
        "information (nats) of the teacher's samples and the share of inputs where their argmax "
        "differ (disagree), on the transfer set the students learn from and on the plain "
        "training images; mean over seeds ± 95% t-interval. A teacher with one sample (a single "
        "network) has none. " + " ".join(sentences)),
        Table(shown)]


CONFORMAL_COLUMNS = [("lac", "LAC"), ("aps", "APS")]


def conformal_table(metrics: pd.DataFrame, order: list[str], score: str):
    """Coverage and mean set size of the 90% conformal sets of ``score`` (lac, aps) per model
    (rows) on the ID test split, the natural shift and the corrupted splits at the highest
    severity (mean over types per seed), mean over seeds with the t-interval
    (`kdbench.report.tables.interval_table`); (None, None) without conformal rows."""
    from .tables import interval_table

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


def _conformal_blocks(metrics: pd.DataFrame, order: list[str], mark: dict[str, str],
                      png: Path | None, tables_dir: Path, suite: str) -> list[Block]:
    from .style import figure_models

    metrics = figure_models(metrics)  # with the compressed variants
    order = order + [m for m in model_order(metrics) if m not in order]
    tabs = {sc: conformal_table(metrics, order, sc) for sc, _ in CONFORMAL_COLUMNS}
    top = next((t for _, t in tabs.values() if t is not None), None)
    if all(tab is None for tab, _ in tabs.values()):
        return []
    blocks: list[Block] = [Heading("Conformal prediction"), Paragraph(
        "Split conformal prediction sets (Angelopoulos & Bates 2021) at 90% target coverage "
        "(α = 0.1), calibrated on each model's own validation predictions: LAC (score 1 − p_y; "
        "the smallest sets) and randomised APS (cumulative sorted mass; adapts the set to the "
        "input). On the ID test split, exchangeable with the calibration split, coverage is "
        "guaranteed to lie in [0.9, 0.9 + 1/(n + 1)] on average; under shift and corruption it "
        "is not, and the table shows how much of it a model keeps and at what set size. "
        "cov = empirical coverage, size = mean set size; mean over seeds ± 95% t-interval"
        + (f"; C sev {top} = mean over corruption types at severity {top}." if top else ".")
        + " Formulas: docs/metrics.md.")]
    for sc, label in CONFORMAL_COLUMNS:
        tab = tabs[sc][0]
        if tab is None:
            continue
        blocks.append(Table(tab.display(mark=mark), f"{label} sets."))
        tab.write(tables_dir, f"conformal_{sc}",
                  caption=f"Conformal coverage and set size, {label} sets, suite {suite}.")
    if png is not None:
        blocks.append(Figure(png, caption("conformal")))
    return blocks


def undefined_notes(metrics: pd.DataFrame) -> list[Block]:
    """The footnote of the cells that show — because a metric is undefined on its split: the
    optional ``note`` column of ``metrics.csv`` (`kdbench.metrics.undefined`); none without it."""
    if "note" not in metrics.columns or metrics.note.isna().all():
        return []
    rows = metrics[metrics.note.notna()].groupby(["metric", "split", "note"], sort=True).model
    items = [f"`{metric}` on {split} ({', '.join(sorted(models.unique()))}): {note}"
             for (metric, split, note), models in rows]
    return [Paragraph("**Undefined metrics** (their cells show —): " + "; ".join(items) + ".")]


def write_report(suite: str, results: Path, out: Path, *, failed: list[str] | None = None,
                 leaderboard: pd.DataFrame | None = None, allow_mixed_suites: bool = False) -> Path:
    """Write ``report.md``, ``report.html``, ``figures/`` and ``tables/`` under ``out``;
    returns the Markdown report's path. Refuses results of mixed suite hashes
    (`check_suite_hash`) unless ``allow_mixed_suites``."""
    if not results.is_dir():
        raise UserError(f"no results for suite '{suite}' in {results}; run "
                        f"'python -m kdbench run all --suite {suite}' first")
    everything = read_results(table_path(results, "metrics"))
    if everything.empty:
        raise UserError(f"{table_path(results, 'metrics')} has no rows: every job of suite '{suite}' failed")
    metrics = base_models(everything)
    info = json.loads((results / "run_info.json").read_text()) if (results / "run_info.json").exists() else {}
    models_info = pd.read_csv(results / "models.csv") if (results / "models.csv").exists() else pd.DataFrame()
    fid = (pd.read_csv(table_path(results, "fidelity")) if table_path(results, "fidelity").exists()
           else None)
    if fid is not None and fid.empty:
        fid = None
    transfer = _optional(results / "transfer.csv")
    examples = read_paired_examples(results)
    check_suite_hash({"metrics": everything, "models": models_info, "fidelity": fid,
                      "transfer": transfer, "paired_examples": examples},
                     allow_mixed=allow_mixed_suites)
    figures = out / "figures"
    written = write_figures(results, figures, formats=("png", "pdf"),
                            allow_mixed_suites=allow_mixed_suites, metrics=everything)
    pngs = {p.stem: p for p in written if p.suffix == ".png"}
    tables_dir = out / "tables"

    order = model_order(pd.concat([models_info, metrics]) if not models_info.empty else metrics)
    # post-hoc and compressed variants have sections of their own, not rows of "—" here
    variants = set(everything.loc[everything.posthoc.astype(str) != "-", "model"]) \
        if "posthoc" in everything.columns else set()
    order = [m for m in order if m not in variants]
    missing = (list(models_info.loc[models_info.status != "ok", "model"].unique())
               if "status" in models_info else [])
    flags = convergence_flags(models_info)
    mark = {m: NOT_CONVERGED for m in flags}
    n_corr = metrics[metrics.split == "corrupt"].dataset.nunique()
    n_seeds = metrics.seed.nunique()
    flag_note = (f" {NOT_CONVERGED}: did not converge in at least one seed (see Training and "
                 "convergence)." if flags else "")

    blocks: list[Block] = [Heading(f"kdbench report — suite `{suite}`", 1)]
    blocks += _run_description(info, models_info, mark)
    if failed:
        blocks += [Paragraph("**Failed jobs** (their cells show —): " + "; ".join(failed))]
    elif missing:
        blocks += [Paragraph(f"**Missing results** for {', '.join(missing)} (a job failed or did "
                             "not run; their cells show —).")]
    blocks += undefined_notes(everything)
    facts = findings(everything, order, not_converged=flags, examples=examples)
    if facts:
        blocks += [Heading("Findings"), Paragraph("Generated from the tables below; each "
                   "statement gives the numbers it rests on.")]
        blocks += [Bullets(tuple(facts))]
    if "forest" in pngs:
        blocks += [Heading("Effects at a glance"), Paragraph(
            "Did distillation help, by how much, and how sure are we: each student against the "
            "labels-only student of its architecture and against its own teacher, paired per "
            "seed (the Paired comparisons section has the numbers)."),
            Figure(pngs.pop("forest"), caption("forest"))]

    summary = summary_table(metrics, order)
    spread = (f"± is the half-width of the 95% Student-t interval over the {n_seeds} seeds "
              "(mean ± t × sd / sqrt(n), t the 0.975 quantile of Student's t with n − 1 degrees of freedom)." if n_seeds > 1 else "With one seed there is no interval "
              f"over seeds: ± marked {'ᵇ'} is the half-width of the 95% bootstrap interval over test "
              "examples (ID and shift columns), which ignores training randomness.")
    blocks += [Heading("Summary"), Paragraph(CONVENTIONS + " " + spread + flag_note),
               Table(summary.display(mark=mark))]
    summary.write(tables_dir, "summary", caption=f"Summary of suite {suite}. " + CONVENTIONS + " " + spread)

    pairs = paired_comparisons(everything, order, examples=examples)
    if not pairs.empty:
        two = (pairs.interval == "seeds x examples").any()
        how = (f"paired over {int(pairs.n.max())} seeds: the per-seed difference student − "
               "reference, mean and 95% Student-t interval"
               + ("; for accuracy and NLL the interval covers the test images too (two-level: "
                  "variance over seeds / n + variance over examples / N, the test images being "
                  "shared by every seed), for ECE and AUROC the seeds only" if two else "")
               + "; ▲ Holm-adjusted p < 0.05 (paired t, within one metric × reference kind) in the "
               "student's favour, ▼ against it; no mark: no significant difference"
               if pairs.n.max() > 1 else "one seed: single-run differences, no interval and no "
               "seed-level claim")
        blocks += [Heading("Paired comparisons"), Paragraph(
            "Every student against the labels-only baseline of its architecture (the same "
            "student network trained on the labels only, one per seed) and against its own "
            "teacher, on ID accuracy, ID NLL, corruption ECE (mean over types and severities), "
            f"shift NLL and OOD AUROC per OOD set with the entropy (H) and MI scores ({how}). "
            "For accuracy and AUROC a positive difference is better, for NLL and ECE a negative "
            "one." + flag_note)]
        for kind, title in (("baseline", "Students − labels-only baseline"),
                            ("teacher", "Students − their teacher")):
            tab = paired_display(pairs, kind, mark=mark)
            if not tab.empty:
                blocks.append(Table(tab, title))
                paired_wide(pairs, kind).write(tables_dir, f"paired_{kind}",
                                               caption=f"{title}, suite {suite} ({how}).")
        atomic_write_text(tables_dir / "paired.csv", pairs.to_csv(index=False, float_format="%.6g"))

    blocks += [Heading("Per split"), Paragraph(
        "Every labelled-split metric (docs/metrics.md): ID test, natural shift, and the mean over "
        f"the {n_corr} corruption types x severities; means over seeds.")]
    for split, title in (("id", "ID test"), ("shift", "natural shift"), ("corrupt", "corruptions (mean)")):
        tab = split_table(metrics, split, order)
        if not tab.empty:
            blocks.append(Table(display(tab, mark=mark), title))
            write_table(tab, tables_dir, f"split_{split}", caption=f"{title}, suite {suite}.")

    blocks += [Heading("Corruption severity")]
    for metric, title in (("accuracy", "Accuracy"), ("ece", "ECE"), ("nll", "NLL")):
        tab = severity_table(metrics, metric, order)
        tab.columns = ["clean" if c == 0 else f"sev {c}" for c in tab.columns]
        blocks.append(Table(display(tab, mark=mark), f"{title} by severity, mean over {n_corr} corruption types."))
        write_table(tab, tables_dir, f"severity_{metric}", caption=f"{title} by corruption severity, suite {suite}.")
    for metric, title in (("ece", "ECE"), ("accuracy", "Accuracy")):
        from_files = bool(info.get("corrupted"))  # e.g. CIFAR-10-C: no MNIST-C levels
        tab = corruption_table(metrics, metric, order, mnist_c=not from_files)
        if tab.empty:
            continue
        tab = tab.rename(columns={m: m + mark.get(m, "") for m in tab.columns})
        blocks.append(Table(display(tab), f"{title} per corruption type, mean over severities "
                            "1–5 and seeds." + ("" if from_files else " MNIST-C level: the severity "
                            "whose images equal the published MNIST-C set (— where none does).")))
        write_table(tab, tables_dir, f"corruption_{metric}",
                    caption=f"{title} per corruption type, suite {suite}.")

    blocks += [Heading("OOD detection"), Paragraph(
        "OOD positive. Scores: `msp` = 1 − max probability, `entropy` = predictive entropy, "
        "`mi` = mutual information (models with samples only). FPR95 = share of ID inputs "
        "flagged when 95% of OOD inputs are. One column per OOD set and score, mean over seeds "
        "± 95% t-interval; the natural sets first, uniform noise last (its AUROC is near 0 or 1 "
        "per model, as for a single input).")]
    for measure, title in (("auroc", "AUROC"), ("aupr_out", "AUPR (OOD positive)"), ("fpr95", "FPR at 95% TPR")):
        tab = ood_table(metrics, order, measure)
        if not tab.empty:
            blocks.append(Table(tab.display(mark=mark), title))
            tab.write(tables_dir, f"ood_{measure}", caption=f"OOD {title}, suite {suite}.")

    # compressed variants (kdbench.compress) follow their student: what compression on top of
    # distillation keeps of the teacher
    from .style import figure_models

    with_variants = figure_models(everything)
    variant_names = sorted(set(with_variants.model) - set(order))
    ret_order = [r for m in order for r in [m] + [v for v in variant_names if v.startswith(m + "+")]]
    ret = retention_table(with_variants, fid, ret_order)
    if not ret.empty:
        blocks += [Heading("Retention and fidelity"), Paragraph(
            "Student value / teacher value for each distilled student (the labels-only baseline "
            "against every teacher), computed per seed, mean over seeds ± 95% t-interval. For ECE "
            "and NLL a ratio below 1 means the student is better than its teacher; for AUROC "
            "(natural OOD sets) a ratio of 1 means it keeps all of the teacher's OOD detection. "
            "Fidelity: top-1 agreement with the teacher and mean KL(teacher ‖ student) in nats, on "
            "the ID and shift splits. A compressed student (`+int8`, `+prune<P>`) follows its "
            "student, against the same teacher."), Table(ret.display(mark=mark))]
        ret.write(tables_dir, "retention", caption=f"Retention and fidelity, suite {suite}.")

    blocks += _transfer_blocks(transfer, tables_dir, suite)
    blocks += _convergence_blocks(results, flags, "converged" in models_info.columns,
                                  any(p.stem == "training_curves" for p in written))

    post = posthoc_table(everything, order)
    if not post.empty:
        blocks += [Heading("Post-hoc calibration"), Paragraph(
            "Each model and its post-hoc calibrated variants, fitted on the validation split only "
            "(docs/methods.md): temperature scaling of every sample (keeps the samples), and "
            "netcal's histogram binning, isotonic regression and beta calibration on the predictive "
            "mean. ECE and NLL on the ID split, the corruptions (mean) and the natural shift; "
            "means over seeds."), Table(display(post, mark=mark))]
        write_table(post, tables_dir, "posthoc", caption=f"Post-hoc calibration, suite {suite}.")

    from .compression import compression_blocks  # kdbench.compress variants
    blocks += compression_blocks(everything, models_info, tables_dir)

    if leaderboard is not None and not leaderboard.empty:
        from .leaderboard import _pm
        part = leaderboard[leaderboard.suite == suite].sort_values("rank").head(10)
        cols = {"rank_nll": "rank NLL", "id_ece": "ID ECE", "corrupt_ece": "C ECE",
                "shift_ece": "shift ECE", "ood_auroc_best": "OOD AUROC (best)",
                "keep_ood_auroc": "keep AUROC"}
        ex = pd.DataFrame({label: [_pm(r, c, 2 if c == "keep_ood_auroc" else 3) for _, r in part.iterrows()]
                           for c, label in cols.items()}, index=pd.Index(part.model, name="model"))
        ex.insert(0, "rank", [str(r) for r in part["rank"]])
        blocks += [Heading("Leaderboard (top 10)"), Paragraph(
            "Ranked by the mean NLL over the ID split and every shifted split (lower is better), "
            "mean over seeds ± 95% t-interval; rows whose intervals overlap are not told apart. "
            "The full board with every post-hoc row is `LEADERBOARD.md` / "
            "`results/leaderboard.csv`."), Table(display(ex, mark=mark))]

    blocks += _conformal_blocks(everything, order, mark, pngs.pop("conformal", None), tables_dir,
                                suite)

    blocks += [Heading("Figures")]
    for stem, path in pngs.items():
        blocks.append(Heading(stem.replace("_", " "), 3))
        blocks.append(Figure(path, caption(stem)))
    md = out / "report.md"
    atomic_write_text(md, to_markdown(blocks, out))
    atomic_write_text(out / "report.html", to_html(blocks, f"kdbench report — {suite}"))
    return md
