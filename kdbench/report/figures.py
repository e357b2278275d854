"""Paper figures from ``results/<suite>/`` alone (no runs/, no retraining), legible at 40 models.

Every figure uses the one key of `kdbench.report.style` (colour = teacher group, marker =
method, fill = compressed variant, short labels) and groups models by teacher: figures whose
panels would crowd draw **one panel row per group** (a teacher with its students; the
labels-only students last). Error bars are two-sided 95% Student-t intervals over seeds
(`kdbench.report.stats.seed_interval`; none with one seed). Severities are read from the
results, never assumed. Stable file names under ``reports/<suite>/figures/`` in PNG (150 dpi)
and/or PDF/SVG; Matplotlib's Agg backend with fixed metadata, so the same results give the
same bytes.

| file | what |
|---|---|
| forest | paired per-seed differences student − labels-only and student − teacher (`paired_comparisons`), raw and temperature-scaled (both sides) side by side, 95% t-intervals, filled where Holm-adjusted p < 0.05, for ID NLL, corruption ECE, shift NLL, OOD AUROC; compressed variants left out |
| reliability | per group: accuracy − confidence per bin and model, bin counts beneath; ID, shift, corrupted at the highest severity; bins under `MIN_BIN` examples left out |
| metric_vs_severity | per group: accuracy / ECE / NLL / Brier against severity (mean over corruption types) |
| conformal | per group: coverage and mean set size of 90% conformal sets (LAC, APS) against severity, and on the shift split |
| ece_by_corruption_sev<S> | heatmap model x corruption of ECE at the middle and the highest severity of the results |
| ood_entropy, ood_mi | per group: density of predictive entropy / mutual information on ID, shift and each OOD set |
| ood_auroc | OOD AUROC (mean over the natural OOD sets) per model and score |
| retention | teacher value (x) against student value (y), y = x dashed |
| accuracy_vs_ece | accuracy against ECE on the ID split, the natural shift and the corruptions (mean) |
| risk_coverage | per group: risk–coverage curves on the ID split and at the highest severity |
| training_curves | validation NLL and training accuracy per epoch, one column per group; only when ``curves.csv`` exists |
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .stats import seed_interval  # noqa: E402
from .style import Key, add_key, figure_models, make_key  # noqa: E402
from .tables import (SYNTHETIC_OOD, families, identities, model_order,  # noqa: E402
                     paired_comparisons, per_seed)

METRIC_TITLES = {"accuracy": "accuracy", "ece": "ECE (15 bins)", "nll": "NLL (nats)",
                 "brier": "Brier (sum over classes)"}
MIN_BIN = 30  # reliability bins with fewer examples (pooled over seeds) are left out
FOREST = [("id", "nll", "ID NLL", False), ("corrupt", "ece", "corruption ECE", False),
          ("shift", "nll", "shift NLL", False), ("ood", "auroc_entropy", "OOD AUROC (H)", True)]
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "svg.hashsalt": "kdbench",
         "pdf.compression": 6, "figure.dpi": 100}

Task = tuple[str, Callable[..., "plt.Figure | None"], tuple]


def _save(fig: plt.Figure, out: Path, stem: str, formats: tuple[str, ...]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        meta = {"png": {"Software": "kdbench"}, "pdf": {"CreationDate": None, "Producer": "kdbench"},
                "svg": {"Date": None}}[fmt]
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta)
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


def severities(metrics: pd.DataFrame) -> list[int]:
    """The corruption severities present in the results, ascending."""
    return sorted(int(s) for s in metrics.loc[metrics.split == "corrupt", "severity"].unique())


def _grid(key: Key, ncols: int, *, width: float, height: float, sharex: bool = False,
          sharey: bool | str = False):
    groups = key.groups
    fig, axes = plt.subplots(len(groups), ncols, figsize=(width * ncols + 1.8, height * len(groups) + 0.9),
                             squeeze=False, layout="constrained", sharex=sharex, sharey=sharey)
    return fig, axes, groups


def _row_legend(ax: plt.Axes, key: Key, models: list[str]) -> None:
    """The short labels of one group's models, outside the right of its last panel."""
    handles = [plt.Line2D([], [], ls="", **key.style(m, ms=5), label=key.short_label(m))
               for m in models]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              fontsize=7, handletextpad=0.2, borderaxespad=0.0,
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
                             figsize=(2.05 * len(FOREST) * len(blocks) + 2.2, 0.3 * n + 1.8),
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
    axes[0, 0].set_yticks(y, [key.long_label(s) for s in students], fontsize=7)
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


