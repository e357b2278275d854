"""Teacher–student fidelity on the same inputs: top-1 agreement and KL(teacher ‖ student)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .scores import EPS
from .undefined import Undefined
from .validation import check_probs


def _pair(teacher: Any, student: Any) -> tuple[np.ndarray, np.ndarray]:
    t, _ = check_probs(teacher)
    s, _ = check_probs(student)
    if t.shape != s.shape:
        raise ValueError(f"teacher and student probs must have the same shape; found {t.shape} and {s.shape}")
    return t, s


def agreement(teacher: Any, student: Any) -> float:
    """Fraction of examples where the argmax classes agree (ties: lowest index)."""
    t, s = _pair(teacher, student)
    return float(np.mean(t.argmax(1) == s.argmax(1)))


def kl_per_example(teacher: Any, student: Any) -> np.ndarray:
    """KL(teacher ‖ student) = Σ_k t_k (log t_k − log s_k) per example ``(N,)``, nats; both
    clamped at 1e-12 inside the logs, 0·log 0 = 0."""
    t, s = _pair(teacher, student)
    return (t * (np.log(np.clip(t, EPS, None)) - np.log(np.clip(s, EPS, None)))).sum(1)


def kl_divergence(teacher: Any, student: Any) -> float:
    """Mean KL(teacher ‖ student) over examples, nats."""
    return float(kl_per_example(teacher, student).mean())


def retention(student_value: float, teacher_value: float) -> float:
    """student / teacher: the fraction of the teacher's value the student keeps (`Undefined`,
    a NaN with its reason, when the teacher's value is 0)."""
    if teacher_value == 0:
        return Undefined("teacher value is 0")
    return float(student_value / teacher_value)
