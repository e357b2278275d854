"""The one visual key every figure shares: colour per teacher, marker per method, fill per
compressed variant, short labels, and the grouping of models by teacher.

* **Group** (`group_of`): a teacher and the students distilled from it form one group, named
  after the teacher; labels-only students (teacher "-") form the group ``labels only``.
  Figures that would crowd at 30–40 models draw one panel row per group.
* **Colour** = group: teachers in the order of the results get `TEACHER_COLOURS` in turn;
  ``labels only`` is dark grey (`LABELS_ONLY_COLOUR`).
* **Marker** = method (`METHOD_MARKERS`): a star for the teacher itself; a method the table
  does not know (a plugin) gets the next unused marker of `FALLBACK_MARKERS`, in sorted name
  order, so the same results always get the same markers.
* **Fill** = compressed variant (`variant_of`, from the model name): filled for the model
  itself, hollow for ``+int8``, half-filled (left) for ``+prune<P>``, bottom-filled for a model
  with both. Post-hoc calibrated variants are not drawn (the report's post-hoc table has them).
* **Short label** (`short_label`): inside a group, the method (with the student architecture
  when a suite has several) and the variant suffix, e.g. ``kd+int8``; the teacher is
  ``teacher``. `long_label` prefixes the group for figures that pool groups
  (``ensemble · kd+int8``).

`Key.legend_handles` draws the key; `add_key` puts it beneath a figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

TEACHER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                   "#e377c2", "#17becf", "#bcbd22")
LABELS_ONLY_COLOUR = "#404040"
LABELS_ONLY = "labels only"
TEACHER_MARKER = "*"
METHOD_MARKERS = {"none": "s", "kd": "o", "sample-kd": "v", "end2": "D", "end2-proxy": "d",
                  "hydra": "P", "dkd": "X", "dist": "^", "kd-std": "p"}
FALLBACK_MARKERS = ("h", "<", ">", "H", "8", "1", "2", "3", "4", "+", "x")
VARIANT_RE = re.compile(r"\+(int8|prune\d*)")
FILL = {(): "full", ("int8",): "none", ("prune",): "left", ("int8", "prune"): "bottom"}
COMPRESSED_POSTHOC = re.compile(r"^(int8|prune\d*)$")


def variant_of(model: str) -> tuple[str, ...]:
    """The compressed-variant kinds in a model name: ``()``, ``("int8",)``, ``("prune",)`` or
    both (sorted)."""
    kinds = {("prune" if v.startswith("prune") else v) for v in VARIANT_RE.findall(model)}
    return tuple(sorted(kinds))


def base_name(model: str) -> str:
    """The model name without its compressed-variant suffixes."""
    return VARIANT_RE.sub("", model)


def figure_models(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures draw: uncalibrated models and their compressed variants (a
    post-hoc calibrated variant is left out)."""
    if "posthoc" not in metrics.columns:
        return metrics
    ph = metrics.posthoc.astype(str)
    return metrics[(ph == "-") | ph.str.match(COMPRESSED_POSTHOC)]


