"""The leaderboard: ``results/leaderboard.csv`` and ``LEADERBOARD.md``, from ``results/`` only.

One row per (suite, teacher, student, method, post-hoc calibrator) — teachers included as
reference rows — with the headline metrics, the OOD AUROC of the best score on the natural OOD
sets, the AUROC on uniform noise apart (see `kdbench.report.tables.SYNTHETIC_OOD`), retention
against the teacher, parameters, measured inference time and whether every seed's training
converged; ranked within each suite by ``rank_nll``: the mean NLL over the ID split and every
shifted split (each corruption type x severity, and the natural shift), a proper scoring rule
that rewards accuracy and honest uncertainty alike (lower is better).

Every number is the mean over seeds; the columns ``<name>_lo`` / ``<name>_hi`` hold its 95%
Student-t interval over seeds (`kdbench.report.stats.seed_interval`; empty with one seed).
Ratios (``keep_ood_auroc``, ``nll_ratio``) are computed per seed, then averaged. The rank
orders the means: two rows whose intervals overlap are not shown apart by this benchmark.

Each row also carries its provenance (`PROVENANCE`: epochs, batch size, device, torch and
kdbench versions and the suite hash of the results it came from).

Updating a suite replaces exactly the rows of the models it has results for and keeps every
other row (other suites, pairs added earlier with ``add-pair``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..results_files import read_leaderboard, read_optional, read_results, table_path
from ..store import atomic_write_text
from .stats import seed_interval
from .tables import convergence_flags, model_order, per_seed, seed_series

KEY = ["suite", "model"]
WITH_INTERVAL = ["rank_nll", "id_accuracy", "id_nll", "id_ece", "corrupt_ece", "shift_nll",
                 "shift_ece", "ood_auroc_best", "noise_auroc_entropy", "keep_ood_auroc"]
COLUMNS = ["suite", "rank", "model", "role", "teacher", "student", "method", "posthoc", "seeds",
           "converged", "rank_nll", "id_accuracy", "id_nll", "id_brier", "id_ece",
           "corrupt_accuracy", "corrupt_nll", "corrupt_ece", "shift_accuracy", "shift_nll",
           "shift_ece", "ood_auroc_best", "ood_best_score", "noise_auroc_entropy",
           "keep_ood_auroc", "nll_ratio", "parameters", "ms_per_image"]
COLUMNS += [f"{c}_{e}" for c in WITH_INTERVAL for e in ("lo", "hi")]
# provenance of each row, from models.csv (kdbench.collect): first seed's value where seeds differ
PROVENANCE = ["epochs", "batch_size", "device", "torch", "kdbench", "suite_hash"]
COLUMNS += PROVENANCE


def _put(row: dict, name: str, values: pd.Series) -> None:
    """``row[name]`` = mean over seeds, ``row[name_lo/_hi]`` = its t-interval."""
    mean, lo, hi, _ = seed_interval(values.to_numpy() if len(values) else [])
    row[name] = mean
    if name in WITH_INTERVAL:
        row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi


def suite_rows(suite: str, metrics: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Leaderboard rows of one suite from its ``metrics.csv`` and ``models.csv``."""
    nll = metrics[(metrics.metric == "nll") & metrics.split.isin(["id", "corrupt", "shift"])]
    rank_seed = nll.groupby(["model", "seed"])["value"].mean()  # mean over ID + shifted splits
    ps = per_seed(metrics)
    ident = metrics.drop_duplicates("model").set_index("model")
    info = models.drop_duplicates("model").set_index("model") if not models.empty else pd.DataFrame()
    unconverged = convergence_flags(models)
    has_flag = not models.empty and "converged" in models.columns
    order = model_order(metrics)

    def rank(model: str) -> pd.Series:
        return rank_seed.loc[model] if model in rank_seed.index.get_level_values(0) else pd.Series(dtype=float)
    rows = []
    for m in ident.index:
        r = ident.loc[m]
        base = m.split("+")[0]
        seeds = rank(m)
        ood = {sc: seed_series(ps, m, "ood", f"auroc_{sc}") for sc in ("msp", "entropy", "mi")}
        ood = {k: v for k, v in ood.items() if len(v.dropna())}
        best = max(ood, key=lambda k: ood[k].mean()) if ood else ""
        row = {"suite": suite, "model": m, "role": r.role, "teacher": r.teacher, "student": r.student,
               "method": r.method, "posthoc": r.get("posthoc", "-"),
               "seeds": int(metrics.loc[metrics.model == m, "seed"].nunique()),
               "converged": (base not in unconverged) if has_flag else None,
               "ood_best_score": best}
        _put(row, "rank_nll", seeds)
        _put(row, "ood_auroc_best", ood.get(best, pd.Series(dtype=float)))
        _put(row, "noise_auroc_entropy", seed_series(ps, m, "ood_noise", "auroc_entropy"))
        for split in ("id", "corrupt", "shift"):
            for metric in ("accuracy", "nll", "brier", "ece"):
                _put(row, f"{split}_{metric}", seed_series(ps, m, split, metric))
        teacher = r.teacher if r.role == "student" and r.teacher != "-" else None
        if teacher:
            t_auroc = seed_series(ps, teacher, "ood", "auroc_entropy").replace(0, np.nan)
            _put(row, "keep_ood_auroc", (seed_series(ps, m, "ood", "auroc_entropy") / t_auroc).dropna())
            _put(row, "nll_ratio", (seeds / rank(teacher).replace(0, np.nan)).dropna())
        src = m if m in info.index else base  # a compressed variant has its own row
        if base in info.index:
            members = info.at[base, "members"] if pd.notna(info.at[base, "members"]) else 1
            params = info.at[base, "parameters"]
            row["parameters"] = int(params * members) if pd.notna(params) else np.nan
            row["ms_per_image"] = info.at[src, "ms_per_image"] if "ms_per_image" in info else np.nan
        if src in info.index:
            row.update({c: info.at[src, c] for c in PROVENANCE if c in info.columns})
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
    board = ranked_leaderboard(root, suite, results)
    path = root / "results" / "leaderboard.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, board.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(root / "LEADERBOARD.md", leaderboard_markdown(board))
    return board


