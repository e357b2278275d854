"""The report's sections, in the order the reader sees them (`SECTIONS`): each a function of
the one `ReportContext` returning its blocks (and writing its tables under
``ctx.tables_dir``). A section whose inputs do not change returns the same blocks, so its
bytes in report.md / report.html do not change.

First screen: the title and the setting in two lines (`title`), the answer table and the
forest plot (`answer`); then short findings that point to the answer table's rows, the
contents, the detailed tables, the figures, and last the models and their provenance.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..store import atomic_write_text
from ..train import ACC_GAP, OVERFIT_REL, PLATEAU_REL
from .answer import REFERENCES, answer_table, setting_lines
from .compression import compression_blocks
from .conformal import CONFORMAL_COLUMNS, conformal_table
from .context import ReportContext
from .document import Block, Bullets, Contents, Figure, Heading, Paragraph, Table
from .figure_registry import caption
from .findings import headline_findings
from .leaderboard import pm_cell
from .style import figure_models
from .tables import (BOOT_MARK, HEADLINE, NOT_CONVERGED, convergence_flags, corruption_table,
                     display, model_order, ood_table, paired_comparisons, paired_display,
                     paired_wide, posthoc_table, retention_table, severity_table, split_table,
                     summary_table, transfer_table, write_table)

Section = Callable[[ReportContext], list[Block]]

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
# figures placed by a section of their own; the others go to the Figures section
PLACED_FIGURES = ("forest", "conformal")


def title(ctx: ReportContext) -> list[Block]:
    """The title and the setting in two lines (`kdbench.report.answer.setting_lines`)."""
    lines = setting_lines(ctx.info, ctx.models_info, ctx.key, ctx.everything, ctx.examples)
    return [Heading(f"kdbench report — suite `{ctx.suite}`", 1)] + [
        Paragraph(line, "setting") for line in lines]


def answer(ctx: ReportContext) -> list[Block]:
    """The answer table (`kdbench.report.answer.answer_table`) and the forest plot."""
    if not ctx.students:
        blocks: list[Block] = [Heading("What survived distillation"), Paragraph(
            "No distilled student with a labels-only student or a teacher to compare with: "
            "the suite does not ask the question.")]
    else:
        tab = answer_table(ctx.pairs, ctx.key, ctx.students)
        n = len(REFERENCES)
        groups = (("", 3),) + tuple((label, n) for _, _, label, _ in HEADLINE)
        base = sorted(set(ctx.pairs.loc[ctx.pairs.reference_kind == "labels-only", "reference"]))
        one = ctx.n_seeds == 1
        note = (f"Student − reference, paired over {ctx.n_seeds} seeds (the Paired comparisons "
                f"section has the intervals): L = the labels-only student "
                f"{', '.join(f'`{b}`' for b in base) or '—'}, T = the student's own teacher, TS = "
                "both sides temperature-scaled. "
                + ("One seed: no test, no marks. " if one else
                   "▲ / ▼: Holm-adjusted p < 0.05 (within one metric × reference) in the "
                   "student's favour / against it — the interval is clear of 0; no mark: not. ")
                + "Lower is better for NLL and ECE (a negative Δ helps), higher for AUROC."
                + ctx.flag_note)
        shown = display(tab, mark={})
        shown.columns = ["teacher", "method"] + [short for _ in HEADLINE for short, _ in REFERENCES]
        blocks = [Heading("What survived distillation"),
                  Table(shown, groups=groups, sortable=False, kind="answer"),
                  Paragraph(note, "note")]
        ctx.tables_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(ctx.tables_dir / "answer.csv",
                          ctx.pairs.to_csv(index=False, float_format="%.6g"))
    if "forest" in ctx.figures:
        blocks.append(Figure(ctx.figures["forest"], caption("forest")))
    return blocks


def status(ctx: ReportContext) -> list[Block]:
    """Failed jobs, missing results, undefined metrics."""
    blocks: list[Block] = []
    if ctx.failed:
        blocks.append(Paragraph("**Failed jobs** (their cells show —): " + "; ".join(ctx.failed)))
    elif ctx.missing:
        blocks.append(Paragraph(f"**Missing results** for {', '.join(ctx.missing)} (a job failed "
                                "or did not run; their cells show —)."))
    return blocks + undefined_notes(ctx.everything)


def undefined_notes(metrics: pd.DataFrame) -> list[Block]:
    """The footnote of the cells that show — because a metric is undefined on its split: the
    optional ``note`` column of ``metrics.csv`` (`kdbench.metrics.undefined`); none without it."""
    if "note" not in metrics.columns or metrics.note.isna().all():
        return []
    rows = metrics[metrics.note.notna()].groupby(["metric", "split", "note"], sort=True).model
    items = [f"`{metric}` on {split} ({', '.join(sorted(models.unique()))}): {note}"
             for (metric, split, note), models in rows]
    return [Paragraph("**Undefined metrics** (their cells show —): " + "; ".join(items) + ".")]


def findings_section(ctx: ReportContext) -> list[Block]:
    """At most about ten one-line findings (`kdbench.report.findings.headline_findings`)."""
    facts = headline_findings(ctx.everything, ctx.pairs, ctx.teachers, ctx.row_of,
                              examples=ctx.examples, not_converged=ctx.flags, order=ctx.order)
    if not facts:
        return []
    return [Heading("Findings"), Paragraph(
        "Counts of the answer table's marks (▲ better, ▼ worse, Holm-adjusted; rows as "
        "numbered there); the numbers are in the tables below.", "note"), Bullets(tuple(facts))]


def contents(ctx: ReportContext) -> list[Block]:
    """The contents list."""
    return [Contents()]


def summary(ctx: ReportContext) -> list[Block]:
    """Headline metrics per model with their intervals."""
    tab = summary_table(ctx.metrics, ctx.order)
    n = ctx.n_seeds
    spread = (f"± is the half-width of the 95% Student-t interval over the {n} seeds "
              "(mean ± t × sd / sqrt(n), t the 0.975 quantile of Student's t with n − 1 degrees "
              "of freedom)." if n > 1 else "With one seed there is no interval over seeds: ± "
              f"marked {BOOT_MARK} is the half-width of the 95% bootstrap interval over test "
              "examples (ID and shift columns), which ignores training randomness.")
    tab.write(ctx.tables_dir, "summary",
              caption=f"Summary of suite {ctx.suite}. " + CONVENTIONS + " " + spread)
    return [Heading("Summary"), Paragraph(CONVENTIONS + " " + spread + ctx.flag_note),
            Table(tab.display(mark=ctx.mark))]


def paired(ctx: ReportContext) -> list[Block]:
    """Every student against the labels-only student and its teacher, raw and TS."""
    pairs = paired_comparisons(ctx.everything, ctx.order, examples=ctx.examples)
    if pairs.empty:
        return []
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
    blocks: list[Block] = [Heading("Paired comparisons"), Paragraph(
        "Every student against the labels-only baseline of its architecture (the same "
        "student network trained on the labels only, one per seed) and against its own "
        "teacher, on ID accuracy, ID NLL, corruption ECE (mean over types and severities), "
        f"shift NLL and OOD AUROC per OOD set with the entropy (H) and MI scores ({how}). "
        "For accuracy and AUROC a positive difference is better, for NLL and ECE a negative "
        "one." + ctx.flag_note)]
    for kind, name in (("baseline", "Students − labels-only baseline"),
                       ("teacher", "Students − their teacher")):
        tab = paired_display(pairs, kind, mark=ctx.mark)
        if not tab.empty:
            blocks.append(Table(tab, name))
            paired_wide(pairs, kind).write(ctx.tables_dir, f"paired_{kind}",
                                           caption=f"{name}, suite {ctx.suite} ({how}).")
    atomic_write_text(ctx.tables_dir / "paired.csv", pairs.to_csv(index=False, float_format="%.6g"))
    return blocks


def per_split(ctx: ReportContext) -> list[Block]:
    """Every labelled-split metric per split family."""
    blocks: list[Block] = [Heading("Per split"), Paragraph(
        "Every labelled-split metric (docs/metrics.md): ID test, natural shift, and the mean over "
        f"the {ctx.n_corr} corruption types x severities; means over seeds.")]
    for split, name in (("id", "ID test"), ("shift", "natural shift"), ("corrupt", "corruptions (mean)")):
        tab = split_table(ctx.metrics, split, ctx.order)
        if not tab.empty:
            blocks.append(Table(display(tab, mark=ctx.mark), name))
            write_table(tab, ctx.tables_dir, f"split_{split}", caption=f"{name}, suite {ctx.suite}.")
    return blocks


def severity(ctx: ReportContext) -> list[Block]:
    """Metrics by corruption severity and per corruption type."""
    blocks: list[Block] = [Heading("Corruption severity")]
    for metric, name in (("accuracy", "Accuracy"), ("ece", "ECE"), ("nll", "NLL")):
        tab = severity_table(ctx.metrics, metric, ctx.order)
        tab.columns = ["clean" if c == 0 else f"sev {c}" for c in tab.columns]
        blocks.append(Table(display(tab, mark=ctx.mark),
                            f"{name} by severity, mean over {ctx.n_corr} corruption types."))
        write_table(tab, ctx.tables_dir, f"severity_{metric}",
                    caption=f"{name} by corruption severity, suite {ctx.suite}.")
    from_files = bool(ctx.info.get("corrupted"))  # e.g. CIFAR-10-C: no MNIST-C levels
    for metric, name in (("ece", "ECE"), ("accuracy", "Accuracy")):
        tab = corruption_table(ctx.metrics, metric, ctx.order, mnist_c=not from_files)
        if tab.empty:
            continue
        tab = tab.rename(columns={m: m + ctx.mark.get(m, "") for m in tab.columns})
        blocks.append(Table(display(tab), f"{name} per corruption type, mean over severities "
                            "1–5 and seeds." + ("" if from_files else " MNIST-C level: the severity "
                            "whose images equal the published MNIST-C set (— where none does).")))
        write_table(tab, ctx.tables_dir, f"corruption_{metric}",
                    caption=f"{name} per corruption type, suite {ctx.suite}.")
    return blocks


def ood(ctx: ReportContext) -> list[Block]:
    """OOD detection per set and score."""
    blocks: list[Block] = [Heading("OOD detection"), Paragraph(
        "OOD positive. Scores: `msp` = 1 − max probability, `entropy` = predictive entropy, "
        "`mi` = mutual information (models with samples only). FPR95 = share of ID inputs "
        "flagged when 95% of OOD inputs are. One column per OOD set and score, mean over seeds "
        "± 95% t-interval; the natural sets first, uniform noise last (its AUROC is near 0 or 1 "
        "per model, as for a single input).")]
    for measure, name in (("auroc", "AUROC"), ("aupr_out", "AUPR (OOD positive)"),
                          ("fpr95", "FPR at 95% TPR")):
        tab = ood_table(ctx.metrics, ctx.order, measure)
        if not tab.empty:
            blocks.append(Table(tab.display(mark=ctx.mark), name))
            tab.write(ctx.tables_dir, f"ood_{measure}", caption=f"OOD {name}, suite {ctx.suite}.")
    return blocks


def retention(ctx: ReportContext) -> list[Block]:
    """Student / teacher ratios and fidelity; compressed variants follow their student."""
    with_variants = figure_models(ctx.everything)
    variant_names = sorted(set(with_variants.model) - set(ctx.order))
    ret_order = [r for m in ctx.order
                 for r in [m] + [v for v in variant_names if v.startswith(m + "+")]]
    ret = retention_table(with_variants, ctx.results.fidelity, ret_order)
    if ret.empty:
        return []
    ret.write(ctx.tables_dir, "retention", caption=f"Retention and fidelity, suite {ctx.suite}.")
    return [Heading("Retention and fidelity"), Paragraph(
        "Student value / teacher value for each distilled student (the labels-only baseline "
        "against every teacher), computed per seed, mean over seeds ± 95% t-interval. For ECE "
        "and NLL a ratio below 1 means the student is better than its teacher; for AUROC "
        "(natural OOD sets) a ratio of 1 means it keeps all of the teacher's OOD detection. "
        "Fidelity: top-1 agreement with the teacher and mean KL(teacher ‖ student) in nats, on "
        "the ID and shift splits. A compressed student (`+int8`, `+prune<P>`) follows its "
        "student, against the same teacher."), Table(ret.display(mark=ctx.mark))]


def transfer(ctx: ReportContext) -> list[Block]:
    """How much teacher disagreement the transfer set holds."""
    data = ctx.results.transfer
    if data is None:
        return [Heading("Transfer set"), Paragraph(
            "No transfer-set record (`transfer.csv` is absent: results of an older kdbench), so "
            "the diversity the students could learn from is not reported.")]
    tab = transfer_table(data)
    if tab.empty:
        return []
    sentences = []
    nan = float("nan")
    for (teacher, kind), row in tab.mean.iterrows():
        sentences.append(
            f"**{teacher}** on its `{kind}` transfer set ({row.get('images', nan):,.0f} "
            f"inputs): its samples disagree on {100 * row.get('disagree transfer', nan):.1f}% "
            f"of the inputs (mean MI {row.get('MI transfer', nan):.4f} nats), against "
            f"{100 * row.get('disagree train', nan):.1f}% "
            f"({row.get('MI train', nan):.4f} nats) on the plain training images.")
    tab.write(ctx.tables_dir, "transfer",
              caption=f"Teacher diversity on the transfer set, suite {ctx.suite}.", digits=4)
    shown = tab.display(digits=4, joiner=" / ")
    if "images" in shown.columns:
        shown["images"] = [f"{v:,.0f}" if pd.notna(v) else "—" for v in tab.mean["images"]]
    return [Heading("Transfer set"), Paragraph(
        "How much teacher disagreement there is to distil: per teacher and seed, the mean mutual "
        "information (nats) of the teacher's samples and the share of inputs where their argmax "
        "differ (disagree), on the transfer set the students learn from and on the plain "
        "training images; mean over seeds ± 95% t-interval. A teacher with one sample (a single "
        "network) has none. " + " ".join(sentences)), Table(shown)]


def convergence(ctx: ReportContext) -> list[Block]:
    """The convergence rule and the models that did not meet it."""
    text = ("A network counts as converged (`kdbench.train.convergence`, docs/training.md) "
            "unless it is under-trained (with w = max(2, E/4) of its E epochs, the mean validation "
            f"NLL of the last w epochs is more than {PLATEAU_REL:.0%} below that of the w before), "
            f"over-fit (its final validation NLL is more than {OVERFIT_REL:.0%} above its minimum "
            f"over the epochs) or, for a student, under-fit (final training accuracy more than "
            f"{ACC_GAP * 100:.0f} points below its teacher's). ")
    if "converged" not in ctx.models_info.columns:
        text += ("These results predate the convergence record (`models.csv` has no `converged` "
                 "column): no model could be checked.")
    elif ctx.flags:
        text += (f"{NOT_CONVERGED} marks the models that did not converge in at least one seed: "
                 + "; ".join(f"{m} (seed {', '.join(map(str, s))})" for m, s in ctx.flags.items())
                 + ". Their numbers may reflect the training budget rather than the method.")
    else:
        text += "Every model converged in every seed."
    blocks: list[Block] = [Heading("Training and convergence"), Paragraph(text)]
    if "training_curves" not in ctx.figures:
        blocks.append(Paragraph(f"No training curves: `{ctx.results.folder.name}/curves.csv` is "
                                "absent (results of an older kdbench); the figure is skipped."))
    return blocks


def posthoc(ctx: ReportContext) -> list[Block]:
    """Each model and its post-hoc calibrated variants."""
    post = posthoc_table(ctx.everything, ctx.order)
    if post.empty:
        return []
    write_table(post, ctx.tables_dir, "posthoc", caption=f"Post-hoc calibration, suite {ctx.suite}.")
    return [Heading("Post-hoc calibration"), Paragraph(
        "Each model and its post-hoc calibrated variants, fitted on the validation split only "
        "(docs/methods.md): temperature scaling of every sample (keeps the samples), and "
        "netcal's histogram binning, isotonic regression and beta calibration on the predictive "
        "mean. ECE and NLL on the ID split, the corruptions (mean) and the natural shift; "
        "means over seeds."), Table(display(post, mark=ctx.mark))]


def compressed(ctx: ReportContext) -> list[Block]:
    """What int8 quantization and pruning cost a student (`kdbench.report.compression`)."""
    return compression_blocks(ctx.everything, ctx.models_info, ctx.tables_dir)


def leaderboard(ctx: ReportContext) -> list[Block]:
    """The suite's top 10 of the leaderboard (when the caller passes one)."""
    board = ctx.leaderboard
    if board is None or board.empty:
        return []
    part = board[board.suite == ctx.suite].sort_values("rank").head(10)
    cols = {"rank_nll": "rank NLL", "id_ece": "ID ECE", "corrupt_ece": "C ECE",
            "shift_ece": "shift ECE", "ood_auroc_best": "OOD AUROC (best)",
            "keep_ood_auroc": "keep AUROC"}
    ex = pd.DataFrame({label: [pm_cell(r, c, 2 if c == "keep_ood_auroc" else 3)
                               for _, r in part.iterrows()]
                       for c, label in cols.items()}, index=pd.Index(part.model, name="model"))
    ex.insert(0, "rank", [str(r) for r in part["rank"]])
    return [Heading("Leaderboard (top 10)"), Paragraph(
        "Ranked by the mean NLL over the ID split and every shifted split (lower is better), "
        "mean over seeds ± 95% t-interval; rows whose intervals overlap are not told apart. "
        "The full board with every post-hoc row is `LEADERBOARD.md` / "
        "`results/leaderboard.csv`."), Table(display(ex, mark=ctx.mark))]


