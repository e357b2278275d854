"""Tables from ``results/<suite>/``: summary, per-split, severity, per corruption, OOD,
retention, fidelity, paired comparisons, transfer-set diversity.

Aggregation: within a seed, a split family is the mean over its splits ("corrupt": every
corruption type x severity 1–5; "ood": the **natural** OOD sets only; "ood_noise": the
synthetic sets of `SYNTHETIC_OOD`, reported apart because uniform noise behaves like a single
input — a model puts it all on one side of the ID inputs, so its AUROC is near 0 or 1 and
would swamp the mean of the natural sets). Across seeds, every table with intervals uses
`kdbench.report.stats`: the mean over seeds and a 95% Student-t interval over seeds
(`seed_interval`); with one seed the per-example bootstrap interval stored with the metric
(``ci_low``/``ci_high``; ID and shift cells of accuracy, NLL, Brier and ECE) is shown instead,
marked ``ᵇ``. A missing cell (a failed job) stays NaN and prints as "—".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import (format_interval, holm, paired_difference, paired_t_pvalue, seed_interval,
                    two_level, verdict)

ORDER_ROLE = {"teacher": 0, "student": 1}
SYNTHETIC_OOD = ("noise",)
BOOT_MARK = "ᵇ"
NOT_CONVERGED = "†"

SUMMARY_COLUMNS = [
    ("id", "accuracy", "ID acc"), ("id", "nll", "ID NLL"), ("id", "brier", "ID Brier"),
    ("id", "ece", "ID ECE"),
    ("corrupt", "accuracy", "C acc"), ("corrupt", "nll", "C NLL"), ("corrupt", "ece", "C ECE"),
    ("shift", "accuracy", "Shift acc"), ("shift", "nll", "Shift NLL"), ("shift", "ece", "Shift ECE"),
    ("ood", "auroc_entropy", "OOD AUROC (H)"), ("ood", "auroc_mi", "OOD AUROC (MI)"),
    ("ood_noise", "auroc_entropy", "noise AUROC (H)"), ("ood_noise", "auroc_mi", "noise AUROC (MI)"),
]
HIGHER_IS_BETTER = ("acc", "auroc", "aupr", "agreement", "AUROC", "agree")

# retention: (split family, metric, label); ratio student / teacher per seed
RETENTION_COLUMNS = [
    ("id", "ece", "ID ECE"), ("id", "nll", "ID NLL"), ("corrupt", "ece", "C ECE"),
    ("corrupt", "nll", "C NLL"), ("ood", "auroc_entropy", "OOD AUROC (H)"),
    ("ood", "auroc_mi", "OOD AUROC (MI)"),
]

# paired comparisons: (split family, metric, label, higher is better); OOD rows per set are added
PAIRED_COLUMNS = [
    ("id", "accuracy", "ID acc", True), ("id", "nll", "ID NLL", False),
    ("corrupt", "ece", "C ECE", False), ("shift", "nll", "Shift NLL", False),
]
PAIRED_OOD_SCORES = (("auroc_entropy", "H"), ("auroc_mi", "MI"))
# the headline comparisons (answer table, forest plot): (split family, metric, label, higher is
# better); OOD AUROC is the mean over the natural OOD sets
HEADLINE = [("id", "nll", "ID NLL", False), ("corrupt", "ece", "corruption ECE", False),
            ("shift", "nll", "shift NLL", False), ("ood", "auroc_entropy", "OOD AUROC (H)", True)]


@dataclass(frozen=True)
class IntervalTable:
    """Row x column tables of the mean over seeds, its 95% t-interval ``lo``/``hi`` and the
    number of seeds ``n``; ``boot_lo``/``boot_hi``: the per-example bootstrap interval (mean
    over seeds), shown only where ``n == 1``."""

    mean: pd.DataFrame
    lo: pd.DataFrame
    hi: pd.DataFrame
    n: pd.DataFrame
    boot_lo: pd.DataFrame | None = None
    boot_hi: pd.DataFrame | None = None

    @property
    def empty(self) -> bool:
        return self.mean.empty or self.mean.isna().all().all()

    def display(self, *, digits: int = 3, mark: dict[str, str] | None = None,
                joiner: str = " ← ") -> pd.DataFrame:
        """'mean ± t half-width' (two or more seeds), 'mean ± bootstrap half-widthᵇ' (one
        seed, where a bootstrap exists), 'mean', or '—'."""
        out = self.mean.copy().astype(object)
        for c in self.mean.columns:
            cells = []
            for i in self.mean.index:
                m, lo, hi, n = self.mean.at[i, c], self.lo.at[i, c], self.hi.at[i, c], self.n.at[i, c]
                if pd.notna(m) and n >= 2:
                    cells.append(format_cell(m, (hi - lo) / 2, digits))
                elif pd.notna(m) and self.boot_lo is not None and pd.notna(self.boot_lo.at[i, c]):
                    h = (self.boot_hi.at[i, c] - self.boot_lo.at[i, c]) / 2
                    cells.append(format_cell(m, h, digits) + BOOT_MARK)
                else:
                    cells.append(format_cell(m, np.nan, digits))
            out[c] = cells
        return _mark_index(out, mark, joiner)

    def write(self, out: Path, stem: str, *, caption: str, digits: int = 3) -> None:
        """`write_table` with the interval columns."""
        write_table(self.mean, out, stem, caption=caption, digits=digits, lo=self.lo, hi=self.hi,
                    n=self.n)


def interval_table(values: pd.Series, rows: list, columns: list, *,
                   boot: pd.DataFrame | None = None) -> IntervalTable:
    """An `IntervalTable` from per-seed values indexed ``(row, column, seed)``; ``boot``
    (optional) has columns ``ci_low``, ``ci_high`` indexed ``(row, column)``."""
    idx = pd.Index(rows, name=values.index.names[0] if values.index.names[0] else None,
                   dtype=object, tupleize_cols=False)
    frames = {k: pd.DataFrame(np.nan, index=idx, columns=columns, dtype=float)
              for k in ("mean", "lo", "hi", "n")}
    frames["n"][:] = 0
    groups = dict(tuple(values.groupby(level=[0, 1]))) if len(values) else {}
    for r in rows:
        for c in columns:
            g = groups.get((r, c))
            if g is None:
                continue
            mean, lo, hi, n = seed_interval(g.to_numpy())
            for k, v in zip(("mean", "lo", "hi", "n"), (mean, lo, hi, n)):
                frames[k].at[r, c] = v
    frames["n"] = frames["n"].astype(int)
    bl = bh = None
    if boot is not None and not boot.empty:
        bl = pd.DataFrame([[boot["ci_low"].get((r, c), np.nan) for c in columns] for r in rows],
                          index=idx, columns=columns, dtype=float)
        bh = pd.DataFrame([[boot["ci_high"].get((r, c), np.nan) for c in columns] for r in rows],
                          index=idx, columns=columns, dtype=float)
    return IntervalTable(frames["mean"], frames["lo"], frames["hi"], frames["n"], bl, bh)


def model_order(frame: pd.DataFrame) -> list[str]:
    """Teachers first, then students, each in first-appearance order of their teacher."""
    models = frame[["model", "role", "teacher"]].drop_duplicates("model")
    teachers = list(dict.fromkeys(models.loc[models.role == "teacher", "model"]))

    def key(row: pd.Series) -> tuple:
        t = teachers.index(row.teacher) if row.teacher in teachers else -1
        return (ORDER_ROLE.get(row.role, 2), t, row.model)
    return [r.model for _, r in sorted(models.iterrows(), key=lambda kv: key(kv[1]))]


def base_models(metrics: pd.DataFrame) -> pd.DataFrame:
    """The rows of uncalibrated models (post-hoc variants have their own table)."""
    if "posthoc" not in metrics.columns:
        return metrics
    return metrics[metrics.posthoc.astype(str) == "-"]


def families(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with the OOD rows of the synthetic sets (`SYNTHETIC_OOD`) moved to the split
    family ``ood_noise``, so that ``ood`` means the natural OOD sets only."""
    noise = (metrics.split == "ood") & metrics.dataset.isin(SYNTHETIC_OOD)
    return metrics.assign(split=metrics.split.where(~noise, "ood_noise"))


