"""MNIST-C corruptions by their measurable effect, and against the reference
(google-research/mnist-c ``corruptions.py``): severity ladders, determinism, and at each type's
MNIST-C level the reference's own parameter, measured on the output."""

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from kdbench.data import CORRUPTIONS, DATASETS
from kdbench.data.corruptions import (
    _PARAMS, MNIST_C_LEVEL, _zigzag_vertices, canny, corrupt, gaussian_blur, plasma_fractal,
)
from kdbench.errors import UserError

# the published MNIST-C setting of each type (the reference function's default severity, or
# its single value): what MNIST_C_LEVEL must point at in kdbench's ladder
REFERENCE = {   # shot noise: no kdbench level is MNIST-C's (every level adds a background)
    "impulse_noise": 0.17, "glass_blur": (0.7, 1, 2), "motion_blur": (10, 3),
    "shear": 0.4, "scale": 0.7, "rotate": 0.4, "brightness": 0.5, "translate": 3,
    "stripe": 7, "fog": (3.0, 1.4), "spatter": (0.65, 0.3, 1, 0.65, 1.5), "dotted_line": 1,
    "zigzag": 1, "canny_edges": 1.0,
}
DETERMINISTIC = {"brightness", "scale", "stripe", "canny_edges"}
SLOW = {"fog", "glass_blur", "zigzag"}   # ~1 ms per image: test on fewer


@pytest.fixture(scope="module")
def x():
    return DATASETS.create("mnist5k").test.x[:200]


def at_mnist_c(name, img, seed=0):
    return corrupt(img, name, MNIST_C_LEVEL[name], seed=seed)


def moments(img):
    """Intensity-weighted centre (row, col) and second central moments (μrr, μcc, μrc)."""
    h, w = img.shape[-2:]
    r, c = torch.meshgrid(torch.arange(h).double(), torch.arange(w).double(), indexing="ij")
    m = img[:, 0].double()
    s = m.sum((1, 2)).clamp_min(1e-12)
    cr, cc = (m * r).sum((1, 2)) / s, (m * c).sum((1, 2)) / s
    dr, dc = r - cr[:, None, None], c - cc[:, None, None]
    return cr, cc, (m * dr * dr).sum((1, 2)) / s, (m * dc * dc).sum((1, 2)) / s, \
        (m * dr * dc).sum((1, 2)) / s


def displacement(x, y):
    """Mean shift (px) of the centre of mass: grows with a shift or a one-sided blur."""
    a, b = moments(x), moments(y)
    return float(torch.hypot(b[0] - a[0], b[1] - a[1]).mean())


def mean_abs_change(x, y):
    return float((y - x).abs().mean())


def bar(n, vertical, half_length=9):
    """n copies of a 2-px bar through the centre (13.5, 13.5) of a 28x28 image."""
    img = torch.zeros(n, 1, 28, 28)
    if vertical:
        img[:, :, 14 - half_length:14 + half_length, 13:15] = 1
    else:
        img[:, :, 13:15, 14 - half_length:14 + half_length] = 1
    return img


def lean(y):
    """dcol/drow of the principal direction of a near-vertical stroke."""
    _, _, rr, _, rc = moments(y)
    return rc / rr


def orientation(y):
    """Angle (rad) of the principal axis from the column axis."""
    _, _, rr, cc, rc = moments(y)
    return 0.5 * torch.atan2(2 * rc, cc - rr)


def shear_effect(x, y):
    return float(lean(y).abs().mean())


def contrast_loss(x, y):
    """1 − (mean of y on strokes − mean of y on background) (fog's 1 − 1/(1 + a))."""
    stroke, bg = x > 0.99, x < 0.01
    return 1 - float(y[stroke].mean() - y[bg].mean())


