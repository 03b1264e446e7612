"""resnet-inspect: build any ResNet variant and see exactly what it is.

The names below are loaded on first use, so importing the package (or asking the command line
for help) does not import torch."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "AnalysisError": ".analysis.options",
    "inspect": ".analysis.analyze",
    "ModelReport": ".analysis.report",
    "build": ".model.build",
    "resolve_spec": ".model.build",
    "Variant": ".model.registry",
    "get_variant": ".model.registry",
    "variants": ".model.registry",
    "ResNetSpec": ".model.spec",
    "load_spec_file": ".model.spec",
    "MemoryPlan": ".memory.plan",
    "Simulator": ".memory.estimate",
    "estimate_memory": ".memory.estimate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'resnet_inspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
