"""Work a suite would do twice is done once: the single teacher that is an ensemble's member 0
is copied from it, and a suite of several seeds skips per-example bootstraps."""

import numpy as np
import pytest
import torch

from kdbench.config import load_suite
from kdbench.errors import UserError
from kdbench.executor import run_jobs
from kdbench.metrics import labelled_set
from kdbench.plan import plan
from kdbench.store import RunStore

SUITE = """
name = "shared"
seeds = {seeds}
{extra}
[data]
dataset = "mnist5k"
split = [200, 100, 100]
corruptions = ["rotate"]
severities = [1]
corrupt_n = 50
shift = []
ood = ["noise"]
ood_n = 50
[train]
epochs = 1
batch_size = 64
[teachers.single]
kind = "single"
width = 4
[teachers.ensemble]
kind = "ensemble"
width = 4
members = 2
[teachers.wide]
kind = "ensemble"
width = 6
members = 2
"""


def suite(tmp_path, seeds="[0]", extra=""):
    path = tmp_path / "shared.toml"
    path.write_text(SUITE.format(seeds=seeds, extra=extra))
    return load_suite(str(path))


def test_single_teacher_copies_the_matching_ensembles_member_0(tmp_path):
    jobs, models = plan(suite(tmp_path))
    teacher = {m.model: next(j for j in jobs if j.id == m.train_job)
               for m in models if m.role == "teacher"}
    single, ensemble = teacher["single"], teacher["ensemble"]
    assert single.config["member0_from"] == ensemble.id and single.deps == (ensemble.id,)
    assert "member0_from" not in ensemble.config and "member0_from" not in teacher["wide"].config
    assert [j.id for j in jobs].index(ensemble.id) < [j.id for j in jobs].index(single.id)

    store = RunStore(tmp_path / "runs")
    assert not run_jobs([ensemble, single], store, progress=False).failed
    a = store.job(single.id).load_state("member0.pt")
    b = store.job(ensemble.id).load_state("member0.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    info = store.job(single.id).read_json("train_info.json")
    assert info["copied_from"] == ensemble.id
    assert info["curves"] == store.job(ensemble.id).read_json("train_info.json")["curves"][:1]

    # training it instead gives the same network: the copy changes no number
    alone = {n: t for n, t in suite(tmp_path).teachers.items() if n == "single"}
    from dataclasses import replace
    solo = plan(replace(suite(tmp_path), teachers=alone))[0]
    trained = next(j for j in solo if j.kind == "train_teacher")
    assert "member0_from" not in trained.config
    assert not run_jobs([trained], store, progress=False).failed
    c = store.job(trained.id).load_state("member0.pt")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_several_seeds_skip_per_example_bootstraps_unless_asked(tmp_path):
    def boot(s):
        return {j.config.get("bootstrap", 1000) for j in plan(s)[0] if j.kind == "evaluate"}
    one, three = suite(tmp_path), suite(tmp_path, "[0, 1, 2]")
    assert (one.bootstrap, boot(one)) == (1000, {1000})
    assert (three.bootstrap, boot(three)) == (0, {0})
    # a one-seed suite's evaluate jobs keep their ids: the key is left out at its default
    assert all("bootstrap" not in j.config for j in plan(one)[0] if j.kind == "evaluate")
    asked = suite(tmp_path, "[0, 1]", "bootstrap = 200")
    assert boot(asked) == {200}
    with pytest.raises(UserError, match="bootstrap.*>= 2 resamples, found 1"):
        suite(tmp_path, "[0]", "bootstrap = 1")


def test_labelled_set_without_resamples_has_values_and_no_intervals(rng):
    p = rng.dirichlet(np.ones(5), size=200)
    y = rng.integers(0, 5, size=200)
    with_ci, without = labelled_set(p, y, n_boot=200), labelled_set(p, y, n_boot=0)
    assert {k: v[0] for k, v in with_ci.items()} == {k: v[0] for k, v in without.items()}
    assert all(np.isnan(lo) and np.isnan(hi) for _, lo, hi in without.values())
    assert np.isfinite(with_ci["nll"][1])
