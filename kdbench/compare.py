"""``python -m kdbench compare A B``: do two results directories of one suite agree?

Two runs of the same suite give byte-identical ``metrics.csv.gz`` only on the same kind of
machine (docs/reproducibility.md); elsewhere CPU kernels differ, values differ in the last bits
and the differences grow through training. What should still hold is that the *headline
values* agree within their seed-to-seed uncertainty. This module checks that.

Headline values
---------------
Per model with ``posthoc`` "-" (the raw models) or ``temperature`` (their temperature-scaled
variants; compressed and other post-hoc variants are left out), the per-seed value of

* ID accuracy, ID NLL, ID ECE (the ID test split),
* C ECE: the mean over the seed's ``corrupt`` rows (all corruption types and severities),
* shift NLL: the mean over the seed's natural-shift sets,
* OOD AUROC (MSP): ``auroc_msp``, the mean over the seed's natural OOD sets (the synthetic
  sets of `kdbench.report.tables.SYNTHETIC_OOD`, uniform noise, are left out as everywhere
  in the report),

and, in each directory, the mean over seeds with its two-sided 95% Student-t interval
(`kdbench.report.stats.seed_interval`).

Agreement rule
--------------
A headline value **agrees** when each directory's mean lies inside the other directory's 95%
interval (bounds included): ``lo_B ≤ mean_A ≤ hi_B`` and ``lo_A ≤ mean_B ≤ hi_A``. Overlapping
intervals are not enough. With a single seed an interval is undefined and is taken as the
single point ``[mean, mean]``, so the other mean must equal it. A value present in only one
directory does not agree.

Besides, the comparison reports whether the two metrics files are byte-identical (SHA-256) and
how many of their values are identical (rows matched on seed, model, posthoc, split, dataset,
severity and metric; a row present in one file only counts as not identical).

Both directories must record the same ``suite_hash`` (`kdbench.collect.suite_hash`); anything
else is a `UserError` unless ``allow_mixed_suites``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .report import read_results
from .report.stats import LEVEL, format_interval, seed_interval
from .report.tables import TS, model_order, split_means
from .results_files import table_path

# (label, split family, metric): the split family as in kdbench.report.tables.families
QUANTITIES = (("ID accuracy", "id", "accuracy"), ("ID NLL", "id", "nll"), ("ID ECE", "id", "ece"),
              ("C ECE", "corrupt", "ece"), ("shift NLL", "shift", "nll"),
              ("OOD AUROC (MSP)", "ood", "auroc_msp"))
HEADLINE_POSTHOC = ("-", TS)
VALUE_KEYS = ["seed", "model", "posthoc", "split", "dataset", "severity", "metric"]


@dataclass(frozen=True)
class Side:
    """One results directory: its metrics file, that file's SHA-256 and its rows."""

    folder: Path
    path: Path
    sha256: str
    metrics: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.metrics["seed"].dropna().unique())

    @property
    def suite_hashes(self) -> set[str]:
        if "suite_hash" not in self.metrics.columns:
            return set()
        return set(self.metrics["suite_hash"].dropna().astype(str).unique())


@dataclass(frozen=True)
class Comparison:
    """``rows``: one per (model, quantity) with ``mean_a, lo_a, hi_a, n_a``, the same for
    ``b`` and ``agree``; plus the byte and value identity of the two metrics files."""

    a: Side
    b: Side
    rows: pd.DataFrame
    identical_values: int
    total_values: int

    @property
    def identical_bytes(self) -> bool:
        return self.a.sha256 == self.b.sha256

    @property
    def agreeing(self) -> int:
        return int(self.rows["agree"].sum())

    @property
    def all_agree(self) -> bool:
        return bool(len(self.rows)) and self.agreeing == len(self.rows)


