"""One registry mechanism for datasets, corruptions, models, teachers and methods.

Modelled on timm's ``register_model``/``create_model``: a decorator fills a name -> factory
table, ``create`` builds by name, ``names`` lists with shell-style wildcards in natural sort
order, and an unknown name raises `UserError` listing what exists with a "did you mean".
Third-party code registers its own entries from a plugin module (``--plugin module.name`` or
the ``kdbench.plugins`` entry-point group); see `load_plugins`.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from .errors import UserError, unknown_name

T = TypeVar("T")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def _natural_key(s: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


class Registry(Generic[T]):
    """A name -> factory table of one kind of component (e.g. ``"model"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@MODELS.register("cnn")`` adds the factory under ``name``."""
        if not _NAME.match(name):
            raise ValueError(
                f"{self.kind} name '{name}' is invalid: use lowercase letters, digits, '_', '.' and '-'"
            )

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; `UserError` with suggestions otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._entries) from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the component ``name`` with keyword arguments ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, in natural sort order."""
        return sorted(fnmatch.filter(self._entries, pattern), key=_natural_key)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import plugin modules named explicitly, then the ``kdbench.plugins`` entry points.

    Plugins register their components with the registries on import. Nothing is imported
    that was not named here or installed as an entry point.
    """
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise UserError(f"cannot import plugin module '{mod}': {e}") from None
    for ep in entry_points(group="kdbench.plugins"):
        ep.load()
