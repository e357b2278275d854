"""OOD detection: OOD is the positive class and a higher score means "more likely OOD".

Thresholds are the distinct score values (ties move together), exactly as scikit-learn's
``roc_curve`` / ``precision_recall_curve`` build their curves.

With an empty ID or OOD score set only one class is present and every metric here is
undefined: it returns `Undefined` (NaN with the reason, `kdbench.metrics.undefined`), not an
exception. NaN or infinite scores and arrays that are not 1-D still raise `ValueError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from .undefined import Undefined
from .validation import check_scores


def _pair(scores_in: Any, scores_out: Any) -> tuple[np.ndarray, np.ndarray] | Undefined:
    """Validated ID and OOD scores, or `Undefined` when either set is empty."""
    s_in = check_scores(scores_in, "scores_in", allow_empty=True)
    s_out = check_scores(scores_out, "scores_out", allow_empty=True)
    if s_in.size and s_out.size:
        return s_in, s_out
    if s_in.size or s_out.size:
        missing = "OOD" if s_in.size else "in-distribution"
        return Undefined(f"no {missing} examples: one class present")
    return Undefined("no in-distribution and no OOD examples")


def _curve(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold, highest first."""
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last]
    return tps, last + 1 - tps


def auroc(scores_in: Any, scores_out: Any) -> float:
    """Area under the ROC curve, OOD positive: P(s_out > s_in) + ½ P(s_out = s_in)
    (Mann–Whitney U with ties counted one half; equals scikit-learn's ``roc_auc_score``)."""
    pair = _pair(scores_in, scores_out)
    if isinstance(pair, Undefined):
        return pair
    s_in, s_out = pair
    ranks = rankdata(np.concatenate([s_in, s_out]))
    u = ranks[len(s_in):].sum() - len(s_out) * (len(s_out) + 1) / 2
    return float(u / (len(s_in) * len(s_out)))


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    tps, fps = _curve(pos, neg)
    precision = tps / (tps + fps)
    recall = tps / len(pos)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def aupr_out(scores_in: Any, scores_out: Any) -> float:
    """Average precision with OOD as the positive class (scikit-learn's
    ``average_precision_score(is_ood, score)``): AP = Σ_n (R_n − R_{n−1}) P_n. Chance level is
    the OOD fraction."""
    pair = _pair(scores_in, scores_out)
    return pair if isinstance(pair, Undefined) else _average_precision(pair[1], pair[0])


def aupr_in(scores_in: Any, scores_out: Any) -> float:
    """Average precision with ID as the positive class, scored by −score (the "AUPR-In" of
    Hendrycks & Gimpel 2017)."""
    pair = _pair(scores_in, scores_out)
    return pair if isinstance(pair, Undefined) else _average_precision(-pair[0], -pair[1])


def fpr_at_tpr(scores_in: Any, scores_out: Any, tpr: float = 0.95) -> float:
    """False-positive rate (fraction of ID flagged as OOD) at the first ROC point, from the
    highest threshold down, whose true-positive rate (fraction of OOD flagged) is ≥ ``tpr``.
    No interpolation; equals ``fpr[np.searchsorted(tpr_curve, tpr)]`` on scikit-learn's
    ``roc_curve(..., drop_intermediate=False)``."""
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1]; found {tpr}")
    pair = _pair(scores_in, scores_out)
    if isinstance(pair, Undefined):
        return pair
    s_in, s_out = pair
    tps, fps = _curve(s_out, s_in)
    i = int(np.searchsorted(tps / len(s_out), tpr, side="left"))
    return float(fps[min(i, len(fps) - 1)] / len(s_in))
