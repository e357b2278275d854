"""Registries of the data roles: in-distribution datasets, natural-shift sets, OOD sets and
corruptions (see `kdbench.registry.Registry`)."""

from ..registry import Registry

DATASETS: Registry = Registry("dataset")
SHIFT_SETS: Registry = Registry("shift set")
OOD_SETS: Registry = Registry("OOD set")
CORRUPTIONS: Registry = Registry("corruption")
