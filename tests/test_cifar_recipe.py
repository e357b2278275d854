"""The natural-image training recipe (SGD + Nesterov, warm-up, crop-flip) and the suite keys
that set it and the CIFAR data: by hand, and that old job ids do not move."""

import math
import textwrap

import pytest
import torch

from kdbench.config import DataConfig, load_suite
from kdbench.data.mnist5k import LabelledImages
from kdbench.errors import UserError
from kdbench.plan import to_plain
from kdbench.train import TrainConfig, fit, make_optimizer, make_schedule


def test_schedule_warmup_then_cosine_by_hand():
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(epochs=4, lr=0.1, optimizer="sgd", warmup_epochs=1)
    opt = make_optimizer([p], cfg)
    sched = make_schedule(opt, cfg, steps=8, steps_per_epoch=2)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [0.05, 0.1] + [0.05 * (1 + math.cos(math.pi * t / 6)) for t in range(6)]
    assert lrs == pytest.approx(want)


def test_sgd_nesterov_step_by_hand():
    p = torch.nn.Parameter(torch.tensor([1.0]))
    cfg = TrainConfig(lr=0.1, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=0.5)
    opt = make_optimizer([p], cfg)
    p.grad = torch.tensor([2.0])
    opt.step()
    g = 2.0 + 0.5 * 1.0          # L2 term added to the gradient
    buf = g                      # first step: momentum buffer = gradient
    assert float(p.detach()) == pytest.approx(1.0 - 0.1 * (g + 0.9 * buf))
    assert isinstance(make_optimizer([p], TrainConfig()), torch.optim.AdamW)


def test_settings_that_do_not_go_together():
    with pytest.raises(ValueError, match="nesterov needs optimizer"):
        TrainConfig(nesterov=True)
    with pytest.raises(ValueError, match=r"warmup_epochs must lie in \[0, epochs = 3\); found 3"):
        TrainConfig(epochs=3, warmup_epochs=3)
    with pytest.raises(ValueError, match="augment must be one of none, crop-flip; found 'flip'"):
        TrainConfig(augment="flip")


def test_new_settings_at_their_defaults_stay_out_of_job_ids():
    assert set(to_plain(TrainConfig())) == {"epochs", "batch_size", "lr", "weight_decay", "clip_grad_norm"}
    assert to_plain(TrainConfig(optimizer="sgd"))["optimizer"] == "sgd"
    assert "corrupted" not in to_plain(DataConfig())
    assert to_plain(DataConfig(corrupted="cifar10-c"))["corrupted"] == "cifar10-c"


def test_crop_flip_training_is_seeded():
    torch.manual_seed(0)
    data = LabelledImages(torch.rand(40, 3, 8, 8), torch.randint(0, 3, (40,)))
    ce = lambda out, y, idx, prog: torch.nn.functional.cross_entropy(out, y)  # noqa: E731

    def run(augment):
        torch.manual_seed(1)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))
        cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, optimizer="sgd", augment=augment)
        fit(net, data, ce, config=cfg, seed=3, progress=False)
        return net[1].weight.detach().clone()

    a, b = run("crop-flip"), run("crop-flip")
    assert torch.equal(a, b) and not torch.equal(a, run("none"))


def _suite(tmp_path, body):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(body) + "\n[teachers.t]\nkind = \"single\"\nin_channels = 3\nimage_size = 32\n")
    return str(path)


def test_suite_keys_for_the_recipe_and_cifar_data(tmp_path):
    s = load_suite(_suite(tmp_path, """
        [data]
        dataset = "cifar10"
        split = [100, 50, 60]
        corrupted = "cifar10-c"
        corruptions = ["*_noise"]
        corrupt_n = 20
        [train]
        optimizer = "sgd"
        nesterov = true
        warmup_epochs = 1
        augment = "crop-flip"
    """))
    assert s.data.corruptions == ("gaussian_noise", "impulse_noise", "shot_noise", "speckle_noise")
    assert s.data.shift == ("cifar10.1",) and s.data.ood == ("cifar100", "noise", "svhn")
    t = s.teachers["t"].train
    assert (t.optimizer, t.nesterov, t.warmup_epochs, t.augment, t.momentum) == ("sgd", True, 1, "crop-flip", 0.9)


@pytest.mark.parametrize("body, message", [
    ('[data]\ndataset = "mnist5k"\nood = ["svhn"]',
     r"\[data\] ood: OOD set 'svhn' is not for the images of data set 'mnist5k'; ones that are: letters, noise, photos"),
    ('[data]\ndataset = "cifar10"\nsplit = [10, 10, 10]\ncorrupt_n = 5\nshift = ["digits"]',
     r"shift set 'digits' is not for the images of data set 'cifar10'"),
    ('[data]\ndataset = "mnist5k"\ncorrupted = "cifar10-c"',
     r"corrupted set 'cifar10-c' is not for data set 'mnist5k'"),
    ('[data]\ndataset = "cifar10"\nsplit = [10, 10, 10]\ncorrupt_n = 5\ncorrupted = "cifar10-c"\ncorruptions = ["fogg"]',
     r"unknown CIFAR-10-C corruption 'fogg' \(did you mean 'fog'\?\)"),
    ('[train]\noptimizer = "adam"', r"\[train\] optimizer: unknown optimizer 'adam' \(did you mean 'adamw'\?\)"),
    ('[train]\nnesterov = true', r"\[train\]: nesterov needs optimizer = \"sgd\""),
])
def test_suite_errors(tmp_path, body, message):
    with pytest.raises(UserError, match=message):
        load_suite(_suite(tmp_path, body))


def test_builtin_cifar_suites_load():
    s = load_suite("cifar10")
    assert len(s.data.corruptions) == 19 and s.data.severities == (1, 2, 3, 4, 5)
    assert s.teachers["ensemble"].members == 5 and s.teachers["single"].model.name == "resnet56"
    t = s.teachers["single"].train
    assert (t.optimizer, t.nesterov, t.lr, t.weight_decay, t.epochs) == ("sgd", True, 0.1, 5e-4, 200)
    assert {p.method for p in s.pairs} >= {"none", "kd", "dkd", "dist", "kd-std", "sample-kd", "end2",
                                           "end2-proxy", "hydra"}
    assert load_suite("cifar10-smoke").data.corrupted == "cifar10-c"
