"""Paper figures from ``results/<suite>/`` alone (no runs/, no retraining).

Stable file names under ``reports/<suite>/figures/`` in PNG (150 dpi) and/or PDF/SVG, one
colour per model in every figure (teachers solid, students hatched or dashed). Matplotlib's
Agg backend with fixed metadata, so the same results give byte-identical files.

| file | what |
|---|---|
| reliability | reliability diagrams, models x (ID, shift, severity 3, severity 5), counts beneath |
| metric_vs_severity | accuracy / ECE / NLL / Brier box plots over corruption types per severity |
| ece_by_corruption_sev3, _sev5 | heatmap corruption x model of ECE at severity 3 / 5 |
| ood_entropy, ood_mi | predictive entropy / mutual information densities, ID vs shift vs OOD sets |
| ood_auroc | OOD AUROC per score (msp, entropy, mi), grouped bars per OOD set |
| retention | teacher metric vs student metric, y = x line, marker per method |
| accuracy_vs_ece | accuracy vs ECE, one point per (model, split) |
| risk_coverage | risk–coverage curves on the ID split and at severity 5 |
| training_curves | validation NLL and training accuracy per epoch, one column per group (teachers, the students of each teacher, labels-only), one thin line per seed and network; only when ``curves.csv`` exists |
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .tables import base_models, family_mean, model_order, severity_table  # noqa: E402

REL_ROWS = [("id", None, "ID test"), ("shift", None, "natural shift"),
            ("corrupt", 3, "corrupted, sev. 3"), ("corrupt", 5, "corrupted, sev. 5")]
METRIC_TITLES = {"accuracy": "accuracy", "ece": "ECE (15 bins)", "nll": "NLL (nats)",
                 "brier": "Brier (sum over classes)"}
MARKERS = {"-": "o", "none": "s", "kd": "^"}
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "svg.hashsalt": "kdbench",
         "pdf.compression": 6, "figure.dpi": 100}


def colours(models: list[str]) -> dict[str, tuple]:
    """A fixed colour per model (tab10, or tab20 beyond ten models) in model order."""
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


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


def _pooled_bins(rel: pd.DataFrame) -> pd.DataFrame:
    """Pool reliability bins over splits and seeds: counts add, means weight by count."""
    rel = rel.assign(conf_sum=rel["confidence"].fillna(0) * rel["count"],
                     acc_sum=rel["accuracy"].fillna(0) * rel["count"])
    g = rel.groupby("bin").agg(lo=("lo", "first"), hi=("hi", "first"), count=("count", "sum"),
                               conf_sum=("conf_sum", "sum"), acc_sum=("acc_sum", "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        g["confidence"] = g.conf_sum / g["count"]
        g["accuracy"] = g.acc_sum / g["count"]
    return g


def reliability_figure(rel, models, out, formats) -> list[Path]:
    """Reliability diagrams: accuracy per confidence bin (bars), the gap to the diagonal
    shaded red, the share of examples per bin beneath (log scale), ECE of the pooled bins in
    the title. Severity rows pool every corruption type."""
    n_rows, n_cols = len(REL_ROWS), len(models)
    fig = plt.figure(figsize=(1.9 * n_cols + 0.8, 2.45 * n_rows))
    outer = fig.add_gridspec(n_rows, n_cols, hspace=0.32, wspace=0.2)
    for r, (split, sev, label) in enumerate(REL_ROWS):
        for c, model in enumerate(models):
            inner = outer[r, c].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
            ax = fig.add_subplot(inner[0])
            axc = fig.add_subplot(inner[1], sharex=ax)
            sel = rel[(rel.model == model) & (rel.split == split)]
            if sev is not None:
                sel = sel[sel.severity == sev]
            ax.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls="--")
            if sel.empty:
                ax.text(0.5, 0.5, "missing", ha="center", va="center")
            else:
                b = _pooled_bins(sel)
                full = b["count"] > 0
                lo, width = b.lo[full], (b.hi - b.lo)[full]
                acc, conf = b.accuracy[full], b.confidence[full]
                ax.bar(lo, acc, width=width, align="edge", color="#4C72B0", edgecolor="white", lw=0.4)
                ax.bar(lo, conf - acc, bottom=acc, width=width, align="edge", color="#C44E52",
                       alpha=0.4, edgecolor="#C44E52", lw=0.6)
                share = b["count"] / b["count"].sum()
                axc.bar(b.lo, share, width=b.hi - b.lo, align="edge", color="0.55")
                axc.set_yscale("log")
                axc.set_ylim(1e-3, 1.5)
                w = b["count"][full] / b["count"].sum()
                ece = float(np.sum(w * np.abs(acc - conf)))
                ax.set_title(f"ECE {ece:.3f}", pad=2)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
            ax.set_yticks([0, 0.5, 1])
            axc.set_yticks([1e-3, 1e-1], ["1e-3", "0.1"])
            axc.minorticks_off()
            ax.tick_params(labelbottom=False)
            if c > 0:
                ax.tick_params(labelleft=False)
                axc.tick_params(labelleft=False)
            else:
                ax.set_ylabel(f"{label}\naccuracy")
                axc.set_ylabel("share", fontsize=7)
            if r == 0:
                ax.annotate(model, (0.5, 1.25), xycoords="axes fraction", ha="center",
                            fontweight="bold")
            axc.set_xlabel("confidence", fontsize=7, labelpad=1)
    return _save(fig, out, "reliability", formats)


def severity_figure(metrics, models, cols, out, formats) -> list[Path]:
    """Box plots over corruption types (mean over seeds) per severity; 'clean' is the ID split
    (one value per model, a diamond)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    width = 0.8 / len(models)
    for ax, metric in zip(axes.flat, METRIC_TITLES):
        sel = metrics[metrics.metric == metric]
        clean = sel[sel.split == "id"].groupby("model")["value"].mean()
        corr = sel[sel.split == "corrupt"].groupby(["model", "severity", "dataset"])["value"].mean()
        sevs = sorted(corr.index.get_level_values("severity").unique()) if len(corr) else []
        for i, model in enumerate(models):
            pos_offset = -0.4 + width * (i + 0.5)
            ax.plot(pos_offset, clean.get(model, np.nan), marker="D", ms=4, color=cols[model],
                    markeredgecolor="black", mew=0.4, ls="")
            if not sevs:  # this metric has no corrupted split
                continue
            data = [corr.loc[(model, s)].to_numpy() if (model, s) in corr.index.droplevel(2) else [np.nan]
                    for s in sevs]
            bp = ax.boxplot(data, positions=np.arange(1, len(data) + 1) + pos_offset, widths=width * 0.85,
                            patch_artist=True, showfliers=True, manage_ticks=False,
                            flierprops={"markersize": 2, "markeredgecolor": cols[model]},
                            medianprops={"color": "black", "lw": 0.8},
                            whiskerprops={"color": cols[model]}, capprops={"color": cols[model]})
            for patch in bp["boxes"]:
                patch.set_facecolor(cols[model])
                patch.set_alpha(0.85)
        ax.set_xticks(range(len(sevs) + 1), ["clean"] + [str(s) for s in sevs])
        ax.set_xlabel("corruption severity")
        ax.set_title(METRIC_TITLES[metric])
        ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cols[m]) for m in models]
    fig.legend(handles, models, loc="lower center", ncol=min(len(models), 7), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, out, "metric_vs_severity", formats)


