"""Undefined metric values: a NaN that carries its reason.

A metric is *undefined* on valid input when its formula has no value there: AUROC, AUPR and
FPR@TPR when the ID or the OOD score set is empty (one class present), a retention ratio whose
teacher value is 0. It then returns ``Undefined(reason)`` instead of raising: a ``float`` NaN
(every metric still returns a float; arithmetic, numpy and pandas see NaN) whose ``reason``
says why. No warning is emitted; `kdbench.evaluate` copies the reason into the optional
``note`` column of the metric rows (docs/metrics.md, "Undefined values").

Invalid input — a wrong shape, NaN or infinite values, rows not summing to 1, labels out of
range — is not undefined: it still raises `ValueError`.

>>> v = Undefined("no OOD examples")
>>> v != v, reason(v), reason(0.5)
(True, 'no OOD examples', '')
"""

from __future__ import annotations


class Undefined(float):
    """NaN with a ``reason`` (a short sentence fragment: "no OOD examples")."""

    reason: str

    def __new__(cls, reason: str) -> Undefined:
        self = super().__new__(cls, "nan")
        self.reason = str(reason)
        return self

    def __reduce__(self):  # pickles (process and dask executors) with its reason
        return (Undefined, (self.reason,))

    def __repr__(self) -> str:
        return f"Undefined({self.reason!r})"

    def __str__(self) -> str:  # prints like the float it is
        return "nan"


def reason(value: object) -> str:
    """The reason of an `Undefined` value; ``""`` for any other value."""
    return value.reason if isinstance(value, Undefined) else ""
