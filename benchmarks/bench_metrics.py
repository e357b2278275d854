"""Calibration metrics: kdbench vs netcal (and scikit-learn) on the same inputs, one run.

For N = 100,000 and K = 10 / 100 it times the full calibration set — ECE, adaptive ECE, MCE and
class-wise ECE (netcal; class-wise as netcal's binary ECE per class, averaged), NLL and Brier
(scikit-learn) — against kdbench's functions one at a time and its fused
``calibration_metrics``, checks equal values, and prints the speed ratios. Then it times the
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
    from sklearn.metrics import brier_score_loss, log_loss

    rng = np.random.default_rng(0)
    for k in (10, 100):
        p, y = probs(rng, 100_000, k), rng.integers(0, k, 100_000)
        reference = {
            "ece": lambda: ECE(bins=15).measure(p, y),
            "adaptive_ece": lambda: ECE(bins=15, equal_intervals=False).measure(p, y),
            "mce": lambda: MCE(bins=15).measure(p, y),
            # netcal's class-wise ECE: one binary ECE per class, averaged
            "classwise_ece": lambda: np.mean([ECE(bins=15).measure(p[:, c], (y == c).astype(int))
                                              for c in range(k)]),
            "nll": lambda: log_loss(y, p, labels=range(k)),
            "brier": lambda: brier_score_loss(y, p, labels=range(k), scale_by_half=False),
        }
        ours_single = {"ece": M.ece, "adaptive_ece": M.adaptive_ece, "mce": M.mce,
                       "classwise_ece": M.classwise_ece, "nll": M.nll, "brier": M.brier}
        t_set, ours_set = timed(lambda: M.calibration_metrics(p, y))
        print(f"N = 100,000, K = {k}")
        t_ref_total = t_single_total = 0.0
        for name, ref in reference.items():
            t_ref, v_ref = timed(ref, repeat=1)
            t_one, v_one = timed(lambda: ours_single[name](p, y))
            t_ref_total += t_ref
            t_single_total += t_one
            print(f"  {name:14s} reference {t_ref * 1e3:8.1f} ms   kdbench {t_one * 1e3:7.1f} ms "
                  f"(x{t_ref / t_one:5.1f})   |diff| {abs(v_ref - v_one):.1e}, "
                  f"set |diff| {abs(v_ref - ours_set[name]):.1e}")
        print(f"  full set: netcal + scikit-learn {t_ref_total * 1e3:.0f} ms, kdbench one function "
              f"at a time {t_single_total * 1e3:.0f} ms (x{t_ref_total / t_single_total:.1f}), "
              f"kdbench calibration_metrics {t_set * 1e3:.0f} ms (x{t_ref_total / t_set:.1f})")

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