def split_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, model, split family, metric): the mean over the family's splits."""
    return (families(metrics).groupby(["seed", "model", "split", "metric"], sort=False)["value"]
            .mean().reset_index())


def per_seed(metrics: pd.DataFrame) -> pd.Series:
    """(model, split family, metric, seed) -> the seed's family mean."""
    return split_means(metrics).set_index(["model", "split", "metric", "seed"])["value"].sort_index()


def seed_series(values: pd.Series, model: str, split: str, metric: str) -> pd.Series:
    """seed -> value of one (model, split family, metric) of `per_seed` (empty if absent)."""
    try:
        return values.loc[(model, split, metric)]
    except KeyError:
        return pd.Series(dtype=float)


def family_mean(metrics: pd.DataFrame) -> pd.Series:
    """(model, split family, metric) -> mean over splits and seeds."""
    return split_means(metrics).groupby(["model", "split", "metric"])["value"].mean()


def identities(metrics: pd.DataFrame) -> pd.DataFrame:
    """model -> its role, teacher, method and student (the columns ``metrics`` has)."""
    cols = [c for c in ("model", "role", "teacher", "method", "student") if c in metrics.columns]
    return metrics[cols].drop_duplicates("model").set_index("model")


def summary_table(metrics: pd.DataFrame, order: list[str] | None = None) -> IntervalTable:
    """One row per model of ``order`` (default: those in ``metrics``), the headline metrics of
    `SUMMARY_COLUMNS` with their intervals over seeds (bootstrap with one seed)."""
    order = order or model_order(metrics)
    labels = [label for _, _, label in SUMMARY_COLUMNS]
    key = {(s, m): label for s, m, label in SUMMARY_COLUMNS}
    sm = split_means(metrics)
    sm = sm[[(s, m) in key for s, m in zip(sm.split, sm.metric)]]
    sm = sm.assign(column=[key[(s, m)] for s, m in zip(sm.split, sm.metric)])
    values = sm.set_index(["model", "column", "seed"])["value"]
    boot = None
    if {"ci_low", "ci_high"} <= set(metrics.columns):
        fam = families(metrics)
        key = {k: v for k, v in key.items() if k[0] in ("id", "shift")}
        sel = fam[[(s, m) in key for s, m in zip(fam.split, fam.metric)]]
        if not sel.empty:
            sel = sel.assign(column=[key[(s, m)] for s, m in zip(sel.split, sel.metric)])
            boot = sel.groupby(["model", "column"])[["ci_low", "ci_high"]].mean()
    tab = interval_table(values, order, labels, boot=boot)
    tab.mean.index.name = "model"
    return tab


