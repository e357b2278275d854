"""Issue 24: a property sweep over every shape of prediction a model can produce.

Every public metric of `kdbench.metrics` and the fused evaluation pass (`labelled_set`) is run
on drawn inputs — N in [1, 5000], K in {2, 3, 10, 16, 100, 1000}, rows one-hot, uniform,
near-uniform, Dirichlet(α) with α from 0.01 to 100 and exact bin-edge ties (entries j/15),
float32 and float64, labels covering only some classes — and each value is checked against a
plain reference written here from the definition (15 equal-width right-closed bins (lo, hi],
found by comparison with the edges b/15, not by the library's ceil(v·B)) and, where one
exists, against netcal or scikit-learn. OOD scores and conformal sets get the same sweep
(all-equal scores, one OOD or ID example, identical ID and OOD sets, an empty set).

Inputs are drawn by hypothesis as a few parameters plus a seed for numpy (big arrays are not
hypothesis' strength); most draws keep N·K at or below 200,000, about one in ten goes to
N = 5000 at any K. The conftest profile derandomizes, so CI sees the same examples each run.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbench import metrics as M
from kdbench.metrics.conformal import SCORES as CONFORMAL_SCORES

B = 15
KS = (2, 3, 10, 16, 100, 1000)
ROWS = ("onehot", "uniform", "near_uniform", "dirichlet", "edges")
LABELS = ("random", "some_classes", "one_class", "all_right", "all_wrong")
SMALL = 200_000  # N·K of an ordinary draw


# --- drawn inputs ------------------------------------------------------------------------

def make_rows(rng: np.random.Generator, kind: str, n: int, k: int, alpha: float) -> np.ndarray:
    """``n`` probability rows of one kind, float64."""
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "uniform":
        return np.full((n, k), 1.0 / k)
    if kind == "near_uniform":  # within 0.1% of 1/K: for K >= 16 nothing leaves bin 0
        p = 1.0 + 1e-3 * rng.uniform(-1, 1, (n, k))
        return p / p.sum(1, keepdims=True)
    if kind == "dirichlet":
        return rng.dirichlet(np.full(k, alpha), size=n)
    if kind == "edges":  # every entry j/15 exactly: ties on the bin edges, top-label and per class
        return rng.multinomial(B, np.full(k, 1.0 / k), size=n) / B
    raise AssertionError(kind)


def make_labels(rng: np.random.Generator, kind: str, p: np.ndarray) -> np.ndarray:
    n, k = p.shape
    if kind == "random":
        return rng.integers(0, k, n)
    if kind == "some_classes":
        classes = rng.choice(k, size=int(rng.integers(1, min(k, 3) + 1)), replace=False)
        return rng.choice(classes, n)
    if kind == "one_class":
        return np.full(n, int(rng.integers(0, k)))
    if kind == "all_right":
        return p.argmax(1)
    return (p.argmax(1) + 1) % k  # all wrong


@st.composite
def labelled_inputs(draw):
    """(probs as passed, labels, float64 view of probs, description)."""
    k = draw(st.sampled_from(KS))
    large = draw(st.integers(0, 9)) == 0
    n = draw(st.integers(1, 5000 if large else max(1, min(5000, SMALL // k))))
    kinds = draw(st.lists(st.sampled_from(ROWS), min_size=1, max_size=3, unique=True))
    alpha = 10.0 ** draw(st.floats(-2.0, 2.0))
    dtype = draw(st.sampled_from(("float64", "float32", "torch32")))
    label_kind = draw(st.sampled_from(LABELS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    which = rng.integers(0, len(kinds), n)
    p = np.empty((n, k))
    for j, kind in enumerate(kinds):
        p[which == j] = make_rows(rng, kind, int((which == j).sum()), k, alpha)
    p = p.astype(np.float32) if dtype != "float64" else p
    p64 = p.astype(np.float64)  # what the metrics compute on
    y = make_labels(rng, label_kind, p64)
    given_p = torch.from_numpy(p) if dtype == "torch32" else p
    what = f"N={n} K={k} rows={kinds} alpha={alpha:.3g} {dtype} labels={label_kind}"
    return given_p, y, p64, what


# --- references from the definitions -----------------------------------------------------

EDGES = [b / B for b in range(B + 1)]  # b/15 as Python computes it


def ref_bin(v: np.ndarray) -> np.ndarray:
    """Bin b of the right-closed bin (b/15, (b+1)/15] holding each value; 0 goes to bin 0."""
    idx = np.zeros(len(v), dtype=np.int64)
    for b in range(1, B):
        idx[v > EDGES[b]] = b
    return idx


def ref_mass_bin(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Right-closed bins (edges[b], edges[b+1]] with repeated edges: the first bin whose right
    edge is >= v (a bin (e, e] is empty)."""
    idx = np.full(len(v), len(edges) - 2, dtype=np.int64)
    for b in range(len(edges) - 2, -1, -1):
        idx[v <= edges[b + 1]] = b
    return idx


