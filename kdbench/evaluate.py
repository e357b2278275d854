"""The one evaluation path: model × split -> `Prediction` -> metric rows.

For a labelled split the rows are accuracy, NLL, Brier, ECE, MCE (15 bins) and the mean total
entropy, expected entropy (aleatoric) and mutual information (epistemic), plus the reliability
bins of the top-label confidence. For an OOD split they are the mean uncertainties and the OOD
AUROC of three scores against the ID test split — ``msp`` (1 − max mean probability),
``entropy`` (total predictive entropy) and ``mi`` (mutual information, only for models with
samples or a Dirichlet) — OOD positive, higher score = more OOD.
"""

from __future__ import annotations

import numpy as np

from . import metrics
from .prediction import Prediction

N_BINS = 15
HIST_BINS = 30


def uncertainty_scores(pred: Prediction) -> dict[str, np.ndarray]:
    """Per-example OOD scores (higher = more OOD): msp, entropy and, with samples, mi."""
    mean = pred.mean()
    scores = {"msp": 1.0 - mean.max(1), "entropy": pred.total_entropy()}
    if pred.n_samples != 1:
        scores["mi"] = pred.mutual_information()
    return scores


def labelled_metrics(pred: Prediction, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, proper scores, calibration and mean uncertainties on a labelled split."""
    mean = pred.mean()
    return {
        "accuracy": metrics.accuracy(mean, labels),
        "nll": metrics.nll(mean, labels),
        "brier": metrics.brier(mean, labels),
        "ece": metrics.ece(mean, labels, N_BINS),
        "mce": metrics.mce(mean, labels, N_BINS),
        **mean_uncertainty(pred),
    }


def mean_uncertainty(pred: Prediction) -> dict[str, float]:
    """Mean total entropy, expected entropy and mutual information in nats."""
    return {
        "entropy": float(pred.total_entropy().mean()),
        "expected_entropy": float(pred.expected_entropy().mean()),
        "mutual_information": float(pred.mutual_information().mean()),
    }


def ood_metrics(pred_in: Prediction, pred_out: Prediction) -> dict[str, float]:
    """OOD AUROC per score (``auroc_msp``, ``auroc_entropy``, ``auroc_mi``) and the OOD set's
    mean uncertainties."""
    s_in, s_out = uncertainty_scores(pred_in), uncertainty_scores(pred_out)
    out = {f"auroc_{k}": metrics.auroc(s_in[k], s_out[k]) for k in s_in}
    return {**out, **mean_uncertainty(pred_out)}


def histogram(values: np.ndarray, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``values`` in ``HIST_BINS`` equal bins on [0, hi] (values above hi go to the
    last bin); returns (edges, counts)."""
    edges = np.linspace(0.0, hi, HIST_BINS + 1)
    counts, _ = np.histogram(np.clip(values, 0.0, hi), bins=edges)
    return edges, counts
