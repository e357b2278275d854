"""Small image helpers shared by the data sets: uint8 <-> float, MNIST-style framing."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import device as devices


def to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W)`` -> float32 ``(N, 1, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)


def pixels_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1] (``x.float().div_(255)``, the very ops of `to_float`
    and `kdbench.data.files.hwc_to_float`, so the values are bit for bit theirs); a float
    tensor is returned as it is. Evaluation splits stay uint8 in memory and are converted one
    batch at a time, on the device (`kdbench.predictors.batches`)."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``(N, 1, H, W)`` in [0, 1] -> uint8 ``(N, H, W)``, rounded (how MNIST-C stores)."""
    return x.clamp(0, 1).mul(255).round().to(torch.uint8).squeeze(1).numpy()


def frame_like_mnist(glyphs: torch.Tensor, box: int = 20, size: int = 28) -> torch.Tensor:
    """Fit each image ``(N, 1, h, w)`` into a ``box``x``box`` square keeping its aspect ratio,
    then place it in a ``size``x``size`` frame centred on its centre of mass, as MNIST was
    made (LeCun et al. 1998). Returns float32 ``(N, 1, size, size)`` in [0, 1]."""
    out = torch.zeros(glyphs.shape[0], 1, size, size)
    for i, g in enumerate(glyphs):
        g = g[0]
        rows = torch.nonzero(g.sum(1) > 0).flatten()
        cols = torch.nonzero(g.sum(0) > 0).flatten()
        if len(rows) == 0:
            continue
        g = g[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
        h, w = g.shape
        scale = box / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        g = F.interpolate(g[None, None], size=(nh, nw), mode="bilinear",
                          antialias=True, align_corners=False)[0, 0].clamp(0, 1)
        ys, xs = torch.meshgrid(torch.arange(nh), torch.arange(nw), indexing="ij")
        mass = g.sum().clamp_min(1e-8)
        cy, cx = float((g * ys).sum() / mass), float((g * xs).sum() / mass)
        top = int(round(size / 2 - cy - 0.5))
        left = int(round(size / 2 - cx - 0.5))
        top = min(max(top, 0), size - nh)
        left = min(max(left, 0), size - nw)
        out[i, 0, top: top + nh, left: left + nw] = g
    return out


def crop_flip(x: torch.Tensor, gen: torch.Generator, *, pad: int = 4,
              channels_last: bool = False) -> torch.Tensor:
    """The standard CIFAR training augmentation, batched (He et al. 2016, §4.2): each image of
    ``x`` ``(N, C, H, W)`` is zero-padded by ``pad`` px on every side, a random H×W window is
    cut from it (offsets uniform in {0, …, 2·pad} along each axis), and it is mirrored left–right
    with probability 1/2. Random draws come from the CPU generator ``gen`` (so the same seed gives
    the same crops on any device) and reach ``x``'s device as one non-blocking copy
    (`kdbench.device.upload`: no host wait); the work runs there as one gather. Returns a new
    tensor like ``x``, contiguous, or in the channels-last memory format when ``channels_last``
    (what the gather produces: no extra copy; the same values)."""
    n, c, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    dy, dx, flip = devices.upload(torch.stack([dy, dx, flip.long()]), x.device)
    flip = flip.bool()
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = dy[:, None] + torch.arange(h, device=x.device)                         # (n, h)
    ar = torch.arange(w, device=x.device)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - ar, ar)               # (n, w)
    idx = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]]       # (n, h, w, c)
    out = out.permute(0, 3, 1, 2)  # channels-last strides
    return out if channels_last else out.contiguous()
