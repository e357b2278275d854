"""Post-hoc calibrators: fitted on one split, valid distributions out, NLL not worse where the
construction says it cannot be."""

import numpy as np
import pytest

from kdbench import metrics
from kdbench.posthoc import CALIBRATORS, BetaCalibration, TemperatureScaling
from kdbench.prediction import Prediction


def overconfident(rng, n, k=3, s=4):
    """Samples whose logits are 3x too sharp for the labels drawn from the unsharpened ones."""
    z = rng.normal(size=(n, k)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = (p_true.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)  # y_i ~ p_true_i
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
def test_distribution_calibrators_give_valid_distributions(rng, name):
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


def test_dirichlet_temperature_scaling_stays_a_dirichlet(rng):
    # α = exp(3 z): logits 3x too sharp for labels drawn from softmax(z); T should come out ≈ 3
    z = rng.normal(size=(3000, 4)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = (p_true.cumsum(1) > rng.uniform(size=(3000, 1))).argmax(1)
    pred = Prediction(alphas=np.exp(3 * z + 1.0))
    cal = TemperatureScaling().fit(pred.subset(slice(0, 2000)), y[:2000])
    assert cal.temperature == pytest.approx(3.0, rel=0.1)
    test = pred.subset(slice(2000, None))
    out = cal.transform(test)
    assert out.alphas is not None and out.probs is None  # still a Dirichlet
    np.testing.assert_allclose(out.alphas, test.alphas ** (1 / cal.temperature), rtol=1e-12)
    # the mean is the tempered softmax of the logits log α, and the MI stays defined (> 0)
    logits = np.log(test.alphas) / cal.temperature
    np.testing.assert_allclose(out.mean(), np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                               rtol=1e-12)
    assert np.all(out.mutual_information() > 0)
    assert metrics.nll(out.mean(), y[2000:]) < metrics.nll(test.mean(), y[2000:])


def _netcal_beta(pred, y):
    import warnings

    from netcal.scaling import BetaCalibration as NetcalBeta

    model = NetcalBeta()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(pred.mean(), y, random_state=0, tensorboard=False)

    def transform(p):
        q = model.transform(p.mean())
        return np.stack([1 - q, q], 1) if q.ndim == 1 else q  # netcal: K = 2 as binary
    return transform


@pytest.mark.parametrize("k", [2, 3, 10])
def test_beta_calibration_matches_netcal(rng, k):
    """Same objective as netcal's BetaCalibration (MLE, a, b ≥ 0), analytic gradient: our
    validation NLL is never above netcal's (+1e-9) and the maps agree to 1e-3."""
    fit_pred, fit_y = overconfident(rng, 500, k=k)
    test_pred, _ = overconfident(rng, 500, k=k)
    ours = BetaCalibration().fit(fit_pred, fit_y)
    theirs = _netcal_beta(fit_pred, fit_y)
    q_ours, q_theirs = ours.transform(fit_pred).mean(), theirs(fit_pred)
    assert metrics.nll(q_ours, fit_y) == pytest.approx(ours.nll, abs=1e-12)
    assert ours.nll <= metrics.nll(q_theirs, fit_y) + 1e-9
    assert np.abs(q_ours - q_theirs).max() < 1e-3
    assert np.abs(ours.transform(test_pred).mean() - theirs(test_pred)).max() < 1e-3
    assert np.all(ours.a >= 0) and np.all(ours.b >= 0)


def test_beta_calibration_closed_form_parts(rng):
    pred, y = overconfident(rng, 400, k=4)
    cal = BetaCalibration().fit(pred, y)
    again = BetaCalibration().fit(pred, y)
    np.testing.assert_array_equal(cal.a, again.a)  # deterministic
    # the map is softmax(a log p − b log(1 − p) + c) of the predictive mean
    p = np.clip(pred.mean(), np.finfo(float).eps, 1 - np.finfo(float).eps)
    z = cal.a * np.log(p) - cal.b * np.log(1 - p) + cal.c
    np.testing.assert_allclose(cal.transform(pred).probs[0],
                               np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-10)
    # at the optimum the free intercepts have zero gradient: Σ_n (q_nk − 1[y_n = k]) = 0
    q = cal.transform(pred).probs[0]
    np.testing.assert_allclose(q.sum(0), np.bincount(y, minlength=4), atol=1e-3)
    with pytest.raises(ValueError, match="labels must be 400 integers in \\[0, 3\\]"):
        BetaCalibration().fit(pred, y + 1)
