"""The logit-based methods `dkd`, `dist` and `kd-std`: each loss pinned to an independent numpy
transcription of its authors' code (mdistiller ``DKD.py``; image_classification_sota
``dist_kd.py``; logit-standardization-KD ``KD.py``) on tiny inputs, computed from the teacher's
*logits* with per-example offsets up to 10³, while kdbench sees only the teacher's
probabilities; plus DKD's decomposition of the KL, its warm-up, unlabelled rows, the
multi-sample targets and one-line errors for bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax

from kdbench.config import load_suite
from kdbench.distill import METHODS
from kdbench.distill.dkd import dkd_terms
from kdbench.distill.logits import centred_logits
from kdbench.errors import UserError

rng = np.random.default_rng(0)
B, K = 6, 5
ZS = rng.normal(0, 2, (B, K))                   # student logits
ZT = rng.normal(0, 3, (2, B, K))                # two teacher samples' logits
Y = np.array([0, 3, -1, 2, -1, 4])              # rows 2 and 4 are unlabelled
OFFSETS = [np.zeros((B, 1)), rng.uniform(-1e3, 1e3, (B, 1))]  # per-example constants c(x)
IDX = torch.arange(B)


def t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a))


def loss_of(name: str, teacher_probs: np.ndarray, progress: float = 1.0, y=Y, **options) -> float:
    loss = METHODS.create(name, **options).make_loss(t(teacher_probs))
    return loss(t(ZS), t(y), IDX, progress).item()


def ce_labelled(z: np.ndarray, y: np.ndarray) -> float:
    keep = y >= 0
    return float(-log_softmax(z[keep], -1)[np.arange(keep.sum()), y[keep]].mean()) if keep.any() else 0.0


def kl_div_sum(log_input: np.ndarray, target: np.ndarray) -> float:
    """torch's F.kl_div(log_input, target, reduction="sum"): Σ target·(log target − input), 0·log 0 = 0."""
    safe = np.where(target > 0, target, 1.0)
    return float(np.sum(np.where(target > 0, target * (np.log(safe) - log_input), 0.0)))


# ---- numpy transcriptions of the authors' code (teacher given as logits) ----------------------

def ref_dkd(zs, zt, target, alpha, beta, temp):
    """mdistiller/distillers/DKD.py dkd_loss, line by line."""
    gt = np.zeros_like(zs, dtype=bool)
    gt[np.arange(len(target)), target] = True
    cat = lambda p: np.stack([(p * gt).sum(1), (p * ~gt).sum(1)], 1)  # noqa: E731
    ps, pt = cat(softmax(zs / temp, 1)), cat(softmax(zt / temp, 1))
    tckd = kl_div_sum(np.log(ps), pt) * temp**2 / len(target)
    pt2 = softmax(zt / temp - 1000.0 * gt, 1)
    ls2 = log_softmax(zs / temp - 1000.0 * gt, 1)
    nckd = kl_div_sum(ls2, pt2) * temp**2 / len(target)
    return alpha * tckd + beta * nckd


def ref_dist(zs, zt, beta, gamma, tau):
    """image_classification_sota lib/models/losses/dist_kd.py DIST.forward."""
    def pearson(a, b, eps=1e-8):
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + eps)
    ys, yt = softmax(zs / tau, 1), softmax(zt / tau, 1)
    inter = tau**2 * (1 - pearson(ys, yt).mean())
    intra = tau**2 * (1 - pearson(ys.T, yt.T).mean())
    return beta * inter + gamma * intra


def ref_normalize(z):
    return (z - z.mean(-1, keepdims=True)) / (1e-7 + z.std(-1, ddof=1, keepdims=True))


def ref_kd_std(zs, zt, temp):
    """logit-standardization-KD mdistiller/distillers/KD.py kd_loss(..., logit_stand=True)."""
    log_ps = log_softmax(ref_normalize(zs) / temp, 1)
    pt = softmax(ref_normalize(zt) / temp, 1)
    return kl_div_sum(log_ps, pt) / len(zs) * temp**2


# ---- pinned to the references, from probabilities, whatever the logits' offset ----------------

