"""kdbench: how much of a teacher's uncertainty quality survives knowledge distillation.

``kdbench.evaluate_model(model, suite=..., name=..., workdir=...)`` puts a model of your own on
a suite's leaderboard (`kdbench.user_model`).
"""

__version__ = "0.1.0"
# Part of every job id, per job kind: bump a kind's number when its outputs change meaning,
# so that exactly those jobs are recomputed and the others stay in the store.
SCHEMA_VERSION = {"train_teacher": 2, "transfer": 1, "train_student": 2, "evaluate": 7,
                  "compress": 1}


def __getattr__(name: str):
    """``kdbench.evaluate_model`` without importing torch at ``import kdbench``."""
    if name == "evaluate_model":
        from .user_model import evaluate_model  # local: `import kdbench` stays light

        return evaluate_model
    raise AttributeError(f"module 'kdbench' has no attribute {name!r}")
