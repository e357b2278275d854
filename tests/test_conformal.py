"""Split conformal prediction (kdbench.metrics.conformal): the quantile's rank, hand-computed
sets, and the coverage guarantee on exchangeable data."""

import math

import numpy as np
import pytest

from kdbench.metrics.conformal import (_aps_cumulative, conformal_quantile, conformal_set,
                                       label_scores, split_conformal)

from conftest import random_probs


def test_quantile_rank_is_ceil_n_plus_one_times_one_minus_alpha():
    assert conformal_quantile([0.3, 0.1, 0.2, 0.4], alpha=0.4) == 0.3  # rank ceil(5·0.6) = 3
    s = np.arange(1, 20, dtype=float)[::-1]  # n = 19, α = 0.1: rank ceil(20·0.9) = 18
    assert conformal_quantile(s, alpha=0.1) == 18.0
    # numpy's "higher" quantile at (1 − α)(1 + 1/n) picks rank 19 here: one too high
    assert np.quantile(s, 0.9 * (1 + 1 / 19), method="higher") == 19.0
    # too few calibration examples for the level: rank 6 > n = 5, every label is in every set
    assert conformal_quantile(np.linspace(0, 1, 5), alpha=0.1) == math.inf


def test_lac_sets_by_hand():
    cal = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    cal_y = np.array([0, 1, 2, 1])  # LAC scores 0.3, 0.2, 0.6, 0.75
    # α = 0.4: rank ceil(5 · 0.6) = 3 -> q̂ = 0.6; a label is in the set when p_k ≥ 0.4
    test = np.array([[0.45, 0.45, 0.1], [0.2, 0.2, 0.6], [0.35, 0.33, 0.32]])
    test_y = np.array([1, 0, 2])  # sets {0, 1} ∋ 1; {2} ∌ 0; {} ∌ 2
    r = split_conformal(cal, cal_y, test, test_y, alpha=0.4, score="lac")
    assert r["qhat"] == pytest.approx(0.6)
    assert r["coverage"] == pytest.approx(1 / 3)
    assert r["set_size"] == pytest.approx((2 + 1 + 0) / 3)


def test_aps_scores_by_hand():
    p = np.array([[0.2, 0.5, 0.3]])
    # classes by decreasing probability: 1 (0.5), 2 (0.3), 0 (0.2); u = 0.5
    got = _aps_cumulative(p, np.array([0.5]))
    np.testing.assert_allclose(got, [[0.8 + 0.1, 0.25, 0.5 + 0.15]])
    # u = 1 gives the non-randomised cumulative mass up to and including the label
    np.testing.assert_allclose(_aps_cumulative(p, np.array([1.0])), [[1.0, 0.5, 0.8]])
    # the uniforms are seeded: same seed, same scores
    q = random_probs(np.random.default_rng(1), 50, 4)
    np.testing.assert_array_equal(label_scores(q, score="aps", seed=3),
                                  label_scores(q, score="aps", seed=3))


def test_perfect_model_sets_are_singletons():
    y = np.arange(10) % 3
    p = np.eye(3)[y]
    r = split_conformal(p, y, p, y, alpha=0.1, score="lac")
    assert r["coverage"] == 1.0 and r["set_size"] == 1.0


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_coverage_on_exchangeable_data_meets_the_guarantee(score):
    """Mean coverage over many random calibration/test splits of one exchangeable pool lies in
    [1 − α, 1 − α + 1/(n + 1)] (Angelopoulos & Bates 2021, Thm D.1). n = 104 puts the exact
    expectation, ⌈105 · 0.9⌉ / 105 = 0.9048, inside the interval (0.9, 0.9095), 6 Monte Carlo
    standard errors from either end; labels are drawn from a sharper distribution than the
    model's, so the model is miscalibrated and coverage is not trivially 1."""
    rng = np.random.default_rng(0)
    pool, n, alpha = 1000, 104, 0.1
    probs = random_probs(rng, pool, 10, sharp=1.5)
    truth = probs ** 3 / (probs ** 3).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=t) for t in truth])
    cov = []
    for i in range(1500):
        idx = rng.permutation(pool)
        cal, test = idx[:n], idx[n:]
        r = split_conformal(probs[cal], labels[cal], probs[test], labels[test], alpha=alpha,
                            score=score, seed=i)
        cov.append(r["coverage"])
    mean = float(np.mean(cov))
    assert 1 - alpha <= mean <= 1 - alpha + 1 / (n + 1), mean
    # the model is not trivially covering everything
    assert np.mean(labels == probs.argmax(1)) < 0.9


def test_conformal_set_names_and_ranges(rng):
    p = random_probs(rng, 300, 5)
    y = rng.integers(0, 5, 300)
    out = conformal_set(p[:150], y[:150], p[150:], y[150:])
    assert list(out) == ["coverage_lac", "set_size_lac", "coverage_aps", "set_size_aps"]
    assert all(0 <= out[f"coverage_{s}"] <= 1 and 0 <= out[f"set_size_{s}"] <= 5
               for s in ("lac", "aps"))


def test_errors_say_what_was_expected():
    p = np.full((4, 2), 0.5)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\), found 1.5"):
        split_conformal(p, y, p, y, alpha=1.5)
    with pytest.raises(ValueError, match="score must be one of lac, aps, found 'raps'"):
        split_conformal(p, y, p, y, score="raps")
    with pytest.raises(ValueError, match="same number of classes, found 2 and 3"):
        split_conformal(p, y, np.full((2, 3), 1 / 3), np.array([0, 2]))
    with pytest.raises(ValueError, match="rows must sum to 1"):
        split_conformal(p * 2, y, p, y)
