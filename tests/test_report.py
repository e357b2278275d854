"""Figures, report.md/html and LaTeX tables from a results fixture (a smoke run; the figures' byte
stability on the tiny suite's results)."""

import hashlib
import re
from html.parser import HTMLParser

import pytest

from kdbench.cli import main

FIGURES = ["forest", "reliability", "reliability_compressed", "metric_vs_severity",
           "compressed_severity", "conformal", "ece_by_corruption_sev5", "ood_entropy", "ood_mi",
           "ood_auroc", "retention", "accuracy_vs_ece", "risk_coverage", "training_curves"]


@pytest.fixture(scope="module")
def results(smoke):
    return smoke[0]


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_figures_written_and_byte_stable(tiny_run, tmp_path, capsys):
    """The report's figures, PNG and PDF, then the ``figures`` command regenerating them from
    results/ alone: the same files, byte for byte. On the results of the tests' tiny suite
    (tests/suites/tiny.toml), which draw every figure for 5 models in a fraction of the smoke
    suite's drawing time; the smoke report's own figures are looked at in Chromium
    (tests/test_html_report.py)."""
    import shutil

    shutil.copytree(tiny_run / "results", tmp_path / "results")
    assert main(["report", "--suite", "tiny", "--workdir", str(tmp_path)]) == 0
    figs = tmp_path / "reports/tiny/figures"
    first = digests(figs)
    for stem in FIGURES:
        assert f"{stem}.png" in first and f"{stem}.pdf" in first, stem
    assert len([n for n in first if n.endswith(".png")]) == len(FIGURES)
    assert main(["figures", "--suite", "tiny", "--workdir", str(tmp_path)]) == 0
    assert digests(figs) == first
    assert f"wrote {2 * len(FIGURES)} figure files" in capsys.readouterr().out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.ids, self.tags = [], [], set(), 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        attrs = dict(attrs)
        if "src" in attrs:
            self.srcs.append(attrs["src"])
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if "id" in attrs:
            self.ids.add(attrs["id"])


def test_html_is_self_contained(results):
    html = (results / "reports/smoke/report.html").read_text()
    parser = _Collect()
    parser.feed(html)
    parser.close()
    assert parser.tags > 50
    assert parser.srcs and all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    # nothing external: every link is a contents link to an anchor of the page
    assert parser.hrefs and all(h[1:] in parser.ids for h in parser.hrefs)
    assert html.count("<figure ") == html.count("</figure>") == len(FIGURES)
    assert [int(n) for n in re.findall(r"Figure (\d+)\.</span>", html)] == list(range(1, len(FIGURES) + 1))
    assert "<table" in html and "Findings" in html and 'class="dataframe sortable"' in html
    # the report opens with the answer table and the forest plot, then the findings; the
    # models table comes last
    sections = re.findall(r'<h2 id="([^"]+)"', html)
    assert sections[:3] == ["what-survived-distillation", "findings", "summary"], sections
    assert sections[-1] == "models-and-provenance"
    first = html.split('<h2 id="findings"')[0]
    assert 'class="dataframe answer"' in first and 'alt="forest"' in first
    assert first.count('<p class="setting">') == 2


def test_html_is_under_the_size_budget(results):
    html = results / "reports/smoke/report.html"
    assert html.stat().st_size < 4_000_000


def test_markdown_references_existing_files(results):
    out = results / "reports/smoke"
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(FIGURES)
    assert all((out / link).exists() for link in links)
    assert "| # | teacher | method | ID NLL L | ID NLL L TS | ID NLL T | ID NLL T TS |" in md
    for section in ("## Findings", "## What survived distillation", "## Conformal prediction",
                    "## Models and provenance",
                    "**Contents**", "*Figure 1. Effects at a glance", "## Summary",
                    "## Paired comparisons", "## Per split",
                    "## Corruption severity", "## OOD detection", "## Retention and fidelity",
                    "## Transfer set", "## Training and convergence", "## Figures"):
        assert section in md


