"""The registry of networks, `MODELS`; each architecture registers itself in its own module
(`kdbench.models`)."""

from ..registry import Registry

MODELS: Registry = Registry("model")