def split_table(metrics: pd.DataFrame, split: str, order: list[str],
                names: list[str] | None = None) -> pd.DataFrame:
    """Model x metric for one split family (mean over its splits and seeds)."""
    sel = metrics[metrics.split == split]
    tab = sel.groupby(["model", "metric"])["value"].mean().unstack("metric")
    cols = names or [c for c in ("accuracy", "nll", "brier", "ece", "adaptive_ece",
                                 "classwise_ece", "mce", "ece_debiased", "aurc", "augrc",
                                 "entropy", "expected_entropy", "mutual_information") if c in tab]
    return tab.reindex(order)[[c for c in cols if c in tab.columns]]


def severity_table(metrics: pd.DataFrame, metric: str, order: list[str] | None = None) -> pd.DataFrame:
    """Model x severity (0 = clean ID test) of ``metric``, mean over corruptions and seeds."""
    clean = metrics[(metrics.split == "id") & (metrics.metric == metric)]
    corr = metrics[(metrics.split == "corrupt") & (metrics.metric == metric)]
    rows = pd.concat([clean.assign(severity=0), corr])
    tab = rows.groupby(["model", "severity"])["value"].mean().unstack("severity")
    return tab.reindex(order or model_order(metrics))


def mnist_c_level(name: str) -> int | None:
    """The severity of corruption ``name`` that reproduces the published MNIST-C image, from
    `kdbench.data.corruptions` (``mnist_c_level(name)`` or ``MNIST_C_LEVEL[name]``); None
    when it has none or the data module does not say."""
    from ..data import corruptions  # local: the data registries load torch and every reader

    fn = getattr(corruptions, "mnist_c_level", None)
    if callable(fn):
        try:
            return fn(name)
        except (KeyError, ValueError):
            return None
    return getattr(corruptions, "MNIST_C_LEVEL", {}).get(name)


def corruption_table(metrics: pd.DataFrame, metric: str, order: list[str], *,
                     mnist_c: bool = True) -> pd.DataFrame:
    """Corruption type x model of ``metric`` (mean over severities 1–5 and seeds), with a first
    column "MNIST-C level": the severity equal to the published MNIST-C image (— when none);
    without it when ``mnist_c`` is False (corruptions read from files, e.g. CIFAR-10-C)."""
    sel = metrics[(metrics.split == "corrupt") & (metrics.metric == metric)]
    if sel.empty:
        return pd.DataFrame()
    tab = sel.groupby(["dataset", "model"])["value"].mean().unstack("model")
    tab = tab.reindex(columns=[m for m in order if m in tab.columns])
    if mnist_c:
        levels = [mnist_c_level(d) for d in tab.index]
        tab.insert(0, "MNIST-C level", ["—" if v is None else str(int(v)) for v in levels])
    tab.index.name = "corruption"
    return tab


