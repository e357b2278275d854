"""The cifar10-smoke suite end to end on small files in the published formats:
``python -m kdbench run all --suite cifar10-smoke --data-dir DIR`` (in process)."""

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from kdbench.cli import main
from kdbench.data import files

sys.path.insert(0, str(Path(__file__).parent))
from fake_cifar import write_fake_data  # noqa: E402

pytestmark = pytest.mark.xdist_group("cifar_run")  # one worker computes `cifar_run` (about 8 s)


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar-files")
    write_fake_data(root)
    wd = tmp_path_factory.mktemp("cifar-run")
    mp = pytest.MonkeyPatch()
    mp.delenv(files.ENV, raising=False)   # restored after the module: --data-dir sets it
    mp.delenv(files.ENV_SOURCE, raising=False)
    try:
        code = main(["run", "all", "--suite", "cifar10-smoke", "--data-dir", str(root),
                     "--workdir", str(wd), "--quiet", "--no-report"])
    finally:
        mp.undo()
    return code, wd


def test_results_name_every_cifar_split(cifar_run):
    code, wd = cifar_run
    assert code == 0
    m = pd.read_csv(wd / "results/cifar10-smoke/metrics.csv.gz")
    assert set(m[m.split == "ood"].dataset) == {"svhn", "cifar100", "noise"}
    assert set(m[m.split == "shift"].dataset) == {"cifar10.1"}
    corr = m[m.split == "corrupt"]
    assert corr.dataset.nunique() == 19 and {"gaussian_noise", "saturate", "jpeg_compression"} <= set(corr.dataset)
    for model in set(m.model):
        sev = corr[(corr.model == model)].groupby("dataset").severity.apply(set)
        assert (sev == {1, 2, 3, 4, 5}).all(), model
        assert set(m[m.model == model].split) == {"id", "corrupt", "shift", "ood"}
    assert m.value.map(math.isfinite).all()
    base = m[m.posthoc == "-"]
    assert {"single", "ensemble", "mc_dropout", "small-none", "small-kd-ensemble",
            "small-end2-ensemble"} <= set(base.model)
    # the teachers learned the fake classes: ID accuracy well above chance (0.1)
    acc = base[(base.split == "id") & (base.metric == "accuracy")].set_index("model").value
    assert acc["ensemble"] > 0.4


def test_report_tables_know_the_corruptions_came_from_files(cifar_run):
    import json

    from kdbench.report.tables import corruption_table

    _, wd = cifar_run
    info = json.loads((wd / "results/cifar10-smoke/run_info.json").read_text())
    assert (info["dataset"], info["corrupted"]) == ("cifar10", "cifar10-c")
    m = pd.read_csv(wd / "results/cifar10-smoke/metrics.csv.gz")
    tab = corruption_table(m[m.posthoc == "-"], "ece", ["single", "ensemble"], mnist_c=False)
    assert list(tab.columns) == ["single", "ensemble"] and len(tab) == 19


def test_missing_data_dir_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(files.ENV, raising=False)
    code = main(["run", "all", "--suite", "cifar10-smoke", "--data-dir", str(tmp_path / "none"),
                 "--workdir", str(tmp_path / "wd"), "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "cifar-10-batches-py/" in err and str(tmp_path / "none") in err and "--data-dir" in err
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in err


def test_split_larger_than_the_files_stops_before_any_job(tmp_path, capsys, monkeypatch):
    """Files that hold fewer images than the suite's split: one line before the run starts,
    not a failure in every job."""
    monkeypatch.delenv(files.ENV, raising=False)
    monkeypatch.delenv(files.ENV_SOURCE, raising=False)
    root = tmp_path / "data"
    write_fake_data(root, per_batch=20)  # 5 x 20 = 100 training images; the suite asks for 200
    code = main(["run", "all", "--suite", "cifar10-smoke", "--data-dir", str(root),
                 "--workdir", str(tmp_path / "wd"), "--quiet", "--no-report"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "asks for 200 training and validation images; the training files hold 100" in err
    assert not (tmp_path / "wd" / "runs").exists() or not any((tmp_path / "wd" / "runs").iterdir())
