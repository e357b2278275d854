"""Findings generated from the numbers. `headline_findings`: the report's list, at most about ten
one-line sentences that point to rows of the answer table (`kdbench.report.answer`) or to a
section; `findings`: the full statements with every value and interval they rest on (for a
console or a test; the report keeps per-student numbers in its tables).

The first lines are (i) the teacher / labels-only student gap (ID accuracy, temperature-scaled
ID NLL) and (ii) what distillation gives beyond temperature-scaling the small model: per metric,
how many students beat the temperature-scaled labels-only student.

Claims follow `kdbench.report.stats`: a student "beats" / "is worse than" a reference only when
the paired-t p-value of their per-seed difference, Holm–Bonferroni-adjusted within its family
(one metric x one reference kind of `paired_comparisons`), is below 0.05; the family size is
stated. Other two-model comparisons (ensemble vs single) use the 95% paired t-interval. A
"best" / "highest" statement gives the paired interval against the runner-up and says "no clear
best" when it includes 0. With one seed no seed-level claim is
made: the sentence says so and gives the single-run difference. "OOD AUROC" is the mean over
the natural OOD sets; uniform noise (`SYNTHETIC_OOD`) is reported apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stats import format_interval, paired_difference, seed_interval, verdict
from .tables import (HEADLINE, PAIRED_COLUMNS, REFERENCE_KINDS, SEEDS_AND_EXAMPLES, SEEDS_ONLY,
                     SYNTHETIC_OOD, ExampleVariance, base_models, holm_verdicts, paired_test,
                     identities, labels_only_baseline, paired_comparisons, per_seed, seed_series,
                     ts_name)

# the comparisons the findings summarise (the report's paired table also has OOD per set)
FINDING_COLUMNS = PAIRED_COLUMNS + [
    ("ood", "auroc_entropy", "OOD AUROC (H, natural sets)", True),
    ("ood", "auroc_mi", "OOD AUROC (MI, natural sets)", True),
]
LOWER_NAMES = {"ID acc": "ID accuracy", "C ECE": "mean corruption ECE", "Shift NLL": "shift NLL"}


def _fmt(v: float) -> str:
    return "—" if not np.isfinite(v) else f"{v:.3f}"


def _interval(values: pd.Series) -> str:
    m, lo, hi, _ = seed_interval(values.to_numpy())
    return format_interval(m, lo, hi)


def _diff(a: pd.Series, b: pd.Series) -> tuple[float, float, float, int]:
    return paired_difference(a, b)


def _claim(name_a: str, name_b: str, what: str, d: tuple[float, float, float, int], *,
           higher_is_better: bool) -> str:
    """One comparison in words, e.g. 'ensemble beats single on shift NLL (difference −0.08
    [−0.12, −0.04], 3 seeds)'."""
    mean, lo, hi, n = d
    text = format_interval(mean, lo, hi, signed=True)
    v = verdict(mean, lo, hi, n, higher_is_better=higher_is_better)
    if v == "missing":
        return f"{what}: no paired seeds"
    if v == "single seed":
        return f"{what}: {name_a} − {name_b} = {text} (one seed: no seed-level claim)"
    if v == "no significant difference":
        return f"{what}: no significant difference ({text}, {n} seeds)"
    word = "beats" if v == "better" else "is worse than"
    return f"{what}: **{name_a}** {word} {name_b} ({text}, {n} seeds)"


