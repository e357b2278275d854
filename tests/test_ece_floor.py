"""The ECE noise floor: what a perfectly calibrated model's ECE is from sampling noise alone."""

import numpy as np
import pytest

from kdbench import metrics


def test_one_bin_closed_form():
    c, n = 0.9, 400
    p = np.tile([c, 1 - c], (n, 1))
    y = np.zeros(n, dtype=int)
    assert metrics.ece_noise_floor(p, y) == pytest.approx(np.sqrt(2 / np.pi * n * c * (1 - c)) / n)
    # one-hot predictions have no sampling noise
    assert metrics.ece_noise_floor(np.tile([1.0, 0.0], (n, 1)), y) == 0.0


def test_equals_the_mean_ece_of_calibrated_models(rng):
    """Labels drawn so that the model is calibrated: its ECE averages to the floor (normal
    approximation; bins of 60+ examples)."""
    n = 2000
    conf = rng.uniform(0.5, 1.0, n)
    p = np.stack([conf, 1 - conf], 1)
    eces = []
    for _ in range(400):
        correct = rng.random(n) < conf
        eces.append(metrics.ece(p, np.where(correct, 0, 1)))
    floor = metrics.ece_noise_floor(p, np.zeros(n, dtype=int))
    assert np.mean(eces) == pytest.approx(floor, rel=0.05)


def test_part_of_the_calibration_set(rng):
    p = rng.dirichlet(np.ones(10) * 0.5, size=300)
    y = rng.integers(0, 10, 300)
    assert metrics.calibration_metrics(p, y)["ece_floor"] == metrics.ece_noise_floor(p, y)
    assert metrics.labelled_set(p, y, n_boot=0)["ece_floor"][0] == metrics.ece_noise_floor(p, y)