def ood_table(metrics: pd.DataFrame, order: list[str], measure: str = "auroc") -> IntervalTable:
    """Model x (OOD set, score) of ``measure`` (auroc, aupr_out, aupr_in, fpr95), mean over
    seeds with its t-interval; natural sets first, then the synthetic ones."""
    ood = metrics[(metrics.split == "ood") & metrics.metric.str.startswith(measure + "_")]
    ood = ood[~ood.metric.str.startswith("aupr_in") | (measure == "aupr_in")]
    if ood.empty:
        return interval_table(pd.Series(dtype=float), order, [])
    ood = ood.assign(column=[f"{d} {m.removeprefix(measure + '_')}" for d, m in zip(ood.dataset, ood.metric)])
    values = ood.groupby(["model", "column", "seed"])["value"].mean()
    cols = sorted(ood.column.unique(), key=lambda c: (c.split(" ")[0] in SYNTHETIC_OOD, c))
    return interval_table(values, order, cols)


def retention_table(metrics: pd.DataFrame, fidelity: pd.DataFrame | None, order: list[str]) -> IntervalTable:
    """Per distilled student (and labels-only student vs each teacher): student / teacher per
    seed for the `RETENTION_COLUMNS`, and fidelity (agreement, KL(teacher ‖ student)) on ID and
    shift; mean over seeds with the t-interval. Rows ``(student, teacher)``."""
    ps = per_seed(metrics)
    ident = identities(metrics)
    teachers = [m for m in order if m in ident.index and ident.at[m, "role"] == "teacher"]
    records = []
    for s in order:
        if s not in ident.index or ident.at[s, "role"] != "student":
            continue
        refs = teachers if ident.at[s, "teacher"] == "-" else [ident.at[s, "teacher"]]
        for t in refs:
            for split, metric, label in RETENTION_COLUMNS:
                tv, sv = seed_series(ps, t, split, metric), seed_series(ps, s, split, metric)
                ratio = (sv / tv.replace(0, np.nan)).dropna()
                records += [((s, t), label, seed, v) for seed, v in ratio.items()]
            if fidelity is not None and not fidelity.empty:
                f = fidelity[(fidelity.model == s) & (fidelity.reference == t)]
                for split in ("id", "shift"):
                    for metric, short in (("agreement", "agree"), ("kl", "KL")):
                        label = f"{short} {split.upper() if split == 'id' else split}"
                        g = f[(f.split == split) & (f.metric == metric)].groupby("seed")["value"].mean()
                        records += [((s, t), label, seed, v) for seed, v in g.items()]
    if not records:
        return interval_table(pd.Series(dtype=float), [], [])
    df = pd.DataFrame(records, columns=["pair", "column", "seed", "value"])
    rows = list(dict.fromkeys(df.pair))
    known = [label for _, _, label in RETENTION_COLUMNS] + [
        f"{a} {b}" for b in ("ID", "shift") for a in ("agree", "KL")]
    cols = [c for c in known if c in set(df.column)]
    tab = interval_table(df.set_index(["pair", "column", "seed"])["value"], rows, cols)
    index = pd.MultiIndex.from_tuples(rows, names=["student", "teacher"])
    return IntervalTable(*(None if f is None else f.set_axis(index, axis=0)
                           for f in (tab.mean, tab.lo, tab.hi, tab.n, tab.boot_lo, tab.boot_hi)))


def labels_only_baseline(ident: pd.DataFrame, student: str) -> str | None:
    """The labels-only model (teacher "-", method "none") of the same student architecture as
    ``student``, else any labels-only model; None when the suite has none."""
    base = ident[(ident.role == "student") & (ident.teacher == "-")]
    if "method" in base.columns:
        base = base[base.method == "none"]
    if base.empty:
        return None
    if "student" in ident.columns and student in ident.index:
        same = base[base.student == ident.at[student, "student"]]
        if not same.empty:
            return str(same.index[0])
    return str(base.index[0])


def paired_columns(metrics: pd.DataFrame) -> list[tuple[str, str, str, bool, str | None]]:
    """The comparisons of the paired table: ``(family, metric, label, higher_is_better,
    ood_set)``: `PAIRED_COLUMNS`, then OOD AUROC per OOD set (natural sets, then synthetic)
    for each score of `PAIRED_OOD_SCORES`."""
    cols = [(s, m, label, hib, None) for s, m, label, hib in PAIRED_COLUMNS]
    sets = sorted(metrics.loc[metrics.split == "ood", "dataset"].unique(),
                  key=lambda d: (d in SYNTHETIC_OOD, d))
    for metric, short in PAIRED_OOD_SCORES:
        if not ((metrics.split == "ood") & (metrics.metric == metric)).any():
            continue
        cols += [("ood", metric, f"{d} AUROC ({short})", True, d) for d in sets]
    return cols


