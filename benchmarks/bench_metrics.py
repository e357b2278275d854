"""Calibration metrics: kdbench vs netcal (and scikit-learn) on the same inputs, one run.

For N = 100,000 and K = 10 / 100 it times ECE, adaptive ECE, MCE (kdbench and netcal), NLL
(kdbench and scikit-learn's log_loss), class-wise ECE and Brier (kdbench only: netcal has no
class-wise ECE or Brier), checks equal values, and prints the speed ratios. Then it times the
complete metric table of one ensemble model on every split of the default suite (76 labelled
splits of 1,000-1,797 images, 3 OOD sets), bootstrap intervals included.
Run: ``python benchmarks/bench_metrics.py``.
"""

from __future__ import annotations

import time

import numpy as np

from kdbench import metrics as M
from kdbench.evaluate import labelled_metrics, ood_metrics
from kdbench.prediction import Prediction


def timed(fn, repeat: int = 3) -> tuple[float, float]:
    value = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def probs(rng, n, k):
    z = rng.normal(size=(n, k)) * 2
    p = np.exp(z - z.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def main() -> None:
    from netcal.metrics import ECE, MCE
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    for k in (10, 100):
        p, y = probs(rng, 100_000, k), rng.integers(0, k, 100_000)
        pairs = {
            "ECE": (lambda: M.ece(p, y), lambda: ECE(bins=15).measure(p, y)),
            "adaptive ECE": (lambda: M.adaptive_ece(p, y),
                             lambda: ECE(bins=15, equal_intervals=False).measure(p, y)),
            "MCE": (lambda: M.mce(p, y), lambda: MCE(bins=15).measure(p, y)),
            "NLL (vs sklearn)": (lambda: M.nll(p, y), lambda: log_loss(y, p, labels=range(k))),
        }
        ours_total = theirs_total = 0.0
        print(f"N = 100,000, K = {k}")
        for name, (ours, theirs) in pairs.items():
            t_o, v_o = timed(ours)
            t_t, v_t = timed(theirs, repeat=1)
            ours_total += t_o
            theirs_total += t_t
            print(f"  {name:18s} kdbench {t_o * 1e3:8.1f} ms  reference {t_t * 1e3:8.1f} ms  "
                  f"x{t_t / t_o:6.1f}  |diff| {abs(v_o - v_t):.1e}")
        for name, fn in (("class-wise ECE", lambda: M.classwise_ece(p, y)),
                         ("Brier", lambda: M.brier(p, y))):
            print(f"  {name:18s} kdbench {timed(fn)[0] * 1e3:8.1f} ms  (no netcal equivalent)")
        print(f"  calibration set with a reference: kdbench x{theirs_total / ours_total:.1f} faster")

    # the complete table of one model (ensemble, S = 5) on the default suite's splits
    sizes = [1000] + [1000] * 75 + [1797]
    preds = [(Prediction(probs=rng.dirichlet(np.ones(10) * 0.3, size=(5, n))), rng.integers(0, 10, n))
             for n in sizes]
    ood = [Prediction(probs=rng.dirichlet(np.ones(10), size=(5, 1000))) for _ in range(3)]

    def table():
        for pred, y in preds:
            labelled_metrics(pred, y)
        for o in ood:
            ood_metrics(preds[0][0], o)
    t, _ = timed(table, repeat=1)
    print(f"complete metric table, one model, {len(sizes)} labelled + 3 OOD splits: {t:.2f} s")


if __name__ == "__main__":
    main()