def test_latex_tables_compile_ready(results):
    tables = results / "reports/smoke/tables"
    texs = sorted(tables.glob("*.tex"))
    assert {t.stem for t in texs} >= {"summary", "split_id", "severity_ece", "ood_auroc", "retention",
                                      "paired_baseline", "paired_teacher", "corruption_ece"}
    for tex in texs:
        text = tex.read_text()
        assert text.count(r"\begin{") == text.count(r"\end{")
        assert text.count("{") == text.count("}")
        assert r"\toprule" in text and r"\bottomrule" in text
        assert "\\textbf{" in text  # best value in bold
        # every _ % # in the text is escaped (& separates columns)
        assert not re.search(r"(?<!\\)[_%#]", text), tex.name
        assert (tables / f"{tex.stem}.csv").exists()


# --- statistics on small synthetic results (no run needed) -------------------------------------

import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kdbench.report import write_report  # noqa: E402
from kdbench.report.findings import findings  # noqa: E402
from kdbench.report.stats import paired_difference, seed_interval, verdict  # noqa: E402
from kdbench.report.tables import (model_order, paired_comparisons, retention_table,  # noqa: E402
                                   summary_table)

# t_{0.975, 2} (two-sided 95%, 3 seeds) from the closed form of the t quantile with 2 degrees of
# freedom, t_p = (2p − 1) · sqrt(2 / (1 − (2p − 1)^2)); printed t tables give 4.303
T975_2 = 0.95 * math.sqrt(2 / (1 - 0.95 ** 2))

IDENT = {"ensemble": ("teacher", "ensemble", "-", "-"),
         "small-none": ("student", "-", "none", "small"),
         "small-kd-ensemble": ("student", "ensemble", "kd", "small")}
# (split, dataset, severity, metric) -> model -> values of seeds 0, 1, 2
VALUES = {
    ("id", "test", 0, "nll"): {"ensemble": [0.10, 0.11, 0.12], "small-none": [0.30, 0.32, 0.34],
                               "small-kd-ensemble": [0.25, 0.26, 0.28]},
    ("id", "test", 0, "accuracy"): {"ensemble": [0.97, 0.96, 0.97], "small-none": [0.90, 0.91, 0.92],
                                    "small-kd-ensemble": [0.91, 0.90, 0.93]},
    ("id", "test", 0, "ece"): {"ensemble": [0.01, 0.02, 0.01], "small-none": [0.03, 0.03, 0.04],
                               "small-kd-ensemble": [0.02, 0.05, 0.03]},
    ("shift", "digits", 0, "nll"): {"ensemble": [0.8, 0.9, 0.85], "small-none": [1.5, 1.6, 1.4],
                                    "small-kd-ensemble": [1.7, 1.8, 1.75]},
    ("corrupt", "rotate", 1, "ece"): {"ensemble": [0.05, 0.06, 0.05], "small-none": [0.10, 0.12, 0.11],
                                      "small-kd-ensemble": [0.09, 0.13, 0.10]},
    ("corrupt", "rotate", 5, "ece"): {"ensemble": [0.15, 0.16, 0.15], "small-none": [0.30, 0.28, 0.29],
                                      "small-kd-ensemble": [0.31, 0.27, 0.30]},
    ("ood", "photos", 0, "auroc_entropy"): {"ensemble": [0.95, 0.96, 0.97], "small-none": [0.80, 0.85, 0.82],
                                            "small-kd-ensemble": [0.80, 0.82, 0.84]},
    ("ood", "letters", 0, "auroc_entropy"): {"ensemble": [0.90, 0.91, 0.92], "small-none": [0.70, 0.75, 0.72],
                                             "small-kd-ensemble": [0.70, 0.72, 0.74]},
    ("ood", "noise", 0, "auroc_entropy"): {"ensemble": [0.99, 1.0, 0.98], "small-none": [0.02, 0.97, 0.01],
                                           "small-kd-ensemble": [0.01, 0.99, 0.02]},
    ("ood", "photos", 0, "auroc_mi"): {"ensemble": [0.96, 0.97, 0.98]},
}