TS = "temperature"  # the post-hoc calibrator of the fair ("TS") comparisons
# reference kinds of the paired comparisons: (name, kind, temperature-scaled)
REFERENCE_KINDS = (("labels-only", "baseline", False), ("labels-only (TS)", "baseline", True),
                   ("teacher", "teacher", False), ("teacher (TS)", "teacher", True))
PAIRED_FRAME = ["student", "reference", "kind", "reference_kind", "column", "higher_is_better",
                "mean", "lo", "hi", "n", "interval", "p", "p_holm", "family_size", "verdict"]
SEEDS_AND_EXAMPLES, SEEDS_ONLY = "seeds x examples", "seeds"


class ExampleVariance:
    """Lookup of the per-example part of paired differences (``paired_examples`` results
    table, `kdbench.collect.example_pairs`); empty without one."""

    def __init__(self, examples: pd.DataFrame | None) -> None:
        self.table: dict[tuple[str, str, str, str], tuple[float, int]] = {}
        if examples is not None and not examples.empty:
            for r in examples.itertuples(index=False):
                self.table[(r.model_a, r.model_b, r.split, r.metric)] = (float(r.var_example),
                                                                         int(r.examples))

    def get(self, a: str, b: str, split: str, metric: str) -> tuple[float, int] | None:
        """``(var_example, N)`` of the difference a − b on ``split``'s family, or None."""
        key = (min(a, b), max(a, b), split, metric)
        return self.table.get(key)


def paired_test(a_model: str, b_model: str, a: pd.Series, b: pd.Series, split: str, metric: str,
                examples: ExampleVariance) -> dict:
    """``mean, lo, hi, n, p`` and ``interval`` of one paired comparison: `two_level` (seeds x
    examples) where ``examples`` holds the per-example part, else over seeds only."""
    ev = examples.get(a_model, b_model, split, metric)
    if ev is not None and np.isfinite(ev[0]):
        mean, lo, hi, n, p = two_level(a, b, ev[0], ev[1])
        how = SEEDS_AND_EXAMPLES if n > 1 else SEEDS_ONLY  # one seed: no interval at all
    else:
        (mean, lo, hi, n), p, how = paired_difference(a, b), paired_t_pvalue(a, b), SEEDS_ONLY
    return {"mean": mean, "lo": lo, "hi": hi, "n": n, "interval": how, "p": p}


def ts_name(model: str) -> str:
    """The temperature-scaled variant of ``model`` (its row in ``metrics`` has posthoc
    `TS`, the temperature fitted on the model's own validation split)."""
    return f"{model}+{TS}"