def _best(what: str, ranked: list[str], vals: dict[str, pd.Series], *, higher_is_better: bool,
          digits: int = 3) -> str:
    """A "best" statement that rests on the paired interval against the runner-up: '**a** (..);
    ahead of runner-up b by Δ [lo, hi] (n seeds)' when that interval excludes 0, else 'no clear
    best: a and b differ by Δ [lo, hi]'. ``ranked``: best first; ``vals``: seed -> value."""
    best = ranked[0]
    others = ", ".join(f"{t} {_interval(vals[t])}" for t in ranked[1:2])
    if len(ranked) > 2:
        what += f" (of {len(ranked)})"
    if len(ranked) == 1:
        return f"{what}: only **{best}** ({_interval(vals[best])})"
    mean, lo, hi, n = _diff(vals[best], vals[ranked[1]])
    d = format_interval(mean, lo, hi, signed=True, digits=digits)
    if n < 2 or not (np.isfinite(lo) and np.isfinite(hi)):
        return (f"{what}: no clear best (one seed: no interval): {best} {_interval(vals[best])}, "
                f"{others}; {best} − {ranked[1]} = {d}")
    if lo > 0 or hi < 0:
        return (f"{what}: **{best}** ({_interval(vals[best])}); ahead of the runner-up "
                f"{others} by {d} ({n} seeds, paired)")
    return (f"{what}: no clear best: {best} {_interval(vals[best])}, {others}; "
            f"{best} − runner-up {ranked[1]} = {d} ({n} seeds, paired) includes 0")


def _verdict_counts(sel: pd.DataFrame) -> str:
    """'2 of 20 better (a −0.01 [..], b ..), 1 worse (c ..), 17 no significant difference'
    (``sel``: one family of `paired_comparisons`)."""
    total = len(sel)
    parts = []
    for v, word in (("better", "better"), ("worse", "worse")):
        g = sel[sel.verdict == v]
        names = ", ".join(f"{x} {format_interval(m, lo, hi, signed=True)}"
                          for x, m, lo, hi in zip(g.student, g["mean"], g.lo, g.hi))
        parts.append(f"{len(g)} {word}" + (f" ({names})" if names else ""))
    rest = int((sel.verdict == "no significant difference").sum())
    text = f"{parts[0].replace(' ', f' of {total} ', 1)}, {parts[1]}, {rest} no significant difference"
    missing = int(sel.verdict.isin(["missing", "single seed"]).sum())
    return text + (f", {missing} without a test" if missing else "")


def _two_level_note(g: pd.DataFrame) -> str:
    return " and the test images" if (g.get("interval") == SEEDS_AND_EXAMPLES).all() else ""


def _ece_floor_line(raw: pd.DataFrame, order: list[str]) -> str | None:
    """ID ECE against its noise floor (`kdbench.metrics.ece_noise_floor`, mean over seeds):
    the models whose ID ECE is at or below the ECE a perfectly calibrated model with their
    confidences would show on the ID test set."""
    sel = raw[(raw.split == "id") & raw.metric.isin(["ece", "ece_floor"])]
    if sel.empty or "ece_floor" not in set(sel.metric):
        return None
    tab = sel.groupby(["model", "metric"])["value"].mean().unstack("metric").dropna()
    tab = tab.reindex([m for m in order if m in tab.index])
    below = [m for m in tab.index if tab.at[m, "ece"] <= tab.at[m, "ece_floor"]]
    return (f"ID ECE against its noise floor (the ECE a perfectly calibrated model with the same "
            f"confidences would show on this test set, mean over seeds; floors "
            f"{_fmt(tab.ece_floor.min())}–{_fmt(tab.ece_floor.max())}): {len(below)} of {len(tab)} "
            "models at or below it" + (f" ({', '.join(below)}): their ID ECE cannot be told "
                                        "apart from perfect calibration" if below else "") + ".")


