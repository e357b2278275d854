"""Natural-shift sets: the same ten digits written by other people on other scanners.

``digits``: scikit-learn's bundled UCI optical digits (1,797 images, 8x8, 17 grey levels,
43 writers other than MNIST's), scaled to [0, 1], then size-normalised into a 20x20 box and
centred on the centre of mass in a 28x28 frame as MNIST was made (`frame_like_mnist`).
The blocky upsampled strokes and thicker pen are the shift.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from .images import frame_like_mnist
from .mnist5k import LabelledImages
from .registry import SHIFT_SETS, family


@SHIFT_SETS.register("digits")
@family("mnist")
def digits() -> LabelledImages:
    """scikit-learn's 8x8 digits framed like MNIST: 1,797 labelled images."""
    data = load_digits()
    x = torch.from_numpy(data.images).float().div(16.0).unsqueeze(1)
    x = frame_like_mnist(x)
    return LabelledImages(x, torch.from_numpy(data.target).long())