@dataclass(frozen=True)
class Key:
    """The key of one set of results: model -> group, colour, marker, fill, labels."""

    models: tuple[str, ...]
    group: dict[str, str]
    method: dict[str, str]     # "teacher" for teachers
    student: dict[str, str]
    colour_of_group: dict[str, str]
    marker_of_method: dict[str, str]

    @property
    def groups(self) -> list[str]:
        """Groups in model order (teachers' groups first, ``labels only`` last)."""
        gs = list(dict.fromkeys(self.group[m] for m in self.models))
        return [g for g in gs if g != LABELS_ONLY] + ([LABELS_ONLY] if LABELS_ONLY in gs else [])

    def members(self, group: str) -> list[str]:
        return [m for m in self.models if self.group[m] == group]

    def colour(self, model: str) -> str:
        return self.colour_of_group[self.group[model]]

    def marker(self, model: str) -> str:
        return self.marker_of_method[self.method[model]]

    def fill(self, model: str) -> str:
        return FILL[variant_of(model)]

    def short_label(self, model: str) -> str:
        if self.method[model] == "teacher":
            text = "teacher"
        else:
            text = self.method[model]
            if len(set(self.student.values()) - {"-"}) > 1:
                text = f"{self.student[model]} {text}"
        return text + "".join(f"+{v}" for v in VARIANT_RE.findall(model))

    def long_label(self, model: str) -> str:
        return f"{self.group[model]} · {self.short_label(model)}"

    def style(self, model: str, *, ms: float = 6.0) -> dict:
        """Line2D keyword arguments of a model's marker (colour, marker, fill)."""
        c = self.colour(model)
        return {"color": c, "marker": self.marker(model), "fillstyle": self.fill(model),
                "markeredgecolor": c, "markerfacecoloralt": "white", "ms": ms, "mew": 1.0}

    def legend_handles(self) -> list:
        """Colour patches of the groups, markers of the methods, fills of the variants."""
        handles: list = [Patch(color=self.colour_of_group[g], label=g) for g in self.groups]
        methods = list(dict.fromkeys(self.method[m] for m in self.models))
        handles += [Line2D([], [], ls="", color="0.3", marker=self.marker_of_method[m], ms=6,
                           label=m) for m in methods]
        variants = list(dict.fromkeys(variant_of(m) for m in self.models))
        if len(variants) > 1:
            for v in variants:
                handles.append(Line2D([], [], ls="", color="0.3", marker="o", fillstyle=FILL[v],
                                      markerfacecoloralt="white", ms=6,
                                      label="+".join(v) if v else "float"))
        return handles


def make_key(metrics: pd.DataFrame, models: list[str]) -> Key:
    """The `Key` of ``models`` from the identity columns of ``metrics``; its model order is
    grouped (each teacher's group, the teacher first, its students in the given order; the
    labels-only students last)."""
    ident = metrics[["model", "role", "teacher", "method", "student"]].drop_duplicates("model")
    ident = ident.set_index("model")
    group, method, student = {}, {}, {}
    for m in models:
        role, teacher = ident.at[m, "role"], str(ident.at[m, "teacher"])
        if role == "teacher":
            group[m], method[m] = base_name(m), "teacher"
        else:
            group[m] = LABELS_ONLY if teacher == "-" else teacher
            method[m] = str(ident.at[m, "method"])
        student[m] = str(ident.at[m, "student"])
    teachers = list(dict.fromkeys(g for g in group.values() if g != LABELS_ONLY))
    rank = {g: i for i, g in enumerate(teachers + [LABELS_ONLY])}
    # grouped order: each teacher's group (the teacher first, then its students), labels only last
    models = sorted(models, key=lambda m: (rank[group[m]], method[m] != "teacher"))
    colours = {t: TEACHER_COLOURS[i % len(TEACHER_COLOURS)] for i, t in enumerate(teachers)}
    colours[LABELS_ONLY] = LABELS_ONLY_COLOUR
    markers = {"teacher": TEACHER_MARKER, **METHOD_MARKERS}
    spare = [mk for mk in FALLBACK_MARKERS if mk not in markers.values()]
    for i, name in enumerate(sorted(set(method.values()) - set(markers))):
        markers[name] = spare[i % len(spare)]
    return Key(tuple(models), group, method, student, colours, markers)


def add_key(fig: plt.Figure, key: Key, *, ncol: int | None = None) -> None:
    """The shared key beneath ``fig`` (a figure with constrained layout)."""
    handles = key.legend_handles()
    fig.legend(handles=handles, loc="outside lower center", frameon=False,
               ncol=ncol or min(len(handles), 8), fontsize=8, handletextpad=0.3,
               columnspacing=1.0)


# --------------------------------------------------------------------------- panels of few curves

MAX_CURVES = 6  # lines drawn per axes, at most (tests/test_figures.py checks every figure)
BEHIND_GREY = {"teacher": ("0.45", "--"), "labels only": ("0.62", "-")}


@dataclass(frozen=True)
class Row:
    """One panel row of a line figure: ``models`` drawn in their colours, ``behind`` (the
    labels-only student, or a student's teacher) in grey behind them; ``title`` names it."""

    title: str
    models: tuple[str, ...]
    behind: tuple[str, ...] = ()


