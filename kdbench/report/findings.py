"""A short "findings" list generated from the numbers: each sentence states only what the
tables show, with the values and intervals it rests on.

Claims follow `kdbench.report.stats`: a model "beats" / "is worse than" another only when
the 95% t-interval of their paired per-seed difference excludes 0; otherwise the sentence says
"no significant difference" and gives the interval. With one seed no seed-level claim is
made: the sentence says so and gives the single-run difference. "OOD AUROC" is the mean over
the natural OOD sets; uniform noise (`SYNTHETIC_OOD`) is reported apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stats import format_interval, paired_difference, seed_interval, verdict
from .tables import PAIRED_COLUMNS, SYNTHETIC_OOD, labels_only_baseline, per_seed, seed_series

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


def _group(pairs: list[tuple[str, tuple[float, float, float, int]]], *, higher_is_better: bool) -> str:
    """Students grouped by verdict: 'beats it: a +0.01 [..]; worse: ...; no significant
    difference: ...' (or the single-run differences with one seed)."""
    groups: dict[str, list[str]] = {}
    for name, (m, lo, hi, n) in pairs:
        v = verdict(m, lo, hi, n, higher_is_better=higher_is_better)
        groups.setdefault(v, []).append(f"{name} {format_interval(m, lo, hi, signed=True)}")
    parts = []
    for v, label in (("better", "beats it"), ("worse", "is worse than it"),
                     ("no significant difference", "no significant difference"),
                     ("single seed", "single-run differences"), ("missing", "missing")):
        if v in groups:
            parts.append(f"{label}: " + ", ".join(groups[v]))
    return "; ".join(parts)


