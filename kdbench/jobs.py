"""What each job kind computes; called by the executor with the job and the run store.

* ``train_teacher``: trains the teacher's networks (member m of seed s uses seed 1000·s + m,
  so the single teacher and ensemble member 0 of the same seed are the same network — a
  paired comparison). Where they are (same model, settings and data; `kdbench.plan`), the
  single teacher's job copies member 0 from the ensemble's job, with its training curve and
  seconds, and records ``copied_from``: the bytes of training it again, at no cost.
* ``transfer``: builds the suite's transfer set (`kdbench.data.transfer`, drawn with seed
  1000·s + 900, so the teacher and every student of seed s see the same images) and caches the
  teacher's probabilities on it, ``probs.npz`` ``(S, N_transfer, K)`` float32, computed once
  for every student; ``transfer_info.json`` says how much disagreement there is to distil
  (mean mutual information, share of inputs whose samples' top classes differ) on the transfer
  set and on its first ``N_train`` rows, the plain training images.
* ``train_student``: trains the student with its method's loss from those cached outputs, on
  the same transfer set (a labels-only student too, on its labelled rows).

Every trained network records one record per epoch (`kdbench.train.fit`): training loss, and
from the monitor below training accuracy (first ``MONITOR_TRAIN`` training images), validation
accuracy and NLL, and the median Dirichlet precision α0 (Dirichlet students) or the mean
mutual information of its samples on the validation split (multi-sample models), in
``train_info.json`` under ``curves`` (one list per network).
* ``compress``: a compressed variant of a trained student, ``int8`` or ``prune<P>``
  (`kdbench.compress`): ``variant.json`` (built or not, and why), a pruned variant's ``weights.pt``.
* ``evaluate``: predicts every evaluation split and writes ``metrics.csv`` (long format;
  conformal sets calibrated on each variant's own validation predictions),
  ``reliability.csv``, ``histograms.csv``, ``risk_coverage.csv``, per-example
  ``predictions.npz`` and ``examples.npz`` (per-example accuracy, NLL and Brier of every variant
  and labelled split family, `kdbench.evaluate.family_examples`: what the report's two-level
  intervals need).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import compress
from . import device as devices
from .config import DataConfig, ModelSpec
from .data.mnist5k import LabelledImages
from .data.splits import eval_splits, load_dataset
from .data.transfer import transfer_set
from .distill import METHODS
from .errors import UserError
from .evaluate import (BOOTSTRAP, HIST_BINS, N_BINS, family_examples, histogram,
                       labelled_metrics, note, ood_metrics, per_example, risk_at_coverage,
                       uncertainty_scores)
from .metrics import accuracy, nll, reliability_bins
from .models.cnn import count_parameters
from .job_config import (CompressJob, EvaluateJob, ModelJob, StudentJob, TeacherJob, TeacherSpec,
                         TransferJob, read_config)
from .plan import Job
from .posthoc import CALIBRATORS
from .prediction import Prediction, Predictor
from .store import JobDir, RunStore, fit_checkpoint, load_checkpoint, sha256_file
from .teachers import TEACHERS
from .train import Monitor, fit

MONITOR_TRAIN = 500


def _new_net(spec: ModelSpec, num_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return spec.build(num_classes)


def _data(data: dict):
    """The data set of a training job's ``data`` (``dataset``, ``split``, ``split_seed``)."""
    return load_dataset(data["dataset"], tuple(data["split"]), data["split_seed"])


def _teacher_predictor(job: JobDir, t: TeacherSpec, seed: int, num_classes: int):
    nets = [job.load_into(t.model_spec.build(num_classes), f"member{m}.pt").eval()
            for m in range(t.members)]
    return TEACHERS.create(t.kind, nets=nets, samples=t.samples, seed=seed)


def build_student(cfg: StudentJob, num_classes: int, seed: int | None = None):
    """(method, network) of a student job, the one way training, prediction and compression
    build a student: its method from the registry, then — after ``torch.manual_seed(seed)``
    when ``seed`` is given — its network, wrapped by the method (e.g. hydra's heads)."""
    method = METHODS.create(cfg.method.kind, **cfg.method.options)
    if seed is not None:
        torch.manual_seed(seed)
    return method, method.wrap_model(cfg.student.model_spec.build(num_classes))


def _monitor(make_predictor, ds) -> Monitor:
    """Per-epoch records of a network through the predictor it will answer with."""
    xt, yt = ds.train.x[:MONITOR_TRAIN], ds.train.y[:MONITOR_TRAIN].numpy()
    yv = ds.val.y.numpy()

    def monitor(net: torch.nn.Module) -> dict[str, float]:
        predictor = make_predictor(net)
        pv = predictor.predict(ds.val.x)
        mean = pv.mean()
        rec = {"train_acc": accuracy(predictor.predict(xt).mean(), yt),
               "val_acc": accuracy(mean, yv), "val_nll": nll(mean, yv)}
        if pv.alphas is not None:
            rec["alpha0_median"] = float(np.median(pv.alphas.sum(1)))
        elif pv.n_samples > 1:
            rec["head_mi"] = float(pv.mutual_information().mean())
        return rec

    return monitor


