"""kdbench: how much of a teacher's uncertainty quality survives knowledge distillation."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1  # part of every job id: bump when a job's outputs change meaning