def heatmap_figure(metrics, models, severity, out, formats) -> list[Path]:
    """ECE per corruption type (rows) and model (columns) at one severity, mean over seeds."""
    sel = metrics[(metrics.split == "corrupt") & (metrics.metric == "ece") & (metrics.severity == severity)]
    tab = sel.groupby(["dataset", "model"])["value"].mean().unstack("model").reindex(columns=models)
    fig, ax = plt.subplots(figsize=(1.1 * len(models) + 2.5, 0.36 * len(tab) + 1.6))
    im = ax.imshow(tab.to_numpy(), cmap="magma_r", vmin=0, vmax=max(0.05, float(np.nanmax(tab.to_numpy()))) if len(tab) else 1, aspect="auto")
    for (i, j), v in np.ndenumerate(tab.to_numpy()):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * np.nanmax(tab.to_numpy()) else "black")
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
    ax.set_yticks(range(len(tab)), tab.index)
    ax.set_title(f"ECE per corruption at severity {severity}")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="ECE")
    return _save(fig, out, f"ece_by_corruption_sev{severity}", formats)


def _density_panels(hist, models, quantity, xlabel, out, stem, formats) -> list[Path]:
    h = hist[hist.quantity == quantity]
    models = [m for m in models if not h[h.model == m].empty]
    if not models:
        return []
    sets = [("id", "test")] + sorted({(s, d) for s, d in zip(h.split, h.dataset) if s != "id"})
    ncol = min(4, len(models))
    nrow = int(np.ceil(len(models) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 2.6 * nrow), squeeze=False,
                             sharex=True)
    palette = plt.get_cmap("Dark2")
    for i, model in enumerate(models):
        ax = axes.flat[i]
        for j, (split, ds) in enumerate(sets):
            sel = h[(h.model == model) & (h.split == split) & (h.dataset == ds)]
            if sel.empty:
                continue
            g = sel.groupby("bin").agg(lo=("lo", "first"), hi=("hi", "first"), count=("count", "sum"))
            dens = g["count"] / (g["count"].sum() * (g.hi - g.lo))
            ax.stairs(dens.to_numpy(), np.append(g.lo.to_numpy(), g.hi.iloc[-1]),
                      color=palette(j), lw=1.8 if split == "id" else 1.1,
                      label="ID test" if split == "id" else f"{split}: {ds}")
        ax.set_title(model)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, out, stem, formats)


