"""Distillation methods: each loss pinned to an independent numpy/scipy formula on a tiny
input (K = 3 classes, B = 2 examples, S = 2 teacher samples), plus the schedules and phases the
methods' authors prescribe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import digamma, gammaln, log_softmax, softmax
from scipy.stats import dirichlet

from kdbench.distill import METHODS
from kdbench.distill import hydra as hydra_mod
from kdbench.distill.end2 import end2_loss, temperature_at
from kdbench.distill.end2_proxy import proxy_precision, rkl_proxy_loss
from kdbench.distill.kd import labelled_ce
from kdbench.data.mnist5k import LabelledImages
from kdbench.models.cnn import cnn, count_parameters
from kdbench.predictors import MCDropout
from kdbench.train import TrainConfig

Z = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]])  # student logits (B, K)
P = np.array([[[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]],  # teacher samples (S, B, K)
              [[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]]])
Y = np.array([0, -1])  # the second example is unlabelled
IDX = torch.arange(2)


def t(a) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64 if np.asarray(a).dtype.kind == "f" else torch.int64)


def heat(p: np.ndarray, temp: float) -> np.ndarray:
    return softmax(np.log(p) / temp, -1)


def kl_rows(p: np.ndarray, logits: np.ndarray, temp: float) -> np.ndarray:
    return (p * (np.log(p) - log_softmax(logits / temp, -1))).sum(-1)


def test_labelled_ce_ignores_unlabelled_and_is_zero_without_labels():
    z = t(Z).requires_grad_()
    assert labelled_ce(z, t(Y)).item() == pytest.approx(-log_softmax(Z[0])[0])
    none = labelled_ce(z, t([-1, -1]))
    none.backward()
    assert none.item() == 0.0 and torch.all(z.grad == 0)


def test_none_loss_is_labelled_cross_entropy():
    loss = METHODS.create("none").make_loss(None)
    assert loss(t(Z), t(Y), IDX, 0.0).item() == pytest.approx(-log_softmax(Z[0])[0])


@pytest.mark.parametrize("target", ["members", "mean"])
def test_kd_loss_by_hand(target):
    alpha, temp = 0.5, 2.0
    q = heat(P, temp).mean(0) if target == "members" else heat(P.mean(0), temp)
    want = alpha * -log_softmax(Z[0])[0] + (1 - alpha) * temp**2 * kl_rows(q, Z, temp).mean()
    loss = METHODS.create("kd", alpha=alpha, temperature=temp, target=target).make_loss(t(P))
    assert loss(t(Z), t(Y), IDX, 0.0).item() == pytest.approx(want, rel=1e-10)


def test_kd_targets_differ_at_high_temperature_and_agree_at_one():
    a = METHODS.create("kd", temperature=1.0, target="members").make_loss(t(P))
    b = METHODS.create("kd", temperature=1.0, target="mean").make_loss(t(P))
    assert a(t(Z), t(Y), IDX, 0.0).item() == pytest.approx(b(t(Z), t(Y), IDX, 0.0).item())
    a = METHODS.create("kd", temperature=4.0, target="members").make_loss(t(P))
    b = METHODS.create("kd", temperature=4.0, target="mean").make_loss(t(P))
    assert abs(a(t(Z), t(Y), IDX, 0.0).item() - b(t(Z), t(Y), IDX, 0.0).item()) > 1e-4
    with pytest.raises(ValueError, match=r"The 'target' parameter of kd must be a str among \{'members', 'mean'\}"):
        METHODS.create("kd", target="avg")


def test_sample_kd_loss_is_kd_toward_one_sample_per_example():
    alpha, temp = 0.5, 2.0
    heated = heat(P, temp)
    ce = alpha * -log_softmax(Z[0])[0]
    allowed = [ce + (1 - alpha) * temp**2 * (kl_rows(heated[s0, :1], Z[:1], temp)[0]
                                             + kl_rows(heated[s1, 1:], Z[1:], temp)[0]) / 2
               for s0 in range(2) for s1 in range(2)]
    loss = METHODS.create("sample-kd", alpha=alpha, temperature=temp).make_loss(t(P))
    torch.manual_seed(0)
    seen = {round(loss(t(Z), t(Y), IDX, 0.0).item(), 9) for _ in range(40)}
    assert len(seen) > 1
    assert all(min(abs(v - a) for a in allowed) < 1e-9 for v in seen)


@pytest.mark.parametrize("heat_student", [True, False])
@pytest.mark.parametrize("temp", [1.0, 2.5])
def test_end2_loss_is_dirichlet_nll_of_heated_smoothed_samples(temp, heat_student):
    # DirichletEnDDLoss (heat_student): α = exp(z/T), × T²; DirichletEnDDEnTempLoss: α = exp(z).
    eps = 1e-3
    target = (1 - eps) * heat(P, temp) + eps / 3  # smoothing after heating, as the reference
    scale = temp if heat_student else 1.0
    alphas = np.exp(Z / scale)
    nll = [-np.mean([dirichlet.logpdf(target[s, b], alphas[b]) for s in range(2)]) for b in range(2)]
    want = scale**2 * np.mean(nll)
    got = end2_loss(t(Z), t(P), temp, eps, heat_student=heat_student).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_end2_defaults_and_loss_option():
    method = METHODS.create("end2")
    assert (method.temperature, method.decay_start, method.decay_length, method.smoothing,
            method.loss) == (2.5, pytest.approx(1 / 3), pytest.approx(1 / 3), 1e-3, "endd")
    loss = METHODS.create("end2", loss="entemp").make_loss(t(P), epochs=3, steps_per_epoch=1)
    assert loss(t(Z), t(Y), IDX, 0.0).item() == pytest.approx(
        end2_loss(t(Z), t(P), 2.5, 1e-3, heat_student=False).item())
    with pytest.raises(ValueError, match=r"The 'loss' parameter of end2 must be a str among \{'endd', 'entemp'\}"):
        METHODS.create("end2", loss="dirtemp")


def test_end2_temperature_schedule_is_lrtempscheduler():
    # T0 = 10, decay from epoch d = 2 over L = 4 epochs (0-based epochs, LRTempScheduler).
    got = [temperature_at(e, t0=10.0, decay_epoch=2, decay_length=4) for e in range(9)]
    assert got == pytest.approx([10, 10, 10, 7.75, 5.5, 3.25, 1, 1, 1])
    # In training the epoch comes from the loop's progress: 12 epochs of 3 steps, d = 4, L = 4.
    method = METHODS.create("end2", temperature=10.0, decay_start=1 / 3, decay_length=1 / 3)
    assert method.schedule(12) == (4, 4)
    loss = method.make_loss(t(P), epochs=12, steps_per_epoch=3)
    for epoch, temp in [(0, 10.0), (4, 10.0), (5, 7.75), (6, 5.5), (7, 3.25), (8, 1.0), (11, 1.0)]:
        for step in range(3 * epoch, 3 * epoch + 3):
            assert loss(t(Z), t(Y), IDX, step / 36).item() == pytest.approx(
                end2_loss(t(Z), t(P), temp, 1e-3).item())


def test_end2_proxy_precision_and_loss_by_hand():
    mean = P.mean(0)
    mkl = (mean * (np.log(mean) - np.log(P))).sum(-1).mean(0)  # mean_s KL(p̄ ‖ p_s)
    beta0 = 2 / (2 * mkl + np.finfo(np.float32).eps)
    assert proxy_precision(t(P)).numpy() == pytest.approx(beta0, rel=1e-10)
    alphas = np.exp(Z) + 1
    a0 = alphas.sum(-1, keepdims=True)
    ece = -(mean * (digamma(alphas) - digamma(a0))).sum(-1)
    ent = np.array([dirichlet.entropy(a) for a in alphas])
    want = np.mean(ece - ent / (beta0 + 3 * 1.0))
    got = rkl_proxy_loss(t(Z), t(mean), t(beta0), 1.0).item()
    assert got == pytest.approx(want, rel=1e-5)


def test_end2_proxy_loss_is_reverse_kl_to_proxy_up_to_the_entropy_weight():
    """With target offset 1, loss + H·(1/(β0+K) − 1/β0) = KL(Dir(α) ‖ Dir(β0 p̄ + 1))/β0 + const."""
    p_bar, beta0 = np.array([[0.6, 0.3, 0.1]]), np.array([7.0])
    beta = beta0[:, None] * p_bar + 1

    def kl_dir(a, b):  # KL(Dir(a) ‖ Dir(b)), closed form
        a0, b0 = a.sum(), b.sum()
        return (gammaln(a0) - gammaln(a).sum() - gammaln(b0) + gammaln(b).sum()
                + ((a - b) * (digamma(a) - digamma(a0))).sum())

    def adjusted(z):
        a = np.exp(z) + 1
        h = dirichlet.entropy(a[0])
        return rkl_proxy_loss(t(z), t(p_bar), t(beta0), 1.0).item() + h * (1 / (beta0[0] + 3) - 1 / beta0[0])

    z1, z2 = np.array([[0.5, -0.2, 0.1]]), np.array([[2.0, 1.0, -1.0]])
    lhs = adjusted(z1) - adjusted(z2)
    rhs = (kl_dir(np.exp(z1[0]) + 1, beta[0]) - kl_dir(np.exp(z2[0]) + 1, beta[0])) / beta0[0]
    assert lhs == pytest.approx(rhs, rel=1e-5)


def test_hydra_phase2_loss_by_hand():
    temp = 2.0
    heated = heat(P, temp)
    want = np.mean([temp**2 * kl_rows(heated[h], Z, temp).mean() for h in range(2)])
    method = METHODS.create("hydra", heads=2, temperature=temp)
    outputs = t(np.stack([Z, Z]))
    assert method.make_loss(t(P))(outputs, t(Y), IDX, 0.0).item() == pytest.approx(want, rel=1e-10)


def test_hydra_trains_in_two_phases_and_phase2_heads_start_from_phase1_head(monkeypatch):
    calls = []
    real_fit = hydra_mod.fit

    def spy(model, data, loss, *, config, **kw):
        calls.append(([h.weight.detach().clone() for h in model.heads], config.epochs))
        return real_fit(model, data, loss, config=config, **kw)

    monkeypatch.setattr(hydra_mod, "fit", spy)
    torch.manual_seed(0)
    data = LabelledImages(torch.rand(24, 1, 28, 28), torch.tensor([0, 1, 2, -1] * 6))
    probs = torch.softmax(torch.randn(3, 24, 3), -1)
    method = METHODS.create("hydra", heads=3, phase1=0.5)
    net = method.wrap_model(cnn(width=2, num_classes=3))
    curve = method.fit_student(net, data, probs, config=TrainConfig(epochs=4, batch_size=8),
                               seed=0, desc="t", progress=False, monitor=lambda m: {})
    (start1, e1), (start2, e2) = calls
    assert (e1, e2) == (2, 2)
    assert not torch.equal(start1[0], start1[1])  # random heads before phase 1
    assert all(torch.equal(start2[0], w) for w in start2[1:])  # copies of the phase-1 head
    assert not torch.equal(start1[0], start2[0])  # ... which phase 1 trained
    assert [(r["epoch"], r["phase"]) for r in curve] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    heads_now = [h.weight for h in net.heads]
    assert not torch.equal(heads_now[0], heads_now[1])  # phase 2 made them diverge


def test_hydra_parameter_count_is_trunk_plus_heads():
    base = cnn(width=8)
    d, k = base.head.in_features, base.head.out_features
    trunk = count_parameters(base) - (d * k + k)
    assert count_parameters(METHODS.create("hydra", heads=5).wrap_model(cnn(width=8))) == trunk + 5 * (d * k + k)


def test_mc_dropout_samples_are_sub_networks():
    torch.manual_seed(0)
    net = cnn(width=2, dropout=0.5).eval()
    x = torch.rand(300, 1, 28, 28)  # two batches of the predictor
    mc = MCDropout(net, samples=4, seed=3)
    probs = mc.predict(x).probs
    masks = mc.masks()
    assert masks.shape == (4, net.head.in_features) and torch.equal(masks, mc.masks())
    with torch.no_grad():
        h = net.features(x)
        for s in range(4):
            sub = torch.softmax(net.head(h * masks[s] / 0.5), -1).double().numpy()
            np.testing.assert_allclose(probs[s], sub, atol=1e-6)
