"""Compressed students (kdbench.compress): int8 for every student kind, exact global pruning,
the fixed mask during the fine-tune, the fine-tune loss, footprints by hand, the plan's jobs,
the [compress] table, and a variant that cannot be built recorded while the run goes on."""

import io
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from kdbench import compress
from kdbench.cli import main
from kdbench.config import load_suite
from kdbench.data.mnist5k import LabelledImages
from kdbench.distill import METHODS
from kdbench.distill.end2 import end2_loss
from kdbench.errors import UserError
from kdbench.models import MODELS
from kdbench.plan import plan
from kdbench.prediction import Prediction
from kdbench.train import TrainConfig

TINY = """
name = "tiny"
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
[teachers.single]
kind = "single"
width = 4
[students.small]
model = "{student}"
[methods.none]
[methods.kd]
[compress]
int8 = true
prune = [50]
finetune_epochs = 1
[[pairs]]
teachers = ["single"]
students = ["small"]
methods = ["none", "kd"]
"""


def student(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return METHODS.create(kind).wrap_model(MODELS.create("cnn", width=8)).eval()


@pytest.mark.parametrize("kind", ["kd", "hydra", "end2"])
def test_int8_every_student_kind_close_to_float_and_deterministic(kind):
    x = torch.rand(64, 1, 28, 28)
    net = student(kind)
    q1, q2 = compress.quantize_int8(net, x), compress.quantize_int8(net, x)
    with torch.inference_mode():
        ref, out1, out2 = net(x), q1(x), q2(x)
    assert out1.shape == ref.shape  # (B, K); hydra (H, B, K)
    assert torch.equal(out1, out2)  # same weights and images -> the same int8 model
    assert (out1 - ref).abs().max() < 0.05 * ref.abs().max()
    # the student's own predictor runs unchanged on top (softmax, heads, Dirichlet)
    pred = compress.OnCPU(lambda: METHODS.create(kind).predictor(q1)).predict(x)
    assert isinstance(pred, Prediction)
    fp_float, fp_int8 = compress.footprint([net]), compress.footprint([q1])
    assert fp_int8["size_bytes"] < fp_float["size_bytes"] / 2


def test_untraceable_network_is_not_built():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, x):
            if x.mean() > 0.5:  # data-dependent control flow: FX cannot trace it
                x = x * 2
            return self.lin(x.flatten(1))

    with pytest.raises(compress.NotBuilt, match="int8 quantization failed"):
        compress.quantize_int8(Branchy(), torch.rand(8, 1, 28, 28))


def test_global_pruning_is_exact_and_keeps_the_largest_weights():
    net = student("kd").to(memory_format=torch.channels_last)  # as a predictor leaves it
    before = torch.cat([m.weight.detach().abs().flatten() for m, _ in compress.prunable(net)])
    compress.prune_global(net, 80)
    compress.make_permanent(net)
    after = torch.cat([m.weight.detach().flatten() for m, _ in compress.prunable(net)])
    assert set(net.state_dict()) == set(student("kd").state_dict())  # same keys, no masks
    assert int((after == 0).sum()) == round(0.8 * before.numel())
    kept = after != 0
    assert before[kept].min() >= before[~kept].max()  # global L1: across layers
    assert compress.footprint([net])["sparsity"] == pytest.approx(0.8, abs=1e-4)


def test_finetune_holds_the_mask_and_uses_the_final_loss():
    torch.manual_seed(0)
    net = student("kd")
    compress.prune_global(net, 50)
    zero = [(m.weight_mask == 0).clone() for m, _ in compress.prunable(net)]
    orig = [m.weight.detach().clone() for m, _ in compress.prunable(net)]
    data = LabelledImages(torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)))
    teacher = torch.softmax(torch.randn(1, 64, 10), -1)
    curve = compress.finetune(net, METHODS.create("kd"), data, teacher, train=TrainConfig(lr=0.01),
                              epochs=2, lr_scale=0.1, seed=0, desc="ft", monitor=None)
    compress.make_permanent(net)
    assert len(curve) == 2
    for (m, _), z, w0 in zip(compress.prunable(net), zero, orig):
        assert (m.weight[z] == 0).all()  # pruned weights stay zero
        assert not torch.equal(m.weight[~z], w0[~z])  # the others were trained
    # EnD2's loss at the end of training is at T = 1
    logits, probs = torch.randn(4, 10), torch.softmax(torch.randn(3, 4, 10), -1)
    loss = METHODS.create("end2", temperature=2.5).make_loss(probs)
    idx = torch.arange(4)
    got = loss(logits, torch.zeros(4, dtype=torch.long), idx, compress.FINAL_PROGRESS)
    assert torch.allclose(got, end2_loss(logits, probs, 1.0, 1e-3))
    assert not torch.allclose(got, loss(logits, torch.zeros(4, dtype=torch.long), idx, 0.0))


def test_footprint_by_hand():
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0, 0, 2], [0, 0, 0, 3]]))
    fp = compress.footprint([lin])
    buf = io.BytesIO()
    torch.save(lin.state_dict(), buf)
    size = len(buf.getvalue())
    assert fp["size_bytes"] == size
    assert fp["sparsity"] == pytest.approx(5 / 8)
    assert fp["sparse_bytes"] == size - 8 * 4 + 3 * (4 + 4)  # 3 non-zeros, value + int32 index
    assert compress.footprint([])["size_bytes"] != compress.footprint([])["size_bytes"]  # NaN


