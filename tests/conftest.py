import os

import pytest
import torch
from hypothesis import settings

# same examples on every run: a CI failure can be reproduced
settings.register_profile("kdbench", derandomize=True)
settings.load_profile("kdbench")

torch.set_num_threads(1)
os.environ.setdefault("KDBENCH_TEST", "1")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


def random_probs(rng, n, k, sharp=3.0):
    import numpy as np

    logits = rng.normal(size=(n, k)) * sharp
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One real smoke-suite run through the CLI, shared by the pipeline and report tests:
    (work directory, stdout)."""
    import subprocess
    import sys

    wd = tmp_path_factory.mktemp("smoke")
    proc = subprocess.run([sys.executable, "-m", "kdbench", "run", "all", "--suite", "smoke",
                           "--workdir", str(wd), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return wd, proc.stdout
