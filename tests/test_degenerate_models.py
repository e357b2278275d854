"""Issue 24: every evaluate job survives any valid `Prediction`.

Degenerate models — uniform, one-hot on one class, one-hot and always wrong, Dirichlets that are
flat or nearly one-hot, two samples that disagree completely — go through the one evaluation
path (`kdbench.evaluate_model` -> `kdbench.jobs.evaluate_predictor`, the smoke suite's splits and
its four post-hoc calibrators) and their rows reach ``results/smoke/metrics.csv.gz`` with the
same metrics as an ordinary model's, every value a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import kdbench
from kdbench.config import load_suite
from kdbench.data.splits import eval_splits, load_dataset
from kdbench.metrics import EPS
from kdbench.prediction import Prediction

K = 10
KEY = ["posthoc", "split", "dataset", "severity"]
pytestmark = pytest.mark.xdist_group("degenerate")  # one worker computes `results` (about 5 s)


def _labels_by_image() -> dict[bytes, int]:
    """The smoke suite's label of every labelled image it evaluates (validation and splits)."""
    s = load_suite("smoke")
    ds = load_dataset(s.data.dataset, s.data.split, s.data.split_seed)
    out = {}
    for x, y in [(ds.val.x, ds.val.y)] + [(sp.x, sp.y) for sp in eval_splits(s.data)
                                          if sp.y is not None]:
        out.update({xi.numpy().tobytes(): int(yi) for xi, yi in zip(x, y)})
    return out


def _one_hot(classes: np.ndarray) -> np.ndarray:
    return np.eye(K)[classes]


def models(labels: dict[bytes, int]) -> dict[str, object]:
    """name -> callable(x) -> Prediction."""
    def true_class(x: torch.Tensor) -> np.ndarray:
        return np.array([labels.get(xi.numpy().tobytes(), 0) for xi in x])

    def reference(x):  # an ordinary model: random, seeded by the batch size
        rng = np.random.default_rng(len(x))
        return Prediction(probs=rng.dirichlet(np.ones(K), size=(1, len(x))))

    return {
        "reference": reference,
        "uniform": lambda x: Prediction(probs=np.full((1, len(x), K), 1.0 / K)),
        "one-hot": lambda x: Prediction(probs=_one_hot(np.full(len(x), 3))[None]),
        "all-wrong": lambda x: Prediction(probs=_one_hot((true_class(x) + 1) % K)[None]),
        "all-right": lambda x: Prediction(probs=_one_hot(true_class(x))[None]),
        "flat-dirichlet": lambda x: Prediction(alphas=np.full((len(x), K), 1e-3)),
        "sharp-dirichlet": lambda x: Prediction(
            alphas=np.where(np.arange(K) == 0, 1e6, 1e-6)[None].repeat(len(x), 0)),
        "disagreeing": lambda x: Prediction(probs=np.stack(
            [_one_hot(np.zeros(len(x), int)), _one_hot(np.ones(len(x), int))])),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    wd = tmp_path_factory.mktemp("degenerate")
    for name, fn in models(_labels_by_image()).items():
        kdbench.evaluate_model(fn, suite="smoke", name=name, workdir=wd)
    m = pd.read_csv(wd / "results" / "smoke" / "metrics.csv.gz")
    m["base"] = m.model.str.split("+").str[0]  # post-hoc variants are models "<name>+<calibrator>"
    return m


@pytest.mark.parametrize("name", [n for n in models({}) if n != "reference"])
def test_a_degenerate_model_has_every_row_of_an_ordinary_one(results, name):
    ref = results[results.base == "reference"]
    mine = results[results.base == name]
    assert len(mine) > 0
    # every (variant, split, metric) of the ordinary model (samples and Dirichlets add mi rows)
    want = set(map(tuple, ref[KEY + ["metric"]].astype(str).values))
    assert want <= set(map(tuple, mine[KEY + ["metric"]].astype(str).values))
    assert np.isfinite(mine.value).all(), mine[~np.isfinite(mine.value)][KEY + ["metric"]]
    assert "note" not in results.columns  # nothing here is undefined


def test_degenerate_values(results):
    def value(model, metric, split="id"):
        rows = results[(results.model == model) & (results.split == split)
                       & (results.metric == metric)]
        assert len(rows) and (rows.value == rows.value.iloc[0]).all()  # every OOD set alike
        return rows.value.iloc[0]

    assert value("all-wrong", "accuracy") == 0.0 and value("all-right", "accuracy") == 1.0
    assert value("all-wrong", "nll") == pytest.approx(-np.log(EPS))
    assert value("all-wrong", "ece") == 1.0 and value("all-right", "ece") == 0.0
    assert value("uniform", "entropy") == pytest.approx(np.log(K))
    assert value("uniform", "brier") == pytest.approx(1 - 1 / K)
    assert value("disagreeing", "mutual_information") == pytest.approx(np.log(2))
    # scores all equal between ID and OOD: chance-level detection
    assert value("uniform", "auroc_entropy", "ood") == 0.5


def test_an_undefined_metric_is_a_nan_row_with_its_note_and_a_report_footnote(tmp_path):
    """The evaluate job's rows (`kdbench.jobs.evaluate_predictor` builds them this way) keep an
    undefined metric's reason in the optional ``note`` column, through the CSV, to the report."""
    from kdbench import metrics as M
    from kdbench.evaluate import note
    from kdbench.report import undefined_notes
    from kdbench.report.document import to_markdown

    values = [("auroc_msp", M.auroc([0.1, 0.2], []), np.nan, np.nan),
              ("entropy", 0.5, np.nan, np.nan)]
    rows = [{"model": "m", "split": "ood", "metric": k, "value": v, "ci_low": lo, "ci_high": hi,
             **note(v)} for k, v, lo, hi in values]
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    back = pd.read_csv(tmp_path / "metrics.csv")
    assert np.isnan(back.value[0]) and back.note[0] == "no OOD examples: one class present"
    assert pd.isna(back.note[1])
    text = to_markdown(undefined_notes(back), tmp_path)
    assert "Undefined metrics" in text and "`auroc_msp` on ood (m): no OOD examples" in text
    # without undefined metrics there is no note column and no footnote
    assert "note" not in pd.DataFrame(rows[1:]).columns and undefined_notes(back.iloc[1:2]) == []
    assert undefined_notes(back.drop(columns="note")) == []