def _transfer_data(transfer: dict, seed: int, ds):
    """The transfer set (``set``, ``copies``) of seed ``seed``."""
    return transfer_set(ds.train, transfer["set"], copies=transfer["copies"],
                        seed=1000 * seed + 900, augmentation=ds.transfer_augment)


def _labelled(data):
    """The labelled rows of a transfer set (training images and their augmented copies)."""
    keep = data.y >= 0
    return LabelledImages(data.x[keep].contiguous(), data.y[keep])


def train_teacher(job: Job, store: RunStore, progress: bool) -> None:
    cfg: TeacherJob = read_config(job.kind, job.config)
    t = cfg.teacher
    ds = _data(cfg.data)
    # with [transfer] teachers = true: the students' augmented labelled data (one recipe)
    train_data = _labelled(_transfer_data(cfg.train_on, cfg.seed, ds)) \
        if cfg.train_on is not None else ds.train
    out = store.begin(job.id, job.config)
    spec, train = t.model_spec, t.train_config
    ce = lambda logits, y, idx, progress: torch.nn.functional.cross_entropy(logits, y)  # noqa: E731
    info = {"curves": [], "seconds": [], "device": str(devices.current())}
    monitor = _monitor(lambda net: TEACHERS.create(t.kind, nets=[net], samples=t.samples,
                                                   seed=cfg.seed), ds)
    if t.checkpoint_sha256:  # a teacher trained elsewhere: loaded, checked, not trained
        _load_teacher(job, out, t, ds.num_classes, info)
        return
    if cfg.member0_from is not None:  # the same network as that ensemble's member 0 (kdbench.plan)
        donor = store.job(cfg.member0_from)
        dinfo = donor.read_json("train_info.json")
        net = donor.load_into(spec.build(ds.num_classes), "member0.pt")
        out.save_state("member0.pt", net.state_dict())
        out.write_json("train_info.json", {**info, "curves": dinfo["curves"][:1],
                                           "seconds": dinfo["seconds"][:1],
                                           "parameters": dinfo["parameters"],
                                           "copied_from": cfg.member0_from})
        return
    for m in range(t.members):
        seed = 1000 * cfg.seed + m
        net = _new_net(spec, ds.num_classes, seed)
        start = time.perf_counter()
        info["curves"].append(fit(net, train_data, ce, config=train, seed=seed,
                                  desc=f"{job.label} member {m}", progress=progress,
                                  monitor=monitor))
        info["seconds"].append(time.perf_counter() - start)
        out.save_state(f"member{m}.pt", net.state_dict())
        info["parameters"] = count_parameters(net)
    out.write_json("train_info.json", info)


def _load_teacher(job: Job, out: JobDir, t: TeacherSpec, num_classes: int, info: dict) -> None:
    """A checkpoint teacher's members from ``job.files``, each checked against its recorded
    SHA-256 and the architecture (`kdbench.store.fit_checkpoint`); no training curves."""
    for m, (path, want) in enumerate(zip(job.files, t.checkpoint_sha256)):
        found = sha256_file(Path(path))
        if found != want:
            raise UserError(f"checkpoint {path} has SHA-256 {found}, expected {want}")
        net = t.model_spec.build(num_classes)
        fit_checkpoint(net, load_checkpoint(Path(path)), Path(path))
        out.save_state(f"member{m}.pt", net.state_dict())
        info["curves"].append([])
        info["seconds"].append(0.0)
        info["parameters"] = count_parameters(net)
    info["checkpoint"] = list(job.files)
    out.write_json("train_info.json", info)