# effect measured per type (default: mean absolute change) and ladder steps whose reference
# parameters tie on that effect (fog 3 -> 4 changes only the roughness, tested below)
EFFECT = {"translate": displacement, "motion_blur": displacement, "fog": contrast_loss}
TIES: dict[str, set] = {}


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_severity_ladder_shape_range_and_seeds(x, name):
    img = bar(64, vertical=True) if name == "shear" else x[:64] if name in SLOW else x
    effect = shear_effect if name == "shear" else EFFECT.get(name, mean_abs_change)
    values = []
    for sev in range(1, 6):
        y = corrupt(img, name, sev, seed=0)
        assert y.shape == img.shape and y.dtype == img.dtype
        assert float(y.min()) >= 0 and float(y.max()) <= 1
        assert mean_abs_change(img, y) > 0.003, f"{name} {sev} barely changes the image"
        values.append(effect(img, y))
        assert torch.equal(y, corrupt(img, name, sev, seed=0))
        if name not in DETERMINISTIC:
            assert not torch.equal(y, corrupt(img, name, sev, seed=1))
    for s, (a, b) in enumerate(zip(values, values[1:]), 1):
        if (s, s + 1) in TIES.get(name, ()):
            assert abs(a - b) < 0.02, f"{name}: {values}"
        else:
            assert a < b, f"{name}: {values}"
    assert torch.equal(corrupt(img, name, 0), img)


def test_registry_levels_and_errors(x):
    assert sorted(MNIST_C_LEVEL) == sorted(CORRUPTIONS.names()) and len(MNIST_C_LEVEL) == 15
    for name, ref in REFERENCE.items():
        level = MNIST_C_LEVEL[name]
        assert level in (1, 2, 3, 4, 5)
        assert _PARAMS[name][level - 1] == pytest.approx(ref), name
    assert MNIST_C_LEVEL["shot_noise"] is None
    assert [lam for lam, _ in _PARAMS["shot_noise"]] == [60, 25, 12, 5, 3]   # the reference's λ
    with pytest.raises(UserError, match="severity must be 1, 2, 3, 4 or 5"):
        corrupt(x[:2], "fog", 6)
    with pytest.raises(UserError, match="did you mean 'shot_noise'"):
        corrupt(x[:2], "shot_nose", 1)


def clipped_poisson_moments(v, lam, bg=0.0):
    """Mean and variance of clip(Poisson(λ·(v + b)) / λ − b, 0, 1), summed from the pmf."""
    mu = lam * (v + bg)
    pmf = [math.exp(-mu) * mu ** k / math.factorial(k) for k in range(60)]
    vals = [min(max(k / lam - bg, 0.0), 1.0) for k in range(60)]
    mean = sum(p * t for p, t in zip(pmf, vals))
    return mean, sum(p * (t - mean) ** 2 for p, t in zip(pmf, vals))


@pytest.mark.parametrize("level", [1, 5])
def test_shot_noise_is_poisson_on_a_raised_background(level):
    lam, bg = _PARAMS["shot_noise"][level - 1]
    img = torch.full((64, 1, 28, 28), 0.2)
    y = corrupt(img, "shot_noise", level)
    mean, var = clipped_poisson_moments(0.2, lam, bg)
    assert float(y.mean()) == pytest.approx(mean, abs=0.003)
    assert float(y.var()) == pytest.approx(var, rel=0.1)
    assert abs(var - clipped_poisson_moments(0.2, lam)[1]) > 0.1 * var   # b = 0 would fail
    q = (y + bg) * lam   # counts: y + b is a multiple of 1/λ where not clipped
    inside = (y > 0) & (y < 1)
    assert torch.allclose(q[inside], q[inside].round(), atol=1e-3)


def test_shot_noise_changes_the_black_background_at_every_level(x):
    """The reference's Poisson(λ·0) = 0 leaves the background black; kdbench's does not, more
    of it and brighter with severity (after the uint8 rounding the suites apply)."""
    from kdbench.data.images import to_float, to_uint8
    bg = x < 1e-6
    lit, mean = [], []
    for sev in range(1, 6):
        y = to_float(to_uint8(corrupt(x, "shot_noise", sev)))
        lit.append(float((y[bg] > 0).float().mean()))
        mean.append(float(y[bg].mean()))
    assert min(lit) > 0.05, lit
    assert all(a < b for a, b in zip(mean, mean[1:])), mean


@pytest.mark.parametrize("name", ["fog", "stripe", "shot_noise", "spatter"])
def test_rebuilt_ladders_grow_in_pixel_change(x, name):
    img = x[:64] if name in SLOW else x
    change = [mean_abs_change(img, corrupt(img, name, sev)) for sev in range(1, 6)]
    assert all(a < b for a, b in zip(change, change[1:])), change
    assert change[4] > (2 if name == "fog" else 3) * change[0], change   # level 1 is mild