def reliability_figure(rel: pd.DataFrame, metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Per group (row) and split (column): accuracy − confidence of each confidence bin
    (pooled over seeds) against the bin's mean confidence, one line per model (above 0 =
    under-confident, below = over-confident), and the bins' example counts beneath (log);
    bins with fewer than `MIN_BIN` examples are left out."""
    if rel.empty:
        return None
    sevs = severities(metrics)
    cols = [("id", None, "ID test"), ("shift", None, "natural shift")]
    if sevs:
        cols.append(("corrupt", sevs[-1], f"corrupted, severity {sevs[-1]}"))
    groups = key.groups
    fig = plt.figure(figsize=(3.2 * len(cols) + 1.9, 2.9 * len(groups) + 0.9), layout="constrained")
    # one gridspec (main and counts rows alternate): nested gridspecs make constrained layout
    # iterate a set of them, whose order (object ids) changes the last digits between runs
    grid = fig.add_gridspec(2 * len(groups), len(cols), height_ratios=[3, 1] * len(groups))
    rel = rel.assign(conf_sum=rel["confidence"].fillna(0) * rel["count"],
                     acc_sum=rel["accuracy"].fillna(0) * rel["count"])
    pooled = rel.groupby(["model", "split", "severity", "bin"]).agg(
        count=("count", "sum"), conf_sum=("conf_sum", "sum"), acc_sum=("acc_sum", "sum"))
    for r, g in enumerate(groups):
        members = [m for m in key.members(g) if m in set(rel.model)]
        for c, (split, sev, title) in enumerate(cols):
            ax = fig.add_subplot(grid[2 * r, c])
            axc = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
            for m in members:
                try:
                    b = pooled.loc[(m, split)]
                except KeyError:
                    continue
                if sev is not None:
                    b = b.xs(sev, level="severity") if sev in b.index.get_level_values(0) else b.iloc[:0]
                else:
                    b = b.groupby(level="bin").sum()
                b = b[b["count"] >= MIN_BIN]
                if b.empty:
                    continue
                conf, acc = b.conf_sum / b["count"], b.acc_sum / b["count"]
                _line(ax, conf, acc - conf, key, m, ms=4)
                axc.plot(conf, b["count"], lw=0.8, **key.style(m, ms=3))
            ax.axhline(0, color="0.3", lw=0.8, ls="--")
            ax.set_xlim(0, 1.02)
            ax.tick_params(labelbottom=False)
            ax.grid(alpha=0.3)
            axc.set_yscale("log")
            axc.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 3.0), numticks=4))
            axc.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            axc.set_xlabel("confidence (bin mean)", fontsize=7, labelpad=1)
            if r == 0:
                ax.set_title(title)
            if c == 0:
                ax.set_ylabel(f"{g}\naccuracy − confidence", fontsize=8)
                axc.set_ylabel("examples", fontsize=7)
            if c == len(cols) - 1:
                _row_legend(ax, key, members)
    add_key(fig, key)
    return fig


def _severity_values(metrics: pd.DataFrame, metric: str) -> pd.Series:
    """(model, severity, seed) -> value: 0 = the ID test split, else the mean over corruption
    types at that severity."""
    sel = metrics[metrics.metric == metric]
    clean = sel[sel.split == "id"].assign(severity=0)
    corr = sel[sel.split == "corrupt"]
    return pd.concat([clean, corr]).groupby(["model", "severity", "seed"])["value"].mean()


def _per_group_lines(key: Key, columns: list[tuple[str, pd.Series]],
                     xticks: list, xlabels: list[str], xlabel: str,
                     hlines: dict[int, float] | None = None, apart: float | None = None
                     ) -> plt.Figure:
    """One row per group, one column per (title, values indexed (model, x, seed)); a line per
    model with its seed interval; the point at x = ``apart`` (e.g. the shift split) is drawn
    without a line to the others."""
    fig, axes, groups = _grid(key, len(columns), width=2.8, height=2.2, sharex=True)
    for r, g in enumerate(groups):
        members = key.members(g)
        for c, (title, vals) in enumerate(columns):
            ax = axes[r, c]
            agg = _interval(vals, ["model", "x"]) if len(vals) else pd.DataFrame()
            for m in members:
                if agg.empty or m not in agg.index.get_level_values(0):
                    continue
                a = agg.loc[m].sort_index()
                for part, ls in ((a[a.index != apart], "-"), (a[a.index == apart], "")):
                    if len(part):
                        _line(ax, part.index.to_numpy(), part["mean"].to_numpy(), key, m,
                              yerr=part["half"].to_numpy(), ls=ls)
            if hlines and c in hlines:
                ax.axhline(hlines[c], color="0.3", lw=0.8, ls=":")
            ax.set_xticks(xticks, xlabels)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(title)
            if r == len(groups) - 1:
                ax.set_xlabel(xlabel)
            if c == 0:
                ax.set_ylabel(g, fontsize=9, fontweight="bold")
            if c == len(columns) - 1:
                _row_legend(ax, key, members)
    add_key(fig, key)
    return fig


def severity_figure(metrics: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Accuracy, ECE, NLL and Brier against corruption severity (0 = clean ID test), mean over
    corruption types per seed, then over seeds with the t-interval; one row per group."""
    sevs = severities(metrics)
    cols = []
    for metric, title in METRIC_TITLES.items():
        v = _severity_values(metrics, metric)
        cols.append((title, v.rename_axis(["model", "x", "seed"])))
    if all(v.empty for _, v in cols):
        return None
    return _per_group_lines(key, cols, [0, *sevs], ["clean", *map(str, sevs)],
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
    return _per_group_lines(key, cols, [0, *sevs, shift_x],
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
    """Per group (row) and evaluation set (column): the density of ``quantity`` pooled over
    seeds, one line per model (log scale)."""
    h = hist[hist.quantity == quantity]
    if h.empty:
        return None
    sets = [("id", "test")] + sorted({(s, d) for s, d in zip(h.split, h.dataset) if s != "id"},
                                     key=lambda sd: (sd[0] != "shift", sd))
    fig, axes, groups = _grid(key, len(sets), width=2.3, height=1.9, sharex=True)
    g_all = h.groupby(["model", "split", "dataset", "bin"]).agg(lo=("lo", "first"), hi=("hi", "first"),
                                                               count=("count", "sum"))
    for r, g in enumerate(groups):
        members = [m for m in key.members(g) if m in set(h.model)]
        for c, (split, ds) in enumerate(sets):
            ax = axes[r, c]
            for m in members:
                try:
                    b = g_all.loc[(m, split, ds)]
                except KeyError:
                    continue
                dens = b["count"] / (b["count"].sum() * (b.hi - b.lo))
                mid = ((b.lo + b.hi) / 2).to_numpy()
                ax.plot(mid, dens.to_numpy(), lw=0.9, markevery=4, **key.style(m, ms=3.5))
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=5))
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title("ID test" if split == "id" else f"{split}: {ds}")
            if r == len(groups) - 1:
                ax.set_xlabel(xlabel, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{g}\ndensity", fontsize=8)
            if c == len(sets) - 1:
                _row_legend(ax, key, members)
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
    """Selective risk against coverage per group, on the ID split and on the corrupted splits
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
    fig = _per_group_lines(key, columns, ticks, [f"{t:g}" for t in ticks], "coverage")
    for ax in fig.axes:
        for line in ax.get_lines():
            line.set_markersize(3)
    return fig


def training_curves_figure(curves: pd.DataFrame, key: Key) -> plt.Figure | None:
    """Validation NLL (top, log) and training accuracy (bottom) against epoch, one column per
    group; every (seed, network) a thin line with its model's marker."""
    models = [m for m in key.models if m in set(curves.model)]
    groups = [g for g in key.groups if any(key.group[m] == g for m in models)]
    if not groups:
        return None
    rows = [("val_nll", "validation NLL (nats)"), ("train_acc", "training accuracy")]
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(2.9 * len(groups), 5.4),
                             squeeze=False, sharex="col", layout="constrained")
    for c, g in enumerate(groups):
        members = [m for m in models if key.group[m] == g]
        for r, (metric, label) in enumerate(rows):
            ax = axes[r, c]
            sel = curves[(curves.metric == metric) & curves.model.isin(members)]
            for (model, _, _), gg in sel.groupby(["model", "seed", "member"], sort=True):
                gg = gg.sort_values("epoch")
                st = key.style(model, ms=3)
                step = max(1, len(gg) // 4)  # staggered, so that the markers of a group differ
                ax.plot(gg.epoch, gg.value, lw=0.7, alpha=0.8,
                        markevery=(members.index(model) % step, step), **st)
            if metric == "val_nll" and len(sel) and sel.value.gt(0).all():
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=4))
                ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(g)
            if c == 0:
                ax.set_ylabel(label)
            if r == len(rows) - 1:
                ax.set_xlabel("epoch")
    add_key(fig, key)
    return fig


