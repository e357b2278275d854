"""What each job kind computes; called by the executor with the job and the run store.

* ``train_teacher``: trains the teacher's networks (member m of seed s uses seed 1000·s + m,
  so the single teacher and ensemble member 0 of the same seed are the same network — a
  paired comparison) and caches the teacher's probabilities on the training set,
  ``train_probs.npz`` ``(S, N, K)`` float32, computed once for every student.
* ``train_student``: trains the student with its method's loss from those cached outputs.
* ``evaluate``: predicts every evaluation split and writes ``metrics.csv`` (long format),
  ``reliability.csv``, ``histograms.csv``, ``risk_coverage.csv`` and per-example
  ``predictions.npz``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from .config import ModelSpec
from .data.splits import eval_splits, load_dataset
from .distill import METHODS
from .evaluate import (HIST_BINS, N_BINS, histogram, labelled_metrics, ood_metrics,
                       risk_at_coverage, uncertainty_scores)
from .metrics import reliability_bins
from .models.cnn import count_parameters
from .plan import Job
from .posthoc import CALIBRATORS
from .store import JobDir, RunStore
from .teachers import TEACHERS
from .train import TrainConfig, fit


def _spec(d: dict) -> ModelSpec:
    return ModelSpec(d["name"], tuple(tuple(kv) for kv in d["kwargs"]))


def _new_net(spec: ModelSpec, num_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return spec.build(num_classes)


def _data(cfg: dict):
    d = cfg["data"]
    return load_dataset(d["dataset"], tuple(d["split"]), d["split_seed"])


def _teacher_predictor(job: JobDir, tcfg: dict, seed: int, num_classes: int):
    spec = _spec(tcfg["model"])
    nets = []
    for m in range(tcfg["members"]):
        nets.append(job.load_into(spec.build(num_classes), f"member{m}.pt").eval())
    return TEACHERS.create(tcfg["kind"], nets=nets, samples=tcfg["samples"], seed=seed)


def train_teacher(job: Job, store: RunStore, progress: bool) -> None:
    cfg, t = job.config, job.config["teacher"]
    ds = _data(cfg)
    out = store.begin(job.id, cfg)
    spec, train = _spec(t["model"]), TrainConfig(**t["train"])
    ce = lambda logits, y, idx, progress: torch.nn.functional.cross_entropy(logits, y)  # noqa: E731
    info = {"history": [], "seconds": []}
    for m in range(t["members"]):
        seed = 1000 * cfg["seed"] + m
        net = _new_net(spec, ds.num_classes, seed)
        start = time.perf_counter()
        info["history"].append(fit(net, ds.train, ce, config=train, seed=seed,
                                   desc=f"{job.label} member {m}", progress=progress))
        info["seconds"].append(time.perf_counter() - start)
        out.save_state(f"member{m}.pt", net.state_dict())
        info["parameters"] = count_parameters(net)
    predictor = _teacher_predictor(out, t, cfg["seed"], ds.num_classes)
    out.save_arrays("train_probs.npz", probs=predictor.predict(ds.train.x).probs.astype(np.float32))
    out.write_json("train_info.json", info)


def train_student(job: Job, store: RunStore, progress: bool) -> None:
    cfg = job.config
    ds = _data(cfg)
    method = METHODS.create(cfg["method"]["kind"], **cfg["method"]["options"])
    teacher_probs = None
    if method.needs_teacher:
        teacher_probs = torch.from_numpy(store.job(job.deps[0]).load_arrays("train_probs.npz")["probs"])
    out = store.begin(job.id, cfg)
    spec, train = _spec(cfg["student"]["model"]), TrainConfig(**cfg["student"]["train"])
    seed = 1000 * cfg["seed"] + 500  # students never share an initialisation with a teacher
    torch.manual_seed(seed)
    net = method.wrap_model(spec.build(ds.num_classes))
    start = time.perf_counter()
    history = fit(net, ds.train, method.make_loss(teacher_probs), config=train, seed=seed,
                  desc=job.label, progress=progress)
    out.save_state("weights.pt", net.state_dict())
    out.write_json("train_info.json", {"history": [history], "parameters": count_parameters(net),
                                       "seconds": [time.perf_counter() - start]})


def _predictor(model_job: Job | dict, store: RunStore, model_job_id: str, num_classes: int):
    cfg = model_job
    src = store.job(model_job_id)
    if "teacher" in cfg and "student" not in cfg:
        return _teacher_predictor(src, cfg["teacher"], cfg["seed"], num_classes)
    method = METHODS.create(cfg["method"]["kind"], **cfg["method"]["options"])
    net = method.wrap_model(_spec(cfg["student"]["model"]).build(num_classes))
    return method.predictor(src.load_into(net, "weights.pt"))


def evaluate(job: Job, store: RunStore, progress: bool) -> None:
    from .config import DataConfig

    cfg = job.config
    d = cfg["data"]
    data = DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    ds = load_dataset(data.dataset, data.split, data.split_seed)
    predictor = _predictor(cfg["model"], store, cfg["model_job"], ds.num_classes)
    out = store.begin(job.id, cfg)
    start = time.perf_counter()
    calibrators = {}
    if cfg.get("posthoc"):
        val_pred = predictor.predict(ds.val.x)
        calibrators = {name: CALIBRATORS.create(name).fit(val_pred, ds.val.y.numpy())
                       for name in cfg["posthoc"]}
    rows, rel, hist, rc, arrays = [], [], [], [], {}
    id_preds: dict = {}
    predict_seconds, images = 0.0, 0
    log_k = float(np.log(ds.num_classes))
    for split in eval_splits(data):
        t0 = time.perf_counter()
        pred = predictor.predict(split.x)
        predict_seconds += time.perf_counter() - t0
        images += len(split.x)
        variants = {"-": pred, **{name: c.transform(pred) for name, c in calibrators.items()}}
        base = {"split": split.split, "dataset": split.dataset, "severity": split.severity}
        for variant, vpred in variants.items():
            if split.y is not None:
                values = labelled_metrics(vpred, split.y.numpy())
                if split.split == "id":
                    id_preds[variant] = vpred
            else:
                values = ood_metrics(id_preds[variant], vpred)
            rows += [{"posthoc": variant, **base, "metric": k, "value": v, "ci_low": lo,
                      "ci_high": hi} for k, v, lo, hi in values]
        # figures' aggregates and per-example predictions: the uncalibrated model only
        arrays[f"{split.key}/mean"] = pred.mean().astype(np.float32)
        arrays[f"{split.key}/expected_entropy"] = pred.expected_entropy().astype(np.float32)
        if split.y is not None:
            y = split.y.numpy()
            b = reliability_bins(pred.mean(), y, N_BINS)
            rel += [{**base, "bin": i, "lo": b["lo"][i], "hi": b["hi"][i], "count": int(b["count"][i]),
                     "confidence": b["confidence"][i], "accuracy": b["accuracy"][i]}
                    for i in range(N_BINS)]
            rc += [{**base, "coverage": c, "risk": r} for c, r in risk_at_coverage(pred, y)]
        if split.split != "corrupt":
            for name, score in uncertainty_scores(pred).items():
                if name == "msp":
                    continue
                edges, counts = histogram(score, log_k)
                hist += [{**base, "quantity": name, "bin": i, "lo": edges[i], "hi": edges[i + 1],
                          "count": int(counts[i])} for i in range(HIST_BINS)]
    seconds = time.perf_counter() - start
    out.write_text("metrics.csv", pd.DataFrame(rows).to_csv(index=False))
    out.write_text("reliability.csv", pd.DataFrame(rel).to_csv(index=False))
    out.write_text("histograms.csv", pd.DataFrame(hist).to_csv(index=False))
    out.write_text("risk_coverage.csv", pd.DataFrame(rc).to_csv(index=False))
    out.save_arrays("predictions.npz", **arrays)
    out.write_json("eval_info.json", {
        "seconds": seconds, "images": images, "predict_seconds": predict_seconds,
        "ms_per_image": 1000 * predict_seconds / images,
        "temperature": getattr(calibrators.get("temperature"), "temperature", None)})


RUNNERS = {"train_teacher": train_teacher, "train_student": train_student, "evaluate": evaluate}
