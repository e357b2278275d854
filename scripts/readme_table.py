"""Print the README's results table of a results directory: per model, mean over seeds ± the
95% t-interval half-width (`kdbench.report.stats.seed_interval`) of the headline columns, raw
and temperature-scaled (TS).

    python scripts/readme_table.py results/mnist5k
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kdbench.report import read_results
from kdbench.report.stats import seed_interval
from kdbench.report.tables import families, model_order, per_seed, seed_series, ts_name
from kdbench.results_files import table_path

COLUMNS = [("ID acc", "id", "accuracy", False), ("ID NLL", "id", "nll", False),
           ("ID NLL (TS)", "id", "nll", True), ("C ECE", "corrupt", "ece", False),
           ("C ECE (TS)", "corrupt", "ece", True), ("C NLL", "corrupt", "nll", False),
           ("Shift NLL", "shift", "nll", False), ("OOD AUROC (H)", "ood", "auroc_entropy", False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    metrics = read_results(table_path(args.results, "metrics"))
    ps = per_seed(families(metrics))
    raw = metrics[metrics.posthoc.astype(str) == "-"]
    print("| model | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for model in model_order(raw):
        cells = []
        for _, split, metric, scaled in COLUMNS:
            mean, lo, hi, n = seed_interval(seed_series(ps, ts_name(model) if scaled else model,
                                                        split, metric).to_numpy())
            cells.append("—" if n == 0 else f"{mean:.3f}" + ("" if n < 2 else f" ± {(hi - lo) / 2:.3f}"))
        print(f"| {model} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
