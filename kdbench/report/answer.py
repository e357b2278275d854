"""The report's first screen: the setting in two lines and the answer table.

**Answer table** (`answer_table`): one row per distilled student (grouped by teacher, in the
order of the shared key and of the forest plot; compressed variants left out), numbered, and
for each headline metric of `kdbench.report.tables.HEADLINE` (ID NLL, corruption ECE, shift
NLL, OOD AUROC with the entropy score on the natural OOD sets) four cells: the student's paired
difference against the labels-only student ``L`` and against its own teacher ``T``, raw and
with both sides temperature-scaled (``TS``). The numbers are those of
`kdbench.report.tables.paired_comparisons` (two-level intervals where the results hold the
per-example part, Holm within one metric x one reference kind): a cell is the signed mean
difference, ▲ where the Holm-adjusted p < 0.05 in the student's favour, ▼ against it (the
interval is then clear of 0), no mark otherwise; "—" where a comparison is missing.

**Setting** (`setting_lines`): line 1 the data and the seeds (``run_info.json``), line 2 the
teachers, the student network and the teacher − labels-only gap in ID accuracy
(`kdbench.report.findings.teacher_gap`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .findings import teacher_gap
from .stats import format_interval
from .style import Key, variant_of
from .tables import HEADLINE, VERDICT_MARK, paired_comparisons

# answer-table columns per metric: (label, reference_kind)
REFERENCES = (("L", "labels-only"), ("L TS", "labels-only (TS)"), ("T", "teacher"),
              ("T TS", "teacher (TS)"))


def answer_students(key: Key) -> list[str]:
    """The rows of the answer table: distilled students in key order, no variants."""
    return [m for m in key.models if key.method[m] not in ("teacher",)
            and key.group[m] != "labels only" and not variant_of(m)]


def answer_pairs(everything: pd.DataFrame, students: list[str],
                 examples: pd.DataFrame | None) -> pd.DataFrame:
    """`paired_comparisons` of ``students`` on the `HEADLINE` metrics (raw and TS rows)."""
    cols = [(split, metric, label, hib, None) for split, metric, label, hib in HEADLINE]
    return paired_comparisons(everything, students, columns=cols, examples=examples)


def _cell(row) -> str:
    if row is None or not np.isfinite(row["mean"]):
        return "—"
    return format_interval(row["mean"], np.nan, np.nan, signed=True) + VERDICT_MARK.get(row["verdict"], "")


def answer_table(pairs: pd.DataFrame, key: Key, students: list[str]) -> pd.DataFrame:
    """The answer table (module docstring): index ``#`` (row numbers from 1), columns
    ``teacher``, ``method`` (the teacher shown on a group's first row only) and
    ``<metric> <reference>`` per `HEADLINE` metric and `REFERENCES` entry, cells as strings."""
    cell = {(r["student"], r["reference_kind"], r["column"]): r for r in pairs.to_dict("records")}
    rows = []
    for i, s in enumerate(students):
        first = i == 0 or key.group[students[i - 1]] != key.group[s]
        rec = {"teacher": key.group[s] if first else "", "method": key.short_label(s)}
        for _, _, label, _ in HEADLINE:
            for short, kind in REFERENCES:
                rec[f"{label} {short}"] = _cell(cell.get((s, kind, label)))
        rows.append(rec)
    out = pd.DataFrame(rows, index=pd.Index(range(1, len(rows) + 1), name="#"))
    return out


def setting_lines(info: dict, models_info: pd.DataFrame, key: Key, everything: pd.DataFrame,
                  examples: pd.DataFrame | None) -> list[str]:
    """The two lines of the setting (module docstring)."""
    seeds = info.get("seeds") or sorted(everything.seed.unique().tolist())
    desc = str(info.get("description", "")).strip().rstrip(".")
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        which = f"{seeds[0]}–{seeds[-1]}"
    else:
        which = ", ".join(map(str, seeds))
    line1 = ((f"**Data**: {desc}; " if desc else "**Data**: ")
             + f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({which}).")
    teachers = [m for m in key.models if key.method[m] == "teacher" and not variant_of(m)]
    mi = (models_info.drop_duplicates("model").set_index("model")
          if not models_info.empty and "model" in models_info.columns else pd.DataFrame())

    def members(m: str) -> str:
        if "members" in mi.columns and m in mi.index and pd.notna(mi.at[m, "members"]) \
                and int(mi.at[m, "members"]) > 1:
            return f" ({int(mi.at[m, 'members'])} networks)"
        return ""

    def params(m: str) -> float:
        if "parameters" in mi.columns and m in mi.index and pd.notna(mi.at[m, "parameters"]):
            return float(mi.at[m, "parameters"])
        return float("nan")
    line2 = "**Teachers**: " + ", ".join(f"{t}{members(t)}" for t in teachers)
    tp = [params(t) for t in teachers if np.isfinite(params(t))]
    if tp:
        line2 += f" ({int(max(tp)):,} parameters each)"
    archs = sorted({key.student[m] for m in key.models if key.student.get(m, "-") != "-"})
    if archs:
        studs = [m for m in key.models if key.student[m] == archs[0] and not variant_of(m)]
        sp = [params(m) for m in studs if np.isfinite(params(m))]
        size = (f" ({int(min(sp)):,}" + (f", {min(sp) / max(tp):.0%})" if tp else ")")
                if sp else "")
        line2 += f"; **student** {', '.join(f'`{a}`' for a in archs)}{size}"
    gap = teacher_gap(everything, teachers, examples=examples)
    acc = gap[gap.column == "ID accuracy"] if len(gap) else gap
    if len(acc):
        parts = [f"{t} {format_interval(100 * m, np.nan, np.nan, digits=1, signed=True)}"
                 + VERDICT_MARK.get(v, "") for t, m, v in zip(acc.student, acc["mean"], acc.verdict)]
        line2 += f"; **gap** over `{acc.ref.iloc[0]}`, ID acc. points: " + ", ".join(parts)
    return [line1, line2 + "."]
