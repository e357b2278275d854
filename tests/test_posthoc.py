"""Post-hoc calibrators: fitted on one split, valid distributions out, NLL not worse where the
construction says it cannot be."""

import numpy as np
import pytest

from kdbench import metrics
from kdbench.posthoc import CALIBRATORS, TemperatureScaling
from kdbench.prediction import Prediction


def overconfident(rng, n, k=3, s=4):
    """Samples whose logits are 3x too sharp for the labels drawn from the unsharpened ones."""
    z = rng.normal(size=(n, k)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p_true])
    noise = rng.normal(scale=0.1, size=(s, n, k))
    sharp = np.exp(3 * (z + noise))
    return Prediction(probs=sharp / sharp.sum(-1, keepdims=True)), y


def test_temperature_scaling_recovers_the_sharpening(rng):
    fit_pred, fit_y = overconfident(rng, 2000)
    test_pred, test_y = overconfident(rng, 2000)
    cal = TemperatureScaling().fit(fit_pred, fit_y)
    assert cal.temperature == pytest.approx(3.0, rel=0.15)
    out = cal.transform(test_pred)
    assert out.probs.shape == test_pred.probs.shape  # samples kept: MI survives
    assert np.all(out.mutual_information() >= 0)
    assert metrics.nll(out.mean(), test_y) < metrics.nll(test_pred.mean(), test_y)
    assert metrics.ece(out.mean(), test_y) < metrics.ece(test_pred.mean(), test_y)


@pytest.mark.parametrize("name", ["histogram", "isotonic", "beta"])
def test_netcal_calibrators_give_valid_distributions(rng, name):
    fit_pred, fit_y = overconfident(rng, 300)
    test_pred, test_y = overconfident(rng, 300)
    cal = CALIBRATORS.create(name).fit(fit_pred, fit_y)
    out = cal.transform(test_pred)
    assert out.probs.shape == (1, 300, 3)
    np.testing.assert_allclose(out.probs.sum(-1), 1.0, atol=1e-9)
    assert metrics.ece(out.mean(), test_y) < metrics.ece(test_pred.mean(), test_y)


def test_rows_netcal_leaves_undefined_become_uniform(rng):
    cal = CALIBRATORS.create("histogram")

    class AllZero:
        def transform(self, x):
            out = np.full_like(x, np.nan)
            out[1:] = x[1:]
            return out
    cal.model = AllZero()
    pred = Prediction(probs=np.array([[[0.9, 0.1], [0.2, 0.8]]]))
    out = cal.transform(pred)
    np.testing.assert_allclose(out.probs[0], [[0.5, 0.5], [0.2, 0.8]])


def test_unknown_calibrator_in_a_suite(tmp_path):
    from kdbench.config import load_suite
    from kdbench.errors import UserError

    path = tmp_path / "s.toml"
    path.write_text('posthoc = ["temprature"]\n[teachers.t]\nkind = "single"\nwidth = 4\n')
    with pytest.raises(UserError, match=r"unknown calibrator 'temprature' \(did you mean 'temperature'\?\)"):
        load_suite(str(path))