def test_impulse_noise_at_mnist_c_level_hits_17_percent_half_salt():
    y = at_mnist_c("impulse_noise", torch.full((64, 1, 28, 28), 0.5))
    hit = y != 0.5
    assert float(hit.float().mean()) == pytest.approx(0.17, abs=0.005)
    assert float((y[hit] == 1).float().mean()) == pytest.approx(0.5, abs=0.02)


def test_brightness_at_mnist_c_level_adds_half(x):
    assert torch.equal(at_mnist_c("brightness", x), (x + 0.5).clamp(0, 1))


def test_translate_at_mnist_c_level_shifts_by_three_px(x):
    y = at_mnist_c("translate", x)
    for i in range(len(x)):
        shifts = []
        for dr in (-3, 3):
            for dc in (-3, 3):
                s = torch.roll(x[i], (dr, dc), (-2, -1))
                s[..., (slice(0, 3) if dr > 0 else slice(-3, None)), :] = 0
                s[..., (slice(0, 3) if dc > 0 else slice(-3, None))] = 0
                shifts.append(float((s - y[i]).abs().max()))
        assert min(shifts) < 1e-5


def test_rotate_at_mnist_c_level_turns_by_0_4_rad_either_way():
    y = at_mnist_c("rotate", bar(64, vertical=False))
    angle = orientation(y)
    assert torch.allclose(angle.abs(), torch.full_like(angle, 0.4), atol=0.01)
    assert (angle > 0).any() and (angle < 0).any()


def test_shear_at_mnist_c_level_leans_by_sin_of_the_angle():
    # skimage 0.15 AffineTransform(shear=0.4): x_in = x − sin(0.4)·y, not tan(0.4) = 0.423
    slope = lean(at_mnist_c("shear", bar(64, vertical=True)))
    assert torch.allclose(slope.abs(), torch.full_like(slope, math.sin(0.4)), atol=0.01)
    assert (slope > 0).any() and (slope < 0).any()


def test_scale_at_mnist_c_level_shrinks_by_0_7(x):
    a, b = moments(x), moments(at_mnist_c("scale", x))
    ratio = ((b[2] + b[3]) / (a[2] + a[3])).sqrt()
    assert float(ratio.mean()) == pytest.approx(0.7, abs=0.02)


def test_motion_blur_at_mnist_c_level_is_imagemagick_one_sided_kernel():
    img = torch.zeros(32, 1, 28, 28)
    img[:, :, 14, 14] = 1
    y = at_mnist_c("motion_blur", img)
    i = torch.arange(21, dtype=torch.float64)
    k = torch.exp(-i * i / 18)
    k = k / k.sum()                                  # radius 10 -> width 21, σ = 3
    assert torch.allclose(y[:, 0, 14, 14].double(), k[0].expand(32), atol=1e-6)
    assert torch.allclose(y.sum((1, 2, 3)).double(), torch.ones(32, dtype=torch.float64),
                          atol=1e-3)
    cr, cc, *_ = moments(y)
    assert torch.all(cc < 14) and torch.all((cr - 14).abs() <= (14 - cc) + 1e-6)  # ±45°, left
    shift = torch.hypot(cr - 14, cc - 14)
    assert float(shift.mean()) == pytest.approx(float((i * k).sum()), abs=0.15)


def test_blur_is_scipys_and_glass_blur_is_vertical_and_keeps_mass(x):
    # the reference's skimage gaussian(multichannel=True) on a 2-D image is
    # scipy gaussian_filter(sigma=(σ, 0), mode="nearest"): rows only
    img = x[:8].double()
    for sigma in (0.7, 1.5):
        for axes, sig in (("y", (sigma, 0)), ("yx", sigma)):
            want = torch.from_numpy(np.stack([ndi.gaussian_filter(im, sig, mode="nearest")
                                              for im in img[:, 0].numpy()]))
            assert torch.allclose(gaussian_blur(img, sigma, axes=axes)[:, 0], want, atol=1e-12)
    y = at_mnist_c("glass_blur", x)   # swaps permute pixels; uint8 truncation loses < 1/255
    assert 0.98 < float(y.sum() / x.sum()) <= 1.0


def test_stripe_inverts_seven_columns_each_side_at_mnist_c_level(x):
    y = at_mnist_c("stripe", x)
    inverted = torch.isclose(y, 1 - x).all(dim=(0, 1, 2)) & ~torch.isclose(y, x).all(dim=(0, 1, 2))
    assert inverted.nonzero().flatten().tolist() == list(range(7)) + list(range(21, 28))