def findings(metrics: pd.DataFrame, order: list[str], *,
             not_converged: dict[str, list[int]] | None = None) -> list[str]:
    """The findings of a suite (uncalibrated models of ``metrics``, in ``order``)."""
    cols = [c for c in ("model", "role", "teacher", "method", "student") if c in metrics.columns]
    ident = metrics[cols].drop_duplicates("model").set_index("model")
    teachers = [m for m in order if m in ident.index and ident.at[m, "role"] == "teacher"]
    students = [m for m in order if m in ident.index and ident.at[m, "role"] == "student"]
    ps = per_seed(metrics)
    n_seeds = metrics.seed.nunique()
    out: list[str] = []

    def s(model: str, split: str, metric: str) -> pd.Series:
        return seed_series(ps, model, split, metric)

    if n_seeds == 1:
        out.append("**One seed**: every interval below is a per-example bootstrap or absent, and no "
                   "seed-level claim (\"beats\", \"is worse than\") can be made; run the suite with "
                   "several seeds (`--seeds 0 1 2`) for paired comparisons.")
    else:
        out.append(f"{n_seeds} seeds (teachers and students). Values are means over seeds with a "
                   "95% Student-t interval over seeds; a comparison is a paired per-seed difference "
                   "(first − second) and says \"beats\" only when its interval excludes 0.")

    if teachers and (metrics.split == "corrupt").any():
        corr = metrics[(metrics.split == "corrupt") & (metrics.metric == "ece")]
        top = int(corr.severity.max())
        sev = corr[corr.severity == top].groupby(["model", "seed"])["value"].mean()
        vals = {t: sev.loc[t] for t in teachers if t in sev.index.get_level_values(0)}
        if vals:
            ranked = sorted(vals, key=lambda t: vals[t].mean())
            best = ranked[0]
            text = (f"At corruption severity {top}, the teacher with the lowest mean ECE is "
                    f"**{best}** ({_interval(vals[best])}; "
                    + ", ".join(f"{t} {_interval(vals[t])}" for t in ranked[1:]) + ")")
            if len(ranked) > 1:
                text += "; " + _claim(best, ranked[1], f"against {ranked[1]}",
                                      _diff(vals[best], vals[ranked[1]]), higher_is_better=False)
            out.append(text + ".")
    if "ensemble" in teachers and "single" in teachers:
        parts = []
        for split, name in (("shift", "natural shift"), ("corrupt", "corruptions (mean)")):
            for metric in ("nll", "ece"):
                d = _diff(s("ensemble", split, metric), s("single", split, metric))
                if d[3]:
                    parts.append(_claim("ensemble", "single", f"{metric.upper()} on {name}", d,
                                        higher_is_better=False))
        if parts:
            out.append("Ensemble vs single network (paired: seed s of both shares member 0): "
                       + "; ".join(parts) + ".")
    for score, name in (("auroc_entropy", "entropy"), ("auroc_mi", "mutual information")):
        vals = {t: s(t, "ood", score) for t in teachers}
        vals = {k: v for k, v in vals.items() if len(v.dropna())}
        if vals:
            best = max(vals, key=lambda k: vals[k].mean())
            out.append(f"Highest teacher OOD AUROC (natural OOD sets) with the {name} score: "
                       f"**{best}** ({_interval(vals[best])}"
                       + "".join(f"; {t} {_interval(v)}" for t, v in vals.items() if t != best) + ").")

    noise = metrics[(metrics.split == "ood") & metrics.dataset.isin(SYNTHETIC_OOD)
                    & (metrics.metric == "auroc_entropy")]
    if not noise.empty:
        per_model = noise.groupby("model")["value"].mean()
        extreme = int(((per_model < 0.1) | (per_model > 0.9)).sum())
        out.append(f"Uniform noise is reported apart from the natural OOD sets: its images are "
                   f"near-identical to a model, so its AUROC tends to the extremes like that of a "
                   f"single input (here {extreme} of {len(per_model)} models score below 0.1 or "
                   f"above 0.9 with the entropy score; range {_fmt(per_model.min())}–"
                   f"{_fmt(per_model.max())}) and would dominate any mean it entered.")

    distilled = [x for x in students if ident.at[x, "teacher"] != "-"]
    kept = {}
    for x in distilled:
        t = ident.at[x, "teacher"]
        ratio = (s(x, "ood", "auroc_entropy") / s(t, "ood", "auroc_entropy").replace(0, np.nan)).dropna()
        if len(ratio):
            kept[x] = ratio
    if kept:
        best = max(kept, key=lambda k: kept[k].mean())
        out.append(f"The student that keeps the largest share of its teacher's OOD AUROC (entropy "
                   f"score, natural sets) is **{best}**: ratio {_interval(kept[best])}.")

    if n_seeds == 1 and students:
        out.append("Paired comparisons of every student with the labels-only baseline and with its "
                   "own teacher: one seed, so no seed-level claim can be made; the single-run "
                   "differences are in the Paired comparisons table.")
    for kind, ref_word in (() if n_seeds == 1 else
                           (("baseline", "the labels-only baseline"), ("teacher", "their own teacher"))):
        for split, metric, label, hib in FINDING_COLUMNS:
            comps = []
            ref_name = None
            for x in students:
                if kind == "baseline":
                    ref = labels_only_baseline(ident, x)
                    if ref is None or ref == x:
                        continue
                    ref_name = ref
                else:
                    ref = ident.at[x, "teacher"]
                    if ref == "-" or ref not in ident.index:
                        continue
                d = _diff(s(x, split, metric), s(ref, split, metric))
                if d[3]:
                    comps.append((x, d))
            if not comps:
                continue
            who = f"{ref_word} **{ref_name}**" if kind == "baseline" and ref_name else ref_word
            n = max(d[3] for _, d in comps)
            head = (f"{LOWER_NAMES.get(label, label)}, students vs {who} "
                    + (f"(student − reference, paired over {n} seeds; "
                       f"{'higher' if hib else 'lower'} is better): " if n > 1 else
                       "(student − reference; one seed: no seed-level claim can be made): "))
            out.append(head + _group(comps, higher_is_better=hib) + ".")

    if not_converged:
        out.append(f"{len(not_converged)} model(s) did not converge in some seed and are marked † "
                   "in every table: " + "; ".join(f"{m} (seed {', '.join(map(str, seeds))})"
                                                  for m, seeds in not_converged.items()) + ".")
    return out

