"""The one validation helper at the door of every metric (scikit-learn's ``check_*`` idea).

Raises `ValueError` saying what was expected and what was found.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ROW_SUM_TOL = 1e-3
def _to_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be an array or tensor; found {type(x).__name__}") from e


def check_probs(probs: Any, labels: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate and convert ``probs`` ``(N, K)`` and optional ``labels`` ``(N,)``.

    Returns float64 probabilities and int64 labels. Raises `ValueError` for a wrong shape,
    NaN/inf, negative entries, rows that do not sum to 1 (tolerance 1e-3), non-integer labels,
    labels out of range, or N = 0.
    """
    p = _to_numpy(probs, "probs")
    if p.ndim != 2:
        raise ValueError(f"probs must have shape (N, K); found shape {p.shape}")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must have N >= 1 examples and K >= 1 classes; found {p.shape}")
    p = np.asarray(p, dtype=np.float64)  # no copy for float64 input
    sums = p.sum(1)  # NaN or inf anywhere in a row makes its sum non-finite
    if not np.all(np.isfinite(sums)):
        raise ValueError("probs contains NaN or infinite values")
    if p.min() < 0:
        raise ValueError(f"probs must be non-negative; found minimum {p.min():.3g}")
    bad = np.abs(sums - 1) > ROW_SUM_TOL
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"probs rows must sum to 1 (tolerance {ROW_SUM_TOL}); row {i} sums to {sums[i]:.6g}"
            " — pass probabilities, not logits"
        )
    if labels is None:
        return p, None
    y = _to_numpy(labels, "labels")
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must have shape ({p.shape[0]},) to match probs; found {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("labels must be integers")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers; found dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(
            f"labels must lie in [0, {p.shape[1] - 1}]; found range [{y.min()}, {y.max()}]"
        )
    return p, y


def check_scores(scores: Any, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """Validate a 1-D finite score vector with at least one entry (``allow_empty``: or none,
    for the OOD metrics, which are undefined rather than invalid on an empty set)."""
    s = _to_numpy(scores, name).astype(np.float64)
    if s.ndim != 1 or (s.size == 0 and not allow_empty):
        raise ValueError(f"{name} must be a non-empty 1-D array; found shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return s