def ood_auroc_figure(metrics, models, cols, out, formats) -> list[Path]:
    """OOD AUROC per model and score, one panel per OOD set; hatching marks the score."""
    ood = metrics[(metrics.split == "ood") & metrics.metric.str.startswith("auroc_")]
    sets = sorted(ood.dataset.unique())
    if not sets:
        return []
    scores = ["msp", "entropy", "mi"]
    hatches = {"msp": "", "entropy": "///", "mi": "..."}
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.4), squeeze=False, sharey=True)
    for ax, ds in zip(axes.flat, sets):
        tab = ood[ood.dataset == ds].groupby(["model", "metric"])["value"].mean()
        width = 0.27
        for k, score in enumerate(scores):
            vals = [tab.get((m, f"auroc_{score}"), np.nan) for m in models]
            ax.bar(np.arange(len(models)) + (k - 1) * width, vals, width=width,
                   color=[cols[m] for m in models], hatch=hatches[score], edgecolor="white", lw=0.3)
        ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
        ax.set_xticks(range(len(models)), models, rotation=35, ha="right")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"OOD set: {ds}")
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].set_ylabel("AUROC (OOD positive)")
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor="0.75", hatch=hatches[s], edgecolor="white")
               for s in scores]
    fig.legend(handles, ["max prob. (msp)", "entropy", "mutual information"], loc="upper center",
               ncol=3, frameon=False, bbox_to_anchor=(0.5, 1.06))
    fig.tight_layout()
    return _save(fig, out, "ood_auroc", formats)