def agree(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """The agreement rule for ``(mean, lo, hi)`` of A and B: each mean inside the other's
    interval (bounds included); an undefined interval (one seed) is the point ``[mean, mean]``;
    a missing mean never agrees.

    >>> agree((1.0, 0.9, 1.1), (1.05, 0.95, 1.15))
    True
    >>> agree((1.0, 0.99, 1.01), (1.05, 0.9, 1.2))  # overlap is not enough
    False
    """
    (ma, la, ha), (mb, lb, hb) = a, b
    if not (math.isfinite(ma) and math.isfinite(mb)):
        return False

    def inside(m: float, lo: float, hi: float, centre: float) -> bool:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo = hi = centre
        return lo <= m <= hi
    return inside(ma, lb, hb, mb) and inside(mb, la, ha, ma)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_side(folder: Path) -> Side:
    """The metrics of results directory ``folder`` (`UserError` when the directory or its
    ``metrics.csv.gz`` is missing, unreadable or empty)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"results directory {folder} does not exist" if not folder.exists()
                        else f"{folder} is not a directory; pass a results directory such as "
                        "results/mnist5k")
    path = table_path(folder, "metrics")
    metrics = read_results(path)
    if metrics.empty:
        raise UserError(f"{path} has no rows: every job of its suite failed")
    return Side(folder, path, _sha256(path), metrics)


def _check_suites(a: Side, b: Side, allow_mixed: bool) -> None:
    if allow_mixed:
        return
    for side in (a, b):
        if len(side.suite_hashes) > 1:
            raise UserError(f"{side.path} mixes {len(side.suite_hashes)} suite hashes ("
                            f"{', '.join(sorted(h[:12] for h in side.suite_hashes))}); "
                            "pass --allow-mixed-suites to compare it anyway")
    if a.suite_hashes and b.suite_hashes and a.suite_hashes != b.suite_hashes:
        (ha,), (hb,) = a.suite_hashes, b.suite_hashes
        raise UserError(f"{a.folder} and {b.folder} are results of different suites or settings "
                        f"(suite hash {ha[:12]} vs {hb[:12]}); pass --allow-mixed-suites to "
                        "compare them anyway")


def _headline(metrics: pd.DataFrame) -> pd.DataFrame:
    if "posthoc" in metrics.columns:
        metrics = metrics[metrics.posthoc.astype(str).isin(HEADLINE_POSTHOC)]
    return metrics


def _per_seed(metrics: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
    """(model, split family, metric) -> the per-seed family means (sorted by seed)."""
    means = split_means(metrics).sort_values("seed")
    return {k: g["value"].to_numpy(dtype=float)
            for k, g in means.groupby(["model", "split", "metric"], sort=False)}


def _identical(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, int]:
    """(values identical in both files, rows of the union of both files) of two metrics
    frames; a value NaN in both (a metric undefined in both runs) counts as identical."""
    keys = [k for k in VALUE_KEYS if k in a.columns and k in b.columns]

    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        out = df[keys + ["value"]].copy()
        out["_dup"] = out.groupby(keys, dropna=False, sort=False).cumcount()
        return out
    both = keyed(a).merge(keyed(b), on=keys + ["_dup"], how="outer", suffixes=("_a", "_b"),
                          indicator=True)
    va = pd.to_numeric(both["value_a"], errors="coerce").to_numpy(dtype=float)
    vb = pd.to_numeric(both["value_b"], errors="coerce").to_numpy(dtype=float)
    same = (both["_merge"] == "both").to_numpy() & ((va == vb) | (np.isnan(va) & np.isnan(vb)))
    return int(same.sum()), int(len(both))


def compare(a: Path, b: Path, *, allow_mixed_suites: bool = False) -> Comparison:
    """Compare the headline values of results directories ``a`` and ``b`` (module docstring:
    which values, and the agreement rule). `UserError` for a missing directory or file, and
    for different suite hashes unless ``allow_mixed_suites``."""
    sa, sb = read_side(a), read_side(b)
    _check_suites(sa, sb, allow_mixed_suites)
    ha, hb = _headline(sa.metrics), _headline(sb.metrics)
    pa, pb = _per_seed(ha), _per_seed(hb)
    ident = pd.concat([ha, hb])[["model", "role", "teacher"]]
    nan = (float("nan"),) * 3 + (0,)
    rows = []
    for model in model_order(ident):
        for label, split, metric in QUANTITIES:
            key = (model, split, metric)
            if key not in pa and key not in pb:
                continue
            ia = seed_interval(pa[key]) if key in pa else nan
            ib = seed_interval(pb[key]) if key in pb else nan
            rows.append({"model": model, "quantity": label,
                         "mean_a": ia[0], "lo_a": ia[1], "hi_a": ia[2], "n_a": ia[3],
                         "mean_b": ib[0], "lo_b": ib[1], "hi_b": ib[2], "n_b": ib[3],
                         "agree": agree(ia[:3], ib[:3])})
    if not rows:
        raise UserError(f"neither {sa.path} nor {sb.path} has a headline value (ID accuracy, "
                        "NLL, ECE; corruption ECE; shift NLL; OOD AUROC (MSP)) to compare")
    same, total = _identical(sa.metrics, sb.metrics)
    return Comparison(sa, sb, pd.DataFrame(rows), same, total)


def summary_line(c: Comparison) -> str:
    """E.g. "119 of 120 headline values agree within their 95% intervals; files differ
    (686,629 of 730,944 values identical)"."""
    files = "files are byte-identical" if c.identical_bytes else "files differ"
    return (f"{c.agreeing} of {len(c.rows)} headline values agree within their "
            f"{LEVEL:.0%} intervals; {files} ({c.identical_values:,} of {c.total_values:,} "
            "values identical)")


def format_comparison(c: Comparison, *, digits: int = 4) -> str:
    """The comparison as a plain-text table (model, quantity, mean A [interval], mean B
    [interval], agree) between a header naming both files and `summary_line`."""
    def cell(mean: float, lo: float, hi: float) -> str:
        return format_interval(mean, lo, hi, digits=digits)
    table = [("model", "quantity", "mean A [95% interval]", "mean B [95% interval]", "agree")]
    for r in c.rows.itertuples():
        table.append((r.model, r.quantity, cell(r.mean_a, r.lo_a, r.hi_a),
                      cell(r.mean_b, r.lo_b, r.hi_b), "yes" if r.agree else "no"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [f"A: {c.a.path} (seeds {c.a.seeds}, sha256 {c.a.sha256[:12]})",
             f"B: {c.b.path} (seeds {c.b.seeds}, sha256 {c.b.sha256[:12]})"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    lines.append(summary_line(c))
    return "\n".join(lines)
