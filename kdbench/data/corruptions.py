"""The 15 MNIST-C corruption types (Mu & Gilmer 2019), each at severities 1–5.

Reference: google-research/mnist-c, ``corruptions.py`` (the code that made the published
MNIST-C set). Every corruption here is a batched, seeded tensor op ``f(x, severity, gen) -> x'``
on float images ``(N, 1, H, W)`` in [0, 1] (white strokes on black) that returns the same shape
in [0, 1]; severity 0 means clean (see `corrupt`). Random draws come from ``gen``, so the same
seed gives the same corrupted images on CPU.

MNIST-C publishes ONE strength per type. Its code keeps a 5-level parameter list for most types
(adapted from Hendrycks & Dietterich's ImageNet-C / CIFAR-10-C code), and the published set is
the function's default severity. kdbench uses those 5-level lists unchanged for 8 types, so the
published MNIST-C image is one of kdbench's levels, not always the middle one: `MNIST_C_LEVEL`
says which (rotate at level 2, glass blur at level 1, ...). Where the reference has only one
value (stripe, dotted_line, zigzag, canny_edges) kdbench builds a 5-level ladder around it;
`MNIST_C_LEVEL` names the level that equals it. Three reference lists do not grade on a trained
MNIST network and are re-built from the reference's levels: fog (its level 1 is already
severe), spatter (barely grades) and shot noise (measures nothing: its Poisson noise leaves the
black background black); see each function and docs/data.md, which also gives the measured
ladders (scripts/ladders.py). The per-level parameters are the table `_PARAMS`.

Conventions taken from the reference (the libraries it called, as of 2019): skimage 0.15
``gaussian`` (scipy ``gaussian_filter``, truncate 4, 'nearest' border), ``warp`` (bilinear,
zero outside, coordinates (col, row) with pixel centres on integers), ``AffineTransform`` (shear
as an angle: matrix [[1, -sin s], [0, cos s]]), ``feature.canny`` (sigma 1, thresholds 0.1/0.2
on the absolute gradient), and ImageMagick's one-sided ``MotionBlurImage``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import UserError
from .registry import CORRUPTIONS, family

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]

_PARAMS: dict[str, tuple] = {
    # reference 5-level lists, unchanged (MNIST-C's own default severity in MNIST_C_LEVEL)
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),      # fraction of pixels set to 0 or 1
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),  # σ, δ, iters
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),  # ImageMagick radius, σ px
    "shear": (0.2, 0.4, 0.6, 0.8, 1.0),                   # shear angle in rad, random sign
    "scale": (0.9, 0.8, 0.7, 0.6, 0.5),                   # zoom-out factor
    "rotate": (0.2, 0.4, 0.6, 0.8, 1.0),                  # rad, random sign
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),              # added to HSV value, clipped
    "translate": (1, 2, 3, 4, 5),                         # px along each axis, random signs
    # kdbench ladders built from the reference's levels (docs/data.md: why each changed)
    # the reference's λ list, photons counted on a raised background b (a sensor's dark level)
    "shot_noise": ((60, 0.03), (25, 0.06), (12, 0.10), (5, 0.15), (3, 0.20)),  # λ, b
    # levels 3, 4, 5 = the reference's levels 1, 3, 5; levels 1, 2 milder (a = 0.5, 1.0)
    "fog": ((0.5, 2), (1.0, 2), (1.5, 2), (2.5, 1.7), (3.0, 1.4)),  # amount, wibble decay
    # level 2 = the reference's mud level 4 (MNIST-C); lower thresholds: more, larger blobs
    "spatter": (                                          # loc, scale, σ1, threshold, σ2
        (0.65, 0.3, 1, 0.66, 1.5), (0.65, 0.3, 1, 0.65, 1.5), (0.65, 0.3, 1, 0.63, 1.5),
        (0.65, 0.3, 1, 0.61, 1.5), (0.65, 0.3, 1, 0.59, 1.5)),
    # one published value (level 3 here, except canny); kdbench's ladder around it
    "stripe": (1, 3, 7, 9, 11),                           # inverted px at each side (of 28)
    "dotted_line": (1 / 3, 2 / 3, 1, 2, 3),               # lines (< 1: one line that faint)
    "zigzag": (1 / 3, 2 / 3, 1, 2, 3),                    # zigzags (< 1: one zigzag that faint)
    "canny_edges": (0.2, 0.4, 0.6, 0.8, 1.0),             # weight of the edge map (1 = MNIST-C)
}

MNIST_C_LEVEL: dict[str, int | None] = {
    "shot_noise": None, "impulse_noise": 4, "glass_blur": 1, "motion_blur": 1, "shear": 2,
    "scale": 3, "rotate": 2, "brightness": 5, "translate": 3, "stripe": 3, "fog": 5,
    "spatter": 2, "dotted_line": 3, "zigzag": 3, "canny_edges": 5,
}
"""Which kdbench severity of each corruption reproduces the published MNIST-C image (the
reference function's default severity, or the level built on its single value); None means
no level does (shot noise: every kdbench level adds a background, see `shot_noise`)."""

_MUD = 63 / 255  # spatter's mud grey in the reference


def _check(severity: int) -> None:
    if severity not in (1, 2, 3, 4, 5):
        raise UserError(f"corruption severity must be 1, 2, 3, 4 or 5; found {severity!r}")


def _signs(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1


def gaussian_blur(x: torch.Tensor, sigma: float, *, axes: str = "yx", mode: str = "nearest",
                  truncate: float = 4.0) -> torch.Tensor:
    """Gaussian blur of ``x`` ``(N, C, H, W)`` with std ``sigma`` px along ``axes`` ("y": rows,
    "x": columns), as scipy.ndimage.gaussian_filter: kernel radius ``int(truncate·σ + 0.5)``,
    border ``mode`` "nearest" (replicate) or "constant" (zeros)."""
    if sigma <= 0:
        return x
    r = int(truncate * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    pad_mode = {"nearest": "replicate", "constant": "constant"}[mode]
    if "x" in axes:
        x = F.conv2d(F.pad(x.reshape(-1, 1, *x.shape[-2:]), (r, r, 0, 0), mode=pad_mode),
                     k.view(1, 1, 1, -1)).view_as(x)
    if "y" in axes:
        x = F.conv2d(F.pad(x.reshape(-1, 1, *x.shape[-2:]), (0, 0, r, r), mode=pad_mode),
                     k.view(1, 1, -1, 1)).view_as(x)
    return x


def _warp(x: torch.Tensor, lin: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """skimage ``warp(x, inverse_map)`` for the inverse map ``input = lin·(out − c) + c + shift``
    in pixel coordinates (x = column, y = row; ``lin`` ``(N, 2, 2)``, ``shift`` ``(N, 2)`` px,
    c the image centre, e.g. 13.5): bilinear, zero outside the image."""
    n, _, h, w = x.shape
    s = torch.tensor([w / 2, h / 2])
    theta = torch.zeros(n, 2, 3)
    theta[:, :, :2] = lin * s.view(1, 1, 2) / s.view(1, 2, 1)   # S⁻¹·lin·S in [-1, 1] units
    if shift is not None:
        theta[:, :, 2] = shift / s
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@family("mnist")
@CORRUPTIONS.register("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Poisson noise on a raised background: x' = clip(Poisson(λ·(x + b)) / λ − b, 0, 1), λ
    photons per unit intensity, b a dark level subtracted after counting (as a sensor would).

    The reference is b = 0: Poisson(0) = 0, so its black background stays black and only the
    strokes get noisy; the teacher loses < 3 points even at its λ = 3. kdbench keeps the
    reference's λ list (60, 25, 12, 5, 3) and adds b = 0.03 … 0.20, so the background gets
    photon noise too and the ladder grades. No level is the published MNIST-C image."""
    lam, bg = _PARAMS["shot_noise"][severity - 1]
    return (torch.poisson((x + bg) * lam, generator=gen) / lam - bg).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Salt-and-pepper noise (skimage ``random_noise(mode='s&p')``): each pixel is replaced
    with probability ``amount``, by 1 or 0 with equal probability."""
    amount = _PARAMS["impulse_noise"][severity - 1]
    hit = torch.rand(x.shape, generator=gen) < amount
    salt = torch.rand(x.shape, generator=gen) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


@family("mnist")
@CORRUPTIONS.register("glass_blur")
def glass_blur(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Blur, uint8, local pixel swaps, blur: the reference step by step.

    The reference blurs with skimage ``gaussian(..., multichannel=True)`` on a 2-D (28, 28)
    array, which takes the 28 columns for colour channels: the blur is VERTICAL ONLY (σ along
    rows); kdbench keeps that. It then truncates to uint8 and, ``iters`` times, visits the
    pixels (h, w) for h, w from H−δ down to δ+1 and, with probability 1/2, swaps each with
    the pixel at (h+dy, w+dx), dx, dy uniform in {−δ, …, δ−1}. The swaps are sequential (a
    pixel can travel several times), so they run as a Python loop over positions, batched
    over the N images."""
    sigma, delta, iters = _PARAMS["glass_blur"][severity - 1]
    n, c, h, w = x.shape
    x = torch.floor(gaussian_blur(x, sigma, axes="y") * 255) / 255   # np.uint8(... * 255)
    flat = x.reshape(n, h * w).clone()
    positions = [(i, j) for i in range(h - delta, delta, -1) for j in range(w - delta, delta, -1)]
    p = len(positions)
    coin = torch.rand(iters, p, n, generator=gen) < 0.5
    d = torch.randint(-delta, delta, (iters, p, n, 2), generator=gen)   # dx, dy
    rows = torch.arange(n)
    for it in range(iters):
        src = torch.tensor([i * w + j for i, j in positions])
        dst = src[:, None] + d[it, :, :, 1] * w + d[it, :, :, 0]   # (p, n)
        for k in range(p):
            a, b, on = int(src[k]), dst[k], coin[it, k]
            va = flat[:, a].clone()
            vb = flat[rows, b]
            flat[:, a] = torch.where(on, vb, va)
            flat[rows, b] = torch.where(on, va, vb)
    return gaussian_blur(flat.view(n, c, h, w), sigma, axes="y").clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("motion_blur")
def motion_blur(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """ImageMagick ``MotionBlurImage(radius, σ, angle)`` as the reference calls it through Wand,
    angle uniform in (−45°, 45°): x'(p) = Σ_i k_i·x(p + o_i) for i = 0 … 2·ceil(radius), with
    k_i ∝ exp(−i²/2σ²) (one-sided, normalised) and o_i = (ceil(i·cos θ − ½), ceil(i·sin θ − ½))
    px (x = column, y = row), edge pixels repeated outside the image."""
    radius, sigma = _PARAMS["motion_blur"][severity - 1]
    n, c, h, w = x.shape
    width = 2 * math.ceil(radius) + 1
    i = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(i * i) / (2 * sigma * sigma))
    k = (k / k.sum()).to(x.dtype)
    theta = torch.deg2rad(torch.rand(n, generator=gen, dtype=torch.float64) * 90 - 45)
    ox = torch.ceil(i[None] * torch.cos(theta)[:, None] - 0.5).long()   # (n, width)
    oy = torch.ceil(i[None] * torch.sin(theta)[:, None] - 0.5).long()
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    flat = x.reshape(n * c, h * w)
    out = torch.zeros_like(flat)
    for j in range(width):
        yy = (ys + oy[:, j].view(n, 1, 1)).clamp(0, h - 1)
        xx = (xs + ox[:, j].view(n, 1, 1)).clamp(0, w - 1)
        idx = (yy * w + xx).reshape(n, 1, h * w).expand(n, c, h * w).reshape(n * c, h * w)
        out += k[j] * flat.gather(1, idx)
    return out.view_as(x).clamp(0, 1)


def _centre_lin(n: int) -> torch.Tensor:
    return torch.eye(2).repeat(n, 1, 1)


@family("mnist")
@CORRUPTIONS.register("shear")
def shear(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """skimage 0.15 ``AffineTransform(shear=s)`` about the centre as the inverse map, s = ±angle:
    input = [[1, −sin s], [0, cos s]]·(out − c) + c, so a vertical stroke leans by
    dx/dy = sin s and stretches by 1/cos s."""
    s = _PARAMS["shear"][severity - 1] * _signs(x.shape[0], gen)
    lin = _centre_lin(x.shape[0])
    lin[:, 0, 1] = -torch.sin(s)
    lin[:, 1, 1] = torch.cos(s)
    return _warp(x, lin).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("scale")
def scale(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Zoom out about the centre by f < 1 (inverse map scale 1/f): the digit shrinks by f."""
    f = _PARAMS["scale"][severity - 1]
    return _warp(x, _centre_lin(x.shape[0]) / f).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("rotate")
def rotate(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Rotation about the centre by a fixed angle (rad) of random sign (skimage
    ``AffineTransform(rotation=±a)`` as the inverse map)."""
    a = _PARAMS["rotate"][severity - 1] * _signs(x.shape[0], gen)
    lin = torch.stack([torch.stack([torch.cos(a), -torch.sin(a)], -1),
                       torch.stack([torch.sin(a), torch.cos(a)], -1)], -2)
    return _warp(x, lin).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("brightness")
def brightness(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Add c to the HSV value and clip. For a grey image V = x and S = 0, so the reference's
    gray→RGB→HSV→RGB→gray round trip is exactly x' = clip(x + c, 0, 1)."""
    return (x + _PARAMS["brightness"][severity - 1]).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("translate")
def translate(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Shift by d px along each axis with independent random signs (zeros move in)."""
    d = _PARAMS["translate"][severity - 1]
    n = x.shape[0]
    shift = d * torch.stack([_signs(n, gen), _signs(n, gen)], 1)
    return _warp(x, _centre_lin(n), shift).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("stripe")
def stripe(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Invert (x -> 1 − x) the k leftmost and k rightmost columns (reference: k = 7 of 28,
    ``x[:, :7]`` and ``x[:, 21:]``, kdbench level 3; levels 1, 2 invert 1 and 3 columns);
    k is scaled by W/28 for other widths. Not random."""
    w = x.shape[-1]
    k = round(_PARAMS["stripe"][severity - 1] * w / 28)
    cols = torch.arange(w)
    band = (cols < k) | (cols >= w - k)
    return torch.where(band.view(1, 1, 1, w), 1 - x, x)


def plasma_fractal(n: int, gen: torch.Generator, *, mapsize: int = 256,
                   wibbledecay: float = 3.0) -> torch.Tensor:
    """``n`` diamond-square height maps ``(n, mapsize, mapsize)`` in [0, 1], the reference's
    ``plasma_fractal`` (toroidal, wibble 100 divided by ``wibbledecay`` per octave) batched."""
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two; found {mapsize}")
    grid = torch.zeros(n, 1, 1)   # the map's points at multiples of the current step
    wibble = 100.0

    def wibbled_mean(a: torch.Tensor) -> torch.Tensor:   # a/4 + U(−wibble², wibble²), in place
        u = torch.rand(a.shape, generator=gen).mul_(2 * wibble * wibble).sub_(wibble * wibble)
        return u.add_(a, alpha=0.25)

    while grid.shape[-1] < mapsize:   # one step of the reference's `while stepsize >= 2`
        k = grid.shape[-1]
        sq = grid + grid.roll(-1, 1)
        centre = wibbled_mean(sq.add_(sq.roll(-1, 2)))                          # fillsquares
        top = wibbled_mean((centre + centre.roll(1, 1)).add_(grid).add_(grid.roll(-1, 2)))
        left = wibbled_mean((centre + centre.roll(1, 2)).add_(grid).add_(grid.roll(-1, 1)))
        grid = torch.stack([torch.stack([grid, top], -1), torch.stack([left, centre], -1)],
                           2).reshape(n, 2 * k, 2 * k)   # interleave into the finer grid
        wibble /= wibbledecay
    m = grid - grid.amin((1, 2), keepdim=True)
    return m / m.amax((1, 2), keepdim=True)


@family("mnist")
@CORRUPTIONS.register("fog")
def fog(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """x' = clip((x + a·P)·max(x) / (max(x) + a), 0, 1) with P the top-left H×W crop of a
    256×256 diamond-square plasma (normalised over the whole map), as in the reference.

    Levels 3, 4, 5 are the reference's levels 1, 3, 5 (5 = MNIST-C); the reference's level 1
    (a = 1.5, contrast 0.4) already costs the teacher 40+ points, so levels 1, 2 are a = 0.5
    and 1.0 (same roughness as the reference's level 1)."""
    amount, decay = _PARAMS["fog"][severity - 1]
    n, c, h, w = x.shape
    crops = [plasma_fractal(min(64, n - s), gen, wibbledecay=decay)[:, :h, :w]
             for s in range(0, n, 64)]   # chunks bound the memory of the 256x256 maps
    p = torch.cat(crops)[:, None].to(x.dtype)
    top = x.amax((1, 2, 3), keepdim=True)
    return ((x + amount * p) * top / (top + amount)).clamp(0, 1)


@family("mnist")
@CORRUPTIONS.register("spatter")
def spatter(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Grey mud (63/255) occludes the digit, as in the reference: L ~ N(loc, scale²) per pixel,
    blurred (σ1); mask m = blur(L > threshold, σ2), set to 0 below 0.8; x' = x·(1 − m) + m·63/255.
    Strokes under the mud darken and background under it turns grey.

    Level 2 is the reference's level 4 (= MNIST-C, threshold 0.65, about 14% of pixels). The
    reference's levels 1–3 are ImageNet-C's WATER-spatter settings (its 6th field 0), which
    MNIST-C's code, ignoring that field, renders as mud covering 8–25% of the image, and its
    level 5 costs the teacher < 4 points: the reference's ladder barely grades. kdbench keeps
    the reference's mud (loc 0.65, scale 0.3, σ1 = 1, σ2 = 1.5) and moves the threshold: 0.66
    at level 1, then 0.63, 0.61, 0.59 (more and larger blobs) at levels 3–5."""
    loc, sd, s1, thr, s2 = _PARAMS["spatter"][severity - 1]
    liquid = gaussian_blur(loc + sd * torch.randn(x.shape, generator=gen, dtype=x.dtype), s1)
    m = gaussian_blur((liquid > thr).to(x.dtype), s2)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    return (x * (1 - m) + _MUD * m).clamp(0, 1)


def _line(c0: torch.Tensor, r0: torch.Tensor, c1: torch.Tensor, r1: torch.Tensor,
          h: int, w: int) -> torch.Tensor:
    """The reference's ``line_from_points`` for batches of segments ``(...)`` -> ``(..., h, w)``:
    intensity clip(log(1 − d/2.3) + 1, 0, 1) with d the vertical distance (px) to the line
    through (c0, r0), (c1, r1), zero outside columns [floor(c0), ceil(c1)) and for c1 == c0."""
    cc = torch.arange(w, dtype=torch.float32)
    rr = torch.arange(h, dtype=torch.float32).view(h, 1)
    run = (c1 - c0)
    slope = (r1 - r0) / torch.where(run == 0, torch.ones_like(run), run)
    e = lambda t: t[..., None, None]  # noqa: E731
    d = (rr - (e(slope) * (cc - e(c0)) + e(r0))).abs().clamp(0, 2.3 - 1e-10)
    v = (torch.log(1 - d / 2.3) + 1).clamp(0, 1)
    inside = (cc >= e(torch.floor(c0))) & (cc < e(torch.ceil(c1))) & e(run != 0)
    return v * inside


def _lines_ladder(strength: float) -> tuple[int, float]:
    """(number of lines, intensity of each): k < 1 draws one line of intensity k."""
    count = max(1, math.ceil(strength))
    return count, strength / count


@family("mnist")
@CORRUPTIONS.register("dotted_line")
def dotted_line(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """The reference's dotted line, added and clipped: a line from (col 0, row r0) to
    (col W−1, row r1), r0, r1 uniform in {0, …, H−2}, kept only in the columns c with
    ⌊c/2⌋ odd (2-px dashes, 2-px gaps). Levels 4–5 add 2 and 3 independent lines; levels 1–2
    draw one line at 1/3 and 2/3 intensity."""
    count, alpha = _lines_ladder(_PARAMS["dotted_line"][severity - 1])
    n, _, h, w = x.shape
    r = torch.randint(0, h - 1, (n, count, 2), generator=gen).float()
    c0 = torch.zeros(n, count)
    lines = _line(c0, r[..., 0], c0 + (w - 1), r[..., 1], h, w)   # (n, count, h, w)
    dash = (torch.arange(w) // 2) % 2 == 1
    add = alpha * (lines * dash).sum(1, keepdim=True)
    return (x + add).clamp(0, 1)


def _zigzag_vertices(r0: torch.Tensor, dr: torch.Tensor, w: int) -> torch.Tensor:
    """Vertices ``(..., V, 2)`` (col, row) of the reference's zigzag from column 2 to W−3 with
    start row r0 and end row r0 + dr: teeth a = 2 px long and b = 2 px high along the line,
    then the reference's last point (d, r_last / (2·(d − max_c))), rotated by atan(dr / run)."""
    a = b = 2.0
    c0, c1 = 2.0, float(w - 3)
    run = c1 - c0
    theta = torch.atan(dr / run)
    d = run / torch.cos(theta)                                    # (...)
    count = int((d.max() - a) // (2 * a)) + 1                     # teeth of the longest line
    i = torch.arange(count, dtype=torch.float32)
    n_i = ((d - a) // (2 * a)).long() + 1                        # teeth of each line
    teeth_c = ((2 * i + 1) * a).expand(*d.shape, count)
    teeth_r = (b * (-1.0) ** i).expand(*d.shape, count)
    max_c = 2 * a * torch.floor(d / (2 * a))
    last_r = b * (-1.0) ** (n_i - 1).float()
    end_c = d
    end_r = last_r / (2 * (d - max_c)).clamp_min(1e-12)
    has_end = d != max_c
    last_tooth_c = (2 * (n_i - 1).float() + 1) * a
    # sequence: (0,0), teeth[:n], end (or the last tooth again), padded by repeating the end
    j = torch.arange(count + 2)
    idx = (j - 1).clamp(0, count - 1).expand(*d.shape, count + 2)
    cs = torch.gather(teeth_c, -1, idx)
    rs = torch.gather(teeth_r, -1, idx)
    tail = j > n_i[..., None]
    tail_c = torch.where(has_end, end_c, last_tooth_c)[..., None].expand_as(cs)
    tail_r = torch.where(has_end, end_r, last_r)[..., None].expand_as(rs)
    cs = torch.where(tail, tail_c, cs)
    rs = torch.where(tail, tail_r, rs)
    cs = torch.where(j == 0, torch.zeros_like(cs), cs)
    rs = torch.where(j == 0, torch.zeros_like(rs), rs)
    cos, sin = torch.cos(theta)[..., None], torch.sin(theta)[..., None]
    return torch.stack([cs * cos - rs * sin + c0, cs * sin + rs * cos + r0[..., None]], -1)


@family("mnist")
@CORRUPTIONS.register("zigzag")
def zigzag(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """The reference's zigzag, added and clipped: start row r0 uniform in {0, …, H−2}, end row
    r0 + dr with dr uniform in {−5, …, 4}, each segment drawn with the reference's line profile.
    Levels 4–5 add 2 and 3 independent zigzags; levels 1–2 draw one at 1/3 and 2/3 intensity."""
    count, alpha = _lines_ladder(_PARAMS["zigzag"][severity - 1])
    n, _, h, w = x.shape
    r0 = torch.randint(0, h - 1, (n, count), generator=gen).float()
    dr = torch.randint(-5, 5, (n, count), generator=gen).float()
    v = _zigzag_vertices(r0, dr, w)                                # (n, count, V, 2)
    seg = _line(v[..., :-1, 0], v[..., :-1, 1], v[..., 1:, 0], v[..., 1:, 1], h, w)
    add = alpha * seg.sum((1, 2))[:, None]
    return (x + add).clamp(0, 1)


def canny(x: torch.Tensor, *, sigma: float = 1.0, low: float = 0.1,
          high: float = 0.2) -> torch.Tensor:
    """skimage ``feature.canny`` (0.15) batched: edge map ``(N, 1, H, W)`` of 0/1.

    Gaussian smoothing with zero padding renormalised by the smoothed all-ones mask, Sobel
    gradients (scipy ``ndi.sobel``), the 1-px border dropped, non-maximum suppression that
    interpolates the magnitude between the two neighbours across each of four 45° sectors,
    double threshold on the ABSOLUTE magnitude (``low``, ``high`` for images in [0, 1]) and
    hysteresis: keep the 8-connected low components that hold a high pixel. Computed in
    float64, as skimage does: float32 breaks the many exact ties of the non-maximum
    suppression differently."""
    dtype, x = x.dtype, x.double()
    n, c, h, w = x.shape
    g = gaussian_blur(x, sigma, mode="constant")
    g = g / (gaussian_blur(torch.ones(1, 1, h, w, dtype=x.dtype), sigma, mode="constant")
             + torch.finfo(torch.float64).eps)
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")   # scipy 'reflect' = edge for a 3-tap kernel
    sm = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype)
    dv = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype)
    jsob = F.conv2d(p, (sm[:, None] * dv[None, :]).view(1, 1, 3, 3))   # d/dcol
    isob = F.conv2d(p, (dv[:, None] * sm[None, :]).view(1, 1, 3, 3))   # d/drow
    ai, aj = isob.abs(), jsob.abs()
    mag = torch.hypot(isob, jsob)
    border = torch.zeros(h, w, dtype=torch.bool)
    border[1:-1, 1:-1] = True
    valid = border & (mag > 0)
    mp = F.pad(mag, (1, 1, 1, 1))

    def at(dr: int, dc: int) -> torch.Tensor:   # magnitude at (row + dr, col + dc)
        return mp[..., 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]

    w_ij = aj / ai.clamp_min(1e-30)
    w_ji = ai / aj.clamp_min(1e-30)
    same = ((isob >= 0) & (jsob >= 0)) | ((isob <= 0) & (jsob <= 0))
    opp = ((isob <= 0) & (jsob >= 0)) | ((isob >= 0) & (jsob <= 0))
    sectors = [   # (points, weight, plus (c1, c2), minus (c1, c2)) in skimage's order
        (same & (ai >= aj), w_ij, ((1, 0), (1, 1)), ((-1, 0), (-1, -1))),
        (same & (ai <= aj), w_ji, ((0, 1), (1, 1)), ((0, -1), (-1, -1))),
        (opp & (ai <= aj), w_ji, ((0, 1), (-1, 1)), ((0, -1), (1, -1))),
        (opp & (ai >= aj), w_ij, ((-1, 0), (-1, 1)), ((1, 0), (1, -1))),
    ]
    local_max = torch.zeros_like(mag, dtype=torch.bool)
    for pts, wt, (p1, p2), (m1, m2) in sectors:
        plus = at(*p2) * wt + at(*p1) * (1 - wt) <= mag
        minus = at(*m2) * wt + at(*m1) * (1 - wt) <= mag
        local_max = torch.where(pts & valid, plus & minus, local_max)
    strong = local_max & (mag >= high)
    weak = (local_max & (mag >= low)).to(x.dtype)
    grown = strong.to(x.dtype)
    while True:
        nxt = weak * F.max_pool2d(grown, 3, 1, 1)
        if torch.equal(nxt, grown):
            return grown.to(dtype)
        grown = nxt


@family("mnist")
@CORRUPTIONS.register("canny_edges")
def canny_edges(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """x' = (1 − a)·x + a·canny(x): the reference REPLACES the image by its Canny edge map
    (a = 1, kdbench level 5); lower levels blend the edge map in with weight a."""
    a = _PARAMS["canny_edges"][severity - 1]
    return ((1 - a) * x + a * canny(x)).clamp(0, 1)


def seed_for(name: str, severity: int, seed: int) -> int:
    """The generator seed of (corruption, severity, data seed): stable across runs and
    machines (CRC-32 of the name, not Python's salted ``hash``)."""
    return (zlib.crc32(name.encode()) * 1_000_003 + severity * 7919 + seed) % (2**63)


def corrupt(x: torch.Tensor, name: str, severity: int, *, seed: int = 0) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (0 = clean, 1–5) to ``x`` ``(N, 1, H, W)``
    float in [0, 1]; returns a new tensor of the same shape in [0, 1]."""
    fn: Corruption = CORRUPTIONS.get(name)
    if severity == 0:
        return x.clone()
    _check(severity)
    gen = torch.Generator().manual_seed(seed_for(name, severity, seed))
    with torch.no_grad():
        return fn(x, severity, gen)
