"""The collected results tables in ``results/<suite>/``: their file names, schema, writing and
reading. Every reader of a results file (report, figures, leaderboard, compare) goes through
`read_results` / `load_results`, which check the columns of `REQUIRED`.

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
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import UserError
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


# --------------------------------------------------------------------------- reading (schema)

# the columns every reader relies on, per results table; other columns may follow
REQUIRED = {
    "metrics": ["seed", "model", "role", "teacher", "method", "student", "split", "dataset",
                "severity", "metric", "value"],
    "reliability": ["seed", "model", "split", "dataset", "severity", "bin", "lo", "hi",
                    "count", "confidence", "accuracy"],
    "histograms": ["seed", "model", "split", "dataset", "severity", "quantity", "bin", "lo",
                   "hi", "count"],
    "risk_coverage": ["seed", "model", "split", "dataset", "severity", "coverage", "risk"],
    "curves": ["seed", "model", "member", "epoch", "metric", "value"],
    "transfer": ["seed", "teacher", "transfer", "images", "mean_mi", "disagreement"],
    "paired_examples": ["model_a", "model_b", "split", "metric", "seeds", "examples", "mean",
                        "var_example"],
    "models": ["seed", "model", "role", "teacher", "method", "student", "status"],
    "fidelity": ["seed", "model", "reference", "split", "metric", "value"],
    "leaderboard": ["suite", "rank", "model"],
}


def read_results(path: Path, *, keep_default_na: bool = True) -> pd.DataFrame:
    """A results CSV (plain or gzip) with the columns of `REQUIRED` for its table checked; an
    empty file (every job failed) gives an empty frame with those columns. `UserError` names a
    missing file, a file that is not CSV, or the missing columns. ``keep_default_na=False``
    reads only empty cells as NaN (the leaderboard's "-" and "None" stay text)."""
    name = table_name(path)
    if not path.exists():
        raise UserError(f"results file {path} is missing; run 'python -m kdbench run all' "
                        "for this suite first")
    try:
        df = (pd.read_csv(path) if keep_default_na
              else pd.read_csv(path, keep_default_na=False, na_values=[""]))
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=REQUIRED.get(name, []))
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UserError(f"results file {path} is not valid CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in REQUIRED.get(name, []) if c not in df.columns]
    if missing and not df.empty:
        raise UserError(f"results file {path} lacks column(s) {', '.join(missing)}; expected "
                        f"{', '.join(REQUIRED[name])} — regenerate it with 'run all'")
    return df


def read_optional(folder: Path, name: str) -> pd.DataFrame | None:
    """Table ``name`` of ``folder`` (`read_results`) for the tables older runs do not have:
    None when the file is absent or has no rows."""
    path = table_path(folder, name)
    if not path.exists():
        return None
    df = read_results(path)
    return None if df.empty else df


def read_run_info(folder: Path) -> dict:
    """``run_info.json`` of a results directory (suite, seeds, versions, compute seconds);
    an empty dict when absent (results of an older kdbench)."""
    path = folder / "run_info.json"
    return json.loads(path.read_text()) if path.exists() else {}


def read_leaderboard(path: Path) -> pd.DataFrame:
    """``results/leaderboard.csv`` (`read_results` with only empty cells as NaN: a post-hoc
    "-" stays text)."""
    return read_results(path, keep_default_na=False)


def check_suite_hash(frames: dict[str, pd.DataFrame | None], *, allow_mixed: bool = False) -> None:
    """Refuse (`UserError`) results whose files record more than one ``suite_hash``
    (`kdbench.collect.suite_hash`) unless ``allow_mixed``; results without the column (an
    older kdbench) pass."""
    hashes: dict[str, set[str]] = {}
    for name, df in frames.items():
        if df is not None and "suite_hash" in df.columns:
            for h in df["suite_hash"].dropna().astype(str).unique():
                hashes.setdefault(h, set()).add(name)
    if len(hashes) > 1 and not allow_mixed:
        listed = "; ".join(f"{h[:12]} in {', '.join(sorted(files))}" for h, files in hashes.items())
        raise UserError(f"results mix {len(hashes)} suite hashes ({listed}); rerun 'run all' "
                        "for one suite or pass --allow-mixed-suites")


@dataclass(frozen=True)
class Results:
    """Every table of one results directory, read once (`load_results`). ``metrics`` holds
    every row, post-hoc and compressed variants included; the optional tables are None when
    an older run did not write them (``reliability``/``histograms``/``risk_coverage`` are then
    empty frames)."""

    folder: Path
    metrics: pd.DataFrame
    models: pd.DataFrame
    reliability: pd.DataFrame
    histograms: pd.DataFrame
    risk_coverage: pd.DataFrame
    curves: pd.DataFrame | None
    transfer: pd.DataFrame | None
    fidelity: pd.DataFrame | None
    paired_examples: pd.DataFrame | None
    info: dict


def load_results(folder: Path, *, allow_mixed_suites: bool = False,
                 metrics: pd.DataFrame | None = None) -> Results:
    """Read a results directory (`Results`). `UserError` when ``metrics`` is missing or
    empty, or when the files record different suite hashes (`check_suite_hash`) unless
    ``allow_mixed_suites``. ``metrics``: the metrics table when the caller has read it."""
    if not folder.is_dir():
        raise UserError(f"no results in {folder}; run 'python -m kdbench run all' for its "
                        "suite first")
    if metrics is None:
        metrics = read_results(table_path(folder, "metrics"))
    if metrics.empty:
        raise UserError(f"{table_path(folder, 'metrics')} has no rows: every job failed")

    def frame(name: str) -> pd.DataFrame:
        df = read_optional(folder, name)
        return pd.DataFrame(columns=REQUIRED[name]) if df is None else df

    models = read_optional(folder, "models")
    res = Results(folder=folder, metrics=metrics,
                  models=pd.DataFrame() if models is None else models,
                  reliability=frame("reliability"), histograms=frame("histograms"),
                  risk_coverage=frame("risk_coverage"), curves=read_optional(folder, "curves"),
                  transfer=read_optional(folder, "transfer"),
                  fidelity=read_optional(folder, "fidelity"),
                  paired_examples=read_optional(folder, "paired_examples"),
                  info=read_run_info(folder))
    check_suite_hash({"metrics": res.metrics, "models": res.models, "reliability": res.reliability,
                      "histograms": res.histograms, "risk_coverage": res.risk_coverage,
                      "fidelity": res.fidelity, "transfer": res.transfer,
                      "paired_examples": res.paired_examples, "curves": res.curves},
                     allow_mixed=allow_mixed_suites)
    return res
