"""Metric and evaluation speed, kdbench vs netcal, side by side in one run.

1. Calibration set at N = 100,000, K = 10 and N = 50,000, K = 1,000: netcal's ECE, adaptive
   ECE (``ECE(equal_intervals=False)``, the equal-mass "ACE" of Nixon et al. 2019) and MCE, one
   call each, against kdbench's fused ``calibration_metrics`` (which computes those three plus
   ECE-L2, debiased ECE, class-wise ECE over all N·K probabilities, NLL and Brier after one
   validation) and against its top-label part alone. Values are printed side by side and must
   agree (|diff| shown). netcal's own ``ACE`` class (Neumann et al. 2018's unweighted mean
   over bins) has no kdbench counterpart and is not timed.
2. One model's complete evaluation on fake predictions of the default suite's shapes (an
   ensemble, S = 5, K = 10; 77 labelled splits — test, 75 corrupted, UCI digits of 1,797 —
   and 3 OOD sets of 1,000): the four post-hoc calibrators fitted on a validation split of 500,
   every variant's metric table with bootstrap CIs, reliability bins, risk–coverage and
   histograms, as ``kdbench.jobs.evaluate`` does minus inference. With ``--beta-netcal`` it
   also fits netcal's BetaCalibration on the same validation split for comparison.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py [--beta-netcal]``. The machine is
shared and noisy: compare ratios from one run.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from kdbench import metrics as M
from kdbench.evaluate import (N_BINS, histogram, labelled_metrics, ood_metrics,
                              risk_at_coverage, uncertainty_scores)
from kdbench.metrics import calibration as C
from kdbench.posthoc import CALIBRATORS
from kdbench.prediction import Prediction


def timed(fn, repeat: int = 3) -> tuple[float, object]:
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


def top_label_set(p, y) -> dict[str, float]:
    """kdbench's ECE, adaptive ECE and MCE after one validation (the part netcal computes)."""
    p, y = M.check_probs(p, y)
    conf, correct = C.top_label(p, y)
    width = C.binned(conf, correct, 15)
    mass = C.binned(conf, correct, C.equal_mass_edges(conf, 15))
    return {"ece": C._gap(*width, len(y), "l1"), "adaptive_ece": C._gap(*mass, len(y), "l1"),
            "mce": C._max_gap(*width)}


def calibration_set() -> None:
    from netcal.metrics import ECE, MCE

    rng = np.random.default_rng(0)
    for n, k in ((100_000, 10), (50_000, 1_000)):
        p, y = probs(rng, n, k), rng.integers(0, k, n)
        netcal = {"ece": lambda: ECE(bins=15).measure(p, y),
                  "adaptive_ece": lambda: ECE(bins=15, equal_intervals=False).measure(p, y),
                  "mce": lambda: MCE(bins=15).measure(p, y)}
        t_full, full = timed(lambda: M.calibration_metrics(p, y))
        t_top, top = timed(lambda: top_label_set(p, y))
        print(f"N = {n:,}, K = {k:,}")
        t_ref = 0.0
        for name, ref in netcal.items():
            t, v = timed(ref, repeat=1)
            t_ref += t
            print(f"  {name:13s} netcal {v:.12f} ({t * 1e3:7.1f} ms)   kdbench {full[name]:.12f}"
                  f"   |diff| {abs(v - full[name]):.1e}")
        print(f"  netcal ECE + adaptive ECE + MCE: {t_ref * 1e3:.1f} ms\n"
              f"  kdbench calibration_metrics (8 metrics incl. class-wise): {t_full * 1e3:.1f} ms"
              f"  -> x{t_ref / t_full:.1f}\n"
              f"  kdbench same three metrics, one validation: {t_top * 1e3:.1f} ms"
              f"  -> x{t_ref / t_top:.1f}")


def fake(rng, n, k=10, s=5, shift=0.0, labelled=True):
    """An ensemble-like prediction: S members around shared logits; accuracy falls with shift."""
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k))
    z[np.arange(n), y] += 2.5 * (1 - shift)
    zs = 2.0 * (z[None] + rng.normal(scale=0.5 + shift, size=(s, n, k)))
    p = np.exp(zs - zs.max(-1, keepdims=True))
    return Prediction(probs=p / p.sum(-1, keepdims=True)), (y if labelled else None)


def default_suite_splits(rng):
    out = [("id", *fake(rng, 1000))]
    out += [("corrupt", *fake(rng, 1000, shift=(i % 5) / 6)) for i in range(75)]
    out.append(("shift", *fake(rng, 1797, shift=0.5)))
    out += [("ood", *fake(rng, 1000, shift=0.9, labelled=False)) for _ in range(3)]
    return out


def evaluate_equivalent(val, val_y, splits, posthoc=("temperature", "histogram", "isotonic", "beta")):
    """`kdbench.jobs.evaluate` after inference: fit, transform, every metric row."""
    cal = {name: CALIBRATORS.create(name).fit(val, val_y) for name in posthoc}
    rows, id_preds = [], {}
    for kind, pred, y in splits:
        variants = {"-": pred, **{name: c.transform(pred) for name, c in cal.items()}}
        for variant, vpred in variants.items():
            if y is not None:
                rows += labelled_metrics(vpred, y)
                if kind == "id":
                    id_preds[variant] = vpred
            else:
                rows += ood_metrics(id_preds[variant], vpred)
        if y is not None:
            M.reliability_bins(pred.mean(), y, N_BINS)
            risk_at_coverage(pred, y)
        if kind != "corrupt":
            for score in uncertainty_scores(pred).values():
                histogram(score, np.log(10))
    return rows


def evaluation() -> None:
    import netcal.binning  # noqa: F401  (imported by a real evaluate job before the clock)

    rng = np.random.default_rng(0)
    val, val_y = fake(rng, 500)
    splits = default_suite_splits(rng)
    t, rows = timed(lambda: evaluate_equivalent(val, val_y, splits), repeat=1)
    t_beta, _ = timed(lambda: CALIBRATORS.create("beta").fit(val, val_y))
    print(f"evaluate-equivalent, one model (S = 5, K = 10), 77 labelled + 3 OOD splits, "
          f"5 variants: {t:.2f} s, {len(rows)} rows; beta fit {t_beta * 1e3:.0f} ms")
    if "--beta-netcal" in sys.argv:
        from netcal.scaling import BetaCalibration

        def netcal_beta():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                BetaCalibration().fit(val.mean(), val_y, random_state=0, tensorboard=False)
        t_nc, _ = timed(netcal_beta, repeat=1)
        print(f"  netcal BetaCalibration fit on the same split: {t_nc * 1e3:.0f} ms "
              f"(x{t_nc / t_beta:.0f})")


if __name__ == "__main__":
    calibration_set()
    evaluation()
