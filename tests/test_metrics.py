"""Metrics against closed forms, netcal and scikit-learn; invalid input by its message."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from kdbench import metrics
from kdbench.prediction import Prediction
from conftest import random_probs


def test_closed_forms_small_case():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5], [0.9, 0.05, 0.05]])
    y = np.array([0, 2, 2, 1])
    assert metrics.accuracy(p, y) == 0.5
    assert metrics.nll(p, y) == pytest.approx(-np.mean(np.log([0.7, 0.3, 0.5, 0.05])))
    brier = np.mean([(0.3**2 + 0.2**2 + 0.1**2), (0.1**2 + 0.6**2 + 0.7**2),
                     (0.25**2 * 2 + 0.5**2), (0.9**2 + 0.95**2 + 0.05**2)])
    assert metrics.brier(p, y) == pytest.approx(brier)
    h = -(p * np.log(p)).sum(1).mean()
    assert metrics.entropy(p) == pytest.approx(h)


def test_ece_hand_computed_with_right_closed_edges():
    # 15 bins of width 1/15; confidences exactly on the edge 0.6 = 9/15 belong to bin (8/15, 9/15].
    conf = np.array([0.6, 0.6, 0.9, 0.9])
    p = np.stack([conf, 1 - conf], 1)
    y = np.array([0, 1, 0, 0])  # bin 0.6: acc 0.5, conf 0.6; bin 0.9: acc 1, conf 0.9
    assert metrics.ece(p, y) == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    b = metrics.reliability_bins(p, y)
    assert b["count"][8] == 2 and b["count"][9] == 0  # (0.5333, 0.6] holds 0.6
    assert metrics.mce(p, y) == pytest.approx(0.1)


def test_ece_all_right_all_wrong_and_single_example():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.ece(p, np.array([0, 1])) == 0.0
    assert metrics.ece(p, np.array([1, 0])) == 1.0
    assert metrics.ece(np.array([[0.8, 0.2]]), np.array([0])) == pytest.approx(0.2)


@pytest.mark.parametrize("k", [3, 10, 100])  # netcal treats K = 2 as binary (p of class 1), not top-label
def test_ece_equals_netcal(rng, k):
    from netcal.metrics import ECE

    p = random_probs(rng, 2000, k, sharp=2.0)
    y = rng.integers(0, k, 2000)
    ours = metrics.ece(p, y, n_bins=15)
    theirs = ECE(bins=15).measure(p, y)
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_auroc_equals_sklearn_with_ties(rng):
    s_in = rng.integers(0, 5, 300).astype(float)
    s_out = rng.integers(2, 8, 200).astype(float)
    expected = roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[s_in, s_out])
    assert metrics.auroc(s_in, s_out) == pytest.approx(expected, abs=1e-12)
    assert metrics.auroc([0.0, 0.1], [0.5, 0.9]) == 1.0
    assert metrics.auroc([1.0, 1.0], [1.0]) == 0.5


def test_numpy_torch_float32_agree(rng):
    p = random_probs(rng, 500, 10)
    y = rng.integers(0, 10, 500)
    for fn in (metrics.accuracy, metrics.nll, metrics.brier, metrics.ece, metrics.mce):
        a = fn(p, y)
        b = fn(torch.tensor(p, dtype=torch.float32), torch.tensor(y))
        assert a == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("probs, labels, message", [
    (np.ones(3) / 3, np.array([0]), "shape (N, K)"),
    (np.array([[0.5, np.nan]]), np.array([0]), "NaN"),
    (np.array([[0.5, 0.6]]), np.array([0]), "sum to 1"),
    (np.array([[2.0, -1.0]]), np.array([0]), "non-negative"),
    (np.array([[0.5, 0.5]]), np.array([2]), "labels must lie in [0, 1]"),
    (np.array([[0.5, 0.5]]), np.array([0.5]), "integers"),
    (np.array([[0.5, 0.5]]), np.array([0, 1]), "shape (1,)"),
    (np.zeros((0, 3)), np.array([], dtype=int), "N >= 1"),
])
def test_invalid_input_raises_value_error(probs, labels, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        metrics.ece(probs, labels)


def test_auroc_of_one_class_is_undefined_and_nan_scores_are_rejected():
    v = metrics.auroc([0.1], [])  # one class present: undefined (NaN with its reason), no error
    assert np.isnan(v) and metrics.reason(v) == "no OOD examples: one class present"
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([np.nan], [0.1])
    with pytest.raises(ValueError, match="scores_in must be a non-empty 1-D array"):
        metrics.auroc(np.zeros((2, 2)), [0.1])


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(2, 12), st.integers(0, 2**31 - 1))
def test_properties(n, k, seed):
    rng = np.random.default_rng(seed)
    p = random_probs(rng, n, k, sharp=rng.uniform(0.1, 5))
    y = rng.integers(0, k, n)
    assert 0.0 <= metrics.ece(p, y) <= 1.0
    assert 0.0 <= metrics.brier(p, y) <= 2.0
    assert 0.0 <= metrics.entropy(p) <= np.log(k) + 1e-12
    samples = rng.dirichlet(np.ones(k), size=(3, n))
    pred = Prediction(probs=samples)
    assert np.all(pred.mutual_information() >= 0)


def test_ece_zero_for_perfectly_calibrated_construction(rng):
    # In each bin, confidence c is assigned to examples of which exactly a fraction c is right.
    rows, labels = [], []
    for c in (0.6, 0.8, 1.0):
        n_right = int(round(c * 10))
        for i in range(10):
            rows.append([c, 1 - c])
            labels.append(0 if i < n_right else 1)
    assert metrics.ece(np.array(rows), np.array(labels)) == pytest.approx(0.0, abs=1e-12)


def test_prediction_entropy_split():
    agree = np.tile(np.array([[[0.2, 0.8], [0.5, 0.5]]]), (4, 1, 1))
    pred = Prediction(probs=agree)
    np.testing.assert_allclose(pred.mutual_information(), 0.0, atol=1e-12)
    np.testing.assert_allclose(pred.total_entropy(), pred.expected_entropy())
    # Two confident members that disagree: total = log 2, expected = 0, MI = log 2.
    dis = Prediction(probs=np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    assert dis.total_entropy()[0] == pytest.approx(np.log(2))
    assert dis.expected_entropy()[0] == pytest.approx(0.0, abs=1e-9)
    assert dis.mutual_information()[0] == pytest.approx(np.log(2))


def test_dirichlet_closed_form_matches_monte_carlo(rng):
    alphas = np.array([[2.0, 3.0, 5.0], [0.5, 0.5, 0.5], [20.0, 1.0, 1.0]])
    exact = Prediction(alphas=alphas)
    mc = Prediction(probs=np.stack([rng.dirichlet(a, size=200_000) for a in alphas], 1))
    np.testing.assert_allclose(exact.mean(), mc.mean(), atol=3e-3)
    np.testing.assert_allclose(exact.expected_entropy(), mc.expected_entropy(), atol=5e-3)
    np.testing.assert_allclose(exact.mutual_information(), mc.mutual_information(), atol=5e-3)


# --- the full metric set (calibration variants, OOD, selective, fidelity, bootstrap) ---------

@pytest.mark.parametrize("k", [3, 10, 100])
def test_adaptive_ece_and_mce_equal_netcal(rng, k):
    from netcal.metrics import ECE, MCE

    # N - 1 = 1999 is prime, so no quantile edge j/15 falls exactly on a sample
    p = random_probs(rng, 2000, k, sharp=2.0)
    y = rng.integers(0, k, 2000)
    assert metrics.adaptive_ece(p, y) == pytest.approx(
        ECE(bins=15, equal_intervals=False).measure(p, y), abs=1e-6)
    assert metrics.mce(p, y) == pytest.approx(MCE(bins=15).measure(p, y), abs=1e-6)


def test_ece_l2_and_debiased():
    p = np.array([[0.9, 0.1]] * 10)
    y = np.array([0] * 7 + [1] * 3)  # one bin: conf 0.9, acc 0.7
    assert metrics.ece(p, y, norm="l2") == pytest.approx(0.2)
    # debiased: sqrt(0.2^2 - 0.7*0.3/9)
    assert metrics.ece_debiased(p, y, n_bins=1) == pytest.approx(np.sqrt(0.04 - 0.21 / 9))
    with pytest.raises(ValueError, match="norm must be 'l1' or 'l2'"):
        metrics.ece(p, y, norm="l3")
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        metrics.ece(p, y, n_bins=0)


def test_debiased_ece_is_near_zero_for_calibrated_samples(rng):
    conf = rng.uniform(0.5, 1.0, 20000)
    correct = rng.uniform(size=20000) < conf  # calibrated by construction
    p = np.stack([conf, 1 - conf], 1)
    y = np.where(correct, 0, 1)
    assert metrics.ece_debiased(p, y) < metrics.ece(p, y, norm="l2")
    assert metrics.ece_debiased(p, y) < 0.01


def test_classwise_ece_hand_computed():
    p = np.array([[0.8, 0.2], [0.8, 0.2], [0.3, 0.7]])
    y = np.array([0, 1, 1])
    # class 0: bins {0.8: 2 ex, freq 1/2}, {0.3: 1 ex, freq 0} -> (2|0.5-0.8| + |0-0.3|)/3 = 0.3
    # class 1: {0.2: 2 ex, freq 1/2}, {0.7: 1 ex, freq 1} -> (2|0.5-0.2| + |1-0.7|)/3 = 0.3
    assert metrics.classwise_ece(p, y) == pytest.approx(0.3)


def test_aupr_and_fpr95_equal_sklearn_with_ties(rng):
    from sklearn.metrics import average_precision_score, roc_curve

    s_in = rng.integers(0, 6, 400).astype(float)
    s_out = rng.integers(3, 9, 150).astype(float)
    y = np.r_[np.zeros(400), np.ones(150)]
    s = np.r_[s_in, s_out]
    assert metrics.aupr_out(s_in, s_out) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert metrics.aupr_in(s_in, s_out) == pytest.approx(average_precision_score(1 - y, -s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    for target in (0.5, 0.8, 0.95, 1.0):
        expected = fpr[np.searchsorted(tpr, target)]
        assert metrics.fpr_at_tpr(s_in, s_out, tpr=target) == pytest.approx(expected)
    assert metrics.fpr_at_tpr([0.0, 0.1], [0.5, 0.9]) == 0.0


def test_selective_prediction_hand_computed():
    # confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (wrong)
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    y = np.array([0, 1, 0, 1])
    rc = metrics.risk_coverage(p, y)
    np.testing.assert_allclose(rc["coverage"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(rc["risk"], [0, 1 / 2, 1 / 3, 2 / 4])
    assert metrics.aurc(p, y) == pytest.approx(np.mean([0, 1 / 2, 1 / 3, 1 / 2]))
    optimal = np.mean([0, 0, 1 / 3, 2 / 4])
    assert metrics.eaurc(p, y) == pytest.approx(np.mean([0, 1 / 2, 1 / 3, 1 / 2]) - optimal)
    assert metrics.augrc(p, y) == pytest.approx(np.mean([0, 1, 1, 2]) / 4)


def test_selective_ties_do_not_depend_on_order():
    p = np.array([[0.7, 0.3]] * 4)
    y = np.array([0, 1, 1, 1])
    np.testing.assert_allclose(metrics.risk_coverage(p, y)["risk"], [0.75] * 4)
    assert metrics.aurc(p, y) == metrics.aurc(p[::-1], y[::-1])


def test_fidelity():
    t = np.array([[0.9, 0.1], [0.4, 0.6]])
    s = np.array([[0.6, 0.4], [0.7, 0.3]])
    assert metrics.agreement(t, s) == 0.5
    kl = 0.9 * np.log(0.9 / 0.6) + 0.1 * np.log(0.1 / 0.4)
    assert metrics.kl_per_example(t, s)[0] == pytest.approx(kl)
    assert metrics.kl_divergence(t, t) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same shape"):
        metrics.agreement(t, s[:1])


def test_bootstrap_ci_fast_path_matches_generic_path(rng):
    p = random_probs(rng, 500, 10)
    y = rng.integers(0, 10, 500)
    for fn in (metrics.accuracy, metrics.nll, metrics.brier, metrics.ece):
        fast = metrics.bootstrap_ci(fn, p, y, n=200)
        slow = metrics.bootstrap_ci(lambda a, b: fn(a, b), p, y, n=200)  # not recognised: loop
        assert fast == pytest.approx(slow, abs=1e-9)
        lo, hi = fast
        assert lo <= fn(p, y) <= hi and hi - lo > 0
    assert metrics.bootstrap_ci(metrics.ece, p, y, n=200) == metrics.bootstrap_ci(metrics.ece, p, y, n=200)
    lo90, hi90 = metrics.bootstrap_ci(metrics.nll, p, y, level=0.9)
    lo99, hi99 = metrics.bootstrap_ci(metrics.nll, p, y, level=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_variation_ratio():
    probs = np.array([[[0.9, 0.1]], [[0.2, 0.8]], [[0.6, 0.4]], [[0.7, 0.3]]])
    assert Prediction(probs=probs).variation_ratio()[0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="needs probability samples"):
        Prediction(alphas=np.ones((1, 2))).variation_ratio()


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 300), st.integers(0, 2**31 - 1))
def test_float32_float64_numpy_torch_agree_on_all_metrics(n, seed):
    rng = np.random.default_rng(seed)
    p = random_probs(rng, n, 10)
    y = rng.integers(0, 10, n)
    for fn in (metrics.ece, metrics.adaptive_ece, metrics.classwise_ece, metrics.aurc, metrics.augrc):
        a = fn(p, y)
        b = fn(torch.tensor(p, dtype=torch.float32), torch.tensor(y))
        assert a == pytest.approx(b, abs=1e-6)


def test_ties_in_the_top_class_go_to_the_lowest_index():
    p = np.array([[0.4, 0.4, 0.2], [0.3, 0.35, 0.35]])
    assert metrics.accuracy(p, np.array([0, 1])) == 1.0
    assert metrics.accuracy(p, np.array([1, 2])) == 0.0
    # confidence is the tied maximum either way
    assert metrics.ece(p, np.array([0, 1])) == pytest.approx(np.mean([0.6, 0.65]))


def test_one_class_only():
    p = np.ones((5, 1))
    y = np.zeros(5, dtype=int)
    assert metrics.accuracy(p, y) == 1.0
    assert metrics.ece(p, y) == 0.0
    assert metrics.nll(p, y) == 0.0
    assert metrics.entropy(p) == 0.0
    # all labels in one class of several
    q = np.array([[0.7, 0.3], [0.6, 0.4]])
    assert metrics.classwise_ece(q, np.array([0, 0])) == pytest.approx(
        np.mean([(0.3 + 0.4) / 2, (0.3 + 0.4) / 2]))


# --- the fused labelled-split set (one validation, one bootstrap resample matrix) -----------

def test_labelled_set_equals_each_public_function(rng):
    p = random_probs(rng, 700, 10, sharp=2.0)
    y = rng.integers(0, 10, 700)
    out = metrics.labelled_set(p, y, n_boot=300)
    expected = {"accuracy": metrics.accuracy(p, y), **metrics.calibration_metrics(p, y),
                "aurc": metrics.aurc(p, y), "eaurc": metrics.eaurc(p, y),
                "augrc": metrics.augrc(p, y)}
    assert list(out) == list(expected)
    for name, value in expected.items():
        assert out[name][0] == pytest.approx(value, abs=1e-12), name
    for name, fn in (("accuracy", metrics.accuracy), ("nll", metrics.nll),
                     ("brier", metrics.brier), ("ece", metrics.ece)):
        # one resample matrix for all four = each metric's own bootstrap (and its generic loop)
        assert out[name][1:] == pytest.approx(metrics.bootstrap_ci(fn, p, y, n=300), abs=1e-12)
        assert out[name][1:] == pytest.approx(
            metrics.bootstrap_ci(lambda a, b: fn(a, b), p, y, n=300), abs=1e-9)
    assert np.isnan(out["mce"][1]) and np.isnan(out["aurc"][2])


def test_labelled_set_validates_once_at_its_door():
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.labelled_set(np.array([[0.5, 0.6]]), np.array([0]))
    with pytest.raises(ValueError, match="n must be >= 2"):
        metrics.labelled_set(np.array([[0.5, 0.5]]), np.array([0]), n_boot=1)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        metrics.labelled_set(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0)


def test_bootstrap_ece_skips_empty_bins_exactly():
    # all confidences in one bin: ECE of every resample is |mean(correct − conf)| of it
    p = np.array([[0.9, 0.1]] * 6 + [[0.95, 0.05]] * 4)
    y = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    lo, hi = metrics.bootstrap_ci(metrics.ece, p, y, n=500)
    slow = metrics.bootstrap_ci(lambda a, b: metrics.ece(a, b), p, y, n=500)
    assert (lo, hi) == pytest.approx(slow, abs=1e-12)


def test_classwise_ece_when_no_probability_leaves_the_first_bin():
    """Issue 24: a near-uniform 100-class model has no probability above 1/15."""
    from kdbench import metrics as M

    p, y = np.full((4, 100), 0.01), np.array([0, 1, 2, 3])
    # by the definition: every p_k = 0.01 lies in bin 0 (0, 1/15]; per class k the gap is
    # |sum of 1[y = k] - sum of p_k| / N over that one bin
    want = np.mean([abs((y == k).sum() - p[:, k].sum()) / len(y) for k in range(100)])
    assert M.classwise_ece(p, y) == pytest.approx(want)
    assert M.calibration_metrics(p, y)["classwise_ece"] == pytest.approx(want)
