"""Split conformal prediction sets: LAC and randomised APS scores (Angelopoulos & Bates 2021).

Given a calibration set of ``n`` labelled examples exchangeable with the test examples, a
non-conformity score ``s(x, y)`` (large = the label looks unusual), and a miscoverage level
``α``, split conformal prediction takes

    q̂ = the ⌈(n + 1)(1 − α)⌉-th smallest calibration score    (q̂ = +∞ when that rank exceeds n)

and predicts the set ``C(x) = {k : s(x, k) ≤ q̂}``. Then ``1 − α ≤ P(Y ∈ C(X))`` and, when
the scores have no ties (true of randomised APS, and of LAC with continuous probabilities),
``P(Y ∈ C(X)) ≤ 1 − α + 1/(n + 1)`` (Angelopoulos & Bates 2021, "A Gentle Introduction to
Conformal Prediction and Distribution-Free Uncertainty Quantification", Theorem D.1 / eq. 1).
numpy's ``np.quantile(s, (1 − α)(1 + 1/n), method="higher")`` is *not* the same rank in
every case (it can pick one rank too high); the tests show a case.

Scores (``probs`` ``(N, K)`` predictive means, rows sum to 1):

* ``lac`` — least ambiguous set-valued classifier (Sadinle, Lei & Wasserman 2019):
  ``s(x, y) = 1 − p_y(x)``.
* ``aps`` — adaptive prediction sets (Romano, Sesia & Candès 2020), randomised:
  with the classes sorted by decreasing probability, ``s(x, y) = Σ_{j ranked before y} p_j
  + u · p_y``, ``u ~ U(0, 1)`` drawn once per example (the same ``u`` for every candidate
  label of a test example, as in the authors' code ``conformal_classification``
  (github.com/aangelopoulos/conformal_classification, ``conformal.py``, without its RAPS
  regulariser, ``λ = 0``). A randomised APS set may be empty.

Reported per split: ``coverage`` = share of examples whose label is in its set, and
``set_size`` = mean number of labels in a set. The uniforms come from ``numpy`` generators
seeded with ``seed`` (calibration) and ``seed + 1`` (test), so results are reproducible.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from .validation import check_probs

Score = Literal["lac", "aps"]
SCORES: tuple[Score, ...] = ("lac", "aps")
ALPHA = 0.1


def _check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be a number in (0, 1), found {alpha!r}")
    return float(alpha)


def _check_score(score: str) -> Score:
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, found {score!r}")
    return score  # type: ignore[return-value]


def conformal_quantile(scores: Any, *, alpha: float = ALPHA) -> float:
    """q̂: the ⌈(n + 1)(1 − α)⌉-th smallest of the ``n`` calibration ``scores`` (1-based
    rank), or ``+inf`` when that rank exceeds ``n`` (too few calibration examples for the
    level: every label is then in every set).

    >>> conformal_quantile([0.3, 0.1, 0.2, 0.4], alpha=0.4)  # rank ceil(5 * 0.6) = 3
    0.3
    """
    a = _check_alpha(alpha)
    s = np.asarray(scores, dtype=float).ravel()
    if s.size == 0 or not np.isfinite(s).all():
        raise ValueError(f"calibration scores must be a non-empty array of finite numbers, "
                         f"found {s.size} values with {int((~np.isfinite(s)).sum())} not finite")
    n = s.size
    # the small tolerance keeps e.g. (n + 1)(1 − α) = 9.000000000000002 at rank 9
    k = math.ceil((n + 1) * (1.0 - a) - 1e-9)
    if k > n:
        return float("inf")
    return float(np.partition(s, k - 1)[k - 1])


def _aps_cumulative(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``(N, K)``: the randomised APS score of every candidate label of every example."""
    order = np.argsort(-p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass ranked strictly before
    scores = np.empty_like(p)
    np.put_along_axis(scores, order, before + u[:, None] * sorted_p, axis=1)
    return scores


def label_scores(probs: Any, *, score: Score = "lac", seed: int = 0) -> np.ndarray:
    """``(N, K)`` non-conformity score of every candidate label (module docstring);
    ``seed`` draws APS's per-example uniforms (ignored for LAC)."""
    p, _ = check_probs(probs)
    sc = _check_score(score)
    if sc == "lac":
        return 1.0 - p
    u = np.random.default_rng(seed).random(p.shape[0])
    return _aps_cumulative(p, u)


def split_conformal(cal_probs: Any, cal_labels: Any, probs: Any, labels: Any, *,
                    alpha: float = ALPHA, score: Score = "lac", seed: int = 0
                    ) -> dict[str, float]:
    """Split conformal sets calibrated on ``(cal_probs, cal_labels)`` and evaluated on
    ``(probs, labels)``: ``{"coverage", "set_size", "qhat"}``.

    ``cal_probs`` ``(n, K)`` and ``probs`` ``(N, K)``: predictive means; labels integers in
    [0, K). Coverage is the share of test examples with ``labels[i] ∈ C(x_i)``, set size the
    mean of ``|C(x_i)|``; both in [0, 1] and [0, K]. Raises `ValueError` on invalid input,
    an ``alpha`` outside (0, 1) or an unknown ``score``.
    """
    a = _check_alpha(alpha)
    sc = _check_score(score)
    cp, cy = check_probs(cal_probs, cal_labels)
    tp, ty = check_probs(probs, labels)
    if cp.shape[1] != tp.shape[1]:
        raise ValueError(f"calibration and test probabilities must have the same number of "
                         f"classes, found {cp.shape[1]} and {tp.shape[1]}")
    cal = label_scores(cp, score=sc, seed=seed)[np.arange(len(cy)), cy]
    qhat = conformal_quantile(cal, alpha=a)
    member = label_scores(tp, score=sc, seed=seed + 1) <= qhat
    return {"coverage": float(member[np.arange(len(ty)), ty].mean()),
            "set_size": float(member.sum(1).mean()), "qhat": qhat}


def conformal_set(cal_probs: Any, cal_labels: Any, probs: Any, labels: Any, *,
                  alpha: float = ALPHA, seed: int = 0) -> dict[str, float]:
    """``coverage_<score>`` and ``set_size_<score>`` for every score of `SCORES`
    (`split_conformal`), as `kdbench.evaluate` writes them."""
    out: dict[str, float] = {}
    for sc in SCORES:
        r = split_conformal(cal_probs, cal_labels, probs, labels, alpha=alpha, score=sc, seed=seed)
        out[f"coverage_{sc}"] = r["coverage"]
        out[f"set_size_{sc}"] = r["set_size"]
    return out