def synthetic_metrics(seeds=(0, 1, 2)) -> pd.DataFrame:
    """metrics.csv rows with the known values above (ID rows carry a bootstrap CI ± 0.01)."""
    rows = []
    for (split, ds, sev, metric), per_model in VALUES.items():
        for model, vals in per_model.items():
            role, teacher, method, student = IDENT[model]
            for seed in seeds:
                v = vals[seed]
                rows.append({"seed": seed, "model": model, "role": role, "teacher": teacher,
                             "method": method, "student": student, "posthoc": "-", "split": split,
                             "dataset": ds, "severity": sev, "metric": metric, "value": v,
                             "ci_low": v - 0.01 if split == "id" else np.nan,
                             "ci_high": v + 0.01 if split == "id" else np.nan})
    return pd.DataFrame(rows)


def write_synthetic(folder, seeds=(0, 1, 2), *, converged=None, curves=True, transfer=True):
    """A results/<suite>/ folder from `synthetic_metrics`; ``converged``: (model, seed) pairs
    that did not converge."""
    folder.mkdir(parents=True, exist_ok=True)
    synthetic_metrics(seeds).to_csv(folder / "metrics.csv", index=False)
    pd.DataFrame(columns=["seed", "model", "split", "dataset", "severity", "bin", "lo", "hi", "count",
                          "confidence", "accuracy"]).to_csv(folder / "reliability.csv", index=False)
    pd.DataFrame(columns=["seed", "model", "split", "dataset", "severity", "quantity", "bin", "lo",
                          "hi", "count"]).to_csv(folder / "histograms.csv", index=False)
    models = [{"seed": s, "model": m, "role": r, "teacher": t, "method": me, "student": st,
               "status": "ok", "parameters": 1000, "train_seconds": 1.0, "members": 2 if m == "ensemble" else 1,
               "final_train_loss": 0.1, "ms_per_image": 0.1,
               **({"converged": (m, s) not in converged} if converged is not None else {})}
              for s in seeds for m, (r, t, me, st) in IDENT.items()]
    pd.DataFrame(models).to_csv(folder / "models.csv", index=False)
    if curves:
        recs = [{"seed": s, "model": m, "member": k, "epoch": e, "metric": metric,
                 "value": (1.0 / e if metric == "val_nll" else 1 - 0.5 / e)}
                for s in seeds for m in IDENT for k in range(2 if m == "ensemble" else 1)
                for e in range(1, 6) for metric in ("train_loss", "train_acc", "val_nll", "val_acc")]
        pd.DataFrame(recs).to_csv(folder / "curves.csv", index=False)
    if transfer:
        pd.DataFrame([{"seed": s, "teacher": "ensemble", "transfer": "augment", "images": 600,
                       "mean_mi": [0.02, 0.03, 0.04][s], "disagreement": [0.05, 0.06, 0.07][s],
                       "mean_mi_train": 0.004, "disagreement_train": 0.01} for s in seeds]
                     ).to_csv(folder / "transfer.csv", index=False)
    (folder / "run_info.json").write_text(json.dumps({"suite": "syn", "seeds": list(seeds),
                                                      "compute_seconds": {"evaluate": 1.0}}))
    return folder


def test_seed_interval_is_the_student_t_interval():
    mean, lo, hi, n = seed_interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    half = T975_2 * 1.0 / math.sqrt(3)  # sd = 1
    assert abs(lo - (2 - half)) < 1e-12 and abs(hi - (2 + half)) < 1e-12
    assert abs(half - 4.303 / math.sqrt(3)) < 1e-3  # against the printed table
    # NaN (a failed seed) is dropped; one seed has no interval; none is all NaN
    assert seed_interval([1.0, float("nan"), 3.0])[3] == 2
    m, lo, hi, n = seed_interval([0.5])
    assert (m, n) == (0.5, 1) and math.isnan(lo) and math.isnan(hi)
    assert seed_interval([])[3] == 0 and math.isnan(seed_interval([])[0])


