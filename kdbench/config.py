"""Suite files: TOML -> frozen dataclasses, validated at load time.

A suite names the data and evaluation splits, the seeds, the teachers, the students, the
distillation methods and which (teacher, student, method) triples to run. The format is
documented in docs/suites.md; the built-in suites live in ``kdbench/suites/``. Every error
names the file, the table and key, and what is allowed, and is raised as `UserError`.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .compress import CompressConfig, parse_variant
from .data import CORRUPTED_SETS, CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS
from .data.registry import fits, num_classes
from .data.transfer import TRANSFER_KINDS
from .distill import METHODS
from .errors import UserError, did_you_mean, unknown_name
from .models import MODELS
from .posthoc import CALIBRATORS
from .registry import Registry
from .store import fit_checkpoint, load_checkpoint, sha256_file
from .teachers import TEACHERS
from .train import AUGMENTS as TRAIN_AUGMENTS
from .train import OPTIMIZERS, TrainConfig

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


def check_name(kind: str, name: str) -> str:
    """Reject names that could not serve as a file name (they become paths and model ids)."""
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise UserError(
            f"invalid {kind} name {name!r}: use 1-64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class DataConfig:
    """In-distribution data set and the evaluation splits built from its test split."""

    dataset: str = "mnist5k"
    split: tuple[int, int, int] = (3500, 500, 1000)
    split_seed: int = 0
    corruptions: tuple[str, ...] = ()
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    corrupt_n: int = 1000
    shift: tuple[str, ...] = ()
    ood: tuple[str, ...] = ()
    ood_n: int = 1000
    # a corrupted set read from files (``cifar10-c``): ``corruptions`` are its types
    corrupted: str = field(default="", metadata={"omit_default": True})


@dataclass(frozen=True)
class TransferConfig:
    """The inputs students learn from (`kdbench.data.transfer`): ``set`` is ``train``,
    ``augment`` or ``aux``; ``copies`` augmented copies of the training images. With
    ``teachers`` the teachers train on the same set's labelled rows (the training images and
    their augmented copies; unlabelled blends skipped), so teachers and students share one
    recipe (docs/training.md)."""

    set: str = "train"
    copies: int = 0
    teachers: bool = field(default=False, metadata={"omit_default": True})


@dataclass(frozen=True)
class ModelSpec:
    """A registered model name and its keyword arguments (sorted for stable hashing)."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self, num_classes: int):
        return MODELS.create(self.name, num_classes=num_classes, **dict(self.kwargs))


@dataclass(frozen=True)
class TeacherConfig:
    """A teacher; ``checkpoint`` (one file per member, absolute paths) with their ``sha256``
    makes it a teacher trained elsewhere: loaded, not trained (docs/adding-a-pair.md)."""

    name: str
    kind: str
    model: ModelSpec
    members: int
    samples: int
    train: TrainConfig
    checkpoint: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudentConfig:
    name: str
    model: ModelSpec
    train: TrainConfig


TEACHER_CALIBRATIONS = ("", "temperature")


@dataclass(frozen=True)
class MethodConfig:
    """A method of the suite: its registered ``kind``, options, and the training settings it
    overrides for its students (``[methods.<name>.train]``, e.g. gradient clipping for end2)."""

    name: str
    kind: str
    options: tuple[tuple[str, Any], ...] = ()
    train: tuple[tuple[str, Any], ...] = ()
    # "temperature": the student learns from the teacher's outputs heated by the temperature
    # fitted on the teacher's validation predictions (`kdbench.jobs.transfer`); "" = raw outputs
    teacher_calibration: str = ""

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """``base`` (the student's settings) with this method's overrides."""
        return replace(base, **dict(self.train))

    def build(self):
        return METHODS.create(self.kind, **dict(self.options))