def transfer(job: Job, store: RunStore, progress: bool) -> None:
    cfg: TransferJob = read_config(job.kind, job.config)
    ds = _data(cfg.teacher_cfg.data)
    data = _transfer_data(cfg.transfer, cfg.seed, ds)
    predictor = _teacher_predictor(store.job(cfg.teacher_job), cfg.teacher_cfg.teacher, cfg.seed,
                                   ds.num_classes)
    out = store.begin(job.id, job.config)
    start = time.perf_counter()
    pred = predictor.predict(data.x)
    temperature = None
    if cfg.calibration == "temperature":  # the teacher a practitioner would calibrate first
        ts = CALIBRATORS.create("temperature").fit(predictor.predict(ds.val.x), ds.val.y.numpy())
        pred, temperature = ts.transform(pred), ts.temperature
    n = len(ds.train)

    def diversity(p: np.ndarray) -> tuple[float, float]:
        sub = Prediction(probs=p)
        top = p.argmax(-1)
        return float(sub.mutual_information().mean()), float((top != top[:1]).any(0).mean())

    mi, dis = diversity(pred.probs)
    mi_train, dis_train = diversity(pred.probs[:, :n])
    out.save_arrays("probs.npz", probs=pred.probs.astype(np.float32))
    out.write_json("transfer_info.json", {
        "set": cfg.transfer["set"], "copies": cfg.transfer["copies"], "images": len(data),
        "labelled": int((data.y >= 0).sum()), "samples": int(pred.probs.shape[0]),
        "mean_mi": mi, "disagreement": dis, "mean_mi_train": mi_train,
        "disagreement_train": dis_train, "temperature": temperature,
        "seconds": time.perf_counter() - start})


def _teacher_outputs(store: RunStore, transfer_job: str) -> torch.Tensor:
    """A transfer job's cached teacher probabilities ``(S, N_transfer, K)``, on the device."""
    probs = torch.from_numpy(store.job(transfer_job).load_arrays("probs.npz")["probs"])
    return probs.to(devices.current())


def train_student(job: Job, store: RunStore, progress: bool) -> None:
    cfg: StudentJob = read_config(job.kind, job.config)
    ds = _data(cfg.data)
    data = _transfer_data(cfg.transfer, cfg.seed, ds)
    seed = 1000 * cfg.seed + 500  # students never share an initialisation with a teacher
    method, net = build_student(cfg, ds.num_classes, seed=seed)
    teacher_probs = None
    if method.needs_teacher:
        teacher_probs = _teacher_outputs(store, job.deps[0])
        if teacher_probs.shape[1] != len(data):
            raise RuntimeError(f"teacher outputs cover {teacher_probs.shape[1]} images, the "
                               f"transfer set has {len(data)}")
    out = store.begin(job.id, job.config)
    start = time.perf_counter()
    curve = method.fit_student(net, data, teacher_probs, config=cfg.student.train_config,
                               seed=seed, desc=job.label, progress=progress,
                               monitor=_monitor(method.predictor, ds))
    out.save_state("weights.pt", net.state_dict())
    out.write_json("train_info.json", {"curves": [curve], "parameters": count_parameters(net),
                                       "seconds": [time.perf_counter() - start],
                                       "device": str(devices.current())})


def _predictor(model: ModelJob, store: RunStore, model_job_id: str, ds) -> Predictor:
    """The predictor of the model a training or compress job made."""
    src = store.job(model_job_id)
    if isinstance(model, CompressJob):  # a compressed student; int8 calibrates on ds.val
        return _variant_predictor(model, store, src, ds)
    if isinstance(model, TeacherJob):
        return _teacher_predictor(src, model.teacher, model.seed, ds.num_classes)
    method, net = build_student(model, ds.num_classes)
    return method.predictor(src.load_into(net, "weights.pt"))


def data_config(d: dict) -> DataConfig:
    """A job config's ``data`` (lists from JSON) -> `kdbench.config.DataConfig`."""
    return DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def evaluate(job: Job, store: RunStore, progress: bool) -> None:
    cfg: EvaluateJob = read_config(job.kind, job.config)
    data = data_config(cfg.data)
    ds = load_dataset(data.dataset, data.split, data.split_seed)
    build = lambda: _predictor(cfg.model, store, cfg.model_job, ds)  # noqa: E731
    try:
        predictor = build()
    except compress.NotBuilt as e:  # recorded, not failed: the run goes on
        store.begin(job.id, job.config).write_json("eval_info.json",
                                                   {"seconds": 0.0, "not_built": str(e)})
        return
    evaluate_predictor(predictor, ds, data, list(cfg.posthoc), store.begin(job.id, job.config),
                       cpu_predictor=lambda: compress.OnCPU(build),
                       n_boot=BOOTSTRAP if cfg.bootstrap is None else cfg.bootstrap)


