"""A short "findings" list generated from the numbers: each sentence states only what the
summary, severity, OOD and retention tables show, with the values it rests on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tables import family_mean, severity_table


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def findings(metrics: pd.DataFrame, order: list[str]) -> list[str]:
    ident = metrics[["model", "role", "teacher", "method"]].drop_duplicates("model").set_index("model")
    teachers = [m for m in order if m in ident.index and ident.at[m, "role"] == "teacher"]
    students = [m for m in order if m in ident.index and ident.at[m, "role"] == "student"]
    fam = family_mean(metrics)
    out: list[str] = []

    def val(model: str, split: str, metric: str) -> float:
        return float(fam.get((model, split, metric), np.nan))

    if teachers and (metrics.split == "corrupt").any():
        ece = severity_table(metrics, "ece", order)
        top = max(ece.columns)
        t_ece = ece.loc[teachers, top].dropna()
        if len(t_ece):
            best = t_ece.idxmin()
            out.append(f"At corruption severity {top}, the best-calibrated teacher is **{best}** "
                       f"(mean ECE {_fmt(t_ece[best])}; "
                       + ", ".join(f"{t} {_fmt(v)}" for t, v in t_ece.items() if t != best) + ").")
    if "ensemble" in teachers and "single" in teachers:
        parts = []
        for split, name in (("shift", "natural shift"), ("corrupt", "corruptions (mean)")):
            for metric in ("nll", "ece"):
                e, s = val("ensemble", split, metric), val("single", split, metric)
                if np.isfinite(e) and np.isfinite(s):
                    parts.append(f"{metric.upper()} on {name} {_fmt(e)} vs {_fmt(s)}")
        if parts:
            out.append("Ensemble vs single network: " + "; ".join(parts) + ".")
    for score, name in (("auroc_entropy", "entropy"), ("auroc_mi", "mutual information")):
        vals = {t: val(t, "ood", score) for t in teachers}
        vals = {k: v for k, v in vals.items() if np.isfinite(v)}
        if vals:
            best = max(vals, key=vals.get)
            out.append(f"Best teacher OOD detector with the {name} score: **{best}** "
                       f"(mean AUROC {_fmt(vals[best])}).")
    distilled = [s for s in students if ident.at[s, "teacher"] != "-"]
    if distilled:
        kept = {}
        for s in distilled:
            t = ident.at[s, "teacher"]
            tv, sv = val(t, "ood", "auroc_entropy"), val(s, "ood", "auroc_entropy")
            if np.isfinite(tv) and np.isfinite(sv) and tv > 0:
                kept[s] = (sv / tv, sv, tv)
        if kept:
            best = max(kept, key=lambda k: kept[k][0])
            r, sv, tv = kept[best]
            out.append(f"The student that keeps most of its teacher's OOD AUROC (entropy score) is "
                       f"**{best}**: {_fmt(sv)} vs its teacher's {_fmt(tv)} (ratio {r:.2f}).")
    baselines = [s for s in students if ident.at[s, "teacher"] == "-"]
    if baselines and distilled:
        base = baselines[0]
        for split, metric, name in (("id", "nll", "ID NLL"), ("corrupt", "ece", "mean corruption ECE"),
                                    ("ood", "auroc_entropy", "OOD AUROC (entropy)")):
            b = val(base, split, metric)
            higher_better = metric.startswith("auroc")
            better = [s for s in distilled
                      if np.isfinite(val(s, split, metric)) and
                      ((val(s, split, metric) > b) if higher_better else (val(s, split, metric) < b))]
            out.append(f"{name}: {len(better)} of {len(distilled)} distilled students beat the "
                       f"labels-only baseline **{base}** ({_fmt(b)})"
                       + (f": {', '.join(f'{s} {_fmt(val(s, split, metric))}' for s in better)}." if better else "."))
    return out