@dataclass(frozen=True)
class Pair:
    teacher: str | None  # None for methods that need no teacher
    student: str
    method: str


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    description: str
    seeds: tuple[int, ...]
    data: DataConfig
    teachers: dict[str, TeacherConfig] = field(default_factory=dict)
    students: dict[str, StudentConfig] = field(default_factory=dict)
    methods: dict[str, MethodConfig] = field(default_factory=dict)
    pairs: tuple[Pair, ...] = ()
    posthoc: tuple[str, ...] = ()
    transfer: TransferConfig = TransferConfig()
    compress: CompressConfig = CompressConfig()
    bootstrap: int = 1000  # per-example bootstrap resamples of every evaluate job (0: none)


class _Table:
    """A TOML table read key by key; `finish` rejects keys nobody asked for."""

    def __init__(self, data: Any, file: str, where: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{file}: {where} must be a table; found {type(data).__name__}")
        self.data, self.file, self.where, self.seen = data, file, where, set()

    def err(self, key: str, msg: str) -> UserError:
        return UserError(f"{self.file}: {self.where} {key}: {msg}")

    def take(self, key: str, kind: type | tuple, default: Any = ..., *, what: str = "") -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self.err(key, "is required")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            name = what or getattr(kind, "__name__", str(kind))
            raise self.err(key, f"expected {name}, found {value!r}")
        return value

    def int(self, key: str, default: Any = ..., *, lo: int | None = None, hi: int | None = None) -> int:
        v = self.take(key, int, default, what="an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise self.err(key, f"expected an integer {rng}, found {v}")
        return v

    def names(self, key: str, registry: Registry, default: Any = ..., *,
              dataset: str | None = None) -> tuple[str, ...]:
        """A list of registry names; wildcard patterns such as "*" expand in natural order.
        With ``dataset``, patterns expand only over the entries that fit its images
        (`kdbench.data.registry.fits`; a defaulted pattern may then match nothing) and a named
        entry that does not fit is an error."""
        v = self.take(key, list, default, what="a list of names")
        keep = (lambda n: fits(registry, n, dataset)) if dataset else (lambda n: True)
        out: list[str] = []
        for item in v:
            if not isinstance(item, str):
                raise self.err(key, f"expected names (strings), found {item!r}")
            if any(c in item for c in "*?["):
                match = [m for m in registry.names(item) if keep(m)]
                if not match and (key in self.data or not registry.names(item)):
                    raise self.err(key, f"pattern '{item}' matches no {registry.kind}"
                                        + (f" for data set '{dataset}'" if dataset else ""))
                out += [m for m in match if m not in out]
            elif item not in registry:
                raise self.err(key, str(unknown_name(registry.kind, item, registry.names())))
            elif not keep(item):
                ok = [m for m in registry.names() if keep(m)]
                raise self.err(key, f"{registry.kind} '{item}' is not for the images of data set "
                                    f"'{dataset}'; ones that are: {', '.join(ok) or 'none'}")
            elif item not in out:
                out.append(item)
        return tuple(out)

    def rest(self) -> dict[str, Any]:
        """The keys not read yet (they become keyword options) — marks them seen."""
        extra = {k: v for k, v in self.data.items() if k not in self.seen}
        self.seen |= set(extra)
        return extra

    def finish(self) -> None:
        extra = [k for k in self.data if k not in self.seen]
        if extra:
            allowed = sorted(self.seen)
            raise self.err(extra[0], f"unknown key{did_you_mean(extra[0], allowed)}; allowed "
                                     f"keys: {', '.join(allowed)}")


def _options(table: _Table, factory: Any, kind: str, name: str,
             reserved: tuple[str, ...] = ()) -> tuple[tuple[str, Any], ...]:
    """Validate the remaining keys of ``table`` against the keyword parameters of ``factory``."""
    params = [p for p, v in inspect.signature(factory).parameters.items()
              if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD) and p not in reserved]
    opts = table.rest()
    for key, value in opts.items():
        if key not in params:
            raise table.err(key, f"unknown key for {kind} '{name}'{did_you_mean(key, params)}; "
                                 f"allowed: {', '.join(sorted(set(params) | table.seen - set(opts)))}")
        default = inspect.signature(factory).parameters[key].default
        if default is not inspect.Parameter.empty and default is not None:
            want = float if isinstance(default, float) else type(default)
            if isinstance(value, bool) != isinstance(default, bool) or not isinstance(
                    value, (int, float) if want is float else want):
                raise table.err(key, f"expected {want.__name__}, found {value!r}")
            if want is float:
                opts[key] = float(value)
    return tuple(sorted(opts.items()))


def _train(t: _Table, base: TrainConfig) -> TrainConfig:
    kw = dict(
        epochs=t.int("epochs", base.epochs, lo=1),
        batch_size=t.int("batch_size", base.batch_size, lo=1),
        lr=_positive(t, "lr", base.lr),
        weight_decay=_nonneg(t, "weight_decay", base.weight_decay),
        clip_grad_norm=_nonneg(t, "clip_grad_norm", base.clip_grad_norm),
        optimizer=_choice(t, "optimizer", base.optimizer, OPTIMIZERS),
        momentum=_nonneg(t, "momentum", base.momentum),
        nesterov=t.take("nesterov", bool, base.nesterov, what="true or false"),
        warmup_epochs=t.int("warmup_epochs", base.warmup_epochs, lo=0),
        augment=_choice(t, "augment", base.augment, TRAIN_AUGMENTS),
    )
    try:
        return TrainConfig(**kw)
    except ValueError as e:  # settings that do not go together (TrainConfig.__post_init__)
        raise UserError(f"{t.file}: {t.where}: {e}") from None


def _choice(t: _Table, key: str, default: str, allowed: tuple[str, ...]) -> str:
    v = t.take(key, str, default, what="a string")
    if v not in allowed:
        raise t.err(key, str(unknown_name(key, v, list(allowed))))
    return v


def _positive(t: _Table, key: str, default: float) -> float:
    v = t.take(key, float, default, what="a number")
    if not v > 0:
        raise t.err(key, f"expected a number > 0, found {v}")
    return v


def _nonneg(t: _Table, key: str, default: float) -> float:
    v = t.take(key, float, default, what="a number")
    if v < 0:
        raise t.err(key, f"expected a number >= 0, found {v}")
    return v


def _build_check(fn: Any, error: Any) -> None:
    """Build once to validate options; a ValueError/TypeError becomes ``error(message)``."""
    try:
        fn()
    except UserError:
        raise
    except (ValueError, TypeError) as e:
        raise error(str(e)) from None


def pair_problem(method: Any, method_name: str, teacher: TeacherConfig) -> str | None:
    """Why ``method`` cannot distil from ``teacher`` (None when it can)."""
    samples = {"ensemble": teacher.members, "mc_dropout": teacher.samples}.get(teacher.kind, 1)
    if method.needs_samples and samples < 2:
        return (f"method '{method_name}' needs several teacher samples; teacher '{teacher.name}' "
                "is a single network — use an ensemble or mc_dropout teacher")
    if samples < method.min_samples():
        return (f"method '{method_name}' needs at least {method.min_samples()} teacher samples; "
                f"teacher '{teacher.name}' has {samples}")
    return None


def with_pair(suite: Suite, teacher: str, student: str, method: str) -> tuple[Suite, Pair]:
    """``suite`` extended by one (teacher, student, method) pair for ``add-pair``.

    ``teacher`` must be a teacher of the suite. ``student`` is a student of the suite or any
    registered model (e.g. from a plugin) with its default options; ``method`` is a method of
    the suite or any registered method kind with its default options.
    """
    if teacher not in suite.teachers:
        raise unknown_name(f"teacher of suite '{suite.name}'", teacher, suite.teachers)
    students, methods = dict(suite.students), dict(suite.methods)
    if student not in students:
        _registered("student", student, students, MODELS, suite.name)
        train = next(iter(students.values())).train if students else TrainConfig()
        students[student] = StudentConfig(student, ModelSpec(student), train)
        _build_check(lambda: students[student].model.build(num_classes(suite.data.dataset)),
                     lambda msg: UserError(f"student '{student}' cannot be built: {msg}"))
    if method not in methods:
        _registered("method", method, methods, METHODS, suite.name)
        methods[method] = MethodConfig(method, method)
    built = methods[method].build()
    problem = pair_problem(built, method, suite.teachers[teacher])
    if problem:
        raise UserError(problem)
    pair = Pair(teacher if built.needs_teacher else None, student, method)
    pairs = suite.pairs if pair in suite.pairs else suite.pairs + (pair,)
    return replace(suite, students=students, methods=methods, pairs=pairs), pair


def _registered(kind: str, name: str, own: dict, registry: Registry, suite: str) -> None:
    """Accept ``name`` that is not in the suite when it is a registered component."""
    check_name(kind, name)
    if name not in registry:
        raise UserError(f"unknown {kind} '{name}'{did_you_mean(name, list(own) + registry.names())}: "
                        f"not a {kind} of suite '{suite}' ({', '.join(own)}) nor a registered "
                        f"{registry.kind} ({', '.join(registry.names())})")


def find_suite(name_or_path: str) -> Path:
    """A built-in suite by name, or any ``.toml`` file by path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"suite file {path} does not exist")
        return path
    builtin = sorted(p.stem for p in SUITES_DIR.glob("*.toml"))
    if not SAFE_NAME.match(name_or_path) or name_or_path not in builtin:
        raise unknown_name("suite", name_or_path, builtin)
    return SUITES_DIR / f"{name_or_path}.toml"


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str, *, seeds: list[int] | None = None) -> Suite:
    """Read and validate a suite; ``seeds`` (from the CLI) replaces the file's seeds."""
    path = find_suite(name_or_path)
    top = _Table(_read_toml(path), str(path), "top level")
    name = check_name("suite", top.take("name", str, path.stem))
    description = top.take("description", str, "")
    seeds_ = _parse_seeds(top, seeds)
    data = _parse_data(_sub(top, "data"))
    base_train = _finished(_sub(top, "train"), lambda t: _train(t, TrainConfig()))
    transfer = _parse_transfer(_sub(top, "transfer"))
    classes = num_classes(data.dataset)
    teachers = {n: _parse_teacher(t, n, base_train, classes, path.parent)
                for n, t in _named_tables(top, "teachers", "teacher")}
    students = {n: _parse_student(t, n, base_train, classes)
                for n, t in _named_tables(top, "students", "student")}
    methods = {n: _parse_method(t, n) for n, t in _named_tables(top, "methods", "method")}
    pairs = _parse_pairs(top, teachers, students, methods)
    posthoc = top.names("posthoc", CALIBRATORS, [])
    bootstrap = _parse_bootstrap(top, len(seeds_))
    compress = _compress(_sub(top, "compress"), methods)
    top.finish()
    if not teachers and not pairs:
        raise UserError(f"{top.file}: the suite runs nothing: define [teachers.*] or [[pairs]]")
    return Suite(name=name, path=top.file, description=description, seeds=seeds_, data=data,
                 teachers=teachers, students=students, methods=methods, pairs=tuple(pairs),
                 posthoc=posthoc, transfer=transfer, compress=compress, bootstrap=bootstrap)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: malformed TOML: {e}") from None


def _sub(top: _Table, key: str) -> _Table:
    """The table ``[key]`` of the top level (empty when absent)."""
    return _Table(top.take(key, dict, {}), top.file, f"[{key}]")


def _named_tables(top: _Table, key: str, kind: str) -> list[tuple[str, _Table]]:
    """The tables ``[key.<name>]``, each name checked as a ``kind`` name."""
    return [(check_name(kind, n), _Table(raw, top.file, f"[{key}.{n}]"))
            for n, raw in top.take(key, dict, {}).items()]


def _finished(t: _Table, parse: Any) -> Any:
    """``parse(t)``, then reject the keys of ``t`` it did not read."""
    value = parse(t)
    t.finish()
    return value


def _parse_seeds(top: _Table, seeds: list[int] | None) -> tuple[int, ...]:
    file_seeds = top.take("seeds", list, [0], what="a list of integers")
    out = tuple(seeds) if seeds else tuple(file_seeds)
    if not out or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out):
        raise top.err("seeds", f"expected a non-empty list of integers >= 0, found {list(out)}")
    return out


