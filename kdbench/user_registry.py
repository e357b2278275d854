"""The register of a suite's user models: ``results/<suite>/user_models.json``, name -> its
evaluate job id, the model's digest (weights or validation predictions) and the SHA-256 of the
suite's data config (`kdbench.evaluate_model` writes it; `kdbench.collect.collect` reads it, so
a later ``run all`` keeps the models whose data config is the suite's). Written under the work
directory's results lock (`kdbench.store.results_lock`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from .plan import ModelEntry
from .store import atomic_write_text

REGISTRY = "user_models.json"
ROLE = "user"


def data_digest(data: dict) -> str:
    """SHA-256 of a data config (a dict, keys sorted)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def read_registry(results: Path) -> dict[str, dict]:
    path = results / REGISTRY
    return json.loads(path.read_text()) if path.exists() else {}


def register(results: Path, name: str, job: str, key: dict, suite: Any) -> None:
    """Add or replace ``name`` (evaluate job ``job``, model digest ``key``) for ``suite``'s
    data config. The caller holds the results lock."""
    reg = read_registry(results)
    reg[name] = {"job": job, **key, "data_sha256": data_digest(dataclasses.asdict(suite.data))}
    results.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results / REGISTRY, json.dumps(reg, indent=1, sort_keys=True) + "\n")


def registered_models(results: Path, suite: Any) -> list[ModelEntry]:
    """The user models registered in ``results/user_models.json`` whose data config is the
    suite's, as result models (role ``user``, the suite's first seed)."""
    data = data_digest(dataclasses.asdict(suite.data))
    return [ModelEntry(suite.seeds[0], name, ROLE, "-", "-", "-", "-", e["job"])
            for name, e in sorted(read_registry(results).items()) if e.get("data_sha256") == data]
