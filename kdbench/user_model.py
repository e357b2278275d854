"""Your own model on a suite's leaderboard: `evaluate_model`.

``kdbench.evaluate_model(model, suite="mnist5k", name="my-net", workdir=".")`` evaluates a model
you trained anywhere on every evaluation split of ``suite``, through kdbench's one evaluation
path (`kdbench.jobs.evaluate_predictor`: the same metrics, post-hoc calibrators, conformal sets
and footprint as every planned model), and ranks it on the leaderboard as role ``user``.

* ``model`` is an ``nn.Module`` mapping images ``(N, C, H, W)`` (float in [0, 1], the suite's
  data) to logits ``(N, K)`` — it answers as one network, softmax of its logits — or any
  callable ``f(x) -> Prediction`` (samples ``(S, N, K)`` or Dirichlet ``alphas``), for a model
  that brings its own uncertainty.
* The result is a job of the run store (``<workdir>/runs/``) whose id is keyed by the SHA-256
  of the model's weights (every state-dict tensor's name, dtype, shape and bytes, in key order)
  and the suite's data config; a callable without weights is keyed by the SHA-256 of its
  predictions on the validation split. Evaluating the same model again costs nothing.
* The model is registered under ``name`` in ``<workdir>/results/<suite>/user_models.json``
  (name -> job id, weights digest, data digest); `kdbench.collect.collect` adds every
  registered model whose data config matches the suite's to the results, so a later
  ``run all`` keeps it (`kdbench.user_registry`). Concurrent calls on one work directory
  register under its results lock, so none is lost.
* A user model counts as the suite's first seed: it has no training seeds of its own, so it has
  no interval over seeds.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .collect import check_results_target, collect, suite_hash
from .compress import OnCPU
from .config import check_name, load_suite
from .data.splits import check_files, load_dataset
from .errors import UserError
from .job_config import UserModelJob
from .jobs import data_config, evaluate_predictor
from .plan import job_id, plan, to_plain
from .prediction import Prediction
from .predictors import SingleNet
from .report import write_report
from .report.leaderboard import update_leaderboard
from .store import RunStore, results_lock
from .user_registry import register

class _Callable:
    """A callable ``f(x) -> Prediction`` as a predictor, its answer checked."""

    def __init__(self, fn: Callable[[torch.Tensor], Prediction]) -> None:
        self.fn = fn

    def predict(self, x: torch.Tensor) -> Prediction:
        pred = self.fn(x)
        if not isinstance(pred, Prediction):
            raise TypeError(f"the model callable must return a kdbench Prediction; found "
                            f"{type(pred).__name__} (pass an nn.Module to have its logits used)")
        n = pred.alphas.shape[0] if pred.probs is None else pred.probs.shape[1]
        if n != len(x):
            raise ValueError(f"the model callable answered for {n} images; expected {len(x)}")
        return pred


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the state dict: every tensor's name, dtype, shape and bytes, in key order."""
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _prediction_digest(pred: Prediction) -> str:
    arr = pred.probs if pred.probs is not None else pred.alphas
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=np.float64).tobytes()).hexdigest()


def evaluate_model(model: nn.Module | Callable[[torch.Tensor], Prediction], *,
                   suite: str = "mnist5k", name: str = "my-net", workdir: str | Path = ".",
                   report: bool = False, replace_results: bool = False) -> dict[str, Any]:
    """Evaluate ``model`` on every split of ``suite``, add it to the suite's results and rank
    it on the leaderboard (module docstring). ``suite`` is a built-in suite name or a path to
    a suite file; ``name`` the model's name on the board (1-64 lowercase letters, digits, '_'
    or '-'); ``report`` also rewrites ``reports/<suite>/``; ``replace_results`` writes over
    results of other settings of the suite (refused by default: ``--replace-results``).

    Returns ``{"name", "job", "rank", "row"}``: the evaluate job's id, the model's rank in the
    suite and its leaderboard row (a dict). Raises `UserError` for a bad name or suite,
    `TypeError` for a model that is neither an ``nn.Module`` nor a callable.
    """
    check_name("user model", name)
    s = load_suite(suite)
    data = to_plain(s.data)
    check_files(s.data)
    ds = load_dataset(s.data.dataset, s.data.split, s.data.split_seed)
    if isinstance(model, nn.Module):
        net = copy.deepcopy(model).eval()  # the caller's module is not moved or changed
        predictor, key = SingleNet(net), {"weights_sha256": weights_digest(model)}
        cpu = lambda: OnCPU(lambda: SingleNet(copy.deepcopy(model).eval()))  # noqa: E731
    elif callable(model):
        predictor = _Callable(model)
        key = {"predictions_sha256": _prediction_digest(predictor.predict(ds.val.x))}
        cpu = None
    else:
        raise TypeError(f"model must be an nn.Module returning logits or a callable returning a "
                        f"Prediction; found {type(model).__name__}")
    wd = Path(workdir).resolve()
    taken = {m.model for m in plan(s)[1]}
    if name in taken:
        raise UserError(f"name '{name}' is a model of suite '{s.name}'; choose another name")
    posthoc = list(s.posthoc)
    config = UserModelJob(key, data, tuple(posthoc)).to_json()
    jid = job_id("evaluate", config)
    store = RunStore(wd / "runs")
    if not store.is_done(jid):
        with store.lock(jid):
            if not store.is_done(jid):
                evaluate_predictor(predictor, ds, data_config(data), posthoc,
                                   store.begin(jid, config), cpu_predictor=cpu)
                store.finish(jid)
    results = wd / "results" / s.name
    models = plan(s)[1]
    with results_lock(store):  # concurrent calls: each registration survives the others
        check_results_target(results, suite_hash(models), replace=replace_results)
        register(results, name, jid, key, s)
        collect(s, models, store, results)
        board = update_leaderboard(wd, s.name, results)
        if report:
            write_report(s.name, results, wd / "reports" / s.name, leaderboard=board)
    row = board[(board.suite == s.name) & (board.model == name)]
    if row.empty:
        raise RuntimeError(f"'{name}' did not reach the leaderboard; see {results}")
    rec = row.iloc[0].to_dict()
    return {"name": name, "job": jid, "rank": int(rec["rank"]), "row": rec}