def _parse_bootstrap(top: _Table, n_seeds: int) -> int:
    """Per-example intervals describe one run's test set: a suite of several seeds reports
    intervals over seeds instead (kdbench.report.stats) and skips them unless asked."""
    bootstrap = top.int("bootstrap", 1000 if n_seeds == 1 else 0, lo=0)
    if bootstrap == 1:
        raise top.err("bootstrap", "expected 0 (no per-example intervals) or >= 2 resamples, found 1")
    return bootstrap


def _parse_data(d: _Table) -> DataConfig:
    dataset = d.take("dataset", str, "mnist5k")
    if dataset not in DATASETS:
        raise d.err("dataset", str(unknown_name("dataset", dataset, DATASETS.names())))
    split = d.take("split", list, [3500, 500, 1000], what="a list [train, val, test]")
    if len(split) != 3 or not all(isinstance(s, int) and s >= 1 for s in split):
        raise d.err("split", f"expected three integers >= 1 [train, val, test], found {split}")
    severities = d.take("severities", list, [1, 2, 3, 4, 5], what="a list of integers")
    if not severities or not all(s in (1, 2, 3, 4, 5) for s in severities) or len(set(severities)) != len(severities):
        raise d.err("severities", f"expected distinct integers from 1 to 5, found {severities}")
    corrupted = d.take("corrupted", str, "")
    if corrupted and corrupted not in CORRUPTED_SETS:
        raise d.err("corrupted", str(unknown_name("corrupted set", corrupted, CORRUPTED_SETS.names())))
    if corrupted and not fits(CORRUPTED_SETS, corrupted, dataset):
        raise d.err("corrupted", f"corrupted set '{corrupted}' is not for data set '{dataset}'")
    kinds = CORRUPTED_SETS.get(corrupted).types if corrupted else CORRUPTIONS
    data = DataConfig(
        dataset=dataset, split=tuple(split), split_seed=d.int("split_seed", 0, lo=0),
        corruptions=d.names("corruptions", kinds, ["*"], dataset=None if corrupted else dataset),
        severities=tuple(severities), corrupt_n=d.int("corrupt_n", 1000, lo=1),
        shift=d.names("shift", SHIFT_SETS, ["*"], dataset=dataset),
        ood=d.names("ood", OOD_SETS, ["*"], dataset=dataset), ood_n=d.int("ood_n", 1000, lo=1),
        corrupted=corrupted,
    )
    d.finish()
    if data.corrupt_n > data.split[2]:
        raise d.err("corrupt_n", f"must be at most the test split size {data.split[2]}, found {data.corrupt_n}")
    return data


