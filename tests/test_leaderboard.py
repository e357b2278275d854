"""Leaderboard rows, ranking, and a pair added from a plugin with add-pair."""

import re
import shutil

import pandas as pd

from kdbench.cli import main


def test_run_all_writes_the_ranked_leaderboard(smoke):
    wd, _ = smoke
    board = pd.read_csv(wd / "results/leaderboard.csv", keep_default_na=False, na_values=[""])
    part = board[board.suite == "smoke"]
    assert list(part["rank"]) == list(range(1, len(part) + 1))
    assert part.rank_nll.is_monotonic_increasing
    assert {"ensemble", "small-kd-ensemble", "small-end2-ensemble+temperature"} <= set(part.model)
    row = part.set_index("model").loc["small-kd-ensemble"]
    assert row.teacher == "ensemble" and row.method == "kd" and row.posthoc == "-"
    assert 0 < row.keep_ood_auroc < 2 and row.parameters > 0 and row.ms_per_image > 0
    assert part.set_index("model").loc["ensemble", "parameters"] == 2 * part.set_index("model").loc["single", "parameters"]
    md = (wd / "LEADERBOARD.md").read_text()
    assert "## smoke" in md and "| 1 |" in md


def test_add_pair_from_a_plugin(smoke, tmp_path, capsys):
    wd = tmp_path / "wd"
    shutil.copytree(smoke[0], wd)
    before = pd.read_csv(wd / "results/leaderboard.csv", keep_default_na=False, na_values=[""])
    code = main(["--plugin", "plugin_pair", "add-pair", "--suite", "smoke", "--teacher", "ensemble",
                 "--student", "tiny-mlp", "--method", "soft-labels", "--workdir", str(wd),
                 "--quiet", "--no-report"])
    out = capsys.readouterr().out
    assert code == 0, out
    # only the new student + its evaluation (smoke's [compress] methods do not match soft-labels)
    assert re.search(r"\(2 jobs run, \d+ from the store\)", out)
    board = pd.read_csv(wd / "results/leaderboard.csv", keep_default_na=False, na_values=[""])
    new = set(board.model) - set(before.model)
    name = "tiny-mlp-soft-labels-ensemble"
    calibrators = {m.split("+")[1] for m in before.model if m.startswith("small-kd-ensemble+")
                   and not m.endswith(("+int8", "+prune80"))}
    assert calibrators and new == {name} | {f"{name}+{c}" for c in calibrators}
    row = board.set_index("model").loc[name]
    assert row.teacher == "ensemble" and row.method == "soft-labels" and row.id_accuracy > 0.2
    assert "tiny-mlp-soft-labels-ensemble" in (wd / "LEADERBOARD.md").read_text()
    # running it again updates the same row instead of adding one
    assert main(["--plugin", "plugin_pair", "add-pair", "--suite", "smoke", "--teacher", "ensemble",
                 "--student", "tiny-mlp", "--method", "soft-labels", "--workdir", str(wd),
                 "--quiet", "--no-report"]) == 0
    assert "(0 jobs run" in capsys.readouterr().out
    assert len(pd.read_csv(wd / "results/leaderboard.csv")) == len(board)


def test_add_pair_bad_names(smoke, capsys):
    wd, _ = smoke
    assert main(["add-pair", "--suite", "smoke", "--teacher", "ensembel", "--student", "small",
                 "--method", "kd", "--workdir", str(wd)]) == 2
    assert "did you mean 'ensemble'" in capsys.readouterr().err
    assert main(["add-pair", "--suite", "smoke", "--teacher", "single", "--student", "small",
                 "--method", "end2", "--workdir", str(wd)]) == 2
    assert "needs several teacher samples" in capsys.readouterr().err
    assert main(["add-pair", "--suite", "smoke", "--teacher", "single", "--student", "resnet",
                 "--method", "kd", "--workdir", str(wd)]) == 2
    assert "unknown student 'resnet'" in capsys.readouterr().err


def test_leaderboard_rows_carry_seed_intervals_noise_and_convergence():
    """Synthetic 3-seed results (tests/test_report.py): rank NLL is the per-seed mean NLL over
    ID + shifted splits, with its t-interval; OOD AUROC over the natural sets, noise apart."""
    import math

    import numpy as np

    from kdbench.report.leaderboard import leaderboard_markdown, suite_rows
    from test_report import IDENT, T975_2, synthetic_metrics

    metrics = synthetic_metrics()
    models = pd.DataFrame([{"seed": s, "model": m, "role": r, "teacher": t, "method": me,
                            "student": st, "status": "ok", "parameters": 10, "members": 1,
                            "ms_per_image": 0.1, "converged": not (m == "small-none" and s == 2)}
                           for s in (0, 1, 2) for m, (r, t, me, st) in IDENT.items()])
    board = suite_rows("syn", metrics, models).set_index("model")
    # small-kd-ensemble's NLL rows per seed: ID and shift (no corrupt NLL rows here)
    per_seed = (np.array([0.25, 0.26, 0.28]) + [1.7, 1.8, 1.75]) / 2
    row = board.loc["small-kd-ensemble"]
    assert abs(row.rank_nll - per_seed.mean()) < 1e-12
    half = T975_2 * per_seed.std(ddof=1) / math.sqrt(3)
    assert abs(row.rank_nll_hi - row.rank_nll - half) < 1e-12
    assert abs(row.ood_auroc_best - 0.77) < 1e-12 and row.ood_best_score == "entropy"
    assert abs(row.noise_auroc_entropy - 0.34) < 1e-12
    keep = (np.array([0.75, 0.77, 0.79]) / [0.925, 0.935, 0.945]).mean()
    assert abs(row.keep_ood_auroc - keep) < 1e-12
    assert row.seeds == 3 and bool(row.converged) and not board.loc["small-none", "converged"]
    assert list(board["rank"]) == [1, 2, 3] and board.index[0] == "ensemble"
    md = leaderboard_markdown(board.reset_index())
    assert f"{row.rank_nll:.3f} ± {half:.3f}" in md
    assert "| small-none † |" in md
    # one seed: means only, no ±
    one = suite_rows("syn", synthetic_metrics(seeds=(0,)), models[models.seed == 0])
    assert one.rank_nll_lo.isna().all() and " ± " not in leaderboard_markdown(one).split("## syn")[1]