def conformal(ctx: ReportContext) -> list[Block]:
    """Coverage and set size of 90% conformal sets, and their figure."""
    metrics = figure_models(ctx.everything)  # with the compressed variants
    order = ctx.order + [m for m in model_order(metrics) if m not in ctx.order]
    tabs = {sc: conformal_table(metrics, order, sc) for sc, _ in CONFORMAL_COLUMNS}
    if all(tab is None for tab, _ in tabs.values()):
        return []
    top = next((t for _, t in tabs.values() if t is not None), None)
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
        blocks.append(Table(tab.display(mark=ctx.mark), f"{label} sets."))
        tab.write(ctx.tables_dir, f"conformal_{sc}",
                  caption=f"Conformal coverage and set size, {label} sets, suite {ctx.suite}.")
    if "conformal" in ctx.figures:
        blocks.append(Figure(ctx.figures["conformal"], caption("conformal")))
    return blocks


def figures(ctx: ReportContext) -> list[Block]:
    """Every other registered figure, in registration order, with its caption."""
    blocks: list[Block] = [Heading("Figures")]
    for stem, path in ctx.figures.items():
        if stem not in PLACED_FIGURES:
            blocks += [Heading(stem.replace("_", " "), 3), Figure(path, caption(stem))]
    return blocks