def _parse_transfer(tr: _Table) -> TransferConfig:
    tset = tr.take("set", str, "train")
    if tset not in TRANSFER_KINDS:
        raise tr.err("set", str(unknown_name("transfer set", tset, list(TRANSFER_KINDS))))
    copies = tr.int("copies", 0 if tset == "train" else 2, lo=0)
    if tset == "train" and copies:
        raise tr.err("copies", "augmented copies need set = \"augment\" or \"aux\"")
    teach = tr.take("teachers", bool, False)
    tr.finish()
    return TransferConfig(tset, copies, teach)


def _model_name(t: _Table) -> str:
    """The registered model a teacher or student table names (``model``, default ``cnn``)."""
    model = t.take("model", str, "cnn")
    if model not in MODELS:
        raise t.err("model", str(unknown_name("model", model, MODELS.names())))
    return model


def _model_spec(t: _Table, model: str, classes: int) -> ModelSpec:
    """``model`` with the table's remaining keys as its options, built once for ``classes``
    classes to check them. Call it after every other key of the table has been read."""
    spec = ModelSpec(model, _options(t, MODELS.get(model), "model", model, ("num_classes",)))
    _build_check(lambda: spec.build(classes), lambda msg: t.err("model", msg))
    return spec


def _parse_teacher(t: _Table, name: str, base_train: TrainConfig, classes: int,
                   root: Path) -> TeacherConfig:
    kind = t.take("kind", str)
    if kind not in TEACHERS:
        raise t.err("kind", str(unknown_name("teacher kind", kind, TEACHERS.names())))
    model = _model_name(t)
    members = t.int("members", 5 if kind == "ensemble" else 1, lo=1)
    samples = t.int("samples", 20 if kind == "mc_dropout" else 1, lo=1)
    if kind == "ensemble" and members < 2:
        raise t.err("members", f"an ensemble needs at least 2 members, found {members}")
    if kind != "ensemble" and members != 1:
        raise t.err("members", f"only an ensemble has several members; a {kind} teacher has 1")
    if kind != "mc_dropout" and "samples" in t.data:
        raise t.err("samples", "only an mc_dropout teacher draws samples")
    train = _train(t, base_train)
    ckpt = t.take("checkpoint", (str, list), [], what="a file name or a list of file names")
    ckpt = [ckpt] if isinstance(ckpt, str) else ckpt
    digests = t.take("sha256", (str, list), [], what="a hex digest or a list of them")
    digests = [digests] if isinstance(digests, str) else digests
    spec = _model_spec(t, model, classes)
    if kind == "mc_dropout" and not dict(spec.kwargs).get("dropout", 0.0) > 0:
        raise t.err("dropout", "an mc_dropout teacher needs a dropout rate > 0")
    paths = (_checkpoints(t, ckpt, digests, spec, members, root, classes)
             if ckpt or digests else ())
    t.finish()
    return TeacherConfig(name, kind, spec, members, samples, train, paths, tuple(digests))