def evaluate_predictor(predictor, ds, data, posthoc: list[str], out: JobDir, *,
                       cpu_predictor=None, n_boot: int = BOOTSTRAP) -> None:
    """The one evaluation path: ``predictor`` (anything with ``predict(x) -> Prediction``) on
    every evaluation split of ``data`` (a `kdbench.config.DataConfig`; ``ds`` its loaded data
    set), with the post-hoc calibrators ``posthoc`` fitted on ``ds.val``; writes the evaluate
    job's files into ``out``. ``cpu_predictor()`` builds the same model on the CPU for the
    latency measurement (`kdbench.compress.cpu_ms_per_image`) when the job runs elsewhere.
    ``n_boot``: per-example bootstrap resamples of the intervals (0: none, NaN intervals)."""
    start = time.perf_counter()
    val_pred, val_y = predictor.predict(ds.val.x), ds.val.y.numpy()
    calibrators = {name: CALIBRATORS.create(name).fit(val_pred, val_y) for name in posthoc}
    # conformal sets: each variant calibrated on its own validation predictions
    conformal_cal = {"-": (val_pred.mean(), val_y),
                     **{name: (c.transform(val_pred).mean(), val_y) for name, c in calibrators.items()}}
    rows, rel, hist, rc, arrays = [], [], [], [], {}
    examples: dict[tuple[str, str], list[dict[str, np.ndarray]]] = {}
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
        y = split.y.numpy() if split.y is not None else None
        for variant, vpred in variants.items():
            if y is not None:
                values = labelled_metrics(vpred, y, conformal_cal[variant], n_boot=n_boot)
                examples.setdefault((variant, split.split), []).append(per_example(vpred.mean(), y))
                if split.split == "id":
                    id_preds[variant] = vpred
            else:
                values = ood_metrics(id_preds[variant], vpred)
            rows += [{"posthoc": variant, **base, "metric": k, "value": v, "ci_low": lo,
                      "ci_high": hi, **note(v)} for k, v, lo, hi in values]
        # figures' aggregates and per-example predictions: the uncalibrated model only
        arrays[f"{split.key}/mean"] = pred.mean().astype(np.float32)
        arrays[f"{split.key}/expected_entropy"] = pred.expected_entropy().astype(np.float32)
        if y is not None:
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
    out.save_arrays("examples.npz", **family_examples(examples))
    out.write_json("eval_info.json", {
        "seconds": seconds, "images": images, "predict_seconds": predict_seconds,
        "ms_per_image": 1000 * predict_seconds / images, **devices.precision(),
        "temperature": getattr(calibrators.get("temperature"), "temperature", None),
        **compress.footprint(compress.networks(predictor)),
        "cpu_ms_per_image": compress.cpu_ms_per_image(
            predictor if cpu_predictor is None or isinstance(predictor, compress.OnCPU)
            or devices.current().type == "cpu" else cpu_predictor(), ds.test.x)})


def _variant_predictor(cfg: CompressJob, store: RunStore, src: JobDir, ds) -> Predictor:
    """The predictor of a compressed student (`kdbench.compress`) from its compress job."""
    info = src.read_json("variant.json")
    if not info["built"]:
        raise compress.NotBuilt(info["reason"])
    kind, _ = compress.parse_variant(cfg.variant)
    method, net = build_student(cfg.model, ds.num_classes)
    if kind == "prune":
        return method.predictor(src.load_into(net, "weights.pt"))
    net = store.job(cfg.model_job).load_into(net, "weights.pt").eval()
    qnet = compress.quantize_int8(net, ds.val.x)
    return compress.OnCPU(lambda: method.predictor(qnet))


def compress_model(job: Job, store: RunStore, progress: bool) -> None:
    """Build one compressed variant of a trained student (`kdbench.compress`): ``variant.json``
    says whether it was built (and why not) and holds a pruned variant's fine-tune records; a
    pruned variant's weights go to ``weights.pt``. An int8 variant is only tried here: its
    evaluate job builds it again from the same weights and images (deterministic)."""
    cfg: CompressJob = read_config(job.kind, job.config)
    base = cfg.model
    kind, percent = compress.parse_variant(cfg.variant)
    ds = _data(base.data)
    method, net = build_student(base, ds.num_classes)
    net = store.job(cfg.model_job).load_into(net, "weights.pt")
    out = store.begin(job.id, job.config)
    start = time.perf_counter()
    info: dict = {"variant": cfg.variant, "built": True, "reason": ""}
    try:
        if kind == "int8":
            compress.quantize_int8(net, ds.val.x)
        else:
            compress.prune_global(net, percent)
            ft = cfg.finetune
            if ft["epochs"] > 0:
                probs = _teacher_outputs(store, cfg.transfer_job) if method.needs_teacher else None
                info["curve"] = compress.finetune(
                    net, method, _transfer_data(base.transfer, base.seed, ds), probs,
                    train=base.student.train_config, epochs=ft["epochs"],
                    lr_scale=ft["lr_scale"], seed=1000 * base.seed + 700, desc=job.label,
                    monitor=_monitor(method.predictor, ds))
            compress.make_permanent(net)
            out.save_state("weights.pt", net.state_dict())
    except compress.NotBuilt as e:
        info.update(built=False, reason=str(e))
    info["seconds"] = time.perf_counter() - start
    out.write_json("variant.json", info)


RUNNERS = {"train_teacher": train_teacher, "transfer": transfer, "train_student": train_student,
           "evaluate": evaluate, "compress": compress_model}