def ref_bins(values: np.ndarray, targets: np.ndarray, idx: np.ndarray, n_bins: int):
    """Per bin: count, sum of values, sum of targets — one bin at a time."""
    count, s_val, s_tgt = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for b in range(n_bins):
        inside = idx == b
        count[b], s_val[b], s_tgt[b] = inside.sum(), values[inside].sum(), targets[inside].sum()
    return count, s_val, s_tgt


def ref_selective(conf: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    """AURC, E-AURC, AUGRC accepting by decreasing confidence; a tie group's errors spread
    evenly over its positions."""
    n = len(conf)
    errors, before = [], 0.0
    for c in sorted(set(conf.tolist()), reverse=True):
        group = wrong[conf == c]
        errors += [before + group.sum() * j / len(group) for j in range(1, len(group) + 1)]
        before += group.sum()
    errors = np.array(errors)
    k = np.arange(1, n + 1)
    n_wrong = int(wrong.sum())
    oracle = np.array([max(0, kk - (n - n_wrong)) / kk for kk in k])
    aurc = float(np.mean(errors / k))
    return {"aurc": aurc, "eaurc": aurc - float(oracle.mean()), "augrc": float(np.mean(errors / n))}


def reference(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Every labelled-split metric of `labelled_set` from its definition."""
    n, k = p.shape
    pred = p.argmax(1)  # the first of tied top classes
    conf = p[np.arange(n), pred]
    correct = (pred == y).astype(np.float64)
    p_true = p[np.arange(n), y]
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    count, s_conf, s_acc = ref_bins(conf, correct, ref_bin(conf), B)
    full = count > 0
    acc_b, conf_b = s_acc[full] / count[full], s_conf[full] / count[full]
    w = count[full] / n

    s = np.sort(conf)  # equal-mass edges: quantiles j/B, linear interpolation, ends 0 and 1
    edges = np.quantile(s, np.linspace(0, 1, B + 1))
    edges[0], edges[-1] = 0.0, 1.0
    m_count, m_conf, m_acc = ref_bins(conf, correct, ref_mass_bin(conf, edges), B)
    m_full = m_count > 0
    nb, m_accb = m_count[m_full], m_acc[m_full] / m_count[m_full]
    m_confb = m_conf[m_full] / m_count[m_full]
    var = np.array([a * (1 - a) / (c - 1) if c > 1 else 0.0 for a, c in zip(m_accb, nb)])
    ce2 = float(np.sum(nb / n * ((m_accb - m_confb) ** 2 - var)))

    classwise = []
    for c in range(k):
        _, sv, st_ = ref_bins(p[:, c], (y == c).astype(np.float64), ref_bin(p[:, c]), B)
        classwise.append(np.abs(st_ - sv).sum() / n)

    _, floor_var, _ = ref_bins(conf * (1 - conf), correct, ref_bin(conf), B)
    return {
        "accuracy": float(correct.mean()),
        "ece": float(np.sum(w * np.abs(acc_b - conf_b))),
        "ece_l2": float(np.sqrt(np.sum(w * (acc_b - conf_b) ** 2))),
        "adaptive_ece": float(np.sum(nb / n * np.abs(m_accb - m_confb))),
        "mce": float(np.max(np.abs(acc_b - conf_b))),
        "classwise_ece": float(np.mean(classwise)),
        "ece_debiased": math.sqrt(max(ce2, 0.0)),
        "ece_floor": float(np.sum(np.sqrt(2 / np.pi * floor_var)) / n),
        "nll": float(-np.mean(np.log(np.maximum(p_true, 1e-12)))),
        "brier": float(np.mean(((p - onehot) ** 2).sum(1))),
        **ref_selective(conf, 1.0 - correct),
    }


PUBLIC = {  # metric -> its public function
    "accuracy": M.accuracy, "ece": M.ece, "ece_l2": lambda p, y: M.ece(p, y, norm="l2"),
    "adaptive_ece": M.adaptive_ece, "mce": M.mce, "classwise_ece": M.classwise_ece,
    "ece_debiased": M.ece_debiased, "ece_floor": M.ece_noise_floor, "nll": M.nll,
    "brier": M.brier, "aurc": M.aurc, "eaurc": M.eaurc, "augrc": M.augrc,
}
TOL = {"ece_debiased": 1e-7}  # sqrt(max(CE², 0)) turns a 1e-16 round-off of CE² into 1e-8


# --- labelled-split metrics and the fused pass -------------------------------------------

@settings(max_examples=150, deadline=None)
@given(labelled_inputs())
def test_labelled_metrics_equal_their_definitions(inputs):
    p, y, p64, what = inputs
    want = reference(p64, y)
    n_boot = 20 if len(y) * p64.shape[1] <= 20_000 else 0
    fused = M.labelled_set(p, y, n_boot=n_boot)
    calib = M.calibration_metrics(p, y)
    assert list(fused) == ["accuracy", *calib, "aurc", "eaurc", "augrc"]
    for name, value in want.items():
        tol = TOL.get(name, 1e-9)
        assert PUBLIC[name](p, y) == pytest.approx(value, abs=tol), (name, what)
        assert fused[name][0] == pytest.approx(value, abs=tol), (name, what)
        if name in calib:
            assert calib[name] == pytest.approx(value, abs=tol), (name, what)
    assert M.entropy(p) == pytest.approx(
        float(np.mean(-(p64 * np.log(np.maximum(p64, 1e-12))).sum(1))), abs=1e-9), what
    for name, v in fused.items():
        assert np.isfinite(v[0]), (name, what)
        if n_boot and name in ("accuracy", "nll", "brier", "ece"):
            # the fused intervals = the generic bootstrap loop over the public function
            slow = M.bootstrap_ci(lambda a, b, f=PUBLIC[name]: f(a, b), p64, y, n=n_boot)
            assert v[1:] == pytest.approx(slow, abs=1e-9), (name, what)
            assert v[1] <= v[2], (name, what)


@st.composite
def continuous_inputs(draw):
    """Dirichlet rows, K > 2 (netcal reads K = 2 as binary), no ties: netcal's conventions
    agree with ours there."""
    k = draw(st.sampled_from(KS[1:]))
    n = draw(st.integers(20, max(20, min(5000, SMALL // k))))
    alpha = 10.0 ** draw(st.floats(-2.0, 2.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = rng.dirichlet(np.full(k, alpha), size=n)
    return p, rng.integers(0, k, n)


@settings(max_examples=25, deadline=None)
@given(continuous_inputs())
def test_calibration_equals_netcal(inputs):
    from netcal.metrics import ECE, MCE

    p, y = inputs
    conf = p.max(1)
    assert M.ece(p, y) == pytest.approx(ECE(bins=B).measure(p, y), abs=1e-6)
    assert M.mce(p, y) == pytest.approx(MCE(bins=B).measure(p, y), abs=1e-6)
    if p.shape[1] <= 100:  # class-wise: the mean of netcal's binary ECE of each class
        per_class = [ECE(bins=B).measure(p[:, c], (y == c).astype(int)) for c in range(p.shape[1])]
        assert M.classwise_ece(p, y) == pytest.approx(np.mean(per_class), abs=1e-6)
    edges = np.quantile(conf, np.linspace(0, 1, B + 1))[1:-1]
    if len(np.unique(conf)) == len(conf) and not np.isin(conf, edges).any():
        assert M.adaptive_ece(p, y) == pytest.approx(
            ECE(bins=B, equal_intervals=False).measure(p, y), abs=1e-6)


@pytest.mark.parametrize("kind, alpha", [("dirichlet", 0.3), ("near_uniform", 1.0), ("edges", 1.0)])
def test_the_largest_inputs(kind, alpha):
    """N = 5000, K = 1000 (issue 24 saw the crash there with Dirichlet(0.3) rows)."""
    rng = np.random.default_rng(24)
    p = make_rows(rng, kind, 5000, 1000, alpha)
    y = rng.integers(0, 1000, 5000)
    want, got = reference(p, y), M.labelled_set(p, y, n_boot=0)
    for name, value in want.items():
        assert got[name][0] == pytest.approx(value, abs=TOL.get(name, 1e-9)), name


def test_issue_24_near_uniform_100_classes():
    p, y = np.full((4, 100), 0.01), np.array([0, 1, 2, 3])
    assert M.classwise_ece(p, y) == pytest.approx(reference(p, y)["classwise_ece"], abs=1e-15)


def test_fidelity_equals_its_definition():
    rng = np.random.default_rng(0)
    for k in KS:
        t = make_rows(rng, "dirichlet", 50, k, 0.05)
        for kind in ROWS:
            s = make_rows(rng, kind, 50, k, 0.3)
            want = np.mean([sum(ti * (math.log(max(ti, 1e-12)) - math.log(max(si, 1e-12)))
                                for ti, si in zip(tr, sr)) for tr, sr in zip(t, s)])
            assert M.kl_divergence(t, s) == pytest.approx(want, abs=1e-9)
            assert M.agreement(t, s) == np.mean(t.argmax(1) == s.argmax(1))


# --- OOD scores --------------------------------------------------------------------------

SCORES = ("continuous", "ties", "all_equal", "identical", "one_ood", "one_id", "separated")


@st.composite
def ood_inputs(draw):
    kind = draw(st.sampled_from(SCORES))
    n_in, n_out = draw(st.integers(1, 2000)), draw(st.integers(1, 2000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "one_ood":
        n_out = 1
    if kind == "one_id":
        n_in = 1
    if kind == "ties":
        s_in, s_out = rng.integers(0, 5, n_in) / 4, rng.integers(1, 6, n_out) / 4
    elif kind == "all_equal":
        s_in, s_out = np.full(n_in, 0.3), np.full(n_out, 0.3)
    elif kind == "identical":
        s_in = rng.integers(0, 4, n_in) * 0.5 if draw(st.booleans()) else rng.normal(size=n_in)
        s_out = s_in.copy()
    elif kind == "separated":
        s_in, s_out = rng.uniform(0, 1, n_in), rng.uniform(1, 2, n_out)
    else:
        s_in, s_out = rng.normal(size=n_in), rng.normal(0.5, 1, size=n_out)
    tpr = draw(st.sampled_from((0.5, 0.8, 0.95, 1.0)))
    return s_in, s_out, tpr, f"{kind} n_in={n_in} n_out={n_out}"


def ref_ood(s_in: np.ndarray, s_out: np.ndarray, tpr: float) -> dict[str, float]:
    auc = sum((s_in < s).sum() + 0.5 * (s_in == s).sum() for s in s_out) / (len(s_in) * len(s_out))

    def ap(pos, neg):
        total, last_recall = 0.0, 0.0
        for t in sorted(set(np.r_[pos, neg].tolist()), reverse=True):
            tp, fp = (pos >= t).sum(), (neg >= t).sum()
            total += (tp / len(pos) - last_recall) * tp / (tp + fp)
            last_recall = tp / len(pos)
        return total

    fpr = 1.0
    for t in sorted(set(np.r_[s_in, s_out].tolist()), reverse=True):  # first ROC point
        if (s_out >= t).sum() / len(s_out) >= tpr:
            fpr = (s_in >= t).sum() / len(s_in)
            break
    return {"auroc": auc, "aupr_out": ap(s_out, s_in), "aupr_in": ap(-s_in, -s_out), "fpr": fpr}


@settings(max_examples=100, deadline=None)
@given(ood_inputs())
def test_ood_metrics_equal_their_definitions_and_sklearn(inputs):
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    s_in, s_out, tpr, what = inputs
    want = ref_ood(s_in, s_out, tpr)
    got = {"auroc": M.auroc(s_in, s_out), "aupr_out": M.aupr_out(s_in, s_out),
           "aupr_in": M.aupr_in(s_in, s_out), "fpr": M.fpr_at_tpr(s_in, s_out, tpr=tpr)}
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), (name, what)
    is_ood, s = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))], np.r_[s_in, s_out]
    assert got["auroc"] == pytest.approx(roc_auc_score(is_ood, s), abs=1e-12), what
    assert got["aupr_out"] == pytest.approx(average_precision_score(is_ood, s), abs=1e-12), what
    assert got["aupr_in"] == pytest.approx(average_precision_score(1 - is_ood, -s), abs=1e-12), what
    fpr_curve, tpr_curve, _ = roc_curve(is_ood, s, drop_intermediate=False)
    assert got["fpr"] == pytest.approx(fpr_curve[np.searchsorted(tpr_curve, tpr)], abs=1e-12), what
    if what.startswith(("all_equal", "identical")):
        assert got["auroc"] == 0.5


@pytest.mark.parametrize("s_in, s_out, why", [
    ([], [0.1, 0.2], "no in-distribution examples"),
    ([0.1], [], "no OOD examples"),
    ([], [], "no in-distribution and no OOD examples"),
])
def test_ood_metrics_with_one_class_are_undefined_not_an_error(s_in, s_out, why):
    for fn in (M.auroc, M.aupr_out, M.aupr_in, M.fpr_at_tpr):
        v = fn(np.array(s_in), np.array(s_out))
        assert isinstance(v, float) and math.isnan(v) and M.reason(v).startswith(why), fn.__name__
    with pytest.raises(ValueError, match="NaN"):  # invalid input is still an error
        M.auroc([np.nan], s_out)


def test_undefined_values_and_the_evaluate_rows_note():
    from kdbench.evaluate import note

    v = M.retention(0.3, 0.0)
    assert math.isnan(v) and M.reason(v) == "teacher value is 0"
    assert note(v) == {"note": "teacher value is 0"}
    assert note(0.5) == {} and note(float("nan")) == {}
    assert M.retention(0.3, 0.6) == 0.5 and M.reason(0.5) == ""


# --- conformal sets ----------------------------------------------------------------------

@st.composite
def conformal_inputs(draw):
    k = draw(st.sampled_from(KS))
    n_cal = draw(st.integers(1, max(1, min(2000, SMALL // k // 4))))
    n_test = draw(st.integers(1, max(1, min(2000, SMALL // k // 4))))
    kind = draw(st.sampled_from(ROWS))
    alpha = draw(st.sampled_from(("0.05", "0.1", "0.2", "0.5", "0.9")))
    score = draw(st.sampled_from(CONFORMAL_SCORES))
    seed = draw(st.integers(0, 1000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = 10.0 ** float(rng.uniform(-2, 2))
    cal, test = make_rows(rng, kind, n_cal, k, a), make_rows(rng, kind, n_test, k, a)
    label_kind = draw(st.sampled_from(LABELS))
    return (cal, make_labels(rng, label_kind, cal), test, make_labels(rng, label_kind, test),
            alpha, score, seed, f"{kind} K={k} n_cal={n_cal} n_test={n_test} alpha={alpha} {score}")


def ref_label_scores(p: np.ndarray, score: str, seed: int) -> np.ndarray:
    """LAC 1 − p_k; APS: mass of the classes ranked before k (decreasing p, ties to the lower
    index) + u·p_k, one u per example from ``default_rng(seed)``."""
    if score == "lac":
        return 1.0 - p
    u = np.random.default_rng(seed).random(len(p))
    out = np.empty_like(p)
    for i, row in enumerate(p):
        before = 0.0
        for j in sorted(range(len(row)), key=lambda c: -row[c]):
            out[i, j] = before + u[i] * row[j]
            before += row[j]
    return out


@settings(max_examples=80, deadline=None)
@given(conformal_inputs())
def test_conformal_sets_equal_their_definition(inputs):
    cal, cy, test, ty, alpha, score, seed, what = inputs
    cal_scores = ref_label_scores(cal, score, seed)[np.arange(len(cy)), cy]
    rank = math.ceil((len(cy) + 1) * (1 - Fraction(alpha)))
    qhat = math.inf if rank > len(cy) else sorted(cal_scores)[rank - 1]
    member = ref_label_scores(test, score, seed + 1) <= qhat
    got = M.split_conformal(cal, cy, test, ty, alpha=float(alpha), score=score, seed=seed)
    assert got["qhat"] == pytest.approx(qhat, abs=1e-12), what
    assert got["coverage"] == pytest.approx(member[np.arange(len(ty)), ty].mean(), abs=1e-12), what
    assert got["set_size"] == pytest.approx(member.sum(1).mean(), abs=1e-12), what
    assert 0.0 <= got["coverage"] <= 1.0 and 0.0 <= got["set_size"] <= cal.shape[1]


def test_conformal_with_all_equal_scores_and_one_calibration_example():
    p = np.full((30, 10), 0.1)
    y = np.arange(30) % 10
    lac = M.split_conformal(p, y, p, y, score="lac")  # every score ties at 0.9: every label in
    assert lac == {"coverage": 1.0, "set_size": 10.0, "qhat": pytest.approx(0.9)}
    one = M.split_conformal(p[:1], y[:1], p, y)  # rank ceil(2 · 0.9) = 2 > n = 1: q̂ = +inf
    assert one["qhat"] == math.inf and one["coverage"] == 1.0 and one["set_size"] == 10.0


def test_one_ulp_either_side_of_an_edge_is_in_its_bin():
    """ceil(v·15) − 1 alone puts the double just above 11/15 in the bin below (its product with
    15 rounds to 11); bin_index corrects that against the edges' doubles, for every B."""
    from kdbench.metrics.calibration import bin_index

    edges = np.array([b / B for b in range(1, B)])
    for v in (np.nextafter(edges, 2.0), np.nextafter(edges, -1.0), edges):
        np.testing.assert_array_equal(bin_index(v, B), ref_bin(v))
    assert bin_index(np.array([np.nextafter(11 / 15, 1.0)]), 15)[0] == 11
    for n_bins in (2, 3, 7, 10, 15, 20, 100):
        grid = np.arange(n_bins + 1) / n_bins
        v = np.concatenate([grid, np.nextafter(grid, 2.0), np.nextafter(grid, -1.0)]).clip(0, 1)
        np.testing.assert_array_equal(
            bin_index(v, n_bins), np.clip(np.searchsorted(grid, v, side="left") - 1, 0, n_bins - 1))