def _parse_student(s: _Table, name: str, base_train: TrainConfig, classes: int) -> StudentConfig:
    model = _model_name(s)
    train = _train(s, base_train)
    spec = _model_spec(s, model, classes)
    s.finish()
    return StudentConfig(name, spec, train)


def _parse_method(m: _Table, name: str) -> MethodConfig:
    kind = m.take("kind", str, name)
    if kind not in METHODS:
        raise m.err("kind", str(unknown_name("method", kind, METHODS.names())))
    calibration = _choice(m, "teacher_calibration", "", TEACHER_CALIBRATIONS)
    traw = m.take("train", dict, {})
    checked = _finished(_Table(traw, m.file, f"[methods.{name}.train]"),
                        lambda mt: _train(mt, TrainConfig()))
    overrides = tuple(sorted((k, getattr(checked, k)) for k in traw))
    mc = MethodConfig(name, kind, _options(m, METHODS.get(kind), "method", kind), overrides,
                      calibration)
    _build_check(mc.build, lambda msg: m.err("kind", msg))
    m.finish()
    return mc


def _parse_pairs(top: _Table, teachers: dict, students: dict, methods: dict) -> list[Pair]:
    """The ``[[pairs]]`` tables expanded to (teacher, student, method) triples, in order, each
    once; a method that needs no teacher gets one pair per student, without a teacher."""
    pairs: list[Pair] = []
    for i, praw in enumerate(top.take("pairs", list, [], what="an array of tables [[pairs]]")):
        p = _Table(praw, top.file, f"[[pairs]] #{i + 1}")
        lists = {}
        for key, known in (("teachers", teachers), ("students", students), ("methods", methods)):
            vals = p.take(key, list, [] if key == "teachers" else ..., what="a list of names")
            for v in vals:
                if v not in known:
                    raise p.err(key, str(unknown_name(key[:-1] + " of this suite", str(v), known)))
            lists[key] = vals
        p.finish()
        for mname in lists["methods"]:
            method = methods[mname].build()
            for sname in lists["students"]:
                if not method.needs_teacher:
                    found = [Pair(None, sname, mname)]
                elif not lists["teachers"]:
                    raise p.err("teachers", f"method '{mname}' distils from a teacher; name at least one")
                else:
                    found = []
                    for tname in lists["teachers"]:
                        problem = pair_problem(method, mname, teachers[tname])
                        if problem:
                            raise p.err("teachers", problem)
                        found.append(Pair(tname, sname, mname))
                pairs += [pair for pair in found if pair not in pairs]
    return pairs