def test_paired_difference_pairs_seeds_and_verdict_needs_the_interval_to_exclude_zero():
    a = {2: 4.0, 0: 1.0, 1: 2.0}
    b = {0: 0.5, 1: 1.5, 2: 3.0, 3: 9.0}  # seed 3 has no partner
    mean, lo, hi, n = paired_difference(a, b)  # differences 0.5, 0.5, 1.0
    sd = math.sqrt(((0.5 - 2 / 3) ** 2 * 2 + (1 - 2 / 3) ** 2) / 2)
    assert n == 3 and abs(mean - 2 / 3) < 1e-12
    assert abs(hi - lo - 2 * T975_2 * sd / math.sqrt(3)) < 1e-12
    assert lo < 0 < hi and verdict(mean, lo, hi, n, higher_is_better=True) == "no significant difference"
    assert verdict(-0.05, -0.08, -0.02, 3, higher_is_better=False) == "better"
    assert verdict(-0.05, -0.08, -0.02, 3, higher_is_better=True) == "worse"
    assert verdict(0.05, 0.02, 0.08, 3, higher_is_better=True) == "better"
    assert verdict(0.05, float("nan"), float("nan"), 1, higher_is_better=True) == "single seed"


def test_summary_intervals_and_noise_apart_from_natural_ood():
    metrics = synthetic_metrics()
    tab = summary_table(metrics, model_order(metrics))
    # ID NLL of the kd student: 0.25, 0.26, 0.28
    v = np.array([0.25, 0.26, 0.28])
    assert abs(tab.mean.at["small-kd-ensemble", "ID NLL"] - v.mean()) < 1e-12
    half = T975_2 * v.std(ddof=1) / math.sqrt(3)
    assert abs(tab.hi.at["small-kd-ensemble", "ID NLL"] - (v.mean() + half)) < 1e-12
    # "OOD AUROC" is the mean over photos and letters only: per seed 0.75, 0.77, 0.79
    assert abs(tab.mean.at["small-kd-ensemble", "OOD AUROC (H)"] - 0.77) < 1e-12
    assert abs((tab.hi - tab.lo).at["small-kd-ensemble", "OOD AUROC (H)"] / 2 - T975_2 * 0.02 / math.sqrt(3)) < 1e-12
    assert abs(tab.mean.at["small-kd-ensemble", "noise AUROC (H)"] - 0.34) < 1e-12
    assert tab.n.at["small-kd-ensemble", "OOD AUROC (H)"] == 3
    shown = tab.display()
    assert shown.at["small-kd-ensemble", "ID NLL"] == f"0.263 ± {half:.3f}"
    # one seed: the per-example bootstrap half-width, marked
    one = summary_table(synthetic_metrics(seeds=(0,)), None)
    assert one.display().at["small-kd-ensemble", "ID NLL"] == "0.250 ± 0.010ᵇ"
    assert one.display().at["small-kd-ensemble", "C ECE"] == "0.200"


