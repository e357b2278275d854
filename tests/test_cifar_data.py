"""Readers of the CIFAR family's published file formats, on small files written in them
(tests/fake_cifar.py): shapes, labels, splits, checks and the one-line errors."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.data import CORRUPTED_SETS, DATASETS, OOD_SETS, SHIFT_SETS
from kdbench.data import files
from kdbench.data.corrupted import BENCHMARK, CIFAR10_C_TYPES, EXTRA
from kdbench.data.images import crop_flip
from kdbench.data.registry import fits
from kdbench.data.splits import load_dataset
from kdbench.errors import UserError

sys.path.insert(0, str(Path(__file__).parent))
from fake_cifar import write_fake_data  # noqa: E402


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar-data")
    info = write_fake_data(root)
    return root, info


@pytest.fixture
def data_dir(fake_root, monkeypatch):
    root, info = fake_root
    monkeypatch.setenv(files.ENV, str(root))
    monkeypatch.delenv(files.ENV_SOURCE, raising=False)
    return root, info


def test_cifar10_splits_shapes_and_order(data_dir):
    root, info = data_dir
    ds = DATASETS.create("cifar10", split=(150, 50, 40), split_seed=0)
    assert ds.train.x.shape == (150, 3, 32, 32) and ds.val.x.shape == (50, 3, 32, 32)
    assert ds.train.x.dtype == torch.float32 and 0 <= ds.train.x.min() and ds.train.x.max() <= 1
    assert ds.num_classes == 10 and ds.transfer_augment == "crop-flip"
    # the test split is the first images of test_batch in file order, CHW decoded right
    assert torch.equal(ds.test.y, torch.from_numpy(info["test_y"][:40]))
    want = torch.from_numpy(info["test_x"][:40]).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(ds.test.x, want)
    with pytest.raises(UserError, match=r"asks for 300 training and validation images; the training files hold 200"):
        DATASETS.create("cifar10", split=(250, 50, 10), split_seed=0)


def test_cifar100_and_ood_sets(data_dir):
    ds = DATASETS.create("cifar100", split=(80, 20, 60), split_seed=1)
    assert ds.num_classes == 100 and ds.train.y.max() < 100
    c100 = OOD_SETS.create("cifar100", n=25, seed=0)
    assert c100.shape == (25, 3, 32, 32)
    assert torch.equal(c100, OOD_SETS.create("cifar100", n=25, seed=0))
    assert OOD_SETS.create("cifar100", n=1000, seed=0).shape[0] == 60   # all the file holds
    sv = OOD_SETS.create("svhn", n=30, seed=0)
    assert sv.shape == (30, 3, 32, 32) and 0 <= sv.min() and sv.max() <= 1


def test_svhn_labels_ten_means_zero(data_dir):
    from kdbench.data.svhn import read_svhn

    root, _ = data_dir
    from scipy.io import loadmat

    raw = loadmat(root / "svhn/test_32x32.mat")
    x, y = read_svhn(str(root))
    assert x.shape == (50, 32, 32, 3)
    np.testing.assert_array_equal(y, np.where(raw["y"].ravel() == 10, 0, raw["y"].ravel()))
    np.testing.assert_array_equal(x[3], raw["X"][:, :, :, 3])   # (H, W, C, N) -> (N, H, W, C)


def test_cifar10_1_shift(data_dir):
    s = SHIFT_SETS.create("cifar10.1")
    assert s.x.shape == (40, 3, 32, 32) and s.y.dtype == torch.int64 and s.y.max() < 10


def test_cifar10_c_rows_are_the_test_images(data_dir):
    root, info = data_dir
    assert CIFAR10_C_TYPES.names() == sorted(BENCHMARK + EXTRA) and len(BENCHMARK + EXTRA) == 19
    raw = np.load(root / "CIFAR-10-C/fog.npy")
    for sev in (1, 5):
        x = CORRUPTED_SETS.create("cifar10-c", corruption="fog", severity=sev, n=20)
        want = torch.from_numpy(raw[(sev - 1) * 60:(sev - 1) * 60 + 20]).permute(0, 3, 1, 2).float() / 255
        assert torch.equal(x, want)
    with pytest.raises(UserError, match="unknown CIFAR-10-C corruption 'fogg'.*did you mean 'fog'"):
        CORRUPTED_SETS.create("cifar10-c", corruption="fogg", severity=1, n=5)


def test_cifar10_c_labels_must_match_test_batch(fake_root, tmp_path, monkeypatch):
    root, info = fake_root
    for sub in ("cifar-10-batches-py", "CIFAR-10-C"):
        (tmp_path / sub).symlink_to(root / sub)
    monkeypatch.setenv(files.ENV, str(tmp_path))
    assert CORRUPTED_SETS.create("cifar10-c", corruption="snow", severity=2, n=4).shape == (4, 3, 32, 32)
    # a labels file whose third block is shuffled: not the test images in file order
    other = tmp_path / "other"
    (other / "CIFAR-10-C").mkdir(parents=True)
    (other / "cifar-10-batches-py").symlink_to(root / "cifar-10-batches-py")
    y = np.load(root / "CIFAR-10-C/labels.npy").copy()
    y[120:180] = np.roll(y[120:180], 1)
    np.save(other / "CIFAR-10-C/labels.npy", y)
    monkeypatch.setenv(files.ENV, str(other))
    with pytest.raises(UserError, match="severity 3's labels differ from test_batch's"):
        CORRUPTED_SETS.create("cifar10-c", corruption="snow", severity=2, n=4)
    np.save(other / "CIFAR-10-C/labels.npy", y[:100])
    with pytest.raises(UserError, match="blocks of 20 rows, but cifar-10-batches-py/test_batch has 60"):
        CORRUPTED_SETS.create("cifar10-c", corruption="snow", severity=2, n=4)


def test_missing_file_is_one_line_with_path_source_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv(files.ENV, raising=False)
    monkeypatch.delenv(files.ENV_SOURCE, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as e:
        OOD_SETS.create("svhn", n=5)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"looked for {tmp_path / 'data' / 'svhn' / 'test_32x32.mat'}" in msg
    assert "the default ./data" in msg and "http://ufldl.stanford.edu/housenumbers/test_32x32.mat" in msg
    files.use_root(tmp_path / "elsewhere")
    with pytest.raises(UserError, match=r"CIFAR-10 file cifar-10-batches-py/batches.meta not found: "
                       r"looked for .*elsewhere/cifar-10-batches-py/batches.meta \(data root from "
                       r"--data-dir\); get it from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"):
        load_dataset("cifar10", (10, 10, 10), 0)


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil()}, protocol=2))
    with pytest.raises(UserError, match="is not a CIFAR pickle: refusing to load (__builtin__|builtins).print"):
        files.load_pickle(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3), np.uint8), b"labels": [1, 2]}, protocol=2))
    d = files.load_pickle(path)
    assert set(d) == {"data", "labels"} and d["data"].shape == (2, 3)
    # the published files name NumPy 1's module (GLOBAL opcode, newline-delimited): still read
    blob = pickle.dumps({"data": np.arange(6, dtype=np.uint8)}, protocol=2)
    path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    np.testing.assert_array_equal(files.load_pickle(path)["data"], np.arange(6))


def test_shape_dtype_and_label_checks(tmp_path):
    path = tmp_path / "f"
    with pytest.raises(UserError, match=r"f: data has shape 2×100, expected N×3072"):
        files.check_array(path, "data", np.zeros((2, 100), np.uint8), dtype=np.uint8, shape=(None, 3072))
    with pytest.raises(UserError, match="data has dtype float32, expected uint8"):
        files.check_array(path, "data", np.zeros((2, 3072), np.float32), dtype=np.uint8, shape=(None, 3072))
    with pytest.raises(UserError, match=r"labels must lie in \[0, 9\]; found \[0, 10\]"):
        files.check_labels(path, "labels", [0, 10], 10)
    np.testing.assert_array_equal(files.check_labels(path, "y", np.array([[1.0], [10.0]]).ravel(), 10, low=1), [1, 10])


def test_md5_checked_only_for_full_size_files(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(b"abc")
    digest = "900150983cd24fb0d6963f7d28e17f72"   # MD5("abc"), RFC 1321 test suite
    assert files.md5(path) == digest
    files.check_md5(path, n=10, full_n=10, expected=digest, url="u")      # full size, right
    files.check_md5(path, n=9, full_n=10, expected="0" * 32, url="u")     # small: not checked
    with pytest.raises(UserError, match=f"MD5 {digest}, expected 0{{32}}: the file is corrupt"):
        files.check_md5(path, n=10, full_n=10, expected="0" * 32, url="u")


def test_family_marks_keep_mnist_and_cifar_apart():
    assert [n for n in OOD_SETS.names() if fits(OOD_SETS, n, "mnist5k")] == ["letters", "noise", "photos"]
    assert [n for n in OOD_SETS.names() if fits(OOD_SETS, n, "cifar10")] == ["cifar100", "noise", "svhn"]
    assert [n for n in OOD_SETS.names() if fits(OOD_SETS, n, "cifar100")] == ["noise", "svhn"]
    assert [n for n in SHIFT_SETS.names() if fits(SHIFT_SETS, n, "cifar10")] == ["cifar10.1"]


def test_noise_takes_the_images_shape():
    x = OOD_SETS.create("noise", n=7, seed=3, shape=(3, 32, 32))
    assert x.shape == (7, 3, 32, 32)
    # the grey default is unchanged: the same draws as before the shape option
    assert torch.equal(OOD_SETS.create("noise", n=7, seed=3),
                       torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(3)))


def test_crop_flip_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    dy, dx = torch.randint(0, 3, (1,), generator=gen), torch.randint(0, 3, (1,), generator=gen)
    flip = torch.rand(1, generator=gen) < 0.5
    out = crop_flip(x, torch.Generator().manual_seed(0), pad=1)
    ref = torch.nn.functional.pad(x, (1, 1, 1, 1))[0, 0, dy:dy + 4, dx:dx + 4]
    ref = ref.flip(-1) if flip else ref
    assert torch.equal(out[0, 0], ref)
    # every output is a shifted, maybe mirrored copy: row sums of a constant image are 0..4
    many = crop_flip(torch.ones(500, 3, 8, 8), torch.Generator().manual_seed(1), pad=4)
    assert many.shape == (500, 3, 8, 8)
    zero_rows = (many[:, 0].sum(-1) == 0).sum(-1)
    assert set(zero_rows.tolist()) == set(range(5))
    # left-right mirroring happens about half the time
    ramp = torch.arange(8.0).repeat(400, 1, 8, 1)
    o = crop_flip(ramp, torch.Generator().manual_seed(2), pad=0)
    assert 150 < int((o[:, 0, 0, 0] == 7).sum()) < 250