def _compress(c: _Table, methods: dict) -> CompressConfig:
    """The ``[compress]`` table (`kdbench.compress`); absent: no compressed variants. Every
    pattern of ``methods`` must match a method of the suite."""
    int8 = c.take("int8", bool, False, what="true or false")
    prune = c.take("prune", list, [], what="a list of sparsities in percent")
    for p in prune:
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 99:
            raise c.err("prune", f"expected sparsities in percent, integers in [1, 99], found {p!r}")
        parse_variant(f"prune{p}")
    if len(set(prune)) != len(prune):
        raise c.err("prune", f"expected distinct sparsities, found {prune}")
    epochs = c.int("finetune_epochs", 2, lo=0)
    scale = _positive(c, "finetune_lr_scale", 0.1)
    patterns = c.take("methods", list, None, what="a list of method names or patterns")
    for p in patterns or []:  # absent: every method, checked against none
        if not isinstance(p, str) or not fnmatch.filter(methods, p):
            raise c.err("methods", f"{p!r} matches no method of the suite"
                        f"{did_you_mean(str(p), methods)}; methods: {', '.join(methods) or 'none'}")
    c.finish()
    return CompressConfig(int8=int8, prune=tuple(prune), finetune_epochs=epochs,
                          finetune_lr_scale=scale, methods=tuple(patterns or ["*"]))


