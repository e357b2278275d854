"""A run whose jobs all fail ends with their count, kinds and the first message."""

from kdbench.cli import main

SUITE = """
name = "allfail"
seeds = [0]
[data]
dataset = "mnist5k"
split = [100, 50, 50]
corruptions = []
shift = []
ood = []
corrupt_n = 50
[train]
epochs = 1
[students.small]
width = 2
[methods.bad]
kind = "test-diverges"
[[pairs]]
students = ["small"]
methods = ["bad"]
"""


def test_every_job_failing_is_summarised_not_a_results_error(tmp_path, capsys):
    suite = tmp_path / "allfail.toml"
    suite.write_text(SUITE)
    code = main(["--plugin", "plugin_nan", "run", "all", "--suite", str(suite), "--workdir",
                 str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no evaluate job finished, so there are no results, leaderboard or report" in err
    assert "1 job(s) failed, 1 skipped (failed: 1 train_student); first failure: train student " \
           "small-bad (seed 0): TrainingDiverged" in err
    assert "lacks column" not in err
    assert not (tmp_path / "LEADERBOARD.md").exists()