def test_paired_comparisons_against_baseline_and_teacher():
    metrics = synthetic_metrics()
    pairs = paired_comparisons(metrics, model_order(metrics)).set_index(["student", "reference", "column"])
    nll = pairs.loc[("small-kd-ensemble", "small-none", "ID NLL")]
    d = np.array([0.25, 0.26, 0.28]) - np.array([0.30, 0.32, 0.34])
    assert abs(nll["mean"] - d.mean()) < 1e-12
    assert abs(nll.hi - nll.lo - 2 * T975_2 * d.std(ddof=1) / math.sqrt(3)) < 1e-12
    assert nll.verdict == "better" and nll.kind == "baseline" and nll.reference_kind == "labels-only"
    assert nll.family_size == 1 and nll.p_holm == nll.p < 0.05
    acc = pairs.loc[("small-kd-ensemble", "small-none", "ID acc")]  # +0.01, −0.01, +0.01
    assert acc.verdict == "no significant difference" and acc.lo < 0 < acc.hi
    assert pairs.loc[("small-kd-ensemble", "ensemble", "Shift NLL")].verdict == "worse"
    # OOD per set, noise included as its own column; C ECE is the mean over severities
    cols = set(pairs.xs(("small-kd-ensemble", "small-none"), level=("student", "reference")).index)
    assert {"photos AUROC (H)", "letters AUROC (H)", "noise AUROC (H)"} <= cols
    c = pairs.loc[("small-kd-ensemble", "small-none", "C ECE")]  # per seed: mean of sev 1 and 5
    d = (np.array([0.09, 0.13, 0.10]) + [0.31, 0.27, 0.30]) / 2 - (np.array([0.10, 0.12, 0.11]) + [0.30, 0.28, 0.29]) / 2
    assert abs(c["mean"] - d.mean()) < 1e-12 and c.n == 3
    # the baseline is not compared with itself and has no teacher
    assert "small-none" not in pairs.index.get_level_values(0)


def test_findings_claim_only_what_the_holm_adjusted_test_supports():
    metrics = synthetic_metrics()
    facts = findings(metrics, model_order(metrics))
    text = "\n".join(facts)
    # (i) the teacher / labels-only gap comes first
    assert facts[0].startswith("Teacher − labels-only student **small-none**, ID accuracy")
    base = next(f for f in facts if f.startswith("Students vs labels-only **small-none**"))
    assert "ID NLL (family of 1): 1 of 1 better (small-kd-ensemble −0.057 [−0.071, −0.042])" in base
    assert "ID accuracy (family of 1): 0 of 1 better, 0 worse, 1 no significant difference" in base
    assert "1 worse (small-kd-ensemble" in next(
        f for f in facts if f.startswith("Students vs teacher **ensemble**")).split("shift NLL")[1]
    assert "No temperature-scaled rows" in text  # raw rows only: no TS comparison
    assert "Uniform noise is reported apart" in text
    one = synthetic_metrics(seeds=(0,))
    text1 = "\n".join(findings(one, model_order(one)))
    assert "no seed-level claim can be made" in text1 and "beats" not in text1.replace('"beats"', "")


def test_retention_is_a_per_seed_ratio_with_interval():
    metrics = synthetic_metrics()
    ret = retention_table(metrics, None, model_order(metrics))
    r = np.array([0.25, 0.26, 0.28]) / np.array([0.10, 0.11, 0.12])
    assert abs(ret.mean.at[("small-kd-ensemble", "ensemble"), "ID NLL"] - r.mean()) < 1e-12
    assert abs(ret.hi.at[("small-kd-ensemble", "ensemble"), "ID NLL"] - r.mean()
               - T975_2 * r.std(ddof=1) / math.sqrt(3)) < 1e-12


def test_report_from_synthetic_results(tmp_path):
    res = write_synthetic(tmp_path / "results" / "syn", converged={("small-kd-ensemble", 1)})
    md = write_report("syn", res, tmp_path / "out", formats=("png",)).read_text()
    for section in ("## Paired comparisons", "## Transfer set", "## Training and convergence",
                    "noise AUROC (H)", "MNIST-C level"):
        assert section in md, section
    assert "| small-kd-ensemble† |" in md  # flagged next to its numbers
    assert "small-kd-ensemble (seed 1)" in md
    assert "disagree on 6.0% of the inputs" in md  # transfer: mean of 5, 6, 7 %
    assert (tmp_path / "out/figures/training_curves.png").exists()
    assert "![training_curves](figures/training_curves.png)" in md
    for stem in ("summary", "paired_baseline", "paired_teacher", "transfer", "ood_auroc", "retention"):
        assert (tmp_path / f"out/tables/{stem}.tex").exists(), stem
    summary = pd.read_csv(tmp_path / "out/tables/summary.csv", index_col=0)
    assert {"ID NLL lo", "ID NLL hi", "ID NLL n"} <= set(summary.columns)


