"""Metrics: pure functions over probabilities, numpy or torch in, float out.

Conventions (docs/metrics.md has every formula and reference):

* ``probs`` ``(N, K)`` rows sum to 1 (tolerance 1e-3), ``labels`` ``(N,)`` integers in [0, K);
  `check_probs` guards the door and raises `ValueError` saying what was expected and found.
* Natural log; NLL clamps probabilities at 1e-12. Brier = Σ_k (p_k − y_k)², mean over examples.
* ECE (Guo et al. 2017): top-label, 15 equal-width right-closed bins (lo, hi], weighted by bin
  size; adaptive (equal-mass), class-wise and debiased variants have their own names.
* OOD: OOD is the positive class and a higher score means "more likely OOD".

Modules by role: `scores` (accuracy, NLL, Brier, entropy), `calibration`, `ood`, `selective`,
`fidelity`, `bootstrap`, `conformal` (split conformal sets: coverage and set size), `fused` (every labelled-split metric after one validation) and `undefined` (`Undefined`: the NaN, with its reason, of a metric undefined on valid input, e.g. AUROC with one class present); uncertainty of samples / Dirichlets lives in `kdbench.prediction`.
"""

from .bootstrap import bootstrap_ci
from .conformal import conformal_quantile, conformal_set, split_conformal
from .calibration import (adaptive_ece, calibration_metrics, classwise_ece, ece, ece_debiased,
                          ece_noise_floor, mce, reliability_bins)
from .fused import labelled_set
from .fidelity import agreement, kl_divergence, kl_per_example, retention
from .ood import aupr_in, aupr_out, auroc, fpr_at_tpr
from .scores import EPS, accuracy, brier, entropy, nll
from .selective import augrc, aurc, eaurc, risk_coverage
from .undefined import Undefined, reason
from .validation import check_probs, check_scores

__all__ = [
    "EPS", "accuracy", "adaptive_ece", "agreement", "aupr_in", "aupr_out", "augrc", "aurc",
    "auroc", "bootstrap_ci", "brier", "calibration_metrics", "check_probs", "check_scores", "classwise_ece",
    "conformal_quantile", "conformal_set", "eaurc",
    "ece", "ece_debiased", "ece_noise_floor", "entropy", "fpr_at_tpr", "kl_divergence", "kl_per_example", "labelled_set", "mce",
    "nll", "reason", "reliability_bins", "retention", "risk_coverage", "split_conformal",
    "Undefined",
]
