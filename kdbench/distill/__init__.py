"""Distillation methods: the loss a student trains with and what it needs from its teacher.

A method is registered by name (``@METHODS.register("kd")``) as a factory taking its suite
options as keyword arguments and returning a `Method`. Teacher outputs on the training set
arrive as probabilities ``(S, N, K)`` computed once per teacher and cached in the run store.
"""

from .base import METHODS, Method  # noqa: F401  (the registry and the base class)
from . import end2, end2_proxy, hydra, kd, none, sample_kd  # noqa: E402,F401  (fill the registry)
from . import dist, dkd, kd_std  # noqa: E402,F401  (logit-based methods, issue 11)
