"""kdbench: how much of a teacher's uncertainty quality survives knowledge distillation."""

__version__ = "0.1.0"
# Part of every job id, per job kind: bump a kind's number when its outputs change meaning,
# so that exactly those jobs are recomputed and the others stay in the store.
SCHEMA_VERSION = {"train_teacher": 2, "transfer": 1, "train_student": 2, "evaluate": 5}
