"""Shared pieces of the logit-based methods (`dkd`, `dist`, `kd-std`): teacher logits from the
cached teacher probabilities, and the check of their options.

Teachers cache probabilities ``p`` ``(S, N, K)``, not logits. The logits z of a softmax are
fixed by p only up to a per-example constant: z_k = log p_k + c(x) for any c, since
softmax(z + c) = softmax(z). A logit-based loss can learn from the cache exactly when it is
invariant to that constant; each method's docstring shows that its loss is, and
tests/test_kd_methods.py checks it with offsets up to 10³. `centred_logits` picks one
representative, the one with zero mean over the classes.

Probabilities are floored at the smallest normal number of their dtype (float32: 1.2e-38, whose
log is −87.3) before the log, so a probability that underflowed to 0 gives a finite logit and
every other cached probability gives its logit exactly. (`kd.soften` floors at 1e-12 instead;
in the default suite's teacher caches 3-4% of the probabilities lie below 1e-12 and none is 0,
and standardising the floored logits would move `kd-std`'s targets by a total variation of 0.005
on average, up to 0.11.)
"""

from __future__ import annotations

import torch


def centred_logits(probs: torch.Tensor) -> torch.Tensor:
    """z = log p − mean_k log p over the last axis (the classes), any leading shape; ``probs``
    floored at the smallest normal number of its dtype first, so softmax(z) = p."""
    log_p = probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
    return log_p - log_p.mean(-1, keepdim=True)
