"""The 15 MNIST-C corruption types (Mu & Gilmer 2019), each at severities 1–5.

Every corruption is a batched, seeded tensor op ``f(x, severity, gen) -> x'`` on float images
``(N, 1, H, W)`` in [0, 1] that returns the same shape in [0, 1]; severity 0 means clean (see
`corrupt`). MNIST-C publishes one strength per type; kdbench grades each type into five
strengths whose middle (severity 3) is close to MNIST-C's setting, following the ImageNet-C /
CIFAR-10-C practice (Hendrycks & Dietterich 2019). The per-severity parameters are the tables
``_PARAMS`` below. Random draws (noise, angles, lines) come from ``gen``, so the same seed gives
the same corrupted images on CPU.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import UserError
from .registry import CORRUPTIONS

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]

_PARAMS: dict[str, tuple] = {
    "shot_noise": (60, 25, 12, 5, 3),             # Poisson photons per unit intensity
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),  # fraction of pixels set to 0 or 1
    "glass_blur": ((0.4, 1, 1), (0.5, 1, 2), (0.6, 2, 1), (0.7, 2, 2), (0.9, 3, 2)),  # σ, δ px, iters
    "motion_blur": (3, 5, 7, 9, 11),              # blur length in px, random direction
    "shear": (0.15, 0.3, 0.45, 0.6, 0.75),        # horizontal shear factor, random sign
    "scale": (0.9, 0.8, 0.7, 0.6, 0.5),           # zoom-out factor
    "rotate": (10, 20, 30, 45, 60),               # degrees, random sign
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),      # added intensity, then clipped
    "translate": (2, 3, 4, 5, 6),                 # px along each axis, random signs
    "stripe": (1, 2, 3, 4, 5),                    # inverted vertical bands of 2 px
    "fog": (0.3, 0.5, 0.7, 0.9, 1.2),             # fractal-noise amount
    "spatter": (0.03, 0.06, 0.1, 0.15, 0.2),      # fraction of the image under droplets
    "dotted_line": (1, 2, 3, 4, 5),               # dotted lines drawn
    "zigzag": (1, 2, 3, 4, 5),                    # zigzag lines drawn
    "canny_edges": (0.2, 0.4, 0.6, 0.8, 1.0),     # weight of the edge map blended in
}


def _check(severity: int) -> None:
    if severity not in (1, 2, 3, 4, 5):
        raise UserError(f"corruption severity must be 1, 2, 3, 4 or 5; found {severity!r}")


def _uniform(n: int, gen: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def _signs(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1


def _affine(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Resample each image with its own 2x3 matrix ``a`` ``(N, 2, 3)`` (output -> input
    coordinates in [-1, 1]), bilinear, zero (black) outside."""
    grid = F.affine_grid(a, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _gauss_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with std ``sigma`` px, reflect padding."""
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def _stamp(x: torch.Tensor, pts: torch.Tensor, value: float = 1.0) -> torch.Tensor:
    """Set the pixels at float coordinates ``pts`` ``(N, P, 2)`` (x, y in px) to ``value``."""
    n, _, h, w = x.shape
    px = pts[..., 0].round().long()
    py = pts[..., 1].round().long()
    ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    flat = (py.clamp(0, h - 1) * w + px.clamp(0, w - 1))
    out = x.reshape(n, h * w).clone()
    vals = torch.where(ok, torch.full_like(flat, 0, dtype=x.dtype) + value,
                       out.gather(1, flat))
    out.scatter_(1, flat, vals)
    return out.view_as(x)


def _segments(p0: torch.Tensor, p1: torch.Tensor, step: float) -> torch.Tensor:
    """Points every ``step`` px along segments ``p0 -> p1`` ``(N, L, 2)`` -> ``(N, L*P, 2)``."""
    p = int(math.ceil(60 / step)) + 1
    t = torch.linspace(0, 1, p)
    length = (p1 - p0).norm(dim=-1, keepdim=True)  # (N, L, 1)
    keep = (t.view(1, 1, p) * length.clamp_min(1e-6) / step)  # index along the line in steps
    pts = p0[:, :, None] + (p1 - p0)[:, :, None] * t.view(1, 1, p, 1)
    if step > 1:  # dotted: keep only points near whole multiples of the step
        on = (keep - keep.round()).abs() < 0.5 * (length.clamp_min(1e-6) / step) / (p - 1) + 1e-6
        pts = torch.where(on[..., None], pts, torch.full_like(pts, -10.0))
    return pts.reshape(p0.shape[0], -1, 2)


@CORRUPTIONS.register("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Poisson noise: x' = Poisson(c·x) / c with c photons per unit intensity."""
    c = _PARAMS["shot_noise"][severity - 1]
    return (torch.poisson(x * c, generator=gen) / c).clamp(0, 1)


@CORRUPTIONS.register("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Salt-and-pepper noise: a fraction of pixels set to 0 or 1 with equal probability."""
    amount = _PARAMS["impulse_noise"][severity - 1]
    u = torch.rand(x.shape, generator=gen)
    salt = torch.rand(x.shape, generator=gen) < 0.5
    hit = u < amount
    return torch.where(hit, salt.float(), x)


@CORRUPTIONS.register("glass_blur")
def glass_blur(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Gaussian blur σ, then ``iters`` rounds of moving every pixel by a random offset of at
    most δ px (a vectorised form of ImageNet-C's local pixel shuffling), then blur again."""
    sigma, delta, iters = _PARAMS["glass_blur"][severity - 1]
    n, c, h, w = x.shape
    x = gaussian_blur(x, sigma)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for _ in range(iters):
        dy = torch.randint(-delta, delta + 1, (n, h, w), generator=gen)
        dx = torch.randint(-delta, delta + 1, (n, h, w), generator=gen)
        src = (ys + dy).clamp(0, h - 1) * w + (xs + dx).clamp(0, w - 1)
        x = x.reshape(n, h * w).gather(1, src.reshape(n, -1)).view(n, c, h, w)
    return gaussian_blur(x, sigma).clamp(0, 1)


@CORRUPTIONS.register("motion_blur")
def motion_blur(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Average of the image shifted along a random direction over a length of L px."""
    length = _PARAMS["motion_blur"][severity - 1]
    n, _, h, w = x.shape
    ang = _uniform(n, gen, 0, math.pi)
    acc = torch.zeros_like(x)
    for s in torch.linspace(-(length - 1) / 2, (length - 1) / 2, length):
        a = torch.zeros(n, 2, 3)
        a[:, 0, 0] = a[:, 1, 1] = 1
        a[:, 0, 2] = s * torch.cos(ang) * 2 / w
        a[:, 1, 2] = s * torch.sin(ang) * 2 / h
        acc += _affine(x, a)
    return (acc / length).clamp(0, 1)


def _matrix(n: int) -> torch.Tensor:
    a = torch.zeros(n, 2, 3)
    a[:, 0, 0] = a[:, 1, 1] = 1
    return a


@CORRUPTIONS.register("shear")
def shear(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Horizontal shear by a factor of random sign."""
    s = _PARAMS["shear"][severity - 1]
    a = _matrix(x.shape[0])
    a[:, 0, 1] = s * _signs(x.shape[0], gen)
    return _affine(x, a).clamp(0, 1)


@CORRUPTIONS.register("scale")
def scale(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Zoom out about the centre by a factor < 1 (the digit shrinks)."""
    f = _PARAMS["scale"][severity - 1]
    a = _matrix(x.shape[0]) / f
    a[:, :, 2] = 0
    return _affine(x, a).clamp(0, 1)


@CORRUPTIONS.register("rotate")
def rotate(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Rotation about the centre by a fixed angle of random sign."""
    deg = _PARAMS["rotate"][severity - 1]
    ang = math.radians(deg) * _signs(x.shape[0], gen)
    a = torch.zeros(x.shape[0], 2, 3)
    a[:, 0, 0], a[:, 0, 1] = torch.cos(ang), -torch.sin(ang)
    a[:, 1, 0], a[:, 1, 1] = torch.sin(ang), torch.cos(ang)
    return _affine(x, a).clamp(0, 1)


@CORRUPTIONS.register("brightness")
def brightness(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Add a constant intensity to every pixel and clip to [0, 1]."""
    return (x + _PARAMS["brightness"][severity - 1]).clamp(0, 1)


@CORRUPTIONS.register("translate")
def translate(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Shift by d px along each axis, with independent random signs."""
    d = _PARAMS["translate"][severity - 1]
    n, _, h, w = x.shape
    a = _matrix(n)
    a[:, 0, 2] = d * 2 / w * _signs(n, gen)
    a[:, 1, 2] = d * 2 / h * _signs(n, gen)
    return _affine(x, a).clamp(0, 1)


@CORRUPTIONS.register("stripe")
def stripe(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Invert (x -> 1 − x) k vertical bands 2 px wide at random columns."""
    k = _PARAMS["stripe"][severity - 1]
    n, _, h, w = x.shape
    start = torch.randint(0, w - 1, (n, k), generator=gen)
    cols = torch.arange(w).view(1, 1, w)
    band = ((cols >= start[..., None]) & (cols < start[..., None] + 2)).any(1)  # (n, w)
    return torch.where(band.view(n, 1, 1, w), 1 - x, x)


def _fractal(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Sum of upsampled uniform noise octaves (4, 7, 14, 28 px grids), weight halving per
    octave, normalised to [0, 1] per image: a cheap plasma fractal."""
    out = torch.zeros(n, 1, h, w)
    weight = 1.0
    for cells in (4, 7, 14, 28):
        g = torch.rand(n, 1, cells, cells, generator=gen)
        out += weight * F.interpolate(g, size=(h, w), mode="bicubic", align_corners=False)
        weight /= 2
    lo = out.amin((1, 2, 3), keepdim=True)
    hi = out.amax((1, 2, 3), keepdim=True)
    return (out - lo) / (hi - lo).clamp_min(1e-6)


@CORRUPTIONS.register("fog")
def fog(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Add c·fractal noise and rescale so the brightest clean pixel keeps its value
    (ImageNet-C's fog: lower contrast under a cloudy veil)."""
    c = _PARAMS["fog"][severity - 1]
    n, _, h, w = x.shape
    top = x.amax((1, 2, 3), keepdim=True)
    return ((x + c * _fractal(n, h, w, gen)) * top / (top + c)).clamp(0, 1)


@CORRUPTIONS.register("spatter")
def spatter(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Droplets: blurred noise thresholded so that a given fraction of the image is covered,
    drawn over the image at a random intensity in [0.5, 1]."""
    frac = _PARAMS["spatter"][severity - 1]
    n, _, h, w = x.shape
    blob = gaussian_blur(torch.rand(n, 1, h, w, generator=gen), 1.0)
    thr = torch.quantile(blob.view(n, -1), 1 - frac, dim=1).view(n, 1, 1, 1)
    drops = (blob > thr).float()
    level = _uniform(n, gen, 0.5, 1.0).view(n, 1, 1, 1)
    return torch.maximum(x, drops * level).clamp(0, 1)


def _random_points(n: int, k: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, k, 2, generator=gen) * torch.tensor([w - 1, h - 1])


@CORRUPTIONS.register("dotted_line")
def dotted_line(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """k straight lines between random points, drawn as white dots every 3 px."""
    k = _PARAMS["dotted_line"][severity - 1]
    n, _, h, w = x.shape
    p0, p1 = _random_points(n, k, h, w, gen), _random_points(n, k, h, w, gen)
    return _stamp(x, _segments(p0, p1, step=3.0))


@CORRUPTIONS.register("zigzag")
def zigzag(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """k zigzag lines: polylines of 4 segments whose vertices alternate about a random
    straight line, drawn in white, 1 px wide."""
    k = _PARAMS["zigzag"][severity - 1]
    n, _, h, w = x.shape
    a, b = _random_points(n, k, h, w, gen), _random_points(n, k, h, w, gen)
    t = torch.linspace(0, 1, 5).view(1, 1, 5, 1)
    base = a[:, :, None] + (b - a)[:, :, None] * t  # (n, k, 5, 2)
    d = (b - a)
    normal = torch.stack([-d[..., 1], d[..., 0]], -1) / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    amp = _uniform(n * k, gen, 2.0, 4.0).view(n, k, 1, 1)
    alt = torch.tensor([0.0, 1, -1, 1, 0]).view(1, 1, 5, 1)
    verts = base + normal[:, :, None] * amp * alt
    p0 = verts[:, :, :-1].reshape(n, -1, 2)
    p1 = verts[:, :, 1:].reshape(n, -1, 2)
    return _stamp(x, _segments(p0, p1, step=0.5))


def _canny(x: torch.Tensor, sigma: float = 1.0, low: float = 0.1, high: float = 0.3) -> torch.Tensor:
    """Canny edge map (1 on edges, 0 elsewhere): Gaussian blur, Sobel gradients, non-maximum
    suppression along the quantised gradient direction, double threshold on the gradient
    magnitude relative to its per-image maximum, and hysteresis by repeated 3x3 dilation."""
    g = gaussian_blur(x, sigma)
    sx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), sx)
    gy = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), sx.transpose(2, 3))
    mag = torch.hypot(gx, gy)
    mag = mag / mag.amax((1, 2, 3), keepdim=True).clamp_min(1e-8)
    ang = torch.rad2deg(torch.atan2(gy, gx)) % 180
    q = ((ang + 22.5) // 45).long() % 4  # 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
    padded = F.pad(mag, (1, 1, 1, 1))
    h, w = mag.shape[-2:]

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]

    offsets = [((0, 1), (0, -1)), ((1, 1), (-1, -1)), ((1, 0), (-1, 0)), ((1, -1), (-1, 1))]
    keep = torch.zeros_like(mag, dtype=torch.bool)
    for d, (o1, o2) in enumerate(offsets):
        keep |= (q == d) & (mag >= shifted(*o1)) & (mag >= shifted(*o2))
    strong = keep & (mag >= high)
    weak = keep & (mag >= low)
    for _ in range(8):
        strong = weak & (F.max_pool2d(strong.float(), 3, 1, 1) > 0)
    return strong.float()


@CORRUPTIONS.register("canny_edges")
def canny_edges(x: torch.Tensor, severity: int, gen: torch.Generator) -> torch.Tensor:
    """Blend of the image and its Canny edge map: x' = (1 − a)·x + a·edges (a = 1 at
    severity 5 is MNIST-C's canny_edges)."""
    a = _PARAMS["canny_edges"][severity - 1]
    return ((1 - a) * x + a * _canny(x)).clamp(0, 1)


def seed_for(name: str, severity: int, seed: int) -> int:
    """The generator seed of (corruption, severity, data seed): stable across runs and
    machines (CRC-32 of the name, not Python's salted ``hash``)."""
    return (zlib.crc32(name.encode()) * 1_000_003 + severity * 7919 + seed) % (2**63)


def corrupt(x: torch.Tensor, name: str, severity: int, *, seed: int = 0) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (0 = clean, 1–5) to ``x`` ``(N, 1, H, W)``."""
    fn: Corruption = CORRUPTIONS.get(name)
    if severity == 0:
        return x.clone()
    _check(severity)
    gen = torch.Generator().manual_seed(seed_for(name, severity, seed))
    with torch.no_grad():
        return fn(x, severity, gen)
