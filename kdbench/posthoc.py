"""Post-hoc calibration of any teacher or student, fitted on the validation split only.

Registered by name in `CALIBRATORS`; each is a class with ``fit(pred, labels)`` and
``transform(pred) -> Prediction``. Results appear as separate models named
``<model>+<calibrator>`` (e.g. ``small-kd-ensemble+temperature``), never in place of the
uncalibrated model.

* ``temperature`` (Guo et al. 2017), our own: one T > 0 that minimises the validation NLL of the
  predictive mean of the tempered samples, p_s ∝ p_s^(1/T), fitted by L-BFGS-B (scipy) on
  log T within [log 0.05, log 20]. Samples are kept (S unchanged), so the mutual information
  stays. A Dirichlet prediction α = exp(z) is tempered on its logits and stays a Dirichlet:
  α_T = exp(log α / T) = α^(1/T), T fitted on the validation NLL of its mean α_T / Σα_T; so
  its mutual information stays defined.
* ``beta`` (Kull, Silva Filho & Flach 2017, "Beta calibration"), our own, in netcal's
  multi-class form (`BetaCalibration`): on the predictive mean p, class logits
  z_k = a_k log p_k − b_k log(1 − p_k) + c_k with a_k, b_k ≥ 0 and q = softmax(z) — a
  multinomial logistic regression on the features log p_k and −log(1 − p_k), 3K parameters.
  For K = 2 this is exactly Kull et al.'s binary beta calibration of p_1 (z_1 − z_0 =
  (a_1 + b_0) log p_1 − (a_0 + b_1) log(1 − p_1) + c). Fitted by L-BFGS-B (scipy) with the
  closed-form gradient of the mean NLL from netcal's start (a = b = 1, c = 0); deterministic.
  netcal minimises the same objective with finite-difference gradients (~3K + 1 NLL
  evaluations per step, ~1–10 s per model); ours reaches an NLL at least as low
  (tests/test_posthoc.py) in milliseconds. The result is one distribution per example
  (S = 1, MI = 0).
* ``histogram`` (Zadrozny & Elkan 2001), ``isotonic`` (Zadrozny & Elkan 2002): netcal's
  implementations on the predictive mean, as netcal applies them to multi-class input; the
  result is one distribution per example (S = 1, MI = 0). A row that netcal maps to all zeros
  (NaN after its normalisation; isotonic regression does this on some far-shifted inputs)
  becomes the uniform distribution.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from .metrics.scores import EPS  # the one probability floor, 1e-12
from .prediction import Prediction
from .registry import Registry

CALIBRATORS: Registry = Registry("calibrator")
LOG_T_BOUNDS = (float(np.log(0.05)), float(np.log(20.0)))


def _labels(labels: np.ndarray, n: int, k: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"labels must be {n} integers in [0, {k - 1}]; found shape {y.shape}, "
                         f"dtype {y.dtype}")
    return y.astype(np.int64)


@CALIBRATORS.register("temperature")
class TemperatureScaling:
    """Temperature scaling of every sample, or of a Dirichlet's logits log α;
    ``temperature`` after `fit`."""

    def __init__(self) -> None:
        self.temperature = 1.0

    @staticmethod
    def _logits(pred: Prediction) -> np.ndarray:
        """``(S, N, K)`` logits: log p of every sample, or log α of a Dirichlet (S = 1)."""
        if pred.alphas is not None:
            return np.log(pred.alphas)[None]
        return np.log(np.clip(pred.probs, EPS, None))

    def fit(self, pred: Prediction, labels: np.ndarray) -> "TemperatureScaling":
        log_p = self._logits(pred)
        y = _labels(labels, log_p.shape[1], log_p.shape[2])
        rows = np.arange(len(y))

        def nll(log_t: np.ndarray) -> float:
            z = log_p / np.exp(log_t[0])
            z -= z.max(-1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(-1, keepdims=True)
            return float(-np.log(np.clip(p.mean(0)[rows, y], EPS, None)).mean())

        res = minimize(nll, np.zeros(1), method="L-BFGS-B", bounds=[LOG_T_BOUNDS])
        self.temperature = float(np.exp(res.x[0]))
        return self

    def transform(self, pred: Prediction) -> Prediction:
        z = self._logits(pred) / self.temperature
        if pred.alphas is not None:
            # α^(1/T); the smallest positive float keeps α > 0 where exp underflows
            return Prediction(alphas=np.maximum(np.exp(z[0]), np.finfo(np.float64).tiny))
        return Prediction(probs=softmax(z, axis=-1))


@CALIBRATORS.register("beta")
class BetaCalibration:
    """Multi-class beta calibration (netcal's form, our fit); after `fit`: ``a``, ``b``, ``c``
    ``(K,)`` and ``nll`` (the validation NLL reached)."""

    def __init__(self, *, max_iter: int = 1000) -> None:
        self.max_iter = max_iter

    @staticmethod
    def features(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log p and −log(1 − p), p clipped to [ε, 1 − ε] with ε the float64 machine epsilon
        (netcal's clip), each ``(N, K)``."""
        eps = np.finfo(np.float64).eps
        p = np.clip(p, eps, 1.0 - eps)
        return np.log(p), -np.log1p(-p)

    def _logits(self, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
        return self.a * f1 + self.b * f2 + self.c

    def fit(self, pred: Prediction, labels: np.ndarray) -> "BetaCalibration":
        f1, f2 = self.features(pred.mean())
        n, k = f1.shape
        y = _labels(labels, n, k)
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y] = 1.0

        def nll_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            a, b, c = w[:k], w[k:2 * k], w[2 * k:]
            log_q = log_softmax(a * f1 + b * f2 + c, axis=1)
            g = (np.exp(log_q) - onehot) / n  # d mean NLL / d z
            return (float(-(log_q * onehot).sum() / n),
                    np.concatenate([(g * f1).sum(0), (g * f2).sum(0), g.sum(0)]))

        w0 = np.r_[np.ones(2 * k), np.zeros(k)]
        bounds = [(0.0, None)] * (2 * k) + [(None, None)] * k
        res = minimize(nll_and_grad, w0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": self.max_iter, "ftol": 1e-12, "gtol": 1e-9})
        self.a, self.b, self.c = res.x[:k], res.x[k:2 * k], res.x[2 * k:]
        self.nll = float(res.fun)
        return self

    def transform(self, pred: Prediction) -> Prediction:
        return Prediction(probs=softmax(self._logits(*self.features(pred.mean())), axis=1)[None])


class _Netcal:
    """A netcal calibrator applied to the predictive mean (S = 1 afterwards)."""

    factory: str = ""

    def fit(self, pred: Prediction, labels: np.ndarray) -> "_Netcal":
        import netcal.binning  # local: netcal takes a second to import; only these calibrators use it

        self.model = getattr(netcal.binning, self.factory)()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(pred.mean(), np.asarray(labels))
        return self

    def transform(self, pred: Prediction) -> Prediction:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = np.asarray(self.model.transform(pred.mean()), dtype=np.float64)
        q = np.clip(np.nan_to_num(q, nan=0.0), 0.0, None)
        total = q.sum(1, keepdims=True)
        # a row that netcal maps to all zeros (its own normalisation then gives NaN, seen with
        # isotonic regression on far-shifted inputs) carries no information: uniform
        q = np.where(total > 0, q / np.where(total > 0, total, 1.0), 1.0 / q.shape[1])
        return Prediction(probs=q[None])


@CALIBRATORS.register("histogram")
class HistogramBinning(_Netcal):
    factory = "HistogramBinning"


@CALIBRATORS.register("isotonic")
class IsotonicRegression(_Netcal):
    factory = "IsotonicRegression"
