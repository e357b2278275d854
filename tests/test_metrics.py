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


def test_auroc_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="scores_out must be a non-empty"):
        metrics.auroc([0.1], [])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([np.nan], [0.1])


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
