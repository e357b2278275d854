"""The one evaluation path: model × split -> `Prediction` -> metric rows.

For a labelled split the rows are accuracy, NLL, Brier, every calibration variant
(`kdbench.metrics.calibration_metrics`), the selective-prediction areas (AURC, E-AURC, AUGRC) and the mean uncertainties (total entropy, expected entropy =
aleatoric, mutual information = epistemic, and the variation ratio for models with samples),
plus the reliability bins of the top-label confidence. Accuracy, NLL, Brier and ECE carry a 95%
percentile-bootstrap interval (1,000 resamples, seed 0) in ``ci_low``/``ci_high`` — in a suite of
one seed; with several seeds the report's intervals are over seeds and the per-example ones are
skipped (NaN) unless the suite's ``bootstrap`` key asks for them. With a
calibration set (the model's — or post-hoc variant's — own predictions on the validation split)
the rows also hold split conformal prediction sets at ``CONFORMAL_ALPHA`` = 0.1 (90% target
coverage): ``coverage_lac``, ``set_size_lac``, ``coverage_aps``, ``set_size_aps``
(`kdbench.metrics.conformal`).

For an OOD split the rows are the mean uncertainties and, for each score against the ID test
split — ``msp`` (1 − max mean probability), ``entropy`` (total predictive entropy) and ``mi``
(mutual information, models with samples or a Dirichlet only) — ``auroc_<score>``,
``aupr_out_<score>``, ``aupr_in_<score>`` and ``fpr95_<score>`` (OOD positive).

A metric that is undefined on its split (`kdbench.metrics.undefined`: e.g. AUROC with an empty
ID or OOD set) is a NaN row with its reason in the optional ``note`` column (`note`); the
column is written only when some row has a note, so a run without undefined metrics has the
same ``metrics.csv`` as before the column existed. No valid `Prediction` makes a row raise.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M
from .prediction import Prediction

N_BINS = 15
HIST_BINS = 30
BOOTSTRAP = 1000
CONFORMAL_ALPHA = 0.1
OOD = {"auroc": M.auroc, "aupr_out": M.aupr_out, "aupr_in": M.aupr_in, "fpr95": M.fpr_at_tpr}

Row = tuple[str, float, float, float]  # metric, value, ci_low, ci_high


def note(value: float) -> dict[str, str]:
    """``{"note": reason}`` for an undefined value (`kdbench.metrics.Undefined`), else ``{}``:
    what a metric row adds as its optional ``note`` column."""
    why = M.reason(value)
    return {"note": why} if why else {}


def uncertainty_scores(pred: Prediction) -> dict[str, np.ndarray]:
    """Per-example OOD scores (higher = more OOD): msp, entropy and, with samples, mi."""
    mean = pred.mean()
    scores = {"msp": 1.0 - mean.max(1), "entropy": pred.total_entropy()}
    if pred.n_samples != 1:
        scores["mi"] = pred.mutual_information()
    return scores


def mean_uncertainty(pred: Prediction) -> list[Row]:
    """Mean total entropy, expected entropy, mutual information (nats) and variation ratio."""
    rows = [("entropy", float(pred.total_entropy().mean())),
            ("expected_entropy", float(pred.expected_entropy().mean())),
            ("mutual_information", float(pred.mutual_information().mean()))]
    if pred.n_samples > 1:
        rows.append(("variation_ratio", float(pred.variation_ratio().mean())))
    return [(k, v, np.nan, np.nan) for k, v in rows]


def labelled_metrics(pred: Prediction, labels: np.ndarray,
                     calibration: tuple[np.ndarray, np.ndarray] | None = None, *,
                     n_boot: int = BOOTSTRAP) -> list[Row]:
    """Every labelled-split metric on the predictive mean (`kdbench.metrics.labelled_set`: one
    validation, one fused pass, one bootstrap resample matrix for the four CIs), then the
    mean uncertainties, then — given ``calibration`` = (predictive means ``(n, K)``, labels
    ``(n,)``) of the same model on the validation split — the conformal coverage and mean set
    size of `kdbench.metrics.conformal_set` at ``CONFORMAL_ALPHA`` (no interval). ``n_boot``
    bootstrap resamples (0: no per-example intervals, NaN)."""
    mean = pred.mean()
    values = M.labelled_set(mean, labels, n_bins=N_BINS, n_boot=n_boot)
    rows = [(name, *v) for name, v in values.items()] + mean_uncertainty(pred)
    if calibration is not None:
        sets = M.conformal_set(calibration[0], calibration[1], mean, labels, alpha=CONFORMAL_ALPHA)
        rows += [(k, v, np.nan, np.nan) for k, v in sets.items()]
    return rows


def ood_metrics(pred_in: Prediction, pred_out: Prediction) -> list[Row]:
    """Detection metrics of every score, and the OOD set's mean uncertainties."""
    s_in, s_out = uncertainty_scores(pred_in), uncertainty_scores(pred_out)
    rows = [(f"{m}_{k}", fn(s_in[k], s_out[k]), np.nan, np.nan)
            for k in s_in for m, fn in OOD.items()]
    return rows + mean_uncertainty(pred_out)


EXAMPLE_METRICS = ("accuracy", "nll", "brier")


def per_example(mean: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The per-example terms whose means are accuracy, NLL and Brier (`kdbench.metrics`
    conventions: NLL clamps at ``EPS``; Brier = Σ_k (p_k − y_k)²), float64 ``(N,)``."""
    n = len(labels)
    p = np.asarray(mean, dtype=np.float64)
    p_true = p[np.arange(n), labels]
    return {"accuracy": (p.argmax(1) == labels).astype(np.float64),
            "nll": -np.log(np.clip(p_true, M.EPS, None)),
            "brier": np.einsum("ij,ij->i", p, p) - 2 * p_true + 1}


def family_examples(examples: dict[tuple[str, str], list[dict[str, np.ndarray]]]
                    ) -> dict[str, np.ndarray]:
    """``{"<variant>/<family>/<metric>": (N,) float64}``: per example, the mean over the
    family's splits of `per_example` (``examples``: (variant, family) -> one dict per split).
    The mean of such a vector is the family mean of the metric in ``metrics.csv`` (every split
    weighted alike). Families whose splits differ in size (not the same images) are left out:
    their examples cannot be matched."""
    out = {}
    for (variant, family), splits in examples.items():
        if len({len(s["nll"]) for s in splits}) != 1:
            continue
        for metric in EXAMPLE_METRICS:
            out[f"{variant}/{family}/{metric}"] = np.mean([s[metric] for s in splits], axis=0)
    return out


COVERAGE = np.round(np.linspace(0.05, 1.0, 20), 2)


def risk_at_coverage(pred: Prediction, labels: np.ndarray) -> list[tuple[float, float]]:
    """The risk–coverage curve (`kdbench.metrics.risk_coverage`, confidence = max mean
    probability) sampled at coverages 0.05, 0.10, ..., 1.0 (k = ceil(c·N) examples accepted)."""
    curve = M.risk_coverage(pred.mean(), labels)
    n = len(labels)
    return [(float(c), float(curve["risk"][int(np.ceil(c * n - 1e-9)) - 1])) for c in COVERAGE]


def histogram(values: np.ndarray, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``values`` in ``HIST_BINS`` equal bins on [0, hi] (values above hi go to the
    last bin); returns (edges, counts)."""
    edges = np.linspace(0.0, hi, HIST_BINS + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, hi), bins=edges)
    return edges, counts


