"""Teacher kinds: how many networks a teacher trains and how they become a `Prediction`.

* ``single``: one network, S = 1.
* ``ensemble``: a deep ensemble (Lakshminarayanan et al. 2017) of M networks trained from
  different seeds on the same data, evaluated as one batched model, S = M.
* ``mc_dropout``: one network with dropout before its last layer, T stochastic passes at test
  time (Gal & Ghahramani 2016) in the last-layer variant (Ovadia et al. 2019's LL-Dropout):
  the trunk runs once, the dropout and last layer T times, S = T.
"""

from __future__ import annotations

from torch import nn

from .predictors import Ensemble, MCDropout, SingleNet
from .registry import Registry

TEACHERS: Registry = Registry("teacher kind")
Predictor = SingleNet | Ensemble | MCDropout


@TEACHERS.register("single")
def single(nets: list[nn.Module], *, samples: int, seed: int) -> Predictor:
    """One network."""
    return SingleNet(nets[0])


@TEACHERS.register("ensemble")
def ensemble(nets: list[nn.Module], *, samples: int, seed: int) -> Predictor:
    """All members, one batched forward."""
    return Ensemble(nets)


@TEACHERS.register("mc_dropout")
def mc_dropout(nets: list[nn.Module], *, samples: int, seed: int) -> Predictor:
    """Last-layer MC dropout with ``samples`` passes, masks seeded by ``seed``."""
    return MCDropout(nets[0], samples=samples, seed=seed)
