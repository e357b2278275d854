"""The collected results tables in ``results/<suite>/``: their file names, writing and reading.

The per-split tables grow with models x splits (``metrics``, ``reliability``, ``histograms``,
``risk_coverage``, ``fidelity``; ``paired_examples`` with pairs of models: 1.5 M rows for the default suite) and are stored
gzip-compressed as ``<name>.csv.gz`` — pandas, ``zcat`` and spreadsheet tools read them as they
are. The small per-model tables (``models``, ``curves``, ``transfer``) stay plain ``<name>.csv``
so that they read on GitHub. gzip is written with mtime 0 and a fixed level, so the same table
gives the same bytes (the reproducibility tests compare bytes). Results of an older kdbench that
stored a compressed table as plain ``.csv`` are still read.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from .store import atomic_write_bytes

COMPRESSED = ("metrics", "reliability", "histograms", "risk_coverage", "fidelity", "paired_examples")


def table_path(folder: Path, name: str) -> Path:
    """The file of table ``name`` in ``folder``: ``name.csv.gz`` for the compressed tables
    (``name.csv`` when only an older plain file exists), else ``name.csv``."""
    plain = folder / f"{name}.csv"
    if name not in COMPRESSED:
        return plain
    packed = folder / f"{name}.csv.gz"
    return plain if plain.exists() and not packed.exists() else packed


def table_name(path: Path) -> str:
    """``metrics`` for ``.../metrics.csv.gz`` or ``.../metrics.csv``."""
    return path.name.split(".", 1)[0]


def write_table(df: pd.DataFrame, folder: Path, name: str, *, sort: list[str]) -> Path:
    """Write ``df`` sorted (stable) by ``sort`` with floats at 10 significant digits, atomically;
    a compressed table replaces any older plain ``name.csv``. Returns the path written."""
    if not df.empty:
        df = df.sort_values(sort, kind="stable").reset_index(drop=True)
    data = df.to_csv(index=False, float_format="%.10g").encode()
    if name in COMPRESSED:
        path = folder / f"{name}.csv.gz"
        atomic_write_bytes(path, gzip.compress(data, compresslevel=6, mtime=0))
        (folder / f"{name}.csv").unlink(missing_ok=True)
    else:
        path = folder / f"{name}.csv"
        atomic_write_bytes(path, data)
    return path


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Table ``name`` of ``folder`` as written by `write_table` (an empty file gives an empty
    frame; ``FileNotFoundError`` when absent)."""
    try:
        return pd.read_csv(table_path(folder, name))
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
