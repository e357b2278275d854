"""kdbench.report.stats: Holm–Bonferroni and the paired-t p-value; the fair (temperature-scaled)
references of kdbench.report.tables.paired_comparisons."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kdbench.report.findings import findings
from kdbench.report.stats import holm, paired_t_pvalue, verdict
from kdbench.report.tables import model_order, paired_comparisons, paired_display


def test_holm_against_a_hand_computed_example():
    # sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    p = [0.03, 0.01, 0.04, 0.02]
    assert holm(p) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    # capped at 1; NaN (no test) stays NaN and does not count towards the family size m = 2
    out = holm([0.6, np.nan, 0.2])
    assert np.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.6, 0.4])
    assert holm([0.7, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0 and np.isnan(holm([np.nan])).all()


def test_paired_pvalue_is_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        a, b = rng.normal(size=n), rng.normal(size=n) + 0.3
        assert paired_t_pvalue(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    # pairs by seed over the common seeds; NaN dropped
    a = pd.Series({0: 1.0, 1: 2.0, 2: 4.0, 3: np.nan, 7: 9.0})
    b = pd.Series({0: 0.5, 1: 1.9, 2: 3.0, 3: 1.0})
    assert paired_t_pvalue(a, b) == pytest.approx(stats.ttest_rel([1, 2, 4], [0.5, 1.9, 3]).pvalue)
    assert np.isnan(paired_t_pvalue([1.0], [0.0]))  # one seed: no test
    # the verdict follows the (adjusted) p-value when one is given
    assert verdict(-0.1, -0.2, -0.01, 3, higher_is_better=False, p=0.2) == "no significant difference"
    assert verdict(-0.1, -0.2, -0.01, 3, higher_is_better=False, p=0.01) == "better"
    assert verdict(-0.1, -0.2, -0.01, 3, higher_is_better=True, p=0.01) == "worse"


IDENT = {"teacher": ("teacher", "teacher", "-", "-"),
         "small-none": ("student", "-", "none", "small"),
         "small-kd": ("student", "teacher", "kd", "small")}
# ID NLL per seed: the student beats the raw labels-only model by ~0.05 in every seed, but not
# once both are temperature-scaled (differences +0.01, −0.02, +0.01)
NLL = {"teacher": [0.20, 0.21, 0.22], "small-none": [0.40, 0.42, 0.41], "small-kd": [0.35, 0.37, 0.36],
       "teacher+temperature": [0.19, 0.20, 0.21], "small-none+temperature": [0.33, 0.36, 0.34],
       "small-kd+temperature": [0.34, 0.34, 0.35]}


def tiny_metrics() -> pd.DataFrame:
    rows = []
    for model, vals in NLL.items():
        base, _, posthoc = model.partition("+")
        role, teacher, method, student = IDENT[base]
        for seed, v in enumerate(vals):
            rows.append({"seed": seed, "model": model, "role": role, "teacher": teacher,
                         "method": method, "student": student, "posthoc": posthoc or "-",
                         "split": "id", "dataset": "test", "severity": 0, "metric": "nll",
                         "value": v, "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(rows)


def test_student_beats_raw_labels_only_but_not_the_temperature_scaled_one():
    metrics = tiny_metrics()
    order = model_order(metrics[metrics.posthoc == "-"])
    pairs = paired_comparisons(metrics, order)
    nll = pairs[pairs.column == "ID NLL"].set_index("reference_kind")
    assert list(nll.index) == ["labels-only", "labels-only (TS)", "teacher", "teacher (TS)"]
    assert set(pairs.student) == {"small-kd"}
    raw, ts = nll.loc["labels-only"], nll.loc["labels-only (TS)"]
    assert raw.reference == "small-none" and ts.reference == "small-none+temperature"
    assert raw["mean"] == pytest.approx(-0.05) and raw.verdict == "better"
    assert ts["mean"] == pytest.approx(0.0) and ts.verdict == "no significant difference"
    assert ts.p == pytest.approx(stats.ttest_rel(NLL["small-kd+temperature"],
                                                 NLL["small-none+temperature"]).pvalue)
    assert (nll.family_size == 1).all() and (nll.p_holm == nll.p).all()
    assert nll.loc["teacher (TS)"].reference == "teacher+temperature"
    # the table shows the TS rows as student+temperature − reference+temperature
    tab = paired_display(pairs, "baseline")
    assert list(tab.index) == ["small-kd − small-none", "small-kd+temperature − small-none+temperature"]
    assert tab.iloc[0]["ID NLL"].endswith("▲") and not tab.iloc[1]["ID NLL"].endswith("▲")
    # raw rows only: the TS comparisons are simply absent
    raw_only = paired_comparisons(metrics[metrics.posthoc == "-"], order)
    assert set(raw_only.reference_kind) == {"labels-only", "teacher"}
    # the findings say so: beats raw, 0 of 1 beyond temperature scaling
    text = "\n".join(findings(metrics, order))
    assert "ID NLL 0 of 1" in text
    assert "ID NLL (family of 1): 1 of 1 better (small-kd" in text


def test_holm_family_is_one_metric_and_one_reference_kind():
    # two students: family of 2 per metric x reference kind
    metrics = tiny_metrics()
    extra = metrics[metrics.model.str.startswith("small-kd")].copy()
    extra["model"] = extra.model.str.replace("small-kd", "small-kd2")
    extra["value"] = extra.value + 0.001 * extra.seed
    metrics = pd.concat([metrics, extra])
    order = model_order(metrics[metrics.posthoc == "-"])
    pairs = paired_comparisons(metrics, order)
    for _, g in pairs[pairs.column == "ID NLL"].groupby("reference_kind"):
        assert len(g) == 2 and (g.family_size == 2).all()
        assert np.allclose(g.p_holm, holm(g.p))
