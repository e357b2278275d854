"""The convergence rule (`kdbench.train.convergence`, docs/training.md) can fail, in each of
its three ways, and a real short training run fails it."""

import torch
import torch.nn.functional as F

from kdbench.data.mnist5k import LabelledImages
from kdbench.data.splits import load_dataset
from kdbench.models.cnn import cnn
from kdbench.train import OVERFIT_REL, TrainConfig, convergence, fit, is_converged


def curve(vals, train_acc=0.99):
    return [{"epoch": i + 1, "train_loss": v, "val_nll": v, "train_acc": train_acc}
            for i, v in enumerate(vals)]


def test_a_curve_that_keeps_falling_is_under_trained():
    c = curve([2.0, 1.6, 1.3, 1.05, 0.85, 0.7, 0.58, 0.48])
    assert convergence(c) == "under-trained"
    assert not is_converged(c)


def test_too_few_epochs_or_missing_val_nll_is_under_trained():
    assert convergence(curve([0.3, 0.3, 0.3])) == "under-trained"  # fewer than 2·w = 4 epochs
    c = curve([0.3] * 8)
    del c[3]["val_nll"]
    assert convergence(c) == "under-trained"


def test_a_curve_that_bottoms_out_and_rises_20_percent_is_over_fit():
    # flat enough at the end for the plateau check, but 20% above its minimum
    c = curve([1.0, 0.6, 0.40, 0.30, 0.36, 0.36, 0.36, 0.36])
    assert convergence(c) == "over-fit"
    assert not is_converged(c)
    # within the margin it passes
    c = curve([1.0, 0.6, 0.40, 0.30, 0.32, 0.32, 0.32, 0.32])
    assert 0.32 < (1 + OVERFIT_REL) * 0.30
    assert convergence(c) == "converged"


def test_a_flat_curve_converges():
    c = curve([0.9, 0.5, 0.35, 0.31, 0.30, 0.30, 0.30, 0.30])
    assert convergence(c) == "converged"
    assert is_converged(c)
    assert convergence(c, reference_train_acc=0.995) == "converged"  # within 2 points


def test_a_student_below_its_teacher_s_train_accuracy_is_under_fit():
    c = curve([0.9, 0.5, 0.35, 0.31, 0.30, 0.30, 0.30, 0.30], train_acc=0.95)
    assert convergence(c, reference_train_acc=0.99) == "under-fit"
    assert not is_converged(c, reference_train_acc=0.99)
    assert convergence(c) == "converged"  # a teacher is not judged on training accuracy


def test_precedence_under_trained_then_over_fit_then_under_fit():
    falling = curve([2.0, 1.6, 1.3, 1.05, 0.85, 0.7, 0.58, 0.48], train_acc=0.5)
    assert convergence(falling, reference_train_acc=0.99) == "under-trained"
    risen = curve([1.0, 0.6, 0.40, 0.30, 0.36, 0.36, 0.36, 0.36], train_acc=0.5)
    assert convergence(risen, reference_train_acc=0.99) == "over-fit"


def test_a_real_short_run_is_under_trained():
    """A width-16 CNN, 4 epochs on 400 training images: the validation NLL still falls fast
    (cosine decay or not), so the plateau check must fail."""
    ds = load_dataset("mnist5k", (3500, 500, 1000), 0)
    pick = torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(0))[:400]
    train = LabelledImages(ds.train.x[pick], ds.train.y[pick])  # the splits are sorted by class

    def monitor(net):
        with torch.no_grad():
            return {"val_nll": F.cross_entropy(net(ds.val.x), ds.val.y).item(),
                    "train_acc": (net(train.x).argmax(1) == train.y).float().mean().item()}

    torch.manual_seed(0)
    c = fit(cnn(width=16), train, lambda out, y, idx, progress: F.cross_entropy(out, y),
            config=TrainConfig(epochs=4, batch_size=16, lr=1e-3), seed=0, progress=False,
            monitor=monitor)
    vals = [r["val_nll"] for r in c]
    assert len(vals) == 4 and vals[-1] < vals[0]
    assert convergence(c) == "under-trained"
    assert not is_converged(c)


def test_sweep_flags_a_budget_that_a_longer_one_still_beats():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "sweep.py"
    spec = importlib.util.spec_from_file_location("sweep", path)
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    rows = [("none", 0.01, 10, {"val_nll": 0.1115}), ("none", 0.01, 15, {"val_nll": 0.1094}),
            ("mc_dropout", 0.005, 10, {"val_nll": 0.1218}), ("mc_dropout", 0.005, 20, {"val_nll": 0.0853})]
    flags = sweep.flag_short_budgets(rows)
    assert len(flags) == 1 and flags[0].startswith("mc_dropout lr=0.005 epochs=10")
