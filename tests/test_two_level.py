"""Two-level intervals: paired differences over seeds and over the shared test images."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from kdbench.collect import example_pairs
from kdbench.evaluate import family_examples, per_example
from kdbench.metrics import accuracy, brier, nll
from kdbench.plan import ModelEntry
from kdbench.report.stats import paired_difference, paired_t_pvalue, two_level
from kdbench.report.tables import SEEDS_AND_EXAMPLES, SEEDS_ONLY, paired_comparisons
from kdbench.store import RunStore


def test_two_level_adds_the_example_variance_to_the_seed_variance():
    a, b = pd.Series({0: 0.10, 1: 0.12, 2: 0.15}), pd.Series({0: 0.13, 1: 0.14, 2: 0.16})
    d = (a - b).to_numpy()
    A, B = d.var(ddof=1) / 3, 0.4 / 1000  # the example part dominates
    se, df = np.sqrt(A + B), (A + B) ** 2 / (A**2 / 2 + B**2 / 999)
    mean, lo, hi, n, p = two_level(a, b, var_example=0.4, n_examples=1000)
    assert (mean, n) == (pytest.approx(d.mean()), 3)
    assert 2 < df < 2 + 999
    assert hi - mean == pytest.approx(st.t.ppf(0.975, df) * se)
    assert p == pytest.approx(2 * st.t.sf(abs(d.mean()) / se, df))
    # a small, well-estimated example part never narrows the seed interval
    small = two_level(a, b, var_example=0.001, n_examples=1000)
    assert small[1:3] == pytest.approx(paired_difference(a, b)[1:3])
    # without an example part it is the paired t-interval and test
    m0, lo0, hi0, n0, p0 = two_level(a, b, var_example=0.0, n_examples=1000)
    assert (m0, lo0, hi0, n0) == pytest.approx(paired_difference(a, b))
    assert p0 == pytest.approx(paired_t_pvalue(a, b))
    assert lo < lo0 and hi > hi0
    # one seed: no interval, NaN p, as paired_difference
    one = two_level(a[:1], b[:1], 0.04, 1000)
    assert np.isnan(one[1]) and np.isnan(one[4]) and one[3] == 1


def test_satterthwaite_degrees_of_freedom():
    from kdbench.report.stats import satterthwaite_df
    assert satterthwaite_df(1.0, 2, 0.0, 999) == pytest.approx(2)      # seeds only
    assert satterthwaite_df(0.0, 2, 1.0, 999) == pytest.approx(999)    # examples only
    assert satterthwaite_df(1.0, 2, 1.0, 2) == pytest.approx(4)        # two equal parts


def test_per_example_terms_average_to_the_metrics(rng):
    p = rng.dirichlet(np.ones(10), size=300)
    y = rng.integers(0, 10, 300)
    e = per_example(p, y)
    assert e["accuracy"].mean() == pytest.approx(accuracy(p, y))
    assert e["nll"].mean() == pytest.approx(nll(p, y))
    assert e["brier"].mean() == pytest.approx(brier(p, y))
    splits = [per_example(rng.dirichlet(np.ones(10), size=300), y) for _ in range(3)]
    fam = family_examples({("-", "corrupt"): splits, ("-", "shift"): [e, per_example(p[:10], y[:10])]})
    assert fam["-/corrupt/nll"].mean() == pytest.approx(np.mean([s["nll"].mean() for s in splits]))
    assert not any(k.startswith("-/shift/") for k in fam)  # splits of other images: unmatched


def _entry(seed, model, job):
    return ModelEntry(seed, model, "student", "-", "none", "small", f"train-{job}", job)


def test_example_pairs_from_the_store(tmp_path, rng):
    store = RunStore(tmp_path)
    models, vec = [], {}
    for seed in (0, 1):
        for model in ("a", "b"):
            job = f"evaluate-{model}{seed}"
            out = store.begin(job, {})
            v = rng.normal(size=50)
            vec[model, seed] = v
            out.save_arrays("examples.npz", **{"-/id/nll": v, "temperature/id/nll": v + 1})
            store.finish(job)
            models.append(_entry(seed, model, job))
    t = example_pairs(models, store).set_index(["model_a", "model_b", "split", "metric"])
    d = np.mean([vec["a", s] - vec["b", s] for s in (0, 1)], axis=0)
    r = t.loc[("a", "b", "id", "nll")]
    assert (r.seeds, r.examples) == (2, 50)
    assert r["mean"] == pytest.approx(d.mean()) and r.var_example == pytest.approx(d.var(ddof=1))
    # each calibrator's variants are paired among themselves only
    assert ("a+temperature", "b+temperature", "id", "nll") in t.index
    assert ("a", "b+temperature", "id", "nll") not in t.index


def _metrics():
    rows = []
    for seed in range(3):
        for model, teacher, method, value in (("small-none", "-", "none", 0.10 + 0.01 * seed),
                                              ("small-kd-ens", "ens", "kd", 0.09 + 0.01 * seed + 0.001 * (seed == 1)),
                                              ("ens", "ens", "-", 0.05)):
            role = "teacher" if method == "-" else "student"
            rows.append({"seed": seed, "model": model, "role": role, "teacher": teacher,
                         "method": method, "student": "-" if role == "teacher" else "small",
                         "posthoc": "-", "split": "id", "dataset": "mnist", "severity": 0,
                         "metric": "nll", "value": value})
    return pd.DataFrame(rows)


def test_paired_comparisons_use_the_example_part_where_the_results_have_it():
    m = _metrics()
    cols = [("id", "nll", "ID NLL", False, None)]
    order = ["ens", "small-none", "small-kd-ens"]
    plain = paired_comparisons(m, order, columns=cols)
    ex = pd.DataFrame([{"model_a": "small-kd-ens", "model_b": "small-none", "split": "id",
                        "metric": "nll", "seeds": 3, "examples": 1000, "mean": -0.01,
                        "var_example": 0.05}])
    two = paired_comparisons(m, order, columns=cols, examples=ex)
    base = lambda f: f[f.reference == "small-none"].iloc[0]  # noqa: E731
    assert base(plain).interval == SEEDS_ONLY and base(two).interval == SEEDS_AND_EXAMPLES
    assert base(two)["mean"] == pytest.approx(base(plain)["mean"])
    assert base(two).hi - base(two).lo > base(plain).hi - base(plain).lo
    # the teacher pair is not in the table: over seeds only
    assert two[two.reference == "ens"].iloc[0].interval == SEEDS_ONLY