# --------------------------------------------------------------------------- writing


def _draw(task: tuple) -> list[Path]:
    stem, fn, args, out, formats = task
    with plt.rc_context(STYLE):
        fig = fn(*args)
        return [] if fig is None else _save(fig, out, stem, formats)


def figure_tasks(results: Path, *, allow_mixed_suites: bool = False,
                 metrics: pd.DataFrame | None = None) -> list[Task]:
    """``(stem, builder, args)`` of every figure of a results directory; ``builder(*args)``
    returns the Matplotlib figure (or None when the results have nothing to draw). Refuses
    results of mixed suite hashes unless ``allow_mixed_suites`` (`check_suite_hash`).
    ``metrics``: the directory's metrics table when the caller has read it already."""
    from ..errors import UserError
    from ..results_files import table_path
    from . import check_suite_hash, read_paired_examples, read_results

    if metrics is None:
        metrics = read_results(table_path(results, "metrics"))
    everything = metrics  # with the post-hoc rows: the forest plot's temperature-scaled markers
    rel = read_results(table_path(results, "reliability"))
    hist = read_results(table_path(results, "histograms"))
    rc = (read_results(table_path(results, "risk_coverage"))
          if table_path(results, "risk_coverage").exists() else pd.DataFrame())
    if metrics.empty:
        raise UserError(f"{table_path(results, 'metrics')} has no rows: every job failed")
    check_suite_hash({"metrics": metrics, "reliability": rel, "histograms": hist,
                      "risk_coverage": rc}, allow_mixed=allow_mixed_suites)
    metrics = figure_models(metrics)
    key = make_key(metrics, model_order(metrics))
    sevs = severities(metrics)
    tasks: list[Task] = [
        ("forest", forest_figure, (metrics, key, everything, read_paired_examples(results))),
        ("reliability", reliability_figure, (rel, metrics, key)),
        ("metric_vs_severity", severity_figure, (metrics, key)),
        ("conformal", conformal_figure, (metrics, key)),
    ]
    heat = sorted({sevs[len(sevs) // 2], sevs[-1]}) if sevs else []
    tasks += [(f"ece_by_corruption_sev{s}", heatmap_figure, (metrics, key, s)) for s in heat]
    tasks += [("ood_entropy", density_figure, (hist, key, "entropy", "predictive entropy (nats)")),
              ("ood_mi", density_figure, (hist, key, "mi", "mutual information (nats)")),
              ("ood_auroc", ood_auroc_figure, (metrics, key)),
              ("retention", retention_figure, (metrics, key)),
              ("accuracy_vs_ece", acc_ece_figure, (metrics, key)),
              ("risk_coverage", risk_coverage_figure, (rc, key))]
    curves = pd.read_csv(results / "curves.csv") if (results / "curves.csv").exists() else pd.DataFrame()
    if not curves.empty:
        tasks.append(("training_curves", training_curves_figure, (curves, key)))
    return tasks


def write_figures(results: Path, out: Path, *, formats: tuple[str, ...] = ("png", "pdf"),
                  allow_mixed_suites: bool = False,
                  metrics: pd.DataFrame | None = None) -> list[Path]:
    """Write every figure of a suite from its results directory; returns the files written.
    ``metrics``: its metrics table when the caller has read it already (`figure_tasks`)."""
    tasks = figure_tasks(results, allow_mixed_suites=allow_mixed_suites, metrics=metrics)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(stem, fn, args, out, formats) for stem, fn, args in tasks]
    # the figures are independent: draw them in parallel processes (same bytes as in series)
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            parts = pool.map(_draw, jobs, chunksize=1)
    else:
        parts = [_draw(t) for t in jobs]
    files = [f for part in parts for f in part]
    stems = {f.stem for f in files}
    for stale in out.iterdir():  # figures of an older layout would mislead a reader
        if stale.suffix in (".png", ".pdf", ".svg") and stale.stem not in stems:
            stale.unlink()
    return files