def ranked_leaderboard(root: Path, suite: str, results: Path) -> pd.DataFrame:
    """The board `update_leaderboard` writes, without writing it: ``suite``'s rows fresh from
    ``results`` (full precision, as the report shows them), the other suites' from
    ``root/results/leaderboard.csv``, every suite ranked."""
    metrics = read_results(table_path(results, "metrics"))
    models = read_optional(results, "models")
    fresh = suite_rows(suite, metrics, pd.DataFrame() if models is None else models)
    path = root / "results" / "leaderboard.csv"
    old = read_leaderboard(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
    keep = old[~old.set_index(KEY).index.isin(fresh.set_index(KEY).index)] if not old.empty else old
    board = pd.concat([keep, fresh], ignore_index=True) if not keep.empty else fresh
    ranked = []
    for s, part in board.groupby("suite", sort=True):
        part = part.sort_values(["rank_nll", "model"], na_position="last").copy()
        part["rank"] = np.arange(1, len(part) + 1)
        ranked.append(part)
    return pd.concat(ranked, ignore_index=True)[COLUMNS]


def _f(v, digits: int = 3) -> str:
    return "—" if pd.isna(v) else f"{v:.{digits}f}"


def pm_cell(r: pd.Series, name: str, digits: int = 3) -> str:
    """'mean ± half-width of the t-interval' (two or more seeds), else 'mean'."""
    lo, hi = r.get(f"{name}_lo", np.nan), r.get(f"{name}_hi", np.nan)
    if pd.isna(r.get(name)) or pd.isna(lo) or pd.isna(hi):
        return _f(r.get(name), digits)
    return f"{r[name]:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


def _not_converged(v) -> bool:
    return str(v).strip().lower() in ("false", "0", "0.0")


def leaderboard_markdown(board: pd.DataFrame, *, top: int | None = None) -> str:
    """The leaderboard as Markdown, one table per suite."""
    lines = ["# kdbench leaderboard", "",
             "Ranked within each suite by **rank NLL**: the mean NLL over the ID split and every "
             "shifted split (corruption types x severities, natural shift); lower is better. Each "
             "value is the mean over seeds ± the half-width of its 95% Student-t interval over "
             "seeds (no ± with one seed); rows whose intervals overlap are not told apart by the "
             "benchmark. OOD AUROC: the best of the max-probability, entropy and "
             "mutual-information scores, mean over the natural OOD sets; noise: AUROC (entropy) "
             "on uniform noise, apart because a model scores it near 0 or 1 as if it were one "
             "input. keep AUROC: student / teacher OOD AUROC with the entropy score, per seed. "
             "† the model did not converge in at least one seed. Parameters: all networks of the "
             "model. ms/img: measured inference time per image on the machine that ran it. "
             "Generated by kdbench from `results/leaderboard.csv`; add your own pair with "
             "`python -m kdbench add-pair`.", ""]
    for suite, part in board.groupby("suite", sort=True):
        part = part.sort_values("rank")
        if top:
            part = part.head(top)
        lines += [f"## {suite}", "",
                  "| # | model | teacher | method | post-hoc | seeds | rank NLL | ID acc | ID ECE | "
                  "C ECE | shift ECE | OOD AUROC (score) | noise AUROC | keep AUROC | params | ms/img |",
                  "|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in part.iterrows():
            params = "—" if pd.isna(r.parameters) else f"{int(r.parameters):,}"
            flag = " †" if _not_converged(r.get("converged")) else ""
            seeds = "—" if pd.isna(r.seeds) else str(int(r.seeds))
            lines.append(
                f"| {r['rank']} | {r.model}{flag} | {r.teacher} | {r.method} | {r.posthoc} | "
                f"{seeds} | {pm_cell(r, 'rank_nll')} | {pm_cell(r, 'id_accuracy')} | {pm_cell(r, 'id_ece')} | "
                f"{pm_cell(r, 'corrupt_ece')} | {pm_cell(r, 'shift_ece')} | {pm_cell(r, 'ood_auroc_best')} "
                f"({r.ood_best_score or '—'}) | {pm_cell(r, 'noise_auroc_entropy')} | "
                f"{pm_cell(r, 'keep_ood_auroc', 2)} | {params} | {_f(r.ms_per_image, 3)} |")
        lines.append("")
    return "\n".join(lines)
