"""Paper figures from ``results/<suite>/`` alone (no runs/, no retraining), legible at 40 models.

Every figure uses the one key of `kdbench.report.style` (colour = teacher group, marker =
method, fill = compressed variant, short labels) and draws at most `MAX_CURVES` curves per
axes: line figures are small multiples — `group_rows` (a teacher with at most four of its
students, the labels-only student in grey behind) or, for the reliability diagrams,
`student_rows` (one student per panel, its teacher and labels-only student in grey behind) —
and compressed variants get figures of their own (`variant_rows`). Error bars are two-sided 95%
Student-t intervals over seeds (`kdbench.report.stats.seed_interval`; none with one seed).
Severities are read from the results, never assumed.

Each figure is registered with its caption (`kdbench.report.figure_registry.register_figure`);
`write_figures` draws every registered figure to stable file names under
``reports/<suite>/figures/``: PNG at the resolution the report shows it (`SHOWN_DPI`: one
figure inch = 100 CSS pixels, so a figure at most `MAX_WIDTH_IN` wide is shown 1:1) and PDF
(vector, for print). Matplotlib's Agg backend with fixed metadata: the same results give the
same bytes.

| file | what |
|---|---|
| forest | paired per-seed differences student − labels-only and student − teacher (`paired_comparisons`), raw and temperature-scaled (both sides) side by side, 95% intervals, filled where Holm-adjusted p < 0.05, for ID NLL, corruption ECE, shift NLL, OOD AUROC; compressed variants left out |
| reliability | one panel row per student: accuracy − confidence per bin, its teacher and labels-only student in grey; ID, shift, corrupted at the highest severity; bins under `MIN_BIN` examples left out |
| reliability_compressed | the same per student with compressed variants: the student and its variants (only with variants) |
| metric_vs_severity | per `group_rows` row: accuracy / ECE / NLL / Brier against severity (mean over corruption types) |
| compressed_severity | the same per student with compressed variants (only with variants) |
| conformal | per row: coverage and mean set size of 90% conformal sets (LAC, APS) against severity, and on the shift split |
| ece_by_corruption_sev<S> | heatmap model x corruption of ECE at the middle and the highest severity of the results |
| ood_entropy, ood_mi | per row: density of predictive entropy / mutual information on ID, shift and each OOD set |
| ood_auroc | OOD AUROC (mean over the natural OOD sets) per model and score |
| retention | teacher value (x) against student value (y), y = x dashed |
| accuracy_vs_ece | accuracy against ECE on the ID split, the natural shift and the corruptions (mean) |
| risk_coverage | per row: risk–coverage curves on the ID split and at the highest severity |
| training_curves | validation NLL and training accuracy per epoch (mean over seeds and networks, band = range), one column per row; only when ``curves.csv`` exists |
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..results_files import Results, load_results  # noqa: E402
from .figure_data import FigureData, figure_data, severities  # noqa: E402
from .figure_registry import figure_tasks as registered_tasks  # noqa: E402
from .figure_registry import register_figure  # noqa: E402
from .stats import seed_interval  # noqa: E402
from .style import (MAX_CURVES, Key, Row, add_key, behind_label, behind_style,  # noqa: E402
                    group_rows, student_rows, variant_rows)
from .tables import HEADLINE, SYNTHETIC_OOD, families, identities, paired_comparisons, per_seed  # noqa: E402

METRIC_TITLES = {"accuracy": "accuracy", "ece": "ECE (15 bins)", "nll": "NLL (nats)",
                 "brier": "Brier (sum over classes)"}
MIN_BIN = 30  # reliability bins with fewer examples (pooled over seeds) are left out
FOREST = HEADLINE
SHOWN_DPI = 100  # PNG pixels per figure inch = CSS pixels at which the report shows them
MAX_WIDTH_IN = 12.4  # the report's column (1,240 px) in figure inches
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "svg.hashsalt": "kdbench",
         "pdf.compression": 6, "figure.dpi": SHOWN_DPI}

Task = tuple[str, Callable[..., "plt.Figure | None"], tuple]


def crowded_axes(fig: plt.Figure, *, limit: int = MAX_CURVES) -> list[tuple[str, int]]:
    """``(axes title or label, curves)`` of every axes of ``fig`` that draws more than
    ``limit`` curves. A curve is a visible `Line2D` with a line style and at least three
    points: reference lines (``axhline``, ``y = x``: two points), markers without a line and
    error-bar caps do not count."""
    out = []
    for ax in fig.axes:
        n = sum(1 for ln in ax.get_lines()
                if ln.get_visible() and ln.get_linestyle() not in ("None", "", " ")
                and len(np.atleast_1d(ln.get_xdata())) >= 3)
        if n > limit:
            out.append((ax.get_title() or ax.get_ylabel() or f"axes {fig.axes.index(ax)}", n))
    return out


def _save(fig: plt.Figure, out: Path, stem: str, formats: tuple[str, ...]) -> list[Path]:
    """``fig`` as ``out/stem.FMT`` per format, cropped to its contents plus ``savefig``'s pad
    (0.1 in). Laid out once: the constrained layout and the crop box are computed with the Agg
    renderer (the PNG's), then frozen, so every format draws the same layout, and a PDF beside
    the PNG costs one draw instead of the three that ``bbox_inches="tight"`` takes per file."""
    fig.draw_without_rendering()  # runs the layout engine
    box = fig.get_tightbbox().padded(plt.rcParams["savefig.pad_inches"])
    fig.set_layout_engine(None)  # none at all ("none" keeps a placeholder, and savefig a draw)
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        meta = {"png": {"Software": "kdbench"}, "pdf": {"CreationDate": None, "Producer": "kdbench"},
                "svg": {"Date": None}}[fmt]
        fig.savefig(path, dpi=SHOWN_DPI, bbox_inches=box, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


def _interval(values: pd.Series, by: list[str]) -> pd.DataFrame:
    """Mean and t half-width over seeds of ``values`` (a Series with a ``seed`` level),
    grouped by the other levels ``by``: columns ``mean``, ``half`` (NaN with one seed)."""
    rows = {}
    for k, g in values.groupby(level=by, sort=False):
        mean, lo, hi, _ = seed_interval(g.to_numpy())
        rows[k] = (mean, (hi - lo) / 2)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "half"])
    if len(by) > 1 and len(out):
        out.index = pd.MultiIndex.from_tuples(out.index, names=by)
    return out


def _row_legend(ax: plt.Axes, key: Key, row: Row, *, below: bool = False) -> None:
    """The short labels of one row's models (and its grey ones): outside the right of its
    last panel, or (``below``) inside the panel's lower right."""
    handles = [plt.Line2D([], [], ls="", **key.style(m, ms=5), label=key.short_label(m))
               for m in row.models]
    for m in row.behind:
        st = behind_style(key, m, ms=5)
        st.pop("zorder")
        handles.append(plt.Line2D([], [], **{**st, "lw": 0.9}, label=behind_label(key, m)))
    if below:
        ax.legend(handles=handles, loc="lower right", frameon=True, framealpha=0.85, fontsize=6.5,
                  handletextpad=0.2, borderaxespad=0.3, handlelength=1.6)
        return
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              fontsize=7, handletextpad=0.2, borderaxespad=0.0, handlelength=1.6,
              ncol=1 if len(handles) <= 9 else 2, columnspacing=0.6)