def test_plan_adds_variants_without_changing_existing_jobs():
    suite = load_suite("smoke")
    jobs, models = plan(suite)
    plain_jobs, plain_models = plan(load_suite("smoke").__class__(**{
        **suite.__dict__, "compress": compress.CompressConfig()}))
    assert {j.id for j in plain_jobs} - {j.id for j in jobs} == set()  # old ids all kept
    every = [m for m in plain_models if m.role == "student"]
    students = [m for m in every if suite.compress.applies_to(m.method)]  # smoke: kd and end2
    assert 0 < len(students) < len(every)
    variants = [m for m in models if m.variant != "-"]
    assert len(variants) == 2 * len(students)
    assert {m.model for m in variants} == {f"{s.model}+{v}" for s in students for v in ("int8", "prune80")}
    by_id = {j.id: j for j in jobs}
    for m in variants:
        cjob, ejob = by_id[m.train_job], by_id[m.eval_job]
        assert cjob.kind == "compress" and ejob.config["posthoc"] == []
        base = next(s for s in students if s.model == m.base_model)
        if m.variant == "int8" or m.method == "none":
            assert cjob.deps == (base.train_job,)
        else:  # the fine-tune reads the cached teacher outputs
            assert cjob.deps == (base.train_job, base.transfer_job)
    # per student and seed: one compress and one evaluate job per variant
    assert len(jobs) - len(plain_jobs) == 4 * len({(s.seed, s.train_job) for s in students})


@pytest.mark.parametrize("table, message", [
    ("prune = [0]", "integers in [1, 99]"),
    ("prune = [80, 80]", "distinct"),
    ("int8 = 1", "true or false"),
    ("finetune_epoch = 2", "did you mean 'finetune_epochs'"),
    ("finetune_lr_scale = 0", "> 0"),
])
def test_compress_table_errors(tmp_path, table, message):
    path = tmp_path / "s.toml"
    path.write_text(TINY.format(student="cnn").replace("int8 = true\nprune = [50]\nfinetune_epochs = 1", table))
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_suite(str(path))


@pytest.fixture
def untraceable_student():
    """A registered student that FX cannot trace (data-dependent control flow)."""
    from kdbench.models.cnn import CNN

    class Branchy(CNN):
        def forward(self, x):
            h = self.features(x)
            if h.mean() > 1e9:
                h = h * 0
            return self.head(self.dropout(h))

    @MODELS.register("branchy-test")
    def branchy(*, width: int = 4, num_classes: int = 10, dropout: float = 0.0):
        return Branchy(width=width, num_classes=num_classes, dropout=dropout)

    yield "branchy-test"
    MODELS._entries.pop("branchy-test")


def test_a_variant_that_cannot_be_built_is_recorded_and_the_run_goes_on(tmp_path, untraceable_student,
                                                                      no_figures):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(student=untraceable_student))
    code = main(["run", "all", "--suite", str(path), "--workdir", str(tmp_path), "--quiet"])
    assert code == 0
    info = pd.read_csv(tmp_path / "results/tiny/models.csv", keep_default_na=False)
    info = info.set_index("model")
    for name in ("small-none+int8", "small-kd-single+int8"):
        assert info.at[name, "status"] == "not built"
        assert "int8 quantization failed" in info.at[name, "reason"]
    for name in ("small-none+prune50", "small-kd-single+prune50"):
        assert info.at[name, "status"] == "ok" and info.at[name, "base_model"] == name.split("+")[0]
        assert float(info.at[name, "sparsity"]) == pytest.approx(0.5, abs=1e-3)
        assert float(info.at[name, "cpu_ms_per_image"]) > 0
    assert info.at["single", "base_model"] == "single" and float(info.at["single", "size_bytes"]) > 0
    m = pd.read_csv(tmp_path / "results/tiny/metrics.csv.gz")
    assert "small-kd-single+prune50" in set(m.model) and "small-kd-single+int8" not in set(m.model)
    assert set(m[m.model == "small-kd-single+prune50"].posthoc) == {"prune50"}
    report = (tmp_path / "reports/tiny/report.md").read_text()
    assert "## Compressed students" in report and "**Not built**" in report
    assert "small-kd-single+int8 — int8 quantization failed" in report


def test_compress_methods_filter_selects_students_and_rejects_unknown_names(tmp_path):
    """``[compress] methods`` limits the variants to those methods' students; a pattern that
    matches no method of the suite is refused with a did-you-mean."""
    text = (Path(load_suite("smoke").path).read_text()
            .replace('methods = ["kd", "end2"]    #', 'methods = ["kd"]    #'))
    suite_file = tmp_path / "only_kd.toml"
    suite_file.write_text(text)
    variants = {m.base_model for m in plan(load_suite(str(suite_file)))[1] if m.variant != "-"}
    assert variants == {"small-kd-single", "small-kd-ensemble", "small-kd-mc_dropout"}
    suite_file.write_text(text.replace('methods = ["kd"]    #', 'methods = ["kdd"]    #'))
    with pytest.raises(UserError, match=r"\[compress\] methods: 'kdd' matches no method of the "
                       r"suite \(did you mean 'kd'\?\)"):
        load_suite(str(suite_file))
