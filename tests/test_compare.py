"""``python -m kdbench compare A B`` on synthetic results directories written with the project's
writer (`kdbench.results_files.write_table`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kdbench.cli import main
from kdbench.compare import QUANTITIES, agree, compare
from kdbench.report.stats import seed_interval
from kdbench.results_files import write_table

SEEDS = (0, 1, 2)
# model -> (role, teacher, method, student, posthoc)
MODELS = {"ensemble": ("teacher", "ensemble", "-", "-", "-"),
          "small-none": ("student", "-", "none", "small", "-"),
          "small-none+temperature": ("student", "-", "none", "small", "temperature"),
          "small-none+int8": ("student", "-", "none", "small", "int8")}  # not a headline row
HEADLINE_MODELS = 3
# (split, dataset, severity, metric) -> base value
CELLS = {("id", "test", 0, "accuracy"): 0.95, ("id", "test", 0, "nll"): 0.2,
         ("id", "test", 0, "ece"): 0.02, ("id", "test", 0, "brier"): 0.08,
         ("corrupt", "rotate", 1, "ece"): 0.05, ("corrupt", "rotate", 5, "ece"): 0.25,
         ("corrupt", "blur", 3, "ece"): 0.10, ("shift", "digits", 0, "nll"): 1.2,
         ("ood", "photos", 0, "auroc_msp"): 0.9, ("ood", "letters", 0, "auroc_msp"): 0.8,
         ("ood", "noise", 0, "auroc_msp"): 0.01}
HASH = "a" * 64


def metrics_frame(suite_hash: str = HASH) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in SEEDS:
        for m, (role, teacher, method, student, posthoc) in MODELS.items():
            for (split, ds, sev, metric), base in CELLS.items():
                v = base + rng.normal(0, 0.01)
                rows.append({"seed": seed, "model": m, "role": role, "teacher": teacher,
                             "method": method, "student": student, "posthoc": posthoc,
                             "split": split, "dataset": ds, "severity": sev, "metric": metric,
                             "value": v, "ci_low": v - 0.01, "ci_high": v + 0.01,
                             "suite_hash": suite_hash})
    return pd.DataFrame(rows)


def write(folder, df):
    folder.mkdir(parents=True, exist_ok=True)
    write_table(df, folder, "metrics", sort=["seed", "model", "split", "dataset", "severity"])
    return folder


def run(capsys, *argv):
    code = main(["compare", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_identical_directories_agree_and_are_byte_identical(tmp_path, capsys):
    a = write(tmp_path / "a/results/syn", metrics_frame())
    b = write(tmp_path / "b/results/syn", metrics_frame())
    code, out, err = run(capsys, a, b)
    assert code == 0 and err == ""
    n = HEADLINE_MODELS * len(QUANTITIES)
    values = len(SEEDS) * len(MODELS) * len(CELLS)
    assert out.splitlines()[-1] == (f"{n} of {n} headline values agree within their 95% "
                                    f"intervals; files are byte-identical ({values:,} of "
                                    f"{values:,} values identical)")
    assert "small-none+int8" not in out  # compressed variants are not headline values
    assert "small-none+temperature" in out


def test_headline_values_are_seed_means_of_split_means(tmp_path):
    df = metrics_frame()
    a = write(tmp_path / "a", df)
    rows = compare(a, a).rows.set_index(["model", "quantity"])
    m = df[df.model == "small-none"]

    def per_seed(mask):
        return m[mask].groupby("seed")["value"].mean().to_numpy()
    c_ece = per_seed((m.split == "corrupt") & (m.metric == "ece"))
    ood = per_seed((m.split == "ood") & (m.metric == "auroc_msp") & (m.dataset != "noise"))
    for quantity, values in (("C ECE", c_ece), ("OOD AUROC (MSP)", ood)):
        mean, lo, hi, n = seed_interval(values)
        r = rows.loc[("small-none", quantity)]
        assert (r.mean_a, r.lo_a, r.hi_a, r.n_a) == pytest.approx((mean, lo, hi, n))
        assert bool(r.agree)


def test_a_value_shifted_far_disagrees_and_last_bits_do_not(tmp_path, capsys):
    df = metrics_frame()
    a = write(tmp_path / "a", df)
    shifted = df.copy()
    id_nll = (shifted.model == "small-none") & (shifted.split == "id") & (shifted.metric == "nll")
    shifted.loc[id_nll, "value"] += 10.0
    wobble = shifted.metric == "accuracy"  # another machine: different last bits
    shifted.loc[wobble, "value"] *= 1 + 1e-9
    b = write(tmp_path / "b", shifted)
    code, out, err = run(capsys, a, b)
    assert code == 1 and err == ""
    table = {tuple(line.split()[:3]): line.split()[-1] for line in out.splitlines()[3:-1]}
    assert table[("small-none", "ID", "NLL")] == "no"
    assert sum(v == "no" for v in table.values()) == 1
    assert table[("small-none", "ID", "accuracy")] == "yes"
    n = HEADLINE_MODELS * len(QUANTITIES)
    values = len(SEEDS) * len(MODELS) * len(CELLS)
    changed = int(id_nll.sum() + wobble.sum())
    assert out.splitlines()[-1] == (f"{n - 1} of {n} headline values agree within their 95% "
                                    f"intervals; files differ ({values - changed:,} of "
                                    f"{values:,} values identical)")


def test_agreement_needs_each_mean_inside_the_other_interval():
    assert agree((1.0, 0.9, 1.1), (1.05, 0.95, 1.15))
    assert not agree((1.0, 0.99, 1.01), (1.05, 0.9, 1.2))  # overlap is not enough
    nan = float("nan")
    assert agree((1.0, nan, nan), (1.0, nan, nan))  # one seed: the point itself
    assert not agree((1.0, nan, nan), (1.0 + 1e-12, 0.9, 1.1))
    assert not agree((nan, nan, nan), (1.0, 0.9, 1.1))  # missing in A


def test_model_in_one_directory_only_disagrees(tmp_path, capsys):
    df = metrics_frame()
    a = write(tmp_path / "a", df)
    b = write(tmp_path / "b", df[df.model != "ensemble"])
    code, out, _ = run(capsys, a, b)
    assert code == 1
    assert out.splitlines()[-1].startswith(f"{(HEADLINE_MODELS - 1) * len(QUANTITIES)} of "
                                           f"{HEADLINE_MODELS * len(QUANTITIES)} headline")


def one_line_error(capsys, *argv, expect):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("kdbench: error: "), err
    assert expect in err, err
    assert "Traceback" not in err


def test_missing_directory_is_one_line(tmp_path, capsys):
    a = write(tmp_path / "a", metrics_frame())
    one_line_error(capsys, a, tmp_path / "nowhere", expect="does not exist")


def test_missing_metrics_file_is_one_line(tmp_path, capsys):
    a = write(tmp_path / "a", metrics_frame())
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, tmp_path / "empty", a, expect="is missing")


def test_different_suite_hashes_are_refused_unless_allowed(tmp_path, capsys):
    a = write(tmp_path / "a", metrics_frame())
    b = write(tmp_path / "b", metrics_frame(suite_hash="b" * 64))
    one_line_error(capsys, a, b, expect="different suites")
    code, out, _ = run(capsys, a, b, "--allow-mixed-suites")
    assert code == 0
    assert "files differ" in out.splitlines()[-1]  # the suite_hash column differs

