"""The leaderboard: ``results/leaderboard.csv`` and ``LEADERBOARD.md``, from ``results/`` only.

One row per (suite, teacher, student, method, post-hoc calibrator) — teachers included as
reference rows — with the headline metrics (mean over seeds), the OOD AUROC of the best score,
retention against the teacher, parameters and measured inference time, ranked within each
suite by ``rank_nll``: the mean NLL over the ID split and every shifted split (each corruption
type x severity, and the natural shift), a proper scoring rule that rewards accuracy and honest
uncertainty alike (lower is better). ``rank_nll_std`` is its standard deviation across seeds
(0 with one seed).

Updating a suite replaces exactly the rows of the models it has results for and keeps every
other row (other suites, pairs added earlier with ``add-pair``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..store import atomic_write_text
from .tables import family_mean, model_order

KEY = ["suite", "model"]
COLUMNS = ["suite", "rank", "model", "role", "teacher", "student", "method", "posthoc", "seeds",
           "rank_nll", "rank_nll_std", "id_accuracy", "id_nll", "id_brier", "id_ece",
           "corrupt_accuracy", "corrupt_nll", "corrupt_ece", "shift_accuracy", "shift_nll",
           "shift_ece", "ood_auroc_best", "ood_best_score", "keep_ood_auroc", "nll_ratio",
           "parameters", "ms_per_image"]


def suite_rows(suite: str, metrics: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard rows of one suite from its ``metrics.csv`` and ``models.csv``."""
    nll = metrics[(metrics.metric == "nll") & metrics.split.isin(["id", "corrupt", "shift"])]
    per_seed = nll.groupby(["model", "seed"])["value"].mean()  # mean over ID + shifted splits
    fam = family_mean(metrics)
    ident = metrics.drop_duplicates("model").set_index("model")
    info = models.drop_duplicates("model").set_index("model") if not models.empty else pd.DataFrame()
    order = model_order(metrics)
    rows = []
    for m in ident.index:
        r = ident.loc[m]
        base = m.split("+")[0]
        seeds = per_seed.loc[m] if m in per_seed.index.get_level_values(0) else pd.Series(dtype=float)
        ood = {s: fam.get((m, "ood", f"auroc_{s}"), np.nan) for s in ("msp", "entropy", "mi")}
        ood = {k: v for k, v in ood.items() if np.isfinite(v)}
        best = max(ood, key=ood.get) if ood else ""
        row = {"suite": suite, "model": m, "role": r.role, "teacher": r.teacher, "student": r.student,
               "method": r.method, "posthoc": r.get("posthoc", "-"), "seeds": int(seeds.size),
               "rank_nll": float(seeds.mean()) if seeds.size else np.nan,
               "rank_nll_std": float(seeds.std(ddof=1)) if seeds.size > 1 else 0.0,
               "ood_auroc_best": ood.get(best, np.nan), "ood_best_score": best}
        for split in ("id", "corrupt", "shift"):
            for metric in ("accuracy", "nll", "brier", "ece"):
                if f"{split}_{metric}" in COLUMNS:
                    row[f"{split}_{metric}"] = fam.get((m, split, metric), np.nan)
        teacher = r.teacher if r.role == "student" and r.teacher != "-" else None
        if teacher:
            t_auroc = fam.get((teacher, "ood", "auroc_entropy"), np.nan)
            row["keep_ood_auroc"] = fam.get((m, "ood", "auroc_entropy"), np.nan) / t_auroc
            t_rank = per_seed.loc[teacher].mean() if teacher in per_seed.index.get_level_values(0) else np.nan
            row["nll_ratio"] = row["rank_nll"] / t_rank
        if base in info.index:
            members = info.at[base, "members"] if pd.notna(info.at[base, "members"]) else 1
            params = info.at[base, "parameters"]
            row["parameters"] = int(params * members) if pd.notna(params) else np.nan
            row["ms_per_image"] = info.at[base, "ms_per_image"] if "ms_per_image" in info else np.nan
        row["_order"] = order.index(base) if base in order else len(order)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = df.sort_values(["rank_nll", "_order", "model"], na_position="last").drop(columns="_order")
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    return df.reindex(columns=COLUMNS)


def update_leaderboard(root: Path, suite: str, results: Path) -> pd.DataFrame:
    """Replace the rows of ``suite``'s models in ``root/results/leaderboard.csv`` by fresh ones
    from ``results``, re-rank the suite, and rewrite ``root/LEADERBOARD.md``."""
    from . import read_results

    metrics = read_results(results / "metrics.csv")
    models = pd.read_csv(results / "models.csv") if (results / "models.csv").exists() else pd.DataFrame()
    fresh = suite_rows(suite, metrics, models)
    path = root / "results" / "leaderboard.csv"
    old = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else pd.DataFrame(columns=COLUMNS)
    keep = old[~old.set_index(KEY).index.isin(fresh.set_index(KEY).index)] if not old.empty else old
    board = pd.concat([keep, fresh], ignore_index=True) if not keep.empty else fresh
    ranked = []
    for s, part in board.groupby("suite", sort=True):
        part = part.sort_values(["rank_nll", "model"], na_position="last").copy()
        part["rank"] = np.arange(1, len(part) + 1)
        ranked.append(part)
    board = pd.concat(ranked, ignore_index=True)[COLUMNS]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, board.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(root / "LEADERBOARD.md", leaderboard_markdown(board))
    return board


def _f(v, digits: int = 3) -> str:
    return "—" if pd.isna(v) else f"{v:.{digits}f}"


def leaderboard_markdown(board: pd.DataFrame, *, top: int | None = None) -> str:
    """The leaderboard as Markdown, one table per suite."""
    lines = ["# kdbench leaderboard", "",
             "Ranked within each suite by **rank NLL**: the mean NLL over the ID split and every "
             "shifted split (corruption types x severities, natural shift), mean ± std over seeds; "
             "lower is better. OOD AUROC: the best of the max-probability, entropy and "
             "mutual-information scores (mean over OOD sets). keep AUROC: student / teacher OOD "
             "AUROC with the entropy score. Parameters: all networks of the model. ms/img: measured "
             "inference time per image on the machine that ran it. Generated by kdbench from "
             "`results/leaderboard.csv`; add your own pair with `python -m kdbench add-pair`.", ""]
    for suite, part in board.groupby("suite", sort=True):
        part = part.sort_values("rank")
        if top:
            part = part.head(top)
        lines += [f"## {suite}", "",
                  "| # | model | teacher | method | post-hoc | rank NLL | ID acc | ID ECE | C ECE | "
                  "shift ECE | OOD AUROC (score) | keep AUROC | params | ms/img |",
                  "|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in part.iterrows():
            spread = f" ± {r.rank_nll_std:.3f}" if r.seeds and r.seeds > 1 else ""
            params = "—" if pd.isna(r.parameters) else f"{int(r.parameters):,}"
            lines.append(
                f"| {r['rank']} | {r.model} | {r.teacher} | {r.method} | {r.posthoc} | "
                f"{_f(r.rank_nll)}{spread} | {_f(r.id_accuracy)} | {_f(r.id_ece)} | "
                f"{_f(r.corrupt_ece)} | {_f(r.shift_ece)} | {_f(r.ood_auroc_best)} "
                f"({r.ood_best_score or '—'}) | {_f(r.keep_ood_auroc, 2)} | {params} | "
                f"{_f(r.ms_per_image, 3)} |")
        lines.append("")
    return "\n".join(lines)
