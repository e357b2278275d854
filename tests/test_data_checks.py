"""Every check of the data files runs before the first job (`kdbench.data.splits.check_files`):
each kind of mismatch in files of the published formats (tests/fake_cifar.py) stops
``run all --suite cifar10-smoke`` with exit status 2, one line per problem, and no job."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.data import cifar, files
from kdbench.data.splits import check_files
from kdbench.errors import UserError

sys.path.insert(0, str(Path(__file__).parent))
from fake_cifar import _dump, _hwc_to_rows, class_images, write_fake_data  # noqa: E402


@pytest.fixture(scope="module")
def good_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("good-files")
    write_fake_data(root)   # 5 x 40 training images, 60 test images: what cifar10-smoke asks
    return root


@pytest.fixture
def root(good_root, tmp_path, monkeypatch):
    """A fresh copy of the good files, for a test to spoil; the data root variables are
    restored after the test (``--data-dir`` sets them)."""
    for name in (files.ENV, files.ENV_SOURCE):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    dst = tmp_path / "data"
    shutil.copytree(good_root, dst)
    return dst


def _run(root: Path, tmp_path: Path, capsys) -> tuple[int, list[str]]:
    code = main(["run", "all", "--suite", "cifar10-smoke", "--data-dir", str(root),
                 "--workdir", str(tmp_path / "wd"), "--quiet", "--no-report"])
    err = capsys.readouterr().err
    runs = tmp_path / "wd" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a job started"
    return code, err.splitlines()


def test_good_files_pass(good_root, monkeypatch):
    monkeypatch.setenv(files.ENV, str(good_root))
    check_files(load_suite("cifar10-smoke").data)


def test_cifar10_c_blocks_against_the_test_set(tmp_path, capsys, monkeypatch):
    """The issue's case: labels.npy blocks of 100 rows next to a test_batch of 200 images."""
    for name in (files.ENV, files.ENV_SOURCE):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    root = tmp_path / "data"
    info = write_fake_data(root, test=200)
    np.save(root / "CIFAR-10-C/labels.npy", np.tile(info["test_y"][:100], 5).astype(np.uint8))
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"kdbench: error: {root / 'CIFAR-10-C/labels.npy'}: blocks of 100 "
                               "rows, but cifar-10-batches-py/test_batch has 200 images")


def test_cifar10_c_labels_in_another_order(root, tmp_path, capsys):
    y = np.load(root / "CIFAR-10-C/labels.npy")
    y[60:120] = np.roll(y[60:120], 1)
    np.save(root / "CIFAR-10-C/labels.npy", y)
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert "labels.npy: severity 2's labels differ from test_batch's" in lines[0]


def test_corruption_file_with_wrong_shape(root, tmp_path, capsys):
    x = np.load(root / "CIFAR-10-C/fog.npy")
    np.save(root / "CIFAR-10-C/fog.npy", x[:250])
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith(f"{root / 'CIFAR-10-C/fog.npy'}: fog has shape 250×32×32×3, "
                             "expected 300×32×32×3")


def test_corruption_file_with_wrong_dtype(root, tmp_path, capsys):
    x = np.load(root / "CIFAR-10-C/snow.npy")
    np.save(root / "CIFAR-10-C/snow.npy", x.astype(np.float32) / 255)
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("CIFAR-10-C/snow.npy: snow has dtype float32, expected uint8")


def test_labels_out_of_range(root, tmp_path, capsys):
    y = np.load(root / "CIFAR-10-C/labels.npy").copy()
    y[7] = 12
    np.save(root / "CIFAR-10-C/labels.npy", y)
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("CIFAR-10-C/labels.npy: labels must lie in [0, 9]; found [0, 12]")


def test_training_batch_labels_out_of_range(root, tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 40)
    y[0] = 10
    _dump(root / "cifar-10-batches-py/data_batch_3",
          {b"labels": y.tolist(), b"data": _hwc_to_rows(class_images(y, rng))})
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1   # and no split-size line about the broken batch
    assert lines[0].endswith("data_batch_3: labels must lie in [0, 9]; found [0, 10]")


