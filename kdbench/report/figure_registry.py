"""The figures of the report, by name, each with its caption: ``@register_figure``.

A figure is a function of one `kdbench.report.figure_data.FigureData` (the results a figure
may draw, read once) returning a Matplotlib figure, or None when the results have nothing for
it. It is registered with its caption next to its code::

    @register_figure("forest", caption="Effects at a glance: ...")
    def forest_figure(data: FigureData) -> plt.Figure | None: ...

``instances`` (optional) makes one registration draw several files: a function of the data
returning ``(stem, keyword arguments)`` pairs, and the caption is then formatted with those
keyword arguments (``"ECE at severity {severity}"``). `figures` (the command), the report and
plugins all go through this registry: a plugin registers a figure the same way and it is drawn
by ``python -m kdbench figures`` and shown in the report's Figures section. Registration order
is drawing order; every caption ends with the shared key (`KEY_NOTE`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEY_NOTE = ("Key (every figure): colour = teacher (its students share it; labels-only students "
            "dark grey), marker = method (★ the teacher), hollow = +int8, half-filled = +prune; "
            "error bars: 95% t-interval over seeds.")


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure: its name, builder, caption template and instances."""

    name: str
    build: Callable[..., Any]
    caption: str
    instances: Callable[[Any], list[tuple[str, dict]]] | None = field(default=None)

    def stems(self, data: Any) -> list[tuple[str, dict]]:
        """``(file stem, keyword arguments of build)`` of every file this figure draws."""
        return [(self.name, {})] if self.instances is None else self.instances(data)


FIGURES: dict[str, FigureSpec] = {}
_CAPTION_OF_STEM: dict[str, str] = {}


def register_figure(name: str, *, caption: str,
                    instances: Callable[[Any], list[tuple[str, dict]]] | None = None
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``build(data, **kwargs)`` as figure ``name`` with ``caption`` (`ValueError`
    for an empty caption or a name taken by another function)."""
    if not caption.strip():
        raise ValueError(f"figure '{name}' needs a caption (found an empty one)")

    def deco(build: Callable[..., Any]) -> Callable[..., Any]:
        old = FIGURES.get(name)
        if old is not None and old.build.__qualname__ != build.__qualname__:
            raise ValueError(f"figure '{name}' is registered already (by {old.build.__module__}."
                             f"{old.build.__qualname__})")
        FIGURES[name] = FigureSpec(name, build, caption, instances)
        return build
    return deco


def figure_tasks(data: Any) -> list[tuple[str, Callable[..., Any], tuple, dict]]:
    """``(stem, build, args, kwargs)`` of every file of every registered figure, in
    registration order; remembers each stem's caption for `caption`."""
    tasks = []
    for spec in FIGURES.values():
        for stem, kwargs in spec.stems(data):
            _CAPTION_OF_STEM[stem] = spec.caption.format(**kwargs)
            tasks.append((stem, spec.build, (data,), kwargs))
    return tasks


def caption(stem: str) -> str:
    """The caption of the file ``stem`` with the shared key; `ValueError` for a stem no
    registered figure draws."""
    text = _CAPTION_OF_STEM.get(stem)
    if text is None:
        spec = FIGURES.get(stem)
        if spec is None or spec.instances is not None:
            raise ValueError(f"figure '{stem}' has no caption: register it with "
                             "@register_figure(name, caption=...) (kdbench.report.figure_registry)")
        text = spec.caption
    return f"{text} {KEY_NOTE}"