@pytest.mark.parametrize("offset", OFFSETS, ids=["c=0", "c~1e3"])
def test_dkd_matches_mdistiller(offset):
    zt = ZT[0]
    target = np.where(Y >= 0, Y, zt.argmax(1))  # unlabelled rows: the teacher's top class
    want = 1.0 * ce_labelled(ZS, Y) + ref_dkd(ZS, zt + offset, target, 1.0, 8.0, 4.0)
    assert loss_of("dkd", softmax(zt, -1)[None]) == pytest.approx(want, rel=1e-9)
    want = 0.5 * ce_labelled(ZS, Y) + ref_dkd(ZS, zt + offset, target, 2.0, 3.0, 2.0)
    got = loss_of("dkd", softmax(zt, -1)[None], ce_weight=0.5, alpha=2.0, beta=3.0, temperature=2.0)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("offset", OFFSETS, ids=["c=0", "c~1e3"])
def test_dist_matches_image_classification_sota(offset):
    zt = ZT[0]
    want = 1.0 * ce_labelled(ZS, Y) + 2.0 * ref_dist(ZS, zt + offset, 1.0, 1.0, 4.0)
    assert loss_of("dist", softmax(zt, -1)[None]) == pytest.approx(want, rel=1e-9)
    want = 0.3 * ce_labelled(ZS, Y) + 1.5 * ref_dist(ZS, zt + offset, 2.0, 0.5, 1.0)
    got = loss_of("dist", softmax(zt, -1)[None], ce_weight=0.3, kd_weight=1.5, beta=2.0, gamma=0.5,
                  temperature=1.0)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("offset", OFFSETS, ids=["c=0", "c~1e3"])
def test_kd_std_matches_logit_standardization_kd(offset):
    zt = ZT[0]
    want = 0.1 * ce_labelled(ZS, Y) + 9.0 * ref_kd_std(ZS, zt + offset, 2.0)
    assert loss_of("kd-std", softmax(zt, -1)[None]) == pytest.approx(want, rel=1e-9)
    want = 1.0 * ce_labelled(ZS, Y) + 2.0 * ref_kd_std(ZS, zt + offset, 3.0)
    got = loss_of("kd-std", softmax(zt, -1)[None], ce_weight=1.0, kd_weight=2.0, temperature=3.0)
    assert got == pytest.approx(want, rel=1e-9)