def test_cifar10_1_lengths_differ(root, tmp_path, capsys):
    y = np.load(root / "CIFAR-10.1/cifar10.1_v6_labels.npy")
    np.save(root / "CIFAR-10.1/cifar10.1_v6_labels.npy", y[:30])
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("cifar10.1_v6_data.npy: 40 images but cifar10.1_v6_labels.npy has "
                             "30 labels")


def test_split_larger_than_the_test_file(root, tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = np.arange(50) % 10
    _dump(root / "cifar-10-batches-py/test_batch",
          {b"labels": y.tolist(), b"data": _hwc_to_rows(class_images(y, rng))})
    np.save(root / "CIFAR-10-C/labels.npy", np.tile(y, 5).astype(np.uint8))
    for f in (root / "CIFAR-10-C").glob("*.npy"):
        if f.name != "labels.npy":
            np.save(f, np.load(f)[:250])
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("cifar10: split [160, 40, 60] asks for 60 test images; the test "
                             "file holds 50")


def test_svhn_header_checked(root, tmp_path, capsys):
    from scipy.io import savemat

    savemat(root / "svhn/test_32x32.mat", {"X": np.zeros((32, 32, 3, 5)),
                                           "y": np.ones((5, 1), np.uint8)})
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("svhn/test_32x32.mat: X has dtype float64, expected uint8")


def test_md5_of_a_full_size_file(root, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(cifar.FULL_N, "test_batch", 60)   # the fake test_batch is "full size"
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert "test_batch has 60 images like the published file but MD5" in lines[0]
    assert "expected 40351d587109b95175f43aff81a1287e" in lines[0]


def test_missing_folder_is_one_line(root, tmp_path, capsys):
    shutil.rmtree(root / "CIFAR-10-C")
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert "CIFAR-10-C file CIFAR-10-C/labels.npy not found" in lines[0]
    assert lines[0].endswith("(the folder CIFAR-10-C/ is missing)")


def test_several_problems_one_line_each(root, tmp_path, capsys):
    y = np.load(root / "CIFAR-10-C/labels.npy")
    np.save(root / "CIFAR-10-C/labels.npy", y[:100])                      # blocks of 20
    np.save(root / "CIFAR-10-C/fog.npy", np.zeros((300, 3, 32, 32), np.uint8))  # CHW
    np.save(root / "CIFAR-10.1/cifar10.1_v6_labels.npy", np.arange(41) % 10)
    (root / "svhn/test_32x32.mat").unlink()
    for b in range(1, 6):   # 5 x 20 = 100 training images; the suite asks for 200
        rng = np.random.default_rng(b)
        yb = rng.integers(0, 10, 20)
        _dump(root / f"cifar-10-batches-py/data_batch_{b}",
              {b"labels": yb.tolist(), b"data": _hwc_to_rows(class_images(yb, rng))})
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 5, lines
    assert lines[0].startswith("kdbench: error: SVHN file svhn/test_32x32.mat not found")
    assert lines[1].endswith("asks for 200 training and validation images; the training files "
                             "hold 100")
    assert "labels.npy: blocks of 20 rows, but cifar-10-batches-py/test_batch has 60" in lines[2]
    assert lines[3].endswith("fog.npy: fog has shape 300×3×32×32, expected 300×32×32×3")
    assert lines[4].endswith("40 images but cifar10.1_v6_labels.npy has 41 labels")


def test_evaluate_model_checks_the_files_first(root, tmp_path, monkeypatch):
    import torch

    from kdbench.user_model import evaluate_model

    np.save(root / "CIFAR-10.1/cifar10.1_v6_labels.npy", np.arange(41) % 10)
    monkeypatch.setenv(files.ENV, str(root))
    with pytest.raises(UserError, match="40 images but cifar10.1_v6_labels.npy has 41 labels"):
        evaluate_model(torch.nn.Flatten(), suite="cifar10-smoke", name="mine", workdir=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_a_broken_test_batch_is_one_line(root, tmp_path, capsys):
    """test_batch is read by the data set's check and by CIFAR-10-C's: its problem once."""
    y = np.arange(60) % 10
    _dump(root / "cifar-10-batches-py/test_batch",
          {b"labels": y.tolist(), b"data": np.zeros((60, 3072))})
    code, lines = _run(root, tmp_path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].endswith("test_batch: data has dtype float64, expected uint8")