def teacher_gap(metrics: pd.DataFrame, teachers: list[str], *,
                examples: pd.DataFrame | None = None) -> pd.DataFrame:
    """The teacher / labels-only student gap: each teacher − the labels-only student of
    ``metrics`` in ID accuracy (raw) and temperature-scaled ID NLL (raw NLL where the suite has
    no TS rows), `paired_test` (two-level where ``examples`` has the pair), Holm over the
    teachers per metric (`holm_verdicts`). Columns ``student`` (the teacher), ``ref``,
    ``column`` ("ID accuracy" | "temperature-scaled ID NLL"), ``scaled``, ``mean, lo, hi, n,
    interval, p, p_holm, family_size, verdict``; empty without a labels-only student."""
    ev = ExampleVariance(examples)
    ident = identities(base_models(metrics))
    present = set(metrics.model)
    ps_all = per_seed(metrics)
    frames = []
    for metric, label, hib, scaled in (("accuracy", "ID accuracy", True, False),
                                       ("nll", "temperature-scaled ID NLL", False, True)):
        recs = []
        for t in teachers:
            base = labels_only_baseline(ident, t)
            if base is None:
                continue
            a, b = (ts_name(t), ts_name(base)) if scaled else (t, base)
            if a not in present or b not in present:
                if not scaled:
                    continue
                a, b = t, base
            sa, sb = seed_series(ps_all, a, "id", metric), seed_series(ps_all, b, "id", metric)
            test = paired_test(a, b, sa, sb, "id", metric, ev)
            if test["n"]:
                recs.append({"student": t, "ref": base, "column": label, "reference_kind": "gap",
                             "higher_is_better": hib, **test, "scaled": a != t})
        if recs:
            frames.append(holm_verdicts(pd.DataFrame(recs)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _gap_lines(metrics: pd.DataFrame, teachers: list[str], examples: pd.DataFrame | None
               ) -> list[str]:
    """(i) the teacher / labels-only student gap in words (`teacher_gap`)."""
    gap = teacher_gap(metrics, teachers, examples=examples)
    out = []
    for label, g in (gap.groupby("column", sort=False) if len(gap) else ()):
        what = label if (label == "ID accuracy" or g.scaled.all()) else \
            "ID NLL (raw: no temperature-scaled rows)"
        n = int(g.n.max())
        how = (f"paired over {n} seeds{_two_level_note(g)}, Holm over "
               f"{int(g.family_size.iloc[0])} teachers" if n > 1 else "one seed: no seed-level claim")
        cells = "; ".join(f"{t} {format_interval(m, lo, hi, signed=True)}"
                          + ({"better": " (teacher better)", "worse": " (teacher worse)"}.get(v, "")
                             if n > 1 else "")
                          for t, m, lo, hi, v in zip(g.student, g["mean"], g.lo, g.hi, g.verdict))
        out.append(f"Teacher − labels-only student **{g.ref.iloc[0]}**, {what} ({how}): {cells}.")
    return out


def findings(metrics: pd.DataFrame, order: list[str], *,
             not_converged: dict[str, list[int]] | None = None,
             examples: pd.DataFrame | None = None) -> list[str]:
    """The findings of a suite, in ``order``. ``metrics``: the raw models' rows and, where the
    fair (temperature-scaled) comparisons should be made, the post-hoc rows too (posthoc
    "temperature"); other post-hoc rows are ignored. Every verdict on a student is that of
    `paired_comparisons` (Holm within each metric x reference kind, family size stated), with
    two-level intervals (seeds x test examples) where ``examples`` (the ``paired_examples``
    results table) has the pair."""
    ev = ExampleVariance(examples)
    raw = base_models(metrics)
    ident = identities(raw)
    teachers = [m for m in order if m in ident.index and ident.at[m, "role"] == "teacher"]
    students = [m for m in order if m in ident.index and ident.at[m, "role"] == "student"]
    ps = per_seed(raw)
    n_seeds = raw.seed.nunique()
    fcols = [(sp, m, label, hib, None) for sp, m, label, hib in FINDING_COLUMNS]
    pairs = paired_comparisons(metrics, order, columns=fcols, examples=examples)
    has_ts = (pairs.reference_kind == "labels-only (TS)").any()
    out: list[str] = []

    def s(model: str, split: str, metric: str) -> pd.Series:
        return seed_series(ps, model, split, metric)

    # (i) the teacher / student gap
    out += _gap_lines(metrics, teachers, examples)
    # (ii) what distillation gives beyond temperature-scaling the small model
    ts = pairs[pairs.reference_kind == "labels-only (TS)"]
    if has_ts and n_seeds > 1:
        parts = []
        for sp, m, label, hib in FINDING_COLUMNS[1:5]:
            g = ts[ts.column == label]
            if len(g):
                k = int((g.verdict == "better").sum())
                names = ", ".join(g.student[g.verdict == "better"])
                parts.append(f"{LOWER_NAMES.get(label, label)} {k} of {len(g)}"
                             + (f" ({names})" if names else ""))
        if parts:
            fs = int(ts.family_size.max())
            out.append("Beyond temperature-scaling the small model: students whose temperature-"
                       "scaled variant beats the temperature-scaled labels-only student after "
                       f"Holm (family of {fs} students per metric, p_holm < 0.05): "
                       + "; ".join(parts) + ".")
    elif has_ts:
        out.append("Beyond temperature-scaling the small model: one seed, so no test; the "
                   "single-run differences against labels-only (TS) are in the Paired comparisons table.")
    elif students:
        out.append("No temperature-scaled rows in these results: the comparison with the "
                   "temperature-scaled labels-only student (what distillation gives beyond "
                   "temperature scaling) cannot be made.")

    if n_seeds == 1:
        out.append("**One seed**: every interval below is a per-example bootstrap or absent, and no "
                   "seed-level claim (\"beats\", \"is worse than\") can be made; run the suite with "
                   "several seeds (`--seeds 0 1 2`) for paired comparisons.")
    else:
        out.append(f"{n_seeds} seeds (teachers and students). Values are means over seeds with a "
                   "95% Student-t interval over seeds; a comparison is a paired per-seed difference "
                   "(first − second). A student \"beats\" a reference only when the paired-t "
                   "p-value, Holm–Bonferroni-adjusted within its family (one metric x one "
                   "reference kind), is below 0.05.")

    if teachers and (raw.split == "corrupt").any():
        corr = raw[(raw.split == "corrupt") & (raw.metric == "ece")]
        top = int(corr.severity.max())
        sev = corr[corr.severity == top].groupby(["model", "seed"])["value"].mean()
        vals = {t: sev.loc[t] for t in teachers if t in sev.index.get_level_values(0)}
        if vals:
            ranked = sorted(vals, key=lambda t: vals[t].mean())
            out.append(_best(f"Lowest teacher ECE at corruption severity {top}", ranked, vals,
                             higher_is_better=False) + ".")
    if "ensemble" in teachers and "single" in teachers:
        ps_all = per_seed(metrics[metrics.model.isin({"ensemble", "single", ts_name("ensemble"),
                                                      ts_name("single")})])
        for scaled in (False, True):
            a, b = (ts_name("ensemble"), ts_name("single")) if scaled else ("ensemble", "single")
            parts = []
            for split, name in (("id", "in distribution"), ("corrupt", "corruptions (mean)"),
                                ("shift", "natural shift")):
                for metric in ("nll", "ece"):
                    t = paired_test(a, b, seed_series(ps_all, a, split, metric),
                                    seed_series(ps_all, b, split, metric), split, metric, ev)
                    if t["n"]:
                        mark = "" if t["interval"] == SEEDS_ONLY else "ˣ"
                        parts.append(_claim("ensemble", "single", f"{metric.upper()} {name}{mark}",
                                            (t["mean"], t["lo"], t["hi"], t["n"]),
                                            higher_is_better=False))
            if parts:
                out.append(f"Ensemble vs single network{', both temperature-scaled' if scaled else ''}"
                           " (paired: seed s of both shares member 0; verdict by the 95% "
                           "interval of each metric, ˣ over seeds and test images, else over "
                           "seeds): " + "; ".join(parts) + ".")
    for score, name in (("auroc_entropy", "entropy"), ("auroc_mi", "mutual information")):
        vals = {t: s(t, "ood", score) for t in teachers}
        vals = {k: v for k, v in vals.items() if len(v.dropna())}
        if vals:
            ranked = sorted(vals, key=lambda k: -vals[k].mean())
            out.append(_best(f"Highest teacher OOD AUROC (natural OOD sets, {name} score)", ranked,
                             vals, higher_is_better=True) + ".")

    floor_line = _ece_floor_line(raw, order)
    if floor_line:
        out.append(floor_line)

    noise = raw[(raw.split == "ood") & raw.dataset.isin(SYNTHETIC_OOD)
                & (raw.metric == "auroc_entropy")]
    if not noise.empty:
        per_model = noise.groupby("model")["value"].mean()
        extreme = int(((per_model < 0.1) | (per_model > 0.9)).sum())
        out.append(f"Uniform noise is reported apart from the natural OOD sets: its AUROC tends to "
                   f"the extremes like that of a single input ({extreme} of {len(per_model)} models "
                   f"below 0.1 or above 0.9 with the entropy score; range {_fmt(per_model.min())}–"
                   f"{_fmt(per_model.max())}).")

    distilled = [x for x in students if ident.at[x, "teacher"] != "-"]
    kept = {}
    for x in distilled:
        t = ident.at[x, "teacher"]
        ratio = (s(x, "ood", "auroc_entropy") / s(t, "ood", "auroc_entropy").replace(0, np.nan)).dropna()
        if len(ratio):
            kept[x] = ratio
    if kept:
        ranked = sorted(kept, key=lambda k: -kept[k].mean())
        out.append(_best("Largest share of its teacher's OOD AUROC kept (student / teacher, entropy "
                         "score, natural sets)", ranked, kept, higher_is_better=True) + ".")

    if n_seeds == 1 and students:
        out.append("Paired comparisons of every student with the labels-only student and with its "
                   "own teacher (raw and temperature-scaled): one seed, so no seed-level claim can "
                   "be made; the single-run differences are in the Paired comparisons table.")
    elif not pairs.empty:
        for rkind, _, _ in REFERENCE_KINDS:
            sel = pairs[pairs.reference_kind == rkind]
            if sel.empty:
                continue
            refs = sorted(set(sel.reference))
            who = (f"{rkind} **{refs[0]}**" if len(refs) == 1 else
                   "their own teacher" + (" (TS)" if rkind.endswith("(TS)") else ""))
            parts = []
            for _, _, label, _ in FINDING_COLUMNS:
                g = sel[sel.column == label]
                if len(g) and (g.n > 0).any():
                    parts.append(f"{LOWER_NAMES.get(label, label)} (family of "
                                 f"{int(g.family_size.max())}): {_verdict_counts(g)}")
            out.append(f"Students vs {who} (student − reference, Holm within each metric): "
                       + "; ".join(parts) + ".")

    if not_converged:
        out.append(f"{len(not_converged)} model(s) did not converge in some seed and are marked † "
                   "in every table: " + "; ".join(f"{m} (seed {', '.join(map(str, seeds))})"
                                                  for m, seeds in not_converged.items()) + ".")
    return out


def _rows(students, row_of: dict[str, int]) -> str:
    """'row 3' / 'rows 1, 5–8' of the answer table."""
    nums = sorted(row_of[s] for s in students if s in row_of)
    runs: list[list[int]] = []
    for n in nums:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    text = ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)
    return ("row " if len(nums) == 1 else "rows ") + text if nums else ""


def _side(g: pd.DataFrame, v: str, row_of: dict[str, int]) -> str:
    sel = g[g.verdict == v]
    return f"{len(sel)} ({_rows(sel.student, row_of)})" if len(sel) else "0"


def _against(g: pd.DataFrame, kinds: tuple[str, str], who: str, row_of: dict[str, int]) -> str:
    """How the students compare with one reference, raw and TS, in words."""
    raw, ts = (g[g.reference_kind == k] for k in kinds)
    if raw.empty:
        return ""
    if not (raw.verdict.isin(["better", "worse"]).any() or ts.verdict.isin(["better", "worse"]).any()):
        return f"none clearly differs from {who}" + (" (raw or TS)" if len(ts) else "")
    text = f"vs {who} {_side(raw, 'better', row_of)} better, {_side(raw, 'worse', row_of)} worse"
    if len(ts):
        text += f"; TS {_side(ts, 'better', row_of)} better, {_side(ts, 'worse', row_of)} worse"
    return text


def headline_findings(everything: pd.DataFrame, pairs: pd.DataFrame, teachers: list[str],
                      row_of: dict[str, int], *, examples: pd.DataFrame | None = None,
                      not_converged: dict[str, list[int]] | None = None,
                      order: list[str] | None = None) -> list[str]:
    """At most about ten one-line findings for the top of the report, each pointing to rows of
    the answer table (``row_of``: student -> row number) or to a section: the teacher gap; per
    `HEADLINE` metric how many students are better / worse than the labels-only student and
    than their teacher, raw and temperature-scaled (the verdicts of ``pairs``, the answer
    table's `paired_comparisons`); ensemble vs single network; the ECE noise floor; the models
    that did not converge. The per-student numbers are in the tables, not here."""
    out: list[str] = []
    raw = base_models(everything)
    n_seeds = raw.seed.nunique()
    gap = teacher_gap(everything, teachers, examples=examples)
    if len(gap) and n_seeds > 1:
        parts = [f"{label} {int((g.verdict == 'better').sum())} of {len(g)} teachers"
                 for label, g in gap.groupby("column", sort=False)]
        out.append(f"Teachers better than the labels-only student **{gap.ref.iloc[0]}** "
                   f"(Holm over teachers): {'; '.join(parts)} (setting, line 2).")
    if n_seeds == 1:
        out.append("**One seed**: no seed-level claim can be made; the answer table gives "
                   "single-run differences, without marks.")
    elif not pairs.empty:
        for _, _, label, _ in HEADLINE:
            g = pairs[pairs.column == label]
            if g.empty:
                continue
            bits = [_against(g, ("labels-only", "labels-only (TS)"), "the labels-only student", row_of),
                    _against(g, ("teacher", "teacher (TS)"), "their teacher", row_of)]
            out.append(f"**{label}**, {g.student.nunique()} students: "
                       + "; ".join(b for b in bits if b) + ".")
    if "ensemble" in teachers and "single" in teachers and n_seeds > 1:
        ev = ExampleVariance(examples)
        ps_all = per_seed(everything[everything.model.isin(
            {"ensemble", "single", ts_name("ensemble"), ts_name("single")})])
        for scaled in (False, True):
            a, b = (ts_name("ensemble"), ts_name("single")) if scaled else ("ensemble", "single")
            won, lost, tied = [], [], []
            for split, name in (("id", "ID"), ("corrupt", "C"), ("shift", "shift")):
                for metric in ("nll", "ece"):
                    t = paired_test(a, b, seed_series(ps_all, a, split, metric),
                                    seed_series(ps_all, b, split, metric), split, metric, ev)
                    if not t["n"]:
                        continue
                    v = verdict(t["mean"], t["lo"], t["hi"], t["n"], higher_is_better=False)
                    {"better": won, "worse": lost}.get(v, tied).append(f"{name} {metric.upper()}")
            if won or lost or tied:
                out.append(f"Ensemble − single network{' (both TS)' if scaled else ''}, 95% paired "
                           f"intervals: better on {', '.join(won) or 'none'}; worse on "
                           f"{', '.join(lost) or 'none'}; no clear difference on "
                           f"{', '.join(tied) or 'none'}.")
    floor = _ece_floor_count(raw, order or [])
    if floor:
        out.append(floor)
    if not_converged:
        out.append(f"† {len(not_converged)} model(s) did not converge in some seed: "
                   + ", ".join(not_converged) + " (Training and convergence).")
    return out


def _ece_floor_count(raw: pd.DataFrame, order: list[str]) -> str | None:
    """One line: how many models' ID ECE is at or below its noise floor (`_ece_floor_line`)."""
    sel = raw[(raw.split == "id") & raw.metric.isin(["ece", "ece_floor"])]
    if sel.empty or "ece_floor" not in set(sel.metric):
        return None
    tab = sel.groupby(["model", "metric"])["value"].mean().unstack("metric").dropna()
    below = int((tab["ece"] <= tab["ece_floor"]).sum())
    return (f"ID ECE at or below its noise floor (calibration indistinguishable from perfect on "
            f"this test set) for {below} of {len(tab)} models (Summary).")