def _chunks(items: list[str], size: int) -> list[list[str]]:
    """``items`` in consecutive parts of at most ``size``, as even as possible."""
    if not items:
        return []
    parts = -(-len(items) // size)
    step = -(-len(items) // parts)
    return [items[i:i + step] for i in range(0, len(items), step)]


def _baselines(key: Key, students: list[str]) -> tuple[str, ...]:
    """The labels-only students of the architectures of ``students`` (all labels-only
    students when none matches)."""
    lo = [m for m in key.members(LABELS_ONLY) if not variant_of(m)]
    same = [m for m in lo if key.student[m] in {key.student[s] for s in students}]
    return tuple(same or lo)


def group_rows(key: Key, *, per_row: int = 4) -> list[Row]:
    """Rows of at most ``per_row`` students each, a teacher's group at a time: the teacher and
    its students in colour, their labels-only student in grey behind (so a panel draws at most
    ``per_row + 2`` curves). Compressed variants are left out (`variant_rows` has them); a
    labels-only student is drawn behind every row, and gets a row of its own only when no
    teacher has students of its architecture."""
    rows, covered = [], set()
    for g in key.groups:
        if g == LABELS_ONLY:
            continue
        members = [m for m in key.members(g) if not variant_of(m)]
        teachers = [m for m in members if key.method[m] == "teacher"]
        students = [m for m in members if key.method[m] != "teacher"]
        parts = _chunks(students, per_row) or [[]]
        for i, part in enumerate(parts):
            behind = _baselines(key, part) if part else ()
            covered |= set(behind)
            title = g if len(parts) == 1 else f"{g} ({i + 1}/{len(parts)})"
            rows.append(Row(title, tuple(teachers + part), behind))
    rest = [m for m in key.members(LABELS_ONLY) if not variant_of(m) and m not in covered]
    for i, part in enumerate(_chunks(rest, per_row)):
        rows.append(Row(LABELS_ONLY if len(rest) <= per_row else f"{LABELS_ONLY} ({i + 1})",
                        tuple(part)))
    return rows


def student_rows(key: Key) -> list[Row]:
    """One row per model: each distilled student in colour with its teacher and its
    labels-only student in grey behind; a teacher without students and a labels-only student
    that is nobody's baseline get a row of their own. Compressed variants are left out."""
    rows, shown = [], set()
    for g in key.groups:
        members = [m for m in key.members(g) if not variant_of(m)]
        teachers = [m for m in members if key.method[m] == "teacher"]
        students = [m for m in members if key.method[m] != "teacher"]
        if g == LABELS_ONLY:
            continue
        for s in students:
            behind = tuple(teachers) + _baselines(key, [s])
            shown |= set(behind)
            rows.append(Row(key.long_label(s), (s,), behind))
        if not students:
            rows += [Row(key.long_label(t), (t,)) for t in teachers]
    rows += [Row(key.long_label(m), (m,)) for m in key.members(LABELS_ONLY)
             if not variant_of(m) and m not in shown]
    return rows


def variant_rows(key: Key) -> list[Row]:
    """One row per student with compressed variants: the student and its variants (same
    colour, fills of the key). Empty without variants."""
    rows = []
    for m in key.models:
        if variant_of(m):
            continue
        variants = [v for v in key.models if variant_of(v) and base_name(v) == m]
        if variants:
            rows.append(Row(key.long_label(m), (m, *variants)))
    return rows


def behind_style(key: Key, model: str, *, ms: float = 3.5) -> dict:
    """Line2D keyword arguments of a model drawn in grey behind the others: a teacher dashed
    in dark grey, a labels-only student solid in light grey; its own marker, hollow."""
    grey, ls = BEHIND_GREY["teacher" if key.method[model] == "teacher" else LABELS_ONLY]
    return {"color": grey, "marker": key.marker(model), "fillstyle": "none", "ms": ms,
            "mew": 0.8, "ls": ls, "zorder": 1}


def behind_label(key: Key, model: str) -> str:
    """``teacher (grey)`` / ``labels only (grey)`` — how a grey curve is named in a legend."""
    return ("teacher" if key.method[model] == "teacher" else f"{LABELS_ONLY}: "
            + key.short_label(model)) + " (grey)"
