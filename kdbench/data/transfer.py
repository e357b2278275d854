"""Transfer sets: the inputs on which a teacher's outputs are computed and a student learns.

A teacher that was trained on the training images is near-certain on them — the default
ensemble's mean mutual information there is ~0.004 nats and its members disagree on ~1% of
them — so a student distilled there sees almost none of the disagreement it is meant to keep
(Nam et al. 2021, "Diversity matters when learning from ensembles"). The reference code of
ensemble distribution distillation distils on augmented inputs and, in its "+AUX" variant, on
auxiliary data (Malinin et al. 2020). kdbench offers three transfer sets:

* ``train``: the training images, labelled.
* ``augment``: the training images plus ``copies`` augmented copies of them, labelled. For
  natural images (the CIFAR family) a copy is the standard random crop (4-px zero padding) and
  horizontal flip (`kdbench.data.images.crop_flip`); for digits each copy
  is a random small affine map (rotation U(−15°, 15°), scale U(0.9, 1.1), shift U(−2, 2) px in
  each direction) followed by an elastic deformation (a Gaussian-smoothed random displacement
  field, σ = 3 px, amplitude 1.5 px at its largest — Simard et al. 2003 in spirit), bilinear,
  zero padding.
* ``aux``: ``augment`` plus as many **unlabelled** auxiliary images as there are training
  images (label −1): each is the pixel-wise mean λ·a + (1 − λ)·b of two augmented training
  digits of *different* classes, λ ~ U(0.35, 0.65). They are made from training digits only, so
  they share no source with any OOD test set (photos, rendered letters, uniform noise), with the
  natural-shift digits, or with the test images behind every corrupted split; and no MNIST-C
  corruption blends two digits. They are deliberately ambiguous inputs, where an ensemble's
  members disagree most.

The small affine maps of ``augment`` overlap the lowest severities of MNIST-C's rotate,
translate, scale and shear: a student distilled on ``augment`` or ``aux`` has seen such
geometry at training time (as has any augmented model in the literature); docs/training.md
says so next to the results.

Everything is drawn from one generator seeded with ``seed``; the same arguments give the same
images. Images are float32 ``(N, 1, H, W)`` in [0, 1]; the training images come first, in
order, so a transfer set's first ``len(train)`` rows are the training set.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F

from .images import crop_flip
from .mnist5k import LabelledImages

TransferKind = Literal["train", "augment", "aux"]
TRANSFER_KINDS: tuple[str, ...] = ("train", "augment", "aux")
ELASTIC_SIGMA = 3.0
ELASTIC_ALPHA = 1.5   # largest displacement, pixels


def _smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of ``(N, C, H, W)`` with zero padding."""
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=field.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    c = field.shape[1]
    field = F.conv2d(field, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, r), groups=c)
    return F.conv2d(field, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(r, 0), groups=c)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One random small affine map plus an elastic deformation per image (see module doc)."""
    n, _, h, w = x.shape
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)  # noqa: E731
    angle, s = u(-15.0, 15.0) * math.pi / 180, u(0.9, 1.1)
    tx, ty = u(-2.0, 2.0) * 2 / w, u(-2.0, 2.0) * 2 / h      # pixels -> [-1, 1] units
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    disp = _smooth(torch.rand((n, 2, h, w), generator=gen) * 2 - 1, ELASTIC_SIGMA)
    disp = disp / disp.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8) * ELASTIC_ALPHA
    disp = disp.permute(0, 2, 3, 1) * torch.tensor([2 / w, 2 / h])
    out = F.grid_sample(x, grid + disp, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp(0, 1)


def mixtures(train: LabelledImages, n: int, gen: torch.Generator, *, aug=augment) -> torch.Tensor:
    """``n`` unlabelled blends λ·a + (1 − λ)·b of training images a, b of different classes,
    each augmented by ``aug`` (default `augment`), λ ~ U(0.35, 0.65)."""
    m = len(train)
    a = torch.randint(0, m, (n,), generator=gen)
    b = torch.randint(0, m, (n,), generator=gen)
    same = train.y[a] == train.y[b]
    while same.any():  # redraw partners until every pair has two different classes
        b[same] = torch.randint(0, m, (int(same.sum()),), generator=gen)
        same = train.y[a] == train.y[b]
    lam = (0.35 + 0.3 * torch.rand(n, generator=gen)).view(n, 1, 1, 1)
    xa, xb = aug(train.x[a], gen), aug(train.x[b], gen)
    return (lam * xa + (1 - lam) * xb).clamp(0, 1)


AUGMENTS = {"elastic": augment, "crop-flip": crop_flip}


@lru_cache(maxsize=4)  # keyed by the tensors' identity: load_dataset returns the same object
def _build(train: LabelledImages, kind: str, copies: int, seed: int, how: str) -> LabelledImages:
    gen = torch.Generator().manual_seed(seed)
    aug = AUGMENTS[how]
    xs, ys = [train.x], [train.y]
    if kind in ("augment", "aux"):
        for _ in range(copies):
            xs.append(aug(train.x, gen))
            ys.append(train.y)
    if kind == "aux":
        xs.append(mixtures(train, len(train), gen, aug=aug))
        ys.append(torch.full((len(train),), -1, dtype=train.y.dtype))
    return LabelledImages(torch.cat(xs).contiguous(), torch.cat(ys))


def transfer_set(train: LabelledImages, kind: TransferKind, *, copies: int = 0,
                 seed: int = 0, augmentation: str = "elastic") -> LabelledImages:
    """The transfer set of ``kind`` built from the training images ``train``: labels are the
    class, or −1 for unlabelled auxiliary images. ``copies`` augmented copies for ``augment``
    and ``aux`` (ignored for ``train``), made by ``augmentation``: "elastic" (the
    digits' affine + elastic map) or "crop-flip" (`kdbench.data.images.crop_flip`, for
    natural images; the data set says which, ``DatasetSplits.transfer_augment``). Cached per
    process for the last four calls (a run interleaves seeds)."""
    if augmentation not in AUGMENTS:
        raise ValueError(f"transfer augmentation must be one of {', '.join(AUGMENTS)}; "
                         f"found {augmentation!r}")
    if kind not in TRANSFER_KINDS:
        raise ValueError(f"transfer set must be one of {', '.join(TRANSFER_KINDS)}; found {kind!r}")
    if copies < 0:
        raise ValueError(f"transfer copies must be >= 0; found {copies}")
    if kind == "train":
        return train
    return _build(train, kind, copies, seed, augmentation)
