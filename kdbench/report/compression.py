"""The report's "Compressed students" section: what int8 quantization and magnitude pruning
(`kdbench.compress`) cost a distilled student.

One row per compressed variant ``<student>+<variant>``: its size (serialized state dict, KB),
its size as coordinate lists of the non-zero conv/linear weights (sparse KB), how many times
smaller it is than its student (student KB / the smaller of its two sizes), its CPU latency
against the student's (ms per image, one thread, median of timed runs), and the paired
differences variant − student over seeds (`kdbench.report.stats.paired_difference`: mean and
95% Student-t interval of the per-seed differences) in ID accuracy, ID NLL, corruption ECE (mean
over types and severities) and OOD AUROC with the entropy score (natural OOD sets). Sizes and
latencies are means over seeds. Variants that could not be built are listed with the reason.
Written to ``tables/compression.csv`` (numbers) as well.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..store import atomic_write_text
from .document import Block, Heading, Paragraph, Table
from .stats import format_interval, paired_difference
from .tables import per_seed, seed_series

# (column label, split family, metric); a positive difference is better for acc and AUROC
DIFFERENCES = (("Δ ID acc", "id", "accuracy"), ("Δ ID NLL", "id", "nll"),
               ("Δ C ECE", "corrupt", "ece"), ("Δ OOD AUROC (H)", "ood", "auroc_entropy"))


def compression_table(metrics: pd.DataFrame, models_info: pd.DataFrame) -> pd.DataFrame:
    """The numbers of the section, one row per variant (index ``model``): ``student``,
    ``variant``, ``kb``, ``sparse_kb``, ``x_smaller``, ``cpu_ms``, ``student_cpu_ms`` and, per
    difference of `DIFFERENCES`, ``<label>`` / ``<label> lo`` / ``<label> hi`` / ``<label> n``.
    Empty without variants (no ``base_model`` column or none that differs from the model)."""
    if models_info.empty or "base_model" not in models_info.columns:
        return pd.DataFrame()
    info = models_info[models_info.status.astype(str) == "ok"]
    variants = info[info.base_model.astype(str) != info.model.astype(str)]
    if variants.empty:
        return pd.DataFrame()
    means = info.groupby("model")[["size_bytes", "sparse_bytes", "cpu_ms_per_image"]].mean()
    ps = per_seed(metrics)
    rows = []
    for model, part in variants.groupby("model", sort=False):
        student = str(part.base_model.iloc[0])
        v, s = means.loc[model], means.loc[student] if student in means.index else None
        s_kb = s.size_bytes / 1000 if s is not None else np.nan
        kb, sparse_kb = v.size_bytes / 1000, v.sparse_bytes / 1000
        row = {"model": model, "student": student, "variant": model.split("+", 1)[1],
               "kb": kb, "sparse_kb": sparse_kb, "x_smaller": s_kb / min(kb, sparse_kb),
               "cpu_ms": v.cpu_ms_per_image,
               "student_cpu_ms": s.cpu_ms_per_image if s is not None else np.nan}
        for label, split, metric in DIFFERENCES:
            mean, lo, hi, n = paired_difference(seed_series(ps, model, split, metric),
                                                seed_series(ps, student, split, metric))
            row.update({label: mean, f"{label} lo": lo, f"{label} hi": hi, f"{label} n": n})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def compression_blocks(metrics: pd.DataFrame, models_info: pd.DataFrame,
                       tables_dir: Path) -> list[Block]:
    """The section's blocks (none when the suite has no compressed variants); writes
    ``tables_dir/compression.csv``."""
    tab = compression_table(metrics, models_info)
    not_built = pd.DataFrame()
    if not models_info.empty and "base_model" in models_info.columns:
        not_built = models_info[models_info.status.astype(str) == "not built"]
    if tab.empty and not_built.empty:
        return []
    blocks: list[Block] = [Heading("Compressed students"), Paragraph(
        "Each student quantized to int8 (static, calibrated on the validation split) and pruned "
        "to the suite's sparsity (global L1 magnitude pruning of the conv and linear weights, "
        "then a short fine-tune with the student's own loss; docs/methods.md). KB: serialized "
        "state dict; sparse KB: the same with the non-zero weights as coordinate lists; × "
        "smaller: the student's KB over the smaller of the two; CPU ms per image (one thread, "
        "median of timed runs; the student's in brackets). Δ: variant − student, paired over "
        "seeds, mean and 95% t-interval; for accuracy and AUROC a positive Δ is better, for "
        "NLL and ECE a negative one. Compressed variants get no post-hoc calibrators.")]
    if not tab.empty:
        shown = pd.DataFrame(index=tab.index)
        shown["KB"] = tab.kb.map(lambda v: f"{v:.1f}")
        shown["sparse KB"] = tab.sparse_kb.map(lambda v: f"{v:.1f}")
        shown["× smaller"] = tab.x_smaller.map(lambda v: "—" if pd.isna(v) else f"{v:.1f}×")
        shown["CPU ms"] = [f"{a:.3f} ({b:.3f})" for a, b in zip(tab.cpu_ms, tab.student_cpu_ms)]
        for label, _, _ in DIFFERENCES:
            shown[label] = [format_interval(r[label], r[f"{label} lo"], r[f"{label} hi"],
                                            signed=True) for _, r in tab.iterrows()]
        blocks.append(Table(shown))
        tables_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(tables_dir / "compression.csv", tab.to_csv(float_format="%.6g"))
    if not not_built.empty:
        items = not_built.drop_duplicates("model")
        blocks.append(Paragraph("**Not built** (the variant cannot be made for this model): "
                                + "; ".join(f"{r.model} — {r.reason}" for r in items.itertuples())))
    return blocks