def retention_figure(metrics, models, cols, out, formats) -> list[Path]:
    """Teacher value (x) vs student value (y) per distilled student and, for the labels-only
    baseline, against every teacher; colour = teacher, marker = method; y = x dashed."""
    fam = family_mean(metrics)
    ident = metrics[["model", "role", "teacher", "method"]].drop_duplicates("model").set_index("model")
    teachers = [m for m in models if ident.at[m, "role"] == "teacher"]
    students = [m for m in models if ident.at[m, "role"] == "student"]
    panels = [("id", "ece", "ID ECE"), ("corrupt", "ece", "corruption ECE (mean)"),
              ("shift", "nll", "shift NLL"), ("ood", "auroc_entropy", "OOD AUROC (entropy)")]
    if not teachers or not students:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.5))
    methods_seen: dict[str, str] = {}
    for ax, (split, metric, title) in zip(axes, panels):
        xs, ys = [], []
        for s in students:
            refs = teachers if ident.at[s, "teacher"] == "-" else [ident.at[s, "teacher"]]
            for t in refs:
                if t not in cols:  # the teacher's evaluation is missing
                    continue
                x, y = fam.get((t, split, metric), np.nan), fam.get((s, split, metric), np.nan)
                method = ident.at[s, "method"]
                marker = MARKERS.get(method, "D")
                methods_seen[method] = marker
                ax.scatter(x, y, color=cols[t], marker=marker, s=40, edgecolor="black", lw=0.4,
                           zorder=3)
                xs.append(x)
                ys.append(y)
        finite = [v for v in xs + ys if np.isfinite(v)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = 0.08 * (hi - lo or 1)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", ls="--", lw=0.8)
        ax.set_xlabel(f"teacher {title}")
        ax.set_ylabel(f"student {title}")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    handles = ([plt.Line2D([], [], color=cols[t], marker="o", ls="", label=f"teacher: {t}") for t in teachers]
               + [plt.Line2D([], [], color="0.3", marker=mk, ls="", label=f"method: {m}")
                  for m, mk in methods_seen.items()])
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save(fig, out, "retention", formats)


def acc_ece_figure(metrics, models, cols, out, formats) -> list[Path]:
    """Accuracy vs ECE, one point per (model, split): small dots for corrupted splits, a
    circle for the ID split and a square for the natural shift."""
    sel = metrics[metrics.metric.isin(["accuracy", "ece"]) & metrics.split.isin(["id", "shift", "corrupt"])]
    tab = sel.groupby(["model", "split", "dataset", "severity", "metric"])["value"].mean().unstack("metric")
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for m in models:
        if m not in tab.index.get_level_values(0):
            continue
        t = tab.loc[m]
        for split, marker, size, alpha in (("corrupt", ".", 14, 0.45), ("id", "o", 60, 1.0), ("shift", "s", 60, 1.0)):
            if split in t.index.get_level_values(0):
                ts = t.loc[split]
                ax.scatter(ts["accuracy"], ts["ece"], color=cols[m], marker=marker, s=size, alpha=alpha,
                           edgecolor="black" if split != "corrupt" else "none", lw=0.5,
                           label=m if split == "id" else None)
    ax.set_xlabel("accuracy")
    ax.set_ylabel("ECE")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7, title="● ID  ■ shift  · corrupted", title_fontsize=7)
    return _save(fig, out, "accuracy_vs_ece", formats)