def test_centred_logits_recover_logits_up_to_their_mean():
    c = OFFSETS[1]
    z = centred_logits(t(softmax(ZT[0] + c, -1))).numpy()
    np.testing.assert_allclose(z, ZT[0] - ZT[0].mean(1, keepdims=True), atol=1e-10)
    assert np.isfinite(centred_logits(t([[1.0, 0.0, 0.0]])).numpy()).all()  # underflowed p = 0
    z = np.array([[0.0, -40.0, -60.0]])  # p down to 1e-26: kept exactly in float32, no 1e-12 floor
    got = centred_logits(torch.tensor(softmax(z, -1), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, z - z.mean(), atol=1e-4)


# ---- DKD ----------------------------------------------------------------------------------------

def test_tckd_plus_weighted_nckd_is_the_kl():
    temp = 3.0
    soft = softmax(ZT[1] / temp, -1)
    target = np.array([0, 1, 2, 3, 4, 0])
    tckd, nckd = dkd_terms(t(ZS), t(soft), t(target), temp)
    kl = (soft * (np.log(soft) - log_softmax(ZS / temp, -1))).sum(1)
    q_t = soft[np.arange(B), target]
    np.testing.assert_allclose(tckd.numpy() + (1 - q_t) * nckd.numpy(), kl, rtol=1e-12)
    assert (tckd.numpy() > 0).all() and (nckd.numpy() > 0).all()


def test_dkd_is_zero_and_flat_when_the_student_is_the_teacher():
    temp = 4.0
    z = t(temp * np.log(softmax(ZT[0] / temp, -1))).requires_grad_()
    tckd, nckd = dkd_terms(z, torch.softmax(z.detach() / temp, -1), t([0, 1, 2, 3, 4, 0]), temp)
    (tckd + nckd).sum().backward()
    assert tckd.abs().max() < 1e-12 and nckd.abs().max() < 1e-12 and z.grad.abs().max() < 1e-12


def test_dkd_warmup_ramps_the_dkd_term_linearly():
    p = softmax(ZT[0], -1)[None]
    ce = ce_labelled(ZS, Y)
    full = loss_of("dkd", p) - ce
    w = 20 / 240
    assert loss_of("dkd", p, progress=0.0) == pytest.approx(ce, rel=1e-12)
    assert loss_of("dkd", p, progress=w / 4) == pytest.approx(ce + full / 4, rel=1e-12)
    assert loss_of("dkd", p, progress=w) == pytest.approx(ce + full, rel=1e-12)
    assert loss_of("dkd", p, progress=0.0, warmup=0.0) == pytest.approx(ce + full, rel=1e-12)


def test_dkd_unlabelled_rows_use_the_teachers_top_class():
    p = softmax(ZT[0], -1)[None]
    unlabelled = np.full(B, -1)
    want = ref_dkd(ZS, ZT[0], ZT[0].argmax(1), 1.0, 8.0, 4.0)  # and no CE at all
    assert loss_of("dkd", p, y=unlabelled) == pytest.approx(want, rel=1e-9)


# ---- several teacher samples -------------------------------------------------------------------

@pytest.mark.parametrize("target", ["members", "mean"])
def test_multi_sample_targets(target):
    p = softmax(ZT, -1)                                     # (S, B, K)
    q = lambda temp: (softmax(ZT / temp, -1).mean(0) if target == "members"  # noqa: E731
                      else softmax(np.log(p.mean(0)) / temp, -1))
    ce = ce_labelled(ZS, Y)
    # dkd and dist see the teacher through q_T; feed the references logits T·log q_T.
    tgt = np.where(Y >= 0, Y, q(4.0).argmax(1))
    want = ce + ref_dkd(ZS, 4.0 * np.log(q(4.0)), tgt, 1.0, 8.0, 4.0)
    assert loss_of("dkd", p, target=target) == pytest.approx(want, rel=1e-9)
    want = ce + 2.0 * ref_dist(ZS, 4.0 * np.log(q(4.0)), 1.0, 1.0, 4.0)
    assert loss_of("dist", p, target=target) == pytest.approx(want, rel=1e-9)
    # kd-std: standardise each sample (members) or the mean's logits (mean), then heat.
    if target == "members":
        soft = softmax(ref_normalize(ZT) / 2.0, -1).mean(0)
    else:
        soft = softmax(ref_normalize(np.log(p.mean(0))) / 2.0, -1)
    kl = (soft * (np.log(soft) - log_softmax(ref_normalize(ZS) / 2.0, -1))).sum(1).mean()
    want = 0.1 * ce + 9.0 * 4.0 * kl
    assert loss_of("kd-std", p, target=target) == pytest.approx(want, rel=1e-9)


# ---- behaviour ---------------------------------------------------------------------------------

def test_kd_std_ignores_the_students_logit_scale():
    """Z(a·z + b) = Z(z): a student whose logits are any positive affine map of the teacher's has
    a zero KD term, whatever their range (the point of logit standardisation)."""
    p = softmax(ZT[0], -1)[None]
    loss = METHODS.create("kd-std", ce_weight=0.0).make_loss(t(p))
    for a, b in [(1.0, 0.0), (0.2, 5.0), (7.0, -3.0)]:
        assert loss(t(a * ZT[0] + b), t(Y), IDX, 0.5).item() == pytest.approx(0.0, abs=1e-10)


def test_dist_is_zero_for_a_perfectly_correlated_student():
    p = softmax(ZT[0], -1)[None]
    loss = METHODS.create("dist", ce_weight=0.0).make_loss(t(p))
    assert loss(t(ZT[0]), t(Y), IDX, 0.5).item() == pytest.approx(0.0, abs=1e-4)  # ε = 1e-8 in ρ
    assert loss(t(ZS), t(Y), IDX, 0.5).item() > 1.0


@pytest.mark.parametrize("name", ["dkd", "dist", "kd-std"])
def test_all_unlabelled_batch_has_no_label_term_and_finite_gradients(name):
    p = softmax(ZT, -1)
    z = t(ZS).requires_grad_()
    loss = METHODS.create(name, ce_weight=5.0).make_loss(t(p))
    value = loss(z, t(np.full(B, -1)), IDX, 1.0)
    value.backward()
    no_ce = METHODS.create(name, ce_weight=0.0).make_loss(t(p))(t(ZS), t(np.full(B, -1)), IDX, 1.0)
    assert value.item() == pytest.approx(no_ce.item(), rel=1e-12)
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_losses_run_in_float32_with_confident_teachers():
    """A near-certain teacher (probabilities down to 0 in float32) gives finite losses."""
    p = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0 - 1e-7, 1e-7]]])
    z = torch.tensor([[5.0, -2.0, 0.0], [0.0, 30.0, -30.0]], requires_grad=True)
    for name in ["dkd", "dist", "kd-std"]:
        value = METHODS.create(name).make_loss(p)(z, torch.tensor([0, -1]), torch.arange(2), 1.0)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(z.grad).all(), name