def _checkpoints(t: _Table, files: list, digests: list, spec: ModelSpec, members: int,
                 root: Path, classes: int) -> tuple[str, ...]:
    """Check a teacher's ``checkpoint`` files (one per member; paths relative to the suite
    file) against their ``sha256`` and the registered architecture ``spec`` built for the data
    set's ``classes`` (`kdbench.data.registry.num_classes`): each must exist,
    have the recorded SHA-256, load with ``torch.load(weights_only=True)`` and fit the network
    key by key and shape by shape. Returns the absolute paths; `UserError` (one line) otherwise.
    """
    if not all(isinstance(f, str) for f in files) or not files:
        raise t.err("checkpoint", f"expected a file name or a list of file names, found {files!r}")
    if len(files) != members:
        raise t.err("checkpoint", f"expected {members} file(s), one per member, found {len(files)}")
    if not digests:
        found = [sha256_file((root / f).resolve()) for f in files if (root / f).resolve().is_file()]
        raise t.err("sha256", "is required with checkpoint, one digest per file, so that the "
                              f"teacher is the file you mean; the files' SHA-256: {found}")
    if len(digests) != len(files) or not all(isinstance(d, str) for d in digests):
        raise t.err("sha256", f"expected one SHA-256 hex digest per checkpoint file "
                              f"({len(files)}), found {digests!r}")
    paths = []
    for f, want in zip(files, digests):
        fp = (root / f).resolve()
        if not fp.is_file():
            raise t.err("checkpoint", f"file {fp} does not exist")
        found = sha256_file(fp)
        if found != want.lower():
            raise t.err("sha256", f"{fp} has SHA-256 {found}, expected {want}")
        try:
            fit_checkpoint(spec.build(classes), load_checkpoint(fp), fp)
        except UserError as e:
            raise t.err("checkpoint", str(e)) from None
        paths.append(str(fp))
    return tuple(paths)