def models(ctx: ReportContext) -> list[Block]:
    """The run (versions, compute time) and the models table: provenance, at the end."""
    info, models_info = ctx.info, ctx.models_info
    blocks: list[Block] = [Heading("Models and provenance")]
    if info:
        secs = info.get("compute_seconds", {})
        total = sum(secs.values())
        blocks.append(Paragraph(
            f"Suite `{info.get('suite')}`, seeds {info.get('seeds')}. kdbench "
            f"{info.get('kdbench')} (commit {info.get('commit', 'unknown')}), torch "
            f"{info.get('torch')}, Python {info.get('python')}, device {info.get('device')} "
            f"({info.get('threads')} threads). Compute time {total:.0f} s: "
            + ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in secs.items()) + "."))
    if models_info.empty:
        return blocks if len(blocks) > 1 else []
    agg = dict(role=("role", "first"), teacher=("teacher", "first"), method=("method", "first"),
               parameters=("parameters", "mean"), members=("members", "first"),
               train_seconds=("train_seconds", "mean"), status=("status", "first"))
    agg = {k: v for k, v in agg.items() if v[0] in models_info.columns}
    mi = models_info.groupby("model", sort=False).agg(**agg)
    for col, fmt in (("parameters", lambda v: f"{int(v):,}"), ("members", lambda v: str(int(v))),
                     ("train_seconds", lambda v: f"{v:.0f}")):
        if col in mi.columns:
            mi[col] = mi[col].map(lambda v, f=fmt: "—" if pd.isna(v) else f(v))
    text = ("Models: parameters per network, networks trained, training time in seconds "
            "(all networks, mean over seeds), status of their evaluation")
    if "converged" in models_info.columns:
        flags = convergence_flags(models_info)
        seeds = models_info.groupby("model", sort=False)["seed"].nunique()
        mi["converged"] = [f"{seeds[m] - len(flags.get(m, []))}/{seeds[m]}" for m in mi.index]
        text += "; converged: seeds whose training met the convergence rule"
    blocks.append(Table(display(mi, mark=ctx.mark), text + "."))
    return blocks


SECTIONS: list[Section] = [title, answer, status, findings_section, contents, summary, paired,
                           per_split, severity, ood, retention, transfer, convergence, posthoc,
                           compressed, leaderboard, conformal, figures, models]