def test_report_without_curves_transfer_or_convergence(tmp_path):
    res = write_synthetic(tmp_path / "results" / "syn", seeds=(0,), curves=False, transfer=False)
    md = write_report("syn", res, tmp_path / "out", formats=("png",)).read_text()
    assert "figure is skipped" in md and "transfer.csv` is absent" in md
    assert "no model could be checked" in md
    assert not (tmp_path / "out/figures/training_curves.png").exists()
    assert "†" not in md.split("## Training and convergence")[0]


def test_provenance_in_every_results_file(results):
    from kdbench.results_files import read_table

    res = results / "results/smoke"
    info = json.loads((res / "run_info.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", info["suite_hash"])
    for name in ("metrics", "reliability", "histograms", "risk_coverage", "fidelity", "curves",
                 "transfer", "models"):
        df = read_table(res, name)
        assert df.columns[-1] == "suite_hash" and set(df.suite_hash) == {info["suite_hash"]}, name
    models = read_table(res, "models")
    for col in ("kdbench", "torch", "device", "batch_size", "epochs", "seed"):
        assert models[col].notna().all(), col
    assert set(models.batch_size) == {64}  # smoke.toml
    board = pd.read_csv(results / "results/leaderboard.csv")
    assert set(board.loc[board.suite == "smoke", "suite_hash"]) == {info["suite_hash"]}
    assert board.loc[board.suite == "smoke", ["device", "torch", "batch_size"]].notna().all().all()


def test_mixed_suite_hashes_are_refused(tiny_run, tmp_path, capsys, no_figures):
    """On the results of the tests' tiny suite (tests/suites/tiny.toml): ``figures`` and
    ``report`` refuse results of two suite hashes in one sentence, and write the report when
    told to (without figures: the check is the same before any is drawn)."""
    import shutil

    from kdbench.results_files import read_table, write_table

    wd = tmp_path / "wd"
    shutil.copytree(tiny_run / "results/tiny", wd / "results/tiny")
    metrics = read_table(wd / "results/tiny", "metrics")
    metrics.loc[metrics.model == "ensemble", "suite_hash"] = "0" * 64
    write_table(metrics, wd / "results/tiny", "metrics", sort=["seed", "model"])
    for cmd in ("figures", "report"):
        assert main([cmd, "--suite", "tiny", "--workdir", str(wd)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "mix 2 suite hashes" in err and "--allow-mixed-suites" in err
    assert main(["report", "--suite", "tiny", "--workdir", str(wd), "--allow-mixed-suites"]) == 0


def test_suite_hash_follows_settings_not_order():
    import dataclasses

    from kdbench.collect import suite_hash
    from kdbench.config import load_suite
    from kdbench.plan import plan

    suite = load_suite("smoke")
    _, models = plan(suite)
    h = suite_hash(models)
    assert suite_hash(list(reversed(models))) == h
    assert suite_hash(plan(dataclasses.replace(suite, pairs=tuple(reversed(suite.pairs))))[1]) == h
    assert suite_hash(plan(load_suite("smoke", seeds=[1]))[1]) != h
    assert suite_hash(plan(dataclasses.replace(suite, posthoc=("temperature",)))[1]) != h


def test_conformal_rows_on_every_labelled_split_and_variant(results):
    from kdbench.results_files import read_table

    m = read_table(results / "results/smoke", "metrics")
    labelled = m[m.split != "ood"]
    names = ["coverage_lac", "set_size_lac", "coverage_aps", "set_size_aps"]
    per = labelled.groupby(["model", "split", "dataset", "severity"]).metric.apply(set)
    assert all(set(names) <= s for s in per), per[[not set(names) <= s for s in per]].head()
    assert {"-", "temperature", "isotonic"} <= set(labelled.posthoc)  # each variant its own sets
    cov = labelled[labelled.metric.str.startswith("coverage_")].value
    size = labelled[labelled.metric.str.startswith("set_size_")].value
    assert cov.between(0, 1).all() and size.between(0, 10).all()
    # ID test is exchangeable with the validation split: coverage near 0.9 on average
    idcov = labelled[(labelled.split == "id") & labelled.metric.str.startswith("coverage_")].value
    assert 0.85 <= idcov.mean() <= 0.95, idcov.mean()
    md = (results / "reports/smoke/report.md").read_text()
    assert "## Conformal prediction" in md and "*LAC sets.*" in md and "*APS sets.*" in md


def test_report_package_is_its_table_of_contents():
    """``kdbench/report/__init__.py`` only re-exports; no module of the package imports from its
    ``__init__`` (no back edge), and no private name is imported across modules; no bare
    ``read_csv`` of a results file outside kdbench/results_files.py (collect.py reads the run
    store's per-job files)."""
    import ast
    from pathlib import Path

    import kdbench

    root = Path(kdbench.__file__).parent
    init = ast.parse((root / "report/__init__.py").read_text())
    for node in init.body:
        ok = isinstance(node, (ast.ImportFrom, ast.Import)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or (
            isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"])
        assert ok, ast.dump(node)[:120]
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names]
                if path.parent.name == "report" and path.name != "__init__.py":
                    assert not (node.level == 1 and node.module is None), (path.name, names)
                    assert node.module != "kdbench.report", path.name
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if path.parent.name == "report" or "report" in (node.module or ""):
                    assert not private, (path.relative_to(root), node.module, private)
        if path.name not in ("results_files.py", "collect.py", "cli.py"):
            assert "read_csv(" not in path.read_text(), path.relative_to(root)


def test_report_format_keeps_the_png_and_removes_other_formats(tiny_run, tmp_path, monkeypatch):
    """``report --format svg`` writes PNGs (the report shows them) and SVGs, and removes the
    PDFs an earlier report left, which would no longer match (one small figure is drawn, for
    the stem ``forest``: which figures are drawn is tested above)."""
    import shutil

    import matplotlib.pyplot as plt

    import kdbench.report.figures as figures

    shutil.copytree(tiny_run / "results", tmp_path / "results")
    figs = tmp_path / "reports/tiny/figures"
    figs.mkdir(parents=True)
    for name in ("forest.png", "forest.pdf", "forest.svg", "notes.txt"):
        (figs / name).write_text("old")
    monkeypatch.setattr(figures, "figure_tasks",
                        lambda *args, **kwargs: [("forest", lambda: plt.subplots()[0], ())])
    assert main(["report", "--suite", "tiny", "--workdir", str(tmp_path), "--format", "svg"]) == 0
    assert sorted(p.name for p in figs.iterdir()) == ["forest.png", "forest.svg", "notes.txt"]
    assert (figs / "forest.png").read_bytes()[:4] == b"\x89PNG"  # drawn now, not the old files
    assert b"<svg" in (figs / "forest.svg").read_bytes()
    assert (figs / "notes.txt").read_text() == "old"


def test_report_command_has_the_leaderboard_section_of_run_all(tiny_run, tmp_path, no_figures):
    """``report`` writes the report ``run all`` wrote, its leaderboard section included (the
    board ranked from the results, as ``run all`` ranks it), and leaves the leaderboard files
    as they were."""
    import shutil

    shutil.copytree(tiny_run / "results", tmp_path / "results")
    board = (tmp_path / "results/leaderboard.csv").read_bytes()
    assert main(["report", "--suite", "tiny", "--workdir", str(tmp_path)]) == 0
    md = (tmp_path / "reports/tiny/report.md").read_text()
    section = md.split("## Leaderboard (top 10)", 1)[1].split("\n## ", 1)[0]
    assert "| small-kd-ensemble" in section and "| ensemble" in section
    assert (tmp_path / "results/leaderboard.csv").read_bytes() == board
    assert not (tmp_path / "LEADERBOARD.md").exists()
