"""Every figure at 40 models: rendered from synthetic results (3 teachers, 9 methods, +int8 and
+prune80 variants, 3 seeds) with no two text artists overlapping, and the shared key.
(`write_figures` itself, its files and their byte stability: tests/test_report.py.)"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image

matplotlib.use("Agg")

from kdbench.report.figures import STYLE, crowded_axes, figure_tasks, forest_figure  # noqa: E402
from kdbench.report.style import MAX_CURVES  # noqa: E402
from kdbench.report.style import (FALLBACK_MARKERS, LABELS_ONLY, LABELS_ONLY_COLOUR,  # noqa: E402
                                  METHOD_MARKERS, make_key, variant_of)
from kdbench.report.tables import model_order, paired_comparisons  # noqa: E402

TEACHERS = ["single", "ensemble", "mc_dropout"]
METHODS = ["kd", "sample-kd", "end2", "end2-proxy", "hydra", "dkd", "dist", "kd-std"]
CORRUPTIONS = ["shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale",
               "rotate", "brightness", "translate", "stripe", "fog", "spatter", "dotted_line",
               "zigzag", "canny_edges"]
SEEDS = [0, 1, 2]


def model_table() -> pd.DataFrame:
    """40 models: 3 teachers, 8 distilled methods per teacher, one labels-only student, and
    +int8 / +prune80 variants of the kd and hydra students."""
    rows = [dict(model=t, role="teacher", teacher=t, method="-", student="-") for t in TEACHERS]
    rows.append(dict(model="small-none", role="student", teacher="-", method="none", student="small"))
    for t, m in itertools.product(TEACHERS, METHODS):
        rows.append(dict(model=f"small-{m}-{t}", role="student", teacher=t, method=m, student="small"))
    for t, m, v in itertools.product(TEACHERS, ["kd", "hydra"], ["int8", "prune80"]):
        rows.append(dict(model=f"small-{m}-{t}+{v}", role="student", teacher=t, method=m,
                         student="small"))
    return pd.DataFrame(rows)


def synthetic_results(root: Path) -> Path:
    """A results directory with every table the figures read, values drawn at random."""
    rng = np.random.default_rng(0)
    models = model_table()
    assert len(models) == 40
    out = root / "results"
    out.mkdir(parents=True)
    splits = ([("id", "test", 0), ("shift", "digits", 0)]
              + [("corrupt", c, s) for c in CORRUPTIONS for s in range(1, 6)])
    metric_rows = []
    for (_, m), seed in itertools.product(models.iterrows(), SEEDS):
        ident = dict(seed=seed, **m.to_dict(), posthoc="-")
        for split, ds, sev in splits:
            hard = 0.1 * sev + (0.3 if split == "shift" else 0.0)
            vals = {"accuracy": 0.97 - hard + rng.normal(0, 0.01), "nll": 0.1 + hard + rng.random() * 0.05,
                    "brier": 0.05 + hard / 2, "ece": 0.02 + hard / 3 + rng.random() * 0.02,
                    "coverage_lac": 0.9 - hard / 2 + rng.normal(0, 0.01), "set_size_lac": 1 + hard,
                    "coverage_aps": 0.9 - hard / 4 + rng.normal(0, 0.01), "set_size_aps": 1.2 + 2 * hard}
            metric_rows += [dict(ident, split=split, dataset=ds, severity=sev, metric=k, value=v)
                            for k, v in vals.items()]
        for ds in ("photos", "letters", "noise"):
            metric_rows += [dict(ident, split="ood", dataset=ds, severity=0, metric=f"auroc_{s}",
                                 value=float(np.clip(0.8 + rng.normal(0, 0.08), 0, 1)))
                            for s in ("msp", "entropy", "mi")]
    metrics = pd.DataFrame(metric_rows)
    metrics["ci_low"] = metrics["ci_high"] = np.nan
    metrics.to_csv(out / "metrics.csv", index=False)

    base = models.model.tolist()
    edges = np.linspace(0, 1, 16)
    rel = []
    for m, seed, (split, ds, sev) in itertools.product(base, SEEDS, [s for s in splits if s[2] in (0, 5)]):
        counts = rng.multinomial(1000, np.linspace(0.01, 1, 15) ** 3 / np.sum(np.linspace(0.01, 1, 15) ** 3))
        conf = (edges[:-1] + edges[1:]) / 2
        rel += [dict(seed=seed, model=m, split=split, dataset=ds, severity=sev, bin=i, lo=edges[i],
                     hi=edges[i + 1], count=int(counts[i]), confidence=conf[i],
                     accuracy=float(np.clip(conf[i] - 0.1 * rng.random(), 0, 1)))
                for i in range(15)]
    pd.DataFrame(rel).to_csv(out / "reliability.csv", index=False)

    hist = []
    hedges = np.linspace(0, np.log(10), 31)
    for m, seed, (split, ds), q in itertools.product(
            base, SEEDS, [("id", "test"), ("shift", "digits"), ("ood", "photos"), ("ood", "letters"),
                          ("ood", "noise")], ("entropy", "mi")):
        counts = rng.multinomial(500, np.full(30, 1 / 30))
        hist += [dict(seed=seed, model=m, split=split, dataset=ds, severity=0, quantity=q, bin=i,
                      lo=hedges[i], hi=hedges[i + 1], count=int(counts[i])) for i in range(30)]
    pd.DataFrame(hist).to_csv(out / "histograms.csv", index=False)

    rc = []
    cov = np.round(np.linspace(0.05, 1, 20), 2)
    for m, seed, (split, ds, sev) in itertools.product(
            base, SEEDS, [("id", "test", 0)] + [("corrupt", c, 5) for c in CORRUPTIONS]):
        risk = np.sort(rng.random(20)) * (0.05 if split == "id" else 0.5)
        rc += [dict(seed=seed, model=m, split=split, dataset=ds, severity=sev, coverage=c, risk=r)
               for c, r in zip(cov, risk)]
    pd.DataFrame(rc).to_csv(out / "risk_coverage.csv", index=False)

    curves = []
    for m, seed, epoch in itertools.product([b for b in base if "+" not in b], SEEDS, range(1, 11)):
        curves += [dict(seed=seed, model=m, member=0, epoch=epoch, metric="val_nll",
                        value=0.5 / epoch + 0.05),
                   dict(seed=seed, model=m, member=0, epoch=epoch, metric="train_acc",
                        value=1 - 0.3 / epoch)]
    pd.DataFrame(curves).to_csv(out / "curves.csv", index=False)
    return out


def _drawn_tick_labels(fig: plt.Figure) -> tuple[set[int], set[int]]:
    """(ids of every tick label, ids of those actually drawn) — ticks outside the view limits
    keep a label object that is never drawn."""
    every, drawn = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                every |= {id(tick.label1), id(tick.label2)}
            for tick in axis._update_ticks():
                drawn |= {id(t) for t in (tick.label1, tick.label2) if t.get_visible()}
    return every, drawn


def text_overlaps(fig: plt.Figure, *, tol: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty text artists of ``fig`` whose window extents overlap by more
    than ``tol`` pixels in both directions."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    every, drawn = _drawn_tick_labels(fig)
    boxes = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if id(t) in every and id(t) not in drawn:
            continue
        boxes.append((t.get_text(), t.get_window_extent(renderer)))
    if not boxes:
        return []
    # every pair at once (a figure at 40 models has a few thousand text artists)
    x0, y0, x1, y1 = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in boxes]).T
    w = np.minimum.outer(x1, x1) - np.maximum.outer(x0, x0)
    h = np.minimum.outer(y1, y1) - np.maximum.outer(y0, y0)
    i, j = np.nonzero(np.triu((w > tol) & (h > tol), k=1))  # i < j: itertools.combinations order
    return [(boxes[a][0], boxes[b][0]) for a, b in zip(i.tolist(), j.tolist())]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return synthetic_results(tmp_path_factory.mktemp("fig40"))


def test_negative_control_catches_an_overlap():
    fig, ax = plt.subplots()
    ax.set_title("small-end2-ensemble")
    ax.text(0.5, 0.5, "small-hydra-ensemble")
    ax.text(0.52, 0.5, "small-kd-ensemble")  # on top of the previous label
    assert text_overlaps(fig) == [("small-hydra-ensemble", "small-kd-ensemble")]
    plt.close(fig)


STEMS_40 = ["forest", "reliability", "reliability_compressed", "metric_vs_severity",
            "compressed_severity", "conformal", "ece_by_corruption_sev3", "ece_by_corruption_sev5",
            "ood_entropy", "ood_mi", "ood_auroc", "retention", "accuracy_vs_ece", "risk_coverage",
            "training_curves"]


@pytest.fixture(scope="module")
def tasks_40(results) -> dict:
    """stem -> (builder, args) of every figure file of the 40-model results, in drawing order."""
    return {stem: (fn, args) for stem, fn, args in figure_tasks(results)}


def test_every_figure_is_drawn_at_40_models(tasks_40):
    assert list(tasks_40) == STEMS_40


# one test per figure (the figures at 40 models take 20-30 s together), so that the two
# xdist workers share them
@pytest.mark.parametrize("stem", STEMS_40)
def test_every_figure_at_40_models_has_no_overlapping_text(tasks_40, stem, tmp_path):
    fn, args = tasks_40[stem]
    with plt.rc_context(STYLE):
        fig = fn(*args)
        assert fig is not None, stem
        bad = text_overlaps(fig)
        crowded = crowded_axes(fig)[:5]
        w, h = fig.get_size_inches()
        # the image text_overlaps drew (figure dpi 100), saved without drawing it again; at
        # this dpi a PNG is about twice the size of the dpi-60 one that had to pass 10 kB
        Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).save(tmp_path / f"{stem}.png")
        plt.close(fig)
    assert (tmp_path / f"{stem}.png").stat().st_size > 20_000, stem
    assert w < 40 and h < 40, (stem, w, h)
    assert not bad, bad[:5]
    assert not crowded, f"axes with more than {MAX_CURVES} curves: {crowded}"


def test_negative_control_the_curve_limit_sees_a_crowded_axes():
    fig, (a, b) = plt.subplots(1, 2)
    x = np.linspace(0, 1, 10)
    for k in range(MAX_CURVES + 1):
        a.plot(x, x + k)
    for k in range(MAX_CURVES):
        b.plot(x, x * k)
    a.set_title("crowded")
    b.axhline(0.5)  # reference lines and markers without a line are not curves
    b.plot(x, x, ls="", marker="o")
    assert crowded_axes(fig) == [("crowded", MAX_CURVES + 1)]
    plt.close(fig)


def test_shared_key_colours_markers_and_fills():
    m = model_table().assign(model=lambda d: d.model)
    m = pd.concat([m, pd.DataFrame([dict(model="small-myplugin-single", role="student",
                                         teacher="single", method="myplugin", student="small")])])
    key = make_key(m, m.model.tolist())
    assert key.groups == ["single", "ensemble", "mc_dropout", LABELS_ONLY]
    assert key.colour("small-none") == LABELS_ONLY_COLOUR
    assert key.colour("small-kd-ensemble") == key.colour("ensemble") != key.colour("single")
    assert key.marker("ensemble") == "*"
    markers = {key.marker(f"small-{meth}-single") for meth in METHODS} | {key.marker("small-none")}
    assert len(markers) == 9  # nine methods, nine markers
    assert key.marker("small-myplugin-single") == next(
        mk for mk in FALLBACK_MARKERS if mk not in METHOD_MARKERS.values())
    assert key.fill("small-kd-single") == "full"
    assert key.fill("small-kd-single+int8") == "none"
    assert key.fill("small-kd-single+prune80") == "left"
    assert variant_of("a+prune80+int8") == ("int8", "prune")
    assert key.short_label("small-kd-single+prune80") == "kd+prune80"
    assert key.long_label("small-hydra-mc_dropout") == "mc_dropout · hydra"


def forest_frame() -> pd.DataFrame:
    """A teacher, the labels-only student, a kd student and its +int8 variant, and the
    temperature-scaled (posthoc "temperature") variants of the first three, over 3 seeds. Raw:
    kd − labels-only = −0.1 and kd − teacher = +0.1 in every seed (significant); TS: the
    differences are (0.02, −0.03, 0.01) (not significant)."""
    ids = {"single": dict(role="teacher", teacher="single", method="-", student="-"),
           "small-none": dict(role="student", teacher="-", method="none", student="small"),
           "small-kd-single": dict(role="student", teacher="single", method="kd", student="small"),
           "small-kd-single+int8": dict(role="student", teacher="single", method="kd",
                                        student="small")}
    raw = {"single": [0.0] * 3, "small-none": [0.2] * 3,
           "small-kd-single": [0.101, 0.099, 0.1005], "small-kd-single+int8": [0.3, 0.31, 0.29]}
    ts = {"single": [0.05] * 3, "small-none": [0.05] * 3, "small-kd-single": [0.07, 0.02, 0.06]}
    cells = [("id", "test", 0, "nll"), ("corrupt", "fog", 1, "ece"), ("shift", "digits", 0, "nll"),
             ("ood", "photos", 0, "auroc_entropy")]
    rows = []
    for table, posthoc in ((raw, None), (ts, "temperature")):
        for model, values in table.items():
            name = model if posthoc is None else f"{model}+{posthoc}"
            ph = posthoc or ("int8" if model.endswith("+int8") else "-")
            for seed, v in enumerate(values):
                rows += [dict(ids[model], model=name, seed=seed, posthoc=ph, split=split,
                              dataset=ds, severity=sev, metric=metric, value=v)
                         for split, ds, sev, metric in cells]
    return pd.DataFrame(rows)


def _markers(axes: list[plt.Axes]) -> list[tuple[str, bool, float]]:
    """(marker, filled, x) of every data marker of ``axes`` (not the 0 line, not the error
    bars' caps)."""
    out = []
    for ax in axes:
        for line in ax.lines:
            if line.get_marker() in (None, "None", "", " ", "|", "_"):
                continue
            face = matplotlib.colors.to_rgba(line.get_markerfacecolor())
            filled = face == matplotlib.colors.to_rgba(line.get_markeredgecolor())
            out += [(line.get_marker(), filled, float(x)) for x in line.get_xdata()]
    return out


def test_forest_draws_raw_and_temperature_scaled_comparisons():
    everything = forest_frame()
    metrics = everything[everything.posthoc.isin(["-", "int8"])]  # what figure_models keeps
    key = make_key(metrics, model_order(metrics))
    with plt.rc_context(STYLE):
        fig = forest_figure(metrics, key, everything=everything)
        assert fig is not None
        # one student row: the labels-only student is its own baseline, +int8 stays out
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == [f"1  {key.long_label('small-kd-single')}"]  # row 1 of the answer table
        marks = _markers(fig.axes)
        assert len(fig.axes) == 8 and len(marks) == 16  # 2 references x 4 metrics x raw/TS
        assert {(m, f) for m, f, _ in marks} == {("o", True), ("D", False)}
        # the numbers are those of paired_comparisons (student − labels-only, ID NLL, first panel)
        pairs = paired_comparisons(everything, ["small-kd-single"])
        ax0 = [(m, x) for m, _, x in _markers(fig.axes[:1])]
        want = pairs[(pairs.column == "ID NLL")].set_index("reference_kind")["mean"]
        assert dict(ax0) == pytest.approx({"o": want["labels-only"], "D": want["labels-only (TS)"]})
        assert dict(ax0)["o"] == pytest.approx(-0.1, abs=1e-3)
        legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        assert "raw" in legend and "temperature-scaled (both sides)" in legend
        assert not text_overlaps(fig)
        plt.close(fig)
        # the old call (no post-hoc rows): raw markers only
        fig = forest_figure(metrics, key)
        assert {m for m, _, _ in _markers(fig.axes)} == {"o"}
        plt.close(fig)
