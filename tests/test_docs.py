"""The docs name what the code has: every sub-command of the CLI in the README's command-line
synopsis and every registered component (method, model, teacher kind, calibrator, data set,
shift and OOD set, corruption, corrupted set) in README.md or docs/*.md."""

import argparse
import re
from pathlib import Path

import pytest

from kdbench.cli import build_parser
from kdbench.data import CORRUPTED_SETS, CORRUPTIONS, DATASETS, OOD_SETS, SHIFT_SETS
from kdbench.distill import METHODS
from kdbench.models import MODELS
from kdbench.posthoc import CALIBRATORS
from kdbench.teachers import TEACHERS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(f.read_text() for f in sorted((ROOT / "docs").glob("*.md")))


def test_every_sub_command_is_in_the_readme():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert [c for c in sub.choices if f"python -m kdbench {c}" not in README] == []
    # and `list`'s targets, as the parser knows them
    targets = next(a for a in sub.choices["list"]._actions if a.dest == "what").choices
    assert f"python -m kdbench list [{'|'.join(targets)}]" in README


@pytest.mark.parametrize("registry", [METHODS, MODELS, TEACHERS, CALIBRATORS, DATASETS, SHIFT_SETS,
                                      OOD_SETS, CORRUPTIONS, CORRUPTED_SETS],
                         ids=lambda r: r.kind)
def test_every_registered_component_is_documented(registry):
    """kdbench's own components; a test plugin another test of this worker imported (its
    ``test-...`` method, say) registers into the same registry and is not kdbench's to document."""
    builtin = [n for n in registry.names() if registry.get(n).__module__.startswith("kdbench.")]
    assert builtin
    assert [n for n in builtin if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", DOCS)] == []