def risk_coverage_figure(rc, models, cols, roles, out, formats) -> list[Path]:
    """Selective risk vs coverage on the ID split and on the corrupted splits at the highest
    severity (mean risk over corruption types and seeds)."""
    if rc.empty:
        return []
    top = int(rc.loc[rc.split == "corrupt", "severity"].max()) if (rc.split == "corrupt").any() else None
    panels = [("id", None, "ID test")] + ([("corrupt", top, f"corrupted, severity {top}")] if top else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (split, sev, title) in zip(axes.flat, panels):
        sel = rc[rc.split == split]
        if sev is not None:
            sel = sel[sel.severity == sev]
        curves = sel.groupby(["model", "coverage"])["risk"].mean()
        for m in models:
            if m in curves.index.get_level_values(0):
                c = curves.loc[m]
                ax.plot(c.index, c.to_numpy(), color=cols[m], marker=".", ms=4, label=m,
                        ls="-" if roles.get(m) == "teacher" else "--")
        ax.set_xlabel("coverage")
        ax.set_ylabel("selective risk (error rate)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "risk_coverage", formats)


def curve_groups(ident: pd.DataFrame, models: list[str]) -> list[tuple[str, list[str]]]:
    """Panels of the training-curve figure: the teachers, then the students of each teacher,
    then the labels-only students (``ident``: model -> role, teacher)."""
    teachers = [m for m in models if ident.at[m, "role"] == "teacher"]
    groups = [("teachers", teachers)] if teachers else []
    for t in teachers:
        st = [m for m in models if ident.at[m, "role"] == "student" and ident.at[m, "teacher"] == t]
        if st:
            groups.append((f"students of {t}", st))
    base = [m for m in models if ident.at[m, "role"] == "student" and ident.at[m, "teacher"] == "-"]
    if base:
        groups.append(("labels only", base))
    return groups


def training_curves_figure(curves, ident, models, cols, out, formats) -> list[Path]:
    """Validation NLL (top) and training accuracy (bottom) against epoch, one column per group
    of `curve_groups`; every (seed, network) is a thin line in its model's colour."""
    models = [m for m in models if m in set(curves.model)]
    groups = curve_groups(ident, models)
    if not groups:
        return []
    rows = [("val_nll", "validation NLL (nats)"), ("train_acc", "training accuracy")]
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(3.3 * len(groups), 5.2),
                             squeeze=False, sharex="col")
    for c, (title, members) in enumerate(groups):
        for r, (metric, label) in enumerate(rows):
            ax = axes[r, c]
            sel = curves[(curves.metric == metric) & curves.model.isin(members)]
            labelled: set[str] = set()
            for (model, _, _), g in sel.groupby(["model", "seed", "member"], sort=True):
                g = g.sort_values("epoch")
                ax.plot(g.epoch, g.value, color=cols[model], lw=0.8, alpha=0.7,
                        label=None if model in labelled else model)
                labelled.add(model)
            if metric == "val_nll" and sel.value.gt(0).all() and len(sel):
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(title)
                if labelled:
                    ax.legend(fontsize=6, loc="upper right")
            if c == 0:
                ax.set_ylabel(label)
            if r == len(rows) - 1:
                ax.set_xlabel("epoch")
    fig.tight_layout()
    return _save(fig, out, "training_curves", formats)


def _draw(task: tuple) -> list[Path]:
    fn, args = task
    with plt.rc_context(STYLE):
        return fn(*args)


def write_figures(results: Path, out: Path, *, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write every figure of a suite from its results directory; returns the files written."""
    from ..errors import UserError
    from . import read_results

    metrics = read_results(results / "metrics.csv")
    rel = read_results(results / "reliability.csv")
    hist = read_results(results / "histograms.csv")
    rc = read_results(results / "risk_coverage.csv") if (results / "risk_coverage.csv").exists() else pd.DataFrame()
    if metrics.empty:
        raise UserError(f"{results / 'metrics.csv'} has no rows: every job failed")
    metrics = base_models(metrics)
    out.mkdir(parents=True, exist_ok=True)
    models = model_order(metrics)
    cols = colours(models)
    roles = metrics.drop_duplicates("model").set_index("model")["role"].to_dict()
    tasks = [(reliability_figure, (rel, models, out, formats)),
             (severity_figure, (metrics, models, cols, out, formats))]
    tasks += [(heatmap_figure, (metrics, models, sev, out, formats)) for sev in (3, 5)
              if ((metrics.split == "corrupt") & (metrics.severity == sev)).any()]
    tasks += [(_density_panels, (hist, models, "entropy", "predictive entropy (nats)", out, "ood_entropy", formats)),
              (_density_panels, (hist, models, "mi", "mutual information (nats)", out, "ood_mi", formats)),
              (ood_auroc_figure, (metrics, models, cols, out, formats)),
              (retention_figure, (metrics, models, cols, out, formats)),
              (acc_ece_figure, (metrics, models, cols, out, formats)),
              (risk_coverage_figure, (rc, models, cols, roles, out, formats))]
    curves = pd.read_csv(results / "curves.csv") if (results / "curves.csv").exists() else pd.DataFrame()
    if not curves.empty:
        ident = metrics[["model", "role", "teacher"]].drop_duplicates("model").set_index("model")
        tasks.append((training_curves_figure, (curves, ident, models, cols, out, formats)))
    # the figures are independent: draw them in parallel processes (same bytes as in series)
    workers = min(len(tasks), os.cpu_count() or 1)
    if workers > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            parts = pool.map(_draw, tasks, chunksize=1)
    else:
        parts = [_draw(t) for t in tasks]
    files = [f for part in parts for f in part]
    stems = {f.stem for f in files}
    for stale in out.iterdir():  # figures of an older layout would mislead a reader
        if stale.suffix in (".png", ".pdf", ".svg") and stale.stem not in stems:
            stale.unlink()
    return files