# ---- options -----------------------------------------------------------------------------------

def test_defaults_are_the_authors_cifar_settings():
    assert METHODS.create("dkd") == METHODS.create(
        "dkd", ce_weight=1.0, alpha=1.0, beta=8.0, temperature=4.0, warmup=20 / 240, target="members")
    assert METHODS.create("dist") == METHODS.create(
        "dist", ce_weight=1.0, kd_weight=2.0, beta=1.0, gamma=1.0, temperature=4.0)
    assert METHODS.create("kd-std") == METHODS.create(
        "kd-std", ce_weight=0.1, kd_weight=9.0, temperature=2.0)


@pytest.mark.parametrize("name, options, error, message", [
    ("dkd", {"beta": -1.0}, ValueError, r"^The 'beta' parameter of dkd must be a float in the range \[0, inf\)\. Got -1\.0 instead\.$"),
    ("dkd", {"warmup": 1.5}, ValueError, r"^The 'warmup' parameter of dkd must be a float in the range \[0, 1\]\. Got 1\.5 instead\.$"),
    ("dkd", {"alpha": "one"}, TypeError, r"^The 'alpha' parameter of dkd must be a float in the range \[0, inf\)\. Got 'one' instead\.$"),
    ("dist", {"temperature": 0.0}, ValueError, r"^The 'temperature' parameter of dist must be a float in the range \(0, inf\)\. Got 0\.0 instead\.$"),
    ("dist", {"gamma": float("nan")}, ValueError, r"^The 'gamma' parameter of dist must be a float in the range \[0, inf\)\. Got nan instead\.$"),
    ("kd-std", {"target": "avg"}, ValueError, r"^The 'target' parameter of kd-std must be a str among \{'members', 'mean'\}\. Got 'avg' instead\.$"),
    ("kd-std", {"kd_weight": True}, TypeError, r"^The 'kd_weight' parameter of kd-std must be a float in the range \[0, inf\)\. Got True instead\.$"),
    ("hydra", {"heads": 1}, ValueError, r"^The 'heads' parameter of hydra must be an int in the range \[2, inf\)\. Got 1 instead\.$"),
    ("hydra", {"phase1": 1.0}, ValueError, r"^The 'phase1' parameter of hydra must be a float in the range \(0, 1\)\. Got 1\.0 instead\.$"),
    ("sample-kd", {"alpha": 2.0}, ValueError, r"^The 'alpha' parameter of sample-kd must be a float in the range \[0, 1\]\. Got 2\.0 instead\.$"),
])
def test_bad_options_raise_one_line_errors(name, options, error, message):
    with pytest.raises(error, match=message):
        METHODS.create(name, **options)


SUITE = """
name = "t"
seeds = [0]
[data]
split = [300, 100, 100]
corrupt_n = 50
[teachers.one]
kind = "single"
width = 4
[students.s]
width = 4
[methods.dkd]
{option}
[[pairs]]
teachers = ["one"]
students = ["s"]
methods = ["dkd"]
"""


@pytest.mark.parametrize("option, message", [
    ("beta = -2.0", r"\[methods.dkd\].*The 'beta' parameter of dkd must be a float in the range \[0, inf\)\. Got -2.0 instead"),
    ("betta = 2.0", r"\[methods.dkd\] betta: unknown key .*did you mean 'beta'"),
    ("warmup = \"20\"", r"warmup: expected float, found '20'"),
])
def test_bad_suite_options_name_the_table(tmp_path, option, message):
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(option=option))
    with pytest.raises(UserError, match=message) as info:
        load_suite(str(path))
    assert "\n" not in str(info.value)


def test_every_method_distils_from_a_single_network(tmp_path):
    path = tmp_path / "suite.toml"
    for name in ["dkd", "dist", "kd-std"]:
        path.write_text(SUITE.format(option="").replace("dkd", name))
        suite = load_suite(str(path))
        assert [(p.teacher, p.method) for p in suite.pairs] == [("one", name)]
