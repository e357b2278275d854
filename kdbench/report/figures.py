"""Figures from ``results/<suite>/`` alone (no runs/, no retraining).

Stable file names under ``reports/<suite>/figures/``, PNG (150 dpi) and PDF, one colour per
model kept across figures. Matplotlib's Agg backend; metadata dates are removed so the same
results give the same files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .tables import model_order, severity_table  # noqa: E402

REL_ROWS = [("id", None, "ID test"), ("shift", None, "natural shift"),
            ("corrupt", 3, "corrupted, severity 3"), ("corrupt", 5, "corrupted, severity 5")]


def colours(models: list[str]) -> dict[str, tuple]:
    """A fixed colour per model (tab10/tab20 in model order)."""
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


def _save(fig: plt.Figure, out: Path, stem: str, formats: tuple[str, ...]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        meta = {"CreationDate": None} if fmt == "pdf" else ({"Date": None} if fmt == "svg" else {})
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta or None)
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


def reliability_figure(rel: pd.DataFrame, models: list[str], out: Path,
                       formats: tuple[str, ...]) -> list[Path]:
    """Grid of reliability diagrams: rows ID / shift / severity 3 / severity 5 (pooled over
    corruption types), columns = models. Bars: accuracy per confidence bin; red: the gap to the
    diagonal; title: ECE of the pooled bins."""
    fig, axes = plt.subplots(len(REL_ROWS), len(models), figsize=(2.1 * len(models), 2.1 * len(REL_ROWS)),
                             sharex=True, sharey=True, squeeze=False)
    for r, (split, sev, label) in enumerate(REL_ROWS):
        for c, model in enumerate(models):
            ax = axes[r, c]
            sel = rel[(rel.model == model) & (rel.split == split)]
            if sev is not None:
                sel = sel[sel.severity == sev]
            ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--")
            if sel.empty:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8)
            else:
                b = _pooled_bins(sel)
                full = b["count"] > 0
                width = (b.hi - b.lo)[full]
                ax.bar(b.lo[full], b.accuracy[full], width=width, align="edge", color="#4C72B0",
                       edgecolor="white", lw=0.3, label="accuracy")
                ax.bar(b.lo[full], (b.confidence - b.accuracy)[full], bottom=b.accuracy[full],
                       width=width, align="edge", color="#C44E52", alpha=0.45, label="gap")
                w = b["count"][full] / b["count"].sum()
                ece = float(np.sum(w * np.abs(b.accuracy[full] - b.confidence[full])))
                ax.set_title(f"ECE {ece:.3f}", fontsize=8, pad=2)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.annotate(model, (0.5, 1.22), xycoords="axes fraction", ha="center",
                            fontsize=8, fontweight="bold")
            if c == 0:
                ax.set_ylabel(f"{label}\naccuracy", fontsize=8)
            if r == len(REL_ROWS) - 1:
                ax.set_xlabel("confidence", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, "reliability", formats)


def severity_figure(metrics: pd.DataFrame, models: list[str], cols: dict, out: Path,
                    formats: tuple[str, ...]) -> list[Path]:
    """Accuracy, ECE, NLL and Brier vs corruption severity (0 = clean), mean over the
    corruption types and seeds; teachers solid, students dashed."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    roles = metrics.drop_duplicates("model").set_index("model")["role"]
    for ax, metric in zip(axes, ["accuracy", "ece", "nll", "brier"]):
        tab = severity_table(metrics, metric)
        for model in models:
            if model in tab.index:
                ax.plot(tab.columns, tab.loc[model], marker="o", ms=3, color=cols[model],
                        ls="-" if roles[model] == "teacher" else "--", label=model)
        ax.set_xlabel("severity (0 = clean)")
        ax.set_title({"accuracy": "accuracy", "ece": "ECE (15 bins)", "nll": "NLL (nats)",
                      "brier": "Brier"}[metric], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, out, "metric_vs_severity", formats)


def entropy_figure(hist: pd.DataFrame, models: list[str], out: Path,
                   formats: tuple[str, ...]) -> list[Path]:
    """Predictive-entropy histograms (density, pooled over seeds): ID test vs natural shift vs
    each OOD set, one panel per model."""
    h = hist[hist.quantity == "entropy"]
    sets = [("id", "test")] + [tuple(x) for x in h[h.split != "id"][["split", "dataset"]]
                               .drop_duplicates().itertuples(index=False)]
    ncol = min(4, len(models))
    nrow = int(np.ceil(len(models) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.5 * nrow), squeeze=False)
    styles = plt.get_cmap("Dark2")
    for i, model in enumerate(models):
        ax = axes.flat[i]
        for j, (split, ds) in enumerate(sets):
            sel = h[(h.model == model) & (h.split == split) & (h.dataset == ds)]
            if sel.empty:
                continue
            g = sel.groupby("bin").agg(lo=("lo", "first"), hi=("hi", "first"), count=("count", "sum"))
            dens = g["count"] / (g["count"].sum() * (g.hi - g.lo))
            ax.stairs(dens.to_numpy(), np.append(g.lo.to_numpy(), g.hi.iloc[-1]),
                      color=styles(j), lw=1.2, label=f"{split}: {ds}" if split != "id" else "ID test")
        ax.set_title(model, fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("predictive entropy (nats)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(models):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, out, "entropy_id_vs_ood", formats)


def write_figures(results: Path, out: Path, *, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write every figure of a suite from its results directory; returns the files written."""
    from ..errors import UserError

    from . import read_results

    metrics = read_results(results / "metrics.csv")
    rel = read_results(results / "reliability.csv")
    hist = read_results(results / "histograms.csv")
    if metrics.empty:
        raise UserError(f"{results / 'metrics.csv'} has no rows: every job failed")
    out.mkdir(parents=True, exist_ok=True)
    models = model_order(metrics)
    cols = colours(models)
    plt.rcParams.update({"svg.hashsalt": "kdbench", "pdf.compression": 6})
    files = reliability_figure(rel, models, out, formats)
    files += severity_figure(metrics, models, cols, out, formats)
    files += entropy_figure(hist, models, out, formats)
    return files