def _line(ax: plt.Axes, x, y, key: Key, model: str, *, yerr=None, ls: str = "-", ms: float = 5) -> None:
    ax.errorbar(x, y, yerr=yerr, ls=ls, lw=1.0, capsize=1.5, elinewidth=0.7,
                **key.style(model, ms=ms))


# --------------------------------------------------------------------------- figures

FOREST_SERIES = (("raw", "", "0.15", "o", 0.17),
                 ("temperature-scaled (both sides)", " (TS)", "#d95f02", "D", -0.17))
FOREST_ALPHA = 0.05  # filled marker: Holm-adjusted p below this


def forest_figure(metrics: pd.DataFrame, key: Key, everything: pd.DataFrame | None = None,
                  examples: pd.DataFrame | None = None
                  ) -> plt.Figure | None:
    """Paired per-seed differences student − labels-only baseline (left block) and student −
    teacher (right block), mean with its 95% t-interval, for `FOREST`: one row per student
    (compressed variants left out), two markers per row: the raw comparison and the
    temperature-scaled one (student+temperature − reference+temperature), filled where the
    Holm-adjusted paired-t p-value is below `FOREST_ALPHA`. The numbers are those of
    `paired_comparisons` (the report's paired table). ``everything``: the metrics with the
    post-hoc rows (posthoc "temperature"); without it (or without such rows) only the raw
    markers are drawn. ``examples``: the ``paired_examples`` results table (two-level
    intervals where it has the pair, `paired_comparisons`)."""
    students = [m for m in key.models if key.method[m] != "teacher" and "+" not in m]
    if not students:
        return None
    cols = [(split, metric, title, hib, None) for split, metric, title, hib in FOREST]
    pairs = paired_comparisons(metrics if everything is None else everything, students,
                               columns=cols, examples=examples)
    pairs = pairs[np.isfinite(pairs["mean"].to_numpy(dtype=float))]
    blocks = [k for k in ("labels-only", "teacher") if (pairs.reference_kind == k).any()]
    students = [s for s in students if s in set(pairs.student)]
    if not blocks or not students:
        return None
    cell = {(r.student, r.reference_kind, r.column): r for r in pairs.itertuples(index=False)}

    n = len(students)
    fig, axes = plt.subplots(1, len(FOREST) * len(blocks),
                             figsize=(1.22 * len(FOREST) * len(blocks) + 2.0, 0.27 * n + 1.55),
                             squeeze=False, layout="constrained", sharey=True)
    y = np.arange(n)[::-1]
    for b, kind in enumerate(blocks):
        for c, (_, _, title, hib) in enumerate(FOREST):
            ax = axes[0, b * len(FOREST) + c]
            for _, suffix, colour, marker, dy in FOREST_SERIES:
                for yi, s in zip(y, students):
                    k = (s, kind + suffix, title)
                    if k not in cell:
                        continue
                    r = cell[k]
                    mean, lo, hi = float(r.mean), float(r.lo), float(r.hi)
                    err = None if not np.isfinite(lo) else [[mean - lo], [hi - mean]]
                    filled = bool(np.isfinite(r.p_holm) and float(r.p_holm) < FOREST_ALPHA)
                    ax.errorbar([mean], [yi + dy], xerr=err, ls="", capsize=1.5, elinewidth=0.8,
                                color=colour, marker=marker, ms=4.5, mew=1.0,
                                markeredgecolor=colour,
                                markerfacecolor=colour if filled else "white")
            ax.axvline(0, color="0.3", lw=0.8)
            ax.set_title(f"{title}\nstudent − {kind}", fontsize=8)
            ax.set_xlabel("better →" if hib else "← better", fontsize=7)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3, symmetric=True))
            ax.tick_params(axis="x", labelsize=6, labelrotation=90)
            ax.grid(axis="x", alpha=0.3)
            ax.set_ylim(-0.7, n - 0.3)
    # numbered as the rows of the report's answer table (the same students in the same order)
    axes[0, 0].set_yticks(y, [f"{i + 1}  {key.long_label(s)}" for i, s in enumerate(students)],
                          fontsize=7)
    handles = [plt.Line2D([], [], ls="", color=colour, marker=marker, ms=5, mew=1.0,
                          markerfacecolor=colour, label=label)
               for label, _, colour, marker, _ in FOREST_SERIES]
    handles += [plt.Line2D([], [], ls="", color="0.4", marker="o", ms=5, mew=1.0,
                           markerfacecolor=face, label=label)
                for face, label in (("0.4", f"filled: Holm-adjusted p < {FOREST_ALPHA:g}"),
                                    ("white", "hollow: not significant"))]
    fig.legend(handles=handles, loc="outside lower center", frameon=False, ncol=len(handles),
               fontsize=8, handletextpad=0.3, columnspacing=1.0)
    return fig