def test_fog_contrast_follows_reference_amount_and_plasma_roughness(x):
    for sev, (amount, _) in enumerate(_PARAMS["fog"], 1):
        loss = contrast_loss(x, corrupt(x, "fog", sev))
        assert loss == pytest.approx(1 - 1 / (1 + amount), abs=0.02)   # MNIST-C: 1 − 1/4
    g = torch.Generator().manual_seed(0)
    rough = [float(plasma_fractal(32, g, wibbledecay=d).diff(dim=2).abs().mean())
             for _, d in _PARAMS["fog"]]
    assert rough[0] == pytest.approx(rough[1], rel=0.1) == pytest.approx(rough[2], rel=0.1)
    assert rough[2] < rough[3] < rough[4]


def test_spatter_occludes_with_grey_mud_at_mnist_c_level(x):
    mud = 63 / 255
    y = at_mnist_c("spatter", x)
    hit = (y - x).abs() > 1e-6
    assert 0.08 < float(hit.float().mean()) < 0.2
    # every changed pixel moves toward the mud grey: strokes darken, background greys
    assert torch.all((y[hit] - mud).abs() < (x[hit] - mud).abs() + 1e-6)
    assert torch.all((y[hit] - mud) * (x[hit] - mud) >= -1e-6)
    assert float((y - x).max()) <= mud + 1e-6 and float(y[x > 0.99].mean()) < 0.99
    black = at_mnist_c("spatter", torch.zeros(16, 1, 28, 28))
    covered = black[black > 0]
    assert float(covered.min()) >= 0.8 * mud - 1e-6 and float(covered.max()) <= mud + 1e-6


def test_dotted_line_dashes_and_ladder():
    black = torch.zeros(200, 1, 28, 28)
    y = at_mnist_c("dotted_line", black)
    cols = (y > 0).any(dim=(0, 1, 2)).nonzero().flatten().tolist()
    assert set(cols) <= {c for c in range(27) if (c // 2) % 2 == 1}
    dash = [c for c in range(27) if (c // 2) % 2 == 1]
    assert float(y[..., dash].amax(dim=2).min()) > 0.75   # the line crosses every dash
    mass = [float(corrupt(black, "dotted_line", s).sum()) for s in (1, 3, 4)]
    assert mass[0] / mass[1] == pytest.approx(1 / 3, abs=0.03)
    assert 1.8 < mass[2] / mass[1] < 2.05


def test_zigzag_vertices_are_the_references():
    v = _zigzag_vertices(torch.tensor([10.0]), torch.tensor([0.0]), 28)[0]
    want = [(2, 10), (4, 12), (8, 8), (12, 12), (16, 8), (20, 12), (24, 8), (25, 10 - 1 / 3)]
    assert torch.allclose(v, torch.tensor(want), atol=1e-5)
    y = at_mnist_c("zigzag", torch.zeros(64, 1, 28, 28))
    cols = (y > 0).any(dim=(0, 1, 2)).nonzero().flatten()
    assert int(cols.min()) >= 2 and int(cols.max()) <= 25


# skimage.feature.canny(im), rows 6..20 x cols 10..19, for the (tie-free) filled ellipse
# ((r − 13.2) / 7.3)² + ((c − 14.1) / 5.1)² <= 1 on a 28x28 grid
ELLIPSE_EDGES = """
0001110000 0110001100 1100000110 1000000010 1000000011 1000000001 1000000001 1000000001
1000000001 1000000001 1000000001 1000000010 1100000110 0110001100 0011111000"""


def test_canny_matches_skimage_and_uses_absolute_thresholds():
    want = torch.tensor([[int(ch) for ch in row] for row in ELLIPSE_EDGES.split()]).float()
    r, c = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    ellipse = ((((r - 13.2) / 7.3) ** 2 + ((c - 14.1) / 5.1) ** 2) <= 1).float()[None, None]
    for level in (1.0, 0.3):
        e = canny(ellipse * level)
        assert torch.equal(e[0, 0, 6:21, 10:20], want) and float(e.sum()) == float(want.sum())
    # a faint digit: gradient below the absolute high threshold 0.2, so no edge at all
    # (a threshold relative to the image's own maximum gradient would still find the ring)
    assert float(canny(ellipse * 0.05).sum()) == 0
    y = at_mnist_c("canny_edges", ellipse)   # MNIST-C replaces the image by its edge map
    assert torch.equal(y, canny(ellipse))
