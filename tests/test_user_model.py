"""Your own model on the leaderboard (kdbench.evaluate_model, examples/evaluate_my_model.py) and
teachers loaded from a checkpoint named in a suite (bad hash, wrong architecture, pickled
object and missing file refused with one line and exit 2)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import kdbench
from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.errors import UserError
from kdbench.models import MODELS
from kdbench.plan import plan
from kdbench.prediction import Prediction
from kdbench.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(784, 10)

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_evaluate_model_ranks_a_module_and_a_callable(tmp_path):
    net = Tiny()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = kdbench.evaluate_model(net, suite="smoke", name="my-net", workdir=tmp_path)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # not changed
    reg = json.loads((tmp_path / "results/smoke/user_models.json").read_text())
    assert reg["my-net"]["job"] == res["job"] and len(reg["my-net"]["weights_sha256"]) == 64
    m = pd.read_csv(tmp_path / "results/smoke/metrics.csv.gz")
    mine = m[m.model == "my-net"]
    assert set(mine.role) == {"user"}
    assert set(mine.split) == {"id", "corrupt", "shift", "ood"}
    # the same numbers as the one evaluation path gives by hand
    from kdbench.data.splits import load_dataset
    s = load_suite("smoke")
    ds = load_dataset(s.data.dataset, s.data.split, s.data.split_seed)
    with torch.no_grad():
        acc = (net(ds.test.x).argmax(1) == ds.test.y).float().mean().item()
    got = mine[(mine.split == "id") & (mine.metric == "accuracy")].value.item()
    assert got == pytest.approx(acc)
    assert res["row"]["role"] == "user" and res["rank"] >= 1
    board = pd.read_csv(tmp_path / "results/leaderboard.csv")
    assert "my-net" in set(board.model) and "my-net+temperature" in set(board.model)
    info = pd.read_csv(tmp_path / "results/smoke/models.csv").set_index("model")
    assert info.at["my-net", "size_bytes"] > 784 * 10 * 4

    # again: the store answers (same job, nothing recomputed)
    done = RunStore(tmp_path / "runs").job(res["job"]).path / "done.json"
    stamp = done.stat().st_mtime_ns
    assert kdbench.evaluate_model(net, suite="smoke", name="my-net", workdir=tmp_path)["job"] == res["job"]
    assert done.stat().st_mtime_ns == stamp

    # a callable returning a Prediction: two samples
    def two(x):
        with torch.no_grad():
            p = torch.softmax(net(x), -1).double().numpy()
        return Prediction(probs=np.stack([p, np.roll(p, 1, axis=-1) * 0.1 + p * 0.9]))

    res2 = kdbench.evaluate_model(two, suite="smoke", name="my-two", workdir=tmp_path)
    m = pd.read_csv(tmp_path / "results/smoke/metrics.csv.gz")
    assert {"my-net", "my-two"} <= set(m.model)  # the first one is kept
    ood = m[(m.model == "my-two") & (m.split == "ood")]
    assert "auroc_mi" in set(ood.metric)
    assert res2["job"] != res["job"]


def test_evaluate_model_refuses_bad_input(tmp_path):
    with pytest.raises(TypeError, match="nn.Module returning logits or a callable"):
        kdbench.evaluate_model(42, suite="smoke", name="x", workdir=tmp_path)
    with pytest.raises(TypeError, match="must return a kdbench Prediction"):
        kdbench.evaluate_model(lambda x: x, suite="smoke", name="x", workdir=tmp_path)
    with pytest.raises(UserError, match="is a model of suite 'smoke'"):
        kdbench.evaluate_model(Tiny(), suite="smoke", name="single", workdir=tmp_path)
    with pytest.raises(UserError, match="invalid user model name"):
        kdbench.evaluate_model(Tiny(), suite="smoke", name="My Net", workdir=tmp_path)


@pytest.mark.early  # a fresh interpreter: about 8 s
def test_example_script_runs(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples/evaluate_my_model.py"), "--suite",
                          "smoke", "--workdir", str(tmp_path)], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "my-net: rank" in out.stdout and "my-net-mc: rank" in out.stdout
    board = pd.read_csv(tmp_path / "results/leaderboard.csv")
    assert {"my-net", "my-net-mc"} <= set(board.model)


# --------------------------------------------------------------------- checkpoint teachers

SUITE = """
name = "ckpt"
seeds = [0]
[data]
split = [200, 100, 100]
corruptions = ["rotate"]
severities = [5]
corrupt_n = 50
shift = ["digits"]
ood = ["photos"]
ood_n = 50
[train]
epochs = 1
batch_size = 64
[teachers.mine]
kind = "{kind}"
width = 8
{ckpt}
[students.small]
width = 4
[methods.kd]
[[pairs]]
teachers = ["mine"]
students = ["small"]
methods = ["kd"]
"""


def save(path: Path, obj) -> str:
    torch.save(obj, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def suite_file(tmp_path: Path, ckpt: str, kind: str = "single") -> str:
    path = tmp_path / "ckpt.toml"
    path.write_text(SUITE.format(kind=kind, ckpt=ckpt))
    return str(path)


def test_checkpoint_teacher_is_loaded_not_trained(tmp_path):
    torch.manual_seed(3)
    state = MODELS.create("cnn", width=8).state_dict()
    digest = save(tmp_path / "t.pt", state)
    path = suite_file(tmp_path, f'checkpoint = "t.pt"\nsha256 = "{digest}"')
    suite = load_suite(path)
    assert suite.teachers["mine"].checkpoint == (str(tmp_path / "t.pt"),)
    jobs, _ = plan(suite)
    teacher_job = next(j for j in jobs if j.kind == "train_teacher")
    assert teacher_job.config["teacher"]["checkpoint_sha256"] == [digest]
    assert main(["run", "all", "--suite", path, "--workdir", str(tmp_path), "--quiet",
                 "--no-report"]) == 0
    stored = RunStore(tmp_path / "runs").job(teacher_job.id).load_state("member0.pt")
    assert all(torch.equal(stored[k], v) for k, v in state.items())
    info = pd.read_csv(tmp_path / "results/ckpt/models.csv").set_index("model")
    assert info.at["mine", "train_seconds"] == 0 and info.at["mine", "status"] == "ok"
    # job ids do not depend on where the file lies: its content names the teacher
    (tmp_path / "sub").mkdir()
    (tmp_path / "t.pt").rename(tmp_path / "sub/t.pt")
    moved = suite_file(tmp_path, f'checkpoint = "sub/t.pt"\nsha256 = "{digest}"')
    assert {j.id for j in plan(load_suite(moved))[0]} == {j.id for j in jobs}


def test_checkpoint_ensemble_takes_one_file_per_member(tmp_path):
    digests = []
    for m in range(2):
        torch.manual_seed(m)
        digests.append(save(tmp_path / f"m{m}.pt", MODELS.create("cnn", width=8).state_dict()))
    path = suite_file(tmp_path, f'members = 2\ncheckpoint = ["m0.pt", "m1.pt"]\nsha256 = {json.dumps(digests)}',
                      kind="ensemble")
    assert len(load_suite(path).teachers["mine"].checkpoint) == 2
    bad = suite_file(tmp_path, f'members = 2\ncheckpoint = ["m0.pt"]\nsha256 = ["{digests[0]}"]', kind="ensemble")
    with pytest.raises(UserError, match="expected 2 file"):
        load_suite(bad)


class Pickled:  # not a state dict: weights_only=True must refuse it
    pass


@pytest.mark.parametrize("case, message", [
    ("hash", r"\[teachers.mine\] sha256: .*t.pt has SHA-256 [0-9a-f]{64}, expected 0{64}"),
    ("arch", r"trunk.0.weight: checkpoint \(4, 1, 3, 3\) vs model \(8, 1, 3, 3\)"),
    ("pickle", r"cannot be loaded as weights only"),
    ("missing", r"checkpoint: file .*nowhere.pt does not exist"),
    ("nohash", r"sha256: is required with checkpoint.*\['[0-9a-f]{64}'\]"),
])
def test_bad_checkpoints_are_refused_with_one_line(tmp_path, capsys, case, message):
    digest = save(tmp_path / "t.pt", MODELS.create("cnn", width=8).state_dict())
    ckpt = f'checkpoint = "t.pt"\nsha256 = "{digest}"'
    if case == "hash":
        ckpt = f'checkpoint = "t.pt"\nsha256 = "{"0" * 64}"'
    elif case == "arch":
        digest = save(tmp_path / "t.pt", MODELS.create("cnn", width=4).state_dict())
        ckpt = f'checkpoint = "t.pt"\nsha256 = "{digest}"'
    elif case == "pickle":
        digest = save(tmp_path / "t.pt", {"weights": Pickled()})
        ckpt = f'checkpoint = "t.pt"\nsha256 = "{digest}"'
    elif case == "missing":
        ckpt = f'checkpoint = "nowhere.pt"\nsha256 = "{digest}"'
    elif case == "nohash":
        ckpt = 'checkpoint = "t.pt"'
    code = main(["run", "all", "--suite", suite_file(tmp_path, ckpt), "--workdir", str(tmp_path),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("kdbench: error: ")
    import re

    assert re.search(message, err), err


def test_a_100_class_checkpoint_teacher_loads_for_cifar100(tmp_path):
    """The class count comes from the data set's record (`kdbench.data.registry.DataInfo`):
    a 100-class checkpoint fits a cifar100 suite and a 10-class one is refused there."""
    from kdbench.data.registry import dataset_info

    assert dataset_info("cifar100").classes == 100 and dataset_info("cifar10").classes == 10
    assert dataset_info("mnist5k").image_shape == (1, 28, 28)
    text = """
name = "c100"
[data]
dataset = "cifar100"
split = [400, 100, 100]
corruptions = []
severities = [5]
corrupt_n = 50
shift = []
ood = ["noise"]
ood_n = 50
[teachers.mine]
kind = "single"
model = "resnet20"
checkpoint = "t.pt"
sha256 = "{digest}"
"""
    path = tmp_path / "c100.toml"
    for classes, ok in ((100, True), (10, False)):
        torch.manual_seed(0)
        digest = save(tmp_path / "t.pt", MODELS.create("resnet20", num_classes=classes).state_dict())
        path.write_text(text.format(digest=digest))
        if ok:
            assert load_suite(str(path)).teachers["mine"].checkpoint == (str(tmp_path / "t.pt"),)
        else:
            with pytest.raises(UserError, match=r"checkpoint: .*\(10, 64\) vs model \(100, 64\)"):
                load_suite(str(path))