def _reliability_points(pooled: pd.DataFrame, model: str, split: str, sev: int | None):
    """(confidence, accuracy − confidence) of the bins of one model and split with at least
    `MIN_BIN` examples (pooled over seeds; over corruption types at severity ``sev``)."""
    try:
        b = pooled.loc[(model, split)]
    except KeyError:
        return None
    if sev is not None:
        b = b.xs(sev, level="severity") if sev in b.index.get_level_values(0) else b.iloc[:0]
    else:
        b = b.groupby(level="bin").sum()
    b = b[b["count"] >= MIN_BIN]
    if b.empty:
        return None
    conf = b.conf_sum / b["count"]
    return conf.to_numpy(), (b.acc_sum / b["count"] - conf).to_numpy()


def reliability_figure(rel: pd.DataFrame, metrics: pd.DataFrame, key: Key,
                       rows: list[Row] | None = None) -> plt.Figure | None:
    """Small multiples: one panel row per `Row` (default `student_rows`: each student with its
    teacher and its labels-only student in grey behind), one column per split (ID test,
    natural shift, corrupted at the highest severity): accuracy − confidence of each confidence
    bin (pooled over seeds) against the bin's mean confidence (above 0 = under-confident, below
    = over-confident); bins with fewer than `MIN_BIN` examples are left out. With more than 10
    rows the panels wrap into two blocks side by side."""
    if rel.empty:
        return None
    rows = student_rows(key) if rows is None else rows
    present = set(rel.model)
    rows = [r for r in rows if set(r.models) & present]
    if not rows:
        return None
    sevs = severities(metrics)
    cols = [("id", None, "ID test"), ("shift", None, "natural shift")]
    if sevs:
        cols.append(("corrupt", sevs[-1], f"corrupted, sev. {sevs[-1]}"))
    blocks = 1 if len(rows) <= 10 else 2
    nrow = -(-len(rows) // blocks)
    ncol = len(cols) * blocks
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.05 * ncol + 0.9 + 1.6 * blocks, 1.45 * nrow + 1.0),
                             squeeze=False, layout="constrained", sharex=True, sharey=True)
    rel = rel.assign(conf_sum=rel["confidence"].fillna(0) * rel["count"],
                     acc_sum=rel["accuracy"].fillna(0) * rel["count"])
    pooled = rel.groupby(["model", "split", "severity", "bin"]).agg(
        count=("count", "sum"), conf_sum=("conf_sum", "sum"), acc_sum=("acc_sum", "sum"))
    for i, row in enumerate(rows):
        r, block = i % nrow, i // nrow
        for c, (split, sev, title) in enumerate(cols):
            ax = axes[r, block * len(cols) + c]
            for m in row.behind:
                pts = _reliability_points(pooled, m, split, sev)
                if pts is not None:
                    ax.plot(*pts, lw=0.9, **behind_style(key, m, ms=3))
            for m in row.models:
                pts = _reliability_points(pooled, m, split, sev)
                if pts is not None:
                    ax.plot(*pts, lw=1.2, zorder=3, **key.style(m, ms=3.5))
            ax.axhline(0, color="0.3", lw=0.7, ls=":")
            ax.set_xlim(0, 1.02)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(title)
            if r == nrow - 1 or i == len(rows) - 1:
                ax.set_xlabel("confidence", fontsize=7, labelpad=1)
                ax.tick_params(labelbottom=True)
            if c == 0:
                ax.set_ylabel(row.title.replace(" · ", "\n"), fontsize=7, color=key.colour(row.models[0]))
    for i in range(len(rows), nrow * blocks):  # empty panels of the last block
        for c in range(len(cols)):
            axes[i % nrow, (i // nrow) * len(cols) + c].set_visible(False)
    _behind_legend(fig, key, rows)
    return fig


def _behind_legend(fig: plt.Figure, key: Key, rows: list[Row]) -> None:
    """Beneath ``fig``, in one legend: how the grey curves read, then the shared key."""
    handles = []
    teacher = next((m for r in rows for m in r.behind if key.method[m] == "teacher"), None)
    base = next((m for r in rows for m in r.behind if key.method[m] != "teacher"), None)
    for m, label in ((teacher, "grey dashed: its teacher"),
                     (base, "grey: labels-only student")):
        if m is not None:
            st = behind_style(key, m, ms=4)
            st.pop("zorder")
            handles.append(plt.Line2D([], [], lw=0.9, **st, label=label))
    handles += key.legend_handles()
    fig.legend(handles=handles, loc="outside lower center", frameon=False,
               ncol=min(len(handles), 7), fontsize=8, handletextpad=0.3, columnspacing=1.0)


def _severity_values(metrics: pd.DataFrame, metric: str) -> pd.Series:
    """(model, severity, seed) -> value: 0 = the ID test split, else the mean over corruption
    types at that severity."""
    sel = metrics[metrics.metric == metric]
    clean = sel[sel.split == "id"].assign(severity=0)
    corr = sel[sel.split == "corrupt"]
    return pd.concat([clean, corr]).groupby(["model", "severity", "seed"])["value"].mean()


def _row_lines(key: Key, rows: list[Row], columns: list[tuple[str, pd.Series]],
               xticks: list, xlabels: list[str], xlabel: str,
               hlines: dict[int, float] | None = None, apart: float | None = None
               ) -> plt.Figure:
    """One panel row per `Row`, one column per (title, values indexed (model, x, seed)); a line
    per model with its seed interval (the row's ``behind`` models in grey, without error
    bars); the point at x = ``apart`` (e.g. the shift split) is drawn without a line to the
    others."""
    fig, axes = plt.subplots(len(rows), len(columns),
                             figsize=(2.35 * len(columns) + 1.9, 1.85 * len(rows) + 0.9),
                             squeeze=False, layout="constrained", sharex=True)
    aggs = [_interval(vals, ["model", "x"]) if len(vals) else pd.DataFrame() for _, vals in columns]
    for r, row in enumerate(rows):
        for c, (title, _) in enumerate(columns):
            ax, agg = axes[r, c], aggs[c]
            for m in (*row.behind, *row.models):
                if agg.empty or m not in agg.index.get_level_values(0):
                    continue
                a = agg.loc[m].sort_index()
                for part, ls in ((a[a.index != apart], "-"), (a[a.index == apart], "")):
                    if not len(part):
                        continue
                    x, y = part.index.to_numpy(), part["mean"].to_numpy()
                    if m in row.behind:
                        st = behind_style(key, m, ms=3)
                        ax.plot(x, y, lw=0.9, **{**st, "ls": st["ls"] if ls else ""})
                    else:
                        _line(ax, x, y, key, m, yerr=part["half"].to_numpy(), ls=ls, ms=4)
            if hlines and c in hlines:
                ax.axhline(hlines[c], color="0.3", lw=0.8, ls=":")
            ax.set_xticks(xticks, xlabels)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(title)
            if r == len(rows) - 1:
                ax.set_xlabel(xlabel)
            if c == 0:
                ax.set_ylabel(row.title, fontsize=8, fontweight="bold")
            if c == len(columns) - 1:
                _row_legend(ax, key, row)
    add_key(fig, key)
    return fig


def severity_figure(metrics: pd.DataFrame, key: Key, rows: list[Row] | None = None
                    ) -> plt.Figure | None:
    """Accuracy, ECE, NLL and Brier against corruption severity (0 = clean ID test), mean over
    corruption types per seed, then over seeds with the t-interval; one panel row per `Row`
    (default `group_rows`)."""
    sevs = severities(metrics)
    cols = []
    for metric, title in METRIC_TITLES.items():
        v = _severity_values(metrics, metric)
        cols.append((title, v.rename_axis(["model", "x", "seed"])))
    if all(v.empty for _, v in cols):
        return None
    rows = group_rows(key) if rows is None else rows
    return _row_lines(key, rows, cols, [0, *sevs], ["clean", *map(str, sevs)],
                      "corruption severity")


def conformal_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Empirical coverage and mean set size of the 90% split conformal sets (LAC, APS; calibrated
    on the validation split) against severity (clean = ID test), with the natural shift at the
    right; dotted: the 0.9 target."""
    if not metrics.metric.str.startswith("coverage_").any():
        return None
    sevs = severities(metrics)
    shift_x = (max(sevs) if sevs else 0) + 1
    cols = []
    for metric, title in (("coverage_lac", "coverage, LAC"), ("coverage_aps", "coverage, APS"),
                          ("set_size_lac", "mean set size, LAC"), ("set_size_aps", "mean set size, APS")):
        v = _severity_values(metrics, metric)
        sel = metrics[(metrics.metric == metric) & (metrics.split == "shift")]
        sh = sel.groupby(["model", "seed"])["value"].mean()
        if len(sh):
            sh.index = pd.MultiIndex.from_tuples([(m, shift_x, s) for m, s in sh.index])
        v = pd.concat([v, sh]) if len(sh) else v
        v.index = v.index.set_names(["model", "x", "seed"])
        cols.append((title, v))
    return _row_lines(key, group_rows(key), cols, [0, *sevs, shift_x],
                      ["clean", *map(str, sevs), "shift"], "corruption severity",
                      hlines={0: 0.9, 1: 0.9}, apart=shift_x)


def heatmap_figure(metrics: pd.DataFrame, key: Key, severity: int) -> plt.Figure | None:
    """ECE per model (rows, grouped by teacher) and corruption type (columns) at one severity,
    mean over seeds."""
    sel = metrics[(metrics.split == "corrupt") & (metrics.metric == "ece") & (metrics.severity == severity)]
    if sel.empty:
        return None
    tab = sel.groupby(["model", "dataset"])["value"].mean().unstack("dataset")
    rows = [m for m in key.models if m in tab.index]
    tab = tab.reindex(rows)
    v = tab.to_numpy()
    fig, ax = plt.subplots(figsize=(0.42 * tab.shape[1] + 3.2, 0.22 * len(rows) + 1.9),
                           layout="constrained")
    vmax = max(0.05, float(np.nanmax(v)))
    im = ax.imshow(v, cmap="magma_r", vmin=0, vmax=vmax, aspect="auto")
    for (i, j), x in np.ndenumerate(v):
        if np.isfinite(x):
            ax.text(j, i, f"{x:.2f}"[1:] if 0 <= x < 1 else f"{x:.1f}", ha="center",
                    va="center", fontsize=5.5, color="white" if x > 0.6 * vmax else "black")
    ax.set_xticks(range(tab.shape[1]), tab.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), [key.long_label(m) for m in rows], fontsize=7)
    for lab, m in zip(ax.get_yticklabels(), rows):
        lab.set_color(key.colour(m))
    for i in range(1, len(rows)):
        if key.group[rows[i]] != key.group[rows[i - 1]]:
            ax.axhline(i - 0.5, color="white", lw=2)
    ax.set_title(f"ECE per corruption at severity {severity} (mean over seeds)")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="ECE")
    return fig


def density_figure(hist: pd.DataFrame, key: Key, quantity: str, xlabel: str) -> plt.Figure | None:
    """Per panel row (`group_rows`) and evaluation set (column): the density of ``quantity``
    pooled over seeds, one line per model (log scale), the labels-only student in grey."""
    h = hist[hist.quantity == quantity]
    if h.empty:
        return None
    sets = [("id", "test")] + sorted({(s, d) for s, d in zip(h.split, h.dataset) if s != "id"},
                                     key=lambda sd: (sd[0] != "shift", sd))
    rows = group_rows(key)
    fig, axes = plt.subplots(len(rows), len(sets), figsize=(2.05 * len(sets) + 1.9, 1.7 * len(rows) + 0.9),
                             squeeze=False, layout="constrained", sharex=True)
    g_all = h.groupby(["model", "split", "dataset", "bin"]).agg(lo=("lo", "first"), hi=("hi", "first"),
                                                               count=("count", "sum"))
    for r, row in enumerate(rows):
        for c, (split, ds) in enumerate(sets):
            ax = axes[r, c]
            for m in (*row.behind, *row.models):
                try:
                    b = g_all.loc[(m, split, ds)]
                except KeyError:
                    continue
                dens = b["count"] / (b["count"].sum() * (b.hi - b.lo))
                mid = ((b.lo + b.hi) / 2).to_numpy()
                st = behind_style(key, m, ms=3) if m in row.behind else key.style(m, ms=3.5)
                ax.plot(mid, dens.to_numpy(), lw=0.9, markevery=4, **st)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=5))
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title("ID test" if split == "id" else f"{split}: {ds}")
            if r == len(rows) - 1:
                ax.set_xlabel(xlabel, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{row.title}\ndensity", fontsize=8)
            if c == len(sets) - 1:
                _row_legend(ax, key, row)
    add_key(fig, key)
    return fig


def ood_auroc_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """OOD AUROC per model, mean over the natural OOD sets per seed, then over seeds with its
    t-interval; one panel per score (msp, entropy, mi). Uniform noise is left out (its AUROC
    is near 0 or 1 per model; the report's tables show it)."""
    ood = metrics[(metrics.split == "ood") & metrics.metric.str.startswith("auroc_")
                  & ~metrics.dataset.isin(SYNTHETIC_OOD)]
    if ood.empty:
        return None
    vals = ood.groupby(["model", "metric", "seed"])["value"].mean()
    agg = _interval(vals, ["model", "metric"])
    scores = [s for s in ("msp", "entropy", "mi") if f"auroc_{s}" in set(ood.metric)]
    rows = [m for m in key.models if m in set(ood.model)]
    y = np.arange(len(rows))[::-1]
    fig, axes = plt.subplots(1, len(scores), figsize=(2.6 * len(scores) + 2.2, 0.2 * len(rows) + 1.8),
                             squeeze=False, layout="constrained", sharey=True)
    for ax, score in zip(axes.flat, scores):
        for yi, m in zip(y, rows):
            if (m, f"auroc_{score}") not in agg.index:
                continue
            mean, half = agg.loc[(m, f"auroc_{score}")]
            ax.errorbar([mean], [yi], xerr=None if not np.isfinite(half) else [half], ls="",
                        capsize=1.5, elinewidth=0.8, **key.style(m, ms=5))
        ax.axvline(0.5, color="0.4", lw=0.8, ls=":")
        ax.set_title({"msp": "max probability", "entropy": "entropy",
                      "mi": "mutual information"}[score])
        ax.set_xlabel("AUROC (OOD positive)")
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(rows) - 0.3)
    axes[0, 0].set_yticks(y, [key.long_label(m) for m in rows], fontsize=7)
    add_key(fig, key)
    return fig


def retention_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Teacher value (x) against student value (y) per distilled student, and the labels-only
    students against every teacher; both with their seed intervals; y = x dashed."""
    ident = identities(metrics)
    teachers = [m for m in key.models if key.method[m] == "teacher"]
    students = [m for m in key.models if key.method[m] != "teacher"]
    if not teachers or not students:
        return None
    agg = _interval(per_seed(metrics), ["model", "split", "metric"])
    panels = [("id", "ece", "ID ECE"), ("corrupt", "ece", "corruption ECE (mean)"),
              ("shift", "nll", "shift NLL"), ("ood", "auroc_entropy", "OOD AUROC (H)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), layout="constrained")
    for ax, (split, metric, title) in zip(axes, panels):
        pts = []
        for s in students:
            refs = teachers if ident.at[s, "teacher"] == "-" else [ident.at[s, "teacher"]]
            for t in refs:
                if (t, split, metric) not in agg.index or (s, split, metric) not in agg.index:
                    continue
                (x, xh), (y, yh) = agg.loc[(t, split, metric)], agg.loc[(s, split, metric)]
                ax.errorbar([x], [y], xerr=[xh] if np.isfinite(xh) else None,
                            yerr=[yh] if np.isfinite(yh) else None, ls="", capsize=1.2,
                            elinewidth=0.6, **key.style(s, ms=5))
                pts += [x, y]
        finite = [v for v in pts if np.isfinite(v)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = 0.08 * (hi - lo or 1)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", ls="--", lw=0.8)
        ax.set_xlabel(f"teacher {title}")
        ax.set_ylabel(f"student {title}")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    add_key(fig, key)
    return fig


def acc_ece_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Accuracy against ECE per model on the ID split, the natural shift and the corruptions
    (mean over types and severities), seed intervals on both axes."""
    sub = metrics[metrics.metric.isin(["accuracy", "ece"])]
    fam = families(sub)
    agg = _interval(per_seed(sub), ["model", "split", "metric"])
    panels = [(s, t) for s, t in (("id", "ID test"), ("shift", "natural shift"),
                                  ("corrupt", "corruptions (mean)")) if s in set(fam.split)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.3), squeeze=False,
                             layout="constrained")
    for ax, (split, title) in zip(axes.flat, panels):
        for m in key.models:
            if (m, split, "accuracy") not in agg.index or (m, split, "ece") not in agg.index:
                continue
            (x, xh), (y, yh) = agg.loc[(m, split, "accuracy")], agg.loc[(m, split, "ece")]
            ax.errorbar([x], [y], xerr=[xh] if np.isfinite(xh) else None,
                        yerr=[yh] if np.isfinite(yh) else None, ls="", capsize=1.2,
                        elinewidth=0.6, **key.style(m, ms=5))
        ax.set_xlabel("accuracy")
        ax.set_ylabel("ECE")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    add_key(fig, key)
    return fig


def risk_coverage_figure(rc: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Selective risk against coverage per panel row (`group_rows`), on the ID split and on the corrupted splits
    at the highest severity (mean over corruption types, then seeds with the t-interval)."""
    if rc.empty:
        return None
    top = int(rc.loc[rc.split == "corrupt", "severity"].max()) if (rc.split == "corrupt").any() else None
    cols = [("ID test", rc[rc.split == "id"])]
    if top is not None:
        cols.append((f"corrupted, severity {top}", rc[(rc.split == "corrupt") & (rc.severity == top)]))
    columns = [(t, sel.groupby(["model", "coverage", "seed"])["risk"].mean()
                .rename_axis(["model", "x", "seed"])) for t, sel in cols]
    ticks = [0.2, 0.4, 0.6, 0.8, 1.0]
    fig = _row_lines(key, group_rows(key), columns, ticks, [f"{t:g}" for t in ticks], "coverage")
    for ax in fig.axes:
        for line in ax.get_lines():
            line.set_markersize(3)
    return fig


def training_curves_figure(curves: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Validation NLL (top, log) and training accuracy (bottom) against epoch, one column per
    `group_rows` row: per model the mean over seeds and networks (ensemble members), the band
    their range; the labels-only student in grey."""
    rows = [r for r in group_rows(key) if set(r.models) & set(curves.model)]
    if not rows:
        return None
    metrics = [("val_nll", "validation NLL (nats)"), ("train_acc", "training accuracy")]
    fig, axes = plt.subplots(len(metrics), len(rows), figsize=(2.5 * len(rows) + 1.6, 4.6),
                             squeeze=False, sharex="col", layout="constrained")
    agg = curves.groupby(["metric", "model", "epoch"])["value"].agg(["mean", "min", "max"])
    for c, row in enumerate(rows):
        for r, (metric, label) in enumerate(metrics):
            ax = axes[r, c]
            positive = True
            for m in (*row.behind, *row.models):
                if (metric, m) not in agg.index.droplevel("epoch"):
                    continue
                a = agg.loc[(metric, m)].sort_index()
                positive &= bool((a["min"] > 0).all())
                if m in row.behind:
                    ax.plot(a.index, a["mean"], lw=0.9, markevery=max(1, len(a) // 4), **behind_style(key, m, ms=3))
                    continue
                st = key.style(m, ms=3.5)
                ax.fill_between(a.index, a["min"], a["max"], color=st["color"], alpha=0.15, lw=0)
                ax.plot(a.index, a["mean"], lw=1.0, markevery=max(1, len(a) // 4), **st)
            if metric == "val_nll" and positive and ax.has_data():
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=4))
                ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(row.title)
            if c == 0:
                ax.set_ylabel(label)
            if r == len(metrics) - 1:
                ax.set_xlabel("epoch")
                _row_legend(ax, key, row, below=True)
    add_key(fig, key)
    return fig


def compressed_severity_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """`severity_figure` for the students with compressed variants: one row per student, the
    student and its variants (`variant_rows`); None without variants."""
    rows = variant_rows(key)
    return severity_figure(metrics, key, rows) if rows else None


def compressed_reliability_figure(rel: pd.DataFrame, metrics: pd.DataFrame, key: Key
                                  ) -> plt.Figure | None:
    """`reliability_figure` for the students with compressed variants (`variant_rows`); None
    without variants."""
    rows = variant_rows(key)
    return reliability_figure(rel, metrics, key, rows) if rows else None


# --------------------------------------------------------------------------- the registry

GROUP_ROWS = ("one panel row per teacher with at most four of its students (a teacher with more "
              "students has several rows), the labels-only student in grey behind; compressed "
              "variants have their own figures")


@register_figure("forest", caption=(
    "Effects at a glance: paired differences student − labels-only student (left four panels) "
    "and student − teacher (right four) for ID NLL, corruption ECE (mean over types and "
    "severities), shift NLL and OOD AUROC (entropy, mean over the natural OOD sets); mean with "
    "its 95% interval (over seeds, and for NLL over the test images too). An interval clear of "
    "the vertical 0 line is a difference the data support; the label under each panel points "
    "to the better side. Circles: raw; orange diamonds: both sides temperature-scaled (each on "
    "its own validation split); filled = Holm-adjusted p < 0.05 (the marks of the answer "
    "table), hollow otherwise."))
def _forest(data: FigureData) -> plt.Figure | None:
    return forest_figure(data.metrics, data.key, data.everything, data.paired_examples)


@register_figure("reliability", caption=(
    "Reliability, one row per student: accuracy − confidence of each confidence bin (15 "
    "equal-width bins, pooled over seeds) against the bin's mean confidence; the student in "
    "colour, its teacher (dashed) and the labels-only student in grey behind it. Below the "
    "dotted 0 line = over-confident. Bins with fewer than 30 examples are left out. Columns: ID "
    "test, natural shift, and the corrupted splits at the highest severity, pooled over "
    "corruption types."))
def _reliability(data: FigureData) -> plt.Figure | None:
    return reliability_figure(data.reliability, data.metrics, data.key)


@register_figure("reliability_compressed", caption=(
    "Reliability of the compressed students: each student (filled) with its +int8 (hollow) "
    "and +prune (half-filled) variants, as in the reliability figure."))
def _reliability_compressed(data: FigureData) -> plt.Figure | None:
    return compressed_reliability_figure(data.reliability, data.metrics, data.key)


@register_figure("metric_vs_severity", caption=(
    "Accuracy, ECE, NLL and Brier against corruption severity (as in Ovadia et al. 2019, "
    f"Fig. 2), {GROUP_ROWS}: mean over corruption types per seed, then over seeds; 'clean' is "
    "the ID test split."))
def _metric_vs_severity(data: FigureData) -> plt.Figure | None:
    return severity_figure(data.metrics, data.key)


@register_figure("compressed_severity", caption=(
    "Accuracy, ECE, NLL and Brier against corruption severity for each student with "
    "compressed variants: the student (filled), +int8 (hollow), +prune (half-filled)."))
def _compressed_severity(data: FigureData) -> plt.Figure | None:
    return compressed_severity_figure(data.metrics, data.key)


@register_figure("conformal", caption=(
    "Split conformal prediction at 90% target coverage (α = 0.1; LAC and randomised APS "
    "scores, calibrated on each model's validation predictions): empirical coverage (dotted: "
    "the 0.9 target) and mean set size against corruption severity (mean over types; 'clean' "
    f"= ID test) and on the natural shift, {GROUP_ROWS}. The guarantee holds only for data "
    "exchangeable with the calibration split (the ID test split)."))
def _conformal(data: FigureData) -> plt.Figure | None:
    return conformal_figure(data.metrics, data.key)


def _heat_severities(data: FigureData) -> list[tuple[str, dict]]:
    sevs = list(data.severities)
    heat = sorted({sevs[len(sevs) // 2], sevs[-1]}) if sevs else []
    return [(f"ece_by_corruption_sev{s}", {"severity": s}) for s in heat]


@register_figure("ece_by_corruption", instances=_heat_severities, caption=(
    "ECE per model (rows, grouped by teacher) and corruption type at severity {severity}, mean "
    "over seeds (darker = worse). A severity is not MNIST-C's published image for every type: "
    "the per-corruption table gives the level that is (docs/data.md)."))
def _ece_by_corruption(data: FigureData, *, severity: int) -> plt.Figure | None:
    return heatmap_figure(data.metrics, data.key, severity)


@register_figure("ood_entropy", caption=(
    f"Density of predictive entropy (nats, log scale), {GROUP_ROWS}, on the ID test split, the "
    "natural shift and each OOD set (columns). Good OOD detection puts OOD mass right of ID."))
def _ood_entropy(data: FigureData) -> plt.Figure | None:
    return density_figure(data.histograms, data.key, "entropy", "predictive entropy (nats)")


@register_figure("ood_mi", caption=(
    f"Density of mutual information (epistemic uncertainty, nats), {GROUP_ROWS}, on each "
    "evaluation set; a single network's is identically 0."))
def _ood_mi(data: FigureData) -> plt.Figure | None:
    return density_figure(data.histograms, data.key, "mi", "mutual information (nats)")


@register_figure("ood_auroc", caption=(
    "OOD AUROC (OOD positive) per model and score, mean over the natural OOD sets (uniform "
    "noise apart: see the OOD tables); dotted: chance."))
def _ood_auroc(data: FigureData) -> plt.Figure | None:
    return ood_auroc_figure(data.metrics, data.key)


@register_figure("retention", caption=(
    "Retention: the teacher's value (x) against its student's (y); the labels-only student is "
    "drawn against every teacher. On the dashed y = x line the student keeps the teacher's "
    "value; for ECE and NLL below it is better, for AUROC above."))
def _retention(data: FigureData) -> plt.Figure | None:
    return retention_figure(data.metrics, data.key)


@register_figure("accuracy_vs_ece", caption=(
    "Accuracy against ECE per model on the ID test split, the natural shift and the corrupted "
    "splits (mean over types and severities)."))
def _accuracy_vs_ece(data: FigureData) -> plt.Figure | None:
    return acc_ece_figure(data.metrics, data.key)


@register_figure("risk_coverage", caption=(
    "Risk–coverage curves: error rate among the most confident examples as coverage grows, on "
    f"the ID split and on the corrupted splits at the highest severity (mean over corruption "
    f"types), {GROUP_ROWS}. Lower is better."))
def _risk_coverage(data: FigureData) -> plt.Figure | None:
    return risk_coverage_figure(data.risk_coverage, data.key)


@register_figure("training_curves", caption=(
    "Training curves: validation NLL (top, log scale) and training accuracy (bottom) per epoch, "
    "one column per teacher with at most four of its students (the labels-only student in grey): "
    "per model the mean over seeds and networks (ensemble members), the band their range."))
def _training_curves(data: FigureData) -> plt.Figure | None:
    return None if data.curves.empty else training_curves_figure(data.curves, data.key)


# --------------------------------------------------------------------------- writing

_TASKS: list[Task] = []  # what the forked drawing processes read (set by write_figures)


def _draw_one(task: Task, out: Path, formats: tuple[str, ...]) -> list[Path]:
    stem, fn, args = task
    with plt.rc_context(STYLE):
        fig = fn(*args)
        return [] if fig is None else _save(fig, out, stem, formats)


def _draw_index(job: tuple[int, Path, tuple[str, ...]]) -> list[Path]:
    i, out, formats = job
    return _draw_one(_TASKS[i], out, formats)


def figure_tasks(results: Path | Results, *, allow_mixed_suites: bool = False,
                 metrics: pd.DataFrame | None = None) -> list[Task]:
    """``(stem, builder, args)`` of every file of every registered figure of a results
    directory (or of its `Results`, read already); ``builder(*args)`` returns the Matplotlib
    figure (or None when the results have nothing to draw). Refuses results of mixed suite
    hashes unless ``allow_mixed_suites`` (`kdbench.results_files.check_suite_hash`).
    ``metrics``: the directory's metrics table when the caller has read it already."""
    res = results if isinstance(results, Results) else load_results(
        results, allow_mixed_suites=allow_mixed_suites, metrics=metrics)
    data = figure_data(res)
    return [(stem, partial(build, **kwargs) if kwargs else build, args)
            for stem, build, args, kwargs in registered_tasks(data)]


def write_figures(results: Path | Results, out: Path, *, formats: tuple[str, ...] = ("png", "pdf"),
                  allow_mixed_suites: bool = False, metrics: pd.DataFrame | None = None,
                  remove_other_formats: bool = False) -> list[Path]:
    """Write every registered figure of a suite from its results directory (or its
    `Results`); returns the files written, and removes figure files of stems no longer drawn
    (with ``remove_other_formats``, every figure file it did not write now: the report's
    figures/ then holds only that report's figures)."""
    global _TASKS
    _TASKS = figure_tasks(results, allow_mixed_suites=allow_mixed_suites, metrics=metrics)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(i, out, formats) for i in range(len(_TASKS))]
    # the figures are independent: draw them in forked processes, which inherit the tasks
    # (and their data) instead of pickling them (same bytes as in series)
    workers = min(len(jobs), os.cpu_count() or 1)
    try:
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_draw_index, jobs, chunksize=1)
        else:
            parts = [_draw_index(j) for j in jobs]
    finally:
        _TASKS = []
    files = [f for part in parts for f in part]
    written, stems = set(files), {f.stem for f in files}
    for stale in out.iterdir():  # figures of an older layout would mislead a reader
        if (stale.suffix in (".png", ".pdf", ".svg") and stale not in written
                and (remove_other_formats or stale.stem not in stems)):
            stale.unlink()
    return files
