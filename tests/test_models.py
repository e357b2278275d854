"""The registered networks: parameter counts pinned, the interface MC dropout and hydra rely
on, and the pieces (normalisation, shortcuts, dropout) by hand."""

import pytest
import torch

from kdbench.models import MODELS
from kdbench.models.cnn import count_parameters
from kdbench.models.normalize import Normalize
from kdbench.predictors import MCDropout

# 10 classes. resnet: option-B shortcuts (RepDistiller); the option-A numbers are He et al.'s
# 0.27 M / 0.85 M; WRN: the paper's 2.7 M and 36.5 M.
PARAMS = {"cnn": 421_642, "resnet20": 272_474, "resnet32": 466_906, "resnet56": 855_770,
          "wrn16-4": 2_748_890, "wrn28-10": 36_479_194}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_counts(name):
    assert count_parameters(MODELS.create(name)) == PARAMS[name]


def test_option_a_shortcuts_have_no_parameters():
    assert count_parameters(MODELS.create("resnet20", shortcut="A")) == 269_722
    assert count_parameters(MODELS.create("resnet56", shortcut="A")) == 853_018
    # resnet20 = conv + 9 blocks + fc; option B adds two 1x1 conv + BN projections
    b = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert PARAMS["resnet20"] - 269_722 == b


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "wrn16-4"])
def test_interface_and_shapes(name):
    torch.manual_seed(0)
    net = MODELS.create(name, num_classes=7, dropout=0.3).eval()
    x = torch.rand(4, 3, 32, 32)
    logits = net(x)
    assert logits.shape == (4, 7)
    feats = net.features(x)
    assert feats.shape == (4, net.head.in_features) and net.dropout_p == 0.3
    torch.testing.assert_close(net.head(feats), logits)   # eval: dropout is the identity
    pred = MCDropout(net, samples=5, seed=0).predict(x)
    assert pred.probs.shape == (5, 4, 7)
    assert pred.mutual_information().mean() > 0


def test_option_a_block_pads_channels_and_subsamples():
    from kdbench.models.resnet import BasicBlock

    blk = BasicBlock(16, 32, 2, "A").eval()
    for m in (blk.conv1, blk.conv2):
        torch.nn.init.zeros_(m.weight)
    x = torch.rand(2, 16, 8, 8)
    out = blk(x)  # the residual branch is 0 (BN of zeros is its bias, 0): out = relu(shortcut)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().max() == 0 and out[:, 24:].abs().max() == 0


def test_normalize_inside_the_model():
    n = Normalize("cifar10")
    x = torch.zeros(1, 3, 2, 2)
    x[0, 0] = 0.4914
    x[0, 1] = 0.4822 + 0.2435
    out = n(x)
    assert float(out[0, 0].abs().max()) < 1e-6 and torch.allclose(out[0, 1], torch.ones(2, 2))
    assert torch.equal(Normalize("none")(x), x)
    with pytest.raises(ValueError, match="normalize must be one of cifar10, cifar100, none; found 'imagenet'"):
        MODELS.create("resnet20", normalize="imagenet")
    state = MODELS.create("resnet20").state_dict()
    assert "normalize.mean" in state and "normalize.std" in state


def test_bad_options_say_what_is_allowed():
    with pytest.raises(ValueError, match="shortcut must be 'A' or 'B'; found 'C'"):
        MODELS.create("resnet20", shortcut="C")
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\); found 1.0"):
        MODELS.create("wrn16-4", dropout=1.0)


def test_list_shows_models_with_parameter_counts(capsys):
    from kdbench.cli import main

    assert main(["list", "model"]) == 0
    out = capsys.readouterr().out
    assert "resnet56 (855,770)" in out and "wrn28-10 (36,479,194)" in out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cifar10, cifar100, mnist5k" in out and "cifar10-c (19 types)" in out
    assert "svhn" in out and "cifar10.1" in out
