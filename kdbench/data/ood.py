"""Out-of-distribution sets for the 28x28 grey-scale digit suites, and noise for any images (no labels).

* ``photos`` (far OOD): random square crops (side 28–160 px) of scikit-learn's two bundled
  sample photographs (``china.jpg``, ``flower.jpg``), converted to grey (ITU-R 601 luma) and
  resized to 28x28 with antialiasing.
* ``letters`` (near OOD): Latin letters rendered with the DejaVu fonts that matplotlib ships
  (sans, serif, mono; regular, bold, oblique), white on black, framed like MNIST, then a random
  rotation of ±15° and scale 0.85–1.15. The letters O, o, I, l, i, which are drawn like the
  digits 0 and 1, are left out.
* ``noise``: i.i.d. uniform pixel noise in [0, 1], in the shape of the suite's images.

Every set is generated from its own seed, so the same ``n`` and ``seed`` give the same images.
"""

from __future__ import annotations

import math
import string
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .images import frame_like_mnist
from .registry import OOD_SETS, family

LETTERS = [c for c in string.ascii_letters if c not in "OoIli"]


@OOD_SETS.register("photos")
@family("mnist")
def photos(*, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """``n`` grey 28x28 crops of scikit-learn's sample photographs, float32 ``(n, 1, 28, 28)``."""
    from sklearn.datasets import load_sample_images  # local: only the photos set needs it

    rng = np.random.default_rng(seed)
    imgs = [torch.from_numpy(im.astype(np.float32) / 255.0) for im in load_sample_images().images]
    grey = [(0.299 * im[..., 0] + 0.587 * im[..., 1] + 0.114 * im[..., 2]) for im in imgs]
    out = torch.empty(n, 1, 28, 28)
    for i in range(n):
        g = grey[i % len(grey)]
        side = int(rng.integers(28, 161))
        top = int(rng.integers(0, g.shape[0] - side + 1))
        left = int(rng.integers(0, g.shape[1] - side + 1))
        crop = g[top: top + side, left: left + side][None, None]
        out[i] = F.interpolate(crop, size=(28, 28), mode="bilinear", antialias=True,
                               align_corners=False)[0]
    return out.clamp_(0, 1)


def _font_files() -> list[Path]:
    import matplotlib  # local: only the letters set renders glyphs

    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return sorted(p for p in root.glob("DejaVu*.ttf") if "Display" not in p.name)


def _render(char: str, font: Path, size: int = 48) -> torch.Tensor:
    from matplotlib.ft2font import FT2Font  # local: as above

    f = FT2Font(str(font))
    f.set_size(size, 72)
    f.set_text(char)
    f.draw_glyphs_to_bitmap(antialiased=True)
    return torch.from_numpy(np.asarray(f.get_image(), dtype=np.float32) / 255.0)


def _glyph_bank() -> torch.Tensor:
    glyphs = []
    for font in _font_files():
        for c in LETTERS:
            g = _render(c, font)
            canvas = torch.zeros(64, 64)
            h, w = min(g.shape[0], 64), min(g.shape[1], 64)
            canvas[:h, :w] = g[:h, :w]
            glyphs.append(canvas)
    return frame_like_mnist(torch.stack(glyphs)[:, None])


@OOD_SETS.register("letters")
@family("mnist")
def letters(*, n: int = 1000, seed: int = 0) -> torch.Tensor:
    """``n`` rendered letters, randomly rotated/scaled, float32 ``(n, 1, 28, 28)``."""
    gen = torch.Generator().manual_seed(seed)
    bank = _glyph_bank()
    pick = torch.randint(len(bank), (n,), generator=gen)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(15)
    scale = 0.85 + 0.3 * torch.rand(n, generator=gen)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1),
                         torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, 28, 28), align_corners=False)
    return F.grid_sample(bank[pick], grid, align_corners=False).clamp_(0, 1)


@OOD_SETS.register("noise")
@family(None)
def noise(*, n: int = 1000, seed: int = 0, shape: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """``n`` images of i.i.d. uniform [0, 1] pixels, float32 ``(n, *shape)`` with ``shape`` =
    (channels, height, width) of the suite's images (any size)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=gen)