def paired_comparisons(metrics: pd.DataFrame, order: list[str],
                       columns: list[tuple[str, str, str, bool, str | None]] | None = None,
                       examples: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every student of ``order`` against four references, per comparison of ``columns``
    (default `paired_columns`): the labels-only student of its architecture and its own
    teacher, each raw and temperature-scaled (`REFERENCE_KINDS`). A temperature-scaled ("TS")
    comparison pairs the student's temperature-scaled variant with the reference's (each
    calibrated on its own validation split); it is absent where ``metrics`` has no such rows
    (e.g. when only `base_models` are passed).

    Per comparison: the paired difference student − reference with its interval and
    two-sided t p-value ``p`` — over seeds and test examples (`two_level`, ``interval`` "seeds
    x examples") where ``examples`` (the ``paired_examples`` results table) holds the
    per-example part of the pair, else over seeds only (`paired_difference`,
    `paired_t_pvalue`; ``interval`` "seeds") —, its
    Holm–Bonferroni adjustment ``p_holm`` within the family (one ``column`` x one
    ``reference_kind``: every student compared with that kind of reference on that metric)
    of ``family_size`` tests, and the `verdict` at ``p_holm < 0.05`` (with one seed: no test,
    "single seed").

    Long format: ``student`` (the raw student's name, also for TS rows), ``reference`` (the
    model compared, e.g. ``small-none+temperature``), ``kind`` ("baseline" | "teacher"),
    ``reference_kind`` ("labels-only", "labels-only (TS)", "teacher", "teacher (TS)"),
    ``column``, ``higher_is_better``, ``mean, lo, hi, n``, ``interval``, ``p, p_holm,
    family_size``, ``verdict``."""
    ev = ExampleVariance(examples)
    if "posthoc" in metrics.columns:
        ph = metrics.posthoc.astype(str)
        raw, scaled = metrics[ph == "-"], metrics[ph == TS]
        metrics = pd.concat([raw, scaled]) if not scaled.empty else raw
    else:
        raw = metrics
    present = set(metrics.model)
    ps = per_seed(metrics)
    fam = families(metrics)
    ood = fam[fam.split.isin(["ood", "ood_noise"])].groupby(["model", "dataset", "metric", "seed"])["value"].mean()
    ident = identities(raw)
    rows = []

    def series(model: str, split: str, metric: str, dataset: str | None) -> pd.Series:
        if dataset is None:
            return seed_series(ps, model, split, metric)
        try:
            return ood.loc[(model, dataset, metric)]
        except KeyError:
            return pd.Series(dtype=float)

    cols = paired_columns(raw) if columns is None else columns
    for s in order:
        if s not in ident.index or ident.at[s, "role"] != "student":
            continue
        refs = {}
        base = labels_only_baseline(ident, s)
        if base is not None and base != s:
            refs["baseline"] = base
        if ident.at[s, "teacher"] != "-" and ident.at[s, "teacher"] in ident.index:
            refs["teacher"] = ident.at[s, "teacher"]
        for rkind, kind, scaled in REFERENCE_KINDS:
            if kind not in refs:
                continue
            a_model, ref = (ts_name(s), ts_name(refs[kind])) if scaled else (s, refs[kind])
            if a_model not in present or ref not in present:
                continue
            for split, metric, label, hib, dataset in cols:
                a, b = series(a_model, split, metric, dataset), series(ref, split, metric, dataset)
                test = paired_test(a_model, ref, a, b, split, metric,
                                   ev if dataset is None else ExampleVariance(None))
                rows.append({"student": s, "reference": ref, "kind": kind, "reference_kind": rkind,
                             "column": label, "higher_is_better": hib, **test})
    pairs = pd.DataFrame(rows, columns=PAIRED_FRAME[:-3])
    return holm_verdicts(pairs)


def holm_verdicts(pairs: pd.DataFrame, family: tuple[str, ...] = ("column", "reference_kind")
                  ) -> pd.DataFrame:
    """``pairs`` (columns ``mean, lo, hi, n, p, higher_is_better`` and those of ``family``)
    with ``p_holm`` (`holm` within each family), ``family_size`` (the tests of the family:
    comparisons with a p-value) and ``verdict`` (`verdict` at ``p_holm``)."""
    pairs = pairs.copy()
    pairs["p_holm"] = np.nan
    pairs["family_size"] = 0
    for _, g in pairs.groupby(list(family), sort=False) if len(pairs) else ():
        pairs.loc[g.index, "p_holm"] = holm(g.p.to_numpy())
        pairs.loc[g.index, "family_size"] = int(np.isfinite(g.p.to_numpy(dtype=float)).sum())
    pairs["family_size"] = pairs.family_size.astype(int)
    pairs["verdict"] = [verdict(m, lo, hi, n, higher_is_better=bool(h), p=ph)
                        for m, lo, hi, n, h, ph in zip(pairs["mean"], pairs.lo, pairs.hi, pairs.n,
                                                       pairs.higher_is_better, pairs.p_holm)]
    return pairs


VERDICT_MARK = {"better": " ▲", "worse": " ▼"}


def _select(pairs: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The comparisons of ``kind``: a `REFERENCE_KINDS` name, or "baseline" / "teacher" (raw
    and TS together)."""
    return pairs[(pairs.kind == kind) | (pairs.reference_kind == kind)]


def _row_student(student: str, reference_kind: str) -> str:
    return ts_name(student) if reference_kind.endswith("(TS)") else student


def paired_display(pairs: pd.DataFrame, kind: str, *, digits: int = 3,
                   mark: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (student, reference) of the paired comparisons of ``kind`` (see
    `_select`; TS rows read ``student+temperature − reference+temperature``): 'Δ [lo, hi]'
    per column, ▲ / ▼ where the Holm-adjusted paired-t p-value is below 0.05 in the student's
    favour / against it."""
    sel = _select(pairs, kind)
    if sel.empty:
        return pd.DataFrame()
    cells = sel.assign(text=[format_interval(m, lo, hi, digits=digits, signed=True)
                             + VERDICT_MARK.get(v, "")
                             for m, lo, hi, v in zip(sel["mean"], sel.lo, sel.hi, sel.verdict)],
                       student=[_row_student(x, k) for x, k in zip(sel.student, sel.reference_kind)])
    rows = list(dict.fromkeys(zip(cells.student, cells.reference)))
    tab = cells.pivot(index=["student", "reference"], columns="column", values="text")
    tab = tab.reindex(index=pd.MultiIndex.from_tuples(rows, names=["student", "reference"]),
                      columns=list(dict.fromkeys(cells.column)))
    tab = tab.fillna("—")
    out = _mark_index(tab, mark, " − ")
    out.index.name = "student − reference"
    return out


def paired_wide(pairs: pd.DataFrame, kind: str) -> IntervalTable:
    """The numbers of `paired_display` for CSV/LaTeX as an `IntervalTable` (mean difference,
    its t-interval and the number of paired seeds), rows ``(student, reference)``."""
    sel = _select(pairs, kind)
    if sel.empty:
        return interval_table(pd.Series(dtype=float), [], [])
    sel = sel.assign(student=[_row_student(x, k) for x, k in zip(sel.student, sel.reference_kind)])
    rows = list(dict.fromkeys(zip(sel.student, sel.reference)))
    cols = list(dict.fromkeys(sel.column))
    idx = pd.MultiIndex.from_tuples(rows, names=["student", "reference"])
    frames = {k: sel.pivot(index=["student", "reference"], columns="column", values=k).reindex(index=idx, columns=cols)
              for k in ("mean", "lo", "hi", "n")}
    return IntervalTable(frames["mean"], frames["lo"], frames["hi"], frames["n"].fillna(0).astype(int))


def transfer_table(transfer: pd.DataFrame | None) -> IntervalTable:
    """Per (teacher, transfer set): images, mean MI (nats) and disagreement (share of inputs
    where the teacher's samples' argmax differ) on the transfer set and on the plain training
    images, mean over seeds with the t-interval."""
    cols = [("images", "images"), ("mean_mi", "MI transfer"), ("disagreement", "disagree transfer"),
            ("mean_mi_train", "MI train"), ("disagreement_train", "disagree train")]
    if transfer is None or transfer.empty:
        return interval_table(pd.Series(dtype=float), [], [])
    t = transfer.assign(row=list(zip(transfer.teacher, transfer.transfer)))
    recs = [(r, label, seed, v) for col, label in cols if col in t.columns
            for r, seed, v in zip(t.row, t.seed, t[col])]
    df = pd.DataFrame(recs, columns=["row", "column", "seed", "value"])
    rows = list(dict.fromkeys(t.row))
    tab = interval_table(df.set_index(["row", "column", "seed"])["value"], rows,
                         list(dict.fromkeys(df.column)))
    index = pd.MultiIndex.from_tuples(rows, names=["teacher", "transfer"])
    return IntervalTable(*(None if f is None else f.set_axis(index, axis=0)
                           for f in (tab.mean, tab.lo, tab.hi, tab.n, tab.boot_lo, tab.boot_hi)))


def posthoc_table(metrics: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """ECE and NLL on ID, corruptions (mean) and shift for every model and each of its
    post-hoc calibrated variants (rows ``model`` then ``model+calibrator``)."""
    if "posthoc" not in metrics.columns or (metrics.posthoc.astype(str) == "-").all():
        return pd.DataFrame()
    fam = family_mean(metrics)
    variants = metrics.loc[metrics.posthoc.astype(str) != "-", "posthoc"].unique()
    rows = []
    present = set(metrics.model)  # compressed variants (kdbench.compress) have no calibrators
    for m in (m for m in order if "+" not in m):
        for name in [m] + [f"{m}+{v}" for v in variants if f"{m}+{v}" in present]:
            rows.append({"model": name, **{f"{label} {metric.upper()}": fam.get((name, split, metric), np.nan)
                                           for split, label in (("id", "ID"), ("corrupt", "C"), ("shift", "Shift"))
                                           for metric in ("ece", "nll")}})
    return pd.DataFrame(rows).set_index("model")


def convergence_flags(models_info: pd.DataFrame) -> dict[str, list[int]]:
    """model -> the seeds in which it did not converge, from the ``converged`` column of
    ``models.csv`` (empty when the column is absent: results of an older kdbench)."""
    if models_info is None or models_info.empty or "converged" not in models_info.columns:
        return {}
    conv = models_info.converged.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
    known = models_info.converged.notna()
    bad = models_info[known & ~conv]
    return {m: sorted(int(s) for s in g.seed) for m, g in bad.groupby("model", sort=False)}


def format_cell(value: float, pm: float = np.nan, digits: int = 3) -> str:
    """'0.123 ± 0.004', '0.123', or '—' for a missing value."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "—"
    text = f"{value:.{digits}f}"
    return text if pd.isna(pm) else f"{text} ± {pm:.{digits}f}"


def _mark_index(out: pd.DataFrame, mark: dict[str, str] | None, joiner: str = " ← ") -> pd.DataFrame:
    """Append ``mark[model]`` (e.g. '†') to every model name in the index (post-hoc variants
    ``model+calibrator`` carry their base model's mark); a MultiIndex is joined with
    ``joiner``."""
    mark = mark or {}

    def name(v) -> str:
        v = str(v)
        return v + mark.get(v, mark.get(v.split("+")[0], ""))
    if isinstance(out.index, pd.MultiIndex):
        label = joiner.join(n or "" for n in out.index.names) if all(out.index.names) else None
        out.index = [joiner.join(name(x) for x in i) for i in out.index]
        out.index.name = label
    else:
        idx_name = out.index.name
        out.index = [name(i) for i in out.index]
        out.index.name = idx_name
    return out


def display(df: pd.DataFrame, pm: pd.DataFrame | None = None, digits: int = 3, *,
            mark: dict[str, str] | None = None) -> pd.DataFrame:
    """Format every cell as a string for the report (NaN -> '—', optional ± half-width);
    ``mark`` flags model names (see `_mark_index`)."""
    out = df.copy().astype(object)
    for c in df.columns:
        out[c] = [format_cell(v, np.nan if pm is None else pm.at[i, c], digits)
                  for i, v in df[c].items()]
    if isinstance(out.index, pd.MultiIndex) and out.index.names == ["student", "teacher"]:
        out = _mark_index(out, mark)
        out.index.name = "student ← teacher"
        return out
    return _mark_index(out, mark)


def _better(column: str) -> str:
    return "max" if any(h in column for h in HIGHER_IS_BETTER) else "min"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "−": "-", "‖": r"$\|$", "←": r"$\leftarrow$", "†": r"$^\dagger$",
        "ᵇ": r"$^b$", "▲": r"$\blacktriangle$", "▼": r"$\blacktriangledown$", "×": r"$\times$",
        "–": "--", "—": "---", "’": "'"}


def _tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped and the report's symbols in math."""
    return "".join(_TEX.get(ch, ch) for ch in text)


def write_table(df: pd.DataFrame, out: Path, stem: str, *, caption: str, digits: int = 3,
                lo: pd.DataFrame | None = None, hi: pd.DataFrame | None = None,
                n: pd.DataFrame | None = None, bold: bool = True) -> None:
    """``stem.csv`` (full precision; with ``lo``/``hi``/``n`` the columns '<c> lo', '<c> hi',
    '<c> n' follow each column ``c``) and ``stem.tex`` (booktabs; 'mean $\\pm$ half-width'
    where an interval exists; with ``bold`` the best mean per numeric column in bold — max for
    accuracy/AUROC/agreement, min otherwise —; LaTeX-escaped names)."""
    from ..store import atomic_write_text  # local: the store loads torch

    out.mkdir(parents=True, exist_ok=True)
    csv = df.copy()
    if lo is not None and hi is not None:
        parts = []
        for c in df.columns:
            parts += [df[c].rename(c), lo[c].rename(f"{c} lo"), hi[c].rename(f"{c} hi")]
            if n is not None:
                parts.append(n[c].rename(f"{c} n"))
        csv = pd.concat(parts, axis=1)
    atomic_write_text(out / f"{stem}.csv", csv.to_csv(float_format="%.6g"))

    cells = pd.DataFrame("--", index=df.index, columns=df.columns, dtype=object)
    for c in df.columns:
        col = pd.to_numeric(df[c], errors="coerce") if df[c].dtype == object else df[c]
        numeric = pd.api.types.is_numeric_dtype(col) and not (df[c].dtype == object and col.isna().all())
        best = None
        if bold and numeric and col.notna().any():
            best = col.max() if _better(str(c)) == "max" else col.min()
        for i in df.index:
            v = df.at[i, c]
            if not numeric:
                cells.at[i, c] = _tex_escape(str(v)) if not pd.isna(v) else "--"
                continue
            if pd.isna(v):
                continue
            text = f"{v:.{digits}f}"
            if best is not None and np.isclose(v, best):
                text = rf"\textbf{{{text}}}"
            if lo is not None and hi is not None and pd.notna(lo.at[i, c]) and pd.notna(hi.at[i, c]):
                text += rf" $\pm$ {(hi.at[i, c] - lo.at[i, c]) / 2:.{digits}f}"
            cells.at[i, c] = text
    if isinstance(cells.index, pd.MultiIndex):
        cells.index = pd.MultiIndex.from_tuples([tuple(_tex_escape(str(x)) for x in i) for i in cells.index],
                                                names=[_tex_escape(str(x)) if x else None for x in cells.index.names])
    else:
        cells.index = [_tex_escape(str(i)) for i in cells.index]
        cells.index.name = _tex_escape(str(df.index.name)) if df.index.name else None
    cells.columns = [_tex_escape(str(c)) for c in cells.columns]
    tex = cells.style.to_latex(hrules=True, caption=_tex_escape(caption),
                               label=f"tab:{stem.replace('_', '-')}", position="t",
                               column_format="l" * df.index.nlevels + "r" * len(df.columns))
    atomic_write_text(out / f"{stem}.tex", tex)
